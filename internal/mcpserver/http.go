package mcpserver

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/orchestrator"
)

// credentialHeaders are the request headers that say who calls: forwarded
// from an MCP request to the API call it makes, so that the API
// authenticates each call as it would the caller's own.
var credentialHeaders = []string{"Authorization", "X-API-Key", auth.TenantHeader}

// InProcess acts, for each request, through api (the API's authenticated
// handler in this process) with the caller's own credential headers. A
// request without an HTTP header (not over HTTP) is refused.
func InProcess(api http.Handler) Clients {
	return func(extra *mcp.RequestExtra) (API, error) {
		if extra == nil || extra.Header == nil {
			return nil, errors.New("mcp: this server acts for HTTP callers only: the request carries no credential")
		}
		hdr := http.Header{}
		for _, k := range credentialHeaders {
			if v := extra.Header.Values(k); len(v) > 0 {
				hdr[http.CanonicalHeaderKey(k)] = v
			}
		}
		return orchestrator.NewClient("http://qlp.in-process", "", &http.Client{Transport: handlerTransport{h: api, hdr: hdr}}), nil
	}
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

// Handler is the streamable HTTP transport of the server, for the route
// the API mounts behind its authentication (`/mcp`). Sessions are
// stateless, so that any API replica can answer any request and no session
// outlives the request that made it; each tool call acts through api with
// the credential of the HTTP request that carries it.
func Handler(api http.Handler, o Options, logger *slog.Logger) http.Handler {
	s := New(InProcess(api), o)
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s },
		// Every call needs an API key, which a page that rebinds a name to
		// this host cannot send: the SDK's localhost check would only refuse
		// a reverse proxy on the same host that keeps the public Host.
		&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true, Logger: logger, DisableLocalhostProtection: true})
}
