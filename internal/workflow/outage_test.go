package workflow_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/validation"
)

// flakyMesh is the Validation Mesh in another process that is down for
// some of the calls made to it: while down, nothing listens on its
// address and the client's connections are refused; it comes back on the
// same address. down(n) says whether it is down for the n-th call (from 1).
type flakyMesh struct {
	down   func(n int) bool
	client *validation.Client
	addr   string
	h      http.Handler

	mu    sync.Mutex
	srv   *httptest.Server
	calls int
	errs  []error
}

func newFlakyMesh(t *testing.T, mesh http.Handler, down func(int) bool) *flakyMesh {
	f := &flakyMesh{down: down, h: mesh}
	f.srv = httptest.NewServer(mesh)
	f.addr = f.srv.Listener.Addr().String()
	// No keep-alive: each call dials, so a call while down is refused.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	f.client = validation.NewClient("http://"+f.addr, auth.Secret("service-token"), hc)
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.srv != nil {
			f.srv.Close()
		}
	})
	return f
}

func (f *flakyMesh) Validate(ctx context.Context, req validation.Request) (*validation.Report, error) {
	f.mu.Lock()
	f.calls++
	switch down := f.down(f.calls); {
	case down && f.srv != nil:
		f.srv.Close()
		f.srv = nil
	case !down && f.srv == nil:
		ln, err := net.Listen("tcp", f.addr)
		if err != nil {
			f.mu.Unlock()
			return nil, err
		}
		f.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: f.h}}
		f.srv.Start()
	}
	f.mu.Unlock()
	rep, err := f.client.Validate(ctx, req)
	if err != nil {
		f.mu.Lock()
		f.errs = append(f.errs, err)
		f.mu.Unlock()
	}
	return rep, err
}

// A job whose Validation Mesh is down for a while completes: the
// activity's attempts see connections refused with an error that names the
// service, and retry until it is back. Each outage is as many refused
// calls as the activity's backoff needs to span more than 20 seconds
// (Temporal's test environment skips the waits).
func TestJobRidesOutAValidationOutage(t *testing.T) {
	tests := []struct {
		name    string
		down    func(n int) bool
		refused int
	}{
		// ValidateTask waits 2, 4, 8, 16 s: its 5th attempt comes 30 s
		// after the first.
		{name: "during the first task's validation", down: func(n int) bool { return n <= 4 }, refused: 4},
		// The tasks validate in calls 1-3; ValidateCapsule waits 1, 2, 4,
		// 8, 16 s: its 6th attempt comes 31 s after the first.
		{name: "during the capsule's validation", down: func(n int) bool { return n >= 4 && n <= 8 }, refused: 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			request, rules := exampleRules(t)
			h := newHarness(t, llmtest.NewScript(rules...).Handle)
			mesh, ok := h.acts.Validator.(*validation.Mesh)
			if !ok {
				t.Skip("no Validation Mesh here (bwrap missing)")
			}
			flaky := newFlakyMesh(t, mesh.Handler(), tc.down)
			h.acts.Validator = flaky
			h.newJob(t, "req-outage", request, "")
			h.run("req-outage")

			require.True(t, h.env.IsWorkflowCompleted())
			require.NoError(t, h.env.GetWorkflowError())
			job, err := h.store.GetJob(t.Context(), "acme", "req-outage")
			require.NoError(t, err)
			require.Equal(t, "completed", string(job.Status))
			require.Len(t, flaky.errs, tc.refused)
			for _, err := range flaky.errs {
				require.ErrorContains(t, err, "validation: POST /v1/validate: cannot reach the service at http://"+flaky.addr)
				require.ErrorContains(t, err, "connection refused")
			}
		})
	}
}
