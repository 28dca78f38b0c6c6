package memory

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/settings"
)

// Store backends.
const (
	StoreEmbedded = "embedded"
	StorePgvector = "pgvector"
	StoreQdrant   = "qdrant"
)

// Embedding providers.
const (
	ProviderBuiltin = "builtin"
	ProviderOpenAI  = "openai"
	ProviderAzure   = "azure"
	ProviderOllama  = "ollama"
	ProviderBedrock = "bedrock"
)

// Config configures the memory service. Bind it with Settings; check it with
// Validate.
type Config struct {
	// Store is the vector store: embedded, pgvector or qdrant.
	Store string `yaml:"store"`
	// DataDir holds the embedded store (snapshot, log, lock).
	DataDir string `yaml:"data_dir"`
	// PostgresURL is the PostgreSQL holding the pgvector tables, normally
	// the platform's own database.
	PostgresURL auth.Secret `yaml:"postgres_url"`
	// PostgresSchema is the schema of the pgvector tables.
	PostgresSchema string `yaml:"postgres_schema"`
	// QdrantAddr is host:port of Qdrant's gRPC API.
	QdrantAddr   string      `yaml:"qdrant_addr"`
	QdrantAPIKey auth.Secret `yaml:"qdrant_api_key"`
	QdrantTLS    bool        `yaml:"qdrant_tls"`

	Embedder EmbedderConfig `yaml:"embedder"`

	// Thresholds are cosine similarities below which recall returns
	// nothing. Zero means the default for the embedder (see
	// DefaultThresholds): lexical embeddings give lower cosines than neural
	// ones, so one set of numbers cannot suit both.
	Thresholds Thresholds `yaml:"thresholds"`

	// MinSamples and MinSuccessRate are what TierStats requires of a tier
	// before recommending it.
	MinSamples     int     `yaml:"min_samples"`
	MinSuccessRate float64 `yaml:"min_success_rate"`

	// MaxTextBytes bounds each text field; MaxBodyBytes each request body.
	MaxTextBytes int64 `yaml:"max_text_bytes"`
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// EmbedCacheSize is how many embeddings are kept to avoid paying twice
	// for the same text (0 turns the cache off).
	EmbedCacheSize int `yaml:"embed_cache_size"`

	// HNSW parameters of the embedded store.
	HNSWM              int `yaml:"hnsw_m"`
	HNSWEfConstruction int `yaml:"hnsw_ef_construction"`
	HNSWEfSearch       int `yaml:"hnsw_ef_search"`
}

// EmbedderConfig chooses and configures the embedding model.
type EmbedderConfig struct {
	// Provider: builtin, openai, azure, ollama or bedrock.
	Provider string `yaml:"provider"`
	// Model: the model (Azure: the deployment; Bedrock: the model id).
	Model string `yaml:"model"`
	// BaseURL of OpenAI-compatible providers; for Bedrock, an endpoint
	// override.
	BaseURL string      `yaml:"base_url"`
	APIKey  auth.Secret `yaml:"api_key"`
	// Dimension of the vectors. The builtin default is 384; remote models
	// must state theirs.
	Dimension  int    `yaml:"dimension"`
	APIVersion string `yaml:"api_version"`
	// Region and static credentials of Bedrock (default chain when empty).
	Region             string        `yaml:"region"`
	AWSAccessKeyID     auth.Secret   `yaml:"aws_access_key_id"`
	AWSSecretAccessKey auth.Secret   `yaml:"aws_secret_access_key"`
	Timeout            time.Duration `yaml:"timeout"`
}

// Thresholds are the minimum cosine similarities of each kind of recall.
type Thresholds struct {
	Requests float64 `yaml:"requests"` // similar past requests
	Code     float64 `yaml:"code"`     // code examples
	Errors   float64 `yaml:"errors"`   // repair hints
	Reuse    float64 `yaml:"reuse"`    // reuse of a whole capsule
}

// DefaultThresholds returns the thresholds used for a provider when the
// configuration leaves them at zero. The earlier QLP used 0.7 (requests)
// and 0.75 (code) with ada-002; the builtin lexical embedder puts
// paraphrases around 0.3–0.6, so its request and code thresholds are
// lower. The builtin ones are measured on a labelled relevance set
// (bench/recall, precision@3 ≥ 0.9 wanted): code 0.2 (precision@3 1.00,
// recall@3 0.83), requests 0.3 (0.92, 1.00), errors 0.75 (0.91, 0.91):
// failures of the same check share most of their words, so an unrelated
// test failure already scores 0.68. Reuse stays strict for both: only a
// near-identical request may skip generation.
func DefaultThresholds(provider string) Thresholds {
	if provider == ProviderBuiltin || provider == "" {
		return Thresholds{Requests: 0.3, Code: 0.2, Errors: 0.75, Reuse: 0.95}
	}
	return Thresholds{Requests: 0.7, Code: 0.75, Errors: 0.8, Reuse: 0.97}
}

