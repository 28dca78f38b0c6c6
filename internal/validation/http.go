package validation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/vocab"
)

// Handler serves the mesh's routes: POST /v1/validate (a whole project),
// POST /validate/code (the earlier QLP contract: one file), GET
// /validators. The application adds authentication and the probes.
func (m *Mesh) Handler() http.Handler {
	mux := http.NewServeMux()
	h := func(f httpx.HandlerFunc) http.Handler { return httpx.Handle(m.logger, f) }
	mux.Handle("POST /v1/validate", h(m.handleValidate))
	mux.Handle("POST /validate/code", h(m.handleCode))
	mux.Handle("GET /validators", h(m.handleValidators))
	return mux
}

// httpError maps the mesh's errors to HTTP errors; rename maps a field
// name to the one the caller sent.
func httpError(err error, rename func(string) string) error {
	var re *RequestError
	switch {
	case errors.As(err, &re):
		field := re.Field
		if rename != nil {
			field = rename(field)
		}
		return httpx.BadRequest(field, "%s", re.Message)
	case errors.Is(err, context.Canceled):
		return &httpx.Error{Status: 499, Code: "cancelled", Message: "request cancelled", Err: err}
	}
	return fmt.Errorf("validation: %w", err)
}

func (m *Mesh) handleValidate(w http.ResponseWriter, r *http.Request) error {
	var req Request
	if err := httpx.DecodeJSON(w, r, m.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	rep, err := m.Validate(r.Context(), req)
	if err != nil {
		return httpError(err, nil)
	}
	httpx.WriteJSON(w, http.StatusOK, rep)
	return nil
}

// CodeRequest is the earlier QLP's POST /validate/code body. Validators
// and context were ignored there and are ignored here: every applicable
// check runs.
type CodeRequest struct {
	Code       string         `json:"code"`
	Language   string         `json:"language"`
	Filename   string         `json:"filename,omitempty"`
	Validators []string       `json:"validators,omitempty"`
	Context    map[string]any `json:"context,omitempty"`
}

// CodeReport is the earlier QLP's ValidationReport (id, execution_id,
// overall_status, checks, confidence_score, requires_human_review,
// metadata, created_at) with the mesh's report fields.
type CodeReport struct {
	ID          string         `json:"id"`
	ExecutionID string         `json:"execution_id"`
	CreatedAt   string         `json:"created_at"`
	Metadata    map[string]any `json:"metadata"`
	*Report
}

// defaultFile is the file name a single piece of code is validated as.
var defaultFile = map[string]string{
	"go": "main.go", "python": "main.py", "javascript": "main.js", "typescript": "main.ts",
	"bash": "main.sh", "java": "Main.java", "rust": "main.rs",
}

func (m *Mesh) handleCode(w http.ResponseWriter, r *http.Request) error {
	var cr CodeRequest
	if err := httpx.DecodeJSON(w, r, m.cfg.MaxBodyBytes, &cr); err != nil {
		return err
	}
	if cr.Language == "" {
		cr.Language = "python" // the earlier contract's default
	}
	if strings.TrimSpace(cr.Code) == "" {
		return httpx.BadRequest("code", "must not be empty")
	}
	lang, _ := vocab.NormalizeLanguage(cr.Language)
	name := cr.Filename
	if name == "" {
		name = defaultFile[lang]
		if name == "" {
			name = "main"
		}
	}
	rep, err := m.Validate(r.Context(), Request{Language: cr.Language, Files: []File{{Path: name, Content: cr.Code}}, Label: "validate/code"})
	if err != nil {
		return httpError(err, func(f string) string {
			switch {
			case f == "files" || strings.HasPrefix(f, "files[0].content"):
				return "code"
			case strings.HasPrefix(f, "files[0].path"):
				return "filename"
			}
			return f
		})
	}
	id := newID()
	execID, _ := cr.Context["execution_id"].(string)
	httpx.WriteJSON(w, http.StatusOK, CodeReport{ID: id, ExecutionID: execID, CreatedAt: time.Now().UTC().Format(time.RFC3339),
		Metadata: map[string]any{"file": name, "validators_requested": cr.Validators}, Report: rep})
	return nil
}

func (m *Mesh) handleValidators(w http.ResponseWriter, r *http.Request) error {
	resp, err := m.Validators(r.Context())
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
	return nil
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
