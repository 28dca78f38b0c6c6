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
	}
}
