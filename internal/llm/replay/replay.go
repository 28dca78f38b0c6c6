// Package replay answers chat requests from a cassette: a JSONL file whose
// first line is a header and whose other lines map a request fingerprint to
// a recorded response. A request the cassette has no answer for fails
// loudly. [Recorder] wraps a real provider and writes such a file.
//
// The fingerprint covers the messages and the JSON flag, not the model name
// or temperature, so a cassette replays under any tier configuration.
package replay

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/quantumlayer/qlp/internal/llm"
)

// Header is the first line of a cassette.
type Header struct {
	// Cassette is the format version, 1.
	Cassette int `json:"qlp_cassette"`
	// Kind is "recorded" (a real model answered) or "scripted" (the answers
	// were written by people; no model ran).
	Kind        string `json:"kind"`
	Description string `json:"description,omitempty"`
	CreatedAt   string `json:"created_at,omitempty"`
}

// Entry is one recorded exchange.
type Entry struct {
	Fingerprint string         `json:"fingerprint"`
	Request     RecordedPrompt `json:"request"`
	Response    RecordedAnswer `json:"response"`
}

// RecordedPrompt keeps enough of the request to read and to re-fingerprint.
type RecordedPrompt struct {
	Role     string        `json:"role,omitempty"` // decomposer, coder, … (for readers)
	TaskID   string        `json:"task_id,omitempty"`
	Messages []llm.Message `json:"messages"`
	JSON     bool          `json:"json,omitempty"`
}

// RecordedAnswer is the response as it came back.
type RecordedAnswer struct {
	Content      string    `json:"content"`
	FinishReason string    `json:"finish_reason"`
	Model        string    `json:"model"`
	Usage        llm.Usage `json:"usage"`
}

// Fingerprint identifies a request independently of model and temperature.
func Fingerprint(msgs []llm.Message, jsonMode bool) string {
	b, _ := json.Marshal(struct {
		Messages []llm.Message `json:"messages"`
		JSON     bool          `json:"json"`
	}{msgs, jsonMode})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Provider serves a cassette. Several entries with the same fingerprint are
// served in order; the last one then repeats.
type Provider struct {
	path    string
	header  Header
	mu      sync.Mutex
	answers map[string][]RecordedAnswer
	served  map[string]int
	total   int
}

var _ llm.Provider = (*Provider)(nil)

// Open reads a cassette.
func Open(path string) (*Provider, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay: open cassette: %w", err)
	}
	defer f.Close()
	p := &Provider{path: path, answers: map[string][]RecordedAnswer{}, served: map[string]int{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		if line == 1 {
			if err := json.Unmarshal([]byte(text), &p.header); err != nil || p.header.Cassette != 1 {
				return nil, fmt.Errorf("replay: %s: first line must be a cassette header {\"qlp_cassette\":1,...}", path)
			}
			continue
		}
		var e Entry
		if err := json.Unmarshal([]byte(text), &e); err != nil {
			return nil, fmt.Errorf("replay: %s line %d: %w", path, line, err)
		}
		if e.Fingerprint == "" {
			e.Fingerprint = Fingerprint(e.Request.Messages, e.Request.JSON)
		}
		p.answers[e.Fingerprint] = append(p.answers[e.Fingerprint], e.Response)
		p.total++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("replay: read %s: %w", path, err)
	}
	if line == 0 {
		return nil, fmt.Errorf("replay: %s is empty", path)
	}
	return p, nil
}

// Header returns the cassette's header.
func (p *Provider) Header() Header { return p.header }

// Name implements llm.Provider.
func (p *Provider) Name() string { return "replay" }

// Chat implements llm.Provider.
func (p *Provider) Chat(ctx context.Context, req llm.Request) (*llm.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := time.Now()
	fp := Fingerprint(req.Messages, req.JSON)
	p.mu.Lock()
	list := p.answers[fp]
	n := p.served[fp]
	if len(list) > 0 {
		p.served[fp] = n + 1
	}
	p.mu.Unlock()
	if len(list) == 0 {
		return nil, &llm.Error{Kind: llm.KindNoAnswer, Provider: "replay", Message: fmt.Sprintf(
			"cassette %s has no answer for this request (fingerprint %s, role %q, task %q; %d answers recorded): the prompts changed since it was recorded, so record it again with --record",
			p.path, fp[:12], req.Meta.Role, req.Meta.TaskID, p.total)}
	}
	if n >= len(list) {
		n = len(list) - 1
	}
	a := list[n]
	model := a.Model
	if model == "" {
		model = req.Model
	}
	return &llm.Response{Content: a.Content, FinishReason: a.FinishReason, Model: model, Provider: "replay", Usage: a.Usage, Latency: time.Since(start)}, nil
}

// Stream implements llm.Provider by replaying the answer in pieces.
func (p *Provider) Stream(ctx context.Context, req llm.Request, fn func(llm.Chunk) error) (*llm.Response, error) {
	resp, err := p.Chat(ctx, req)
	if err != nil {
		return nil, err
	}
	if fn != nil {
		const piece = 256
		for s := resp.Content; s != ""; {
			n := min(piece, len(s))
			if err := fn(llm.Chunk{Delta: s[:n]}); err != nil {
				return nil, err
			}
			s = s[n:]
		}
	}
	return resp, nil
}

// Recorder wraps a provider and appends every exchange to a cassette.
type Recorder struct {
	inner llm.Provider
	tape  *Recorder // the Recorder that owns the file, for Wrap's views
	mu    sync.Mutex
	f     *os.File
}

var _ llm.Provider = (*Recorder)(nil)

// NewRecorder creates (truncating) the cassette at path and writes its
// header.
func NewRecorder(inner llm.Provider, path string, h Header) (*Recorder, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("replay: create cassette: %w", err)
	}
	h.Cassette = 1
	if h.Kind == "" {
		h.Kind = "recorded"
	}
	if h.CreatedAt == "" {
		h.CreatedAt = time.Now().UTC().Format(time.RFC3339)
	}
	b, _ := json.Marshal(h)
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return nil, fmt.Errorf("replay: write cassette header: %w", err)
	}
	return &Recorder{inner: inner, f: f}, nil
}

