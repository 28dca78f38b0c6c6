package delivery_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/quantumlayer/qlp/internal/delivery"
	"github.com/quantumlayer/qlp/internal/delivery/gittest"
)

var capsuleV1 = map[string][]byte{
	"go.mod":                  []byte("module shorty\n\ngo 1.22\n"),
	"shortener/store.go":      []byte("package shortener\n\n// Store keeps links.\ntype Store struct{}\n"),
	"shortener/store_test.go": []byte("package shortener\n"),
	"cmd/shorty/main.go":      []byte("package main\n\nfunc main() {}\n"),
	"qlp-manifest.json":       []byte(`{"name":"shorty"}`),
}

// TestPushToAGitServer: a capsule goes to a new repository as one commit
// whose tree is exactly its files (cloned back with git and compared file
// by file), then a new version to the same branch as a child commit, with
// a file removed; a push with a revoked token fails with ErrAuth and
// leaves the branch where it was and the capsule unchanged.
func TestPushToAGitServer(t *testing.T) {
	g := gittest.Start(t, "tok-valid", "shorty.git")
	remote := g.URL + "/shorty.git"
	opts := delivery.PushOptions{Remote: remote, Branch: "qlp/shorty", Message: "shorty v1: a URL shortener\n\nQLP capsule cap-1 version 1",
		AuthorName: "QLP", AuthorEmail: "qlp@example.com", Auth: delivery.Auth{Token: "tok-valid"}, When: time.Unix(1_800_000_000, 0)}
	res, err := delivery.Push(t.Context(), capsuleV1, opts)
	require.NoError(t, err)
	require.Empty(t, res.Parent, "a new branch")
	require.Equal(t, res.Commit, g.Head(t, "shorty.git", "qlp/shorty"))
	require.Equal(t, capsuleV1, g.CloneBack(t, "shorty.git", "qlp/shorty"))
	msg := gittest.Git(t, filepath.Join(g.Root, "shorty.git"), "log", "-1", "--format=%an <%ae>%n%B", "qlp/shorty")
	require.Contains(t, msg, "QLP <qlp@example.com>")
	require.Contains(t, msg, "QLP capsule cap-1 version 1")

	v2 := map[string][]byte{}
	for k, v := range capsuleV1 {
		v2[k] = v
	}
	delete(v2, "shortener/store_test.go")
	v2["shortener/store.go"] = []byte("package shortener\n\n// Store keeps links, safely.\ntype Store struct{}\n")
	opts.Message = "shorty v2"
	res2, err := delivery.Push(t.Context(), v2, opts)
	require.NoError(t, err)
	require.Equal(t, res.Commit, res2.Parent, "the second version is a child of the first")
	require.Equal(t, v2, g.CloneBack(t, "shorty.git", "qlp/shorty"), "the tree is exactly the capsule: the removed file is gone")
	parents := gittest.Git(t, filepath.Join(g.Root, "shorty.git"), "log", "--format=%H", "qlp/shorty")
	require.Equal(t, []string{res2.Commit, res.Commit}, strings.Fields(parents))

	// The same files again: no new commit, the head answered.
	opts.Message = "shorty v2, again"
	same, err := delivery.Push(t.Context(), v2, opts)
	require.NoError(t, err)
	require.True(t, same.Unchanged)
	require.Equal(t, res2.Commit, same.Commit)
	require.Equal(t, res2.Commit, g.Head(t, "shorty.git", "qlp/shorty"))

	// A revoked token: the push fails clearly, nothing moves.
	g.SetToken("tok-rotated")
	before := g.Head(t, "shorty.git", "qlp/shorty")
	v3 := map[string][]byte{"README.md": []byte("v3")}
	snapshot := bytes.Clone(v3["README.md"])
	_, err = delivery.Push(t.Context(), v3, opts)
	require.ErrorIs(t, err, delivery.ErrAuth)
	require.NotContains(t, err.Error(), "tok-valid", "the token is never in an error")
	require.Equal(t, before, g.Head(t, "shorty.git", "qlp/shorty"), "the remote is unchanged")
	require.Equal(t, snapshot, v3["README.md"], "the capsule is unchanged")
}