// Defaults returns the embedded configuration: the HNSW store under
// data/memory and the builtin embedder.
func Defaults() Config {
	return Config{
		Store:              StoreEmbedded,
		DataDir:            "data/memory",
		PostgresSchema:     "public",
		QdrantAddr:         "localhost:6334",
		Embedder:           EmbedderConfig{Provider: ProviderBuiltin, Dimension: 384, APIVersion: "2024-10-21", Timeout: 60 * time.Second},
		MinSamples:         5,
		MinSuccessRate:     0.8,
		MaxTextBytes:       256 << 10,
		MaxBodyBytes:       32 << 20,
		EmbedCacheSize:     4096,
		HNSWM:              16,
		HNSWEfConstruction: 200,
		HNSWEfSearch:       64,
	}
}

// Settings binds every field to a memory.* key and a QLP_MEMORY_* variable.
func (c *Config) Settings() []settings.Setting {
	s := func(key, env, help string, v settings.Value) settings.Setting {
		return settings.Setting{Key: "memory." + key, Env: "QLP_MEMORY_" + env, Help: help, Value: v}
	}
	secret := func(st settings.Setting) settings.Setting { st.Secret = true; return st }
	e := &c.Embedder
	return []settings.Setting{
		s("store", "STORE", "vector store: embedded, pgvector or qdrant", settings.String(&c.Store)),
		s("data_dir", "DATA_DIR", "directory of the embedded store", settings.String(&c.DataDir)),
		secret(s("postgres_url", "POSTGRES_URL", "PostgreSQL URL of the pgvector store", secretValue(&c.PostgresURL))),
		s("postgres_schema", "POSTGRES_SCHEMA", "schema of the pgvector tables", settings.String(&c.PostgresSchema)),
		s("qdrant_addr", "QDRANT_ADDR", "Qdrant gRPC address host:port", settings.String(&c.QdrantAddr)),
		secret(s("qdrant_api_key", "QDRANT_API_KEY", "Qdrant API key", secretValue(&c.QdrantAPIKey))),
		s("qdrant_tls", "QDRANT_TLS", "use TLS to reach Qdrant", settings.Bool(&c.QdrantTLS)),
		s("embedder.provider", "EMBEDDER_PROVIDER", "embedding provider: builtin, openai, azure, ollama or bedrock", settings.String(&e.Provider)),
		s("embedder.model", "EMBEDDER_MODEL", "embedding model (Azure: deployment; Bedrock: model id)", settings.String(&e.Model)),
		s("embedder.base_url", "EMBEDDER_BASE_URL", "base URL of an OpenAI-compatible provider, or a Bedrock endpoint override", settings.String(&e.BaseURL)),
		secret(s("embedder.api_key", "EMBEDDER_API_KEY", "API key of the embedding provider", secretValue(&e.APIKey))),
		s("embedder.dimension", "EMBEDDER_DIMENSION", "vector dimension of the embedding model", settings.Int(&e.Dimension)),
		s("embedder.api_version", "EMBEDDER_API_VERSION", "Azure OpenAI api-version", settings.String(&e.APIVersion)),
		s("embedder.region", "EMBEDDER_REGION", "AWS region of Bedrock", settings.String(&e.Region)),
		secret(s("embedder.aws_access_key_id", "EMBEDDER_AWS_ACCESS_KEY_ID", "Bedrock access key id (default chain when empty)", secretValue(&e.AWSAccessKeyID))),
		secret(s("embedder.aws_secret_access_key", "EMBEDDER_AWS_SECRET_ACCESS_KEY", "Bedrock secret access key", secretValue(&e.AWSSecretAccessKey))),
		s("embedder.timeout", "EMBEDDER_TIMEOUT", "timeout of one embedding request", settings.Duration(&e.Timeout)),
		s("thresholds.requests", "THRESHOLD_REQUESTS", "min cosine of similar past requests (0: embedder default)", settings.Float(&c.Thresholds.Requests)),
		s("thresholds.code", "THRESHOLD_CODE", "min cosine of code examples (0: embedder default)", settings.Float(&c.Thresholds.Code)),
		s("thresholds.errors", "THRESHOLD_ERRORS", "min cosine of repair hints (0: embedder default)", settings.Float(&c.Thresholds.Errors)),
		s("thresholds.reuse", "THRESHOLD_REUSE", "min cosine to reuse a validated capsule (0: embedder default)", settings.Float(&c.Thresholds.Reuse)),
		s("min_samples", "MIN_SAMPLES", "outcomes a tier needs before it is recommended", settings.Int(&c.MinSamples)),
		s("min_success_rate", "MIN_SUCCESS_RATE", "success rate a tier needs before it is recommended", settings.Float(&c.MinSuccessRate)),
		s("max_text_bytes", "MAX_TEXT_BYTES", "largest text field accepted", settings.Int64(&c.MaxTextBytes)),
		s("max_body_bytes", "MAX_BODY_BYTES", "largest request body accepted", settings.Int64(&c.MaxBodyBytes)),
		s("embed_cache_size", "EMBED_CACHE_SIZE", "embeddings kept in memory to avoid paying twice (0: off)", settings.Int(&c.EmbedCacheSize)),
		s("hnsw_m", "HNSW_M", "links per node of the embedded HNSW graphs", settings.Int(&c.HNSWM)),
		s("hnsw_ef_construction", "HNSW_EF_CONSTRUCTION", "candidate list size when inserting into the embedded graphs", settings.Int(&c.HNSWEfConstruction)),
		s("hnsw_ef_search", "HNSW_EF_SEARCH", "candidate list size when searching (embedded store)", settings.Int(&c.HNSWEfSearch)),
	}
}

