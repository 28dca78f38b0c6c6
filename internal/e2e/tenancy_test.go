package e2e

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/store/storetest"
)

// backends runs fn on a platform over SQLite and one over PostgreSQL.
func backends(t *testing.T, handler func(t *testing.T) llmtest.Handler, fn func(t *testing.T, pl *platform)) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			pg := ""
			if backend == "postgres" {
				pg = storetest.PostgresURL(t)
			}
			pl := startPlatform(t, pg, handler(t))
			require.Equal(t, backend, pl.p.Store.Driver())
			fn(t, pl)
		})
	}
}

func scripted(t *testing.T) llmtest.Handler {
	_, rules := exampleScript(t)
	return llmtest.NewScript(rules...).Handle
}

// TestNULCharactersAreA400OnBothStores: PostgreSQL refuses a NUL in a text
// column ("invalid byte sequence 0x00"), SQLite keeps it. Every body the API
// takes is refused with a 400 naming the field instead, on both, and so are
// ids and query parameters holding one.
func TestNULCharactersAreA400OnBothStores(t *testing.T) {
	backends(t, scripted, func(t *testing.T, pl *platform) {
		acme, admin := pl.keys["acme"], pl.adminKey("acme")
		tests := []struct {
			name, method, path, key, body, field string
		}{
			{"description", "POST", "/execute", acme, `{"description":"build\u0000 a shortener"}`, "description"},
			{"requirements", "POST", "/execute", acme, `{"description":"build a shortener","requirements":"\u0000"}`, "requirements"},
			{"request id", "POST", "/execute", acme, `{"description":"build a shortener","id":"a\u0000"}`, "id"},
			{"user id", "POST", "/execute", acme, `{"description":"build a shortener","user_id":"ada\u0000"}`, "user_id"},
			{"framework", "POST", "/execute", acme, `{"description":"build a shortener","constraints":{"framework":"\u0000"}}`, "constraints.framework"},
			{"metadata", "POST", "/execute", acme, `{"description":"build a shortener","metadata":{"note":"x\u0000"}}`, "metadata.note"},
			{"v2 description", "POST", "/v2/execute", acme, `{"description":"\u0000"}`, "description"},
			{"v2 options", "POST", "/v2/execute", acme, `{"description":"build a shortener","options":{"metadata":{"k":["\u0000"]}}}`, "options.metadata.k[0]"},
			{"review comment", "POST", "/hitl/respond/rv-x", acme, `{"decision":"request_changes","comment":"\u0000"}`, "comment"},
			{"review policy", "PUT", "/api/v2/review-policy", admin, `{"on_timeout":"wait\u0000"}`, "on_timeout"},
			{"budgets", "PUT", "/api/v2/budgets", admin, `{"policy":"stop\u0000"}`, "policy"},
			{"a job id", "GET", "/v2/workflows/qlp-execution-a%00b", acme, "", "path"},
			{"a capsule id", "GET", "/api/capsules/a%00b", acme, "", "path"},
			{"a query", "GET", "/api/v2/costs?workflow_id=a%00b", acme, "", "workflow_id"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var body []byte
				if tt.body != "" {
					body = []byte(tt.body)
				}
				code, resp, _ := pl.call(tt.method, tt.path, tt.key, body, nil)
				require.Equal(t, http.StatusBadRequest, code, string(resp))
				var eb httpx.ErrorBody
				mustJSON(t, resp, &eb)
				require.Equal(t, tt.field, eb.Field, eb.Error)
				require.Contains(t, eb.Error, "NUL character")
			})
		}
		jobs, err := pl.p.Store.ListJobs(t.Context(), "acme", 10, 0)
		require.NoError(t, err)
		require.Empty(t, jobs, "nothing was recorded")
	})
}