// TestPushToABranchOfAnExistingRepository: a repository with history gets
// the capsule on a new branch; its main branch is untouched.
func TestPushToABranchOfAnExistingRepository(t *testing.T) {
	g := gittest.Start(t, "tok-valid", "app.git")
	work := t.TempDir()
	gittest.Git(t, work, "clone", "--quiet", g.AuthURL("app.git"), "app")
	app := filepath.Join(work, "app")
	require.NoError(t, os.WriteFile(filepath.Join(app, "README.md"), []byte("existing\n"), 0o600))
	gittest.Git(t, app, "add", ".")
	gittest.Git(t, app, "-c", "user.name=dev", "-c", "user.email=dev@example.com", "commit", "--quiet", "-m", "first")
	gittest.Git(t, app, "push", "--quiet", "origin", "HEAD:main")
	mainBefore := g.Head(t, "app.git", "main")

	res, err := delivery.Push(t.Context(), capsuleV1, delivery.PushOptions{Remote: g.URL + "/app.git", Branch: "qlp/feature",
		Message: "capsule", Auth: delivery.Auth{Token: "tok-valid"}})
	require.NoError(t, err)
	require.Equal(t, capsuleV1, g.CloneBack(t, "app.git", "qlp/feature"))
	require.Equal(t, mainBefore, g.Head(t, "app.git", "main"))
	require.NotEmpty(t, res.Commit)
}

func TestPushOptionsAreChecked(t *testing.T) {
	ok := delivery.PushOptions{Remote: "https://git.example/o/r.git", Branch: "qlp/x", Auth: delivery.Auth{Token: "t"}}
	tests := []struct {
		name  string
		edit  func(*delivery.PushOptions)
		field string
	}{
		{"no remote", func(o *delivery.PushOptions) { o.Remote = "" }, "remote_url"},
		{"credentials in the URL", func(o *delivery.PushOptions) { o.Remote = "https://u:secret@git.example/o/r.git" }, "remote_url"},
		{"a user in an https URL", func(o *delivery.PushOptions) { o.Remote = "https://secret@git.example/o/r.git" }, "remote_url"},
		{"a password in an ssh URL", func(o *delivery.PushOptions) { o.Remote = "ssh://git:secret@git.example/o/r.git" }, "remote_url"},
		{"a local path", func(o *delivery.PushOptions) { o.Remote = "/srv/git/r.git" }, "remote_url"},
		{"file URL", func(o *delivery.PushOptions) { o.Remote = "file:///srv/git/r.git" }, "remote_url"},
		{"branch with ..", func(o *delivery.PushOptions) { o.Branch = "a..b" }, "branch"},
		{"branch with a space", func(o *delivery.PushOptions) { o.Branch = "a b" }, "branch"},
		{"branch starting with -", func(o *delivery.PushOptions) { o.Branch = "-f" }, "branch"},
		{"no credential", func(o *delivery.PushOptions) { o.Auth = delivery.Auth{} }, "token"},
	}
	require.NoError(t, ok.Check())
	sshOK := ok
	sshOK.Remote = "ssh://git@git.example/o/r.git" // the SSH user, as forges write it
	require.NoError(t, sshOK.Check())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.edit(&o)
			err := o.Check()
			var fe delivery.FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, tt.field, fe.Field())
			require.NotContains(t, err.Error(), "secret")
		})
	}
	for _, p := range []string{"../escape", "/etc/passwd", "a/.git/config", ".GIT/hooks/x", "a//b"} {
		_, err := delivery.Push(t.Context(), map[string][]byte{p: []byte("x")}, delivery.PushOptions{Remote: "http://127.0.0.1:1/r.git", Branch: "b", Auth: delivery.Auth{Token: "t"}})
		require.ErrorContains(t, err, "path git must not take", p)
	}
}

