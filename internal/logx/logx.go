// Package logx builds the process's one slog.Logger: JSON by default, text
// when stderr is a terminal, with a level taken from configuration.
package logx

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Format names accepted by New.
const (
	FormatAuto = "auto"
	FormatJSON = "json"
	FormatText = "text"
)

// ParseLevel turns "debug|info|warn|error" into a slog level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(strings.TrimSpace(s)))); err != nil {
		return 0, fmt.Errorf("unknown log level %q (want debug, info, warn or error)", s)
	}
	return l, nil
}

// New returns a logger writing to w. With FormatAuto it writes text when w is
// a terminal and JSON otherwise. A record logged with a context that holds a
// span carries its trace_id and span_id (see [WithTrace]).
func New(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == FormatAuto || format == "" {
		format = FormatJSON
		if IsTerminal(w) {
			format = FormatText
		}
	}
	if format == FormatText {
		return slog.New(WithTrace(slog.NewTextHandler(w, opts)))
	}
	return slog.New(WithTrace(slog.NewJSONHandler(w, opts)))
}

// IsTerminal reports whether w is a character device such as a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	return st.Mode()&os.ModeCharDevice != 0
}

// Discard is a logger that drops everything, for tests and quiet commands.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
