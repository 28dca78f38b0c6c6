package eval

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/orchestrator"
)

// Request is the body of POST /api/v2/eval.
type Request struct {
	// Dataset is the JSONL dataset itself (docs/eval.md).
	Dataset string `json:"dataset"`
	// Name labels the dataset in the result (e.g. its file name).
	Name        string `json:"name,omitempty"`
	Concurrency int    `json:"concurrency,omitempty"`
	Tier        string `json:"tier,omitempty"`
}

// MaxBodyBytes bounds a dataset sent to the API.
const MaxBodyBytes = 16 << 20

// Handler serves POST /api/v2/eval behind the API's authentication: the
// tasks' jobs are submitted, followed and downloaded through api (the
// API's handler in this process) with the caller's own credential, so an
// evaluation can do exactly what the caller could, and graded with the
// validator that validator returns (nil: no validation in this process).
// The answer comes when the last task is graded.
func Handler(api http.Handler, validator func() Validator, logger *slog.Logger) http.Handler {
	return httpx.Handle(logger, func(w http.ResponseWriter, r *http.Request) error {
		var body Request
		if err := httpx.DecodeJSON(w, r, MaxBodyBytes, &body); err != nil {
			return err
		}
		v := validator()
		if v == nil {
			return &httpx.Error{Status: http.StatusNotImplemented, Code: "not_implemented",
				Message: "not implemented here: grading needs the validation target in this process or QLP_VALIDATION_URL"}
		}
		ds, err := Parse(body.Name, []byte(body.Dataset))
		if err != nil {
			return httpx.BadRequest("dataset", "%v", err)
		}
		if body.Concurrency < 0 || body.Concurrency > MaxConcurrency {
			return httpx.BadRequest("concurrency", "%d: want 1 to %d", body.Concurrency, MaxConcurrency)
		}
		// An evaluation runs as long as its jobs do: the server's write
		// timeout, meant for ordinary answers, does not apply to it.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
		run := &Runner{API: orchestrator.NewInProcessClient(api, r.Header), Validator: v}
		res, err := run.Run(r.Context(), ds, Options{Concurrency: body.Concurrency, Tier: body.Tier})
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, res)
		return nil
	})
}
