package marketing

import (
	"net/http"
	"net/url"
	"time"

	"github.com/quantumlayer/qlp/internal/settings"
	"github.com/quantumlayer/qlp/internal/vocab"
)

// Config configures the marketing worker and its publisher.
type Config struct {
	// Tier answers the marketing calls.
	Tier string
	// MaxPieces bounds one campaign's pieces (and so its model calls).
	MaxPieces int
	// MaxParallel bounds the pieces one campaign writes at once.
	MaxParallel int
	// PublishInterval is how often the publisher's Temporal Schedule runs;
	// 0 turns it off.
	PublishInterval time.Duration
	// WebhookURL receives due pieces as signed JSON; WebhookSecret signs
	// them (HMAC-SHA256 in X-QLP-Signature).
	WebhookURL    string
	WebhookSecret string
	// SlackWebhookURL and DiscordWebhookURL are incoming webhooks that
	// receive due pieces.
	SlackWebhookURL   string
	DiscordWebhookURL string
}

// Defaults: T1, at most 40 pieces, 4 at once, the publisher every 15
// minutes, no adapter.
func Defaults() Config {
	return Config{Tier: "T1", MaxPieces: 40, MaxParallel: 4, PublishInterval: 15 * time.Minute}
}

// Settings binds the configuration to "marketing.*" keys and QLP_MARKETING_*.
func (c *Config) Settings() []settings.Setting {
	return []settings.Setting{
		{Key: "marketing.tier", Env: "QLP_MARKETING_TIER", Value: settings.String(&c.Tier),
			Help: "model tier (T0..T3) that writes campaigns: strategy, pieces and the optimisation pass"},
		{Key: "marketing.max_pieces", Env: "QLP_MARKETING_MAX_PIECES", Value: settings.Int(&c.MaxPieces),
			Help: "most pieces one campaign's calendar holds (each is at least one model call); a longer calendar is spread out to fit"},
		{Key: "marketing.max_parallel", Env: "QLP_MARKETING_MAX_PARALLEL", Value: settings.Int(&c.MaxParallel),
			Help: "pieces of one campaign written at once"},
		{Key: "marketing.publish.interval", Env: "QLP_MARKETING_PUBLISH_INTERVAL", Value: settings.Duration(&c.PublishInterval),
			Help: "how often the marketing worker's Temporal Schedule publishes due pieces; 0 turns the schedule off"},
		{Key: "marketing.publish.webhook_url", Env: "QLP_MARKETING_WEBHOOK_URL", Value: settings.String(&c.WebhookURL),
			Help: "URL that receives each due piece as JSON (POST, with an Idempotency-Key header)"},
		{Key: "marketing.publish.webhook_secret", Env: "QLP_MARKETING_WEBHOOK_SECRET", Secret: true, Value: settings.String(&c.WebhookSecret),
			Help: "secret of the webhook's HMAC-SHA256 signature of the body, sent as X-QLP-Signature: sha256=<hex>"},
		{Key: "marketing.publish.slack_webhook_url", Env: "QLP_MARKETING_SLACK_WEBHOOK_URL", Secret: true, Value: settings.String(&c.SlackWebhookURL),
			Help: "Slack incoming webhook that receives each due piece (the URL is a credential)"},
		{Key: "marketing.publish.discord_webhook_url", Env: "QLP_MARKETING_DISCORD_WEBHOOK_URL", Secret: true, Value: settings.String(&c.DiscordWebhookURL),
			Help: "Discord webhook that receives each due piece (the URL is a credential)"},
	}
}

// Validate checks the values.
func (c *Config) Validate() error {
	if !vocab.ValidTier(c.Tier) {
		return settings.Invalid(c.Settings(), "marketing.tier", "must be one of T0..T3, not %q", c.Tier)
	}
	if c.MaxPieces < 1 || c.MaxPieces > 500 {
		return settings.Invalid(c.Settings(), "marketing.max_pieces", "must be 1..500, not %d", c.MaxPieces)
	}
	if c.MaxParallel < 1 {
		return settings.Invalid(c.Settings(), "marketing.max_parallel", "must be at least 1, not %d", c.MaxParallel)
	}
	if c.PublishInterval < 0 || (c.PublishInterval > 0 && c.PublishInterval < time.Minute) {
		return settings.Invalid(c.Settings(), "marketing.publish.interval", "must be 0 (off) or at least 1m, not %s", c.PublishInterval)
	}
	for _, k := range []struct{ key, v string }{{"marketing.publish.webhook_url", c.WebhookURL},
		{"marketing.publish.slack_webhook_url", c.SlackWebhookURL}, {"marketing.publish.discord_webhook_url", c.DiscordWebhookURL}} {
		if k.v == "" {
			continue
		}
		if u, err := url.Parse(k.v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			// The value may be a credential: it is not repeated.
			return settings.Invalid(c.Settings(), k.key, "must be an http(s) URL")
		}
	}
	return nil
}

// Adapters are the configured publishing adapters.
func (c *Config) Adapters(client *http.Client) []Adapter {
	var out []Adapter
	if c.WebhookURL != "" {
		out = append(out, Webhook{URL: c.WebhookURL, Secret: c.WebhookSecret, Client: client})
	}
	if c.SlackWebhookURL != "" {
		out = append(out, Slack{URL: c.SlackWebhookURL, Client: client})
	}
	if c.DiscordWebhookURL != "" {
		out = append(out, Discord{URL: c.DiscordWebhookURL, Client: client})
	}
	return out
}
