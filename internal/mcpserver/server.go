// Package mcpserver exposes the platform to other agents as Model Context
// Protocol tools (generate, status, review, download, costs) and a resource
// template for capsule archives, through the official Go MCP SDK.
//
// Every tool calls the orchestrator API through its client, so an MCP
// caller can do exactly what its API key allows and nothing more: over
// stdio (`qlp mcp`) the key is the one the command was started with; over
// streamable HTTP (`/mcp` on the API) each call carries its caller's own
// credential, which the API authenticates again.
package mcpserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/costs"
	"github.com/quantumlayer/qlp/internal/orchestrator"
)

// API is the part of the orchestrator API the tools use;
// *orchestrator.Client implements it.
type API interface {
	Execute(ctx context.Context, req orchestrator.ExecuteRequest, idempotencyKey string) (orchestrator.ExecuteResponse, error)
	Status(ctx context.Context, id string) (orchestrator.StatusResponse, error)
	PendingReviews(ctx context.Context) (orchestrator.ReviewList, error)
	Review(ctx context.Context, id string) (orchestrator.ReviewInfo, error)
	RespondReview(ctx context.Context, id string, body orchestrator.ReviewResponse) (orchestrator.ReviewInfo, error)
	Download(ctx context.Context, id string, version int, format string) ([]byte, error)
	Costs(ctx context.Context, q orchestrator.CostQuery) (costs.Report, error)
}

var _ API = (*orchestrator.Client)(nil)

// Clients returns the API client one request acts through. extra is the
// request's transport information (its HTTP header over streamable HTTP;
// nil over stdio).
type Clients func(extra *mcp.RequestExtra) (API, error)

// Fixed acts through one client for every request (stdio: one user).
func Fixed(api API) Clients {
	return func(*mcp.RequestExtra) (API, error) { return api, nil }
}

// Options tune the server.
type Options struct {
	// Version is QLP's version, announced to clients.
	Version string
	// Poll is how often the status tool looks again while it waits
	// (default one second).
	Poll time.Duration
	// MaxWait caps the status tool's wait_seconds (default 300 s).
	MaxWait time.Duration
}

// ArchiveURIPrefix starts the URI of a capsule archive resource:
// qlp://capsules/{id}/archive.{format}.
const ArchiveURIPrefix = "qlp://capsules/"

// New returns an MCP server whose tools act through clients.
func New(clients Clients, o Options) *mcp.Server {
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 300 * time.Second
	}
	version := o.Version
	if version == "" {
		version = "dev"
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "qlp", Title: "QLP — Quantum Layer Platform", Version: version}, &mcp.ServerOptions{
		Instructions: "QLP turns a software request into a capsule: a generated, tested, signed project. " +
			"Call generate, then status with wait_seconds until the job is completed (or a review waits: answer it with review), " +
			"then download the capsule named in the status result. costs reports what jobs cost.",
	})
	t := &tools{clients: clients, o: o}
	mcp.AddTool(s, &mcp.Tool{Name: "generate", Title: "Generate a capsule",
		Description: "Submit a software request as a job. Returns the job's workflow_id and request_id; follow it with status."}, t.generate)
	mcp.AddTool(s, &mcp.Tool{Name: "status", Title: "Job status",
		Description: "A job's status, progress, result (capsule id, cost) and the reviews it waits for. wait_seconds waits until the job ends or a review waits."}, t.status)
	mcp.AddTool(s, &mcp.Tool{Name: "review", Title: "Answer a review",
		Description: "Without id: the reviews waiting for an answer. With id and no decision: that review. With id and decision (approve, reject, request_changes; request_changes needs a comment, which the next attempt answers): answer it."}, t.review)
	mcp.AddTool(s, &mcp.Tool{Name: "download", Title: "Download a capsule",
		Description: "A capsule's archive (zip, tar or tar.gz) as an embedded resource (base64), with its size and SHA-256. The same archive is readable as the resource " + ArchiveURIPrefix + "{id}/archive.{format}."}, t.download)
	mcp.AddTool(s, &mcp.Tool{Name: "costs", Title: "Costs",
		Description: "The cost report of one job (workflow_id) or of the last days (default 30): calls, tokens and dollars by model and tier."}, t.costs)
	s.AddResourceTemplate(&mcp.ResourceTemplate{Name: "capsule-archive", Title: "Capsule archive",
		URITemplate: ArchiveURIPrefix + "{id}/archive.{format}",
		Description: "A capsule's signed archive; format is zip, tar or tar.gz."}, t.readArchive)
	return s
}

