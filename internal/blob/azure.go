package blob

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	azb "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// azureMaxBlocks is how many blocks one blob may commit.
const azureMaxBlocks = 50000

// AzureOptions says where an Azure Blob Storage container is and how to
// authenticate.
type AzureOptions struct {
	Account   string
	Container string
	// Endpoint is the blob service URL; empty means
	// https://<account>.blob.core.windows.net/. Azurite's is
	// http://127.0.0.1:10000/<account>.
	Endpoint string
	// AccountKey signs with the account's shared key; SASToken (the query
	// string of a shared access signature) authorises instead; with
	// neither, Azure's default credential chain is used (workload or
	// managed identity, environment, Azure CLI).
	AccountKey string
	SASToken   string
	// PartSize: a larger object is staged as blocks this big.
	PartSize int64
}

// Azure keeps objects in an Azure Blob Storage container.
type Azure struct {
	container *container.Client
	name      string
	where     string
	partSize  int64
}

var _ Store = (*Azure)(nil)

// OpenAzure builds the client; it makes no request (Ping does).
func OpenAzure(o AzureOptions) (*Azure, error) {
	if o.Container == "" {
		return nil, errors.New("blob: azure: no container given")
	}
	if o.AccountKey != "" && o.SASToken != "" {
		return nil, errors.New("blob: azure: give an account key or a SAS token, not both")
	}
	endpoint := o.Endpoint
	if endpoint == "" {
		if o.Account == "" {
			return nil, errors.New("blob: azure: no account or endpoint given")
		}
		endpoint = "https://" + o.Account + ".blob.core.windows.net/"
	}
	where := strings.TrimSuffix(endpoint, "/")
	var (
		client *azblob.Client
		err    error
	)
	switch {
	case o.AccountKey != "":
		cred, cerr := azblob.NewSharedKeyCredential(o.Account, o.AccountKey)
		if cerr != nil {
			return nil, fmt.Errorf("blob: azure account %q: account key: %w", o.Account, cerr)
		}
		client, err = azblob.NewClientWithSharedKeyCredential(endpoint, cred, clientOptions())
	case o.SASToken != "":
		u, perr := url.Parse(endpoint)
		if perr != nil {
			return nil, fmt.Errorf("blob: azure endpoint %q: %w", endpoint, perr)
		}
		u.RawQuery = strings.TrimPrefix(o.SASToken, "?")
		client, err = azblob.NewClientWithNoCredential(u.String(), clientOptions())
	default:
		cred, cerr := azidentity.NewDefaultAzureCredential(nil)
		if cerr != nil {
			return nil, fmt.Errorf("blob: azure: no account key or SAS token, and no default Azure credential: %w", cerr)
		}
		client, err = azblob.NewClient(endpoint, cred, clientOptions())
	}
	if err != nil {
		return nil, fmt.Errorf("blob: azure at %s: %w", where, clean(err))
	}
	if o.PartSize <= 0 {
		o.PartSize = 16 << 20
	}
	return &Azure{
		container: client.ServiceClient().NewContainerClient(o.Container),
		name:      o.Container,
		where:     where,
		partSize:  o.PartSize,
	}, nil
}

// clientOptions retries a failed request three times within about four
// seconds (the SDK's default backs off for up to a minute): a caller such
// as a Temporal activity retries on its own, and a store that is down
// should say so soon.
func clientOptions() *azblob.ClientOptions {
	return &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{
		Retry: policy.RetryOptions{MaxRetries: 3, RetryDelay: 500 * time.Millisecond, MaxRetryDelay: 2 * time.Second},
	}}
}

func (a *Azure) String() string { return fmt.Sprintf("azure container %q at %s", a.name, a.where) }

func (a *Azure) errorf(op, key string, err error) error {
	err = clean(err)
	if key == "" {
		return fmt.Errorf("blob: %s: %s: %w", a, op, err)
	}
	return fmt.Errorf("blob: %s: %s %q: %w", a, op, key, err)
}