// TestPushStartsANewBranchFrom: with From, a new branch's commit is a
// child of From's head (so a pull request into From has history in
// common), while its tree is still exactly the capsule.
func TestPushStartsANewBranchFrom(t *testing.T) {
	g := gittest.Start(t, "tok-valid", "app.git")
	base, err := g.Seed("app.git", "main", "Initial commit", map[string]string{"README.md": "# app\n"})
	require.NoError(t, err)
	res, err := delivery.Push(t.Context(), capsuleV1, delivery.PushOptions{Remote: g.URL + "/app.git", Branch: "qlp/app", From: "main",
		Message: "capsule", Auth: delivery.Auth{Token: "tok-valid"}})
	require.NoError(t, err)
	require.Empty(t, res.Parent, "the branch is new")
	parents := gittest.Git(t, filepath.Join(g.Root, "app.git"), "log", "--format=%H", "qlp/app")
	require.Equal(t, []string{res.Commit, base}, strings.Fields(parents))
	require.Equal(t, capsuleV1, g.CloneBack(t, "app.git", "qlp/app"))
	require.Equal(t, base, g.Ref("app.git", "main"), "main is untouched")

	// From a branch that does not exist either: a branch with no history.
	res, err = delivery.Push(t.Context(), capsuleV1, delivery.PushOptions{Remote: g.URL + "/app.git", Branch: "qlp/other", From: "nope",
		Message: "capsule", Auth: delivery.Auth{Token: "tok-valid"}})
	require.NoError(t, err)
	require.Equal(t, res.Commit, gittest.Git(t, filepath.Join(g.Root, "app.git"), "log", "--format=%H", "qlp/other"))
}

// sshKey is a new ed25519 key: its PEM (what delivery.Auth.SSHKey takes)
// and its public half.
func sshKey(t *testing.T) ([]byte, ssh.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	sp, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	return pem.EncodeToMemory(block), sp
}

// TestPushOverSSH: the same push over SSH to an in-process SSH server
// running Debian's git upload-pack and receive-pack, the host key pinned;
// the tree cloned back (over HTTP) is the capsule's. A wrong pinned host
// key and a revoked client key are both refused, the remote unchanged.
func TestPushOverSSH(t *testing.T) {
	g := gittest.Start(t, "tok-valid", "shorty.git")
	keyPEM, pub := sshKey(t)
	srv := g.StartSSH(t, pub)
	opts := delivery.PushOptions{Remote: srv.URL("shorty.git"), Branch: "qlp/shorty", Message: "shorty over ssh",
		Auth: delivery.Auth{SSHKey: keyPEM, SSHKnownHost: srv.HostKey}}
	res, err := delivery.Push(t.Context(), capsuleV1, opts)
	require.NoError(t, err)
	require.Equal(t, res.Commit, g.Head(t, "shorty.git", "qlp/shorty"))
	require.Equal(t, capsuleV1, g.CloneBack(t, "shorty.git", "qlp/shorty"))

	v2 := map[string][]byte{"README.md": []byte("v2\n")}
	_, otherHost := sshKey(t)
	tests := []struct {
		name   string
		change func(o *delivery.PushOptions)
		isAuth bool
		says   string
	}{
		{"another host key pinned", func(o *delivery.PushOptions) {
			o.Auth.SSHKnownHost = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(otherHost)))
		}, false, "host key is not the pinned one"},
		{"a revoked client key", func(*delivery.PushOptions) {
			_, other := sshKey(t)
			srv.SetKey(other)
		}, true, "SSH key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := opts
			tc.change(&o)
			_, err := delivery.Push(t.Context(), v2, o)
			require.Error(t, err)
			require.Equal(t, tc.isAuth, errors.Is(err, delivery.ErrAuth), err.Error())
			require.Contains(t, err.Error(), tc.says)
			require.NotContains(t, err.Error(), "PRIVATE KEY")
			require.Equal(t, res.Commit, g.Head(t, "shorty.git", "qlp/shorty"), "the remote is unchanged")
		})
	}
}
