// Package readme_test runs the commands README.md shows. Every line of its
// shell blocks is either run here, against a real platform the test starts
// (`qlp up` as a process, its models an OpenAI-compatible test server
// answering from a script), or listed below with the reason it cannot run;
// a README line the test does not know fails the test, and so does a README
// command that fails. The commands of the README's command table are
// checked to exist (each subcommand is listed by its parent's --help).
package readme_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/cli"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/sandbox/jail"
)

const repo = "../../.."

// TestMain lets the test binary be the qlp command: the README's bin/qlp
// is a wrapper that runs it with QLP_README_QLP=1, and the sandbox starts
// it as its helper.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == jail.HelperCommand {
		os.Exit(jail.ExecMain(os.Args[2:]))
	}
	if os.Getenv("QLP_README_QLP") == "1" {
		os.Exit(cli.Execute(context.Background(), "readme-test", os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// shellLines returns the command lines of README.md's ```sh blocks, each
// without its trailing comment; comment-only and empty lines are left out.
func shellLines(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(repo, "README.md"))
	require.NoError(t, err)
	defer f.Close()
	var out []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```sh"):
			in = true
		case strings.HasPrefix(line, "```"):
			in = false
		case in:
			if cmd := stripComment(line); cmd != "" {
				out = append(out, cmd)
			}
		}
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, out, "README.md has no shell block")
	return out
}

// stripComment drops a shell comment: a # at the start or after a blank,
// outside quotes.
func stripComment(line string) string {
	var quote rune
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return strings.TrimSpace(line[:i])
		}
	}
	return strings.TrimSpace(line)
}

// session is the shell the README's commands run in: a working directory
// holding bin/qlp, and the environment the commands build up.
type session struct {
	t       *testing.T
	dir     string
	env     map[string]string
	apiAddr string // where this test's `qlp up` listens instead of localhost:8000
	vars    map[string]string
	up      *exec.Cmd
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func newSession(t *testing.T) *session {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	wrapper := fmt.Sprintf("#!/bin/sh\nQLP_README_QLP=1 exec %q \"$@\"\n", os.Args[0])
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bin", "qlp"), []byte(wrapper), 0o755))
	s := &session{t: t, dir: dir, apiAddr: freeAddr(t), vars: map[string]string{}, env: map[string]string{
		// A fresh installation, on ports of its own: the README's
		// defaults (~/.local/share/qlp, :8000-:8005) may be in use.
		"QLP_DATA_DIR": filepath.Join(dir, "data"), "QLP_LOG_LEVEL": "warn", "QLP_STORE_DRIVER": "sqlite", "QLP_DATABASE_URL": "",
		"QLP_TEMPORAL_PORT": strings.Split(freeAddr(t), ":")[1], "QLP_URL": "", "QLP_API_KEY": "", "QLP_CAPSULE_TRUSTED_KEYS": "",
	}}
	s.env["QLP_API_ADDR"] = s.apiAddr
	for _, name := range []string{"QLP_AGENTS_ADDR", "QLP_VALIDATION_ADDR", "QLP_MEMORY_ADDR", "QLP_SANDBOX_ADDR", "QLP_WORKER_ADDR", "QLP_MARKETING_ADDR"} {
		s.env[name] = freeAddr(t)
	}
	return s
}

// model points the session's commands at a scripted OpenAI-compatible
// server: the README's provider settings stay, the base URL is the test's
// (tests never reach a hosted model).
func (s *session) model(rules ...llmtest.Rule) {
	srv := llmtest.New(llmtest.NewScript(rules...).Handle)
	s.t.Cleanup(srv.Close)
	s.env["QLP_LLM_BASE_URL"] = srv.URL
}

func (s *session) environ() []string {
	out := os.Environ()
	for k, v := range s.env {
		out = append(out, k+"="+v)
	}
	return out
}

// expand makes a README line runnable here: localhost:8000 is this test's
// API address, and <id> the request id the README's execute call got.
func (s *session) expand(line string) string {
	line = strings.ReplaceAll(line, "localhost:8000", s.apiAddr)
	for k, v := range s.vars {
		line = strings.ReplaceAll(line, k, v)
	}
	return line
}

func (s *session) command(ctx context.Context, line string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "sh", "-c", s.expand(line))
	cmd.Dir, cmd.Env = s.dir, s.environ()
	// Nothing a command starts may outlive the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}

// run runs a README line to its end and returns its output; a non-zero exit
// fails the test with both outputs.
func (s *session) run(line string, timeout time.Duration) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), timeout)
	defer cancel()
	cmd := s.command(ctx, line)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	require.NoError(s.t, err, "README command failed: %s\n(run as: %s)\nstdout:\n%s\nstderr:\n%s", line, s.expand(line), stdout.String(), stderr.String())
	return stdout.String()
}

