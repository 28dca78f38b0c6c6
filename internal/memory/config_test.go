package memory_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/memory"
	"github.com/quantumlayer/qlp/internal/memory/qdrant/qdranttest"
	"github.com/quantumlayer/qlp/internal/settings"
)

func TestConfigDefaultsAreValid(t *testing.T) {
	cfg := memory.Defaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, s := range cfg.Settings() {
		if !strings.HasPrefix(s.Key, "memory.") || !strings.HasPrefix(s.Env, "QLP_MEMORY_") || s.Help == "" {
			t.Errorf("setting %+v", s)
		}
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	cfg := memory.Defaults()
	env := map[string]string{
		"QLP_MEMORY_STORE": "qdrant", "QLP_MEMORY_QDRANT_ADDR": "qdrant:6334", "QLP_MEMORY_QDRANT_API_KEY": "qk",
		"QLP_MEMORY_EMBEDDER_PROVIDER": "openai", "QLP_MEMORY_EMBEDDER_MODEL": "text-embedding-3-small",
		"QLP_MEMORY_EMBEDDER_DIMENSION": "1024", "QLP_MEMORY_EMBEDDER_API_KEY": "sk-secret", "QLP_MEMORY_THRESHOLD_REUSE": "0.99",
	}
	err := settings.Apply(cfg.Settings(), settings.Source{Environ: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Store != "qdrant" || cfg.QdrantAPIKey.Reveal() != "qk" || cfg.Embedder.Dimension != 1024 || cfg.Thresholds.Reuse != 0.99 {
		t.Fatalf("config %+v", cfg)
	}
	for _, s := range cfg.Settings() {
		if s.Secret && strings.Contains(s.Display(), "secret") {
			t.Fatalf("%s shows its secret", s.Key)
		}
	}
	if strings.Contains(fmt.Sprintf("%v", cfg), "sk-secret") {
		t.Fatal("the API key prints with fmt")
	}
}

func TestConfigValidateNamesTheSetting(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *memory.Config)
		want   string
	}{
		{"store", func(c *memory.Config) { c.Store = "redis" }, "memory.store (QLP_MEMORY_STORE)"},
		{"pgvector without URL", func(c *memory.Config) { c.Store = memory.StorePgvector }, "memory.postgres_url"},
		{"qdrant address", func(c *memory.Config) { c.Store, c.QdrantAddr = memory.StoreQdrant, "qdrant" }, "memory.qdrant_addr"},
		{"embedded without dir", func(c *memory.Config) { c.DataDir = "" }, "memory.data_dir"},
		{"provider", func(c *memory.Config) { c.Embedder.Provider = "word2vec" }, "memory.embedder.provider"},
		{"openai without key", func(c *memory.Config) {
			c.Embedder = memory.EmbedderConfig{Provider: "openai", Model: "m", Dimension: 8}
		}, "memory.embedder.api_key"},
		{"remote without dimension", func(c *memory.Config) {
			c.Embedder = memory.EmbedderConfig{Provider: "ollama", Model: "nomic-embed-text"}
		}, "memory.embedder.dimension"},
		{"bedrock without region", func(c *memory.Config) {
			c.Embedder = memory.EmbedderConfig{Provider: "bedrock", Model: "amazon.titan-embed-text-v2:0", Dimension: 1024}
		}, "memory.embedder.region"},
		{"threshold", func(c *memory.Config) { c.Thresholds.Code = 1.5 }, "memory.thresholds.code"},
		{"min samples", func(c *memory.Config) { c.MinSamples = 0 }, "memory.min_samples"},
		{"hnsw m", func(c *memory.Config) { c.HNSWM = 1 }, "memory.hnsw_m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := memory.Defaults()
			tt.change(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want it to name %s", err, tt.want)
			}
		})
	}
}

// TestNewBuildsFromConfig opens each store and a remote embedder from the
// configuration alone, as the app will.
func TestNewBuildsFromConfig(t *testing.T) {
	// An OpenAI-compatible embedding server.
	emb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Input []string }
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &req)
		data := []map[string]any{}
		for i, text := range req.Input {
			v := make([]float32, 16)
			for j := range v {
				v[j] = float32((len(text)*(j+1))%7) + 1
			}
			data = append(data, map[string]any{"index": i, "embedding": v})
		}
		json.NewEncoder(w).Encode(map[string]any{"data": data, "usage": map[string]int{"prompt_tokens": 3, "total_tokens": 3}})
	}))
	defer emb.Close()
	q := qdranttest.Start(t, "")
	stores := map[string]func(c *memory.Config){
		"embedded": func(c *memory.Config) { c.DataDir = t.TempDir() },
		"qdrant":   func(c *memory.Config) { c.Store, c.QdrantAddr = memory.StoreQdrant, q.Addr },
	}
	if url := os.Getenv("QLP_TEST_POSTGRES_URL"); url != "" {
		stores["pgvector"] = func(c *memory.Config) {
			c.Store, c.PostgresURL, c.PostgresSchema = memory.StorePgvector, auth.Secret(url), freshSchema(t, url)
		}
	}
	for name, set := range stores {
		t.Run(name, func(t *testing.T) {
			cfg := memory.Defaults()
			set(&cfg)
			cfg.Embedder = memory.EmbedderConfig{Provider: "ollama", Model: "nomic-embed-text", Dimension: 16, BaseURL: emb.URL + "/v1"}
			rec := &recorder{}
			s := newService(t, cfg, memory.Deps{Usage: rec})
			if err := s.Ready(t.Context()); err != nil {
				t.Fatal(err)
			}
			ctx := asTenant(t.Context(), "acme")
			if err := s.RecordRequest(ctx, memory.RequestRecord{RequestID: "r", Description: "hello"}); err != nil {
				t.Fatal(err)
			}
			u := rec.all()
			if len(u) != 1 || u[0].Provider != "ollama" || u[0].Model != "nomic-embed-text" || u[0].InputTokens != 3 || u[0].TenantID != "acme" || u[0].RequestID != "r" {
				t.Fatalf("usage %+v", u)
			}
			st, err := s.Stats(ctx)
			if err != nil || st.Backend != name {
				t.Fatalf("Stats %+v %v", st, err)
			}
		})
	}
}
