package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/config"
)

// The five upstream addresses deploy/nginx/qlp.conf ships with, by service.
var nginxUpstreams = map[string]string{
	"orchestrator": "orchestrator:8000",
	"agents":       "agents:8001",
	"memory":       "memory:8003",
	"validation":   "validation:8002",
	"sandbox":      "sandbox:8004",
}

// nginxProxy is a real nginx running deploy/nginx/qlp.conf.
type nginxProxy struct {
	URL    string
	errLog string
}

// nginxOptions change the test set-up: httpExtra goes into the http block
// around qlp.conf (as a site's nginx.conf would have it); edit transforms
// qlp.conf itself, for control experiments only.
type nginxOptions struct {
	httpExtra string
	edit      func(string) string
}

// startNginx runs nginx as this user on a free port with deploy/nginx/qlp.conf,
// changed only where it names its listen port and the upstream addresses.
func startNginx(t *testing.T, upstreams map[string]string, opts nginxOptions) *nginxProxy {
	t.Helper()
	bin := requireTool(t, "nginx")
	dir := t.TempDir()
	conf := readFile(t, "nginx/qlp.conf")
	port := freePort(t)
	replace := func(old, new string) {
		if n := strings.Count(conf, old); n != 1 {
			t.Fatalf("qlp.conf: %q occurs %d times, want once", old, n)
		}
		conf = strings.Replace(conf, old, new, 1)
	}
	replace("listen 8080;", fmt.Sprintf("listen 127.0.0.1:%d;", port))
	for svc, addr := range nginxUpstreams {
		to, ok := upstreams[svc]
		if !ok {
			to = fmt.Sprintf("127.0.0.1:%d", freePort(t)) // nothing listens there
		}
		replace("server "+addr+";", "server "+to+";")
	}
	if opts.edit != nil {
		conf = opts.edit(conf)
	}
	writeFile(t, filepath.Join(dir, "qlp.conf"), conf)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root root;" // workers must reach the temporary directory
	}
	main := fmt.Sprintf(`%s
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 256; }
http {
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    %[3]s
    include %[2]s/qlp.conf;
}
`, user, dir, opts.httpExtra)
	writeFile(t, filepath.Join(dir, "nginx.conf"), main)
	if out, err := exec.Command(bin, "-t", "-q", "-p", dir, "-e", "stderr", "-c", filepath.Join(dir, "nginx.conf")).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-p", dir, "-e", "stderr", "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;")
	var stderr bytes.Buffer
	cmd.Stdout = io.Discard // the JSON access log
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &nginxProxy{URL: fmt.Sprintf("http://127.0.0.1:%d", port), errLog: filepath.Join(dir, "error.log")}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt) // SIGINT: fast shutdown of this nginx only
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.errLog)
			t.Logf("nginx stderr:\n%s\nnginx error.log:\n%s", stderr.String(), b)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/health")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not answer: %v\n%s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// echoUpstream answers every request with what it received.
type echoed struct {
	Service   string `json:"service"`
	URI       string `json:"uri"`
	RequestID string `json:"request_id"`
	Forwarded string `json:"forwarded_for"`
	Proto     string `json:"forwarded_proto"`
	BodyBytes int64  `json:"body_bytes"`
}

func echoUpstream(t *testing.T, service string, hits *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits != nil {
			hits.Add(1)
		}
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echoed{Service: service, URI: r.URL.RequestURI(), RequestID: r.Header.Get("X-Request-ID"),
			Forwarded: r.Header.Get("X-Forwarded-For"), Proto: r.Header.Get("X-Forwarded-Proto"), BodyBytes: n})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func hostPort(u string) string { return strings.TrimPrefix(u, "http://") }

