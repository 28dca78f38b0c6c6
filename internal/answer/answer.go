// Package answer reads what a model wrote: the JSON object QLP asked for,
// even when it is wrapped in prose or a Markdown fence, and the set of
// files a coding answer holds, with every path checked. Both the workflow
// and the agents service parse answers with it.
package answer

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/domain"
)

// Answer is a coding answer: a set of files and a one-line summary.
type Answer struct {
	Summary string        `json:"summary"`
	Files   []domain.File `json:"files"`
}

// fenceRe matches ``` fences; group 1 is the info string, group 2 the body.
var fenceRe = regexp.MustCompile("(?s)```([^\\n`]*)\\n(.*?)\\n?```")

// pathHintRe finds a file path announced just before a fence:
// "File: main.go", "### `main.go`", "**main.go**", "main.go:".
var pathHintRe = regexp.MustCompile("(?im)^(?:#+\\s*|\\*\\*|(?:file|path)\\s*:\\s*)?`?([A-Za-z0-9_./+@-]+\\.[A-Za-z0-9]+|Makefile|Dockerfile)`?(?:\\*\\*)?:?\\s*$")

// infoPathRe finds a path in a fence's info string: "go path=main.go",
// "go title=main.go", "main.go", "go main.go".
var infoPathRe = regexp.MustCompile(`(?:path|file|title|filename)=["']?([^\s"']+)|(?:^|\s)([A-Za-z0-9_./+@-]+\.[A-Za-z0-9]+)$`)

// Parse reads the files out of a model's answer. It accepts the JSON
// object QLP asks for ({"summary","files":[{"path","content"}]}), possibly
// wrapped in prose or a fence, and falls back to fenced blocks labelled with
// their paths. Every path is checked; an answer without files is an error.
func Parse(text string) (*Answer, error) {
	if raw, err := JSONObject(text); err == nil {
		var a Answer
		if json.Unmarshal([]byte(raw), &a) == nil && len(a.Files) > 0 {
			return checkAnswer(&a)
		}
	}
	a := &Answer{}
	matches := fenceRe.FindAllStringSubmatchIndex(text, -1)
	prev := 0
	for _, m := range matches {
		info := strings.TrimSpace(text[m[2]:m[3]])
		body := text[m[4]:m[5]]
		p := ""
		if im := infoPathRe.FindStringSubmatch(info); im != nil {
			p = im[1] + im[2]
		}
		if p == "" {
			// Look at the last non-empty line before the fence.
			before := strings.TrimRight(text[prev:m[0]], " \t\n")
			if i := strings.LastIndex(before, "\n"); i >= 0 {
				before = before[i+1:]
			}
			if hm := pathHintRe.FindStringSubmatch(strings.TrimSpace(before)); hm != nil {
				p = hm[1]
			}
		}
		prev = m[1]
		if p == "" {
			continue // an example or a shell snippet, not a file
		}
		a.Files = append(a.Files, domain.File{Path: strings.TrimPrefix(p, "./"), Content: body + "\n"})
	}
	if len(a.Files) == 0 {
		return nil, fmt.Errorf("the answer contains no files: reply with a JSON object {\"summary\": \"...\", \"files\": [{\"path\": \"...\", \"content\": \"...\"}]}")
	}
	return checkAnswer(a)
}

func checkAnswer(a *Answer) (*Answer, error) {
	seen := map[string]int{}
	var out []domain.File
	for _, f := range a.Files {
		f.Path = strings.TrimPrefix(strings.TrimSpace(f.Path), "./")
		if err := capsule.CheckPath(f.Path); err != nil {
			return nil, fmt.Errorf("file path rejected: %w", err)
		}
		if strings.ContainsRune(f.Content, 0) {
			return nil, fmt.Errorf("file %s contains a NUL byte: only text files are accepted", f.Path)
		}
		// Files travel and are stored as JSON, which would silently turn
		// invalid UTF-8 into U+FFFD: the stored file would not be the one
		// validated. A fenced answer can carry such bytes; JSON cannot.
		if !utf8.ValidString(f.Content) {
			return nil, fmt.Errorf("file %s is not valid UTF-8: only text files are accepted", f.Path)
		}
		if len(f.Content) > capsule.MaxFileBytes {
			return nil, fmt.Errorf("file %s is %d bytes, over the %d limit", f.Path, len(f.Content), capsule.MaxFileBytes)
		}
		f.Content = stripOuterFence(f.Content)
		if i, dup := seen[f.Path]; dup {
			out[i] = f // the later version of a file wins
			continue
		}
		seen[f.Path] = len(out)
		out = append(out, f)
	}
	a.Files = out
	a.Summary = strings.TrimSpace(a.Summary)
	return a, nil
}

// stripOuterFence removes a Markdown fence a model left around a file's
// content inside JSON: fences in a .go file do not compile.
func stripOuterFence(s string) string {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "```") || !strings.HasSuffix(t, "```") || len(t) < 6 {
		return s
	}
	nl := strings.IndexByte(t, '\n')
	if nl < 0 {
		return s
	}
	return strings.TrimSpace(t[nl+1:len(t)-3]) + "\n"
}

// JSONObject finds the JSON object in an answer that may wrap it in
// prose or a Markdown fence.
func JSONObject(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") && json.Valid([]byte(s)) {
		return s, nil
	}
	// A fenced block first: models often explain before and after.
	for _, m := range fenceRe.FindAllStringSubmatch(s, -1) {
		body := strings.TrimSpace(m[2])
		if strings.HasPrefix(body, "{") && json.Valid([]byte(body)) {
			return body, nil
		}
	}
	start := strings.Index(s, "{")
	if start < 0 {
		return "", fmt.Errorf("the answer contains no JSON object")
	}
	dec := json.NewDecoder(strings.NewReader(s[start:]))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("the answer is not valid JSON: %v", err)
	}
	return string(v), nil
}