// start runs a README line in the background (a server) until the test ends.
func (s *session) start(line string) *exec.Cmd {
	s.t.Helper()
	cmd := s.command(context.Background(), line)
	log, err := os.Create(filepath.Join(s.dir, "up.log"))
	require.NoError(s.t, err)
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(s.t, cmd.Start())
	s.t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		log.Close()
	})
	return cmd
}

func (s *session) waitReady(timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + s.apiAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if s.up.ProcessState != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	logs, _ := os.ReadFile(filepath.Join(s.dir, "up.log"))
	s.t.Fatalf("qlp up never became ready on %s:\n%s", s.apiAddr, logs)
}

// step is how the test treats one README line: run it, or say why not.
type step struct {
	run func(s *session, line string)
	// skip says why the line cannot run in a test; it is checked another
	// way (check) when that is possible.
	skip  string
	check func(t *testing.T)
}

var keyRe = regexp.MustCompile(`qlp_[A-Za-z0-9_-]{20,}`)

// readmeSteps lists every command line of README.md's shell blocks, by its
// text without the comment.
func readmeSteps() map[string]step {
	wcRequest := "a CLI that counts words in files, in Python, with tests"
	return map[string]step{
		"make demo": {skip: "installs packages (sudo apt-get) and writes ./out in the checkout; its steps (qlp generate on the example cassette, then qlp capsule verify of the archive) are TestGenerateWithTheExampleCassette in internal/cli; here the target is checked with make -n",
			check: func(t *testing.T) {
				out, err := exec.Command("make", "-C", repo, "-n", "demo").CombinedOutput()
				require.NoError(t, err, "make -n demo: %s", out)
				require.Contains(t, string(out), "scripts/demo.sh")
				st, err := os.Stat(filepath.Join(repo, "scripts", "demo.sh"))
				require.NoError(t, err)
				require.NotZero(t, st.Mode()&0o111, "scripts/demo.sh is executable")
			}},
		"make test": {skip: "it is the command that runs this test (and installs packages with sudo)"},
		"export QLP_LLM_PROVIDER=openai QLP_LLM_API_KEY=sk-…": {run: func(s *session, line string) {
			// Run the line, and keep what it exported for the lines after it.
			out := s.run(line+"; env", time.Minute)
			for _, kv := range strings.Split(out, "\n") {
				if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "QLP_LLM_") && k != "QLP_LLM_BASE_URL" {
					s.env[k] = v
				}
			}
			require.Equal(s.t, "openai", s.env["QLP_LLM_PROVIDER"])
		}},
		`bin/qlp generate "` + wcRequest + `" --out ./wc --archive wc.zip`: {run: func(s *session, line string) {
			s.model(wcScript()...)
			out := s.run(line, 30*time.Minute)
			require.Contains(s.t, out, "capsule wc")
			require.FileExists(s.t, filepath.Join(s.dir, "wc", "wc.py"))
			require.FileExists(s.t, filepath.Join(s.dir, "wc", "qlp-manifest.json"))
			verify := s.run("bin/qlp capsule verify wc.zip", 2*time.Minute)
			require.Contains(s.t, verify, "OK")
		}},
		"bin/qlp up": {run: func(s *session, line string) {
			s.model(goScript()...)
			s.env["QLP_DATA_DIR"] = filepath.Join(s.dir, "server-data")
			s.up = s.start(line)
			s.waitReady(3 * time.Minute)
		}},
		"bin/qlp apikey create --tenant acme": {run: func(s *session, line string) {
			out := s.run(line, time.Minute)
			key := keyRe.FindString(out)
			require.NotEmpty(s.t, key, "no key printed: %s", out)
			s.env["KEY"] = key
		}},
		`curl -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d '{"description":"a URL shortener in Go"}' localhost:8000/execute`: {run: func(s *session, line string) {
			out := s.run(line, time.Minute)
			var sub struct {
				WorkflowID string `json:"workflow_id"`
				RequestID  string `json:"request_id"`
				Error      string `json:"error"`
			}
			require.NoError(s.t, json.Unmarshal([]byte(out), &sub), out)
			require.Empty(s.t, sub.Error, "the README's execute call was refused: %s", out)
			require.NotEmpty(s.t, sub.WorkflowID, "the README's execute call did not start a job: %s", out)
			s.vars["<id>"] = sub.RequestID
		}},
		`curl -N -H "Authorization: Bearer $KEY" localhost:8000/progress/stream/qlp-execution-<id>`: {run: func(s *session, line string) {
			out := s.run(line, 30*time.Minute)
			require.Contains(s.t, out, "event: workflow_completed", "the README's job did not complete:\n%s", out)
		}},
		`QLP_URL=http://localhost:8000 QLP_API_KEY=$KEY bin/qlp generate "…" --out ./x`: {run: func(s *session, line string) {
			out := s.run(line, 30*time.Minute)
			require.Contains(s.t, out, "capsule shorty")
			require.FileExists(s.t, filepath.Join(s.dir, "x", "shorty.go"))
		}},
	}
}

