package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/store"
)

// consoleRequest and consoleReviewRequest are the console tests' jobs: a
// one-task Python project whose module carries, in a comment, markup that
// a browser would run if the console did not escape it.
const (
	consoleRequest       = "Build console-py: a Python module value.py whose value() returns 42, with a pytest test."
	consoleReviewRequest = "Build console-review: a Python module value.py whose value() returns 42, with a pytest test."
	hostileComment       = `# <script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">`
)

func consoleModel(c llmtest.Call) llmtest.Reply {
	name := "console-py"
	if strings.Contains(c.Prompt(), "console-review") {
		name = "console-review"
	}
	if c.Role == "decomposer" {
		return llmtest.Reply{Content: `{"project":{"name":"` + name + `","language":"python","commands":{"test":"python3 -m pytest -q","run":"python3 -m pytest -q"}},` +
			`"tasks":[{"id":"t1","type":"code_generation","description":"value.py: value() returns 42, and its pytest test","complexity":"simple","dependencies":[]}]}`}
	}
	return llmtest.Reply{Content: llmtest.JSON(map[string]any{"summary": "value() returns 42", "files": []map[string]string{
		{"path": "value.py", "content": "\"\"\"The value.\"\"\"\n" + hostileComment + "\n\n\ndef value() -> int:\n    \"\"\"Return 42.\"\"\"\n    return 42\n"},
		{"path": "test_value.py", "content": "from value import value\n\n\ndef test_value() -> None:\n    assert value() == 42\n"}}})}
}

// chromiumPath finds Debian's Chromium (scripts/deps/browser.apt), or
// skips: a failure under QLP_TEST_REQUIRE_SERVICES=1.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" {
		t.Fatal("chromium is not installed (QLP_TEST_REQUIRE_SERVICES=1): run scripts/install-deps.sh test (scripts/deps/browser.apt)")
	}
	t.Skip("chromium is not installed: the console's browser tests need it (scripts/install-deps.sh test installs it)")
	return ""
}