type tools struct {
	clients Clients
	o       Options
}

func (t *tools) api(extra *mcp.RequestExtra) (API, error) {
	return t.clients(extra)
}

// GenerateInput is the generate tool's input.
type GenerateInput struct {
	Description    string `json:"description" jsonschema:"the software request, in natural language"`
	Language       string `json:"language,omitempty" jsonschema:"require a language: go, python, javascript, typescript, java, rust, bash"`
	Framework      string `json:"framework,omitempty" jsonschema:"require a framework"`
	Requirements   string `json:"requirements,omitempty" jsonschema:"further requirements"`
	Tier           string `json:"tier,omitempty" jsonschema:"force every task onto one tier: T0..T3"`
	IdempotencyKey string `json:"idempotency_key,omitempty" jsonschema:"submit at most once with this key"`
	AllowReuse     bool   `json:"allow_reuse,omitempty" jsonschema:"accept an earlier validated capsule made for a near-identical request"`
}

func (t *tools) generate(ctx context.Context, req *mcp.CallToolRequest, in GenerateInput) (*mcp.CallToolResult, orchestrator.ExecuteResponse, error) {
	api, err := t.api(req.Extra)
	if err != nil {
		return nil, orchestrator.ExecuteResponse{}, err
	}
	if strings.TrimSpace(in.Description) == "" {
		return nil, orchestrator.ExecuteResponse{}, errors.New("description is empty: say what to build")
	}
	constraints := map[string]any{}
	if in.Language != "" {
		constraints["language"] = in.Language
	}
	if in.Framework != "" {
		constraints["framework"] = in.Framework
	}
	var metadata map[string]any
	if in.AllowReuse {
		metadata = map[string]any{"allow_reuse": true}
	}
	out, err := api.Execute(ctx, orchestrator.ExecuteRequest{Description: in.Description, Requirements: in.Requirements,
		Constraints: constraints, Metadata: metadata, TierOverride: in.Tier, UserID: "mcp"}, in.IdempotencyKey)
	return nil, out, err
}

// StatusInput is the status tool's input.
type StatusInput struct {
	ID          string `json:"id" jsonschema:"the job's workflow_id or request_id"`
	WaitSeconds int    `json:"wait_seconds,omitempty" jsonschema:"wait up to this long (at most 300) for the job to end or to wait for a review"`
}

// StatusOutput is a job's status and the reviews it waits for.
type StatusOutput struct {
	orchestrator.StatusResponse
	// Terminal is true once the job has ended (completed, failed,
	// cancelled).
	Terminal bool `json:"terminal"`
	// PendingReviews are the reviews of this job waiting for an answer.
	PendingReviews []orchestrator.ReviewInfo `json:"pending_reviews"`
}

func terminal(status string) bool {
	return status == "completed" || status == "failed" || status == "cancelled"
}

