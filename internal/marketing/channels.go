package marketing

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Channels QLP writes for, by the name a brief uses.
const (
	ChannelX           = "x"
	ChannelLinkedIn    = "linkedin"
	ChannelBlog        = "blog"
	ChannelEmail       = "email"
	ChannelDevTo       = "devto"
	ChannelHackerNews  = "hackernews"
	ChannelProductHunt = "producthunt"
)

// Spec is what one channel accepts. Lengths are in characters (runes).
type Spec struct {
	Name string
	// Title, Subject, Tagline say which short field the channel needs.
	TitleMax   int // a title of at most this length is required (0: none)
	SubjectMax int // an email subject of at most this length is required
	TaglineMax int // a tagline of at most this length is required
	BodyMin    int // the body's least length (0: a body may be empty)
	BodyMax    int // the body's greatest length
	// URLWeight, when set, counts every URL as this many characters (X's
	// t.co wrapping counts each link as 23 whatever its length).
	URLWeight int
	// NoHashtags refuses hashtags anywhere in the piece.
	NoHashtags bool
	// MaxHashtags bounds the number of hashtags (0: no bound).
	MaxHashtags int
	// EveryDays is the channel's cadence on the calendar; 0 means once, on
	// launch day.
	EveryDays int
}

// Specs are the channels, in the order a calendar lists them.
var specs = []Spec{
	{Name: ChannelX, BodyMin: 1, BodyMax: 280, URLWeight: 23, MaxHashtags: 3, EveryDays: 2},
	{Name: ChannelLinkedIn, BodyMin: 1, BodyMax: 3000, MaxHashtags: 5, EveryDays: 4},
	{Name: ChannelBlog, TitleMax: 120, BodyMin: 300, BodyMax: 20000, EveryDays: 7},
	{Name: ChannelEmail, SubjectMax: 78, BodyMin: 100, BodyMax: 5000, NoHashtags: true, EveryDays: 7},
	{Name: ChannelDevTo, TitleMax: 128, BodyMin: 300, BodyMax: 20000, MaxHashtags: 4, EveryDays: 10},
	{Name: ChannelHackerNews, TitleMax: 80, BodyMax: 2000, NoHashtags: true},
	{Name: ChannelProductHunt, TaglineMax: 60, BodyMin: 1, BodyMax: 500, NoHashtags: true},
}

// Channels lists the channel names.
func Channels() []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.Name
	}
	return out
}

// aliases are other names briefs use for a channel.
var aliases = map[string]string{
	"twitter": ChannelX, "x/twitter": ChannelX, "medium": ChannelBlog, "dev.to": ChannelDevTo, "dev_to": ChannelDevTo,
	"hn": ChannelHackerNews, "hacker_news": ChannelHackerNews, "product_hunt": ChannelProductHunt, "ph": ChannelProductHunt,
}

// LookupChannel returns the spec of a channel name or alias.
func LookupChannel(name string) (Spec, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if a, ok := aliases[n]; ok {
		n = a
	}
	for _, s := range specs {
		if s.Name == n {
			return s, nil
		}
	}
	return Spec{}, fmt.Errorf("unknown channel %q (want one of %s)", name, strings.Join(Channels(), ", "))
}

// Content is one piece's text. Which fields a channel uses is in its Spec.
type Content struct {
	Title    string   `json:"title,omitempty"`
	Subject  string   `json:"subject,omitempty"`
	Tagline  string   `json:"tagline,omitempty"`
	Body     string   `json:"body"`
	Hashtags []string `json:"hashtags,omitempty"`
	// CTA is the call to action, when the model gave one separately.
	CTA string `json:"cta,omitempty"`
}

var (
	urlRe     = regexp.MustCompile(`https?://[^\s)>\]]+`)
	hashtagRe = regexp.MustCompile(`(?:^|\s)#[\p{L}\p{N}_]+`)
)

// Length is the length of text as the channel counts it: runes, with every
// URL counted as URLWeight when the channel sets one.
func (s Spec) Length(text string) int {
	if s.URLWeight == 0 {
		return utf8.RuneCountInString(text)
	}
	n, prev := 0, 0
	for _, loc := range urlRe.FindAllStringIndex(text, -1) {
		n += utf8.RuneCountInString(text[prev:loc[0]]) + s.URLWeight
		prev = loc[1]
	}
	return n + utf8.RuneCountInString(text[prev:])
}

// Post is the text that goes out on the channel: the body with its
// hashtags appended, as a post shows them.
func (s Spec) Post(c Content) string {
	body := strings.TrimSpace(c.Body)
	var tags []string
	for _, h := range c.Hashtags {
		h = "#" + strings.TrimLeft(strings.TrimSpace(h), "#")
		if h != "#" && !strings.Contains(body, h) {
			tags = append(tags, h)
		}
	}
	if len(tags) > 0 {
		body += "\n\n" + strings.Join(tags, " ")
	}
	return body
}

