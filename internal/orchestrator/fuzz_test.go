package orchestrator

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/vocab"
)

// FuzzLastEventID checks where a progress stream resumes: the header wins
// over the query parameter, neither means from the start, an accepted id
// is the non-negative integer sent (and an id the server wrote reads back
// as itself), and anything else is a 400 naming Last-Event-ID.
func FuzzLastEventID(f *testing.F) {
	for _, s := range [][2]string{
		{"", ""}, {"42", ""}, {"", "7"}, {"3", "9"}, {"-1", ""}, {"", "-5"}, {"9223372036854775807", ""},
		{"9223372036854775808", ""}, {"1e3", ""}, {"0x10", ""}, {" 1", ""}, {"1\r\nX-Evil: 1", ""}, {"+1", ""}, {"", "1;DROP"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, header, query string) {
		id, err := lastEventID(header, query)
		sent := header
		if sent == "" {
			sent = query
		}
		if err != nil {
			var he *httpx.Error
			if !errors.As(err, &he) || he.Status != http.StatusBadRequest || he.Field != "Last-Event-ID" {
				t.Fatalf("refusal %v is not a 400 naming Last-Event-ID", err)
			}
			if n, perr := strconv.ParseInt(sent, 10, 64); perr == nil && n >= 0 {
				t.Fatalf("refused %q, a non-negative integer", sent)
			}
			return
		}
		if sent == "" {
			if id != 0 {
				t.Fatalf("no id sent, but resumes after %d", id)
			}
			return
		}
		if n, perr := strconv.ParseInt(sent, 10, 64); perr != nil || n != id || id < 0 {
			t.Fatalf("accepted %q as %d", sent, id)
		}
		if again, err := lastEventID(strconv.FormatInt(id, 10), "junk"); err != nil || again != id {
			t.Fatalf("the id %d written by the server reads back as %d (%v)", id, again, err)
		}
	})
}

// decodeBody runs httpx.DecodeJSON on body as a handler does.
func decodeBody(body []byte, dst any) error {
	r := httptest.NewRequest(http.MethodPost, "/execute", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return httpx.DecodeJSON(httptest.NewRecorder(), r, 1<<20, dst)
}

// executeRequest checks a POST /execute (v2=false) or /v2/execute body the
// way the handlers do before anything is stored, and returns the request
// Submit would store.
func executeRequest(body []byte, v2 bool) (SubmitRequest, error) {
	var req SubmitRequest
	var constraints map[string]any
	if v2 {
		var b V2ExecuteRequest
		if err := decodeBody(body, &b); err != nil {
			return req, err
		}
		if _, err := resolveV2(b.Options); err != nil {
			return req, err
		}
		req = SubmitRequest{UserID: b.UserID, Description: b.Description, Requirements: b.Requirements, TierOverride: b.Options.TierOverride, Metadata: b.Options.Metadata}
		constraints = b.Constraints
	} else {
		var b ExecuteRequest
		if err := decodeBody(body, &b); err != nil {
			return req, err
		}
		if err := legacyExecute(&b); err != nil {
			return req, err
		}
		req = SubmitRequest{RequestID: b.ID, UserID: b.UserID, Description: b.Description, Requirements: b.Requirements, TierOverride: b.TierOverride, Metadata: b.Metadata}
		constraints = b.Constraints
	}
	var err error
	if req.Language, err = constraint(constraints, "language"); err != nil {
		return req, err
	}
	if req.Framework, err = constraint(constraints, "framework"); err != nil {
		return req, err
	}
	req.Constraints = constraints
	return req, req.validate()
}

// FuzzExecuteRequest feeds arbitrary bodies to the checks of POST /execute
// and POST /v2/execute. Every refusal is a client error naming a field (a
// 501 for what this build cannot do); every accepted request has a
// description within the limit, a valid id, tier and language, and no
// metadata key of the server's.
func FuzzExecuteRequest(f *testing.F) {
	for _, s := range []string{
		`{"description":"a key-value store in Go","constraints":{"language":"go"}}`,
		`{"id":"req-1","description":"x","metadata":{"language":"python"},"tier_override":"T1"}`,
		`{"description":"x","options":{"mode":"robust","delivery":{"format":"tar.gz"}}}`,
		`{"description":"   "}`,
		`{"description":"x","constraints":{"language":7}}`,
		`{"description":"x","metadata":{"qlp_execution":{"strict":false}}}`,
		`{"description":"x","options":{"metadata":{"qlp_delivery":{}}}}`,
		`{"description":"x","metadata":{"deploy_target":"prod"}}`,
		`{"description":"x","options":{"mode":"turbo"}}`,
		`{"description":"x","id":"../../etc"}`,
		`{"description":"a\u0000b"}`,
		`{"description":"x"} {"description":"y"}`,
		`{"description":"x","constraints":{"framework":"` + strings.Repeat("f", 101) + `"}}`,
		`{"description":1}`,
		`[]`, ``, `{`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, v2 bool) {
		req, err := executeRequest(body, v2)
		if err != nil {
			var he *httpx.Error
			if !errors.As(err, &he) {
				t.Fatalf("refusal %v is not an httpx.Error", err)
			}
			switch he.Status {
			case http.StatusBadRequest, http.StatusNotImplemented:
				if he.Field == "" {
					t.Fatalf("refusal %v names no field", err)
				}
			case http.StatusRequestEntityTooLarge:
			default:
				t.Fatalf("refusal %v has status %d", err, he.Status)
			}
			return
		}
		switch {
		case req.Description == "" || req.Description != strings.TrimSpace(req.Description) || len(req.Description) > MaxDescription:
			t.Fatalf("accepted description %q", req.Description)
		case len(req.Requirements) > MaxRequirements:
			t.Fatalf("accepted %d bytes of requirements", len(req.Requirements))
		case req.RequestID != "" && !requestIDRe.MatchString(req.RequestID):
			t.Fatalf("accepted id %q", req.RequestID)
		case req.TierOverride != "" && !vocab.ValidTier(req.TierOverride):
			t.Fatalf("accepted tier %q", req.TierOverride)
		case len(req.Framework) > 100:
			t.Fatalf("accepted a framework of %d bytes", len(req.Framework))
		case strings.ContainsRune(req.Description+req.Requirements+req.RequestID+req.UserID, 0):
			t.Fatal("accepted a NUL character")
		}
		if req.Language != "" {
			if l, ok := vocab.NormalizeLanguage(req.Language); !ok || l != req.Language {
				t.Fatalf("accepted language %q", req.Language)
			}
		}
		for k := range req.Metadata {
			if strings.HasPrefix(k, reservedPrefix) {
				t.Fatalf("accepted the server's metadata key %q", k)
			}
		}
	})
}
