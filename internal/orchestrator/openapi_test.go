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
