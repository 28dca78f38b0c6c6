package forgetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quantumlayer/qlp/internal/delivery/gittest"
)

// GitLab is a fake GitLab REST API under /api/v4/.
type GitLab struct {
	*httptest.Server
	Git        *gittest.Server
	User       string
	MaxPerPage int
	limiter

	mu       sync.Mutex
	token    string
	groups   map[string]int64
	projects map[string]*glProject
	mrs      map[string][]*GLMergeRequest
	// pipelines per project@sha (one per commit), jobs per pipeline.
	pipelines map[string]*glPipeline
	jobs      map[int64][]*glJob
	traces    map[int64]string
	nextID    int64
}

// APIURL is the base URL clients are given.
func (g *GitLab) APIURL() string { return g.URL + "/api/v4/" }

type glProject struct {
	ID                int64  `json:"id"`
	Name              string `json:"name"`
	Path              string `json:"path"`
	PathWithNamespace string `json:"path_with_namespace"`
	Visibility        string `json:"visibility"`
	WebURL            string `json:"web_url"`
	HTTPURLToRepo     string `json:"http_url_to_repo"`
	SSHURLToRepo      string `json:"ssh_url_to_repo"`
	DefaultBranch     string `json:"default_branch"`
	Namespace         struct {
		FullPath string `json:"full_path"`
		Kind     string `json:"kind"`
	} `json:"namespace"`
}

// GLMergeRequest is a merge request the fake holds.
type GLMergeRequest struct {
	IID          int
	Title        string
	Description  string
	SourceBranch string
	TargetBranch string
	State        string
}

type glPipeline struct {
	ID     int64  `json:"id"`
	IID    int64  `json:"iid"`
	SHA    string `json:"sha"`
	Ref    string `json:"ref"`
	Status string `json:"status"`
	WebURL string `json:"web_url"`
}

type glJob struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	Stage        string `json:"stage"`
	Status       string `json:"status"`
	AllowFailure bool   `json:"allow_failure"`
	WebURL       string `json:"web_url"`
}

// NewGitLab starts a fake GitLab whose API and git server accept token,
// for user; groups are the groups the user may create projects in.
func NewGitLab(t testing.TB, token, user string, groups ...string) *GitLab {
	t.Helper()
	g := &GitLab{Git: gittest.Start(t, token), User: user, MaxPerPage: 100, token: token, groups: map[string]int64{},
		projects: map[string]*glProject{}, mrs: map[string][]*GLMergeRequest{}, pipelines: map[string]*glPipeline{}, jobs: map[int64][]*glJob{}, traces: map[int64]string{}}
	for i, gr := range groups {
		g.groups[gr] = int64(100 + i)
	}
	g.Server = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.Close)
	return g
}

// SetToken replaces the token of the API and the git server.
func (g *GitLab) SetToken(token string) {
	g.mu.Lock()
	g.token = token
	g.mu.Unlock()
	g.Git.SetToken(token)
}

// SetJob sets the job name of the pipeline of sha (one pipeline per
// commit, made on first use): status is GitLab's (created, pending,
// running, success, failed, canceled, skipped, manual); log is its trace.
func (g *GitLab) SetJob(project, sha, name, status, log string, allowFailure bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := project + "@" + sha
	p := g.pipelines[k]
	if p == nil {
		g.nextID++
		p = &glPipeline{ID: g.nextID, IID: g.nextID, SHA: sha, Status: "running", WebURL: fmt.Sprintf("%s/%s/-/pipelines/%d", g.URL, project, g.nextID)}
		g.pipelines[k] = p
	}
	var j *glJob
	for _, x := range g.jobs[p.ID] {
		if x.Name == name {
			j = x
		}
	}
	if j == nil {
		g.nextID++
		j = &glJob{ID: g.nextID, Name: name, Stage: "test", WebURL: fmt.Sprintf("%s/%s/-/jobs/%d", g.URL, project, g.nextID)}
		g.jobs[p.ID] = append(g.jobs[p.ID], j)
	}
	j.Status, j.AllowFailure = status, allowFailure
	g.traces[j.ID] = log
}

// MergeRequests are the project's merge requests.
func (g *GitLab) MergeRequests(project string) []GLMergeRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []GLMergeRequest
	for _, m := range g.mrs[project] {
		out = append(out, *m)
	}
	return out
}

// Project says whether the project exists, and its visibility.
func (g *GitLab) Project(path string) (exists bool, visibility string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.projects[path]
	if p == nil {
		return false, ""
	}
	return true, p.Visibility
}

func glMessage(w http.ResponseWriter, status int, msg any) {
	writeJSON(w, status, map[string]any{"message": msg})
}

