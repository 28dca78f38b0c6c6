package httpx

import (
	"bytes"
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
// A request whose path or query holds a NUL character is refused before h
// runs.
func Handle(logger *slog.Logger, h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := nulInURL(r)
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			WriteError(w, r, logger, err)
		}
	})
}

// nulMessage says why a NUL character is refused. PostgreSQL cannot store
// one in a text column ("invalid byte sequence 0x00"), so accepting it would
// work on SQLite and fail with a 500 on PostgreSQL; refusing it everywhere
// keeps the two stores alike.
const nulMessage = "must not contain a NUL character (\\u0000): text only, binary content is refused"

// nulInURL refuses a NUL character in the path (%00 in an id) or in a query
// parameter.
func nulInURL(r *http.Request) error {
	if strings.IndexByte(r.URL.Path, 0) >= 0 {
		return BadRequest("path", nulMessage)
	}
	if strings.Contains(r.URL.RawQuery, "%00") || strings.IndexByte(r.URL.RawQuery, 0) >= 0 {
		for k, vs := range r.URL.Query() {
			if strings.IndexByte(k, 0) >= 0 {
				return BadRequest("query", nulMessage)
			}
			for _, v := range vs {
				if strings.IndexByte(v, 0) >= 0 {
					return BadRequest(k, nulMessage)
				}
			}
		}
	}
	return nil
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
	WriteJSON(w, he.Status, ErrorBody{Error: he.Message, Code: he.Code, Field: he.Field,
		Limit: he.Limit, LimitValue: he.LimitValue, RetryAfter: he.RetryAfter, RequestID: rid, Category: he.Category, Severity: he.Severity})
}

// BodyLimit names the body size limit in a 413's body; its setting is
// api.max_body_bytes (QLP_API_MAX_BODY_BYTES).
const BodyLimit = "max_body_bytes"

// DecodeJSON reads a JSON body of at most maxBytes into dst. A body that is
// too large gives 413; malformed JSON or a wrongly typed field gives 400
// naming the field, and so does a string (or key) anywhere in the body that
// holds a NUL character (\u0000), which no store of QLP's can keep.
// A body declared as anything but JSON gives 415: a form
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
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeError(err, maxBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(dst); err != nil {
		return decodeError(err, maxBytes)
	}
	// Trailing garbage after the object is a malformed body too.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return BadRequest("body", "unexpected data after the JSON object")
	}
	// A raw NUL byte is already malformed JSON; only the escape can carry
	// one, so bodies without it skip the walk.
	if bytes.Contains(body, []byte(`\u0000`)) {
		if field, ok := NULField(body); ok {
			return BadRequest(field, nulMessage)
		}
	}
	return nil
}

// NULField walks a valid JSON document and returns the path of the first
// string holding a NUL character ("description", "options.metadata.note",
// "files[2].content"; "body" for the document itself). A key holding one is
// reported by the path of its object. ok is false when there is none.
func NULField(doc []byte) (field string, ok bool) {
	type frame struct {
		object  bool
		key     string // the key whose value comes next (objects)
		wantKey bool
		index   int // the index of the next element (arrays)
	}
	var stack []*frame
	path := func(withLast bool) string {
		var b strings.Builder
		n := len(stack)
		if !withLast {
			n--
		}
		for _, f := range stack[:n] {
			if f.object {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			} else {
				fmt.Fprintf(&b, "[%d]", f.index)
			}
		}
		if b.Len() == 0 {
			return "body"
		}
		return b.String()
	}
	// done moves past a value in the enclosing object or array.
	done := func() {
		if len(stack) == 0 {
			return
		}
		if f := stack[len(stack)-1]; f.object {
			f.wantKey = true
		} else {
			f.index++
		}
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, &frame{object: true, wantKey: true})
			case '[':
				stack = append(stack, &frame{})
			default:
				stack = stack[:len(stack)-1]
				done()
			}
		case string:
			if len(stack) > 0 && stack[len(stack)-1].object && stack[len(stack)-1].wantKey {
				f := stack[len(stack)-1]
				if strings.IndexByte(v, 0) >= 0 {
					return path(false), true
				}
				f.key, f.wantKey = v, false
				continue
			}
			if strings.IndexByte(v, 0) >= 0 {
				return path(true), true
			}
			done()
		default:
			done()
		}
	}
}

func decodeError(err error, maxBytes int64) error {
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large", Limit: BodyLimit, LimitValue: maxBytes,
			Message: fmt.Sprintf("request body exceeds the limit of %d bytes (max_body_bytes)", maxBytes), Err: err}
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