func (t *tools) status(ctx context.Context, req *mcp.CallToolRequest, in StatusInput) (*mcp.CallToolResult, StatusOutput, error) {
	api, err := t.api(req.Extra)
	if err != nil {
		return nil, StatusOutput{}, err
	}
	if in.WaitSeconds < 0 {
		return nil, StatusOutput{}, fmt.Errorf("wait_seconds %d: want 0 to %d", in.WaitSeconds, int(t.o.MaxWait.Seconds()))
	}
	wait := min(time.Duration(in.WaitSeconds)*time.Second, t.o.MaxWait)
	deadline := time.Now().Add(wait)
	for {
		out, err := t.statusOnce(ctx, api, in.ID)
		if err != nil || out.Terminal || len(out.PendingReviews) > 0 || !time.Now().Before(deadline) {
			return nil, out, err
		}
		select {
		case <-ctx.Done():
			return nil, out, ctx.Err()
		case <-time.After(min(t.o.Poll, time.Until(deadline))):
		}
	}
}

func (t *tools) statusOnce(ctx context.Context, api API, id string) (StatusOutput, error) {
	st, err := api.Status(ctx, id)
	if err != nil {
		return StatusOutput{}, err
	}
	out := StatusOutput{StatusResponse: st, Terminal: terminal(st.Status), PendingReviews: []orchestrator.ReviewInfo{}}
	if out.Terminal {
		return out, nil
	}
	reviews, err := api.PendingReviews(ctx)
	if err != nil {
		return StatusOutput{}, fmt.Errorf("reviews of job %s: %w", id, err)
	}
	for _, r := range reviews.Reviews {
		if r.WorkflowID == st.WorkflowID {
			out.PendingReviews = append(out.PendingReviews, r)
		}
	}
	return out, nil
}

// ReviewInput is the review tool's input.
type ReviewInput struct {
	ID       string `json:"id,omitempty" jsonschema:"the review's id; empty lists the reviews waiting for an answer"`
	Decision string `json:"decision,omitempty" jsonschema:"approve, reject or request_changes; empty shows the review"`
	Comment  string `json:"comment,omitempty" jsonschema:"why; required for request_changes, where it becomes part of the next attempt's prompt"`
}

// ReviewOutput is a list of reviews or the one review shown or answered.
type ReviewOutput struct {
	Reviews []orchestrator.ReviewInfo `json:"reviews"`
}

func (t *tools) review(ctx context.Context, req *mcp.CallToolRequest, in ReviewInput) (*mcp.CallToolResult, ReviewOutput, error) {
	api, err := t.api(req.Extra)
	if err != nil {
		return nil, ReviewOutput{}, err
	}
	switch {
	case in.ID == "" && (in.Decision != "" || in.Comment != ""):
		return nil, ReviewOutput{}, errors.New("a decision needs the review's id: call review without arguments to list them")
	case in.ID == "":
		l, err := api.PendingReviews(ctx)
		if err != nil {
			return nil, ReviewOutput{}, err
		}
		if l.Reviews == nil {
			l.Reviews = []orchestrator.ReviewInfo{}
		}
		return nil, ReviewOutput{Reviews: l.Reviews}, nil
	case in.Decision == "":
		r, err := api.Review(ctx, in.ID)
		return nil, ReviewOutput{Reviews: []orchestrator.ReviewInfo{r}}, err
	}
	switch in.Decision {
	case "approve", "reject", "request_changes":
	default:
		return nil, ReviewOutput{}, fmt.Errorf("decision %q: want approve, reject or request_changes", in.Decision)
	}
	r, err := api.RespondReview(ctx, in.ID, orchestrator.ReviewResponse{Decision: in.Decision, Comment: in.Comment, Reviewer: "mcp"})
	return nil, ReviewOutput{Reviews: []orchestrator.ReviewInfo{r}}, err
}

// DownloadInput is the download tool's input.
type DownloadInput struct {
	CapsuleID string `json:"capsule_id" jsonschema:"the capsule's id (status result.capsule_id)"`
	Version   int    `json:"version,omitempty" jsonschema:"the capsule's version; 0 or absent is the latest"`
	Format    string `json:"format,omitempty" jsonschema:"zip (default), tar or tar.gz"`
}

// DownloadOutput describes the archive embedded in the result.
type DownloadOutput struct {
	CapsuleID string `json:"capsule_id"`
	Format    string `json:"format"`
	URI       string `json:"uri"`
	MIMEType  string `json:"mime_type"`
	Bytes     int    `json:"bytes"`
	SHA256    string `json:"sha256"`
}

