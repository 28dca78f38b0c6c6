package policy

import (
	"context"
	"sort"

	"github.com/quantumlayer/qlp/internal/llm/openai"
)

// OpenAIModerator is a [Moderator] over OpenAI's moderation endpoint
// (POST /v1/moderations), reached through the provider layer's client.
type OpenAIModerator struct {
	client *openai.Client
	model  string
}

// NewOpenAIModerator returns a moderator that asks model through client.
func NewOpenAIModerator(client *openai.Client, model string) *OpenAIModerator {
	return &OpenAIModerator{client: client, model: model}
}

// Name implements Moderator.
func (m *OpenAIModerator) Name() string { return "openai-moderation" }

// openAICategories maps OpenAI's categories onto the policy's, with the
// severity a flag carries. The sub-categories that name intent, threats,
// instructions or minors are more severe than their parents.
var openAICategories = map[string]struct {
	category Category
	severity Severity
}{
	"hate":                   {Hate, High},
	"hate/threatening":       {Hate, Critical},
	"harassment":             {Abuse, Medium},
	"harassment/threatening": {Abuse, High},
	"self-harm":              {SelfHarm, High},
	"self-harm/intent":       {SelfHarm, High},
	"self-harm/instructions": {SelfHarm, Critical},
	"sexual":                 {Sexual, Medium},
	"sexual/minors":          {Sexual, Critical},
	"violence":               {Violence, Medium},
	"violence/graphic":       {Violence, High},
	"illicit":                {Malware, Medium},
	"illicit/violent":        {Violence, High},
}

// Moderate implements Moderator: one finding per category OpenAI flags,
// its confidence OpenAI's score. Categories OpenAI adds later and the
// policy does not know are left out rather than guessed at.
func (m *OpenAIModerator) Moderate(ctx context.Context, text string) ([]Finding, error) {
	res, err := m.client.Moderate(ctx, m.model, text)
	if err != nil {
		return nil, err
	}
	r := res.Results[0]
	names := make([]string, 0, len(r.Categories))
	for name, flagged := range r.Categories {
		if flagged {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var out []Finding
	for _, name := range names {
		c, ok := openAICategories[name]
		if !ok {
			continue
		}
		out = append(out, Finding{Category: c.category, Severity: c.severity, Source: m.Name(), Rule: name, Confidence: r.CategoryScores[name]})
	}
	return out, nil
}
