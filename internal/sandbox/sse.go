package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/quantumlayer/qlp/internal/httpx"
)

// Server-sent events of POST /v1/runs?stream=sse:
//
//	event: output   data: OutputChunk (data base64)   — as the run produces it
//	event: result   data: Result                      — last event of a run
//	event: error    data: httpx.ErrorBody             — the run could not be carried out
//
// Validation errors and a full queue are answered before the stream starts,
// as plain 400 and 429 responses.

func wantsSSE(r *http.Request) bool {
	return r.URL.Query().Get("stream") == "sse" || strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

type sseWriter struct {
	mu sync.Mutex
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (s *sseWriter) event(name string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, b)
	_ = s.rc.Flush()
}

func (s *sseWriter) comment(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.w, ": %s\n\n", text)
	_ = s.rc.Flush()
}

func (s *Service) streamRun(w http.ResponseWriter, r *http.Request, spec Spec) error {
	ctx := r.Context()
	if err := s.local.Prepare(ctx, spec); err != nil {
		return s.httpError(err, nil)
	}
	release, err := s.acquire(ctx)
	if err != nil {
		return s.httpError(err, nil)
	}
	defer release()
	rc := http.NewResponseController(w)
	wall := spec.Limits.withDefaults(s.cfg.DefaultLimits).WallTime.D()
	_ = rc.SetWriteDeadline(time.Now().Add(wall + 2*time.Minute))
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sw := &sseWriter{w: w, rc: rc}
	sw.comment("run accepted")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				sw.comment("keep-alive")
			}
		}
	}()
	res, err := s.runNow(ctx, spec, func(c OutputChunk) { sw.event("output", c) })
	if err != nil {
		he := httpx.AsError(s.httpError(err, nil))
		sw.event("error", httpx.ErrorBody{Error: he.Message, Code: he.Code, Field: he.Field, RequestID: httpx.RequestIDFrom(ctx)})
		return nil
	}
	sw.event("result", res)
	return nil
}
