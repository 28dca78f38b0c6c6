package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/httpx"
)

// keepAlive is how often an idle stream sends a comment, so that proxies do
// not close it.
const keepAlive = 15 * time.Second

// lastEventID reads where a stream resumes: the Last-Event-ID header, or
// the last_event_id query parameter when the header is absent (EventSource
// cannot set headers on its first request). Neither means from the start.
func lastEventID(header, query string) (int64, error) {
	last := header
	if last == "" {
		last = query
	}
	if last == "" {
		return 0, nil
	}
	after, err := strconv.ParseInt(last, 10, 64)
	if err != nil || after < 0 {
		return 0, httpx.BadRequest("Last-Event-ID", "must be a non-negative integer event id")
	}
	return after, nil
}

// handleProgress streams a job's progress as server-sent events: first every
// event after Last-Event-ID (header, or last_event_id query), then new ones
// as they happen, until the job's terminal event.
func (s *Service) handleProgress(w http.ResponseWriter, r *http.Request) error {
	job, err := s.jobFor(r)
	if err != nil {
		return err
	}
	after, err := lastEventID(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("last_event_id"))
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream lives as long as the job
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer
	w.WriteHeader(http.StatusOK)

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var mu sync.Mutex
	write := func(s string) error {
		mu.Lock()
		defer mu.Unlock()
		if _, err := fmt.Fprint(w, s); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := write("retry: 2000\n\n"); err != nil {
		return nil
	}
	// The keep-alive writer must be gone before the handler returns: the
	// ResponseWriter is not to be touched after that.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(keepAlive)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if write(": keep-alive\n\n") != nil {
					cancel()
					return
				}
			}
		}
	}()
	err = s.bus.Follow(ctx, job.ID, after, func(e domain.Event) error {
		b, err := json.Marshal(ProgressEvent{ID: e.ID, Type: e.Type, Timestamp: e.CreatedAt, Source: "qlp", WorkflowID: job.WorkflowID,
			RequestID: job.RequestID, TaskID: e.TaskID, TenantID: e.TenantID, Message: e.Message, Data: e.Data})
		if err != nil {
			return err
		}
		return write(fmt.Sprintf("id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Type, b))
	})
	if err != nil && ctx.Err() == nil {
		s.logger.Warn("progress stream ended", "job", job.ID, "error", err)
	}
	return nil // the response has started: errors cannot be sent as JSON any more
}
