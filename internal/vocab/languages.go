package vocab

import "strings"

// languages QLP generates, validates and runs, sorted.
var languages = []string{"bash", "go", "java", "javascript", "python", "rust", "typescript"}

// languageAliases are other spellings clients send for a language.
var languageAliases = map[string]string{
	"golang": "go",
	"py":     "python", "python3": "python",
	"js": "javascript", "node": "javascript", "nodejs": "javascript",
	"ts": "typescript",
	"sh": "bash", "shell": "bash",
	"rs": "rust",
}

// Languages lists the languages, sorted. The slice is the caller's.
func Languages() []string { return append([]string(nil), languages...) }

// NormalizeLanguage maps a language name or alias, in any case and with
// surrounding space, to its canonical name. ok is false when the result is
// not one of Languages; the lower-cased, trimmed input is returned then so
// that an error can quote it.
func NormalizeLanguage(s string) (name string, ok bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if a, found := languageAliases[s]; found {
		s = a
	}
	for _, l := range languages {
		if l == s {
			return s, true
		}
	}
	return s, false
}
