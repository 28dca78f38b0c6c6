package app

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/quantumlayer/qlp/internal/agents"
	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/config"
	"github.com/quantumlayer/qlp/internal/console"
	"github.com/quantumlayer/qlp/internal/eval"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/marketing"
	"github.com/quantumlayer/qlp/internal/mcpserver"
	"github.com/quantumlayer/qlp/internal/memory"
	"github.com/quantumlayer/qlp/internal/sandbox"
	"github.com/quantumlayer/qlp/internal/settings"
	"github.com/quantumlayer/qlp/internal/validation"
)

// Names of the targets, for callers that ask for one by name.
const (
	Orchestrator = "orchestrator"
	Agents       = "agents"
	Memory       = "memory"
	Sandbox      = "sandbox"
	Validation   = "validation"
	Worker       = "worker"
	Marketing    = "marketing"
)

// Target is one service a QLP process can run. `qlp up` runs every target,
// `qlp serve a,b` the named ones; Targets is the only list of them.
type Target struct {
	// Name is what `qlp serve` takes.
	Name string
	// Summary says what it is, for `qlp serve --list`.
	Summary string
	// Needs are the targets it calls. Each runs in the same process unless
	// its URL setting names another process.
	Needs []string
	// AddrKey is the setting holding its listen address.
	AddrKey string
	// URLKey is the setting naming it in another process; empty when no
	// target calls it over HTTP.
	URLKey string
	// LLM says it needs the model settings; Engine, the workflow engine.
	LLM, Engine bool

	// open starts it in this process, after the targets it needs: a
	// method of Platform.
	open func(p *Platform, ctx context.Context) error
	// dial reaches it in another process at url and returns the check
	// that asks that process's /readyz, which the targets of this process
	// that call it add to their own readiness.
	dial func(p *Platform, url string) httpx.Check
	// mount adds its routes behind requireKey to its HTTP surface.
	mount func(p *Platform, mux *http.ServeMux, requireKey func(http.Handler) http.Handler)
	// component names it in logs when its name does not.
	component string
}

// Targets is the table of targets, in the order `qlp up` lists them.
// Adding a service is adding an entry here.
func Targets() []Target {
	return []Target{
		{
			Name: Orchestrator, Summary: "REST API, intake, status, progress, capsules (starts jobs on Temporal)",
			AddrKey: "api.addr", component: "api",
			// The orchestrator service is part of every platform (the CLI
			// talks to it in-process); this target only serves it.
			open:  func(*Platform, context.Context) error { return nil },
			mount: mountAPI,
		},
		{
			Name: Agents, Summary: "Agent Factory: POST /execute runs one task on one tier",
			AddrKey: "services.agents.addr", LLM: true,
			open:  (*Platform).openAgents,
			mount: mountAgents,
		},
		{
			Name: Memory, Summary: "Vector Memory: past requests and validated code patterns",
			AddrKey: "services.memory.addr", URLKey: "services.memory.url",
			open: (*Platform).openMemory,
			dial: func(p *Platform, url string) httpx.Check {
				c := memory.NewClient(url, auth.Secret(p.Cfg.ServiceToken), &http.Client{})
				p.Memory = c
				return c.Ready
			},
			mount: func(p *Platform, mux *http.ServeMux, requireKey func(http.Handler) http.Handler) {
				mux.Handle("/", requireKey(p.memorySvc.Handler()))
			},
		},
		{
			Name: Sandbox, Summary: "Execution Sandbox: runs generated code and its tests in isolation",
			AddrKey: "services.sandbox.addr", URLKey: "services.sandbox.url",
			open: (*Platform).openSandbox,
			dial: func(p *Platform, url string) httpx.Check {
				c := sandbox.NewClient(url, auth.Secret(p.Cfg.ServiceToken), nil)
				p.sandboxRunner = c
				return c.Ready
			},
			mount: func(p *Platform, mux *http.ServeMux, requireKey func(http.Handler) http.Handler) {
				mux.Handle("/", requireKey(p.Sandbox.Handler()))
			},
		},
		{
			Name: Validation, Summary: "Validation Mesh: compilers, linters and scanners per language, run in the sandbox",
			Needs:   []string{Sandbox},
			AddrKey: "services.validation.addr", URLKey: "services.validation.url",
			open: (*Platform).openValidation,
			dial: func(p *Platform, url string) httpx.Check {
				c := validation.NewClient(url, auth.Secret(p.Cfg.ServiceToken), nil)
				p.validator = c
				return c.Ready
			},
			mount: func(p *Platform, mux *http.ServeMux, requireKey func(http.Handler) http.Handler) {
				mux.Handle("/", requireKey(p.Validation.Handler()))
			},
		},
		{
			Name: Worker, Summary: "Temporal worker running QLPWorkflow (serves only probes and /metrics)",
			Needs:   []string{Memory, Validation},
			AddrKey: "services.worker.addr", LLM: true, Engine: true,
			open:  (*Platform).startWorker,
			mount: mountWorker,
		},
		{
			Name: Marketing, Summary: "Temporal worker running MarketingWorkflow and the publisher (task queue qlp-marketing; serves only probes and /metrics)",
			AddrKey: "services.marketing.addr", LLM: true, Engine: true,
			open:  (*Platform).startMarketing,
			mount: mountWorker,
		},
	}
}

