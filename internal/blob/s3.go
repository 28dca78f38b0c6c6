package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// S3 limits of a multipart upload.
const (
	s3MaxParts    = 10000
	s3MinPartSize = 5 << 20
)

// S3Options says where an S3 bucket is and how to sign requests.
type S3Options struct {
	Bucket string
	// Endpoint is the service URL of an S3-compatible server
	// (http://minio:9000); empty means AWS's endpoint for Region.
	Endpoint string
	Region   string
	// PathStyle addresses the bucket as a path (endpoint/bucket/key), as
	// most S3-compatible servers want, rather than as a host name.
	PathStyle bool
	// AccessKeyID and SecretAccessKey sign requests; empty takes AWS's
	// default chain (environment, shared files, web identity, instance
	// role).
	AccessKeyID     string
	SecretAccessKey string
	// PartSize: a larger object is a multipart upload of parts this big.
	PartSize int64
}

// S3 keeps objects in an S3 bucket.
type S3 struct {
	client   *s3.Client
	bucket   string
	where    string
	partSize int64
}

var _ Store = (*S3)(nil)

// OpenS3 builds the client; it makes no request (Ping does).
func OpenS3(ctx context.Context, o S3Options) (*S3, error) {
	if o.Bucket == "" {
		return nil, errors.New("blob: s3: no bucket given")
	}
	if o.PartSize < s3MinPartSize {
		o.PartSize = s3MinPartSize
	}
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(o.Region)}
	if o.AccessKeyID != "" || o.SecretAccessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, "")))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("blob: s3: load AWS configuration: %w", err)
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.PathStyle
		// Objects uploaded in parts have a checksum of checksums, which the
		// SDK cannot check on download; it would log a warning for each.
		so.DisableLogOutputChecksumValidationSkipped = true
	})
	where := "AWS region " + o.Region
	if o.Endpoint != "" {
		where = o.Endpoint
	}
	return &S3{client: client, bucket: o.Bucket, where: where, partSize: o.PartSize}, nil
}

func (s *S3) String() string { return fmt.Sprintf("s3 bucket %q at %s", s.bucket, s.where) }

func (s *S3) errorf(op, key string, err error) error {
	if key == "" {
		return fmt.Errorf("blob: %s: %s: %w", s, op, err)
	}
	return fmt.Errorf("blob: %s: %s %q: %w", s, op, key, err)
}

// Put sends an object up to the part size as one PutObject from memory
// (so the SDK can sign, checksum and retry it), and a larger one as a
// multipart upload of parts read one at a time.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := checkPut(key, size); err != nil {
		return s.errorf("put", key, err)
	}
	er := newExactReader(ctx, r, size)
	if size <= s.partSize {
		buf := make([]byte, size)
		if err := er.fill(buf); err != nil {
			return s.errorf("put", key, err)
		}
		if err := er.finish(); err != nil {
			return s.errorf("put", key, err)
		}
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:            aws.String(s.bucket),
			Key:               aws.String(key),
			Body:              bytes.NewReader(buf),
			ContentLength:     aws.Int64(size),
			ContentType:       aws.String(contentTypeOr(contentType)),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			return s.errorf("put", key, err)
		}
		return nil
	}
	if err := s.putMultipart(ctx, key, er, size, contentTypeOr(contentType)); err != nil {
		return s.errorf("put", key, err)
	}
	return nil
}

func (s *S3) putMultipart(ctx context.Context, key string, er *exactReader, size int64, contentType string) (err error) {
	partSize := max(s.partSize, (size+s3MaxParts-1)/s3MaxParts)
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(key),
		ContentType:       aws.String(contentType),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		return fmt.Errorf("create multipart upload: %w", err)
	}
	defer func() {
		if err == nil {
			return
		}
		// Abort even when ctx is cancelled, so that the parts do not linger.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, aerr := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: created.UploadId,
		}); aerr != nil {
			err = fmt.Errorf("%w (and abort multipart upload: %v)", err, aerr)
		}
	}()
	buf := make([]byte, partSize)
	var parts []types.CompletedPart
	for n, left := int32(1), size; left > 0; n++ {
		chunk := buf[:min(partSize, left)]
		if err := er.fill(chunk); err != nil {
			return err
		}
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:            aws.String(s.bucket),
			Key:               aws.String(key),
			UploadId:          created.UploadId,
			PartNumber:        aws.Int32(n),
			Body:              bytes.NewReader(chunk),
			ContentLength:     aws.Int64(int64(len(chunk))),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			return fmt.Errorf("upload part %d: %w", n, err)
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n), ChecksumCRC32: out.ChecksumCRC32})
		left -= int64(len(chunk))
	}
	if err := er.finish(); err != nil {
		return err
	}
	if _, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.bucket),
		Key:             aws.String(key),
		UploadId:        created.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}); err != nil {
		return fmt.Errorf("complete multipart upload: %w", err)
	}
	return nil
}

// Get streams the object.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	if err := ValidKey(key); err != nil {
		return nil, Info{}, s.errorf("get", key, err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, Info{}, s.notFound("get", key, err)
	}
	return out.Body, Info{
		Key:         key,
		Size:        aws.ToInt64(out.ContentLength),
		ContentType: aws.ToString(out.ContentType),
		ModTime:     aws.ToTime(out.LastModified),
	}, nil
}

// Stat is a HeadObject.
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if err := ValidKey(key); err != nil {
		return Info{}, s.errorf("stat", key, err)
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return Info{}, s.notFound("stat", key, err)
	}
	return Info{
		Key:         key,
		Size:        aws.ToInt64(out.ContentLength),
		ContentType: aws.ToString(out.ContentType),
		ModTime:     aws.ToTime(out.LastModified),
	}, nil
}

// notFound recognises a missing key: NoSuchKey from GetObject, a bare 404
// from HeadObject (which has no body to name the error).
func (s *S3) notFound(op, key string, err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var re *smithyhttp.ResponseError
	var ae smithy.APIError
	switch {
	case errors.As(err, &nsk), errors.As(err, &nf):
		return &NotFoundError{Store: s.String(), Key: key}
	case errors.As(err, &ae) && ae.ErrorCode() == "NoSuchBucket":
		return s.errorf(op, key, err)
	case op == "stat" && errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound:
		return &NotFoundError{Store: s.String(), Key: key}
	}
	return s.errorf(op, key, err)
}

// List pages through ListObjectsV2. S3 listings carry no content type.
func (s *S3) List(ctx context.Context, prefix string) ([]Info, error) {
	var out []Info
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.errorf("list", prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, Info{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete is a DeleteObject, which S3 answers alike for a missing key.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidKey(key); err != nil {
		return s.errorf("delete", key, err)
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}); err != nil {
		return s.errorf("delete", key, err)
	}
	return nil
}

// Ping is a HeadBucket.
func (s *S3) Ping(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
			return s.errorf("ping", "", fmt.Errorf("the bucket does not exist: %w", err))
		}
		return s.errorf("ping", "", err)
	}
	return nil
}
