package marketing_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	mkt "github.com/quantumlayer/qlp/internal/marketing"
)

func spec(t *testing.T, name string) mkt.Spec {
	t.Helper()
	s, err := mkt.LookupChannel(name)
	require.NoError(t, err)
	return s
}

// TestChannelLength: X counts every link as 23 characters, whatever its
// length; other channels count runes.
func TestChannelLength(t *testing.T) {
	long := "https://example.com/" + strings.Repeat("a", 100)
	tests := []struct {
		channel, text string
		want          int
	}{
		{"x", "hello", 5},
		{"x", "see " + long, 4 + 23},
		{"x", long + " and http://b.io", 23 + 5 + 23},
		{"twitter", "héllo ✓", 7},
		{"linkedin", "see " + long, 4 + len(long)},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, spec(t, tt.channel).Length(tt.text), "%s %q", tt.channel, tt.text)
	}
}

// TestChannelCheck names each broken limit.
func TestChannelCheck(t *testing.T) {
	tests := []struct {
		channel string
		c       mkt.Content
		want    []string
	}{
		{"x", mkt.Content{Body: strings.Repeat("a", 280)}, nil},
		{"x", mkt.Content{Body: strings.Repeat("a", 275), Hashtags: []string{"go"}}, nil}, // 275 + "\n\n#go" = 280
		{"x", mkt.Content{Body: strings.Repeat("a", 272), Hashtags: []string{"golang"}}, []string{"the post is 281 characters, counting each link as 23 and the hashtags; x allows at most 280"}},
		{"x", mkt.Content{Body: "a #b #c #d #e"}, []string{"the piece has 4 hashtags; x takes at most 3"}},
		{"hackernews", mkt.Content{Title: "Show HN: #golang thing"}, []string{"hackernews takes no hashtags, and the piece has #golang"}},
		{"hackernews", mkt.Content{Title: strings.Repeat("t", 81)}, []string{"the title is 81 characters; hackernews allows at most 80"}},
		{"producthunt", mkt.Content{Body: "x"}, []string{"the tagline is missing (producthunt needs one of at most 60 characters)"}},
		{"producthunt", mkt.Content{Tagline: strings.Repeat("t", 61), Body: "x"}, []string{"the tagline is 61 characters; producthunt allows at most 60"}},
		{"email", mkt.Content{Subject: "Hi", Body: "short"}, []string{"the body is 5 characters; email needs at least 100"}},
		{"linkedin", mkt.Content{Body: strings.Repeat("a", 3001)}, []string{"the post is 3001 characters; linkedin allows at most 3000"}},
	}
	for _, tt := range tests {
		got := spec(t, tt.channel).Check(tt.c)
		if len(tt.want) == 0 {
			require.Empty(t, got, "%s %+v", tt.channel, tt.c)
			continue
		}
		require.Equal(t, tt.want, got, "%s", tt.channel)
	}
}

// TestChannelRepair never cuts a word or a link, and says what it did.
func TestChannelRepair(t *testing.T) {
	link := "https://example.com/" + strings.Repeat("l", 60)
	body := strings.Repeat("word ", 60) + link
	c, notes, left := spec(t, "x").Repair(mkt.Content{Body: body, Hashtags: []string{"a", "b"}})
	require.Empty(t, left)
	require.Contains(t, notes, "dropped the hashtags to fit x's limit")
	require.Contains(t, strings.Join(notes, ";"), "at a word boundary")
	require.True(t, strings.HasSuffix(c.Body, "word…"), c.Body)
	require.LessOrEqual(t, spec(t, "x").Length(c.Body), 280)
	for _, w := range strings.Fields(strings.TrimSuffix(c.Body, "…")) {
		require.Equal(t, "word", w, "whole words only")
	}

	c, notes, left = spec(t, "producthunt").Repair(mkt.Content{Tagline: "Shorten links and redirect them from a tiny tested Go service", Body: "Go #golang"})
	require.Empty(t, left)
	require.Equal(t, "Shorten links and redirect them from a tiny tested Go…", c.Tagline)
	require.Equal(t, "Go", c.Body)
	require.Equal(t, []string{"removed hashtags, which producthunt does not take", "shortened the tagline from 61 to 54 characters at a word boundary"}, notes)

	_, _, left = spec(t, "email").Repair(mkt.Content{Subject: "s", Body: "too short"})
	require.NotEmpty(t, left, "a body too short cannot be repaired")
}

// TestCalendarCoversTheDuration: launch day and the last day are covered
// on every duration, within the piece bound; no week goes without a piece
// up to 60 days, and no two weeks up to 180 (40 pieces over 180 days
// stretch the cadences).
func TestCalendarCoversTheDuration(t *testing.T) {
	for _, days := range []int{1, 2, 7, 14, 30, 90, 180} {
		b := mkt.Brief{ProductDescription: "x", DurationDays: days, LaunchDate: "2026-03-02"}
		require.NoError(t, b.Normalize(time.Now()))
		slots := mkt.Calendar(b, []string{"a", "b"}, 40)
		require.LessOrEqual(t, len(slots), 40, "%d days", days)
		seen := map[int]bool{}
		for _, s := range slots {
			require.GreaterOrEqual(t, s.Day, 0)
			require.Less(t, s.Day, days)
			seen[s.Day] = true
		}
		require.True(t, seen[0], "%d days: launch day", days)
		require.True(t, seen[days-1], "%d days: the last day", days)
		window := 7
		if days > 60 {
			window = 14
		}
		for d := 0; d+window <= days; d++ {
			n := 0
			for w := d; w < d+window; w++ {
				if seen[w] {
					n++
				}
			}
			require.Positive(t, n, "%d days: %d days from day %d without a piece", days, window, d)
		}
	}
}

func TestBriefNormalize(t *testing.T) {
	b := mkt.Brief{ProductDescription: "x", Channels: []string{"Twitter", "x", "HN", "medium"}}
	require.NoError(t, b.Normalize(time.Date(2026, 5, 1, 13, 0, 0, 0, time.UTC)))
	require.Equal(t, []string{"x", "hackernews", "blog"}, b.Channels)
	require.Equal(t, "2026-05-01", b.LaunchDate)
	require.Equal(t, 14, b.DurationDays)
	b = mkt.Brief{DurationDays: 400, LaunchDate: "May 1", Channels: []string{"fax"}}
	err := b.Normalize(time.Now())
	require.EqualError(t, err, `marketing: the brief is not usable: give a capsule_id or a product_description; duration_days must be 1..180, not 400; unknown channel "fax" (want one of x, linkedin, blog, email, devto, hackernews, producthunt); launch_date "May 1" is not YYYY-MM-DD`)
}
