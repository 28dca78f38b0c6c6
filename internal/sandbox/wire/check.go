package wire

import (
	"fmt"
	"strings"
)

// SpecError is an invalid spec: Field names the offending field the way the
// JSON request spells it (e.g. "files[3].path", "limits.memory_bytes").
type SpecError struct {
	Field   string
	Message string
}

// Error implements error.
func (e *SpecError) Error() string { return "sandbox: invalid spec: " + e.Field + ": " + e.Message }

func specErr(field, format string, args ...any) *SpecError {
	return &SpecError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// maxPathLen bounds every path of a spec.
const maxPathLen = 512

// CheckRelPath accepts clean, relative, slash-separated paths that stay
// inside the work directory; field names the path in the *SpecError it
// returns otherwise. The service checks every path of a spec with it, the
// helper again before it writes a file, and the service once more for
// every file the helper sends back.
func CheckRelPath(field, p string) error {
	switch {
	case p == "":
		return specErr(field, "must not be empty")
	case len(p) > maxPathLen:
		return specErr(field, "longer than %d bytes", maxPathLen)
	case strings.ContainsAny(p, "\x00\\"):
		return specErr(field, "must not contain NUL or backslash")
	case strings.HasPrefix(p, "/"):
		return specErr(field, "must be relative, got absolute path %q", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return specErr(field, "must stay inside the work directory, got %q", p)
		}
		if part == "" || part == "." {
			return specErr(field, "must be a clean path, got %q", p)
		}
	}
	return nil
}