// TargetNames are the names of the targets, in table order.
func TargetNames() []string {
	var out []string
	for _, t := range Targets() {
		out = append(out, t.Name)
	}
	return out
}

// LookupTarget returns the target called name.
func LookupTarget(name string) (Target, bool) {
	for _, t := range Targets() {
		if t.Name == name {
			return t, true
		}
	}
	return Target{}, false
}

// Addr is the address the target listens on under cfg.
func (t Target) Addr(cfg config.Config) string { return settingValue(cfg, t.AddrKey) }

// URL is where cfg says another process runs the target; empty when none
// does.
func (t Target) URL(cfg config.Config) string {
	if t.URLKey == "" {
		return ""
	}
	return settingValue(cfg, t.URLKey)
}

// setting returns the configuration setting called key.
func setting(cfg config.Config, key string) (settings.Setting, bool) {
	for _, s := range cfg.Settings() {
		if s.Key == key {
			return s, true
		}
	}
	return settings.Setting{}, false
}

// SettingName is how messages name the setting key: "api.addr (QLP_API_ADDR)".
func SettingName(cfg config.Config, key string) string {
	if s, ok := setting(cfg, key); ok {
		return s.Name()
	}
	return key
}

func settingValue(cfg config.Config, key string) string {
	s, ok := setting(cfg, key)
	if !ok {
		return ""
	}
	return s.Value.String()
}

// Plan is what a process runs, and how it reaches what that needs.
type Plan struct {
	// Run are the targets asked for, in dependency order.
	Run []string
	// Local are the targets opened in this process, in dependency order:
	// Run, and the targets they need that no URL setting names.
	Local []string
	// Remote are the targets reached by their URL setting.
	Remote []string
}

// PlanFor resolves which targets a process opens when it runs the targets
// run and uses (as a client, without serving it) the targets use: each
// target needed is opened here when it is run here or no URL names it, and
// reached by URL otherwise. A target run here is used here even when its
// URL is set.
func PlanFor(cfg config.Config, run, use []string) (Plan, error) {
	table := Targets()
	byName := map[string]Target{}
	for _, t := range table {
		byName[t.Name] = t
	}
	for _, n := range slices.Concat(run, use) {
		if _, ok := byName[n]; !ok {
			return Plan{}, unknownTarget(n)
		}
	}
	local := map[string]bool{}
	remote := map[string]bool{}
	var need func(name string)
	need = func(name string) {
		if local[name] || remote[name] {
			return
		}
		t := byName[name]
		if !slices.Contains(run, name) && t.URL(cfg) != "" {
			remote[name] = true
			return
		}
		local[name] = true
		for _, d := range t.Needs {
			need(d)
		}
	}
	for _, n := range slices.Concat(run, use) {
		need(n)
	}
	var p Plan
	var err error
	if p.Run, err = sortTargets(table, dedupe(run)); err != nil {
		return Plan{}, err
	}
	if p.Local, err = sortTargets(table, keys(local)); err != nil {
		return Plan{}, err
	}
	for _, t := range table {
		if remote[t.Name] {
			p.Remote = append(p.Remote, t.Name)
		}
	}
	return p, nil
}

