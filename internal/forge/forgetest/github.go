package forgetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quantumlayer/qlp/internal/delivery/gittest"
)

const ghDocs = "https://docs.github.com/rest"

// GitHub is a fake GitHub REST API (api.github.com's paths at the server's
// root, as GitHub Enterprise's /api/v3/ would be with WithURLs).
type GitHub struct {
	*httptest.Server
	// Git holds the repositories' git: clone URLs point at it.
	Git *gittest.Server
	// User is the token's login.
	User string
	// MaxPerPage caps per_page (GitHub: 100); tests lower it to see
	// several pages.
	MaxPerPage int
	limiter

	mu        sync.Mutex
	token     string
	orgs      map[string]bool
	repos     map[string]*ghRepo
	pulls     map[string][]*GHPull
	statuses  map[string][]ghStatus
	checkRuns map[string][]*ghCheckRun
	logs      map[int64]string
	nextID    int64
}

type ghRepo struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	FullName      string `json:"full_name"`
	Private       bool   `json:"private"`
	HTMLURL       string `json:"html_url"`
	CloneURL      string `json:"clone_url"`
	SSHURL        string `json:"ssh_url"`
	DefaultBranch string `json:"default_branch"`
	Owner         struct {
		Login string `json:"login"`
		Type  string `json:"type"`
	} `json:"owner"`
}

// GHPull is a pull request the fake holds.
type GHPull struct {
	Number int
	Title  string
	Body   string
	Head   string
	Base   string
	State  string
}

type ghStatus struct {
	ID          int64  `json:"id"`
	State       string `json:"state"`
	Context     string `json:"context"`
	Description string `json:"description"`
	TargetURL   string `json:"target_url"`
}

type ghCheckRun struct {
	ID         int64   `json:"id"`
	Name       string  `json:"name"`
	HeadSHA    string  `json:"head_sha"`
	Status     string  `json:"status"`
	Conclusion *string `json:"conclusion"`
	HTMLURL    string  `json:"html_url"`
	Output     struct {
		Title   string `json:"title"`
		Summary string `json:"summary"`
	} `json:"output"`
}

// NewGitHub starts a fake GitHub whose API and git server accept token,
// for user; orgs are organizations the user may create repositories in.
func NewGitHub(t testing.TB, token, user string, orgs ...string) *GitHub {
	t.Helper()
	g := &GitHub{Git: gittest.Start(t, token), User: user, MaxPerPage: 100, token: token, orgs: map[string]bool{},
		repos: map[string]*ghRepo{}, pulls: map[string][]*GHPull{}, statuses: map[string][]ghStatus{}, checkRuns: map[string][]*ghCheckRun{}, logs: map[int64]string{}}
	for _, o := range orgs {
		g.orgs[o] = true
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /user", g.api(g.getUser))
	mux.HandleFunc("GET /repos/{owner}/{repo}", g.api(g.getRepo))
	mux.HandleFunc("POST /user/repos", g.api(g.createRepo))
	mux.HandleFunc("POST /orgs/{org}/repos", g.api(g.createRepo))
	mux.HandleFunc("GET /repos/{owner}/{repo}/pulls", g.api(g.listPulls))
	mux.HandleFunc("POST /repos/{owner}/{repo}/pulls", g.api(g.createPull))
	mux.HandleFunc("GET /repos/{owner}/{repo}/commits/{ref}/status", g.api(g.combinedStatus))
	mux.HandleFunc("GET /repos/{owner}/{repo}/commits/{ref}/check-runs", g.api(g.listCheckRuns))
	mux.HandleFunc("GET /repos/{owner}/{repo}/actions/jobs/{id}/logs", g.api(g.jobLogs))
	// Where job logs are redirected to: a download signed for a short
	// time, which needs no token (like GitHub's blob storage).
	mux.HandleFunc("GET /_blobs/logs/{id}", g.blobLog)
	g.Server = httptest.NewServer(mux)
	t.Cleanup(g.Close)
	return g
}

// SetToken replaces the token of the API and the git server: the old one
// is revoked.
func (g *GitHub) SetToken(token string) {
	g.mu.Lock()
	g.token = token
	g.mu.Unlock()
	g.Git.SetToken(token)
}

// AddRepo makes a repository as if created on GitHub (with a README on
// main when initialize).
func (g *GitHub) AddRepo(t testing.TB, fullName string, private, initialize bool) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, err := g.newRepo(fullName, private, initialize); err != nil {
		t.Fatal(err)
	}
}

