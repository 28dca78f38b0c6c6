// Package answer reads what a model wrote: the JSON object QLP asked for,
// even when it is wrapped in prose or a Markdown fence, and the set of
// files a coding answer holds, with every path checked. Both the workflow
// and the agents service parse answers with it.
package answer

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/domain"
)

// Answer is a coding answer: a set of files to write, the paths of files
// to delete, and a one-line summary.
type Answer struct {
	Summary string        `json:"summary"`
	Files   []domain.File `json:"files"`
	// Deleted are the files the answer removes: entries of the JSON files
	// list with "delete": true. Only the JSON form can delete; fenced
	// blocks and prose never do, because a sentence that mentions removing
	// a file is not an instruction to remove it.
	Deleted []string `json:"deleted,omitempty"`
}

// entry is one element of the JSON answer's files list: a file to write
// ({"path", "content"}) or a file to delete ({"path", "delete": true}).
type entry struct {
	Path    string `json:"path"`
	Content string `json:"content"`
	Delete  bool   `json:"delete"`
}

// jsonAnswer is the JSON object QLP asks for.
type jsonAnswer struct {
	Summary string  `json:"summary"`
	Files   []entry `json:"files"`
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
// object QLP asks for ({"summary","files":[{"path","content"}]}, where an
// entry {"path", "delete": true} removes a file), possibly wrapped in prose
// or a fence, and falls back to fenced blocks labelled with their paths.
// Every path is checked, a deleted one too; an answer that neither writes
// nor deletes a file is an error. Whether a deleted file exists is for
// Apply to say: Parse does not know the task's files.
func Parse(text string) (*Answer, error) {
	if raw, err := JSONObject(text); err == nil {
		var ja jsonAnswer
		if json.Unmarshal([]byte(raw), &ja) == nil && len(ja.Files) > 0 {
			a := &Answer{Summary: ja.Summary}
			for _, e := range ja.Files {
				if !e.Delete {
					a.Files = append(a.Files, domain.File{Path: e.Path, Content: e.Content})
					continue
				}
				p := strings.TrimPrefix(strings.TrimSpace(e.Path), "./")
				if strings.TrimSpace(e.Content) != "" {
					return nil, fmt.Errorf("the entry for %s has \"delete\": true and content: give either the whole file (to write it) or \"delete\": true without content (to remove it)", p)
				}
				a.Deleted = append(a.Deleted, p)
			}
			return checkAnswer(a)
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
	deleted := map[string]bool{}
	var dels []string
	for _, p := range a.Deleted {
		if err := capsule.CheckPath(p); err != nil {
			return nil, fmt.Errorf("path to delete rejected: %w", err)
		}
		if _, written := seen[p]; written {
			return nil, fmt.Errorf("%s is both written and deleted in the answer: keep one of the two entries", p)
		}
		if !deleted[p] {
			deleted[p] = true
			dels = append(dels, p)
		}
	}
	a.Deleted = dels
	a.Summary = strings.TrimSpace(a.Summary)
	return a, nil
}

// Apply lays the answer over a task's current files: the files it writes
// replace or join them, the files it deletes leave. Only a file among
// current can be deleted, so an answer cannot remove what the task does
// not hold (another task's file, a file never written); and an answer
// that would leave no file at all is refused. The result is sorted by
// path.
func (a *Answer) Apply(current []domain.File) ([]domain.File, error) {
	byPath := make(map[string]domain.File, len(current)+len(a.Files))
	for _, f := range current {
		byPath[f.Path] = f
	}
	for _, p := range a.Deleted {
		if _, ok := byPath[p]; !ok {
			return nil, fmt.Errorf("cannot delete %s: it is not one of this task's files (%s); only a file the task wrote can be deleted", p, pathList(current))
		}
		delete(byPath, p)
	}
	for _, f := range a.Files {
		byPath[f.Path] = f
	}
	if len(byPath) == 0 {
		return nil, fmt.Errorf("the answer deletes every file of the task (%s): a task must keep at least one file", strings.Join(a.Deleted, ", "))
	}
	out := make([]domain.File, 0, len(byPath))
	for _, f := range byPath {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// WritesOnly refuses an answer that deletes files: for an answer that
// writes a task afresh there is nothing to delete.
func (a *Answer) WritesOnly() error {
	if len(a.Deleted) > 0 {
		return fmt.Errorf("the answer deletes %s, but this answer writes the task afresh and there are no files to delete yet: leave the file out instead", strings.Join(a.Deleted, ", "))
	}
	return nil
}

func pathList(fs []domain.File) string {
	if len(fs) == 0 {
		return "it has none yet"
	}
	ps := make([]string, len(fs))
	for i, f := range fs {
		ps[i] = f.Path
	}
	return strings.Join(ps, ", ")
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
