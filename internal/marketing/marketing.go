// Package marketing is the marketing worker: durable launch campaigns for
// capsules or products. MarketingWorkflow (task queue qlp-marketing) asks
// the model for a strategy, lays out a content calendar over the
// campaign's duration, has one ContentGenerationWorkflow write each piece
// within its channel's limits, and ends with an optimisation pass; every
// model call goes through the provider layer (metered, priced,
// budget-checked, cached). A Temporal Schedule publishes due pieces
// through adapters (webhook, Slack, Discord), once each.
package marketing

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/quantumlayer/qlp/internal/llm"
)

// TaskQueue is the marketing worker's Temporal task queue.
const TaskQueue = "qlp-marketing"

// Brief is what a campaign is for. The JSON names are the earlier API's
// (objective, product_description, key_features, …). With CapsuleID the
// product is the capsule's: its manifest and README fill what the brief
// leaves empty.
type Brief struct {
	CapsuleID          string   `json:"capsule_id,omitempty"`
	ProductName        string   `json:"product_name,omitempty"`
	ProductURL         string   `json:"product_url,omitempty"`
	ProductDescription string   `json:"product_description,omitempty"`
	Objective          string   `json:"objective,omitempty"`
	KeyFeatures        []string `json:"key_features,omitempty"`
	TargetAudience     string   `json:"target_audience,omitempty"`
	UniqueValueProp    string   `json:"unique_value_prop,omitempty"`
	DurationDays       int      `json:"duration_days,omitempty"`
	Channels           []string `json:"channels,omitempty"`
	TonePreferences    []string `json:"tone_preferences,omitempty"`
	// LaunchDate is YYYY-MM-DD (UTC); empty means the day the campaign is
	// created.
	LaunchDate  string   `json:"launch_date,omitempty"`
	Constraints []string `json:"constraints,omitempty"`
}

// MaxDurationDays bounds a campaign's length.
const MaxDurationDays = 180

