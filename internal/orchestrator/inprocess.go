package orchestrator

import (
	"net/http"
	"net/http/httptest"

	"github.com/quantumlayer/qlp/internal/auth"
)

// CredentialHeaders are the request headers that say who calls.
var CredentialHeaders = []string{"Authorization", "X-API-Key", auth.TenantHeader}

// NewInProcessClient is a client of the API handler h in this process that
// sends, with every request, the credential headers of caller (and no
// other of its headers): h authenticates each call as it would the
// caller's own. Routes built on the API (MCP, evaluations) act for their
// caller through it.
func NewInProcessClient(h http.Handler, caller http.Header) *Client {
	hdr := http.Header{}
	for _, k := range CredentialHeaders {
		if v := caller.Values(k); len(v) > 0 {
			hdr[http.CanonicalHeaderKey(k)] = v
		}
	}
	return NewClient("http://qlp.in-process", "", &http.Client{Transport: handlerTransport{h: h, hdr: hdr}})
}

// handlerTransport serves a client's requests with a handler in this
// process, adding the caller's credential headers.
type handlerTransport struct {
	h   http.Handler
	hdr http.Header
}

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range t.hdr {
		req.Header[k] = v
	}
	if req.Body == nil {
		req.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}