func get(t *testing.T, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// securityHeaders are set on every response the proxy sends.
var securityHeaders = map[string]string{
	"X-Content-Type-Options":  "nosniff",
	"X-Frame-Options":         "DENY",
	"Referrer-Policy":         "no-referrer",
	"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}

func checkSecurityHeaders(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	for k, v := range securityHeaders {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
	if resp.Header.Get("Server") != "nginx" {
		t.Errorf("%s: Server = %q, want the bare %q (server_tokens off)", what, resp.Header.Get("Server"), "nginx")
	}
	if ids := resp.Header.Values("X-Request-ID"); len(ids) != 1 {
		t.Errorf("%s: X-Request-ID sent %d times: %q", what, len(ids), ids)
	}
}

func TestNginxRouting(t *testing.T) {
	t.Parallel()
	ups := map[string]string{}
	for svc := range nginxUpstreams {
		ups[svc] = hostPort(echoUpstream(t, svc, nil).URL)
	}
	px := startNginx(t, ups, nginxOptions{})

	cases := []struct {
		path, service, uri string
	}{
		{"/execute", "orchestrator", "/execute"},
		{"/api/capsules/c1/download?format=zip", "orchestrator", "/api/capsules/c1/download?format=zip"},
		{"/api/v1/orchestrator/workflow/status/w1", "orchestrator", "/workflow/status/w1"},
		{"/api/v1/orchestrator/healthz", "orchestrator", "/healthz"},
		{"/api/v1/memory/v1/memory/stats", "memory", "/v1/memory/stats"},
		{"/api/v1/memory/search/code?q=x", "memory", "/search/code?q=x"},
		{"/api/v1/validation/validate/code", "validation", "/validate/code"},
		{"/api/v1/sandbox/languages", "sandbox", "/languages"},
		{"/api/v1/sandbox/v1/runs?stream=sse", "sandbox", "/v1/runs?stream=sse"},
		{"/api/v1/agents/execute", "agents", "/execute"},
		{"/api/v1/agents/healthz", "agents", "/healthz"},
	}
	for _, c := range cases {
		resp, body := get(t, px.URL+c.path, map[string]string{"X-Request-ID": "req-" + c.service})
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d %s", c.path, resp.StatusCode, body)
			continue
		}
		var e echoed
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("GET %s: %v: %s", c.path, err, body)
		}
		if e.Service != c.service || e.URI != c.uri {
			t.Errorf("GET %s reached %s %s, want %s %s", c.path, e.Service, e.URI, c.service, c.uri)
		}
		if e.RequestID != "req-"+c.service || resp.Header.Get("X-Request-ID") != "req-"+c.service {
			t.Errorf("GET %s: X-Request-ID upstream %q, in response %q, want the client's", c.path, e.RequestID, resp.Header.Get("X-Request-ID"))
		}
		if e.Forwarded != "127.0.0.1" || e.Proto != "http" {
			t.Errorf("GET %s: X-Forwarded-For %q, X-Forwarded-Proto %q", c.path, e.Forwarded, e.Proto)
		}
		checkSecurityHeaders(t, "GET "+c.path, resp)
	}

	// No X-Request-ID (or one QLP would refuse): the proxy makes one, sends it
	// upstream and returns it.
	for _, sent := range []string{"", "has space", strings.Repeat("x", 65)} {
		resp, body := get(t, px.URL+"/execute", map[string]string{"X-Request-ID": sent})
		var e echoed
		_ = json.Unmarshal(body, &e)
		id := resp.Header.Get("X-Request-ID")
		if len(id) != 32 || id != e.RequestID {
			t.Errorf("sent X-Request-ID %q: upstream got %q, response has %q; want one generated 32-hex id in both", sent, e.RequestID, id)
		}
	}

	// /health is answered by the proxy itself, without credentials.
	resp, body := get(t, px.URL+"/health", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"status":"healthy"`) || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("/health: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	checkSecurityHeaders(t, "/health", resp)

	// Metrics are not published through the proxy, under any prefix.
	for _, p := range []string{"/metrics", "/api/v1/orchestrator/metrics"} {
		resp, body := get(t, px.URL+p, nil)
		if resp.StatusCode != 404 || !strings.Contains(string(body), `"code":"not_found"`) {
			t.Errorf("GET %s: %d %s, want 404", p, resp.StatusCode, body)
		}
		checkSecurityHeaders(t, "404 "+p, resp)
	}

	// The Agent Factory's POST /execute reaches it whole, with its path
	// stripped of the prefix.
	presp, err := http.Post(px.URL+"/api/v1/agents/execute", "application/json",
		strings.NewReader(`{"task":{"id":"rev","description":"reverse a string"},"tier":"T1"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(presp.Body)
	presp.Body.Close()
	var e echoed
	_ = json.Unmarshal(b, &e)
	if presp.StatusCode != 200 || e.Service != "agents" || e.URI != "/execute" || e.BodyBytes != 66 {
		t.Errorf("POST /api/v1/agents/execute: %d, reached %s %s with %d bytes", presp.StatusCode, e.Service, e.URI, e.BodyBytes)
	}
}

// TestNginxAgentsWaitForTheModel: a call to the Agent Factory lasts as long
// as the model takes (its timeout defaults to 600 s), so its location must
// wait longer than that for the answer, where the rest of the API gives up
// after the server's 120 s.
func TestNginxAgentsWaitForTheModel(t *testing.T) {
	conf := readFile(t, "nginx/qlp.conf")
	loc := regexp.MustCompile(`(?s)location /api/v1/agents/ \{(.*?)\n    \}`).FindStringSubmatch(conf)
	if loc == nil {
		t.Fatal("qlp.conf: no location /api/v1/agents/")
	}
	m := regexp.MustCompile(`proxy_read_timeout (\d+)m;`).FindStringSubmatch(loc[1])
	if m == nil {
		t.Fatalf("location /api/v1/agents/ sets no proxy_read_timeout in minutes:%s", loc[1])
	}
	if minutes, _ := strconv.Atoi(m[1]); time.Duration(minutes)*time.Minute <= 600*time.Second {
		t.Errorf("agents proxy_read_timeout %sm: not above POST /execute's default timeout of 600 s", m[1])
	}
	if !strings.Contains(loc[1], "proxy_pass http://qlp_agents/;") || !strings.Contains(loc[1], "limit_req zone=qlp_api") {
		t.Errorf("location /api/v1/agents/ must proxy to qlp_agents (prefix stripped) and be rate limited:%s", loc[1])
	}
}

func TestNginxUnavailableUpstream(t *testing.T) {
	t.Parallel()
	px := startNginx(t, map[string]string{}, nginxOptions{}) // nothing listens on any upstream
	// Each route's 503 names the service that is down.
	for path, service := range map[string]string{
		"/api/v1/memory/v1/memory/stats": "memory", "/api/v1/validation/readyz": "validation",
		"/api/v1/sandbox/readyz": "sandbox", "/api/v1/agents/readyz": "agents",
		"/api/v2/jobs/x": "orchestrator", "/api/v1/orchestrator/api/v2/jobs/x": "orchestrator",
	} {
		resp, body := get(t, px.URL+path, map[string]string{"X-Request-ID": "u1"})
		var e struct{ Error, Code, Service string }
		_ = json.Unmarshal(body, &e)
		if resp.StatusCode != 503 || e.Code != "unavailable" || e.Service != service || !strings.Contains(e.Error, service) ||
			!strings.Contains(string(body), `"request_id":"u1"`) {
			t.Errorf("%s with %s down: %d %s", path, service, resp.StatusCode, body)
		}
		checkSecurityHeaders(t, "503", resp)
	}
}

// sseUpstream sends one event, then waits for release before the second.
func sseUpstream(t *testing.T, release <-chan struct{}) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Deliberately no X-Accel-Buffering header: the proxy's own
		// configuration must stream.
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		fmt.Fprintf(w, "event: progress\ndata: {\"step\":1,\"uri\":%q}\n\n", r.URL.RequestURI())
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		case <-r.Context().Done():
			return
		}
		fmt.Fprint(w, "event: done\ndata: {\"step\":2}\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// firstEventWithin requests the stream at url and reports whether its first
// event arrived within d of the request (while the upstream still holds the
// second back), then releases the upstream and checks the rest of the stream.
func firstEventWithin(t *testing.T, url string, d time.Duration, release chan<- struct{}) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	lines := make(chan string, 16)
	errc := make(chan error, 1)
	go func() {
		defer close(lines)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			errc <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			errc <- fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
			return
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		errc <- sc.Err()
	}()
	early := false
	timer := time.NewTimer(d)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				break wait
			}
			if strings.HasPrefix(l, "data: ") && strings.Contains(l, `"step":1`) {
				early = true
				break wait
			}
		case <-timer.C:
			break wait
		}
	}
	close(release)
	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(rest, "\n"), `"step":2`) {
		t.Errorf("GET %s: the stream did not end with the second event: %q", url, rest)
	}
	return early
}

