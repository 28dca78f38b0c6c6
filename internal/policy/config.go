package policy

import (
	"fmt"

	"github.com/quantumlayer/qlp/internal/settings"
)

// Output actions: what a generated file that breaks the policy does to its
// task.
const (
	// OutputFail fails the task with the policy's reason.
	OutputFail = "fail"
	// OutputReview sends the task to a person's review instead.
	OutputReview = "review"
)

// Moderation providers.
const (
	ModerationNone   = "none"
	ModerationOpenAI = "openai"
)

// Config is the server's content policy, under "policy." and QLP_POLICY_*.
type Config struct {
	// Enabled turns the policy on for requests and outputs.
	Enabled bool
	// RequestThreshold is the severity at which a request is refused.
	RequestThreshold Severity
	// OutputThreshold is the severity at which a generated file breaks
	// the policy.
	OutputThreshold Severity
	// OutputAction is OutputFail or OutputReview.
	OutputAction string
	// Moderation is the moderation provider beside the rules: none or
	// openai.
	Moderation string
	// ModerationModel is the provider's model (OpenAI: omni-moderation-latest).
	ModerationModel string
	// ModerationBaseURL and ModerationAPIKey reach the provider; empty
	// means the LLM provider's (llm.base_url, llm.api_key).
	ModerationBaseURL string
	ModerationAPIKey  string
	// FailOpen goes on with the rules alone when the provider fails;
	// false refuses (requests answer 503, outputs fail the attempt).
	FailOpen bool

	// Names of the threshold settings as text, bound by Settings.
	requestThreshold, outputThreshold string
}

// Defaults returns the policy used when nothing is set: on, blocking high
// and critical findings, failing tasks whose output breaks it, rules only.
func Defaults() Config {
	return Config{Enabled: true, RequestThreshold: High, OutputThreshold: High, OutputAction: OutputFail,
		Moderation: ModerationNone, ModerationModel: "omni-moderation-latest",
		requestThreshold: "high", outputThreshold: "high"}
}

// Settings binds the configuration to YAML keys under "policy." and to
// QLP_POLICY_* environment variables.
func (c *Config) Settings() []settings.Setting {
	return []settings.Setting{
		{Key: "policy.enabled", Env: "QLP_POLICY_ENABLED", Help: "check requests and generated files against the content policy", Value: settings.Bool(&c.Enabled)},
		{Key: "policy.request_threshold", Env: "QLP_POLICY_REQUEST_THRESHOLD", Help: "severity at which a request is refused: low, medium, high or critical", Value: settings.String(&c.requestThreshold)},
		{Key: "policy.output_threshold", Env: "QLP_POLICY_OUTPUT_THRESHOLD", Help: "severity at which a generated file breaks the policy: low, medium, high or critical", Value: settings.String(&c.outputThreshold)},
		{Key: "policy.output_action", Env: "QLP_POLICY_OUTPUT_ACTION", Help: "what a generated file that breaks the policy does: fail (the task fails with the reason) or review (the task waits for a person)", Value: settings.String(&c.OutputAction)},
		{Key: "policy.moderation", Env: "QLP_POLICY_MODERATION", Help: "moderation provider beside the built-in rules: none or openai (POST /v1/moderations)", Value: settings.String(&c.Moderation)},
		{Key: "policy.moderation_model", Env: "QLP_POLICY_MODERATION_MODEL", Help: "the moderation provider's model", Value: settings.String(&c.ModerationModel)},
		{Key: "policy.moderation_base_url", Env: "QLP_POLICY_MODERATION_BASE_URL", Help: "base URL of the moderation API; empty uses llm.base_url, then OpenAI's", Value: settings.String(&c.ModerationBaseURL)},
		{Key: "policy.moderation_api_key", Env: "QLP_POLICY_MODERATION_API_KEY", Help: "API key of the moderation API; empty uses llm.api_key", Secret: true, Value: settings.String(&c.ModerationAPIKey)},
		{Key: "policy.fail_open", Env: "QLP_POLICY_FAIL_OPEN", Help: "when the moderation provider fails, go on with the built-in rules alone instead of refusing", Value: settings.Bool(&c.FailOpen)},
	}
}

// Validate reads the thresholds and reports the first setting that is out
// of range, by name.
func (c *Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return settings.Invalid(c.Settings(), key, format, args...)
	}
	for _, t := range []struct {
		key  string
		text string
		dst  *Severity
	}{{"policy.request_threshold", c.requestThreshold, &c.RequestThreshold}, {"policy.output_threshold", c.outputThreshold, &c.OutputThreshold}} {
		if t.text == "" {
			continue
		}
		s, err := ParseSeverity(t.text)
		if err != nil || s == Clean {
			return bad(t.key, "%q is not one of low, medium, high, critical", t.text)
		}
		*t.dst = s
	}
	switch {
	case c.OutputAction != OutputFail && c.OutputAction != OutputReview:
		return bad("policy.output_action", "%q is not fail or review", c.OutputAction)
	case c.Moderation != ModerationNone && c.Moderation != ModerationOpenAI && c.Moderation != "":
		return bad("policy.moderation", "%q is not none or openai", c.Moderation)
	case c.Moderation == ModerationOpenAI && c.ModerationModel == "":
		return bad("policy.moderation_model", "must name a model when policy.moderation is openai")
	}
	return nil
}

// String describes the policy for logs.
func (c Config) String() string {
	return fmt.Sprintf("policy enabled=%t request>=%s output>=%s action=%s moderation=%s", c.Enabled, c.RequestThreshold, c.OutputThreshold, c.OutputAction, c.Moderation)
}