// SetStatus sets a commit status (state: pending, success, failure or
// error) of context on sha.
func (g *GitHub) SetStatus(repo, sha, context, state, description string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := repo + "@" + sha
	for i, s := range g.statuses[k] {
		if s.Context == context {
			g.statuses[k][i].State, g.statuses[k][i].Description = state, description
			return
		}
	}
	g.nextID++
	g.statuses[k] = append(g.statuses[k], ghStatus{ID: g.nextID, State: state, Context: context, Description: description,
		TargetURL: g.URL + "/" + repo + "/status/" + strconv.FormatInt(g.nextID, 10)})
}

// SetCheckRun sets the check run name of sha: conclusion "" is in
// progress, else completed with that conclusion (success, failure,
// timed_out, cancelled…); log is the Actions job log its logs endpoint
// serves.
func (g *GitHub) SetCheckRun(repo, sha, name, conclusion, log string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := repo + "@" + sha
	var cr *ghCheckRun
	for _, c := range g.checkRuns[k] {
		if c.Name == name {
			cr = c
		}
	}
	if cr == nil {
		g.nextID++
		cr = &ghCheckRun{ID: g.nextID, Name: name, HeadSHA: sha, HTMLURL: fmt.Sprintf("%s/%s/actions/runs/1/job/%d", g.URL, repo, g.nextID)}
		g.checkRuns[k] = append(g.checkRuns[k], cr)
	}
	cr.Status, cr.Conclusion = "in_progress", nil
	if conclusion != "" {
		cr.Status, cr.Conclusion = "completed", &conclusion
	}
	cr.Output.Title = name + ": " + cr.Status
	g.logs[cr.ID] = log
}

// PullRequests are the repository's pull requests.
func (g *GitHub) PullRequests(repo string) []GHPull {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []GHPull
	for _, p := range g.pulls[repo] {
		out = append(out, *p)
	}
	return out
}

// Repo says whether the repository exists, and whether it is private.
func (g *GitHub) Repo(fullName string) (exists, private bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.repos[strings.ToLower(fullName)]
	return r != nil, r != nil && r.Private
}

// ghError writes GitHub's error body.
func ghError(w http.ResponseWriter, status int, message string, errs ...map[string]string) {
	body := map[string]any{"message": message, "documentation_url": ghDocs}
	if len(errs) > 0 {
		body["errors"] = errs
	}
	writeJSON(w, status, body)
}

// api authenticates, counts and rate-limits a request as GitHub does.
func (g *GitHub) api(h func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		g.count(r.Method + " " + r.URL.Path)
		limited, reset, retryAfter := g.take()
		w.Header().Set("X-RateLimit-Limit", "5000")
		w.Header().Set("X-RateLimit-Resource", "core")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		w.Header().Set("X-GitHub-Api-Version", "2022-11-28")
		if limited {
			if retryAfter {
				w.Header().Set("Retry-After", strconv.Itoa(max(int(time.Until(reset).Seconds()+0.999), 0)))
				w.Header().Set("X-RateLimit-Remaining", "4000")
				ghError(w, http.StatusForbidden, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.")
				return
			}
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Used", "5000")
			ghError(w, http.StatusForbidden, "API rate limit exceeded for user ID 1.")
			return
		}
		w.Header().Set("X-RateLimit-Remaining", "4999")
		auth := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			tok, _ = strings.CutPrefix(auth, "token ")
		}
		g.mu.Lock()
		valid := tok != "" && tok == g.token
		g.mu.Unlock()
		if !valid {
			ghError(w, http.StatusUnauthorized, "Bad credentials")
			return
		}
		w.Header().Set("X-OAuth-Scopes", "repo, workflow")
		g.mu.Lock()
		defer g.mu.Unlock()
		h(w, r)
	}
}

