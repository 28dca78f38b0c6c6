// Package httpx holds the HTTP plumbing every QLP service shares: handlers
// that return errors, one place that renders those errors as JSON, body
// decoding with size limits, middleware, health probes and server timeouts.
//
// It imports no QLP service package; services import it.
package httpx

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is an error with an HTTP status and a message that is safe to show to
// the caller. The wrapped cause is logged but never sent.
type Error struct {
	Status  int    // HTTP status code
	Code    string // stable machine-readable code, e.g. "invalid_field"
	Message string // human-readable, safe to show
	Field   string // the request field at fault, if any
	// RetryAfter, when positive, is sent as a Retry-After header (seconds).
	RetryAfter int
	// Limit names the limit a 429 or 413 refusal hit
	// ("tenant_requests_per_minute", "max_body_bytes"), and LimitValue is
	// its value, so that a client can tell which budget it ran out of.
	Limit      string
	LimitValue int64
	// Category and Severity name what the content policy refused (see
	// [ContentPolicy]).
	Category string
	Severity string
	Err      error // private cause
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", msg, e.Err)
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// BadRequest reports a problem with one request field.
func BadRequest(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_field", Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound reports that what was asked for does not exist (or is not visible
// to the caller, which must look the same).
func NotFound(what string) *Error {
	return &Error{Status: http.StatusNotFound, Code: "not_found", Message: what + " not found"}
}

// Unauthorized reports a missing or invalid credential.
func Unauthorized(msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: msg}
}

// Forbidden reports a valid credential without the right to do this.
func Forbidden(msg string) *Error {
	return &Error{Status: http.StatusForbidden, Code: "forbidden", Message: msg}
}

// Conflict reports a request that clashes with the current state.
func Conflict(format string, args ...any) *Error {
	return &Error{Status: http.StatusConflict, Code: "conflict", Message: fmt.Sprintf(format, args...)}
}

// TooManyRequests reports a full queue or a rate limit, with a retry hint.
func TooManyRequests(retryAfterSeconds int, format string, args ...any) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: "too_many_requests", RetryAfter: retryAfterSeconds, Message: fmt.Sprintf(format, args...)}
}

// OverLimit reports a request refused by the limit called name, whose
// value is value: 429 with a retry hint, or 413 for a size.
func OverLimit(status int, name string, value int64, retryAfterSeconds int, format string, args ...any) *Error {
	code := "rate_limited"
	if status == http.StatusRequestEntityTooLarge {
		code = "too_large"
	}
	return &Error{Status: status, Code: code, Limit: name, LimitValue: value, RetryAfter: retryAfterSeconds, Message: fmt.Sprintf(format, args...)}
}

// ContentPolicy reports a request the content policy refused: 422, with
// the category that decided and its severity in the body.
func ContentPolicy(category, severity, format string, args ...any) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "content_policy_violation", Category: category, Severity: severity,
		Message: fmt.Sprintf(format, args...)}
}

// Unavailable reports a dependency that cannot serve right now.
func Unavailable(err error, format string, args ...any) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorBody is the JSON shape of every error response.
type ErrorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	Field string `json:"field,omitempty"`
	// Limit and LimitValue name the limit of a 429 or 413 refusal; see
	// docs/api.md, "Limits".
	Limit      string `json:"limit,omitempty"`
	LimitValue int64  `json:"limit_value,omitempty"`
	// RetryAfter repeats the Retry-After header (seconds) in the body.
	RetryAfter int    `json:"retry_after,omitempty"`
	RequestID  string `json:"request_id,omitempty"`
	// Category and Severity name what a content_policy_violation (422)
	// refused; see docs/security.md, "Content policy".
	Category string `json:"category,omitempty"`
	Severity string `json:"severity,omitempty"`
}

// AsError converts any error into an *Error. A service this one calls
// that is down (see [ServiceDown]) becomes a 503 that names it, so that
// the caller knows to try again; other errors that are not already *Error
// become opaque 500s: their text is never shown to the caller.
func AsError(err error) *Error {
	var he *Error
	if errors.As(err, &he) {
		return he
	}
	if svc, ok := ServiceDown(err); ok {
		return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", RetryAfter: 5, Err: err,
			Message: fmt.Sprintf("the %s service is unavailable; try again", svc)}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error", Err: err}
}