// siteGzip is what many nginx.conf files have at http level; the streaming
// locations must stream regardless.
const siteGzip = "gzip on; gzip_types text/event-stream application/json; gzip_min_length 1;"

func TestNginxStreamsServerSentEvents(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/progress/stream/qlp-execution-r1", "/api/v1/orchestrator/progress/stream/qlp-execution-r1", "/api/v1/sandbox/v1/runs?stream=sse"} {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			release := make(chan struct{})
			up := hostPort(sseUpstream(t, release).URL)
			px := startNginx(t, map[string]string{"orchestrator": up, "sandbox": up}, nginxOptions{httpExtra: siteGzip})
			if !firstEventWithin(t, px.URL+path, 3*time.Second, release) {
				t.Fatalf("GET %s: the first event did not arrive before the upstream finished: the proxy buffers the stream", path)
			}
		})
	}
	// Control: without the streaming location's settings, the same nginx
	// holds the stream back, so the check above can tell a buffering proxy
	// from a streaming one.
	t.Run("control-buffered", func(t *testing.T) {
		release := make(chan struct{})
		up := hostPort(sseUpstream(t, release).URL)
		px := startNginx(t, map[string]string{"orchestrator": up}, nginxOptions{httpExtra: siteGzip, edit: func(c string) string {
			const streaming = "proxy_buffering off;\n        proxy_cache off;\n        gzip off;\n"
			if !strings.Contains(c, streaming) {
				t.Fatal("qlp.conf: the SSE location's settings changed; update the control")
			}
			return strings.Replace(c, streaming, "", 1)
		}})
		if firstEventWithin(t, px.URL+"/progress/stream/x", 700*time.Millisecond, release) {
			t.Fatal("without the streaming settings the first event still arrived early: the streaming check proves nothing")
		}
	})
}

