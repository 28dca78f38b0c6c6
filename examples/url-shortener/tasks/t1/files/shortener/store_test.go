package shortener

import (
	"errors"
	"sync"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://example.com/a?b=c", true},
		{"http://localhost:8080", true},
		{"ftp://example.com/file", false},
		{"example.com", false},
		{"https://", false},
		{"", false},
		{"javascript:alert(1)", false},
	}
	for _, tt := range tests {
		err := Validate(tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("Validate(%q) = %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
}

func TestShortenAndResolve(t *testing.T) {
	s := NewStore()
	code, err := s.Shorten("https://example.com/page")
	if err != nil {
		t.Fatal(err)
	}
	if len(code) != CodeLength {
		t.Fatalf("code %q has length %d, want %d", code, len(code), CodeLength)
	}
	got, err := s.Resolve(code)
	if err != nil || got != "https://example.com/page" {
		t.Fatalf("Resolve(%q) = %q, %v", code, got, err)
	}
	if _, err := s.Resolve("missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Resolve(missing) error = %v, want ErrNotFound", err)
	}
	if _, err := s.Shorten("not a url"); !errors.Is(err, ErrInvalidURL) {
		t.Fatalf("Shorten(invalid) error = %v, want ErrInvalidURL", err)
	}
}

func TestConcurrentShortenGivesDistinctCodes(t *testing.T) {
	s := NewStore()
	const n = 200
	codes := make(chan string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, err := s.Shorten("https://example.com/")
			if err != nil {
				t.Error(err)
				return
			}
			codes <- code
		}()
	}
	wg.Wait()
	close(codes)
	seen := map[string]bool{}
	for c := range codes {
		if seen[c] {
			t.Fatalf("code %q issued twice", c)
		}
		seen[c] = true
	}
	if s.Len() != n {
		t.Fatalf("Len() = %d, want %d", s.Len(), n)
	}
}
