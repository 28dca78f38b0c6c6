package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/orchestrator"
)

// localTenant owns what the CLI creates when it runs the platform itself.
const localTenant = "local"

// backend is the API a command talks to, and how to let go of it.
type backend struct {
	*orchestrator.Client
	local    *app.Platform
	closeFns []func()
}

func (b *backend) Close() {
	for i := len(b.closeFns) - 1; i >= 0; i-- {
		b.closeFns[i]()
	}
}

// connect returns a client for QLP_URL when it is set. Otherwise it runs the
// platform in this process (with a worker when worker is true) and serves
// its API on a loopback port that only this process can authenticate to, so
// that local and remote commands share every code path.
func connect(ctx context.Context, e *env, worker, engine bool) (*backend, error) {
	var run []string
	if worker {
		run = []string{app.Worker}
	}
	return connectRun(ctx, e, run, engine)
}

// connectRun is connect running the targets run (workers) in the embedded
// platform.
func connectRun(ctx context.Context, e *env, run []string, engine bool) (*backend, error) {
	if e.cfg.Client.URL != "" {
		return &backend{Client: orchestrator.NewClient(e.cfg.Client.URL, auth.Secret(e.cfg.Client.APIKey), &http.Client{})}, nil
	}
	cfg := e.cfg
	if cfg.Temporal.Address == "" {
		cfg.Temporal.Port = 0 // in-process: any free port
	}
	// The embedded platform's own logs would drown the command's output.
	logger := e.logger
	if !e.verbose() {
		logger = logx.Discard()
	}
	opts := app.Options{NoEngine: !engine, Version: e.version, Run: run}
	p, err := app.Open(ctx, cfg, logger, opts)
	if err != nil {
		return nil, err
	}
	b := &backend{local: p, closeFns: []func(){func() { p.Close() }}}
	var tok [32]byte
	if _, err := rand.Read(tok[:]); err != nil {
		b.Close()
		return nil, err
	}
	token := auth.Secret(hex.EncodeToString(tok[:]))
	srv, err := httpx.Listen("orchestrator", "127.0.0.1:0", p.APIHandler(auth.ServiceToken{Token: token}), logger)
	if err != nil {
		b.Close()
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Serve(sctx); close(done) }()
	b.closeFns = append(b.closeFns, func() { cancel(); <-done })
	b.Client = orchestrator.NewClient(srv.URL(), token, &http.Client{}).WithTenant(localTenant)
	if _, err := p.Store.EnsureTenant(ctx, localTenant, "local CLI"); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// verbose reports whether debug logging was asked for.
func (e *env) verbose() bool { return e.cfg.LogLevel == "debug" }