// Normalize fills defaults and checks the brief; today is the launch date
// when none is given. It names every problem at once.
func (b *Brief) Normalize(today time.Time) error {
	var problems []string
	if b.CapsuleID == "" && strings.TrimSpace(b.ProductDescription) == "" {
		problems = append(problems, "give a capsule_id or a product_description")
	}
	if b.DurationDays == 0 {
		b.DurationDays = 14
	}
	if b.DurationDays < 1 || b.DurationDays > MaxDurationDays {
		problems = append(problems, fmt.Sprintf("duration_days must be 1..%d, not %d", MaxDurationDays, b.DurationDays))
	}
	if len(b.Channels) == 0 {
		b.Channels = Channels()
	}
	var chans []string
	for _, c := range b.Channels {
		s, err := LookupChannel(c)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if !slices.Contains(chans, s.Name) {
			chans = append(chans, s.Name)
		}
	}
	b.Channels = chans
	if len(b.TonePreferences) == 0 {
		b.TonePreferences = []string{"clear", "credible"}
	}
	if b.Objective == "" {
		b.Objective = "launch the product and bring its first users"
	}
	if b.LaunchDate == "" {
		b.LaunchDate = today.UTC().Format(time.DateOnly)
	} else if _, err := time.Parse(time.DateOnly, b.LaunchDate); err != nil {
		problems = append(problems, fmt.Sprintf("launch_date %q is not YYYY-MM-DD", b.LaunchDate))
	}
	if len(problems) > 0 {
		return fmt.Errorf("marketing: the brief is not usable: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Launch is the launch day at midnight UTC.
func (b Brief) Launch() time.Time {
	t, _ := time.Parse(time.DateOnly, b.LaunchDate)
	return t
}

// Strategy is what the model planned.
type Strategy struct {
	Name              string            `json:"name"`
	Summary           string            `json:"summary"`
	Pillars           []string          `json:"pillars"`
	Themes            []string          `json:"themes"`
	ChannelStrategies map[string]string `json:"channel_strategies,omitempty"`
	KPIs              []string          `json:"kpis,omitempty"`
	PromptVersion     string            `json:"prompt_version,omitempty"`
}

func (s Strategy) problems(channels []string) []string {
	var out []string
	if strings.TrimSpace(s.Summary) == "" {
		out = append(out, "the summary is empty")
	}
	if len(s.Pillars) < 1 {
		out = append(out, "there are no messaging pillars")
	}
	if len(s.Themes) < 1 {
		out = append(out, "there are no content themes")
	}
	return out
}

// Slot is one entry of the content calendar.
type Slot struct {
	PieceID     string    `json:"piece_id"`
	Day         int       `json:"day"`
	Date        string    `json:"date"`
	ScheduledAt time.Time `json:"scheduled_at"`
	Channel     string    `json:"channel"`
	Theme       string    `json:"theme"`
}

// postingHour is when pieces of each channel go out (UTC), so that a day's
// pieces do not all leave at once.
var postingHour = map[string]int{ChannelX: 14, ChannelLinkedIn: 9, ChannelBlog: 8, ChannelEmail: 10, ChannelDevTo: 15,
	ChannelHackerNews: 16, ChannelProductHunt: 8}

// Calendar lays out the campaign's pieces over its duration: each channel
// at its cadence from launch day (a once-only channel on launch day), the
// last day of the campaign always covered, themes rotated across the
// pieces. maxPieces bounds the number of pieces (and model calls): when the
// cadence would give more, every channel's cadence is stretched until it
// fits, so the calendar still spans the whole duration.
func Calendar(b Brief, themes []string, maxPieces int) []Slot {
	if len(themes) == 0 {
		themes = []string{"launch"}
	}
	stretch := 1
	var days map[string][]int
	for {
		days = map[string][]int{}
		n := 0
		for _, c := range b.Channels {
			s, _ := LookupChannel(c)
			d := daysOf(s.EveryDays*stretch, b.DurationDays)
			days[s.Name] = d
			n += len(d)
		}
		if maxPieces <= 0 || n <= maxPieces || stretch > b.DurationDays {
			break
		}
		stretch++
	}
	type entry struct {
		day  int
		ch   string
		rank int
	}
	var es []entry
	for i, c := range b.Channels {
		for _, d := range days[c] {
			es = append(es, entry{d, c, i})
		}
	}
	slices.SortFunc(es, func(a, b entry) int {
		if a.day != b.day {
			return a.day - b.day
		}
		return a.rank - b.rank
	})
	if maxPieces > 0 && len(es) > maxPieces {
		es = es[:maxPieces]
	}
	launch := b.Launch()
	out := make([]Slot, len(es))
	for i, e := range es {
		at := launch.AddDate(0, 0, e.day).Add(time.Duration(postingHour[e.ch]) * time.Hour)
		out[i] = Slot{PieceID: fmt.Sprintf("p%03d-%s", i+1, e.ch), Day: e.day, Date: at.Format(time.DateOnly),
			ScheduledAt: at, Channel: e.ch, Theme: themes[i%len(themes)]}
	}
	return out
}

// daysOf are the days (0-based) a channel posts at cadence every over
// duration days: launch day, every `every` days, and the last day. A
// cadence of 0 is launch day only.
func daysOf(every, duration int) []int {
	if every <= 0 {
		return []int{0}
	}
	var out []int
	for d := 0; d < duration; d += every {
		out = append(out, d)
	}
	if last := duration - 1; out[len(out)-1] != last && last-out[len(out)-1] >= (every+1)/2 {
		out = append(out, last)
	}
	return out
}

//go:embed prompts/*.tmpl
var promptFS embed.FS

// PromptVersions names the prompt of each role; pieces and strategies
// record the version that wrote them.
var PromptVersions = map[string]string{
	"strategist": "strategist.v1",
	"copywriter": "copywriter.v1",
	"optimiser":  "optimiser.v1",
}

var prompts = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	for role, v := range PromptVersions {
		t := template.Must(template.New(v).Funcs(template.FuncMap{"join": strings.Join}).ParseFS(promptFS, "prompts/"+v+".tmpl"))
		out[role] = t
	}
	return out
}()

func render(role string, data any) ([]llm.Message, error) {
	t := prompts[role]
	var sys, user bytes.Buffer
	if err := t.ExecuteTemplate(&sys, "system", data); err != nil {
		return nil, fmt.Errorf("marketing: render %s prompt: %w", role, err)
	}
	if err := t.ExecuteTemplate(&user, "user", data); err != nil {
		return nil, fmt.Errorf("marketing: render %s prompt: %w", role, err)
	}
	return []llm.Message{{Role: llm.RoleSystem, Content: sys.String()}, {Role: llm.RoleUser, Content: user.String()}}, nil
}

// rules describes a channel's limits for a prompt.
func (s Spec) rules() string {
	var r []string
	if s.TitleMax > 0 {
		r = append(r, fmt.Sprintf("a title of at most %d characters", s.TitleMax))
	}
	if s.SubjectMax > 0 {
		r = append(r, fmt.Sprintf("an email subject of at most %d characters", s.SubjectMax))
	}
	if s.TaglineMax > 0 {
		r = append(r, fmt.Sprintf("a tagline of at most %d characters", s.TaglineMax))
	}
	body := fmt.Sprintf("a body of %d to %d characters including hashtags", s.BodyMin, s.BodyMax)
	if s.URLWeight > 0 {
		body += fmt.Sprintf(", each link counting as %d", s.URLWeight)
	}
	r = append(r, body)
	switch {
	case s.NoHashtags:
		r = append(r, "no hashtags at all")
	case s.MaxHashtags > 0:
		r = append(r, fmt.Sprintf("at most %d hashtags", s.MaxHashtags))
	}
	return strings.Join(r, "; ")
}

// decodeObject reads the first JSON object of a model's answer, which may
// be wrapped in prose or a code fence.
func decodeObject(answer string, v any) error {
	start := strings.Index(answer, "{")
	end := strings.LastIndex(answer, "}")
	if start < 0 || end < start {
		return fmt.Errorf("the answer holds no JSON object")
	}
	if err := json.Unmarshal([]byte(answer[start:end+1]), v); err != nil {
		return fmt.Errorf("the answer's JSON object does not parse: %w", err)
	}
	return nil
}
