package orchestrator

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOpenAPIListsEveryRoute keeps openapi.json in step with routes().
func TestOpenAPIListsEveryRoute(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(openapiDoc, &doc))
	for _, rt := range (&Service{}).routes() {
		p := strings.ReplaceAll(rt.pattern, "{path...}", "{path}")
		ops, ok := doc.Paths[p]
		require.True(t, ok, "openapi.json lacks %s", p)
		require.Contains(t, ops, strings.ToLower(rt.method), "openapi.json lacks %s %s", rt.method, p)
		var op struct {
			Scope     *string        `json:"x-qlp-scope"`
			Responses map[string]any `json:"responses"`
		}
		require.NoError(t, json.Unmarshal(ops[strings.ToLower(rt.method)], &op))
		require.NotNil(t, op.Scope, "%s %s: openapi.json names no x-qlp-scope", rt.method, p)
		require.Equal(t, rt.scope, *op.Scope, "%s %s: the scope openapi.json names is not the route's", rt.method, p)
		if rt.scope != "" {
			require.Contains(t, op.Responses, "403", "%s %s: a key without the scope gets 403", rt.method, p)
		}
	}
}

// TestOpenAPIListsTheWebhooks: the webhook routes are in openapi.json with
// no security (no API key) and their signature named as their
// authentication.
func TestOpenAPIListsTheWebhooks(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Scope    *string `json:"x-qlp-scope"`
			Auth     string  `json:"x-qlp-auth"`
			Security *[]any  `json:"security"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(openapiDoc, &doc))
	routes := (&Service{}).webhookRoutes()
	require.Len(t, routes, 2)
	for _, rt := range routes {
		op, ok := doc.Paths[rt.pattern][strings.ToLower(rt.method)]
		require.True(t, ok, "openapi.json lacks %s %s", rt.method, rt.pattern)
		require.NotNil(t, op.Security, "%s: security: [] says no API key", rt.pattern)
		require.Empty(t, *op.Security)
		require.Equal(t, "webhook-signature", op.Auth)
		require.NotNil(t, op.Scope)
	}
	for path, ops := range doc.Paths {
		for m, op := range ops {
			if op.Security != nil && len(*op.Security) == 0 && !strings.HasPrefix(path, "/health") && path != "/healthz" && path != "/readyz" && path != "/metrics" {
				require.Equal(t, "webhook-signature", op.Auth, "%s %s: an operation without an API key is a probe or a signed webhook", m, path)
			}
		}
	}
}
