package blob_test

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/quantumlayer/qlp/internal/blob"
	"github.com/quantumlayer/qlp/internal/blob/blobtest"
)

// partSize is the production default, so that the suite's 20 MiB objects
// take the part-wise path of Azure and S3.
//
// The backends' suites run in parallel: most of their time is spent
// waiting on servers and disks (and on retries against a stopped server).
var partSize = blob.Defaults().PartSize

func TestLocalConformance(t *testing.T) {
	t.Parallel()
	blobtest.Run(t, blobtest.Harness{
		Backend: "local",
		Open: func(t *testing.T) blob.Store {
			s, err := blob.OpenLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}

func TestAzureConformance(t *testing.T) {
	t.Parallel()
	az := blobtest.StartAzurite(t)
	blobtest.Run(t, blobtest.Harness{
		Backend:  "azure",
		PartSize: partSize,
		Stop:     func(*testing.T) { az.Stop() },
		Open: func(t *testing.T) blob.Store {
			s, err := blob.OpenAzure(az.Options(az.NewContainer(t), partSize))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}

func TestS3Conformance(t *testing.T) {
	t.Parallel()
	gw := blobtest.StartVersityGW(t)
	blobtest.Run(t, blobtest.Harness{
		Backend:  "s3",
		PartSize: partSize,
		Stop:     func(*testing.T) { gw.Stop() },
		Open: func(t *testing.T) blob.Store {
			s, err := blob.OpenS3(context.Background(), gw.Options(gw.NewBucket(t), partSize))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}

func TestValidKey(t *testing.T) {
	tests := []struct {
		key  string
		want string // "" for valid
	}{
		{"capsules/0b1f/capsule.tar.gz", ""},
		{"a", ""},
		{"backups/2026-12-04T10:00:00Z.tar.zst", ""},
		{"unicodé/ключ", ""},
		{"", "empty"},
		{"/a", "empty segment"},
		{"a/", "empty segment"},
		{"a//b", "empty segment"},
		{"..", "dot"},
		{"a/../b", "dot"},
		{".tmp/put-1", "dot"},
		{"a\\b", `'\\'`},
		{"a\nb", `'\n'`},
		{"\xff", "not UTF-8"},
		{strings.Repeat("k", blob.MaxKeyLen), ""},
		{strings.Repeat("k", blob.MaxKeyLen+1), "1025 bytes"},
	}
	for _, tt := range tests {
		err := blob.ValidKey(tt.key)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("ValidKey(%q) = %v, want nil", tt.key, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("ValidKey(%q) = %v, want an error with %q", tt.key, err, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	azure := func(mod func(*blob.Config)) blob.Config {
		c := blob.Defaults()
		c.Backend, c.Account, c.Container = "azure", "qlpstore", "capsules"
		mod(&c)
		return c
	}
	s3 := func(mod func(*blob.Config)) blob.Config {
		c := blob.Defaults()
		c.Backend, c.Bucket, c.Region = "s3", "qlp-capsules", "eu-west-1"
		mod(&c)
		return c
	}
	none := func(*blob.Config) {}
	tests := []struct {
		name string
		c    blob.Config
		want string
	}{
		{"default local", blob.Defaults(), ""},
		{"unknown backend", func() blob.Config { c := blob.Defaults(); c.Backend = "gcs"; return c }(), `blob.backend (QLP_BLOB_BACKEND): "gcs" is not local, azure or s3`},
		{"azure ok", azure(none), ""},
		{"azure with key", azure(func(c *blob.Config) { c.AccountKey = "a2V5" }), ""},
		{"azure with endpoint", azure(func(c *blob.Config) { c.Endpoint = "http://127.0.0.1:10000/qlpstore" }), ""},
		{"azure no container", azure(func(c *blob.Config) { c.Container = "" }), "blob.container (QLP_BLOB_CONTAINER): required"},
		{"azure bad container", azure(func(c *blob.Config) { c.Container = "Capsules_1" }), "QLP_BLOB_CONTAINER"},
		{"azure container double hyphen", azure(func(c *blob.Config) { c.Container = "a--b" }), "QLP_BLOB_CONTAINER"},
		{"azure container too long", azure(func(c *blob.Config) { c.Container = strings.Repeat("a", 64) }), "QLP_BLOB_CONTAINER"},
		{"azure no account", azure(func(c *blob.Config) { c.Account = "" }), "blob.account (QLP_BLOB_ACCOUNT): required"},
		{"azure bad account", azure(func(c *blob.Config) { c.Account = "My-Account" }), "QLP_BLOB_ACCOUNT"},
		{"azure key and sas", azure(func(c *blob.Config) { c.AccountKey, c.SASToken = "k", "sv=1" }), "QLP_BLOB_ACCOUNT_KEY) and blob.sas_token (QLP_BLOB_SAS_TOKEN): set one, not both"},
		{"bad endpoint", azure(func(c *blob.Config) { c.Endpoint = "127.0.0.1:10000" }), "blob.endpoint (QLP_BLOB_ENDPOINT)"},
		{"endpoint with credentials", s3(func(c *blob.Config) { c.Endpoint = "http://u:p@minio:9000" }), "must not hold credentials"},
		{"part size too small", s3(func(c *blob.Config) { c.PartSize = 1 << 20 }), "blob.part_size (QLP_BLOB_PART_SIZE)"},
		{"part size too big", azure(func(c *blob.Config) { c.PartSize = 5 << 30 }), "QLP_BLOB_PART_SIZE"},
		{"s3 ok", s3(none), ""},
		{"s3 with keys and endpoint", s3(func(c *blob.Config) {
			c.AccessKeyID, c.SecretAccessKey, c.Endpoint, c.PathStyle = "id", "secret", "https://s3.example.internal", true
		}), ""},
		{"s3 no bucket", s3(func(c *blob.Config) { c.Bucket = "" }), "blob.bucket (QLP_BLOB_BUCKET): required"},
		{"s3 bad bucket", s3(func(c *blob.Config) { c.Bucket = "Capsules" }), "QLP_BLOB_BUCKET"},
		{"s3 no region", s3(func(c *blob.Config) { c.Region = "" }), "blob.region (QLP_BLOB_REGION): required"},
		{"s3 half a key", s3(func(c *blob.Config) { c.AccessKeyID = "id" }), "QLP_BLOB_SECRET_ACCESS_KEY): set both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// TestOpen: the configuration opens the backend it names, and Open refuses
// what Validate refuses.
func TestOpen(t *testing.T) {
	ctx := context.Background()
	c := blob.Defaults()
	c.Dir = t.TempDir()
	s, err := blob.Open(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.String(), "local directory ") {
		t.Fatalf("local store is %q", s)
	}
	c.Dir = ""
	if _, err := blob.Open(ctx, c); err == nil || !strings.Contains(err.Error(), "QLP_BLOB_DIR") {
		t.Fatalf("Open without a directory = %v", err)
	}
	c = blob.Defaults()
	c.Backend, c.Bucket, c.Region, c.Endpoint, c.PathStyle = "s3", "qlp", "us-east-1", "http://127.0.0.1:1", true
	c.AccessKeyID, c.SecretAccessKey = "id", "secret"
	if s, err = blob.Open(ctx, c); err != nil || s.String() != `s3 bucket "qlp" at http://127.0.0.1:1` {
		t.Fatalf("s3 store = %v, %v", s, err)
	}
	c = blob.Defaults()
	c.Backend, c.Account, c.Container, c.AccountKey = "azure", "qlpstore", "capsules", "a2V5"
	if s, err = blob.Open(ctx, c); err != nil || s.String() != `azure container "capsules" at https://qlpstore.blob.core.windows.net` {
		t.Fatalf("azure store = %v, %v", s, err)
	}
	c.Container = ""
	if _, err := blob.Open(ctx, c); err == nil || !strings.Contains(err.Error(), "QLP_BLOB_CONTAINER") {
		t.Fatalf("Open without a container = %v", err)
	}
}

// TestAzureSAS: a SAS token authorises every operation, and no error
// shows it (net/http prints request URLs, and the token is a URL query).
func TestAzureSAS(t *testing.T) {
	t.Parallel()
	az := blobtest.StartAzurite(t)
	container := az.NewContainer(t)
	token := az.SAS(t, container)
	q, err := url.ParseQuery(token)
	if err != nil || q.Get("sig") == "" {
		t.Fatalf("SAS %q has no signature: %v", token, err)
	}
	sig := q.Get("sig")
	s, err := blob.OpenAzure(blob.AzureOptions{Account: az.Account, Container: container, Endpoint: az.Endpoint, SASToken: token, PartSize: partSize})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := []byte("capsule bytes")
	if err := s.Put(ctx, "sas/x", bytes.NewReader(data), int64(len(data)), "application/zip"); err != nil {
		t.Fatalf("put with a SAS: %v", err)
	}
	if l, err := s.List(ctx, "sas/"); err != nil || len(l) != 1 {
		t.Fatalf("list with a SAS = %+v, %v", l, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ping with a SAS: %v", err)
	}
	if _, err := s.Stat(ctx, "sas/missing"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("stat of a missing key with a SAS: %v", err)
	}

	az.Stop()
	var errs []error
	errs = append(errs, s.Put(ctx, "sas/y", bytes.NewReader(data), int64(len(data)), ""))
	_, _, err = s.Get(ctx, "sas/x")
	errs = append(errs, err)
	_, err = s.List(ctx, "sas/")
	errs = append(errs, err, s.Ping(ctx))
	for _, err := range errs {
		if err == nil {
			t.Fatal("an operation on a stopped server succeeded")
		}
		for _, secret := range []string{sig, url.QueryEscape(sig), url.PathEscape(sig)} {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error shows the SAS signature: %v", err)
			}
		}
		if !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("error %q does not say why", err)
		}
	}
}

// TestS3CancelledMultipartIsAborted: a cancelled upload in parts leaves no
// multipart upload behind (its parts would be kept, and billed, forever).
func TestS3CancelledMultipartIsAborted(t *testing.T) {
	t.Parallel()
	gw := blobtest.StartVersityGW(t)
	bucket := gw.NewBucket(t)
	s, err := blob.OpenS3(context.Background(), gw.Options(bucket, partSize))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	size := 3 * partSize
	r := &cancelAfter{n: partSize + 1<<20, cancel: cancel}
	err = s.Put(ctx, "mp/x", r, size, "")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("put = %v, want context.Canceled", err)
	}
	out, err := gw.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Uploads) != 0 {
		t.Fatalf("%d multipart uploads left after a cancelled put", len(out.Uploads))
	}
}

// cancelAfter yields zeros; after n bytes it cancels and fails.
type cancelAfter struct {
	n      int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
		return 0, context.Canceled
	}
	k := min(int64(len(p)), c.n)
	clear(p[:k])
	c.n -= k
	return int(k), nil
}
