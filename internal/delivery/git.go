// Package delivery hands capsules over to where teams keep code. Push
// writes a capsule's files to a git remote with go-git: the whole tree as
// one commit on a branch, authenticated with an HTTPS token or an SSH key,
// atomic (the remote's branch moves to the new commit or stays where it
// was). Credentials are taken per call, never logged, never put in errors.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/memfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/memory"
	"golang.org/x/crypto/ssh"
)

// Auth is how to authenticate to the remote: a token over HTTPS (sent as
// the password of HTTP basic authentication, which GitHub, GitLab, Gitea
// and Azure DevOps accept) or an SSH private key.
type Auth struct {
	// Token is an HTTPS access token.
	Token string
	// Username goes with Token; empty sends "x-access-token".
	Username string
	// SSHKey is a PEM private key for ssh:// and scp-like remotes;
	// SSHKeyPassphrase decrypts it.
	SSHKey           []byte
	SSHKeyPassphrase string
	// SSHKnownHost, when set, is the only host key accepted (an
	// authorized_keys line: "ssh-ed25519 AAAA…"); without it the host key
	// is not checked, which the caller must choose knowingly.
	SSHKnownHost string
}

// PushOptions say where a capsule goes.
type PushOptions struct {
	// Remote is the repository's URL: https://host/owner/repo.git,
	// ssh://git@host/owner/repo.git or git@host:owner/repo.git. It must not
	// carry credentials: they go in Auth.
	Remote string
	// Branch is created if missing, else moved forward by one commit.
	Branch string
	// From, when Branch is missing, is the branch the new one starts from:
	// its head becomes the new commit's parent, so that a pull request
	// from Branch into From shows the capsule as a change of From. Empty
	// (or a From that does not exist either) starts a branch with no
	// history.
	From string
	// Message is the commit's message (from the capsule's manifest).
	Message string
	// AuthorName and AuthorEmail sign the commit.
	AuthorName, AuthorEmail string
	Auth                    Auth
	// When is the commit's time; zero means now.
	When time.Time
}

// PushResult says what was pushed.
type PushResult struct {
	Remote string `json:"remote"`
	Branch string `json:"branch"`
	Commit string `json:"commit"`
	// Parent is the branch's commit before the push, "" for a new branch.
	Parent string `json:"parent,omitempty"`
	Files  int    `json:"files"`
	// Unchanged: the branch already held exactly these files, so nothing
	// was pushed and Commit is its head.
	Unchanged bool `json:"unchanged,omitempty"`
}

// Errors callers may test with errors.Is.
var (
	// ErrAuth: the remote refused the credentials (wrong, expired or
	// revoked token, unknown key).
	ErrAuth = errors.New("the git remote refused the credentials")
	// ErrRejected: the remote refused the update (a protected branch, a
	// hook, or another push moved the branch meanwhile).
	ErrRejected = errors.New("the git remote rejected the push")
)

var branchRe = regexp.MustCompile(`^[A-Za-z0-9._/-]{1,200}$`)

