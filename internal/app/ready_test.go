package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/config"
	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/redisx/redistest"
)

func TestRemoteNeeds(t *testing.T) {
	split := config.Defaults()
	split.Services.MemoryURL = "http://memory:8003"
	split.Services.ValidationURL = "http://validation:8002"
	split.Services.SandboxURL = "http://sandbox:8004"
	sandboxOnly := config.Defaults()
	sandboxOnly.Services.SandboxURL = "http://sandbox:8004"
	tests := []struct {
		name string
		cfg  config.Config
		run  []string
		want map[string][]string // local target → the remote ones its /readyz asks
	}{
		{name: "up", cfg: config.Defaults(), run: app.TargetNames(), want: map[string][]string{}},
		{name: "worker, split", cfg: split, run: []string{app.Worker},
			want: map[string][]string{app.Worker: {app.Memory, app.Validation}}},
		{name: "worker with its validation, sandbox elsewhere", cfg: sandboxOnly, run: []string{app.Worker},
			want: map[string][]string{app.Worker: {app.Sandbox}, app.Validation: {app.Sandbox}}},
		{name: "validation, split", cfg: split, run: []string{app.Validation},
			want: map[string][]string{app.Validation: {app.Sandbox}}},
		{name: "worker and validation here, split", cfg: split, run: []string{app.Worker, app.Validation},
			want: map[string][]string{app.Worker: {app.Memory, app.Sandbox}, app.Validation: {app.Sandbox}}},
		{name: "sandbox, split", cfg: split, run: []string{app.Sandbox}, want: map[string][]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := app.PlanFor(tc.cfg, tc.run, nil)
			require.NoError(t, err)
			got := map[string][]string{}
			for _, n := range append(plan.Local, app.Orchestrator) {
				if r := plan.RemoteNeeds(n); r != nil {
					got[n] = r
				}
			}
			require.Equal(t, tc.want, got)
		})
	}
}

// fakeService stands for a service in another process: its probes, on
// an address that can go away and come back.
type fakeService struct {
	addr  string
	ready atomic.Pointer[error]
	srv   *http.Server
}

func newFakeService(t *testing.T, name string) *fakeService {
	f := &fakeService{}
	ok := error(nil)
	f.ready.Store(&ok)
	pr := httpx.NewProbes(name, "test")
	pr.AddCheck(name, func(context.Context) error { return *f.ready.Load() })
	mux := http.NewServeMux()
	pr.Mount(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f.addr = ln.Addr().String()
	f.serve(ln, mux)
	t.Cleanup(f.stop)
	return f
}

func (f *fakeService) serve(ln net.Listener, h http.Handler) {
	f.srv = &http.Server{Handler: h}
	go func() { _ = f.srv.Serve(ln) }()
}

func (f *fakeService) stop() { _ = f.srv.Close() }

// restart listens again on the same address.
func (f *fakeService) restart(t *testing.T) {
	ln, err := net.Listen("tcp", f.addr)
	require.NoError(t, err)
	f.serve(ln, f.srv.Handler)
}

// A target's /readyz asks the services it calls in other processes, on
// each request: it fails with their name and reason while they are down
// or not ready, and is ready again when they return, with no restart.
func TestReadinessFollowsARemoteService(t *testing.T) {
	sandbox := newFakeService(t, "sandbox")
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Store.Driver, cfg.Store.DatabaseURL = "sqlite", ""
	cfg.Services.SandboxURL = "http://" + sandbox.addr
	p, err := app.Open(t.Context(), cfg, logx.Discard(), app.Options{NoEngine: true, Run: []string{app.Validation}, Version: "test"})
	require.NoError(t, err)
	defer p.Close()
	h, err := p.Handler(app.Validation)
	require.NoError(t, err)
	validation := httptest.NewServer(h)
	defer validation.Close()

	readyz := func(t *testing.T) (int, map[string]string) {
		resp, err := http.Get(validation.URL + "/readyz")
		require.NoError(t, err)
		defer resp.Body.Close()
		var body struct {
			Checks map[string]string `json:"checks"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		return resp.StatusCode, body.Checks
	}
	steps := []struct {
		name   string
		do     func(t *testing.T)
		status int
		reason string // in the "sandbox" check
	}{
		{name: "up", do: func(*testing.T) {}, status: http.StatusOK, reason: "ok"},
		{name: "up but not ready", do: func(*testing.T) {
			e := errors.New("bwrap cannot create namespaces")
			sandbox.ready.Store(&e)
		}, status: http.StatusServiceUnavailable, reason: "sandbox: not ready: sandbox: bwrap cannot create namespaces"},
		{name: "down", do: func(*testing.T) { sandbox.stop() }, status: http.StatusServiceUnavailable,
			reason: "sandbox: GET /readyz: cannot reach the service at http://" + sandbox.addr},
		{name: "back, not ready yet", do: sandbox.restart, status: http.StatusServiceUnavailable, reason: "not ready"},
		{name: "back and ready", do: func(*testing.T) {
			ok := error(nil)
			sandbox.ready.Store(&ok)
		}, status: http.StatusOK, reason: "ok"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do(t)
			status, checks := readyz(t)
			require.Equal(t, s.status, status, "%v", checks)
			require.Contains(t, checks["sandbox"], s.reason)
		})
	}
}

// With Redis configured, two platforms over one store (two orchestrator
// replicas, or a worker and a replica) wake each other's progress
// followers through it at once, and the orchestrator's /readyz checks it.
func TestPlatformsShareProgressThroughRedis(t *testing.T) {
	redistest.Client(t) // skips without the test Redis
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Store.Driver, cfg.Store.DatabaseURL = "sqlite", ""
	cfg.Redis.URL = os.Getenv("QLP_TEST_REDIS_URL")
	open := func() *app.Platform {
		p, err := app.Open(t.Context(), cfg, logx.Discard(), app.Options{NoEngine: true, Version: "test"})
		require.NoError(t, err)
		t.Cleanup(func() { p.Close() })
		return p
	}
	a, b := open(), open()

	job := fmt.Sprintf("redis-%d", time.Now().UnixNano())
	got := make(chan domain.Event, 10)
	go func() {
		_ = b.Bus.Follow(t.Context(), job, 0, func(e domain.Event) error { got <- e; return nil })
	}()
	// Until b's bus is subscribed, its follower polls every second: wait
	// for an event to cross quickly before timing one.
	require.Eventually(t, func() bool {
		start := time.Now()
		if _, err := a.Bus.Publish(t.Context(), job, "acme", progress.LogMessage, "", "", nil); err != nil {
			return false
		}
		select {
		case <-got:
			return time.Since(start) < 300*time.Millisecond
		case <-time.After(2 * time.Second):
			return false
		}
	}, 10*time.Second, 10*time.Millisecond, "an event published by one platform reaches the other's follower at once")

	srv := httptest.NewServer(b.APIHandler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/readyz")
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct {
		Checks map[string]string `json:"checks"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Equal(t, "ok", body.Checks["redis"])
}
