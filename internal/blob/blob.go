// Package blob keeps large immutable objects — capsule archives, and later
// backups — in a blob store, behind one small interface ([Store]) with three
// backends that one conformance suite (package blobtest) holds to the same
// contract:
//
//   - local: files under a directory (the embedded default). An object is
//     written to a temporary file under the directory's ".tmp", fsynced,
//     then renamed onto its key and the directory fsynced: rename(2) makes
//     it visible whole or not at all. Its content type is an extended
//     attribute of the file (user.qlp.content_type), set before the rename,
//     so the file system must support user extended attributes (ext4, xfs,
//     btrfs, tmpfs on Linux 6.6 and later); [OpenLocal] checks.
//   - azure: Azure Blob Storage through the Azure SDK for Go. An object up
//     to the part size is one Put Blob request; a larger one is staged as
//     blocks and made visible by one Put Block List. Either is atomic: a
//     reader sees the previous blob (or none) until the commit, then the new
//     one whole. Staged blocks of a failed upload are never committed (Azure
//     discards them after a week).
//   - s3: any S3-compatible store through the AWS SDK for Go v2. An object
//     up to the part size is one PutObject; a larger one is a multipart
//     upload, visible only when CompleteMultipartUpload succeeds and aborted
//     on any error or cancellation.
//
// The contract every backend keeps: [Store.Put] takes the exact size of the
// body; a body that is shorter or longer, a cancelled context or a failed
// request leaves the previous object (or none) in place, never a partial
// one. Concurrent writers of one key leave exactly one writer's whole
// object. A missing object is [ErrNotFound] (errors.Is), and every other
// error names the backend and what it was doing.
//
// Keys are slash-separated paths ([ValidKey]); a key cannot be both an
// object and the prefix directory of another on the local backend
// ("a" and "a/b"), so callers use file-like keys such as
// "capsules/<id>/capsule.tar.gz".
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Store is a blob store. Implementations are safe for concurrent use.
type Store interface {
	// Put stores the size bytes read from r under key, replacing any
	// object there. The object becomes visible whole when Put returns nil;
	// on any error the previous object (or none) stays. contentType ""
	// stores application/octet-stream.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	// Get opens the object for reading; the caller closes it. The reader
	// returns the object as it was when Get was called, even if it is
	// replaced meanwhile.
	Get(ctx context.Context, key string) (io.ReadCloser, Info, error)
	// Stat describes the object.
	Stat(ctx context.Context, key string) (Info, error)
	// List describes every object whose key starts with prefix (a plain
	// string prefix, "" for all), sorted by key. ContentType is left empty
	// (S3 listings do not carry it; Stat has it).
	List(ctx context.Context, prefix string) ([]Info, error)
	// Delete removes the object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Ping checks that the store is reachable and its container, bucket or
	// directory exists, for readiness probes.
	Ping(ctx context.Context) error
	// String names the backend and where it stores, e.g.
	// `s3 bucket "qlp" at http://minio:9000`; it holds no secret.
	String() string
}

// Info describes a stored object.
type Info struct {
	Key         string
	Size        int64
	ContentType string
	ModTime     time.Time
}

// DefaultContentType is stored when Put is given none.
const DefaultContentType = "application/octet-stream"

// ErrNotFound is matched (errors.Is) by the error for a missing object.
var ErrNotFound = errors.New("blob not found")

// NotFoundError is the error for a missing object.
type NotFoundError struct {
	Store string // the store's String()
	Key   string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("blob: %s: %q not found", e.Store, e.Key)
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// MaxKeyLen is the longest key, in bytes (Azure's and S3's limit).
const MaxKeyLen = 1024

// ValidKey checks a key: 1 to 1024 bytes of UTF-8, segments separated by
// single slashes, no segment empty or starting with a dot (the local
// backend keeps its temporary files under ".tmp"), no control characters
// and no backslash.
func ValidKey(key string) error {
	switch {
	case key == "":
		return errors.New("blob key is empty")
	case len(key) > MaxKeyLen:
		return fmt.Errorf("blob key is %d bytes long (at most %d)", len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return fmt.Errorf("blob key %q is not UTF-8", key)
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fmt.Errorf("blob key %q contains %q", key, r)
		}
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" {
			return fmt.Errorf("blob key %q has an empty segment (leading, trailing or double slash)", key)
		}
		if seg[0] == '.' {
			return fmt.Errorf("blob key %q has a segment starting with a dot", key)
		}
	}
	return nil
}

// exactReader reads exactly size bytes from r, checking ctx before every
// read, and fails if r ends early or has more.
type exactReader struct {
	ctx  context.Context
	r    io.Reader
	left int64
	size int64
}

func newExactReader(ctx context.Context, r io.Reader, size int64) *exactReader {
	return &exactReader{ctx: ctx, r: r, left: size, size: size}
}

// Read never returns more than the bytes left; at the end it checks that
// the source is exhausted too.
func (e *exactReader) Read(p []byte) (int, error) {
	if err := e.ctx.Err(); err != nil {
		return 0, err
	}
	if e.left == 0 {
		if err := e.checkEnd(); err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if errors.Is(err, io.EOF) {
		if e.left > 0 {
			return n, fmt.Errorf("body ended after %d of its %d bytes", e.size-e.left, e.size)
		}
		err = nil
	}
	return n, err
}

func (e *exactReader) checkEnd() error {
	var one [1]byte
	for {
		n, err := e.r.Read(one[:])
		if n > 0 {
			return fmt.Errorf("body is longer than its declared size of %d bytes", e.size)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := e.ctx.Err(); err != nil {
			return err
		}
	}
}

// fill reads len(buf) bytes, or fails like io.ReadFull but with the
// exactReader's own error for a short body.
func (e *exactReader) fill(buf []byte) error {
	_, err := io.ReadFull(e, buf)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("body ended after %d of its %d bytes", e.size-e.left, e.size)
	}
	return err
}

// finish checks, after the last byte, that the body has no more.
func (e *exactReader) finish() error {
	if e.left != 0 {
		return fmt.Errorf("body ended after %d of its %d bytes", e.size-e.left, e.size)
	}
	if err := e.ctx.Err(); err != nil {
		return err
	}
	return e.checkEnd()
}

func checkPut(key string, size int64) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("size %d is negative (Put needs the body's exact size)", size)
	}
	return nil
}

func contentTypeOr(ct string) string {
	if ct == "" {
		return DefaultContentType
	}
	return ct
}