// TestREADMECommands runs the README's shell blocks in order.
func TestREADMECommands(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("curl is not installed (scripts/deps/readme.apt; run scripts/install-deps.sh test): %v", err)
		}
		t.Skip("curl is not installed")
	}
	if _, err := exec.LookPath("bwrap"); err != nil {
		if os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("bwrap is not installed (run scripts/install-deps.sh test): %v", err)
		}
		t.Skip("bwrap is not installed: the README's jobs validate in the sandbox")
	}
	steps := readmeSteps()
	lines := shellLines(t)
	shown := map[string]bool{}
	for _, l := range lines {
		shown[l] = true
		if _, ok := steps[l]; !ok {
			t.Errorf("README.md shows %q, which this test does not know: run it in readmeSteps, or list why it cannot run", l)
		}
	}
	for l := range steps {
		if !shown[l] {
			t.Errorf("readmeSteps has %q, which README.md no longer shows", l)
		}
	}
	if t.Failed() {
		return
	}
	s := newSession(t)
	for _, l := range lines {
		st := steps[l]
		if st.run == nil {
			t.Logf("not run: %s: %s", l, st.skip)
			if st.check != nil {
				st.check(t)
			}
			continue
		}
		t.Logf("run: %s", l)
		st.run(s, l)
	}
}