// cleanError is an error of the Azure SDK made safe and short: a response
// in one line ("PUT <url>: 400 InvalidBlockList") instead of the SDK's
// several, a transport error without the URL's query (with a SAS token
// the query is the credential, and net/http prints it). The SDK's error
// stays underneath for errors.Is and errors.As.
type cleanError struct {
	msg string
	err error
}

func (e *cleanError) Error() string { return e.msg }
func (e *cleanError) Unwrap() error { return e.err }

// clean is applied to an SDK error before context is added to it, and
// leaves an error that is already clean alone.
func clean(err error) error {
	var c *cleanError
	if err == nil || errors.As(err, &c) {
		return err
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.RawResponse != nil && re.RawResponse.Request != nil {
		req := re.RawResponse.Request
		u := *req.URL
		u.RawQuery = ""
		if re.ErrorCode != "" {
			return &cleanError{msg: fmt.Sprintf("%s %s: %d %s", req.Method, u.Redacted(), re.StatusCode, re.ErrorCode), err: err}
		}
		return &cleanError{msg: fmt.Sprintf("%s %s: %s", req.Method, u.Redacted(), re.RawResponse.Status), err: err}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		u, perr := url.Parse(ue.URL)
		if perr != nil {
			return &cleanError{msg: fmt.Sprintf("%s [URL withheld]: %v", ue.Op, ue.Err), err: err}
		}
		if u.Query().Has("sig") {
			u.RawQuery = "[SAS withheld]"
		}
		return &cleanError{msg: fmt.Sprintf("%s %s: %v", ue.Op, u.Redacted(), ue.Err), err: err}
	}
	return err
}

// Put sends an object up to the part size as one Put Blob from memory, and
// a larger one as blocks read one at a time, committed by one Put Block
// List. Each request carries the MD5 of its body, which the service checks.
func (a *Azure) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := checkPut(key, size); err != nil {
		return a.errorf("put", key, err)
	}
	bb := a.container.NewBlockBlobClient(key)
	headers := &azb.HTTPHeaders{BlobContentType: ptr(contentTypeOr(contentType))}
	er := newExactReader(ctx, r, size)
	if size <= a.partSize {
		buf := make([]byte, size)
		if err := er.fill(buf); err != nil {
			return a.errorf("put", key, err)
		}
		if err := er.finish(); err != nil {
			return a.errorf("put", key, err)
		}
		sum := md5.Sum(buf)
		if _, err := bb.Upload(ctx, streaming.NopCloser(bytes.NewReader(buf)), &blockblob.UploadOptions{
			HTTPHeaders:             headers,
			TransactionalValidation: azb.TransferValidationTypeMD5(sum[:]),
		}); err != nil {
			return a.errorf("put", key, err)
		}
		return nil
	}
	blockSize := max(a.partSize, (size+azureMaxBlocks-1)/azureMaxBlocks)
	// Block ids are unique to this upload, so that a concurrent upload of
	// the same key can never commit one of ours.
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return a.errorf("put", key, err)
	}
	upload := hex.EncodeToString(nonce[:])
	buf := make([]byte, blockSize)
	var ids []string
	for n, left := 0, size; left > 0; n++ {
		chunk := buf[:min(blockSize, left)]
		if err := er.fill(chunk); err != nil {
			return a.errorf("put", key, err)
		}
		id := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s-%06d", upload, n))
		sum := md5.Sum(chunk)
		if _, err := bb.StageBlock(ctx, id, streaming.NopCloser(bytes.NewReader(chunk)), &blockblob.StageBlockOptions{
			TransactionalValidation: azb.TransferValidationTypeMD5(sum[:]),
		}); err != nil {
			return a.errorf("put", key, fmt.Errorf("stage block %d: %w", n, clean(err)))
		}
		ids = append(ids, id)
		left -= int64(len(chunk))
	}
	if err := er.finish(); err != nil {
		return a.errorf("put", key, err)
	}
	if _, err := bb.CommitBlockList(ctx, ids, &blockblob.CommitBlockListOptions{HTTPHeaders: headers}); err != nil {
		if bloberror.HasCode(err, bloberror.InvalidBlockList) {
			// Committing a blob drops every block staged for it and not
			// committed, so a concurrent upload of the same key that
			// commits first leaves this one nothing to commit.
			return a.errorf("put", key, fmt.Errorf("commit block list: its blocks are gone, most likely because a concurrent upload of this key committed first: %w", clean(err)))
		}
		return a.errorf("put", key, fmt.Errorf("commit block list: %w", clean(err)))
	}
	return nil
}

