package topology

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/quantumlayer/qlp/internal/llm/llmtest"
)

// switchboard answers model calls for many jobs at once: each job's calls
// carry its marker (in the request and in its task's description) and go
// to that job's script.
type switchboard struct {
	mu   sync.Mutex
	jobs map[string]*Job
}

func newSwitchboard() *switchboard { return &switchboard{jobs: map[string]*Job{}} }

func (s *switchboard) handle(c llmtest.Call) llmtest.Reply {
	prompt := c.Prompt()
	s.mu.Lock()
	var j *Job
	for marker, candidate := range s.jobs {
		if strings.Contains(prompt, marker) {
			j = candidate
			break
		}
	}
	s.mu.Unlock()
	if j == nil {
		return llmtest.Reply{Status: 400, Body: `{"error":{"message":"topology: a call of no known job","type":"invalid_request_error"}}`}
	}
	j.mu.Lock()
	j.roles[c.Role]++
	j.mu.Unlock()
	if j.hook != nil {
		j.hook(c)
	}
	return j.script.Handle(c)
}

// Job is one scripted job: a small Python module and its pytest tests.
type Job struct {
	// Marker is in every prompt of the job, and only in its prompts.
	Marker string
	script *llmtest.Script
	// hook, when set, runs before each of the job's calls is answered; it
	// may block (the call's request stays open meanwhile).
	hook func(c llmtest.Call)

	mu    sync.Mutex
	roles map[string]int // calls made, by role
}

// Calls is how many calls of role the job made.
func (j *Job) Calls(role string) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.roles[role]
}

var jobSeq atomic.Int64

// wordstats is the module; each job's differs in its docstring, so that
// the Validation Mesh validates every job's code for real instead of
// answering from its cache.
const wordstats = `"""Word statistics, MARKER."""


def word_count(text: str) -> int:
    """Return the number of whitespace-separated words in text."""
    return len(text.split())
`

const wordstatsTests = `from wordstats import word_count


def test_empty() -> None:
    assert word_count("") == 0


def test_words() -> None:
    assert word_count("a b  c\nd") == 4
`

// NewJob registers a job on the switchboard. With repair, the coder's
// first answer fails a test and the fixer's answer passes.
func (tp *Topology) NewJob(repair bool) *Job {
	marker := fmt.Sprintf("[topology job %d]", jobSeq.Add(1))
	desc := "word_count(text) returns the number of whitespace-separated words in text (" + marker + ")."
	plan := llmtest.JSON(map[string]any{
		"project": map[string]any{"name": "wordstats", "language": "python",
			"description": "A tiny Python library: one function with its pytest tests (" + marker + ").",
			"layout":      "flat: wordstats.py and test_wordstats.py at the root",
			"commands":    map[string]string{"test": "python3 -m pytest -q", "run": "python3 -m pytest -q"}},
		"tasks": []map[string]any{{"id": "t1", "type": "code_generation", "description": desc, "complexity": "simple",
			"dependencies": []string{}, "files": []string{"wordstats.py", "test_wordstats.py"}}},
	})
	files := func(code string) string {
		return llmtest.JSON(map[string]any{"summary": "word_count with its tests", "files": []map[string]string{
			{"path": "wordstats.py", "content": code}, {"path": "test_wordstats.py", "content": wordstatsTests}}})
	}
	module := strings.Replace(wordstats, "MARKER", marker, 1)
	first := module
	if repair {
		first = strings.Replace(module, "text.split()", `text.split(" ")`, 1) // "" is one word: test_empty fails
	}
	rules := []llmtest.Rule{
		{Role: "decomposer", Replies: []llmtest.Reply{{Content: plan}}},
		{Role: "coder", TaskID: "t1", Replies: []llmtest.Reply{{Content: files(first)}}},
		{Role: "fixer", TaskID: "t1", Replies: []llmtest.Reply{{Content: llmtest.JSON(map[string]any{
			"summary": "an empty text has no words", "files": []map[string]string{{"path": "wordstats.py", "content": module}}})}}},
	}
	j := &Job{Marker: marker, script: llmtest.NewScript(rules...), roles: map[string]int{}}
	tp.script.mu.Lock()
	tp.script.jobs[marker] = j
	tp.script.mu.Unlock()
	return j
}

// Request is the job's request text.
func (j *Job) Request() string {
	return "A Python library with word_count(text), with pytest tests. " + j.Marker
}

// Gate makes the job's calls of role wait until the returned release is
// called; started receives once when the first such call arrives.
func (j *Job) Gate(role string) (started <-chan struct{}, release func()) {
	s := make(chan struct{}, 1)
	r := make(chan struct{})
	var once sync.Once
	j.hook = func(c llmtest.Call) {
		if c.Role != role {
			return
		}
		select {
		case s <- struct{}{}:
		default:
		}
		<-r
	}
	return s, func() { once.Do(func() { close(r) }) }
}
