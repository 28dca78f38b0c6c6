package console

import (
	"fmt"
	"html"
	"io/fs"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/orchestrator"
)

func TestSealerRoundTripAndTampering(t *testing.T) {
	s, err := newSealer(strings.Repeat("k", 32))
	require.NoError(t, err)
	other, err := newSealer(strings.Repeat("j", 32))
	require.NoError(t, err)
	in := session{Key: "qlp_secret", KeyID: "id1", Expires: time.Now().Add(time.Hour).Unix(), CSRF: "tok"}
	v, err := s.seal(sessionCookie, in)
	require.NoError(t, err)
	require.NotContains(t, v, "qlp_secret")
	var out session
	require.NoError(t, s.open(sessionCookie, v, &out))
	require.Equal(t, in, out)

	flipped := []byte(v)
	flipped[len(flipped)/2] ^= 1
	tests := []struct {
		name, cookie, value string
		s                   *sealer
	}{
		{"another key", sessionCookie, v, other},
		{"another cookie name", loginCookie, v, s},
		{"a flipped byte", sessionCookie, string(flipped), s},
		{"not base64", sessionCookie, "!!", s},
		{"empty", sessionCookie, "", s},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorIs(t, tt.s.open(tt.cookie, tt.value, &out), errBadSession)
		})
	}
}

func TestSafeNext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/ui/jobs/x", "/ui/jobs/x"},
		{"", "/ui/"},
		{"https://evil.example/ui/", "/ui/"},
		{"//evil.example/ui/", "/ui/"},
		{"/ui/\\evil", "/ui/"},
		{"/api/v2/budgets", "/ui/"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, safeNext(tt.in), tt.in)
	}
}

func TestCookieFlags(t *testing.T) {
	tests := []struct {
		name   string
		proto  string
		tls    bool
		secure bool
	}{
		{"plain http", "", false, false},
		{"behind a TLS proxy", "https", false, true},
		{"direct TLS", "", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/ui/", nil)
			if tt.tls {
				r = httptest.NewRequest("GET", "https://x/ui/", nil)
			}
			if tt.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			c := cookie(r, sessionCookie, "v", 60)
			require.True(t, c.HttpOnly)
			require.Equal(t, "Strict", strings.TrimPrefix(c.String()[strings.Index(c.String(), "SameSite="):], "SameSite="))
			require.Equal(t, tt.secure, c.Secure)
			require.Equal(t, "/ui/", c.Path)
		})
	}
}

func TestHighlightEscapes(t *testing.T) {
	tests := []struct{ path, text string }{
		{"value.py", "# <script>alert(1)</script>\nx = '<img src=x onerror=alert(1)>'\n"},
		{"page.html", "<script>alert(1)</script>\n"},
		{"notes.unknownext", "</td></tr><script>alert(1)</script>"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			out := string(highlight(tt.path, tt.text, map[int]string{1: `finding "<b>"`}))
			require.NotContains(t, out, "<script")
			require.NotContains(t, out, "<img")
			require.NotContains(t, out, "<b>")
			// What the reader sees is the file's text, character for character.
			shown := regexp.MustCompile(`<a [^>]*>[0-9]+</a>`).ReplaceAllString(out, "")
			shown = html.UnescapeString(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(shown, ""))
			require.Equal(t, strings.TrimSuffix(tt.text, "\n"), strings.TrimSuffix(shown, "\n"))
			require.Contains(t, out, `id="L1" class="line finding"`)
		})
	}
}

func TestTaskGraph(t *testing.T) {
	tasks := []domain.Task{
		{ID: "t1", Seq: 1, Status: domain.TaskCompleted},
		{ID: "t2", Seq: 2, Status: domain.TaskRunning, Dependencies: []string{"t1"}},
		{ID: "<t3>", Seq: 3, Status: domain.TaskFailed, Dependencies: []string{"t1", "t2"}, Description: "<script>"},
	}
	out := string(taskGraph(tasks))
	require.Equal(t, 3, strings.Count(out, `<g class="task"`))
	require.Equal(t, 3, strings.Count(out, "<line "), "one arrow per dependency")
	require.Contains(t, out, `data-state="failed"`)
	require.Contains(t, out, `fill="#fecaca"`)
	require.NotContains(t, out, "<t3>")
	require.NotContains(t, out, "<script>")
	// t3 depends on t2, which depends on t1: three columns.
	require.Contains(t, out, `x="`+"470"+`"`)
	require.Contains(t, string(taskGraph(nil)), "No tasks yet")
}

func TestDiffFiles(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want []string // the diff's lines from its first hunk
	}{
		{"added a line", "a\n", "a\nb\n", []string{"@@ -1 +1,2 @@", " a", "+b"}},
		{"removed a line", "a\nb\n", "b\n", []string{"@@ -1,2 +1 @@", "-a", " b"}},
		{"changed a line", "a\nb\nc\n", "a\nx\nc\n", []string{"@@ -1,3 +1,3 @@", " a", "-b", "+x", " c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := string(diffFiles(map[string][]byte{"f.go": []byte(tt.a)}, map[string][]byte{"f.go": []byte(tt.b)}))
			var got []string
			for _, m := range regexp.MustCompile(`<span class="d[+-]?">(.*)\n</span>`).FindAllStringSubmatch(out, -1) {
				got = append(got, m[1])
			}
			require.Equal(t, tt.want, got)
			require.Contains(t, out, "f.go <span class=\"muted\">(changed)</span>")
		})
	}
	require.Contains(t, string(diffFiles(map[string][]byte{"a": []byte("x\n")}, map[string][]byte{"a": []byte("x\n")})), "No file differs")
	out := string(diffFiles(map[string][]byte{"a.go": []byte("x\n"), "gone.go": []byte("<b>\n")}, map[string][]byte{"a.go": []byte("y\n"), "new.go": []byte("z\n")}))
	require.Contains(t, out, "(added)")
	require.Contains(t, out, "(removed)")
	require.Contains(t, out, "&lt;b&gt;")
	require.Contains(t, out, `<span class="d+">+z`+"\n</span>")
}

func TestTemplatesParse(t *testing.T) {
	pages, err := parsePages()
	require.NoError(t, err)
	for _, name := range []string{"login", "home", "job", "joblive", "capsule", "reviews", "costs", "admin", "error"} {
		require.Contains(t, pages, name)
	}
}

func TestFileTree(t *testing.T) {
	got := fileTree([]orchestrator.CapsuleFileInfo{{Path: "b.go"}, {Path: "pkg/x/y.go"}, {Path: "pkg/a.go"}, {Path: "a/b/c/d/e/f/g/h.go"}})
	var lines []string
	for _, e := range got {
		lines = append(lines, fmt.Sprintf("%d %s", e.Depth, e.Name))
	}
	require.Equal(t, []string{"0 a/", "1 b/", "2 c/", "3 d/", "4 e/", "5 f/", "6 g/", "6 h.go", "0 b.go", "0 pkg/", "1 a.go", "1 x/", "2 y.go"}, lines)
}

// TestTemplatesNeedNoInlineCode keeps the pages within their
// Content-Security-Policy (script-src and style-src 'self'): no inline
// style, script or event handler.
func TestTemplatesNeedNoInlineCode(t *testing.T) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	require.NoError(t, err)
	bad := regexp.MustCompile(`(?i)style="|<style|<script(?:\s[^>]*)?>[^<]|<script>|\son[a-z]+=`)
	for _, n := range names {
		b, err := templateFS.ReadFile(n)
		require.NoError(t, err)
		require.Empty(t, bad.FindAllString(string(b), -1), n)
	}
}
