package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestNewServerHasTimeouts(t *testing.T) {
	srv := newServer(":0", "http://sho.rt")
	if srv.Addr != ":0" {
		t.Fatalf("Addr = %q, want :0", srv.Addr)
	}
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Fatalf("every timeout must be set: %+v", srv)
	}
}

func TestNewServerServesTheShortener(t *testing.T) {
	srv := newServer(":0", "http://sho.rt")
	rec := httptest.NewRecorder()
	srv.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/shorten", strings.NewReader(`{"url":"https://example.com/a"}`)))
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST /shorten = %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(rec.Body.String(), `"short_url":"http://sho.rt/`) {
		t.Fatalf("the short URL must use the base: %s", rec.Body)
	}
}