// shots is where the page screenshots go: QLP_CONSOLE_SCREENSHOTS, or a
// temporary directory.
func shots(t *testing.T) string {
	dir := os.Getenv("QLP_CONSOLE_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// TestConsoleInABrowser drives the web console in headless Chromium
// against a real platform with the scripted model: sign in, submit, watch
// the job page reach completed through live updates, open the capsule
// (signature badge, escaped hostile file), download and verify the
// archive, approve a pending review and see its job finish, set a budget
// as an administrator and be refused as a non-administrator, and see
// another tenant's job answer 404. Each page is photographed.
func TestConsoleInABrowser(t *testing.T) {
	chromium := chromiumPath(t)
	started := time.Now()
	pl := startPlatform(t, "", consoleModel)
	admin := pl.adminKey("acme")
	dir := shots(t)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.WindowSize(1100, 900), chromedp.Flag("disable-gpu", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	base := pl.srv.URL
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(bctx, steps...))
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err)
		return v
	}
	eval := func(expr string) any {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[any](expr, chromedp.EvalAwaitPromise))
		require.NoError(t, err)
		return v
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
	}
	signIn := func(key string) {
		t.Helper()
		do(chromedp.Navigate(base+"/ui/login"), chromedp.WaitVisible(chromedp.ID("key")),
			chromedp.SendKeys(chromedp.ID("key"), key), chromedp.Submit(chromedp.ID("key")), chromedp.WaitVisible(chromedp.ID("description")))
	}
	signOut := func() {
		t.Helper()
		do(chromedp.Click(chromedp.CSS(".logout button")), chromedp.WaitVisible(chromedp.ID("key")))
	}

	// Sign in: the page shot is the sign-in form.
	do(chromedp.Navigate(base+"/ui/login"), chromedp.WaitVisible(chromedp.ID("key")))
	shot("login")
	signIn(admin)
	got, err := chromedp.Call(bctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/ui/"}})
	require.NoError(t, err)
	var session *network.Cookie
	for _, c := range got.Cookies {
		if c.Name == "qlp_console" {
			session = c
		}
	}
	require.NotNil(t, session, "no session cookie after sign-in")
	require.True(t, session.HTTPOnly, "the session cookie must be HttpOnly")
	require.Equal(t, network.CookieSameSiteStrict, session.SameSite)
	require.NotContains(t, session.Value, admin[4:], "the cookie must not carry the key in the clear")
	require.Equal(t, false, eval(`document.cookie.includes('qlp_console')`), "page script can read the session cookie")

	// Submit a request and watch the job page, loaded once, reach
	// completed from the progress stream.
	do(chromedp.SendKeys(chromedp.ID("description"), consoleRequest), chromedp.SetValue(chromedp.ID("language"), "python"),
		chromedp.SendKeys(chromedp.ID("budget"), "5"))
	shot("new-request")
	do(chromedp.Submit(chromedp.ID("description")), chromedp.WaitVisible(chromedp.ID("live")))
	jobURL, err := chromedp.Run(bctx, chromedp.Location())
	require.NoError(t, err)
	require.Contains(t, jobURL, "/ui/jobs/qlp-execution-")
	// The form's budget is the job's own (metadata.budget_usd).
	submitted, err := pl.p.Store.GetJob(t.Context(), "acme", strings.TrimPrefix(jobURL[strings.LastIndex(jobURL, "/")+1:], "qlp-execution-"))
	require.NoError(t, err)
	var submittedMeta map[string]any
	require.NoError(t, json.Unmarshal(submitted.Metadata, &submittedMeta))
	require.Equal(t, 5.0, submittedMeta["budget_usd"])
	eval(`window.__loadedOnce = 1`)
	do(chromedp.WaitVisible(chromedp.CSS("strong.state-completed")), chromedp.WaitVisible(chromedp.ID("capsule-link")))
	require.Equal(t, true, eval(`window.__loadedOnce === 1`), "the job page reached completed by reloading, not by live updates")
	require.Greater(t, eval(`document.querySelectorAll('#events li').length`), float64(2), "the job page listed no live events")
	shot("job")

	// The capsule: signature verified, the hostile file shown as text.
	// Clicked from page script: a live update may replace the link between
	// a CDP lookup of its node and the click, which then fails on a node
	// that no longer exists; the script finds and clicks it in one step.
	require.Equal(t, true, eval(`(() => { const a = document.getElementById('capsule-link'); a.click(); return a.href.includes('/ui/capsules/') })()`))
	do(chromedp.WaitVisible(chromedp.ID("signature")))
	require.Contains(t, text("#signature"), "Signature verified")
	capsuleURL, err := chromedp.Run(bctx, chromedp.Location())
	require.NoError(t, err)
	do(chromedp.Navigate(capsuleURL+"?file=value.py"), chromedp.WaitVisible(chromedp.CSS(".codebox")))
	require.Contains(t, text(".codebox"), `<script>window.__xss = 1</script>`, "the file's markup is not shown as text")
	require.Equal(t, float64(0), eval(`window.__xss === undefined ? 0 : window.__xss`), "markup from a capsule file ran in the page")
	require.Equal(t, float64(0), eval(`document.querySelectorAll('.codebox script, .codebox img').length`), "markup from a capsule file became elements")
	shot("capsule")

	// Download the archive the page links, in the browser, and verify it.
	b64 := eval(`fetch(document.getElementById('dl-zip').href).then(r => r.arrayBuffer()).then(b => {
		let s = ''; new Uint8Array(b).forEach(x => s += String.fromCharCode(x)); return btoa(s) })`)
	archive, err := base64.StdEncoding.DecodeString(b64.(string))
	require.NoError(t, err)
	files, err := capsule.ReadArchive(archive)
	require.NoError(t, err)
	ver, err := capsule.Verify(files, pl.p.Signer.PublicKey())
	require.NoError(t, err)
	require.True(t, ver.OK(), "downloaded archive does not verify: %v", ver.Problems)

	// A second version whose file was changed without a new signature:
	// the diff shows the change, and the badge, from a real verification,
	// says it does not verify.
	capsuleID := strings.TrimPrefix(capsuleURL, base+"/ui/capsules/")
	c1, err := pl.p.Store.GetCapsule(ctx, "acme", capsuleID)
	require.NoError(t, err)
	v1, err := pl.p.Store.GetCapsuleVersion(ctx, "acme", capsuleID, 1)
	require.NoError(t, err)
	v2 := v1
	v2.Version, v2.ParentVersion, v2.Message, v2.Files = 2, 1, "edited outside QLP", nil
	for _, f := range v1.Files {
		if f.Path == "value.py" {
			f.Content = []byte(strings.Replace(string(f.Content), "return 42", "return 43", 1))
			f.Size, f.SHA256 = int64(len(f.Content)), capsule.Digest(f.Content)
		}
		v2.Files = append(v2.Files, f)
	}
	require.NoError(t, pl.p.Store.AddCapsuleVersion(ctx, c1, v2))
	do(chromedp.Navigate(capsuleURL+"?version=2&diff=1"), chromedp.WaitVisible(chromedp.CSS("pre.diff")))
	require.Regexp(t, `(?m)^-\s+return 42$`, text("pre.diff"))
	require.Regexp(t, `(?m)^\+\s+return 43$`, text("pre.diff"))
	require.Contains(t, text("#signature"), "NOT verified")
	shot("capsule-diff")

	// Keyboard first: Tab reaches the skip link, with a visible focus ring.
	do(chromedp.KeyEvent(kb.Tab))
	require.Equal(t, "skip", eval(`document.activeElement.className`))
	require.NotEqual(t, "none", eval(`getComputedStyle(document.activeElement).outlineStyle`), "focus is not visible")
	// At phone width the page itself does not scroll sideways (code and
	// tables scroll in their own boxes).
	do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	for _, u := range []string{capsuleURL + "?file=value.py", jobURL} {
		do(chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS("h1")))
		require.Equal(t, true, eval(`document.documentElement.scrollWidth <= window.innerWidth + 1`), "%s is wider than a phone", u)
		if u == jobURL {
			shot("job-phone")
		}
	}
	do(chromedp.EmulateViewport(1100, 900))

	// A job waiting for reviews, answered in the review queue.
	c := pl.client("acme")
	sub, err := c.Execute(ctx, orchestrator.ExecuteRequest{ID: "console-review", Description: consoleReviewRequest,
		Metadata: map[string]any{"review_threshold": 1}}, "")
	require.NoError(t, err)
	for photographed := false; ; {
		st, err := c.Status(ctx, sub.WorkflowID)
		require.NoError(t, err)
		if st.Status == "completed" {
			break
		}
		require.Contains(t, []string{"queued", "running"}, st.Status, st.Error)
		pending, err := c.PendingReviews(ctx)
		require.NoError(t, err)
		if len(pending.Reviews) == 0 {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		do(chromedp.Navigate(base+"/ui/reviews"), chromedp.WaitVisible(chromedp.CSS("article.review")))
		if !photographed {
			shot("reviews")
			photographed = true
		}
		do(chromedp.Click(chromedp.CSS(`article.review button[value=approve]`)), chromedp.WaitVisible(chromedp.CSS(".flash")))
	}
	do(chromedp.Navigate(base+"/ui/jobs/"+sub.WorkflowID), chromedp.WaitVisible(chromedp.CSS("strong.state-completed")))

	// Budgets as an administrator.
	do(chromedp.Navigate(base+"/ui/costs"), chromedp.WaitVisible(chromedp.ID("request_usd")),
		chromedp.SendKeys(chromedp.ID("request_usd"), "0.5"), chromedp.Submit(chromedp.ID("request_usd")),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	require.Contains(t, text(".flash"), "Budgets saved")
	// The runway chart is the CLI's SVG, drawn in the page.
	require.Equal(t, true, eval(`new Promise(ok => { const i = document.querySelector('img.runway');
		if (i.complete) { ok(i.naturalWidth > 0) } else { i.onload = () => ok(i.naturalWidth > 0); i.onerror = () => ok(false) } })`), "the runway chart did not load")
	bs, err := orchestrator.NewClient(base, auth.Secret(admin), nil).Budgets(ctx)
	require.NoError(t, err)
	require.NotNil(t, bs.Limits["request"].LimitUSD)
	require.Equal(t, "0.500000", *bs.Limits["request"].LimitUSD)
	shot("costs")
	// Admin: a key made here is shown once, works, and once revoked
	// here no longer signs in; both changes are in the audit log.
	do(chromedp.Navigate(base+"/ui/admin"), chromedp.WaitVisible(chromedp.ID("key-name")))
	shot("admin") // before a key is shown: no key in the pictures
	do(chromedp.SendKeys(chromedp.ID("key-name"), "made-in-console"), chromedp.Click(chromedp.CSS(`input[name=scope][value=read]`)),
		chromedp.Submit(chromedp.ID("key-name")), chromedp.WaitVisible(chromedp.ID("new-key")))
	made := text("#new-key")
	require.True(t, strings.HasPrefix(made, "qlp_"), made)
	_, err = orchestrator.NewClient(base, auth.Secret(made), nil).Capsules(ctx, 1, 0)
	require.NoError(t, err, "the key made in the console does not work")
	do(chromedp.Click(chromedp.CSS(`button[aria-label="Revoke key `+made[:12]+`"]`)), chromedp.WaitVisible(chromedp.CSS("p.flash")))
	require.Contains(t, text("p.flash"), "revoked")
	_, err = orchestrator.NewClient(base, auth.Secret(made), nil).Capsules(ctx, 1, 0)
	require.Error(t, err, "the key revoked in the console still works")
	// The tenant's model pack, chosen among those the server offers.
	require.Contains(t, text("#active-pack"), "openai")
	do(chromedp.SetValue(chromedp.ID("pack"), "openai"), chromedp.Submit(chromedp.ID("pack")), chromedp.WaitVisible(chromedp.CSS("p.flash")))
	require.Contains(t, text("p.flash"), "Model pack saved")
	own, err := pl.p.Store.TenantModelPack(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, "openai", own)
	entries, err := pl.p.Store.ListAudit(ctx, store.AuditFilter{TenantID: "acme"})
	require.NoError(t, err)
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	require.Contains(t, actions, "console apikey create")
	require.Contains(t, actions, "console apikey revoke")
	require.Contains(t, actions, "PUT /api/v2/budgets")
	require.Contains(t, actions, "PUT /api/v2/model-packs")

	// A non-administrator sees no budget form and is refused a post.
	signOut()
	signIn(pl.keys["acme"])
	do(chromedp.Navigate(base+"/ui/costs"), chromedp.WaitVisible(chromedp.ID("budgets-refused")))
	require.Contains(t, text("#budgets-refused"), "administrator")
	hc := consoleSession(t, base, pl.keys["acme"])
	status, body := consolePost(t, hc, base+"/ui/costs/budgets", url.Values{"csrf": {consoleToken(t, hc, base+"/ui/")}, "request_usd": {"9"}})
	require.Equal(t, http.StatusForbidden, status, body)

	// Another tenant's job id is a 404, as in the API.
	signOut()
	signIn(pl.keys["globex"])
	do(chromedp.Navigate(base+"/ui/jobs/"+sub.WorkflowID), chromedp.WaitVisible(chromedp.CSS("h1")))
	require.Equal(t, "Not found", text("h1"))
	hg := consoleSession(t, base, pl.keys["globex"])
	resp, err := hg.Get(base + "/ui/jobs/" + sub.WorkflowID)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	t.Logf("console browser test: %.1f s (screenshots in %s)", time.Since(started).Seconds(), dir)
}

// TestConsoleRefusesFormsWithoutCSRF: a form post without the session's
// CSRF token (or with another session's) is refused, and so is a sign-in
// posted without the sign-in page's token.
func TestConsoleRefusesFormsWithoutCSRF(t *testing.T) {
	pl := startPlatform(t, "", consoleModel)
	base := pl.srv.URL
	hc := consoleSession(t, base, pl.keys["acme"])
	other := consoleSession(t, base, pl.keys["acme"])
	tests := []struct {
		name string
		form url.Values
	}{
		{"no token", url.Values{"description": {consoleRequest}}},
		{"empty token", url.Values{"csrf": {""}, "description": {consoleRequest}}},
		{"another session's token", url.Values{"csrf": {consoleToken(t, other, base+"/ui/")}, "description": {consoleRequest}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := consolePost(t, hc, base+"/ui/jobs", tt.form)
			require.Equal(t, http.StatusForbidden, status)
			require.Contains(t, body, "CSRF")
		})
	}
	n, _, err := pl.p.Store.ListCapsules(t.Context(), "acme", 10, 0)
	require.NoError(t, err)
	require.Empty(t, n)

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	bare := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	status, body := consolePost(t, bare, base+"/ui/login", url.Values{"key": {pl.keys["acme"]}})
	require.Equal(t, http.StatusForbidden, status)
	require.Contains(t, body, "CSRF")

	// Without a session: pages go to the sign-in page, forms and the
	// event stream are 401, only the sign-in page and the static files
	// answer.
	anon := []struct {
		method, path string
		status       int
		location     string
	}{
		{"GET", "/ui/", http.StatusSeeOther, "/ui/login?next=%2Fui%2F"},
		{"GET", "/ui/nope", http.StatusSeeOther, "/ui/login?next=%2Fui%2Fnope"},
		{"GET", "/ui/jobs/x/events", http.StatusUnauthorized, ""},
		{"POST", "/ui/jobs", http.StatusUnauthorized, ""},
		{"POST", "/ui/costs/budgets", http.StatusUnauthorized, ""},
		{"GET", "/ui/login", http.StatusOK, ""},
		{"GET", "/ui/static/console.css", http.StatusOK, ""},
	}
	for _, tt := range anon {
		t.Run("anonymous "+tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, base+tt.path, strings.NewReader(""))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := bare.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, tt.status, resp.StatusCode)
			require.Equal(t, tt.location, resp.Header.Get("Location"))
		})
	}

	// Revoking a key ends its console sessions at the next request.
	key, digest, err := auth.NewKey()
	require.NoError(t, err)
	require.NoError(t, pl.p.Store.CreateAPIKey(t.Context(), store.APIKey{ID: "acme-short", TenantID: "acme", Prefix: auth.DisplayPrefix(key.Reveal()), Digest: digest}))
	short := consoleSession(t, base, key.Reveal())
	resp, err := short.Get(base + "/ui/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	// Revoked elsewhere (the store, as `qlp apikey revoke` does): within
	// the second a replica trusts a key it has looked up.
	require.NoError(t, pl.p.Store.RevokeAPIKey(t.Context(), "acme", "acme-short"))
	revoked := time.Now()
	require.Eventually(t, func() bool {
		resp, err = short.Get(base + "/ui/")
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode == http.StatusSeeOther
	}, 5*time.Second, 50*time.Millisecond, "a revoked key's session still works")
	require.Less(t, time.Since(revoked), 2*time.Second, "a revoked key's session worked for more than the key cache's second")
	require.True(t, strings.HasPrefix(resp.Header.Get("Location"), "/ui/login"))

	// With the token the same post goes through (the refusals above are
	// the token's doing).
	status, body = consolePost(t, hc, base+"/ui/jobs", url.Values{"csrf": {consoleToken(t, hc, base+"/ui/")}, "description": {consoleRequest}})
	require.Equal(t, http.StatusSeeOther, status, body)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// consoleSession signs in with key through the sign-in form, as a browser
// without JavaScript would.
func consoleSession(t *testing.T, base, key string) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	token := consoleToken(t, hc, base+"/ui/login")
	status, body := consolePost(t, hc, base+"/ui/login", url.Values{"csrf": {token}, "key": {key}})
	require.Equal(t, http.StatusSeeOther, status, body)
	return hc
}

func consoleToken(t *testing.T, hc *http.Client, page string) string {
	t.Helper()
	resp, err := hc.Get(page)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	m := csrfField.FindStringSubmatch(string(b))
	require.NotNil(t, m, "no CSRF token on %s (%d)", page, resp.StatusCode)
	return m[1]
}

func consolePost(t *testing.T, hc *http.Client, u string, form url.Values) (int, string) {
	t.Helper()
	resp, err := hc.PostForm(u, form)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}