func (g *GitLab) serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/api/v4/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	g.count(r.Method + " " + r.URL.Path)
	limited, reset, retryAfter := g.take()
	w.Header().Set("RateLimit-Limit", "2000")
	w.Header().Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	if limited {
		w.Header().Set("RateLimit-Remaining", "0")
		w.Header().Set("RateLimit-ResetTime", reset.UTC().Format(http.TimeFormat))
		if retryAfter {
			w.Header().Set("Retry-After", strconv.Itoa(max(int(time.Until(reset).Seconds()+0.999), 0)))
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte("Retry later\n"))
		return
	}
	w.Header().Set("RateLimit-Remaining", "1999")
	tok := r.Header.Get("PRIVATE-TOKEN")
	if tok == "" {
		tok, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if tok == "" || tok != g.token {
		glMessage(w, http.StatusUnauthorized, "401 Unauthorized")
		return
	}
	parts := strings.Split(rest, "/")
	for i, p := range parts {
		parts[i], _ = url.PathUnescape(p)
	}
	switch {
	case r.Method == "GET" && rest == "user":
		writeJSON(w, http.StatusOK, map[string]any{"id": 1, "username": g.User, "name": "Test " + g.User, "email": g.User + "@example.com", "state": "active"})
	case r.Method == "GET" && rest == "personal_access_tokens/self":
		writeJSON(w, http.StatusOK, map[string]any{"id": 7, "name": "qlp", "active": true, "revoked": false, "scopes": []string{"api", "write_repository"}})
	case r.Method == "GET" && len(parts) == 2 && parts[0] == "namespaces":
		id, ok := g.groups[parts[1]]
		if !ok && parts[1] == g.User {
			id, ok = 1, true
		}
		if !ok {
			glMessage(w, http.StatusNotFound, "404 Namespace Not Found")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "full_path": parts[1], "path": parts[1], "kind": "group"})
	case r.Method == "POST" && rest == "projects":
		g.createProject(w, r)
	case len(parts) >= 2 && parts[0] == "projects":
		p := g.projects[parts[1]]
		if p == nil {
			glMessage(w, http.StatusNotFound, "404 Project Not Found")
			return
		}
		g.project(w, r, p, parts[2:])
	default:
		glMessage(w, http.StatusNotFound, "404 Not Found")
	}
}

func (g *GitLab) newProject(path, visibility string, initialize bool) (*glProject, error) {
	ns, name := path[:strings.LastIndexByte(path, '/')], path[strings.LastIndexByte(path, '/')+1:]
	g.nextID++
	p := &glProject{ID: g.nextID, Name: name, Path: name, PathWithNamespace: path, Visibility: visibility, WebURL: g.URL + "/" + path,
		HTTPURLToRepo: g.Git.URL + "/" + path + ".git", SSHURLToRepo: "git@gitlab.test:" + path + ".git", DefaultBranch: "main"}
	p.Namespace.FullPath, p.Namespace.Kind = ns, "group"
	if ns == g.User {
		p.Namespace.Kind = "user"
	}
	if err := g.Git.Create(path + ".git"); err != nil {
		return nil, err
	}
	if initialize {
		if _, err := g.Git.Seed(path+".git", "main", "Initial commit", map[string]string{"README.md": "# " + name + "\n"}); err != nil {
			return nil, err
		}
	}
	g.projects[path] = p
	return p, nil
}

