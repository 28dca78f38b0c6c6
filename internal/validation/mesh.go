package validation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/sandbox"
	"github.com/quantumlayer/qlp/internal/vocab"
)

// tracerName is the instrumentation scope of the mesh's spans.
const tracerName = "github.com/quantumlayer/qlp/internal/validation"

// Deps are what the mesh needs from the application.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are not registered
	// Sandbox runs every tool (required): the in-process sandbox service
	// or a client of a remote one.
	Sandbox sandbox.Runner
}

// Mesh is the in-process [Validator]: it runs the applicable checks of a
// project, in parallel sandbox runs (bounded by Config.MaxParallel),
// caches their results and scores the report.
type Mesh struct {
	cfg      Config
	logger   *slog.Logger
	sb       sandbox.Runner
	tools    map[string]toolInfo
	checkers []*checker
	cache    *cache
	metrics  *metrics
}

var _ Validator = (*Mesh)(nil)

// New detects the tools of this host (their versions go into every report
// and into the cache keys) and returns the mesh.
func New(ctx context.Context, cfg Config, deps Deps) (*Mesh, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("validation: %w", err)
	}
	if deps.Sandbox == nil {
		return nil, errors.New("validation: a sandbox runner is required: every tool runs in the sandbox")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Mesh{cfg: cfg, logger: logger.With("component", "validation"), sb: deps.Sandbox, tools: detectTools(ctx),
		checkers: checkers(), cache: newCache(cfg.CacheEntries), metrics: newMetrics(deps.Registerer)}
	var missing []string
	for _, t := range m.tools {
		if !t.ok() {
			missing = append(missing, t.Name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		m.logger.Warn("validation tools missing; their checks will be reported as skipped (run scripts/install-deps.sh)", "missing", missing)
	}
	return m, nil
}

// Ready reports whether the mesh can validate: it needs its sandbox.
func (m *Mesh) Ready(ctx context.Context) error {
	if r, ok := m.sb.(interface{ Ready(context.Context) error }); ok {
		return r.Ready(ctx)
	}
	return nil
}

// Validators implements [Validator].
func (m *Mesh) Validators(ctx context.Context) (*ValidatorsResponse, error) {
	resp := &ValidatorsResponse{Languages: vocab.Languages()}
	for _, c := range m.checkers {
		info := ValidatorInfo{Name: c.name, Category: c.category, Languages: c.langs, Tool: c.tool}
		if info.Languages == nil {
			info.Languages = vocab.Languages()
		}
		if builtin(c.tool) {
			info.Version, info.Available = builtinVersion, true
		} else {
			t := m.tools[c.tool]
			info.Version, info.Available = t.Version, t.ok()
			for _, n := range c.needs {
				if !m.tools[n].ok() {
					info.Available = false
				}
			}
			if !info.Available {
				info.Reason = m.missingTool(c)
			}
		}
		resp.Validators = append(resp.Validators, info)
	}
	return resp, nil
}

// builtinVersion versions QLP's own rules: change it when a rule changes,
// so that cached results of the old rules are not reused.
const builtinVersion = "qlp-rules/1"

func builtin(tool string) bool { return strings.HasPrefix(tool, "qlp-") }

func (m *Mesh) missingTool(c *checker) string {
	for _, n := range append([]string{c.tool}, c.needs...) {
		if t := m.tools[n]; !t.ok() {
			if t.Err == "" {
				return n + " not installed"
			}
			return t.Err
		}
	}
	return ""
}

func (m *Mesh) toolVersion(c *checker) string {
	if builtin(c.tool) {
		return builtinVersion
	}
	return m.tools[c.tool].Version
}

// slot is one check of a validation as it is worked out.
type slot struct {
	c     *checker
	check Check
	out   outcome
	key   string // of the check's whole result
	done  bool
	// p is the project as the check runs on it: narrowed to the Go
	// packages whose results are not cached (nil: the whole project).
	p *project
	// units are the parts its result is cached in; perUnit when they are
	// Go packages (a result per package), else one unit for the whole.
	units   []unitRun
	perUnit bool
	// spanCtx holds the span the check's own span is a child of (its
	// batch's, when it ran in the sandbox); began is when it started.
	spanCtx context.Context
	began   time.Time
}

// unitRun is one unit of a check in a validation: its key, and its cached
// result when there is one.
type unitRun struct {
	unit
	key  string
	hit  bool
	out  outcome
	from string
}

// proj is the project the check's commands and parser see.
func (s *slot) proj(p *project) *project {
	if s.p != nil {
		return s.p
	}
	return p
}

// tenantOf is the tenant a validation runs for (the principal in ctx, as
// the workflow and the HTTP handler set it); "" for a caller without one.
// Cached results are only ever reused within one tenant.
func tenantOf(ctx context.Context) string {
	if pr, ok := auth.From(ctx); ok {
		return pr.TenantID
	}
	return ""
}

// lookup answers a check from the cache when it can: its whole result, or
// (per-package checks) the results of the packages whose inputs are
// unchanged, narrowing the run to the others. It reports whether the
// check is done.
func (m *Mesh) lookup(tenant string, s *slot, p *project) bool {
	us := s.c.units(p)
	keys := make([]string, len(us))
	s.units = make([]unitRun, len(us))
	for i, u := range us {
		keys[i] = m.unitKey(tenant, s.c, p, u)
		s.units[i] = unitRun{unit: u, key: keys[i]}
	}
	s.perUnit = len(us) > 1 || us[0].name != ""
	s.key = wholeKey(s.c, keys)
	if e, ok := m.cache.get(s.key); ok {
		m.metrics.cacheHits.Inc()
		s.out, s.done, s.check.Cached = e.out, true, true
		s.check.Reused = &Reuse{Units: len(us), Reused: len(us), From: nonEmpty(e.from)}
		return true
	}
	m.metrics.cacheMisses.Inc()
	if !s.perUnit {
		return false
	}
	var missed []string
	for i := range s.units {
		u := &s.units[i]
		if e, ok := m.cache.get(u.key); ok {
			u.hit, u.out, u.from = true, e.out, e.from
			m.metrics.cacheHits.Inc()
			continue
		}
		m.metrics.cacheMisses.Inc()
		missed = append(missed, u.name)
	}
	switch {
	case len(missed) == len(s.units):
		return false // the whole check runs, as ./...
	case len(missed) == 0:
		s.out, s.done, s.check.Cached = m.merged(s, nil), true, true
		return true
	}
	narrowed := *p
	narrowed.pkgs = missed
	s.p = &narrowed
	return false
}

// merged is the check's result: the cached units' results with the fresh
// run's (nil when every unit was cached), and what was reused recorded on
// the check.
func (m *Mesh) merged(s *slot, fresh *outcome) outcome {
	var outs []outcome
	r := &Reuse{Units: len(s.units)}
	for _, u := range s.units {
		if !u.hit {
			continue
		}
		outs = append(outs, u.out)
		r.Reused++
		if u.from != "" && !contains(r.From, u.from) {
			r.From = append(r.From, u.from)
		}
	}
	if r.Reused > 0 {
		s.check.Reused = r
	}
	if fresh != nil {
		outs = append(outs, *fresh)
	}
	return mergeOutcomes(outs)
}

// Validate implements [Validator].
func (m *Mesh) Validate(ctx context.Context, req Request) (_ *Report, err error) {
	start := time.Now()
	ctx, span := otel.Tracer(tracerName).Start(ctx, "validation.validate", trace.WithAttributes(
		attribute.String("qlp.validation.label", req.Label), attribute.Bool("qlp.validation.quick", req.Quick)))
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	p, err := m.cfg.checkRequest(req)
	if err != nil {
		return nil, err
	}
	span.SetAttributes(attribute.String("qlp.validation.language", p.lang), attribute.Int("qlp.validation.files", len(p.paths)))
	tenant := tenantOf(ctx)
	var slots []*slot
	batches := map[string][]*slot{}
	var order []string
	for _, c := range m.checkers {
		if !c.appliesTo(p.lang) {
			continue
		}
		s := &slot{c: c, check: Check{Name: c.name, Category: c.category, Tool: c.tool, ToolVersion: m.toolVersion(c), Findings: []Finding{}},
			spanCtx: ctx, began: time.Now()}
		slots = append(slots, s)
		if req.Quick && !gating(c.category) && !builtin(c.tool) {
			if req.Partial {
				s.skip("quick validation: " + c.name + " runs on the assembled project")
			} else {
				s.skip("quick validation was asked for: " + c.name + " did not run")
			}
			continue
		}
		if !builtin(c.tool) {
			if reason := m.missingTool(c); reason != "" {
				s.skip(reason)
				continue
			}
		}
		if c.skip != nil {
			if reason := c.skip(p); reason != "" {
				s.skip(reason)
				continue
			}
		}
		if m.lookup(tenant, s, p) {
			continue
		}
		if c.local != nil {
			t0 := time.Now()
			s.began = t0
			s.out, s.done = c.local(p), true
			s.check.DurationMS = time.Since(t0).Milliseconds()
			m.cache.put(s.key, s.out, s.check.DurationMS, req.Label)
			continue
		}
		b := batchOf(c, p.lang)
		if _, ok := batches[b]; !ok {
			order = append(order, b)
		}
		batches[b] = append(batches[b], s)
	}

	sem := make(chan struct{}, m.cfg.MaxParallel)
	var wg sync.WaitGroup
	var downMu sync.Mutex
	var down error // a sandbox in another process that is down
	for _, b := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				for _, s := range batches[b] {
					s.skip("cancelled: " + ctx.Err().Error())
				}
				return
			}
			defer func() { <-sem }()
			if err := m.runBatch(ctx, p, b, batches[b]); err != nil {
				downMu.Lock()
				down = err
				downMu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("validation: %w", err)
	}
	if down != nil {
		// No report rather than one whose checks all say skipped: the
		// caller retries when the sandbox is back.
		return nil, fmt.Errorf("validation: the sandbox is down: %w", down)
	}

	r := &Report{Language: p.lang, Label: req.Label, ContentHash: p.hash, Checks: make([]Check, 0, len(slots))}
	for _, s := range slots {
		r.Checks = append(r.Checks, s.finish())
		s.traceCheck()
		if s.check.Reused != nil {
			r.Reused = append(r.Reused, s.c.name)
		}
		if s.out.tests != nil && s.check.Status != StatusSkipped {
			r.Tests = s.out.tests
		}
		m.metrics.checks.WithLabelValues(s.c.name, s.check.Status).Inc()
	}
	score(r, m.cfg.ReviewThreshold)
	r.DurationMS = time.Since(start).Milliseconds()
	span.SetAttributes(attribute.String("qlp.validation.status", r.OverallStatus), attribute.Float64("qlp.validation.confidence", r.ConfidenceScore))
	m.metrics.validations.WithLabelValues(p.lang, r.OverallStatus).Inc()
	m.metrics.duration.WithLabelValues(p.lang).Observe(time.Since(start).Seconds())
	m.logger.InfoContext(ctx, "validated", "label", req.Label, "language", p.lang, "files", len(p.paths), "status", r.OverallStatus,
		"confidence", r.ConfidenceScore, "review", r.RequiresHumanReview, "failed", r.Failed(), "reused", r.Reused, "duration_ms", r.DurationMS)
	return r, nil
}

// traceCheck records the check as a span once its result is settled: a
// child of its batch's span when it ran in the sandbox (its commands ran
// one after another there, so it spans their time from the batch's
// start), else of the validation's, over the time it took.
func (s *slot) traceCheck() {
	_, span := otel.Tracer(tracerName).Start(s.spanCtx, "validation.check", trace.WithTimestamp(s.began), trace.WithAttributes(
		attribute.String("qlp.check.name", s.check.Name), attribute.String("qlp.check.category", s.check.Category),
		attribute.String("qlp.check.tool", s.check.Tool), attribute.String("qlp.check.status", s.check.Status),
		attribute.Int("qlp.check.findings", len(s.check.Findings)), attribute.Bool("qlp.check.reused", s.check.Reused != nil)))
	if s.check.Status == StatusFailed {
		span.SetStatus(codes.Error, s.check.Message)
	}
	span.End(trace.WithTimestamp(s.began.Add(time.Duration(s.check.DurationMS) * time.Millisecond)))
}

// skip marks a check skipped with its reason. A skipped check is never
// counted as passed.
func (s *slot) skip(reason string) {
	s.out = outcome{status: StatusSkipped, reason: reason}
	s.done = true
}

// finish settles the check's status, message and legacy fields.
func (s *slot) finish() Check {
	c := s.check
	c.Findings = append(c.Findings, s.out.findings...)
	sort.SliceStable(c.Findings, func(i, j int) bool {
		a, b := c.Findings[i], c.Findings[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	c.Status = s.out.status
	if c.Status == "" {
		c.Status = statusFromFindings(c.Findings)
	}
	c.Reason, c.Output = s.out.reason, s.out.output
	c.Type = checkType(c.Category)
	c.Severity = legacySeverity(c.Findings, c.Status)
	switch {
	case c.Status == StatusSkipped:
		c.Message = "skipped: " + c.Reason
	case c.Reason != "":
		c.Message = c.Reason
	case len(c.Findings) > 0:
		c.Message = fmt.Sprintf("%d findings; first: %s", len(c.Findings), c.Findings[0])
	default:
		c.Message = c.Tool + " found nothing"
	}
	s.check = c
	return c
}

// batchOf is the sandbox run a check belongs to: the commands check joins
// the language's compile batch.
func batchOf(c *checker, lang string) string {
	if c.batch != "" {
		return c.batch
	}
	return map[string]string{"go": "go", "python": "py", "javascript": "js", "typescript": "ts", "bash": "sh", "java": "java", "rust": "rust"}[lang]
}

// lintBatch reports batches whose tools need no dependency manifests:
// requirements.txt and package.json are left out of their sandbox, so
// that an uninstallable dependency does not stop a linter.
func lintBatch(b string) bool { return strings.HasSuffix(b, "-lint") && b != "go-lint" }

// batchSpec is the sandbox run of one batch: the project's files (with
// what the mesh adds) and each check's commands in order, the project's
// tests last. spans[i] are the commands of slots[i].
func (m *Mesh) batchSpec(p *project, batch string, slots []*slot) (sandbox.Spec, [][2]int) {
	spec := sandbox.Spec{Language: p.lang, Limits: sandbox.Limits{
		MemoryBytes: m.cfg.MemoryBytes, Processes: 256, OutputBytes: 4 << 20, DiskBytes: 1 << 30,
		CPUTime: sandbox.Duration(10 * time.Minute),
	}}
	if !lintBatch(batch) {
		spec.Dependencies = p.req.Dependencies
	}
	for _, n := range p.paths {
		if lintBatch(batch) && (n == "requirements.txt" || n == "pyproject.toml" || n == "package.json" || n == "package-lock.json") {
			continue
		}
		spec.Files = append(spec.Files, sandbox.File{Path: n, Content: []byte(p.files[n])})
	}
	if p.lang == "go" && !p.has("go.mod") {
		spec.Files = append(spec.Files, sandbox.File{Path: "go.mod", Content: []byte(goModFor)})
	}
	if batch == "js-lint" {
		spec.Files = append(spec.Files, sandbox.File{Path: eslintConfigPath, Content: []byte(eslintConfig)})
	}
	spans := make([][2]int, len(slots))
	var wall time.Duration
	for i, s := range slots {
		cmds := s.c.cmds(s.proj(p), &m.cfg)
		for j := range cmds {
			if cmds[j].Timeout == 0 {
				cmds[j].Timeout = sandbox.Duration(m.cfg.CheckTimeout)
			}
			cmds[j].ContinueOnFailure = true
			wall += cmds[j].Timeout.D()
		}
		spans[i] = [2]int{len(spec.Commands), len(spec.Commands) + len(cmds)}
		spec.Commands = append(spec.Commands, cmds...)
		for _, c := range s.c.collect {
			if !contains(spec.Collect, c) {
				spec.Collect = append(spec.Collect, c)
			}
		}
	}
	spec.Limits.WallTime = sandbox.Duration(min(wall+10*time.Second, 10*time.Minute))
	if spec.Limits.CPUTime.D() > spec.Limits.WallTime.D() {
		spec.Limits.CPUTime = spec.Limits.WallTime
	}
	return spec, spans
}

// Plan returns the sandbox runs a validation of req would make (ignoring
// the cache), without running them: for diagnostics, and for the
// benchmark that runs the same commands directly on the host.
func (m *Mesh) Plan(req Request) ([]sandbox.Spec, error) {
	p, err := m.cfg.checkRequest(req)
	if err != nil {
		return nil, err
	}
	batches := map[string][]*slot{}
	var order []string
	for _, c := range m.checkers {
		if !c.appliesTo(p.lang) || c.local != nil || req.Quick && !gating(c.category) {
			continue
		}
		if m.missingTool(c) != "" || c.skip != nil && c.skip(p) != "" {
			continue
		}
		b := batchOf(c, p.lang)
		if _, ok := batches[b]; !ok {
			order = append(order, b)
		}
		batches[b] = append(batches[b], &slot{c: c})
	}
	var out []sandbox.Spec
	for _, b := range order {
		spec, _ := m.batchSpec(p, b, batches[b])
		out = append(out, spec)
	}
	return out, nil
}

// runBatch runs the checks of one batch in one sandbox run. It returns an
// error only when the sandbox runs in another process that is down
// (httpx.ServiceDown); any other failure to run skips the batch's checks.
func (m *Mesh) runBatch(ctx context.Context, p *project, batch string, slots []*slot) error {
	label := p.req.Label
	spec, spans := m.batchSpec(p, batch, slots)
	ctx, span := otel.Tracer(tracerName).Start(ctx, "validation.batch", trace.WithAttributes(
		attribute.String("qlp.validation.batch", batch), attribute.Int("qlp.validation.checks", len(slots))))
	defer span.End()
	t0 := time.Now()
	for _, s := range slots {
		s.spanCtx, s.began = ctx, t0
	}
	res, err := m.sb.Run(ctx, spec, nil)
	elapsed := time.Since(t0).Milliseconds()
	if err != nil {
		m.metrics.sandboxRuns.WithLabelValues(batch, "unavailable").Inc()
		span.RecordError(err)
		m.logger.WarnContext(ctx, "validation sandbox run failed", "batch", batch, "error", err)
		if _, down := httpx.ServiceDown(err); down {
			return err
		}
		for _, s := range slots {
			s.skip("the sandbox could not run it: " + err.Error())
		}
		return nil
	}
	m.metrics.sandboxRuns.WithLabelValues(batch, string(res.Status)).Inc()
	if res.Status == sandbox.StatusError && len(res.MissingDependencies) > 0 {
		reason := "dependency unavailable: " + strings.Join(res.MissingDependencies, "; ") + " (the sandbox has no network; only what this host has installed can be used)"
		for _, s := range slots {
			if gating(s.c.category) {
				s.out, s.done = outcome{status: StatusFailed, reason: reason}, true
			} else {
				s.skip(reason)
			}
		}
		return nil
	}
	for i, s := range slots {
		sp := spans[i]
		if sp[1] > len(res.Commands) {
			s.skip("the sandbox reported no result for it: " + res.Reason)
			continue
		}
		cr := res.Commands[sp[0]:sp[1]]
		if cr[0].Status == sandbox.StatusSkipped || res.Status == sandbox.StatusError && cr[0].ExitCode < 0 {
			s.skip("the sandbox did not run it: " + firstNonEmpty(cr[0].Reason, res.Reason))
			continue
		}
		fresh := s.c.parse(s.proj(p), cr, res.Files)
		var ms int64
		for _, c := range cr {
			ms += c.Duration.D().Milliseconds()
		}
		s.check.DurationMS = ms
		// The batch's commands ran in order: the check began when the
		// commands before its own had run.
		var before time.Duration
		for _, c := range res.Commands[:sp[0]] {
			before += c.Duration.D()
		}
		s.began = t0.Add(before)
		s.out, s.done = fresh, true
		if !cacheable(fresh, cr) {
			if s.p != nil && fresh.status != StatusSkipped {
				s.out = m.merged(s, &fresh)
			}
			continue
		}
		if s.perUnit {
			// Each package's own result, when the run's can be told
			// apart by package, for the next validation to reuse.
			var ran []unitRun
			for _, u := range s.units {
				if !u.hit {
					ran = append(ran, u)
				}
			}
			if parts, ok := splitByUnit(fresh, ran); ok {
				for i, u := range ran {
					m.cache.put(u.key, parts[i], ms/int64(len(ran)), label)
				}
			}
		}
		if s.p != nil {
			s.out = m.merged(s, &fresh)
		}
		m.cache.put(s.key, s.out, ms, label)
	}
	m.logger.Debug("validation batch", "batch", batch, "status", res.Status, "duration_ms", elapsed)
	return nil
}

// cacheable: results a rerun would reproduce. Runs cut short by a limit
// or an infrastructure problem are tried again next time.
func cacheable(o outcome, cr []sandbox.CommandResult) bool {
	if o.status == StatusSkipped {
		return false
	}
	for _, c := range cr {
		if c.Status != sandbox.StatusCompleted && c.Status != sandbox.StatusFailed {
			return false
		}
	}
	return true
}