func (g *GitHub) getUser(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"login": g.User, "id": 1, "type": "User", "name": "Test " + g.User, "email": g.User + "@example.com",
		"public_repos": len(g.repos), "total_private_repos": 0})
}

func (g *GitHub) repo(w http.ResponseWriter, r *http.Request) *ghRepo {
	rp := g.repos[strings.ToLower(r.PathValue("owner")+"/"+r.PathValue("repo"))]
	if rp == nil {
		ghError(w, http.StatusNotFound, "Not Found")
	}
	return rp
}

func (g *GitHub) getRepo(w http.ResponseWriter, r *http.Request) {
	if rp := g.repo(w, r); rp != nil {
		writeJSON(w, http.StatusOK, rp)
	}
}

func (g *GitHub) newRepo(fullName string, private, initialize bool) (*ghRepo, error) {
	owner, name, _ := strings.Cut(fullName, "/")
	g.nextID++
	rp := &ghRepo{ID: g.nextID, Name: name, FullName: fullName, Private: private, HTMLURL: g.URL + "/" + fullName,
		CloneURL: g.Git.URL + "/" + fullName + ".git", SSHURL: "git@github.test:" + fullName + ".git", DefaultBranch: "main"}
	rp.Owner.Login, rp.Owner.Type = owner, "User"
	if g.orgs[owner] {
		rp.Owner.Type = "Organization"
	}
	if err := g.Git.Create(fullName + ".git"); err != nil {
		return nil, err
	}
	if initialize {
		if _, err := g.Git.Seed(fullName+".git", "main", "Initial commit", map[string]string{"README.md": "# " + name + "\n"}); err != nil {
			return nil, err
		}
	}
	g.repos[strings.ToLower(fullName)] = rp
	return rp, nil
}

