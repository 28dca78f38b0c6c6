package app

import (
	"net/http"
	"time"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/config"
	"github.com/quantumlayer/qlp/internal/llm/openai"
	"github.com/quantumlayer/qlp/internal/policy"
)

// newPolicy builds the content policy's checker: the built-in rules, and
// OpenAI's moderation endpoint beside them when policy.moderation is
// openai (its URL and key default to the LLM provider's).
func newPolicy(cfg *config.Config) *policy.Checker {
	var mod policy.Moderator
	if cfg.Policy.Moderation == policy.ModerationOpenAI {
		base, key := cfg.Policy.ModerationBaseURL, cfg.Policy.ModerationAPIKey
		if base == "" {
			base = cfg.LLM.BaseURL
		}
		if key == "" {
			key = cfg.LLM.APIKey
		}
		client := openai.New(openai.Config{Name: "openai-moderation", BaseURL: base, APIKey: auth.Secret(key),
			HTTPClient: &http.Client{Timeout: 30 * time.Second}})
		mod = policy.NewOpenAIModerator(client, cfg.Policy.ModerationModel)
	}
	return policy.New(cfg.Policy, mod)
}