// Get downloads through the SDK's retry reader, which resumes a broken
// download only from the same version of the blob (If-Match its ETag).
func (a *Azure) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	if err := ValidKey(key); err != nil {
		return nil, Info{}, a.errorf("get", key, err)
	}
	resp, err := a.container.NewBlobClient(key).DownloadStream(ctx, nil)
	if err != nil {
		return nil, Info{}, a.notFound("get", key, err)
	}
	info := Info{Key: key, Size: deref(resp.ContentLength), ContentType: deref(resp.ContentType)}
	if resp.LastModified != nil {
		info.ModTime = *resp.LastModified
	}
	return &azureBody{rc: resp.NewRetryReader(ctx, nil), a: a, key: key}, info, nil
}

// azureBody redacts the errors of reading a download.
type azureBody struct {
	rc  io.ReadCloser
	a   *Azure
	key string
}

func (b *azureBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = b.a.errorf("read", b.key, err)
	}
	return n, err
}

func (b *azureBody) Close() error { return b.rc.Close() }

// Stat is a Get Blob Properties.
func (a *Azure) Stat(ctx context.Context, key string) (Info, error) {
	if err := ValidKey(key); err != nil {
		return Info{}, a.errorf("stat", key, err)
	}
	p, err := a.container.NewBlobClient(key).GetProperties(ctx, nil)
	if err != nil {
		return Info{}, a.notFound("stat", key, err)
	}
	info := Info{Key: key, Size: deref(p.ContentLength), ContentType: deref(p.ContentType)}
	if p.LastModified != nil {
		info.ModTime = *p.LastModified
	}
	return info, nil
}

func (a *Azure) notFound(op, key string, err error) error {
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return &NotFoundError{Store: a.String(), Key: key}
	}
	return a.errorf(op, key, err)
}

// List pages through List Blobs. Like S3's, the listing's Info has no
// content type (Stat has it).
func (a *Azure) List(ctx context.Context, prefix string) ([]Info, error) {
	var out []Info
	opts := &container.ListBlobsFlatOptions{}
	if prefix != "" {
		opts.Prefix = &prefix
	}
	p := a.container.NewListBlobsFlatPager(opts)
	for p.More() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, a.errorf("list", prefix, err)
		}
		for _, it := range page.Segment.BlobItems {
			info := Info{Key: deref(it.Name)}
			if it.Properties != nil {
				info.Size = deref(it.Properties.ContentLength)
				if it.Properties.LastModified != nil {
					info.ModTime = *it.Properties.LastModified
				}
			}
			out = append(out, info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete removes the blob with its snapshots.
func (a *Azure) Delete(ctx context.Context, key string) error {
	if err := ValidKey(key); err != nil {
		return a.errorf("delete", key, err)
	}
	_, err := a.container.NewBlobClient(key).Delete(ctx, &azb.DeleteOptions{DeleteSnapshots: ptr(azb.DeleteSnapshotsOptionTypeInclude)})
	if err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
		return a.errorf("delete", key, err)
	}
	return nil
}

// Ping lists at most one blob: unlike Get Container Properties, listing is
// allowed to a SAS scoped to the container.
func (a *Azure) Ping(ctx context.Context) error {
	p := a.container.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{MaxResults: ptr(int32(1))})
	if _, err := p.NextPage(ctx); err != nil {
		if bloberror.HasCode(err, bloberror.ContainerNotFound) {
			return a.errorf("ping", "", fmt.Errorf("the container does not exist: %w", err))
		}
		return a.errorf("ping", "", err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