// NewTape creates a cassette that several providers record into through
// [Recorder.Wrap].
func NewTape(path string, h Header) (*Recorder, error) { return NewRecorder(nil, path, h) }

// Wrap returns inner recording its exchanges into r's cassette.
func (r *Recorder) Wrap(inner llm.Provider) llm.Provider { return &Recorder{inner: inner, tape: r} }

// Name implements llm.Provider: usage is priced as the wrapped provider's.
func (r *Recorder) Name() string { return r.inner.Name() }

// Chat implements llm.Provider.
func (r *Recorder) Chat(ctx context.Context, req llm.Request) (*llm.Response, error) {
	resp, err := r.inner.Chat(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp, r.write(req, resp)
}

// Stream implements llm.Provider.
func (r *Recorder) Stream(ctx context.Context, req llm.Request, fn func(llm.Chunk) error) (*llm.Response, error) {
	resp, err := r.inner.Stream(ctx, req, fn)
	if err != nil {
		return nil, err
	}
	return resp, r.write(req, resp)
}

func (r *Recorder) write(req llm.Request, resp *llm.Response) error {
	e := Entry{
		Fingerprint: Fingerprint(req.Messages, req.JSON),
		Request:     RecordedPrompt{Role: req.Meta.Role, TaskID: req.Meta.TaskID, Messages: req.Messages, JSON: req.JSON},
		Response:    RecordedAnswer{Content: resp.Content, FinishReason: resp.FinishReason, Model: resp.Model, Usage: resp.Usage},
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("replay: encode entry: %w", err)
	}
	if r.tape != nil {
		r = r.tape
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("replay: write cassette: %w", err)
	}
	return nil
}

// Close flushes and closes the cassette.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.f.Sync(); err != nil {
		r.f.Close()
		return err
	}
	return r.f.Close()
}
