package orchestrator

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/blob"
	"github.com/quantumlayer/qlp/internal/blob/blobtest"
	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/logx"
)

// failingBlobs is a blob store whose reads fail as a store that is down
// does, and which counts them.
type failingBlobs struct {
	blob.Store
	err   error
	reads int
}

func (f *failingBlobs) Get(ctx context.Context, key string) (io.ReadCloser, blob.Info, error) {
	f.reads++
	if f.err != nil {
		return nil, blob.Info{}, f.err
	}
	return f.Store.Get(ctx, key)
}

// replica serves the API over st with blobs, as acme: one orchestrator
// replica.
func replica(t *testing.T, st Store, blobs blob.Store) *httptest.Server {
	t.Helper()
	s := New(Config{}, Deps{Store: st, Blobs: blobs, Logger: logx.Discard()})
	mux := http.NewServeMux()
	s.Mount(mux, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), auth.Principal{TenantID: "acme", KeyID: "k"})))
		})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

type download struct {
	status        int
	body          []byte
	contentType   string
	contentLength string
	sha256        string
}

func get(t *testing.T, srv *httptest.Server, path string) download {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return download{status: resp.StatusCode, body: body, contentType: resp.Header.Get("Content-Type"),
		contentLength: resp.Header.Get("Content-Length"), sha256: resp.Header.Get("X-Content-SHA256")}
}

// putArchive stores a version's archive as the workflow does.
func putArchive(t *testing.T, blobs blob.Store, capsuleID string, archive []byte) {
	t.Helper()
	key := capsule.ArchiveKey("acme", capsuleID, 1, capsule.DefaultFormat)
	require.NoError(t, blobs.Put(t.Context(), key, bytes.NewReader(archive), int64(len(archive)), capsule.StoredContentType(capsule.DefaultFormat, archive)))
}

// TestDownloadFromBlobStore: the default format's archive is streamed from
// the blob store when the workflow stored it; other formats, and versions
// with no stored archive, are built on demand as before; a blob store that
// fails is a 503 naming it, never a rebuilt archive.
func TestDownloadFromBlobStore(t *testing.T) {
	api := newCompatAPI(t)
	_, v, err := New(Config{}, Deps{Store: api.store}).Capsule(t.Context(), "acme", api.cap, 0)
	require.NoError(t, err)
	built := map[string][]byte{}
	for _, f := range []string{capsule.FormatZip, capsule.FormatTar, capsule.FormatTarGz} {
		built[f], err = capsule.VersionArchive(f, v)
		require.NoError(t, err)
	}
	// A stored object unlike any build shows where the bytes came from.
	stored := append([]byte("stored by the workflow\n"), built[capsule.FormatZip]...)
	down := errors.New("connection refused")
	base := "/api/capsules/" + api.cap + "/download"

	tests := []struct {
		name      string
		path      string
		store     bool  // the workflow stored the archive
		err       error // the blob store's reads fail with it
		status    int
		want      []byte
		wantType  string
		wantReads int
		wantInMsg string
	}{
		{name: "default format from the blob store", path: base, store: true, status: 200, want: stored, wantType: "application/zip", wantReads: 1},
		{name: "zip named, version named", path: base + "?format=zip&version=1", store: true, status: 200, want: stored, wantType: "application/zip", wantReads: 1},
		{name: "tar built on demand", path: base + "?format=tar", store: true, status: 200, want: built[capsule.FormatTar], wantType: "application/x-tar"},
		{name: "targz built on demand", path: base + "?format=targz", store: true, status: 200, want: built[capsule.FormatTarGz], wantType: "application/gzip"},
		{name: "no stored archive: built", path: base, status: 200, want: built[capsule.FormatZip], wantType: "application/zip", wantReads: 1},
		{name: "blob store down: 503 naming it", path: base, store: true, err: down, status: 503, wantReads: 1, wantInMsg: "blob store (local directory"},
		{name: "blob store down: other formats still built", path: base + "?format=tar", err: down, status: 200, want: built[capsule.FormatTar], wantType: "application/x-tar"},
		{name: "missing version", path: base + "?version=2", store: true, status: 404, wantReads: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local, err := blob.OpenLocal(t.TempDir())
			require.NoError(t, err)
			blobs := &failingBlobs{Store: local, err: tt.err}
			if tt.store {
				putArchive(t, local, api.cap, stored)
			}
			got := get(t, replica(t, api.store, blobs), tt.path)
			require.Equal(t, tt.status, got.status, string(got.body))
			require.Equal(t, tt.wantReads, blobs.reads, "blob store reads")
			if tt.status != 200 {
				require.Contains(t, string(got.body), tt.wantInMsg)
				return
			}
			require.Equal(t, tt.want, got.body)
			require.Equal(t, tt.wantType, got.contentType)
			require.Equal(t, strconv.Itoa(len(tt.want)), got.contentLength)
			require.Equal(t, capsule.Digest(tt.want), got.sha256)
		})
	}
}

// TestDownloadFromS3AnyReplica: two orchestrator replicas sharing an S3
// blob store (versitygw) serve the archive the workflow stored, byte for
// byte, with the digest it was stored with.
func TestDownloadFromS3AnyReplica(t *testing.T) {
	api := newCompatAPI(t)
	gw := blobtest.StartVersityGW(t)
	s3, err := blob.OpenS3(t.Context(), gw.Options(gw.NewBucket(t), blob.MinPartSize))
	require.NoError(t, err)
	_, v, err := New(Config{}, Deps{Store: api.store}).Capsule(t.Context(), "acme", api.cap, 0)
	require.NoError(t, err)
	archive, err := capsule.VersionArchive(capsule.DefaultFormat, v)
	require.NoError(t, err)
	putArchive(t, s3, api.cap, archive)
	for i, srv := range []*httptest.Server{replica(t, api.store, s3), replica(t, api.store, s3)} {
		got := get(t, srv, "/v2/capsules/"+api.cap+"/download")
		require.Equal(t, 200, got.status, "replica %d: %s", i, got.body)
		require.Equal(t, archive, got.body, "replica %d", i)
		require.Equal(t, capsule.Digest(archive), got.sha256, "replica %d", i)
	}
	// The store stops: the download says so instead of building again.
	gw.Stop()
	got := get(t, replica(t, api.store, s3), "/api/capsules/"+api.cap+"/download")
	require.Equal(t, http.StatusServiceUnavailable, got.status, string(got.body))
	require.Contains(t, string(got.body), `blob store (s3 bucket`)
}