// secretValue binds an auth.Secret field.
func secretValue(p *auth.Secret) settings.Value { return (*secretSetting)(p) }

type secretSetting auth.Secret

func (v *secretSetting) Set(s string) error { *v = secretSetting(s); return nil }
func (v *secretSetting) String() string     { return string(*v) }

// Validate checks the configuration; its errors name the setting.
func (c *Config) Validate() error {
	list := c.Settings()
	bad := func(key, format string, args ...any) error {
		return settings.Invalid(list, "memory."+key, format, args...)
	}
	var errs []error
	switch c.Store {
	case StoreEmbedded:
		if c.DataDir == "" {
			errs = append(errs, bad("data_dir", "must be set for the embedded store"))
		}
	case StorePgvector:
		if c.PostgresURL == "" {
			errs = append(errs, bad("postgres_url", "must be set for the pgvector store"))
		}
	case StoreQdrant:
		if _, _, err := net.SplitHostPort(c.QdrantAddr); err != nil {
			errs = append(errs, bad("qdrant_addr", "%q is not host:port", c.QdrantAddr))
		}
	default:
		errs = append(errs, bad("store", "%q is not embedded, pgvector or qdrant", c.Store))
	}
	e := c.Embedder
	switch e.Provider {
	case ProviderBuiltin:
		if e.Dimension != 0 && (e.Dimension < 16 || e.Dimension > 2000) {
			errs = append(errs, bad("embedder.dimension", "%d is out of range 16..2000", e.Dimension))
		}
	case ProviderOpenAI, ProviderAzure, ProviderOllama, ProviderBedrock:
		if e.Model == "" {
			errs = append(errs, bad("embedder.model", "must be set for provider %s", e.Provider))
		}
		if e.Dimension <= 0 || e.Dimension > 2000 {
			errs = append(errs, bad("embedder.dimension", "must be the model's dimension, 1..2000 (got %d)", e.Dimension))
		}
		if (e.Provider == ProviderOpenAI || e.Provider == ProviderAzure) && e.APIKey == "" {
			errs = append(errs, bad("embedder.api_key", "must be set for provider %s", e.Provider))
		}
		if e.Provider == ProviderAzure && e.BaseURL == "" {
			errs = append(errs, bad("embedder.base_url", "must be the Azure OpenAI resource endpoint"))
		}
		if e.Provider == ProviderBedrock && e.Region == "" {
			errs = append(errs, bad("embedder.region", "must be set for Bedrock"))
		}
	default:
		errs = append(errs, bad("embedder.provider", "%q is not builtin, openai, azure, ollama or bedrock", e.Provider))
	}
	for key, v := range map[string]float64{"thresholds.requests": c.Thresholds.Requests, "thresholds.code": c.Thresholds.Code,
		"thresholds.errors": c.Thresholds.Errors, "thresholds.reuse": c.Thresholds.Reuse, "min_success_rate": c.MinSuccessRate} {
		if v < 0 || v > 1 {
			errs = append(errs, bad(key, "%v is outside 0..1", v))
		}
	}
	if c.MinSamples < 1 {
		errs = append(errs, bad("min_samples", "must be at least 1"))
	}
	if c.MaxTextBytes < 1024 {
		errs = append(errs, bad("max_text_bytes", "must be at least 1024"))
	}
	if c.MaxBodyBytes < c.MaxTextBytes {
		errs = append(errs, bad("max_body_bytes", "must be at least max_text_bytes (%d)", c.MaxTextBytes))
	}
	if c.EmbedCacheSize < 0 {
		errs = append(errs, bad("embed_cache_size", "must not be negative"))
	}
	if c.HNSWM < 2 || c.HNSWM > 128 {
		errs = append(errs, bad("hnsw_m", "%d is out of range 2..128", c.HNSWM))
	}
	if c.HNSWEfConstruction < c.HNSWM {
		errs = append(errs, bad("hnsw_ef_construction", "must be at least hnsw_m"))
	}
	if c.HNSWEfSearch < 1 {
		errs = append(errs, bad("hnsw_ef_search", "must be positive"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	return nil
}

// thresholds fills zero thresholds with the embedder's defaults.
func (c *Config) thresholds() Thresholds {
	d := DefaultThresholds(c.Embedder.Provider)
	t := c.Thresholds
	if t.Requests == 0 {
		t.Requests = d.Requests
	}
	if t.Code == 0 {
		t.Code = d.Code
	}
	if t.Errors == 0 {
		t.Errors = d.Errors
	}
	if t.Reuse == 0 {
		t.Reuse = d.Reuse
	}
	return t
}
