package mcpserver

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/quantumlayer/qlp/internal/orchestrator"
)

// InProcess acts, for each request, through api (the API's authenticated
// handler in this process) with the caller's own credential headers. A
// request without an HTTP header (not over HTTP) is refused.
func InProcess(api http.Handler) Clients {
	return func(extra *mcp.RequestExtra) (API, error) {
		if extra == nil || extra.Header == nil {
			return nil, errors.New("mcp: this server acts for HTTP callers only: the request carries no credential")
		}
		return orchestrator.NewInProcessClient(api, extra.Header), nil
	}
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
