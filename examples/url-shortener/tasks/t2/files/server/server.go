// Package server exposes the link store over HTTP.
package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"example.com/shorty/shortener"
)

// maxBody bounds request bodies.
const maxBody = 64 << 10

type shortenRequest struct {
	URL string `json:"url"`
}

type shortenResponse struct {
	Code     string `json:"code"`
	ShortURL string `json:"short_url"`
}

type errorResponse struct {
	Error string `json:"error"`
}

// New returns the service's handler. baseURL prefixes the short URLs it
// hands out, e.g. "http://localhost:8080".
func New(store *shortener.Store, baseURL string) http.Handler {
	base := strings.TrimRight(baseURL, "/")
	mux := http.NewServeMux()
	mux.HandleFunc("POST /shorten", func(w http.ResponseWriter, r *http.Request) {
		var req shortenRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
		if err := dec.Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, errorResponse{Error: "body must be JSON like {\"url\": \"https://…\"}"})
			return
		}
		code, err := store.Shorten(req.URL)
		if errors.Is(err, shortener.ErrInvalidURL) {
			writeJSON(w, http.StatusBadRequest, errorResponse{Error: err.Error()})
			return
		}
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, errorResponse{Error: "could not shorten the URL"})
			return
		}
		writeJSON(w, http.StatusCreated, shortenResponse{Code: code, ShortURL: base + "/" + code})
	})
	mux.HandleFunc("GET /{code}", func(w http.ResponseWriter, r *http.Request) {
		target, err := store.Resolve(r.PathValue("code"))
		if err != nil {
			writeJSON(w, http.StatusNotFound, errorResponse{Error: "unknown short code"})
			return
		}
		http.Redirect(w, r, target, http.StatusFound)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