func (g *GitHub) createRepo(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name     string `json:"name"`
		Private  bool   `json:"private"`
		AutoInit bool   `json:"auto_init"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		ghError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	owner := g.User
	if org := r.PathValue("org"); org != "" {
		if !g.orgs[org] {
			ghError(w, http.StatusNotFound, "Not Found")
			return
		}
		owner = org
	}
	if body.Name == "" || strings.ContainsAny(body.Name, "/ ") {
		ghError(w, http.StatusUnprocessableEntity, "Repository creation failed.", map[string]string{"resource": "Repository", "code": "custom", "field": "name", "message": "name is invalid"})
		return
	}
	if g.repos[strings.ToLower(owner+"/"+body.Name)] != nil {
		ghError(w, http.StatusUnprocessableEntity, "Repository creation failed.", map[string]string{"resource": "Repository", "code": "custom", "field": "name", "message": "name already exists on this account"})
		return
	}
	rp, err := g.newRepo(owner+"/"+body.Name, body.Private, body.AutoInit)
	if err != nil {
		ghError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, rp)
}

func (g *GitHub) pullJSON(rp *ghRepo, p *GHPull) map[string]any {
	return map[string]any{"number": p.Number, "state": p.State, "title": p.Title, "body": p.Body,
		"html_url": fmt.Sprintf("%s/%s/pull/%d", g.URL, rp.FullName, p.Number),
		"head":     map[string]any{"ref": p.Head, "sha": g.Git.Ref(rp.FullName+".git", p.Head), "label": rp.Owner.Login + ":" + p.Head},
		"base":     map[string]any{"ref": p.Base, "label": rp.Owner.Login + ":" + p.Base}}
}

func (g *GitHub) listPulls(w http.ResponseWriter, r *http.Request) {
	rp := g.repo(w, r)
	if rp == nil {
		return
	}
	q := r.URL.Query()
	out := []map[string]any{}
	for _, p := range g.pulls[rp.FullName] {
		_, head, _ := strings.Cut(q.Get("head"), ":")
		if (q.Get("state") == "" || q.Get("state") == "all" || q.Get("state") == p.State) && (head == "" || head == p.Head) && (q.Get("base") == "" || q.Get("base") == p.Base) {
			out = append(out, g.pullJSON(rp, p))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (g *GitHub) createPull(w http.ResponseWriter, r *http.Request) {
	rp := g.repo(w, r)
	if rp == nil {
		return
	}
	var body struct{ Title, Head, Base, Body string }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		ghError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	invalid := func(field, msg string) {
		ghError(w, http.StatusUnprocessableEntity, "Validation Failed", map[string]string{"resource": "PullRequest", "code": "custom", "field": field, "message": msg})
	}
	git := rp.FullName + ".git"
	head, base := g.Git.Ref(git, body.Head), g.Git.Ref(git, body.Base)
	switch {
	case body.Title == "":
		invalid("title", "title is missing")
		return
	case head == "":
		invalid("head", "head is invalid")
		return
	case base == "":
		invalid("base", "base is invalid")
		return
	case head == base:
		invalid("", "No commits between "+body.Base+" and "+body.Head)
		return
	}
	for _, p := range g.pulls[rp.FullName] {
		if p.Head == body.Head && p.Base == body.Base && p.State == "open" {
			invalid("", "A pull request already exists for "+rp.Owner.Login+":"+body.Head+".")
			return
		}
	}
	p := &GHPull{Number: len(g.pulls[rp.FullName]) + 1, Title: body.Title, Body: body.Body, Head: body.Head, Base: body.Base, State: "open"}
	g.pulls[rp.FullName] = append(g.pulls[rp.FullName], p)
	writeJSON(w, http.StatusCreated, g.pullJSON(rp, p))
}

func (g *GitHub) combinedStatus(w http.ResponseWriter, r *http.Request) {
	rp := g.repo(w, r)
	if rp == nil {
		return
	}
	sha := r.PathValue("ref")
	all := g.statuses[rp.FullName+"@"+sha]
	state := "success"
	for _, s := range all {
		switch s.State {
		case "failure", "error":
			state = "failure"
		case "pending":
			if state != "failure" {
				state = "pending"
			}
		}
	}
	if len(all) == 0 {
		state = "pending"
	}
	items, p, per, pages := page(r.URL.Query(), all, g.MaxPerPage)
	if l := linkHeader(g.URL, r, p, per, pages); l != "" {
		w.Header().Set("Link", l)
	}
	writeJSON(w, http.StatusOK, map[string]any{"state": state, "sha": sha, "total_count": len(all), "statuses": items,
		"repository": map[string]any{"full_name": rp.FullName}})
}

func (g *GitHub) listCheckRuns(w http.ResponseWriter, r *http.Request) {
	rp := g.repo(w, r)
	if rp == nil {
		return
	}
	all := g.checkRuns[rp.FullName+"@"+r.PathValue("ref")]
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	items, p, per, pages := page(r.URL.Query(), all, g.MaxPerPage)
	if l := linkHeader(g.URL, r, p, per, pages); l != "" {
		w.Header().Set("Link", l)
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(all), "check_runs": items})
}

func (g *GitHub) jobLogs(w http.ResponseWriter, r *http.Request) {
	if g.repo(w, r) == nil {
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if _, ok := g.logs[id]; !ok {
		ghError(w, http.StatusNotFound, "Not Found")
		return
	}
	// GitHub answers 302 with a short-lived download URL.
	w.Header().Set("Location", fmt.Sprintf("%s/_blobs/logs/%d?sig=signed-%d", g.URL, id, id))
	w.WriteHeader(http.StatusFound)
}

func (g *GitHub) blobLog(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if r.Header.Get("Authorization") != "" {
		// The storage refuses a token it does not know.
		http.Error(w, "AuthenticationFailed", http.StatusForbidden)
		return
	}
	g.mu.Lock()
	log, ok := g.logs[id]
	g.mu.Unlock()
	if !ok || r.URL.Query().Get("sig") != fmt.Sprintf("signed-%d", id) {
		http.Error(w, "BlobNotFound", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(log))
}
