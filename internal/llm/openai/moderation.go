package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/quantumlayer/qlp/internal/llm"
)

// ModerationResult is the moderation endpoint's verdict on one input:
// whether it is flagged, each category's flag, and each category's score
// (0..1). Category names are OpenAI's: "harassment",
// "harassment/threatening", "hate", "hate/threatening", "illicit",
// "illicit/violent", "self-harm", "self-harm/intent",
// "self-harm/instructions", "sexual", "sexual/minors", "violence",
// "violence/graphic".
type ModerationResult struct {
	Flagged        bool               `json:"flagged"`
	Categories     map[string]bool    `json:"categories"`
	CategoryScores map[string]float64 `json:"category_scores"`
}

// Moderation is the answer of POST /v1/moderations.
type Moderation struct {
	ID      string             `json:"id"`
	Model   string             `json:"model"`
	Results []ModerationResult `json:"results"`
}

type moderationRequest struct {
	Model string `json:"model,omitempty"`
	Input string `json:"input"`
}

// Moderate classifies input with OpenAI's moderation endpoint
// (POST {BaseURL}/moderations). Moderation calls are free, so they are not
// metered.
func (c *Client) Moderate(ctx context.Context, model, input string) (*Moderation, error) {
	b, err := json.Marshal(moderationRequest{Model: model, Input: input})
	if err != nil {
		return nil, fmt.Errorf("llm: %s: encode moderation request: %w", c.name, err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+"/moderations", bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("llm: %s: %w", c.name, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	switch {
	case c.apiKey == "":
	case c.keyHeader != "":
		hreq.Header.Set(c.keyHeader, c.apiKey.Reveal())
	default:
		hreq.Header.Set("Authorization", "Bearer "+c.apiKey.Reveal())
	}
	resp, err := llm.Do(ctx, c.hc, c.name, hreq, c.statusError)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, llm.TransportError(ctx, c.name, err)
	}
	var m Moderation
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("llm: %s: moderation answer is not JSON: %w", c.name, err)
	}
	if len(m.Results) != 1 {
		return nil, fmt.Errorf("llm: %s: moderation answer has %d results for one input", c.name, len(m.Results))
	}
	return &m, nil
}
