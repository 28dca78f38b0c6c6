// Package console is QLP's web console: server-rendered pages under /ui/
// for people who would rather look than read JSON. It submits requests,
// follows jobs (live, from the API's progress stream), shows capsules,
// answers reviews, and governs costs and keys.
//
// Every page acts through the API handler in this process with the
// signed-in API key (orchestrator.NewInProcessClient), so tenant isolation,
// scopes, rate limits and the audit log are the API's own: the console
// reimplements none of them. Sign-in exchanges the key for a sealed,
// HttpOnly, SameSite=Strict cookie (see docs/security.md).
package console

import (
	"context"
	"crypto/ed25519"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// KeyStore is what the admin page needs of the store to manage API keys
// and record those changes in the audit log.
type KeyStore interface {
	AppendAudit(ctx context.Context, e store.AuditEntry) error
	CreateAPIKey(ctx context.Context, k store.APIKey) error
	ListAPIKeys(ctx context.Context, tenantID string) ([]store.APIKey, error)
	RevokeAPIKey(ctx context.Context, tenantID, id string) error
}

// Deps are the console's collaborators.
type Deps struct {
	// API is the API's handler in this process (routes behind their
	// authentication); every page's data comes through it. Handler sets
	// it.
	API http.Handler
	// Auth resolves the signed-in key on every request, so that a revoked
	// or expired key ends its sessions at once.
	Auth auth.Authenticator
	// Tasks lists a job's tasks with their dependencies, for the graph;
	// it is called only after the API answered for the job as the caller.
	Tasks func(ctx context.Context, jobID string) ([]domain.Task, error)
	// Keys manages API keys on the admin page; nil shows that page without
	// key management.
	Keys KeyStore
	// Trusted are the capsule signing keys the signature badge trusts.
	Trusted []ed25519.PublicKey
	Logger  *slog.Logger
}

// Console serves the pages.
type Console struct {
	cfg   Config
	d     Deps
	seal  *sealer
	pages map[string]*template.Template
	now   func() time.Time
}

// New builds the console. With no session key configured it logs that
// sessions end with the process.
func New(cfg Config, d Deps) (*Console, error) {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = Defaults().SessionTTL
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Auth == nil || d.Tasks == nil {
		return nil, errors.New("console: Auth and Tasks are required")
	}
	s, err := newSealer(cfg.SessionKey)
	if err != nil {
		return nil, err
	}
	if cfg.SessionKey == "" {
		d.Logger.Warn("console: QLP_CONSOLE_SESSION_KEY is not set; sign-ins last only as long as this process and are not shared with other replicas")
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	return &Console{cfg: cfg, d: d, seal: s, pages: pages, now: time.Now}, nil
}

func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || base == "live" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/live.html", n)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", n, err)
		}
		out[base] = t
	}
	return out, nil
}

var funcs = template.FuncMap{
	"pathEscape": url.PathEscape,
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		case *time.Time:
			if v == nil {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		}
		return ""
	},
	"deref": func(s *string) string {
		if s == nil {
			return "none"
		}
		return *s
	},
}

// Handler serves every page under /ui/, acting through api: the API's
// mux in this process, its routes behind their authentication.
func (c *Console) Handler(api http.Handler) http.Handler {
	cc := *c
	cc.d.API = api
	return cc.routes()
}

func (c *Console) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /ui/login", c.loginPage)
	mux.HandleFunc("POST /ui/login", c.login)
	page := func(pattern string, fn pageFunc) { mux.Handle(pattern, c.signedIn(fn)) }
	page("POST /ui/logout", c.logout)
	page("GET /ui/{$}", c.home)
	page("POST /ui/jobs", c.submit)
	page("GET /ui/jobs/{id}", c.job)
	page("GET /ui/jobs/{id}/events", c.events)
	page("POST /ui/jobs/{id}/cancel", c.cancel)
	page("GET /ui/capsules/{id}", c.capsule)
	page("GET /ui/capsules/{id}/download", c.download)
	page("GET /ui/reviews", c.reviews)
	page("POST /ui/reviews/{id}", c.respond)
	page("GET /ui/costs", c.costsPage)
	page("GET /ui/costs/runway.svg", c.runway)
	page("POST /ui/costs/budgets", c.setBudgets)
	page("GET /ui/admin", c.admin)
	page("POST /ui/admin/keys", c.createKey)
	page("POST /ui/admin/keys/{id}/revoke", c.revokeKey)
	page("POST /ui/admin/review-policy", c.setReviewPolicy)
	page("POST /ui/admin/model-pack", c.setModelPack)
	// Anything else is a 404 for the signed-in, and sign-in for the rest.
	page("/ui/", func(w http.ResponseWriter, r *http.Request, q *req) error {
		c.render(w, r, http.StatusNotFound, "error", q, errorView{Title: "Not found", Message: "There is no page at " + r.URL.Path + "."})
		return nil
	})
	return securityHeaders(mux)
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// securityHeaders keeps pages from being framed, sniffed or made to run
// any script but the console's own.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// req is one signed-in request: the session, who it is, and the API as
// that caller.
type req struct {
	sess session
	who  auth.Principal
	api  *orchestrator.Client
}

type pageFunc func(w http.ResponseWriter, r *http.Request, q *req) error

