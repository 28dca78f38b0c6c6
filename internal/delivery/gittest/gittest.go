// Package gittest runs a real git server for tests: Debian's git
// http-backend behind net/http/cgi (smart HTTP), every request needing
// HTTP basic authentication whose password is the server's current token.
package gittest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// Backend is where Debian's git package puts http-backend.
const Backend = "/usr/lib/git-core/git-http-backend"

// Server is a git server over HTTP.
type Server struct {
	*httptest.Server
	// Root holds the bare repositories.
	Root  string
	token atomic.Value
}

// Start serves the bare repositories repos (created empty, with branch
// main) with token as the password every request needs.
func Start(t testing.TB, token string, repos ...string) *Server {
	t.Helper()
	if _, err := os.Stat(Backend); err != nil {
		if os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("git http-backend is not installed (QLP_TEST_REQUIRE_SERVICES=1): apt-get install git")
		}
		t.Skip("git http-backend is not installed")
	}
	g := &Server{Root: t.TempDir()}
	g.token.Store(token)
	for _, r := range repos {
		Git(t, g.Root, "init", "--quiet", "--bare", "--initial-branch=main", r)
		Git(t, filepath.Join(g.Root, r), "config", "http.receivepack", "true")
	}
	h := &cgi.Handler{Path: Backend, Env: []string{"GIT_PROJECT_ROOT=" + g.Root, "GIT_HTTP_EXPORT_ALL=1"}}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pass, ok := r.BasicAuth()
		if !ok || pass != g.token.Load().(string) {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(g.Close)
	return g
}

// SetToken replaces the token: the old one is revoked.
func (g *Server) SetToken(token string) { g.token.Store(token) }

// AuthURL is the URL of repo with the current token in it, for the git
// command line.
func (g *Server) AuthURL(repo string) string {
	return strings.Replace(g.URL, "http://", "http://qlp:"+g.token.Load().(string)+"@", 1) + "/" + repo
}

// Git runs the git command line in dir, isolated from the user's
// configuration, and returns its trimmed output.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir(), "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// Head is the commit a branch of repo points at, "" when it has none.
func (g *Server) Head(t testing.TB, repo, branch string) string {
	t.Helper()
	return Git(t, filepath.Join(g.Root, repo), "for-each-ref", "--format=%(objectname)", "refs/heads/"+branch)
}

// CloneBack clones the branch with the git command line and returns its
// files (path → content, without .git).
func (g *Server) CloneBack(t testing.TB, repo, branch string) map[string][]byte {
	t.Helper()
	files, err := g.Tree(t.Context(), repo, branch, "")
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// Tree clones the branch of repo (with the current token), checks out
// commit ("" for the branch's head) and returns its files (path →
// content, without .git). It reports
// errors instead of failing a test, for code that runs outside the test's
// goroutine (a CI the tests play).
func (g *Server) Tree(ctx context.Context, repo, branch, commit string) (map[string][]byte, error) {
	dir, err := os.MkdirTemp("", "gittest-tree-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir, "GIT_TERMINAL_PROMPT=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %w: %s", args[0], err, out)
		}
		return nil
	}
	if err := run("clone", "--quiet", "--branch", branch, g.AuthURL(repo), "out"); err != nil {
		return nil, err
	}
	if commit != "" {
		if err := run("-C", "out", "checkout", "--quiet", commit); err != nil {
			return nil, err
		}
	}
	return readTree(filepath.Join(dir, "out"))
}

// readTree reads the files under root (path → content), without .git.
func readTree(root string) (map[string][]byte, error) {
	files := map[string][]byte{}
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() && info.Name() == ".git" {
			return filepath.SkipDir
		}
		if !info.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			files[filepath.ToSlash(rel)] = b
		}
		return nil
	})
	return files, err
}

// Create makes an empty bare repository (path such as owner/name.git)
// with branch main, as a forge does when a repository is created. It
// returns an error instead of failing the test: fake forges call it from
// their handlers.
func (g *Server) Create(repo string) error {
	dir := filepath.Join(g.Root, filepath.FromSlash(repo))
	if _, err := run(g.Root, "init", "--quiet", "--bare", "--initial-branch=main", dir); err != nil {
		return err
	}
	_, err := run(dir, "config", "http.receivepack", "true")
	return err
}

// Seed commits files to branch of repo (a forge's "initialize with a
// README"), as a child of the branch's head if it has one.
func (g *Server) Seed(repo, branch, message string, files map[string]string) (string, error) {
	dir := filepath.Join(g.Root, filepath.FromSlash(repo))
	idx := filepath.Join(g.Root, ".seed-index-"+strings.ReplaceAll(repo, "/", "_"))
	defer os.Remove(idx)
	env := []string{"GIT_INDEX_FILE=" + idx, "GIT_AUTHOR_NAME=forge", "GIT_AUTHOR_EMAIL=forge@example.com", "GIT_COMMITTER_NAME=forge", "GIT_COMMITTER_EMAIL=forge@example.com"}
	for name, content := range files {
		cmd := exec.Command("git", "hash-object", "-w", "--stdin")
		cmd.Dir, cmd.Stdin = dir, strings.NewReader(content)
		out, err := cmd.Output()
		if err != nil {
			return "", err
		}
		if _, err := runEnv(dir, env, "update-index", "--add", "--cacheinfo", "100644,"+strings.TrimSpace(string(out))+","+name); err != nil {
			return "", err
		}
	}
	tree, err := runEnv(dir, env, "write-tree")
	if err != nil {
		return "", err
	}
	args := []string{"commit-tree", tree, "-m", message}
	if head, _ := run(dir, "for-each-ref", "--format=%(objectname)", "refs/heads/"+branch); head != "" {
		args = append(args, "-p", head)
	}
	commit, err := runEnv(dir, env, args...)
	if err != nil {
		return "", err
	}
	_, err = run(dir, "update-ref", "refs/heads/"+branch, commit)
	return commit, err
}

// Ref is the commit branch of repo points at, "" when it has none.
func (g *Server) Ref(repo, branch string) string {
	out, _ := run(filepath.Join(g.Root, filepath.FromSlash(repo)), "for-each-ref", "--format=%(objectname)", "refs/heads/"+branch)
	return out
}

func run(dir string, args ...string) (string, error) { return runEnv(dir, nil, args...) }

func runEnv(dir string, env []string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0"), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %v: %w: %s", args, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}
