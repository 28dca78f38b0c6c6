package orchestrator

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/blob"
	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/logx"
)

// countingStore counts the job lookups a status makes.
type countingStore struct {
	Store
	finds atomic.Int32
}

func (c *countingStore) FindJob(ctx context.Context, tenantID, workflowID, requestID string) (domain.Job, error) {
	c.finds.Add(1)
	return c.Store.FindJob(ctx, tenantID, workflowID, requestID)
}

// TestStatusOfAFinishedJobIsAnsweredFromMemory: polling a job that has
// ended costs one lookup per readTTL, with the same answer; a job still
// running is looked up on every poll.
func TestStatusOfAFinishedJobIsAnsweredFromMemory(t *testing.T) {
	api := newCompatAPI(t)
	tests := []struct {
		state     string
		wantFinds int32 // over three polls within readTTL
	}{
		{"completed", 1},
		{"failed", 1},
		{"cancelled", 1},
		{"running", 3},
		{"queued", 3},
	}
	for _, tt := range tests {
		t.Run(tt.state, func(t *testing.T) {
			st := &countingStore{Store: api.store}
			srv := replica(t, st, nil)
			path := "/api/v2/jobs/" + api.jobs[tt.state]
			first := get(t, srv, path)
			require.Equal(t, http.StatusOK, first.status, string(first.body))
			for range 2 {
				got := get(t, srv, path)
				require.Equal(t, http.StatusOK, got.status)
				require.Equal(t, string(first.body), string(got.body))
			}
			require.Equal(t, tt.wantFinds, st.finds.Load(), "job lookups")
			if tt.wantFinds == 1 {
				time.Sleep(readTTL + 100*time.Millisecond)
				require.Equal(t, http.StatusOK, get(t, srv, path).status)
				require.Equal(t, int32(2), st.finds.Load(), "a finished job's answer outlived readTTL")
			}
		})
	}
	// The answer kept for one tenant is never another's.
	s := New(Config{}, Deps{Store: api.store, Logger: logx.Discard()})
	mux := http.NewServeMux()
	s.Mount(mux, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), auth.Principal{TenantID: r.Header.Get("X-Tenant"), KeyID: "k"})))
		})
	})
	for _, tc := range []struct {
		tenant string
		want   int
	}{{"acme", http.StatusOK}, {"globex", http.StatusNotFound}, {"acme", http.StatusOK}} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/api/v2/jobs/"+api.jobs["completed"], nil)
		req.Header.Set("X-Tenant", tc.tenant)
		mux.ServeHTTP(rec, req)
		require.Equal(t, tc.want, rec.Code, "%s: %s", tc.tenant, rec.Body.String())
	}
}

// TestArchivesAreKeptInMemory: a stored archive is read from the blob store
// once and then served from memory, byte for byte with the digest it was
// stored with; one whose bytes do not match that digest is refused (503)
// and not kept; one larger than archiveCacheMaxItem is streamed each time.
func TestArchivesAreKeptInMemory(t *testing.T) {
	api := newCompatAPI(t)
	_, v, err := New(Config{}, Deps{Store: api.store}).Capsule(t.Context(), "acme", api.cap, 0)
	require.NoError(t, err)
	archive, err := capsule.VersionArchive(capsule.DefaultFormat, v)
	require.NoError(t, err)
	big := make([]byte, archiveCacheMaxItem+1)
	_, err = rand.Read(big)
	require.NoError(t, err)
	key := capsule.ArchiveKey("acme", api.cap, 1, capsule.DefaultFormat)
	path := "/api/capsules/" + api.cap + "/download"

	tests := []struct {
		name        string
		body        []byte
		contentType string // as stored
		polls       int
		status      int
		wantReads   int
	}{
		{name: "read once, then from memory", body: archive, contentType: capsule.StoredContentType(capsule.DefaultFormat, archive), polls: 3, status: 200, wantReads: 1},
		{name: "bytes unlike their digest: refused, not kept", body: append([]byte("x"), archive[1:]...),
			contentType: capsule.StoredContentType(capsule.DefaultFormat, archive), polls: 2, status: 503, wantReads: 2},
		{name: "larger than an item may be: streamed each time (its size learnt by the first)", body: big, contentType: capsule.StoredContentType(capsule.DefaultFormat, big), polls: 3, status: 200, wantReads: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local, err := blob.OpenLocal(t.TempDir())
			require.NoError(t, err)
			require.NoError(t, local.Put(t.Context(), key, bytes.NewReader(tt.body), int64(len(tt.body)), tt.contentType))
			blobs := &failingBlobs{Store: local}
			srv := replica(t, api.store, blobs)
			for i := range tt.polls {
				got := get(t, srv, path)
				require.Equal(t, tt.status, got.status, "poll %d: %.200s", i, got.body)
				if tt.status != 200 {
					require.Contains(t, string(got.body), "sha256")
					continue
				}
				require.Equal(t, tt.body, got.body, "poll %d", i)
				require.Equal(t, strconv.Itoa(len(tt.body)), got.contentLength)
				require.Equal(t, capsule.Digest(tt.body), got.sha256)
			}
			require.Equal(t, tt.wantReads, blobs.reads, "blob store reads")
		})
	}
}

func TestByteLRU(t *testing.T) {
	a := func(n int) cachedArchive { return cachedArchive{data: make([]byte, n)} }
	tests := []struct {
		name string
		adds []struct {
			key string
			n   int
		}
		touch string // read between the adds and the check
		want  []string
		gone  []string
	}{
		{name: "fits", adds: []struct {
			key string
			n   int
		}{{"a", 4}, {"b", 4}}, want: []string{"a", "b"}},
		{name: "least recent evicted", adds: []struct {
			key string
			n   int
		}{{"a", 4}, {"b", 4}, {"c", 4}}, want: []string{"b", "c"}, gone: []string{"a"}},
		{name: "too large for an item", adds: []struct {
			key string
			n   int
		}{{"a", 4}, {"big", 7}}, want: []string{"a"}, gone: []string{"big"}},
		{name: "replaced, not counted twice", adds: []struct {
			key string
			n   int
		}{{"a", 4}, {"a", 4}, {"b", 4}}, want: []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newByteLRU(10, 6)
			for _, add := range tt.adds {
				c.add(add.key, a(add.n))
			}
			for _, k := range tt.want {
				_, ok := c.get(k)
				require.True(t, ok, "%s is gone", k)
			}
			for _, k := range tt.gone {
				_, ok := c.get(k)
				require.False(t, ok, "%s is kept", k)
			}
			require.LessOrEqual(t, c.size, 10, fmt.Sprint(c.size))
		})
	}
}