// signedIn opens the session cookie, re-checks its key, refuses a form
// post without the session's CSRF token, and hands the page an API client
// acting with the key. Pages' errors become pages that say what happened.
func (c *Console) signedIn(fn pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := c.session(r)
		if err != nil {
			http.SetCookie(w, cookie(r, sessionCookie, "", -1))
			if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, "/events") {
				http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.render(w, r, http.StatusUnauthorized, "error", nil, errorView{Title: "Signed out", Message: "Your session has ended or its key is no longer valid. Sign in again."})
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if !equalToken(r.PostFormValue("csrf"), q.sess.CSRF) {
				c.render(w, r, http.StatusForbidden, "error", q, errorView{Title: "Refused", Message: "This form was not sent from a page of this session (its CSRF token is missing or wrong). Reload the page and try again."})
				return
			}
		}
		if err := fn(w, r, q); err != nil {
			c.fail(w, r, q, err)
		}
	})
}

func (c *Console) session(r *http.Request) (*req, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, errBadSession
	}
	var s session
	if err := c.seal.open(sessionCookie, ck.Value, &s); err != nil {
		return nil, err
	}
	if c.now().Unix() >= s.Expires {
		return nil, errBadSession
	}
	p, err := c.d.Auth.Authenticate(r.Context(), s.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadSession, err)
	}
	api := orchestrator.NewInProcessClient(c.d.API, http.Header{"Authorization": {"Bearer " + s.Key}})
	return &req{sess: s, who: p, api: api}, nil
}

// errorView is the error page's content.
type errorView struct {
	Title, Message string
}

// fail turns an error into a page: the API's answer in words with its
// status, or a 500 that names the request id for the logs.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, q *req, err error) {
	var se *httpx.StatusError
	var he *httpx.Error
	switch {
	case errors.As(err, &se):
		title := http.StatusText(se.Status)
		msg := se.Message
		if se.Field != "" {
			msg = se.Field + ": " + msg
		}
		if se.Status == http.StatusNotFound {
			title, msg = "Not found", "Nothing of that name exists for your tenant ("+se.Message+")."
		}
		c.render(w, r, se.Status, "error", q, errorView{Title: title, Message: msg})
	case errors.As(err, &he):
		c.render(w, r, he.Status, "error", q, errorView{Title: http.StatusText(he.Status), Message: he.Message})
	default:
		c.d.Logger.ErrorContext(r.Context(), "console page failed", "path", r.URL.Path, "err", err)
		c.render(w, r, http.StatusInternalServerError, "error", q, errorView{Title: "Something went wrong", Message: "The page could not be built; the server's log has the details."})
	}
}

// view is what every page template gets.
type view struct {
	Title  string
	Nav    string
	Who    *auth.Principal
	CSRF   string
	Flash  string
	IsAdm  bool
	Data   any
	Status int
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, q *req, data any) {
	t, ok := c.pages[name]
	if !ok {
		http.Error(w, "not implemented: console page "+name, http.StatusInternalServerError)
		return
	}
	v := view{Data: data, Nav: name, Status: status, Flash: r.URL.Query().Get("flash")}
	if q != nil {
		v.Who, v.CSRF, v.IsAdm = &q.who, q.sess.CSRF, q.who.Allows(auth.ScopeAdmin)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	var b strings.Builder
	if err := t.Execute(&b, v); err != nil {
		c.d.Logger.ErrorContext(r.Context(), "console template failed", "page", name, "err", err)
		http.Error(w, "the page could not be drawn", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// loginView is the sign-in page's content.
type loginView struct {
	Next, Token, Error string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.showLogin(w, r, http.StatusOK, "")
}

func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	nonce, err := randomToken()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, cookie(r, loginCookie, nonce, 600))
	c.render(w, r, status, "login", nil, loginView{Next: safeNext(r.FormValue("next")), Token: c.seal.loginToken(nonce), Error: msg})
}

// safeNext keeps the redirect after sign-in on the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/"
	}
	return next
}

// login exchanges an API key, posted once, for a session cookie.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	ck, err := r.Cookie(loginCookie)
	if err != nil || !equalToken(r.PostFormValue("csrf"), c.seal.loginToken(ck.Value)) {
		c.render(w, r, http.StatusForbidden, "error", nil, errorView{Title: "Refused", Message: "This sign-in form was not sent from the sign-in page (its CSRF token is missing or wrong). Open the sign-in page again."})
		return
	}
	key := strings.TrimSpace(r.PostFormValue("key"))
	p, err := c.d.Auth.Authenticate(r.Context(), key)
	if err != nil {
		msg := "That key is not valid: check it, or ask an administrator for one (`qlp apikey create`)."
		if errors.Is(err, auth.ErrExpiredKey) {
			msg = "That key has expired; ask an administrator for a new one."
		} else if !errors.Is(err, auth.ErrInvalidKey) {
			msg = "The key cannot be checked right now; try again in a moment."
		}
		c.showLogin(w, r, http.StatusUnauthorized, msg)
		return
	}
	if p.TenantID == "" {
		c.showLogin(w, r, http.StatusForbidden, "This credential is not bound to a tenant; sign in with a tenant's API key.")
		return
	}
	csrf, err := randomToken()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	exp := c.now().Add(c.cfg.SessionTTL)
	v, err := c.seal.seal(sessionCookie, session{Key: key, KeyID: p.KeyID, Expires: exp.Unix(), CSRF: csrf})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, cookie(r, loginCookie, "", -1))
	http.SetCookie(w, cookie(r, sessionCookie, v, int(c.cfg.SessionTTL/time.Second)))
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, _ *req) error {
	http.SetCookie(w, cookie(r, sessionCookie, "", -1))
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
	return nil
}