// TestREADMECommandTable: every command the README's table names exists:
// each subcommand is listed by its parent's --help.
func TestREADMECommandTable(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repo, "README.md"))
	require.NoError(t, err)
	span := regexp.MustCompile("`qlp ([^`]+)`")
	word := regexp.MustCompile(`^[a-z][a-z0-9-]*(\\\|[a-z][a-z0-9-]*)*$`)
	optional := regexp.MustCompile(`^\[([a-z][a-z0-9-]*)\]$`)
	checked := 0
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "| `qlp ") {
			continue
		}
		first := strings.SplitN(line, " | ", 2)[0]
		for _, m := range span.FindAllStringSubmatch(first, -1) {
			var path []string
			for _, tok := range strings.Fields(m[1]) {
				if o := optional.FindStringSubmatch(tok); o != nil {
					tok = o[1]
				} else if !word.MatchString(tok) {
					break
				}
				path = append(path, tok)
			}
			require.NotEmpty(t, path, "cannot read %q", m[0])
			parent := []string{}
			for _, tok := range path {
				listed := subcommands(t, parent)
				for _, alt := range strings.Split(tok, `\|`) {
					require.Contains(t, listed, alt, "README.md names `qlp %s`, but `qlp %s --help` does not list %s", m[1], strings.Join(parent, " "), alt)
					checked++
				}
				parent = append(parent, strings.Split(tok, `\|`)[0])
			}
		}
	}
	require.Greater(t, checked, 20, "the README's command table was read")
}

// subcommands lists what `qlp PATH --help` offers under Available Commands.
func subcommands(t *testing.T, path []string) []string {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Execute(t.Context(), "readme-test", append(append([]string{}, path...), "--help"), &out, &errOut)
	require.Equal(t, 0, code, "qlp %s --help: %s", strings.Join(path, " "), errOut.String())
	var names []string
	in := false
	for _, l := range strings.Split(out.String(), "\n") {
		switch {
		case strings.HasPrefix(l, "Available Commands:"):
			in = true
		case in && strings.TrimSpace(l) == "":
			in = false
		case in:
			names = append(names, strings.Fields(l)[0])
		}
	}
	return names
}

// project is a one-task plan and its files, as a scripted model answers it.
func project(name, language, description string, commands map[string]string, files map[string]string) []llmtest.Rule {
	var paths []string
	var code, tests []map[string]string
	for p, c := range files {
		paths = append(paths, p)
		f := map[string]string{"path": p, "content": c}
		if strings.Contains(p, "test") {
			tests = append(tests, f)
		}
		code = append(code, f)
	}
	plan := map[string]any{
		"project": map[string]any{"name": name, "description": description, "language": language, "framework": "", "layout": "one package at the root",
			"dependencies": []string{}, "commands": commands},
		"tasks": []map[string]any{{"id": "t1", "type": "code_generation", "description": description, "complexity": "simple",
			"dependencies": []string{}, "files": paths}},
	}
	return []llmtest.Rule{
		{Role: "decomposer", Replies: []llmtest.Reply{{Content: llmtest.JSON(plan)}}},
		{Role: "test_writer", Replies: []llmtest.Reply{{Content: llmtest.JSON(map[string]any{"summary": "tests", "files": tests})}}},
		{Role: "coder", Replies: []llmtest.Reply{{Content: llmtest.JSON(map[string]any{"summary": description, "files": code})}}},
	}
}

// wcScript answers the README's Python request: a word counter.
func wcScript() []llmtest.Rule {
	return project("wc", "python", "A command-line tool that counts the words in files, like wc -w.",
		map[string]string{"build": "python3 -m py_compile wc.py", "test": "python3 -m pytest -q", "run": "python3 wc.py FILE..."},
		map[string]string{
			"wc.py": `"""Count the words in files, like wc -w."""
import argparse
import sys


def count_words(text: str) -> int:
    """Return the number of whitespace-separated words in text."""
    return len(text.split())


def main(argv: list[str] | None = None) -> int:
    """Print the word count of each file, and the total of several."""
    parser = argparse.ArgumentParser(description="Count the words in files.")
    parser.add_argument("files", nargs="+", help="files to read")
    args = parser.parse_args(argv)
    total = 0
    for name in args.files:
        with open(name, encoding="utf-8") as f:
            n = count_words(f.read())
        print(f"{n} {name}")
        total += n
    if len(args.files) > 1:
        print(f"{total} total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
`,
			"test_wc.py": `from wc import count_words, main


def test_count_words():
    assert count_words("") == 0
    assert count_words("one two  three\nfour") == 4


def test_main_prints_each_file_and_the_total(tmp_path, capsys):
    a = tmp_path / "a.txt"
    a.write_text("hello world\n", encoding="utf-8")
    b = tmp_path / "b.txt"
    b.write_text("one\n", encoding="utf-8")
    assert main([str(a), str(b)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"2 {a}", f"1 {b}", "3 total"]
`,
		})
}