// Check lists what in c breaks the channel's limits; none means it fits.
func (s Spec) Check(c Content) []string {
	var out []string
	field := func(name, v string, max int) {
		if max == 0 {
			return
		}
		v = strings.TrimSpace(v)
		switch n := utf8.RuneCountInString(v); {
		case n == 0:
			out = append(out, fmt.Sprintf("the %s is missing (%s needs one of at most %d characters)", name, s.Name, max))
		case n > max:
			out = append(out, fmt.Sprintf("the %s is %d characters; %s allows at most %d", name, n, s.Name, max))
		}
	}
	field("title", c.Title, s.TitleMax)
	field("subject", c.Subject, s.SubjectMax)
	field("tagline", c.Tagline, s.TaglineMax)
	post := s.Post(c)
	n := s.Length(post)
	if n > s.BodyMax {
		how := ""
		if s.URLWeight > 0 {
			how = fmt.Sprintf(", counting each link as %d and the hashtags", s.URLWeight)
		}
		out = append(out, fmt.Sprintf("the post is %d characters%s; %s allows at most %d", n, how, s.Name, s.BodyMax))
	}
	if n < s.BodyMin {
		out = append(out, fmt.Sprintf("the body is %d characters; %s needs at least %d", n, s.Name, s.BodyMin))
	}
	tags := s.hashtags(c)
	if s.NoHashtags && len(tags) > 0 {
		out = append(out, fmt.Sprintf("%s takes no hashtags, and the piece has %s", s.Name, strings.Join(tags, " ")))
	}
	if s.MaxHashtags > 0 && len(tags) > s.MaxHashtags {
		out = append(out, fmt.Sprintf("the piece has %d hashtags; %s takes at most %d", len(tags), s.Name, s.MaxHashtags))
	}
	return out
}

// hashtags are the distinct hashtags of the piece, in its fields and list.
func (s Spec) hashtags(c Content) []string {
	var out []string
	add := func(t string) {
		t = "#" + strings.TrimLeft(strings.TrimSpace(t), "#")
		if t != "#" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	for _, h := range c.Hashtags {
		add(h)
	}
	for _, f := range []string{c.Title, c.Subject, c.Tagline, c.Body} {
		for _, m := range hashtagRe.FindAllString(f, -1) {
			add(m)
		}
	}
	return out
}

// Repair makes c fit when only its lengths or hashtags break the limits,
// and says what it changed; it never cuts a word in two. Hashtags the
// channel refuses are removed; a field over its limit is shortened at the
// last word boundary that fits, with an ellipsis. It returns the repaired
// content, the notes to record, and the problems that remain.
func (s Spec) Repair(c Content) (Content, []string, []string) {
	var notes []string
	if s.NoHashtags && len(s.hashtags(c)) > 0 {
		c.Hashtags = nil
		c.Title, c.Body = stripHashtags(c.Title), stripHashtags(c.Body)
		c.Subject, c.Tagline = stripHashtags(c.Subject), stripHashtags(c.Tagline)
		notes = append(notes, "removed hashtags, which "+s.Name+" does not take")
	}
	if s.MaxHashtags > 0 && len(c.Hashtags) > s.MaxHashtags {
		notes = append(notes, fmt.Sprintf("kept the first %d of %d hashtags", s.MaxHashtags, len(c.Hashtags)))
		c.Hashtags = c.Hashtags[:s.MaxHashtags]
	}
	shorten := func(name string, v *string, max int) {
		if max == 0 || utf8.RuneCountInString(strings.TrimSpace(*v)) <= max {
			return
		}
		before := utf8.RuneCountInString(*v)
		*v = cutAtWord(strings.TrimSpace(*v), max, func(t string) int { return utf8.RuneCountInString(t) })
		notes = append(notes, fmt.Sprintf("shortened the %s from %d to %d characters at a word boundary", name, before, utf8.RuneCountInString(*v)))
	}
	shorten("title", &c.Title, s.TitleMax)
	shorten("subject", &c.Subject, s.SubjectMax)
	shorten("tagline", &c.Tagline, s.TaglineMax)
	if n := s.Length(s.Post(c)); n > s.BodyMax {
		// The hashtags go first, then the body is cut to what is left.
		if len(c.Hashtags) > 0 {
			c.Hashtags = nil
			notes = append(notes, "dropped the hashtags to fit "+s.Name+"'s limit")
		}
		if s.Length(s.Post(c)) > s.BodyMax {
			c.Body = cutAtWord(strings.TrimSpace(c.Body), s.BodyMax, s.Length)
			notes = append(notes, fmt.Sprintf("shortened the post from %d to %d characters at a word boundary", n, s.Length(s.Post(c))))
		}
	}
	return c, notes, s.Check(c)
}

func stripHashtags(v string) string {
	return strings.Join(strings.Fields(hashtagRe.ReplaceAllString(v, " ")), " ")
}

// cutAtWord returns the longest prefix of v that ends before a space,
// followed by "…", whose length (by length) is at most max; line breaks
// are kept. URLs are never cut: a link is a word.
func cutAtWord(v string, max int, length func(string) int) string {
	best := ""
	for i, r := range v {
		if !unicode.IsSpace(r) || i == 0 {
			continue
		}
		prefix := strings.TrimRight(v[:i], " \t\n,;:-")
		if prefix == "" {
			continue
		}
		if length(prefix+"…") > max {
			break
		}
		best = prefix
	}
	if best == "" {
		return ""
	}
	return best + "…"
}
