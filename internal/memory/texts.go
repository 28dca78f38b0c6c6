package memory

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/quantumlayer/qlp/internal/memory/vector"
)

// Limits of what is embedded and kept per entry.
const (
	// maxEmbedChars bounds the text sent to the embedder (about 4k tokens,
	// inside every supported model's input limit).
	maxEmbedChars = 16000
	// maxCodeBytes bounds the code kept in a pattern's payload.
	maxCodeBytes = 32 << 10
	defaultLimit = 5
	maxLimit     = 50
)

var idSpace = uuid.MustParse("0c5e4b47-3f0e-4b8e-9d8a-5f3c2a9e7d11")

// entryID is the stable id of an entry made from its natural key, so that
// writing the same thing twice replaces it.
func entryID(parts ...string) string {
	return uuid.NewSHA1(idSpace, []byte(strings.Join(parts, "\x00"))).String()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n]
}

// codeText is what a code pattern is embedded as: what it is for, where it
// lives and the code itself.
func codeText(description, path, code string) string {
	return clip(strings.TrimSpace(description+"\n"+path+"\n"+code), maxEmbedChars)
}

// outcomeText is what a task outcome is embedded as.
func outcomeText(description, taskType, complexity string) string {
	if strings.TrimSpace(description) != "" {
		return clip(description, maxEmbedChars)
	}
	return taskType + " " + complexity + " task"
}

var (
	reAbsPath = regexp.MustCompile(`(?:[A-Za-z]:)?(?:/[\w.\-]+)+/([\w.\-]+)`)
	reHex     = regexp.MustCompile(`0x[0-9a-fA-F]+`)
	reNumber  = regexp.MustCompile(`\d+`)
	reFileLoc = regexp.MustCompile(`[\w.\-]+\.[A-Za-z]{1,5}:N(:N)?`)
	reSpace   = regexp.MustCompile(`\s+`)
)

// normalizeError strips what differs between two occurrences of the same
// error: file locations, addresses, numbers, spacing.
func normalizeError(e string) string {
	e = reAbsPath.ReplaceAllString(e, "$1")
	e = reHex.ReplaceAllString(e, "0x")
	e = reNumber.ReplaceAllString(e, "N")
	e = reFileLoc.ReplaceAllString(e, "FILE:N")
	e = reSpace.ReplaceAllString(e, " ")
	return clip(strings.TrimSpace(e), maxEmbedChars)
}

// textOf rebuilds the embedded text of a stored entry (for Reindex).
func textOf(collection string, p map[string]any) string {
	str := func(k string) string { s, _ := p[k].(string); return s }
	switch collection {
	case vector.CodePatterns:
		return codeText(str("description"), str("path"), str("code"))
	case vector.AgentDecisions:
		return outcomeText(str("description"), str("task_type"), str("complexity"))
	case vector.ErrorPatterns:
		return normalizeError(str("error"))
	default:
		return clip(str("description"), maxEmbedChars)
	}
}

// checkText validates a required text field.
func (s *Service) checkText(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return fieldErr(field, "must not be empty")
	}
	if int64(len(v)) > s.cfg.MaxTextBytes {
		return fieldErr(field, "is %d bytes, more than the limit of %d", len(v), s.cfg.MaxTextBytes)
	}
	return nil
}

// checkOptional validates an optional short field.
func checkShort(field, v string) error {
	if len(v) > 512 {
		return fieldErr(field, "is %d bytes, more than the limit of 512", len(v))
	}
	return nil
}

func limit(n int) (int, error) {
	switch {
	case n == 0:
		return defaultLimit, nil
	case n < 0 || n > maxLimit:
		return 0, fieldErr("limit", "must be between 1 and %d", maxLimit)
	}
	return n, nil
}

func threshold(field string, override, def float64) (float32, error) {
	if override < 0 || override > 1 {
		return 0, fieldErr(field, "must be between 0 and 1")
	}
	if override > 0 {
		return float32(override), nil
	}
	return float32(def), nil
}

func oneOf(field, v string, allowed []string) error {
	if !slices.Contains(allowed, v) {
		return fieldErr(field, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
	return nil
}

func languageOf(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".go":
		return "go"
	case ".py":
		return "python"
	case ".js", ".mjs", ".cjs", ".jsx":
		return "javascript"
	case ".ts", ".tsx":
		return "typescript"
	case ".rs":
		return "rust"
	case ".java":
		return "java"
	case ".rb":
		return "ruby"
	case ".sh":
		return "shell"
	case ".sql":
		return "sql"
	}
	return ""
}

func str(p map[string]any, k string) string { s, _ := p[k].(string); return s }
func num(p map[string]any, k string) float64 {
	f, _ := p[k].(float64)
	return f
}
func boolean(p map[string]any, k string) bool { b, _ := p[k].(bool); return b }

func fmtScore(f float32) float64 {
	// Scores travel as float64 with 4 decimals, enough and stable in JSON.
	return float64(int64(float64(f)*10000+0.5)) / 10000
}
