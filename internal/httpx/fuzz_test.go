package httpx_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/quantumlayer/qlp/internal/httpx"
)

const fuzzMaxBytes = 4 << 10

// FuzzDecodeJSON feeds arbitrary bodies and content types to DecodeJSON.
// A refusal is a 413 (only for a body over the limit), a 415 (only for a
// content type other than JSON) or a 400 naming a field; an accepted body
// is one JSON value within the limit whose decoding matches
// encoding/json's and holds no NUL character in any string or key; and
// NULField finds a NUL exactly when the decoded document holds one.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []struct{ body, ct string }{
		{`{"description":"x","metadata":{"a":[1,2,{"b":null}]}}`, "application/json"},
		{`{"a":"\u0000"}`, "application/json"},
		{`{"\u0000":1}`, ""},
		{`{"a":[{"b":"x\u0000"}]}`, "application/json; charset=utf-8"},
		{`{"a":1} trailing`, "application/json"},
		{`{"a":1}{"b":2}`, "application/json"},
		{`{"a":`, "application/json"},
		{``, "application/json"},
		{`{"a":1e999}`, "application/json"},
		{`"\ud800"`, "application/json"},
		{`{"a":1}`, "application/x-www-form-urlencoded"},
		{`{"a":"` + strings.Repeat("x", fuzzMaxBytes) + `"}`, "application/json"},
		{strings.Repeat("[", 5000), "application/json"},
	} {
		f.Add([]byte(s.body), s.ct)
	}
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		var got any
		err := httpx.DecodeJSON(httptest.NewRecorder(), r, fuzzMaxBytes, &got)
		ct = r.Header.Get("Content-Type") // as the server sees it
		jsonCT := ct == "" || strings.HasPrefix(ct, "application/json")
		var want any
		werr := json.Unmarshal(body, &want)
		if err != nil {
			var he *httpx.Error
			if !errors.As(err, &he) {
				t.Fatalf("refusal %v is not an httpx.Error", err)
			}
			switch he.Status {
			case http.StatusUnsupportedMediaType:
				if jsonCT {
					t.Fatalf("415 for the content type %q", ct)
				}
			case http.StatusRequestEntityTooLarge:
				if len(body) <= fuzzMaxBytes {
					t.Fatalf("413 for a body of %d bytes", len(body))
				}
			case http.StatusBadRequest:
				if he.Field == "" {
					t.Fatalf("400 without a field: %v", err)
				}
				if werr == nil && len(body) <= fuzzMaxBytes && !hasNUL(want) {
					t.Fatalf("refused %q (%v), which encoding/json accepts", body, err)
				}
			default:
				t.Fatalf("refusal %v has status %d", err, he.Status)
			}
			return
		}
		if !jsonCT || len(body) > fuzzMaxBytes || werr != nil {
			t.Fatalf("accepted %q (content type %q, %d bytes; encoding/json: %v)", body, ct, len(body), werr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded %#v, encoding/json %#v", got, want)
		}
		if hasNUL(got) {
			t.Fatalf("accepted a NUL character in %q", body)
		}
	})
}

// FuzzNULField checks NULField against a walk of the decoded document.
func FuzzNULField(f *testing.F) {
	for _, s := range []string{`{"a":"\u0000"}`, `{"\u0000":1}`, `[1,"x",{"b":["\u0000"]}]`, `"\u0000"`, `{"a":{"b":1},"c":"d"}`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		var v any
		if json.Unmarshal(doc, &v) != nil {
			return
		}
		field, ok := httpx.NULField(doc)
		if ok != hasNUL(v) {
			t.Fatalf("NULField(%q) = %q, %v; the document holds a NUL: %v", doc, field, ok, hasNUL(v))
		}
		if ok && field == "" {
			t.Fatal("a NUL was found but no field named")
		}
	})
}

// hasNUL reports whether a decoded JSON value holds a NUL in a string or key.
func hasNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.IndexByte(v, 0) >= 0
	case []any:
		for _, e := range v {
			if hasNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range v {
			if strings.IndexByte(k, 0) >= 0 || hasNUL(e) {
				return true
			}
		}
	}
	return false
}