// goScript answers the README's Go requests: a small URL shortener.
func goScript() []llmtest.Rule {
	return project("shorty", "go", "An HTTP service that shortens URLs and redirects short codes to them, keeping links in memory.",
		map[string]string{"build": "go build ./...", "test": "go test ./...", "run": "go run . -addr :8080"},
		map[string]string{
			"go.mod": "module example.com/shorty\n\ngo 1.22\n",
			"shorty.go": `// Command shorty shortens URLs: POST /shorten with {"url"} answers a short
// code, and GET /{code} redirects to the URL.
package main

import (
	"crypto/rand"
	"encoding/json"
	"flag"
	"log"
	"math/big"
	"net/http"
	"net/url"
	"sync"
	"time"
)

const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// Store keeps links in memory.
type Store struct {
	mu    sync.RWMutex
	links map[string]string
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{links: map[string]string{}} }

// Shorten stores u under a new 7-character code.
func (s *Store) Shorten(u string) (string, error) {
	for {
		code, err := newCode()
		if err != nil {
			return "", err
		}
		s.mu.Lock()
		if _, taken := s.links[code]; !taken {
			s.links[code] = u
			s.mu.Unlock()
			return code, nil
		}
		s.mu.Unlock()
	}
}

// Resolve returns the URL stored under code.
func (s *Store) Resolve(code string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.links[code]
	return u, ok
}

func newCode() (string, error) {
	b := make([]byte, 7)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", err
		}
		b[i] = alphabet[n.Int64()]
	}
	return string(b), nil
}

// Handler serves POST /shorten and GET /{code}.
func Handler(s *Store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /shorten", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			URL string ` + "`json:\"url\"`" + `
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "malformed JSON", http.StatusBadRequest)
			return
		}
		u, err := url.Parse(req.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			http.Error(w, "url must be an absolute http or https URL", http.StatusBadRequest)
			return
		}
		code, err := s.Shorten(u.String())
		if err != nil {
			http.Error(w, "no code available", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"code": code})
	})
	mux.HandleFunc("GET /{code}", func(w http.ResponseWriter, r *http.Request) {
		u, ok := s.Resolve(r.PathValue("code"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.Redirect(w, r, u, http.StatusFound)
	})
	return mux
}

func main() {
	addr := flag.String("addr", ":8080", "listen address")
	flag.Parse()
	srv := &http.Server{Addr: *addr, Handler: Handler(NewStore()), ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
`,
			"shorty_test.go": `package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestShortenAndRedirect(t *testing.T) {
	h := Handler(NewStore())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/shorten", strings.NewReader(` + "`" + `{"url":"https://example.com/a"}` + "`" + `)))
	if rec.Code != http.StatusCreated {
		t.Fatalf("shorten: %d %s", rec.Code, rec.Body)
	}
	var body struct{ Code string }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Code) != 7 {
		t.Fatalf("shorten answered %s (%v)", rec.Body, err)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/"+body.Code, nil))
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "https://example.com/a" {
		t.Fatalf("redirect: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
}

func TestRefusesBadInput(t *testing.T) {
	h := Handler(NewStore())
	for _, in := range []string{` + "`{`, `{\"url\":\"ftp://example.com\"}`, `{\"url\":\"/relative\"}`" + `} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/shorten", strings.NewReader(in)))
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", in, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/nope123", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("unknown code: %d, want 404", rec.Code)
	}
}
`,
		})
}