func (g *GitLab) createProject(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name                 string `json:"name"`
		Path                 string `json:"path"`
		NamespaceID          int64  `json:"namespace_id"`
		Visibility           string `json:"visibility"`
		InitializeWithReadme bool   `json:"initialize_with_readme"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "the body is not JSON"})
		return
	}
	if body.Path == "" {
		body.Path = body.Name
	}
	if body.Path == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "name, path are missing, at least one parameter must be provided"})
		return
	}
	ns := g.User
	if body.NamespaceID != 0 {
		ns = ""
		for name, id := range g.groups {
			if id == body.NamespaceID {
				ns = name
			}
		}
		if ns == "" {
			glMessage(w, http.StatusNotFound, "404 Namespace Not Found")
			return
		}
	}
	if g.projects[ns+"/"+body.Path] != nil {
		glMessage(w, http.StatusBadRequest, map[string][]string{"name": {"has already been taken"}, "path": {"has already been taken"}})
		return
	}
	if body.Visibility == "" {
		body.Visibility = "private"
	}
	p, err := g.newProject(ns+"/"+body.Path, body.Visibility, body.InitializeWithReadme)
	if err != nil {
		glMessage(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, p)
}

// paginate writes GitLab's pagination headers.
func (g *GitLab) paginate(w http.ResponseWriter, r *http.Request, total, p, per, pages int) {
	h := w.Header()
	h.Set("X-Page", strconv.Itoa(p))
	h.Set("X-Per-Page", strconv.Itoa(per))
	h.Set("X-Total", strconv.Itoa(total))
	h.Set("X-Total-Pages", strconv.Itoa(pages))
	h.Set("X-Next-Page", "")
	h.Set("X-Prev-Page", "")
	if p < pages {
		h.Set("X-Next-Page", strconv.Itoa(p+1))
	}
	if p > 1 {
		h.Set("X-Prev-Page", strconv.Itoa(p-1))
	}
	if l := linkHeader(g.URL, r, p, per, pages); l != "" {
		h.Set("Link", l)
	}
}

func (g *GitLab) project(w http.ResponseWriter, r *http.Request, p *glProject, rest []string) {
	q := r.URL.Query()
	switch {
	case r.Method == "GET" && len(rest) == 0:
		writeJSON(w, http.StatusOK, p)
	case len(rest) == 1 && rest[0] == "merge_requests":
		if r.Method == "POST" {
			g.createMR(w, r, p)
			return
		}
		out := []map[string]any{}
		for _, m := range g.mrs[p.PathWithNamespace] {
			if (q.Get("state") == "" || q.Get("state") == m.State) && (q.Get("source_branch") == "" || q.Get("source_branch") == m.SourceBranch) &&
				(q.Get("target_branch") == "" || q.Get("target_branch") == m.TargetBranch) {
				out = append(out, g.mrJSON(p, m))
			}
		}
		writeJSON(w, http.StatusOK, out)
	case r.Method == "GET" && len(rest) == 1 && rest[0] == "pipelines":
		var all []*glPipeline
		for k, pl := range g.pipelines {
			if strings.HasPrefix(k, p.PathWithNamespace+"@") && (q.Get("sha") == "" || q.Get("sha") == pl.SHA) {
				pl.Status = g.pipelineStatus(pl)
				all = append(all, pl)
			}
		}
		items, pg, per, pages := page(q, all, g.MaxPerPage)
		g.paginate(w, r, len(all), pg, per, pages)
		writeJSON(w, http.StatusOK, items)
	case r.Method == "GET" && len(rest) == 3 && rest[0] == "pipelines" && rest[2] == "jobs":
		id, _ := strconv.ParseInt(rest[1], 10, 64)
		all, ok := g.jobs[id]
		if !ok {
			glMessage(w, http.StatusNotFound, "404 Not found")
			return
		}
		items, pg, per, pages := page(q, all, g.MaxPerPage)
		g.paginate(w, r, len(all), pg, per, pages)
		writeJSON(w, http.StatusOK, items)
	case r.Method == "GET" && len(rest) == 3 && rest[0] == "jobs" && rest[2] == "trace":
		id, _ := strconv.ParseInt(rest[1], 10, 64)
		t, ok := g.traces[id]
		if !ok {
			glMessage(w, http.StatusNotFound, "404 Not found")
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(t))
	default:
		glMessage(w, http.StatusNotFound, "404 Not Found")
	}
}

func (g *GitLab) pipelineStatus(pl *glPipeline) string {
	status := "success"
	for _, j := range g.jobs[pl.ID] {
		switch {
		case j.Status == "failed" && !j.AllowFailure:
			return "failed"
		case j.Status == "running" || j.Status == "pending" || j.Status == "created":
			status = "running"
		}
	}
	return status
}

func (g *GitLab) mrJSON(p *glProject, m *GLMergeRequest) map[string]any {
	return map[string]any{"id": 1000 + m.IID, "iid": m.IID, "project_id": p.ID, "title": m.Title, "description": m.Description, "state": m.State,
		"source_branch": m.SourceBranch, "target_branch": m.TargetBranch, "web_url": fmt.Sprintf("%s/%s/-/merge_requests/%d", g.URL, p.PathWithNamespace, m.IID),
		"sha": g.Git.Ref(p.PathWithNamespace+".git", m.SourceBranch)}
}

func (g *GitLab) createMR(w http.ResponseWriter, r *http.Request, p *glProject) {
	var body struct {
		Title        string `json:"title"`
		Description  string `json:"description"`
		SourceBranch string `json:"source_branch"`
		TargetBranch string `json:"target_branch"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "the body is not JSON"})
		return
	}
	switch {
	case body.Title == "":
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "title is missing"})
		return
	case g.Git.Ref(p.PathWithNamespace+".git", body.SourceBranch) == "":
		glMessage(w, http.StatusUnprocessableEntity, []string{"Source branch does not exist"})
		return
	case g.Git.Ref(p.PathWithNamespace+".git", body.TargetBranch) == "":
		glMessage(w, http.StatusUnprocessableEntity, []string{"Target branch does not exist"})
		return
	}
	for _, m := range g.mrs[p.PathWithNamespace] {
		if m.SourceBranch == body.SourceBranch && m.State == "opened" {
			glMessage(w, http.StatusConflict, []string{fmt.Sprintf("Another open merge request already exists for this source branch: !%d", m.IID)})
			return
		}
	}
	m := &GLMergeRequest{IID: len(g.mrs[p.PathWithNamespace]) + 1, Title: body.Title, Description: body.Description, SourceBranch: body.SourceBranch,
		TargetBranch: body.TargetBranch, State: "opened"}
	g.mrs[p.PathWithNamespace] = append(g.mrs[p.PathWithNamespace], m)
	writeJSON(w, http.StatusCreated, g.mrJSON(p, m))
}

// Pipeline is the id of the pipeline of sha, 0 when it has none.
func (g *GitLab) Pipeline(project, sha string) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p := g.pipelines[project+"@"+sha]; p != nil {
		return p.ID
	}
	return 0
}