// RemoteNeeds are the targets that name, open in this process, calls in
// another process: its needs that the plan reaches by URL, and theirs
// through the needs it opens here, in table order. A remote target's own
// needs are its process's business: its /readyz answers for them.
func (p Plan) RemoteNeeds(name string) []string {
	byName := map[string]Target{}
	for _, t := range Targets() {
		byName[t.Name] = t
	}
	found := map[string]bool{}
	seen := map[string]bool{}
	var walk func(n string)
	walk = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		for _, d := range byName[n].Needs {
			switch {
			case slices.Contains(p.Remote, d):
				found[d] = true
			case slices.Contains(p.Local, d):
				walk(d)
			}
		}
	}
	walk(name)
	var out []string
	for _, t := range Targets() {
		if found[t.Name] {
			out = append(out, t.Name)
		}
	}
	return out
}

func unknownTarget(name string) error {
	return fmt.Errorf("unknown target %q (want %s)", name, strings.Join(TargetNames(), ", "))
}

func dedupe(names []string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// sortTargets orders names so that each comes after the targets it needs
// among names, in table order otherwise. It refuses a name or a need that
// is not in table, and a cycle of needs anywhere in the table.
func sortTargets(table []Target, names []string) ([]string, error) {
	byName := map[string]Target{}
	for _, t := range table {
		if _, dup := byName[t.Name]; dup {
			return nil, fmt.Errorf("target %q is listed twice", t.Name)
		}
		byName[t.Name] = t
	}
	for _, t := range table {
		for _, d := range t.Needs {
			if _, ok := byName[d]; !ok {
				return nil, fmt.Errorf("target %q needs %q, which is not a target", t.Name, d)
			}
		}
	}
	want := map[string]bool{}
	for _, n := range names {
		if _, ok := byName[n]; !ok {
			return nil, fmt.Errorf("unknown target %q", n)
		}
		want[n] = true
	}
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var out []string
	var path []string
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case done:
			return nil
		case visiting:
			i := slices.Index(path, name)
			return fmt.Errorf("targets need each other in a cycle: %s", strings.Join(append(path[i:], name), " needs "))
		}
		state[name] = visiting
		path = append(path, name)
		for _, d := range byName[name].Needs {
			if err := visit(d); err != nil {
				return err
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		if want[name] {
			out = append(out, name)
		}
		return nil
	}
	// Every target is visited, so that a cycle is refused even when the
	// targets asked for do not reach it.
	for _, t := range table {
		if err := visit(t.Name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Handler is the HTTP surface of the target called name, which must be
// open in this process: its probes without a credential, its routes behind
// authentication (tenant keys, the service token, and extra).
func (p *Platform) Handler(name string, extra ...auth.Authenticator) (http.Handler, error) {
	t, ok := LookupTarget(name)
	if !ok {
		return nil, unknownTarget(name)
	}
	probes := p.probes[name]
	if probes == nil {
		return nil, fmt.Errorf("app: %s does not run in this process", name)
	}
	component := t.component
	if component == "" {
		component = t.Name
	}
	return p.serviceHandler(component, probes, func(mux *http.ServeMux, requireKey func(http.Handler) http.Handler) {
		t.mount(p, mux, requireKey)
	}, extra...), nil
}

// APIHandler is the orchestrator's HTTP surface, which every platform has.
func (p *Platform) APIHandler(extra ...auth.Authenticator) http.Handler {
	return p.serviceHandler("api", p.probes[Orchestrator], func(mux *http.ServeMux, requireKey func(http.Handler) http.Handler) {
		mountAPI(p, mux, requireKey)
	}, extra...)
}

func mountAPI(p *Platform, mux *http.ServeMux, requireKey func(http.Handler) http.Handler) {
	logger := p.Logger.With("component", "api")
	p.Orchestrator.Mount(mux, requireKey)
	// The forges' webhooks: their signature is their authentication.
	p.Orchestrator.MountWebhooks(mux)
	// MCP over streamable HTTP: behind the same authentication, and each
	// tool call goes through the routes above with the caller's credential.
	mux.Handle("/mcp", requireKey(mcpserver.Handler(mux, mcpserver.Options{Version: p.version}, logger)))
	// Evaluations: jobs through the routes above as the caller, graded
	// with the validation this process runs or reaches.
	mux.Handle("POST /api/v2/eval", requireKey(p.Orchestrator.Guard(http.MethodPost, "/api/v2/eval", auth.ScopeSubmit, eval.Handler(mux, func() eval.Validator {
		if p.validator == nil {
			return nil
		}
		return p.validator
	}, logger))))
	// The marketing API: campaigns start on the marketing worker's queue.
	mapi := &marketing.API{Store: p.Store, Cfg: p.Cfg.Marketing, Logger: logger.With("component", "marketing"), MaxBodyBytes: p.Cfg.API.MaxBodyBytes}
	if p.Engine != nil {
		mapi.Temporal = p.Engine.Client
	}
	for _, rt := range mapi.Routes() {
		mux.Handle(rt.Method+" "+rt.Pattern, requireKey(p.Orchestrator.Guard(rt.Method, rt.Pattern, rt.Scope, httpx.Handle(logger, rt.Handler))))
	}
	// The web console: its pages act through the routes above with the
	// signed-in key, so it needs no authentication of its own here.
	mux.Handle("/ui/", p.consoleHandler(mux, logger))
	// Anything else is a JSON 404, still behind authentication so that
	// the API's shape is not probed anonymously.
	mux.Handle("/", requireKey(httpx.Handle(logger, func(w http.ResponseWriter, r *http.Request) error {
		return httpx.NotFound("route " + r.Method + " " + r.URL.Path)
	})))
}

func mountAgents(p *Platform, mux *http.ServeMux, requireKey func(http.Handler) http.Handler) {
	// Routes by pattern, so that the HTTP metrics name them.
	h := requireKey(p.Agents.Handler())
	mux.Handle("POST /execute", h)
	mux.Handle("/", h)
}

// mountWorker: the worker serves probes and metrics only, for Kubernetes
// and Prometheus; everything else is an authenticated 404.
func mountWorker(p *Platform, mux *http.ServeMux, requireKey func(http.Handler) http.Handler) {
	logger := p.Logger.With("component", "worker")
	mux.Handle("/", requireKey(httpx.Handle(logger, func(w http.ResponseWriter, r *http.Request) error {
		return httpx.NotFound("route " + r.Method + " " + r.URL.Path + " (the worker serves only probes and /metrics)")
	})))
}

func (p *Platform) openAgents(ctx context.Context) error {
	if err := p.openRouter(ctx); err != nil {
		return err
	}
	p.Agents = agents.New(agents.Config{MaxTokens: p.Router.MaxTokens, Temperature: p.Router.Temperature, MaxBodyBytes: p.Cfg.API.MaxBodyBytes},
		p.Router, p.Logger.With("component", "agents"))
	p.probes[Agents].AddCheck("store", p.Store.Ping) // usage rows are written there
	return nil
}

func (p *Platform) openSandbox(ctx context.Context) error {
	pr := p.probes[Sandbox]
	sb, err := sandbox.New(ctx, p.Cfg.Sandbox, sandbox.Deps{Logger: p.Logger, Registerer: pr.Registry})
	if err != nil {
		return err
	}
	p.Sandbox, p.sandboxRunner = sb, sb
	pr.AddCheck("sandbox", sb.Ready)
	sb.WarmUp() // the Go build-cache and mypy seeds, before the first job needs them
	return nil
}

// consoleHandler is the web console under /ui/, acting through api.
func (p *Platform) consoleHandler(api http.Handler, logger *slog.Logger) http.Handler {
	p.consoleOnce.Do(func() {
		var trusted []ed25519.PublicKey
		if p.Signer != nil {
			trusted = append(trusted, p.Signer.PublicKey())
		}
		cfg := p.Cfg.Console
		cfg.TemporalNamespace = p.Cfg.Temporal.Namespace
		if cfg.TemporalUIURL == "" && p.Engine != nil {
			cfg.TemporalUIURL = p.Engine.UIURL // the embedded server's, when it serves one
		}
		p.console, p.consoleErr = console.New(cfg, console.Deps{Auth: p.keys(), Tasks: p.Orchestrator.Tasks,
			Keys: revokingKeys{p.Store, p.keys()}, Trusted: trusted, Logger: logger.With("component", "console")})
	})
	if p.consoleErr != nil {
		err := p.consoleErr
		return httpx.Handle(logger, func(http.ResponseWriter, *http.Request) error {
			return httpx.Unavailable(err, "the web console could not start: %v", err)
		})
	}
	return p.console.Handler(api)
}
