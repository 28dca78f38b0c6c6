package httpx_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/httpx"
)

// TestNULCharactersAreRefusedNamingTheField: PostgreSQL cannot store a NUL
// in a text column, so every JSON body (and every path and query) with one
// is a 400 naming where it is, before any handler reaches a store.
func TestNULCharactersAreRefusedNamingTheField(t *testing.T) {
	type body struct {
		Description string         `json:"description"`
		Options     map[string]any `json:"options"`
		Files       []struct {
			Path    string `json:"path"`
			Content string `json:"content"`
		} `json:"files"`
	}
	reached := false
	h := httpx.Handle(nil, func(w http.ResponseWriter, r *http.Request) error {
		var b body
		if err := httpx.DecodeJSON(w, r, 1<<20, &b); err != nil {
			return err
		}
		reached = true
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	tests := []struct {
		name, target, body string
		status             int
		field              string
	}{
		{"plain text", "/x", `{"description":"build a shortener"}`, 204, ""},
		{"an escaped backslash then u0000 is text", "/x", `{"description":"C:\\u0000"}`, 204, ""},
		{"a field", "/x", `{"description":"a\u0000b"}`, 400, "description"},
		{"a nested field", "/x", `{"options":{"metadata":{"note":"x\u0000"}}}`, 400, "options.metadata.note"},
		{"an array element", "/x", `{"files":[{"path":"a","content":"ok"},{"path":"b","content":"\u0000"}]}`, 400, "files[1].content"},
		{"an array of strings", "/x", `{"options":{"tags":["a","b\u0000"]}}`, 400, "options.tags[1]"},
		{"a key", "/x", `{"options":{"k\u0000":1}}`, 400, "options"},
		{"after other values", "/x", `{"options":{"n":1,"t":true,"z":null,"a":[1,{"q":2}],"s":"\u0000"}}`, 400, "options.s"},
		{"a field the handler ignores", "/x", `{"unknown":"\u0000"}`, 400, "unknown"},
		{"a path", "/jobs/a%00b", `{}`, 400, "path"},
		{"a query parameter", "/x?workflow_id=a%00", `{}`, 400, "workflow_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reached = false
			req := httptest.NewRequest(http.MethodPost, tt.target, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			if tt.status == 204 {
				require.True(t, reached)
				return
			}
			require.False(t, reached, "the handler never sees it")
			var eb httpx.ErrorBody
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &eb))
			require.Equal(t, tt.field, eb.Field)
			require.Contains(t, eb.Error, "NUL character")
		})
	}
}

func TestNULFieldOfADocument(t *testing.T) {
	for doc, want := range map[string]string{
		`"\u0000"`:               "body",
		`["a","\u0000"]`:         "[1]",
		`[[1],["x\u0000"]]`:      "[1][0]",
		`{"a":{"b":["\u0000"]}}`: "a.b[0]",
	} {
		got, ok := httpx.NULField([]byte(doc))
		require.True(t, ok, doc)
		require.Equal(t, want, got, doc)
	}
	_, ok := httpx.NULField([]byte(`{"a":"\\u0000","b":[1,2]}`))
	require.False(t, ok)
}
