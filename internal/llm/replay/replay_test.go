package replay_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/llm/openai"
	"github.com/quantumlayer/qlp/internal/llm/replay"
)

func req(text string) llm.Request {
	return llm.Request{Model: "gpt-4o-mini", Messages: []llm.Message{{Role: "system", Content: "QLP role: coder"}, {Role: "user", Content: text}},
		Meta: llm.Meta{Role: "coder", TaskID: "t1"}}
}

func TestRecordThenReplay(t *testing.T) {
	script := llmtest.NewScript(
		llmtest.Rule{Contains: "first", Replies: []llmtest.Reply{{Content: "answer one"}}},
		llmtest.Rule{Contains: "second", Replies: []llmtest.Reply{{Content: "answer two", Finish: "length"}}},
	)
	srv := llmtest.New(script.Handle)
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "c.jsonl")
	rec, err := replay.NewRecorder(openai.New(openai.Config{BaseURL: srv.URL}), path, replay.Header{Kind: "recorded", Description: "test"})
	require.NoError(t, err)
	_, err = rec.Chat(t.Context(), req("first"))
	require.NoError(t, err)
	_, err = rec.Stream(t.Context(), req("second"), nil)
	require.NoError(t, err)
	require.NoError(t, rec.Close())

	p, err := replay.Open(path)
	require.NoError(t, err)
	require.Equal(t, "recorded", p.Header().Kind)
	// A different model name must not matter.
	r := req("first")
	r.Model = "other-model"
	got, err := p.Chat(t.Context(), r)
	require.NoError(t, err)
	require.Equal(t, "answer one", got.Content)
	require.Equal(t, "gpt-4o-mini", got.Model, "the recorded model is reported")
	var streamed strings.Builder
	got, err = p.Stream(t.Context(), req("second"), func(c llm.Chunk) error { streamed.WriteString(c.Delta); return nil })
	require.NoError(t, err)
	require.Equal(t, "answer two", streamed.String())
	require.True(t, got.Truncated())
	require.Positive(t, got.Usage.InputTokens)
}

func TestMissingAnswerFailsLoudly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(`{"qlp_cassette":1,"kind":"scripted"}`+"\n"), 0o600))
	p, err := replay.Open(path)
	require.NoError(t, err)
	_, err = p.Chat(t.Context(), req("never recorded"))
	require.ErrorIs(t, err, llm.ErrNoAnswer)
	require.False(t, llm.Retryable(err), "retrying cannot help")
	require.Contains(t, err.Error(), "--record")
	require.Contains(t, err.Error(), `role "coder"`)
}

func TestRepeatedFingerprintsServeInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.jsonl")
	fp := replay.Fingerprint(req("x").Messages, false)
	body := `{"qlp_cassette":1,"kind":"scripted"}
{"fingerprint":"` + fp + `","request":{"messages":[]},"response":{"content":"one","finish_reason":"stop"}}
{"fingerprint":"` + fp + `","request":{"messages":[]},"response":{"content":"two","finish_reason":"stop"}}
`
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	p, err := replay.Open(path)
	require.NoError(t, err)
	for _, want := range []string{"one", "two", "two"} {
		got, err := p.Chat(t.Context(), req("x"))
		require.NoError(t, err)
		require.Equal(t, want, got.Content)
	}
}

func TestBadCassettes(t *testing.T) {
	for name, body := range map[string]string{
		"empty":     "",
		"no header": `{"fingerprint":"x","response":{"content":"a"}}` + "\n",
		"bad entry": `{"qlp_cassette":1}` + "\nnot json\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.jsonl")
			require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
			_, err := replay.Open(path)
			require.Error(t, err)
		})
	}
	_, err := replay.Open(filepath.Join(t.TempDir(), "missing.jsonl"))
	require.Error(t, err)
}
