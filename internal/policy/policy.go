// Package policy is QLP's content policy: it checks a request's text and a
// job's generated files against categories of content the platform will
// not serve (hate, abuse, profanity, self-harm, violence, sexual content,
// malware intent, credential theft), each finding with a severity.
//
// Two sources of findings sit side by side: the built-in rules (rules.go),
// which know technical language ("kill the process", "kill -9", "abort the
// child", "execute the payload in the test" are not violations), and an
// optional moderation provider ([Moderator]; OpenAI's moderation endpoint
// in openai.go). A tenant may allow a category (its findings never block)
// or deny one (any finding blocks). The result has the earlier QLP's
// HAPCheckResult shape (POST /api/v2/hap/check).
package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Severity orders findings: clean < low < medium < high < critical.
type Severity int

// Severities, in order.
const (
	Clean Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = []string{"clean", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < Clean || s > Critical {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity reads a severity by name.
func ParseSeverity(name string) (Severity, error) {
	i := slices.Index(severityNames, strings.ToLower(strings.TrimSpace(name)))
	if i < 0 {
		return Clean, fmt.Errorf("severity %q is not one of %s", name, strings.Join(severityNames, ", "))
	}
	return Severity(i), nil
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Category is a kind of content the policy recognises.
type Category string

// Categories.
const (
	Hate            Category = "hate"
	Abuse           Category = "abuse"
	Profanity       Category = "profanity"
	SelfHarm        Category = "self_harm"
	Violence        Category = "violence"
	Sexual          Category = "sexual"
	Malware         Category = "malware"
	CredentialTheft Category = "credential_theft"
)

// Categories lists every category, in a stable order.
func Categories() []Category {
	return []Category{Hate, Abuse, Profanity, SelfHarm, Violence, Sexual, Malware, CredentialTheft}
}

// ValidCategory reports whether c is one of [Categories].
func ValidCategory(c string) bool { return slices.Contains(Categories(), Category(c)) }

// Kind says what the checked text is, as the earlier contract names it.
type Kind string

// Kinds of text.
const (
	UserRequest     Kind = "user_request"
	AgentOutput     Kind = "agent_output"
	CapsuleContent  Kind = "capsule_content"
	ValidationInput Kind = "validation_input"
)

// ValidKind reports whether k is a kind the contract accepts.
func ValidKind(k string) bool {
	return slices.Contains([]Kind{UserRequest, AgentOutput, CapsuleContent, ValidationInput}, Kind(k))
}

// Finding is one thing a source found.
type Finding struct {
	Category Category `json:"category"`
	Severity Severity `json:"severity"`
	// Source is "rules" or the moderation provider's name.
	Source string `json:"source"`
	// Rule names the built-in rule or the provider's own category.
	Rule       string  `json:"rule"`
	Confidence float64 `json:"confidence"`
	// Allowed is set when the tenant allows the category: the finding is
	// reported but does not count.
	Allowed bool `json:"allowed,omitempty"`
}

// Outcomes of a check.
const (
	OutcomeClean   = "clean"
	OutcomeFlagged = "flagged"
	OutcomeBlocked = "blocked"
)

// Result is a check's verdict, in the shape of the earlier HAPCheckResult.
type Result struct {
	Result     string     `json:"result"` // clean, flagged or blocked
	Severity   Severity   `json:"severity"`
	Categories []Category `json:"categories"`
	Confidence float64    `json:"confidence"`
	// Explanation and Suggestions are for the person who sent the text.
	Explanation      string    `json:"explanation,omitempty"`
	Suggestions      []string  `json:"suggestions,omitempty"`
	Findings         []Finding `json:"findings"`
	ProcessingTimeMS float64   `json:"processing_time_ms"`
	// Threshold is the severity at which this kind of text is blocked.
	Threshold Severity `json:"threshold"`
	// Denied lists the categories that blocked because the tenant denies
	// them.
	Denied []Category `json:"denied,omitempty"`
}

// Blocked reports whether the text must be refused.
func (r Result) Blocked() bool { return r.Result == OutcomeBlocked }

// Primary is the category that decided the result: the most severe one
// that counts (a denied one first).
func (r Result) Primary() Category {
	if len(r.Denied) > 0 {
		return r.Denied[0]
	}
	if len(r.Categories) > 0 {
		return r.Categories[0]
	}
	return ""
}

// Tenant is a tenant's own content policy: categories it allows (their
// findings never block: a security-research tenant may allow malware) and
// categories it denies (any finding blocks, whatever its severity: a
// children's-education tenant may deny profanity).
type Tenant struct {
	Allow []Category
	Deny  []Category
}

// Validate checks that every category is known and none is both allowed
// and denied.
func (t Tenant) Validate() error {
	for _, c := range append(slices.Clone(t.Allow), t.Deny...) {
		if !ValidCategory(string(c)) {
			return fmt.Errorf("category %q is not one of %s", c, CategoryList())
		}
	}
	for _, c := range t.Allow {
		if slices.Contains(t.Deny, c) {
			return fmt.Errorf("category %q is both allowed and denied", c)
		}
	}
	return nil
}

// CategoryList is the categories as a comma-separated list, for messages.
func CategoryList() string {
	names := make([]string, 0, len(Categories()))
	for _, c := range Categories() {
		names = append(names, string(c))
	}
	return strings.Join(names, ", ")
}

// Moderator is a moderation provider beside the built-in rules.
type Moderator interface {
	// Name is the provider's name, recorded as the findings' source.
	Name() string
	// Moderate returns what the provider found in text.
	Moderate(ctx context.Context, text string) ([]Finding, error)
}

// Checker checks text against the rules, the moderation provider and a
// tenant's policy. It is safe for concurrent use.
type Checker struct {
	cfg       Config
	moderator Moderator
	now       func() time.Time
}

// New returns a checker; moderator may be nil (built-in rules only).
func New(cfg Config, moderator Moderator) *Checker {
	return &Checker{cfg: cfg, moderator: moderator, now: time.Now}
}

// Config returns the checker's configuration.
func (c *Checker) Config() Config { return c.cfg }

// Threshold is the severity at which text of kind k is blocked.
func (c *Checker) Threshold(k Kind) Severity {
	if k == UserRequest {
		return c.cfg.RequestThreshold
	}
	return c.cfg.OutputThreshold
}

// Check checks text of kind k under tenant t's policy. A moderation
// provider that fails is an error (the caller decides whether to refuse or
// to go on with the rules alone; see Config.FailOpen): a check that
// silently skipped its provider would look like a pass.
func (c *Checker) Check(ctx context.Context, text string, k Kind, t Tenant) (Result, error) {
	start := c.now()
	findings := Scan(text)
	if c.moderator != nil && strings.TrimSpace(text) != "" {
		more, err := c.moderator.Moderate(ctx, text)
		if err != nil {
			if !c.cfg.FailOpen {
				return Result{}, fmt.Errorf("policy: moderation by %s: %w", c.moderator.Name(), err)
			}
		} else {
			findings = append(findings, more...)
		}
	}
	r := Decide(findings, c.Threshold(k), t)
	r.ProcessingTimeMS = float64(c.now().Sub(start).Microseconds()) / 1000
	return r, nil
}

// Decide turns findings into a result: a finding of an allowed category
// does not count; one of a denied category blocks; otherwise the text is
// blocked when the most severe finding reaches threshold, flagged when
// anything was found, and clean when nothing was.
func Decide(findings []Finding, threshold Severity, t Tenant) Result {
	r := Result{Result: OutcomeClean, Threshold: threshold, Findings: []Finding{}, Categories: []Category{}}
	worst := map[Category]Severity{}
	for _, f := range findings {
		if slices.Contains(t.Allow, f.Category) {
			f.Allowed = true
			r.Findings = append(r.Findings, f)
			continue
		}
		r.Findings = append(r.Findings, f)
		if f.Severity > worst[f.Category] {
			worst[f.Category] = f.Severity
		}
		if f.Severity > r.Severity {
			r.Severity = f.Severity
		}
		if f.Confidence > r.Confidence {
			r.Confidence = f.Confidence
		}
		if slices.Contains(t.Deny, f.Category) && !slices.Contains(r.Denied, f.Category) {
			r.Denied = append(r.Denied, f.Category)
		}
	}
	for cat := range worst {
		r.Categories = append(r.Categories, cat)
	}
	// Most severe first, then by name, so that Primary names what decided.
	sort.Slice(r.Categories, func(i, j int) bool {
		a, b := r.Categories[i], r.Categories[j]
		if worst[a] != worst[b] {
			return worst[a] > worst[b]
		}
		return a < b
	})
	sort.Slice(r.Denied, func(i, j int) bool { return r.Denied[i] < r.Denied[j] })
	switch {
	case len(r.Denied) > 0:
		r.Result = OutcomeBlocked
		r.Explanation = fmt.Sprintf("this tenant's content policy denies %s", joinCategories(r.Denied))
	case len(r.Categories) > 0 && r.Severity >= threshold:
		r.Result = OutcomeBlocked
		r.Explanation = fmt.Sprintf("%s content of severity %s, at or above the blocking threshold %s", r.Categories[0], r.Severity, threshold)
	case len(r.Categories) > 0:
		r.Result = OutcomeFlagged
		r.Explanation = fmt.Sprintf("%s content of severity %s, below the blocking threshold %s", joinCategories(r.Categories), r.Severity, threshold)
	default:
		r.Confidence = 1
	}
	if r.Result == OutcomeBlocked {
		r.Suggestions = []string{
			"describe the software to build in technical terms: what it does, its inputs and outputs",
			"security tooling is fine when it is defensive (detect, scan, test your own systems); ask an administrator to allow the category for this tenant if your use is legitimate",
		}
	}
	return r
}

func joinCategories(cs []Category) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}

// Digest is the SHA-256 of text, hex: what a violation record keeps
// instead of the text itself.
func Digest(text string) string {
	h := sha256.Sum256([]byte(text))
	return hex.EncodeToString(h[:])
}