func mimeType(format string) string {
	switch format {
	case capsule.FormatTar:
		return "application/x-tar"
	case capsule.FormatTarGz:
		return "application/gzip"
	}
	return "application/zip"
}

func checkFormat(format string) (string, error) {
	switch format {
	case "":
		return capsule.FormatZip, nil
	case capsule.FormatZip, capsule.FormatTar, capsule.FormatTarGz:
		return format, nil
	}
	return "", fmt.Errorf("format %q: want zip, tar or tar.gz", format)
}

func archiveURI(id, format string) string {
	return ArchiveURIPrefix + url.PathEscape(id) + "/archive." + format
}

func (t *tools) download(ctx context.Context, req *mcp.CallToolRequest, in DownloadInput) (*mcp.CallToolResult, DownloadOutput, error) {
	api, err := t.api(req.Extra)
	if err != nil {
		return nil, DownloadOutput{}, err
	}
	format, err := checkFormat(in.Format)
	if err != nil {
		return nil, DownloadOutput{}, err
	}
	if in.CapsuleID == "" {
		return nil, DownloadOutput{}, errors.New("capsule_id is empty: status names it in result.capsule_id once the job completed")
	}
	b, err := api.Download(ctx, in.CapsuleID, in.Version, format)
	if err != nil {
		return nil, DownloadOutput{}, err
	}
	sum := sha256.Sum256(b)
	out := DownloadOutput{CapsuleID: in.CapsuleID, Format: format, URI: archiveURI(in.CapsuleID, format), MIMEType: mimeType(format),
		Bytes: len(b), SHA256: hex.EncodeToString(sum[:])}
	res := &mcp.CallToolResult{Content: []mcp.Content{
		&mcp.TextContent{Text: fmt.Sprintf("capsule %s: %s archive, %d bytes, sha256 %s", out.CapsuleID, format, out.Bytes, out.SHA256)},
		&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: out.URI, MIMEType: out.MIMEType, Blob: b}},
	}}
	return res, out, nil
}

// readArchive serves qlp://capsules/{id}/archive.{format}.
func (t *tools) readArchive(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	uri := req.Params.URI
	rest, ok := strings.CutPrefix(uri, ArchiveURIPrefix)
	if !ok {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	escID, file, ok := strings.Cut(rest, "/")
	format, okFile := strings.CutPrefix(file, "archive.")
	id, err := url.PathUnescape(escID)
	if !ok || !okFile || err != nil || id == "" {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	if format, err = checkFormat(format); err != nil {
		return nil, err
	}
	api, err := t.api(req.Extra)
	if err != nil {
		return nil, err
	}
	b, err := api.Download(ctx, id, 0, format)
	if err != nil {
		return nil, err
	}
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, MIMEType: mimeType(format), Blob: b}}}, nil
}

// CostsInput is the costs tool's input.
type CostsInput struct {
	WorkflowID string `json:"workflow_id,omitempty" jsonschema:"one job's workflow_id or request_id"`
	Days       int    `json:"days,omitempty" jsonschema:"the last N days (default 30) when no workflow_id is given"`
}

func (t *tools) costs(ctx context.Context, req *mcp.CallToolRequest, in CostsInput) (*mcp.CallToolResult, costs.Report, error) {
	api, err := t.api(req.Extra)
	if err != nil {
		return nil, costs.Report{}, err
	}
	if in.Days < 0 {
		return nil, costs.Report{}, fmt.Errorf("days %d: want a positive number", in.Days)
	}
	q := orchestrator.CostQuery{WorkflowID: in.WorkflowID, PeriodDays: in.Days}
	if q.WorkflowID == "" && q.PeriodDays == 0 {
		q.PeriodDays = 30
	}
	out, err := api.Costs(ctx, q)
	return nil, out, err
}
