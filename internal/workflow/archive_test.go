package workflow_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/blob"
	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/store"
	wf "github.com/quantumlayer/qlp/internal/workflow"
)

// flakyBlobs is a blob store whose first failPuts Puts fail, as a store
// that is down does, before anything is written.
type flakyBlobs struct {
	blob.Store
	mu       sync.Mutex
	failPuts int
	puts     int
}

func (f *flakyBlobs) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	f.mu.Lock()
	f.puts++
	fail := f.puts <= f.failPuts
	f.mu.Unlock()
	if fail {
		return errors.New("dial tcp: connection refused")
	}
	return f.Store.Put(ctx, key, r, size, contentType)
}

// TestCapsuleArchiveSurvivesABlobStoreOutage: the capsule's archive is
// kept in the blob store as its own step of the assembly. While the store
// fails, the activity fails and Temporal retries it; the job completes once
// the store is back, with exactly one object, announced once, and the
// orchestrator's download is that object, byte for byte the archive of the
// stored version. A store down for longer than the retries fails the job
// with an error naming the store and the key, and leaves no object.
func TestCapsuleArchiveSurvivesABlobStoreOutage(t *testing.T) {
	request, rules := exampleRules(t)
	tests := []struct {
		name     string
		failPuts int
		fails    bool // the retries run out
	}{
		{name: "store up"},
		{name: "one failed put", failPuts: 1},
		{name: "three failed puts", failPuts: 3},
		{name: "down through every attempt", failPuts: wf.AssembleAttempts, fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, llmtest.NewScript(rules...).Handle)
			h.acts.Validator = nil // validation is not what this tests
			local, err := blob.OpenLocal(t.TempDir())
			require.NoError(t, err)
			blobs := &flakyBlobs{Store: local, failPuts: tt.failPuts}
			h.acts.Blobs = blobs
			var attempts atomic.Int32
			h.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
				if info.ActivityType.Name == "AssembleCapsule" {
					attempts.Add(1)
				}
			})
			h.newJob(t, "req-1", request, "")
			h.run("req-1")

			require.True(t, h.env.IsWorkflowCompleted())
			capsuleID := wf.CapsuleID("req-1")
			key := capsule.ArchiveKey("acme", capsuleID, 1, capsule.DefaultFormat)
			job, err := h.store.GetJob(t.Context(), "acme", "req-1")
			require.NoError(t, err)
			objects, err := local.List(t.Context(), "")
			require.NoError(t, err)
			if tt.fails {
				require.Error(t, h.env.GetWorkflowError())
				require.Equal(t, store.JobFailed, job.Status)
				require.Contains(t, job.Error, fmt.Sprintf("cannot store its archive %q in the blob store (local directory", key))
				require.Contains(t, job.Error, "connection refused")
				require.Empty(t, objects, "no archive, whole or partial")
				require.Equal(t, int32(wf.AssembleAttempts), attempts.Load(), "every attempt the assembly's retry policy allows")
				return
			}
			require.NoError(t, h.env.GetWorkflowError())
			var res wf.Result
			require.NoError(t, h.env.GetWorkflowResult(&res))
			require.Equal(t, "completed", res.Status)
			require.Equal(t, capsuleID, res.CapsuleID)
			require.Equal(t, capsuleID, job.CapsuleID)
			require.Equal(t, int32(tt.failPuts+1), attempts.Load(), "one attempt per failed put, then one that lands")
			require.Equal(t, tt.failPuts+1, blobs.puts)
			require.Len(t, objects, 1)
			require.Equal(t, key, objects[0].Key)
			created := 0
			for _, e := range h.events(t, "req-1") {
				if e.Type == progress.CapsuleCreated {
					created++
				}
			}
			require.Equal(t, 1, created, "the capsule is announced once")

			// The download is the stored object, and the stored object is
			// the stored version's archive.
			v, err := h.store.GetCapsuleVersion(t.Context(), "acme", capsuleID, 0)
			require.NoError(t, err)
			built, err := capsule.VersionArchive(capsule.DefaultFormat, v)
			require.NoError(t, err)
			r, info, err := local.Get(t.Context(), key)
			require.NoError(t, err)
			obj, err := io.ReadAll(r)
			require.NoError(t, err)
			require.NoError(t, r.Close())
			require.Equal(t, built, obj)
			require.Equal(t, capsule.Digest(built), capsule.StoredDigest(info.ContentType))
			body, sum := download(t, h.store, local, capsuleID)
			require.True(t, bytes.Equal(built, body), "the download is the archive that was built")
			require.Equal(t, capsule.Digest(built), sum)
		})
	}
}

// download fetches a capsule's default archive through an orchestrator
// sharing the workflow's store and blob store.
func download(t *testing.T, st store.Store, blobs blob.Store, capsuleID string) ([]byte, string) {
	t.Helper()
	s := orchestrator.New(orchestrator.Config{}, orchestrator.Deps{Store: st, Blobs: &noBuild{blobs}, Logger: logx.Discard()})
	mux := http.NewServeMux()
	s.Mount(mux, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), auth.Principal{TenantID: "acme", KeyID: "k"})))
		})
	})
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/capsules/"+capsuleID+"/download", nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	return rec.Body.Bytes(), rec.Header().Get("X-Content-SHA256")
}

// noBuild fails the test's download if the archive is not in the store,
// instead of letting the orchestrator build it.
type noBuild struct{ blob.Store }

func (n *noBuild) Get(ctx context.Context, key string) (io.ReadCloser, blob.Info, error) {
	r, info, err := n.Store.Get(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, blob.Info{}, fmt.Errorf("test: %q is not in the blob store: %w", key, errors.ErrUnsupported)
	}
	return r, info, err
}