func TestNginxRateLimit(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	px := startNginx(t, map[string]string{"orchestrator": hostPort(echoUpstream(t, "orchestrator", &hits).URL)}, nginxOptions{})
	// 40 requests at once: far past the burst however slow this machine is.
	type result struct {
		code int
		resp *http.Response
		body []byte
	}
	results := make(chan result, 40)
	startGate := make(chan struct{})
	for i := 0; i < 40; i++ {
		go func() {
			<-startGate
			resp, err := http.Get(px.URL + "/v2/workflows/w1")
			if err != nil {
				results <- result{code: -1, body: []byte(err.Error())}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- result{resp.StatusCode, resp, b}
		}()
	}
	start := time.Now()
	close(startGate)
	var ok, limited int
	var limitedResp *http.Response
	var limitedBody []byte
	for i := 0; i < 40; i++ {
		r := <-results
		switch r.code {
		case 200:
			ok++
		case 429:
			limited++
			limitedResp, limitedBody = r.resp, r.body
		default:
			t.Fatalf("request %d: %d %s", i, r.code, r.body)
		}
	}
	elapsed := time.Since(start)
	// 10 r/s with a burst of 20: the first 21 pass at once, then about one
	// every 100 ms.
	maxOK := 21 + int(elapsed.Seconds()*10) + 1
	if ok < 21 || ok > maxOK || limited == 0 {
		t.Fatalf("40 requests in %v: %d passed, %d limited; want at least 21 and at most %d to pass, the rest 429", elapsed, ok, limited, maxOK)
	}
	if int(hits.Load()) != ok {
		t.Errorf("upstream saw %d requests, %d passed", hits.Load(), ok)
	}
	var e struct{ Code string }
	if err := json.Unmarshal(limitedBody, &e); err != nil || e.Code != "too_many_requests" || limitedResp.Header.Get("Retry-After") != "1" {
		t.Errorf("429 response: %q Retry-After=%q", limitedBody, limitedResp.Header.Get("Retry-After"))
	}
	checkSecurityHeaders(t, "429", limitedResp)
	// /health is not rate limited.
	for i := 0; i < 5; i++ {
		if resp, body := get(t, px.URL+"/health", nil); resp.StatusCode != 200 {
			t.Fatalf("/health while limited: %d %s", resp.StatusCode, body)
		}
	}
	// The bucket refills: after a second the API answers again.
	time.Sleep(1100 * time.Millisecond)
	if resp, body := get(t, px.URL+"/v2/workflows/w1", nil); resp.StatusCode != 200 {
		t.Fatalf("after a pause: %d %s", resp.StatusCode, body)
	}
}

// bodyLimit is one service's request body limit, from qlp's configuration.
func bodyLimits(t *testing.T) map[string]int64 {
	dump := configDump(t)
	limits := map[string]int64{}
	for svc, key := range map[string]string{"orchestrator": "api.max_body_bytes", "agents": "api.max_body_bytes", "memory": "memory.max_body_bytes",
		"sandbox": "sandbox.max_body_bytes", "validation": "validation.max_body_bytes"} {
		s, ok := dump[key]
		if !ok {
			t.Fatalf("qlp config dump has no %s", key)
		}
		n, err := strconv.ParseInt(s.Value, 10, 64)
		if err != nil {
			t.Fatalf("%s = %q: %v", key, s.Value, err)
		}
		limits[svc] = n
	}
	return limits
}

// postLength sends only the request head with a Content-Length of n and
// returns the status the proxy answers with before any body is sent.
func postLength(t *testing.T, base, path string, n int64) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", hostPort(base), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: qlp\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, n)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("POST %s with Content-Length %d: %v", path, n, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestNginxBodyLimits(t *testing.T) {
	t.Parallel()
	limits := bodyLimits(t)
	var hits atomic.Int64
	ups := map[string]string{}
	for svc := range nginxUpstreams {
		ups[svc] = hostPort(echoUpstream(t, svc, &hits).URL)
	}
	px := startNginx(t, ups, nginxOptions{})
	paths := map[string]string{"orchestrator": "/execute", "agents": "/api/v1/agents/execute", "memory": "/api/v1/memory/v1/memory/code",
		"validation": "/api/v1/validation/validate/code", "sandbox": "/api/v1/sandbox/v1/runs"}
	for svc, path := range paths {
		limit := limits[svc]
		// One byte over the service's own limit: refused by the proxy.
		before := hits.Load()
		code, body := postLength(t, px.URL, path, limit+1)
		if code != 413 || !strings.Contains(body, `"code":"body_too_large"`) {
			t.Errorf("%s: POST %s of %d bytes: %d %s, want 413", svc, path, limit+1, code, body)
		}
		if hits.Load() != before {
			t.Errorf("%s: a body over the limit reached the upstream", svc)
		}
		// Exactly the limit: passed through whole.
		resp, err := http.Post(px.URL+path, "application/json", io.LimitReader(zeroReader{}, limit))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e echoed
		_ = json.Unmarshal(b, &e)
		if resp.StatusCode != 200 || e.BodyBytes != limit || e.Service != svc {
			t.Errorf("%s: POST %s of exactly %d bytes: %d, upstream %s got %d bytes", svc, path, limit, resp.StatusCode, e.Service, e.BodyBytes)
		}
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestNginxInFrontOfQLP puts the proxy in front of the real orchestrator
// API (SQLite store, no workflow engine).
func TestNginxInFrontOfQLP(t *testing.T) {
	t.Parallel()
	requireTool(t, "nginx")
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	p, err := app.Open(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Options{NoEngine: true, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	api := httptest.NewServer(p.APIHandler())
	t.Cleanup(api.Close)
	px := startNginx(t, map[string]string{"orchestrator": hostPort(api.URL)}, nginxOptions{})

	for _, path := range []string{"/healthz", "/api/v1/orchestrator/healthz"} {
		resp, body := get(t, px.URL+path, nil)
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"service":"orchestrator"`) {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
		}
	}
	// QLP's own authentication answers through the proxy, with the request id
	// the client sent.
	resp, body := get(t, px.URL+"/api/capsules", map[string]string{"X-Request-ID": "trace-42"})
	var e struct {
		Code      string `json:"code"`
		RequestID string `json:"request_id"`
	}
	_ = json.Unmarshal(body, &e)
	if resp.StatusCode != 401 || e.Code != "unauthorized" || e.RequestID != "trace-42" || resp.Header.Get("X-Request-ID") != "trace-42" {
		t.Errorf("GET /api/capsules without a key: %d %s (X-Request-ID %q)", resp.StatusCode, body, resp.Header.Get("X-Request-ID"))
	}
	checkSecurityHeaders(t, "QLP 401", resp)
	// The proxy's limit is QLP's: one byte more is refused before QLP sees it.
	if code, body := postLength(t, px.URL, "/execute", cfg.API.MaxBodyBytes+1); code != 413 {
		t.Errorf("POST /execute over api.max_body_bytes: %d %s", code, body)
	}
}
