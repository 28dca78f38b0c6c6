package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"example.com/shorty/shortener"
)

func TestShortenThenRedirect(t *testing.T) {
	h := New(shortener.NewStore(), "http://sho.rt/")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/shorten", strings.NewReader(`{"url":"https://example.com/x"}`)))
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST /shorten = %d %s", rec.Code, rec.Body)
	}
	var resp shortenResponse
	if err := json.NewDecoder(rec.Body).Decode(&resp); err != nil {
		t.Fatal(err)
	}
	if resp.ShortURL != "http://sho.rt/"+resp.Code {
		t.Fatalf("short_url = %q for code %q", resp.ShortURL, resp.Code)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/"+resp.Code, nil))
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "https://example.com/x" {
		t.Fatalf("GET /%s = %d Location %q", resp.Code, rec.Code, rec.Header().Get("Location"))
	}
}

func TestErrors(t *testing.T) {
	h := New(shortener.NewStore(), "http://sho.rt")
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"malformed json", http.MethodPost, "/shorten", `{"url":`, http.StatusBadRequest},
		{"invalid url", http.MethodPost, "/shorten", `{"url":"ftp://x"}`, http.StatusBadRequest},
		{"unknown code", http.MethodGet, "/nope123", "", http.StatusNotFound},
		{"wrong method", http.MethodGet, "/shorten", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body)))
			if rec.Code != tt.want {
				t.Fatalf("%s %s = %d, want %d (%s)", tt.method, tt.path, rec.Code, tt.want, rec.Body)
			}
		})
	}
}
