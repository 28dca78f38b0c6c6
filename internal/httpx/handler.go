package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// HandlerFunc is an HTTP handler that returns an error instead of writing
// one. Returned errors are rendered by [WriteError].
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle adapts h into an http.Handler that logs and renders its errors.
func Handle(logger *slog.Logger, h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			WriteError(w, r, logger, err)
		}
	})
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away; nothing useful to do
}

// WriteError renders err as a JSON error body. 5xx are logged at error level
// with the cause, 4xx at debug level.
func WriteError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	he := AsError(err)
	rid := RequestIDFrom(r.Context())
	if logger != nil {
		attrs := []any{"status", he.Status, "method", r.Method, "path", r.URL.Path, "request_id", rid}
		if he.Status >= 500 {
			logger.Error("request failed", append(attrs, "error", err)...)
		} else {
			logger.Debug("request rejected", append(attrs, "error", he.Error())...)
		}
	}
	if he.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(he.RetryAfter))
	}
	WriteJSON(w, he.Status, ErrorBody{Error: he.Message, Code: he.Code, Field: he.Field, RequestID: rid})
}

// DecodeJSON reads a JSON body of at most maxBytes into dst. A body that is
// too large gives 413; malformed JSON or a wrongly typed field gives 400
// naming the field. A body declared as anything but JSON gives 415: a form
// post (curl -d's default, and what a browser sends to another site without
// asking first) is not read as JSON.
func DecodeJSON(w http.ResponseWriter, r *http.Request, maxBytes int64, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		if len(ct) > 80 {
			ct = ct[:80] + "…"
		}
		return &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
			Message: fmt.Sprintf("body must be application/json, not %s: send the header Content-Type: application/json (curl: -H 'Content-Type: application/json' -d '{…}', or --json '{…}')", ct)}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBytes)
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(dst); err != nil {
		return decodeError(err, maxBytes)
	}
	// Trailing garbage after the object is a malformed body too.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return decodeError(err, maxBytes)
		}
		return BadRequest("body", "unexpected data after the JSON object")
	}
	return nil
}

func decodeError(err error, maxBytes int64) error {
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
			Message: fmt.Sprintf("request body exceeds the limit of %d bytes", maxBytes), Err: err}
	case errors.Is(err, io.EOF):
		return BadRequest("body", "request body is empty")
	case errors.As(err, &se):
		return BadRequest("body", "malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return BadRequest(field, "must be of type %s, got %s", te.Type, te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return BadRequest("body", "truncated JSON")
	default:
		return BadRequest("body", "malformed JSON: %v", err)
	}
}