// Check validates the options without contacting the remote.
func (o PushOptions) Check() error {
	if o.Remote == "" {
		return fieldError{"remote_url", "required"}
	}
	if u, err := url.Parse(o.Remote); err == nil && u.User != nil {
		// ssh://git@host/… names the SSH user, as forges write it; a
		// password, or any user in an http(s) URL, is a credential.
		if _, pass := u.User.Password(); pass || u.Scheme != "ssh" {
			return fieldError{"remote_url", "must not hold credentials: pass the token separately"}
		}
	}
	if !strings.HasPrefix(o.Remote, "https://") && !strings.HasPrefix(o.Remote, "http://") && !strings.HasPrefix(o.Remote, "ssh://") &&
		!regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:`).MatchString(o.Remote) {
		return fieldError{"remote_url", "must be an https://, ssh:// or user@host:path git URL"}
	}
	if !branchRe.MatchString(o.Branch) || strings.Contains(o.Branch, "..") || strings.HasPrefix(o.Branch, "/") ||
		strings.HasSuffix(o.Branch, "/") || strings.HasSuffix(o.Branch, ".lock") || strings.HasPrefix(o.Branch, "-") {
		return fieldError{"branch", "must be a valid branch name such as qlp/capsule-1"}
	}
	if o.Auth.Token == "" && len(o.Auth.SSHKey) == 0 {
		return fieldError{"token", "a token (HTTPS) or an SSH key is required"}
	}
	return nil
}

// FieldError names the option that is wrong.
type FieldError interface {
	error
	Field() string
}

type fieldError struct{ field, msg string }

func (e fieldError) Error() string { return e.field + ": " + e.msg }
func (e fieldError) Field() string { return e.field }

func (o PushOptions) auth() (transport.AuthMethod, error) {
	if len(o.Auth.SSHKey) > 0 {
		k, err := gitssh.NewPublicKeys("git", o.Auth.SSHKey, o.Auth.SSHKeyPassphrase)
		if err != nil {
			return nil, fieldError{"ssh_key", "not a usable private key"}
		}
		if o.Auth.SSHKnownHost != "" {
			want, _, _, _, err := ssh.ParseAuthorizedKey([]byte(o.Auth.SSHKnownHost))
			if err != nil {
				return nil, fieldError{"ssh_known_host", "not an authorized_keys line"}
			}
			k.HostKeyCallback = ssh.FixedHostKey(want)
		} else {
			k.HostKeyCallback = ssh.InsecureIgnoreHostKey() //nolint:gosec // the caller chose not to pin the host key
		}
		return k, nil
	}
	user := o.Auth.Username
	if user == "" {
		user = "x-access-token"
	}
	return &githttp.BasicAuth{Username: user, Password: o.Auth.Token}, nil
}

// Push writes files (path → content) to the branch as one commit whose
// tree is exactly those files, and pushes it. Nothing of the capsule is
// changed; a failed push leaves the remote's branch as it was.
func Push(ctx context.Context, files map[string][]byte, o PushOptions) (PushResult, error) {
	if err := o.Check(); err != nil {
		return PushResult{}, err
	}
	auth, err := o.auth()
	if err != nil {
		return PushResult{}, err
	}
	for p := range files {
		if !gitPath(p) {
			return PushResult{}, fmt.Errorf("delivery: the capsule holds a path git must not take: %q", p)
		}
	}
	res := PushResult{Remote: o.Remote, Branch: o.Branch, Files: len(files)}
	ref := plumbing.NewBranchReferenceName(o.Branch)
	repo, err := git.CloneContext(ctx, memory.NewStorage(), memfs.New(), &git.CloneOptions{
		URL: o.Remote, Auth: auth, ReferenceName: ref, SingleBranch: true, Depth: 1, NoCheckout: true, Tags: git.NoTags,
	})
	switch {
	case err == nil:
	case isMissingRef(err) && o.From != "" && o.From != o.Branch:
		// A new branch of an existing repository, started from From.
		from := plumbing.NewBranchReferenceName(o.From)
		repo, err = git.CloneContext(ctx, memory.NewStorage(), memfs.New(), &git.CloneOptions{
			URL: o.Remote, Auth: auth, ReferenceName: from, SingleBranch: true, Depth: 1, NoCheckout: true, Tags: git.NoTags,
		})
		switch {
		case err == nil:
			ref = from
		case errors.Is(err, transport.ErrEmptyRemoteRepository), isMissingRef(err):
			if repo, err = initRepo(o.Remote); err != nil {
				return res, err
			}
		default:
			return res, remoteError("read", o.Remote, err)
		}
	case errors.Is(err, transport.ErrEmptyRemoteRepository), isMissingRef(err):
		// A new repository, or a new branch of an existing one.
		if repo, err = initRepo(o.Remote); err != nil {
			return res, err
		}
	default:
		return res, remoteError("read", o.Remote, err)
	}
	var parent *object.Commit
	if head, err := repo.Reference(ref, true); err == nil {
		if parent, err = repo.CommitObject(head.Hash()); err != nil {
			return res, fmt.Errorf("delivery: read the branch's commit: %w", err)
		}
		if ref.Short() == o.Branch {
			res.Parent = head.Hash().String()
		}
	}
	ref = plumbing.NewBranchReferenceName(o.Branch)
	commit, err := writeCommit(repo, files, o, parent, res.Parent != "")
	if err != nil {
		return res, err
	}
	if commit.String() == res.Parent {
		// The branch already holds exactly these files: pushing the same
		// version again adds no commit (a delivery loop's first push of
		// the version its pull request was opened with).
		res.Commit, res.Unchanged = res.Parent, true
		return res, nil
	}
	if err := repo.Storer.SetReference(plumbing.NewHashReference(ref, commit)); err != nil {
		return res, fmt.Errorf("delivery: %w", err)
	}
	spec := config.RefSpec(ref.String() + ":" + ref.String())
	err = repo.PushContext(ctx, &git.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{spec}, Auth: auth, Atomic: false})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return res, remoteError("push to", o.Remote, err)
	}
	res.Commit = commit.String()
	return res, nil
}

// CheckAccess lists the remote's references with the credentials (git
// ls-remote): it fails with ErrAuth when the remote refuses them (a
// revoked or expired token), and changes nothing.
func CheckAccess(ctx context.Context, remote string, a Auth) error {
	o := PushOptions{Remote: remote, Branch: "main", Auth: a}
	if err := o.Check(); err != nil {
		return err
	}
	auth, err := o.auth()
	if err != nil {
		return err
	}
	r := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{remote}})
	if _, err := r.ListContext(ctx, &git.ListOptions{Auth: auth}); err != nil && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return remoteError("read", remote, err)
	}
	return nil
}

func initRepo(remote string) (*git.Repository, error) {
	repo, err := git.Init(memory.NewStorage(), memfs.New())
	if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{remote}}); err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	return repo, nil
}

func isMissingRef(err error) bool {
	var nm git.NoMatchingRefSpecError
	return errors.As(err, &nm) || errors.Is(err, plumbing.ErrReferenceNotFound) || strings.Contains(err.Error(), "couldn't find remote ref")
}

// remoteError names what failed without the credentials (go-git's errors
// hold none, and the URL holds none: Check refuses one that does).
func remoteError(what, remote string, err error) error {
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return fmt.Errorf("delivery: %s %s: %w (check that the token is valid and may write to the repository)", what, remote, ErrAuth)
	case strings.Contains(err.Error(), "ssh: unable to authenticate"):
		return fmt.Errorf("delivery: %s %s: %w (check that the SSH key is one the server accepts for the repository)", what, remote, ErrAuth)
	case strings.Contains(err.Error(), "ssh: host key mismatch"):
		return fmt.Errorf("delivery: %s %s: the server's host key is not the pinned one (ssh_known_host): not pushed", what, remote)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("delivery: %s %s: the repository does not exist or the token cannot see it", what, remote)
	case strings.Contains(err.Error(), "rejected"), strings.Contains(err.Error(), "non-fast-forward"):
		return fmt.Errorf("delivery: %s %s: %w: %v", what, remote, ErrRejected, err)
	}
	return fmt.Errorf("delivery: %s %s: %w", what, remote, err)
}

// gitPath accepts clean relative paths outside any .git directory.
func gitPath(p string) bool {
	if p == "" || path.Clean(p) != p || strings.HasPrefix(p, "/") || p == ".." || strings.HasPrefix(p, "../") {
		return false
	}
	for _, part := range strings.Split(p, "/") {
		if strings.EqualFold(part, ".git") {
			return false
		}
	}
	return true
}

// writeCommit stores the files as blobs and trees and a commit of them;
// with reuse, a parent whose tree is those files is returned instead.
func writeCommit(repo *git.Repository, files map[string][]byte, o PushOptions, parent *object.Commit, reuse bool) (plumbing.Hash, error) {
	st := repo.Storer
	root := &dir{dirs: map[string]*dir{}, files: map[string]plumbing.Hash{}}
	for p, content := range files {
		obj := st.NewEncodedObject()
		obj.SetType(plumbing.BlobObject)
		w, err := obj.Writer()
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if _, err := w.Write(content); err != nil {
			return plumbing.ZeroHash, err
		}
		if err := w.Close(); err != nil {
			return plumbing.ZeroHash, err
		}
		h, err := st.SetEncodedObject(obj)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		root.add(strings.Split(p, "/"), h)
	}
	tree, err := root.write(st)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if reuse && parent != nil && parent.TreeHash == tree {
		return parent.Hash, nil
	}
	when := o.When
	if when.IsZero() {
		when = time.Now()
	}
	sig := object.Signature{Name: o.AuthorName, Email: o.AuthorEmail, When: when}
	if sig.Name == "" {
		sig.Name = "QLP"
	}
	if sig.Email == "" {
		sig.Email = "qlp@localhost"
	}
	c := &object.Commit{Author: sig, Committer: sig, Message: o.Message, TreeHash: tree}
	if c.Message == "" {
		c.Message = "QLP capsule"
	}
	if parent != nil {
		c.ParentHashes = []plumbing.Hash{parent.Hash}
	}
	obj := st.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return st.SetEncodedObject(obj)
}

// dir is a directory being written as a git tree.
type dir struct {
	dirs  map[string]*dir
	files map[string]plumbing.Hash
}

func (d *dir) add(parts []string, h plumbing.Hash) {
	if len(parts) == 1 {
		d.files[parts[0]] = h
		return
	}
	sub := d.dirs[parts[0]]
	if sub == nil {
		sub = &dir{dirs: map[string]*dir{}, files: map[string]plumbing.Hash{}}
		d.dirs[parts[0]] = sub
	}
	sub.add(parts[1:], h)
}

type storer interface {
	NewEncodedObject() plumbing.EncodedObject
	SetEncodedObject(plumbing.EncodedObject) (plumbing.Hash, error)
}

func (d *dir) write(st storer) (plumbing.Hash, error) {
	var entries []object.TreeEntry
	for name, h := range d.files {
		entries = append(entries, object.TreeEntry{Name: name, Mode: 0o100644, Hash: h})
	}
	for name, sub := range d.dirs {
		h, err := sub.write(st)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries = append(entries, object.TreeEntry{Name: name, Mode: 0o040000, Hash: h})
	}
	// Git orders tree entries by name, a directory as if its name ended
	// in "/".
	key := func(e object.TreeEntry) string {
		if e.Mode == 0o040000 {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(entries, func(i, j int) bool { return key(entries[i]) < key(entries[j]) })
	t := &object.Tree{Entries: entries}
	obj := st.NewEncodedObject()
	if err := t.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return st.SetEncodedObject(obj)
}
