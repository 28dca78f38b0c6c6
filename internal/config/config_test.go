package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/config"
	"github.com/quantumlayer/qlp/internal/llm/tiers"
	"github.com/quantumlayer/qlp/internal/logx"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestPrecedenceDefaultsFileEnvOverrides(t *testing.T) {
	file := filepath.Join(t.TempDir(), "qlp.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
data_dir: /from/file
log:
  level: debug
llm:
  provider: openai
  model_t0: gpt-4o-mini
workflow:
  max_parallel: 2
`), 0o600))
	c, err := config.Load(config.Source{File: file,
		Environ:   env(map[string]string{"QLP_LLM_PROVIDER": "replay", "QLP_WORKFLOW_MAX_PARALLEL": "3"}),
		Overrides: map[string]string{"workflow.max_parallel": "5", "QLP_LOG_LEVEL": "warn"}})
	require.NoError(t, err)
	require.Equal(t, "/from/file", c.DataDir, "file beats defaults")
	require.Equal(t, "replay", c.LLM.Provider, "env beats file")
	require.Equal(t, 5, c.Workflow.MaxParallel, "--set beats env")
	require.Equal(t, "warn", c.LogLevel, "--set accepts env names too")
	require.Equal(t, "gpt-4o-mini", c.LLM.Models[0])
	require.Empty(t, c.LLM.Models[1], "an untouched tier takes its pack's model")
	require.Equal(t, 5*time.Minute, c.LLM.Timeout, "untouched defaults stay")
	require.Equal(t, 30*time.Second, c.Workflow.HeartbeatTimeout)
}

func TestErrorsNameTheSetting(t *testing.T) {
	tests := []struct {
		name string
		src  config.Source
		want string
	}{
		{"bad int in env", config.Source{Environ: env(map[string]string{"QLP_WORKFLOW_MAX_PARALLEL": "many"})}, "QLP_WORKFLOW_MAX_PARALLEL"},
		{"bad duration in env", config.Source{Environ: env(map[string]string{"QLP_WORKFLOW_HEARTBEAT_TIMEOUT": "soon"})}, "QLP_WORKFLOW_HEARTBEAT_TIMEOUT"},
		{"unknown --set", config.Source{Environ: env(nil), Overrides: map[string]string{"nope": "1"}}, "--set nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(tt.src)
			require.ErrorContains(t, err, tt.want)
		})
	}
	file := filepath.Join(t.TempDir(), "qlp.yaml")
	require.NoError(t, os.WriteFile(file, []byte("llm:\n  providr: openai\n"), 0o600))
	_, err := config.Load(config.Source{File: file, Environ: env(nil)})
	require.ErrorContains(t, err, `unknown setting "llm.providr"`)
}

func TestValidateCore(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*config.Config)
		want string
	}{
		{"ok", func(*config.Config) {}, ""},
		{"log level", func(c *config.Config) { c.LogLevel = "loud" }, "QLP_LOG_LEVEL"},
		{"api addr", func(c *config.Config) { c.API.Addr = "8000" }, "QLP_API_ADDR"},
		{"parallel", func(c *config.Config) { c.Workflow.MaxParallel = 0 }, "QLP_WORKFLOW_MAX_PARALLEL"},
		{"tier", func(c *config.Config) { c.Workflow.DecomposerTier = "T9" }, "QLP_WORKFLOW_DECOMPOSER_TIER"},
		{"task validation", func(c *config.Config) { c.Workflow.TaskValidation = "thorough" }, "QLP_WORKFLOW_TASK_VALIDATION"},
		{"task validation full", func(c *config.Config) { c.Workflow.TaskValidation = "full" }, ""},
		{"store", func(c *config.Config) { c.Store.Driver = "oracle" }, "QLP_STORE_DRIVER"},
		{"empty data dir", func(c *config.Config) { c.DataDir = " " }, "QLP_DATA_DIR"},
		{"review threshold", func(c *config.Config) { c.Workflow.Review.Threshold = 1.5 }, "QLP_HITL_THRESHOLD"},
		{"review policy", func(c *config.Config) { c.Workflow.Review.OnTimeout = "ignore" }, "QLP_HITL_ON_TIMEOUT"},
		{"review timeout", func(c *config.Config) { c.Workflow.Review.OnTimeout, c.Workflow.Review.Timeout = "approve", 0 }, "QLP_HITL_TIMEOUT"},
		{"review wait needs no timeout", func(c *config.Config) { c.Workflow.Review.Threshold, c.Workflow.Review.Timeout = 0.8, 0 }, ""},
		{"blob backend", func(c *config.Config) { c.Blob.Backend = "gcs" }, "QLP_BLOB_BACKEND"},
		{"blob s3 without a bucket", func(c *config.Config) { c.Blob.Backend, c.Blob.Region = "s3", "us-east-1" }, "blob.bucket (QLP_BLOB_BUCKET): required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Defaults()
			tt.mod(&c)
			err := c.ValidateCore()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestDumpRedactsSecrets(t *testing.T) {
	c, err := config.Load(config.Source{Environ: env(map[string]string{"QLP_LLM_API_KEY": "sk-very-secret", "QLP_DATABASE_URL": "postgres://u:pw@h/db",
		"QLP_BLOB_ACCOUNT_KEY": "azure-account-key", "QLP_BLOB_SAS_TOKEN": "sv=2025&sig=azure-sas-sig", "QLP_BLOB_SECRET_ACCESS_KEY": "s3-secret-key"})})
	require.NoError(t, err)
	var b strings.Builder
	for _, s := range c.Dump() {
		b.WriteString(s.Key + "=" + s.Display() + "\n")
	}
	require.NotContains(t, b.String(), "sk-very-secret")
	require.NotContains(t, b.String(), "pw@")
	require.Contains(t, b.String(), "llm.api_key=[redacted]")
	for _, secret := range []string{"azure-account-key", "azure-sas-sig", "s3-secret-key"} {
		require.NotContains(t, b.String(), secret)
	}
	for _, key := range []string{"blob.account_key", "blob.sas_token", "blob.secret_access_key"} {
		require.Contains(t, b.String(), key+"=[redacted]")
	}
}

// TestBlobSettings: the blob store is configured from QLP_BLOB_*, and the
// local backend's directory defaults to blobs under the data directory.
func TestBlobSettings(t *testing.T) {
	c, err := config.Load(config.Source{Environ: env(map[string]string{"QLP_DATA_DIR": "/srv/qlp"})})
	require.NoError(t, err)
	require.Equal(t, "local", c.Blob.Backend)
	require.Equal(t, "/srv/qlp/blobs", c.BlobConfig().Dir)
	require.NoError(t, c.ValidateCore())

	c, err = config.Load(config.Source{Environ: env(map[string]string{
		"QLP_BLOB_BACKEND": "s3", "QLP_BLOB_BUCKET": "qlp-capsules", "QLP_BLOB_REGION": "eu-west-1",
		"QLP_BLOB_ENDPOINT": "http://minio:9000", "QLP_BLOB_PATH_STYLE": "true", "QLP_BLOB_PART_SIZE": "32MiB",
		"QLP_BLOB_ACCESS_KEY_ID": "AKIDEXAMPLE", "QLP_BLOB_SECRET_ACCESS_KEY": "s3-secret-key", "QLP_BLOB_DIR": "/mnt/blobs"})})
	require.NoError(t, err)
	require.NoError(t, c.ValidateCore())
	b := c.BlobConfig()
	require.Equal(t, "s3", b.Backend)
	require.Equal(t, "qlp-capsules", b.Bucket)
	require.Equal(t, "eu-west-1", b.Region)
	require.Equal(t, "http://minio:9000", b.Endpoint)
	require.True(t, b.PathStyle)
	require.EqualValues(t, 32<<20, b.PartSize)
	require.Equal(t, "AKIDEXAMPLE", b.AccessKeyID)
	require.Equal(t, "s3-secret-key", b.SecretAccessKey)
	require.Equal(t, "/mnt/blobs", b.Dir)

	_, err = config.Load(config.Source{Environ: env(map[string]string{"QLP_BLOB_PATH_STYLE": "sometimes"})})
	require.ErrorContains(t, err, "blob.path_style (QLP_BLOB_PATH_STYLE)")
	c, err = config.Load(config.Source{Environ: env(map[string]string{"QLP_BLOB_BACKEND": "azure", "QLP_BLOB_CONTAINER": "capsules"})})
	require.NoError(t, err)
	require.ErrorContains(t, c.ValidateCore(), "blob.account (QLP_BLOB_ACCOUNT): required for the azure backend")
}

// TestConfigurationDocIsComplete keeps docs/configuration.md in step with
// the code: every setting must be listed there.
func TestConfigurationDocIsComplete(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	require.NoError(t, err)
	c := config.Defaults()
	for _, s := range c.Settings() {
		if !strings.Contains(string(doc), "`"+s.Env+"`") || !strings.Contains(string(doc), "`"+s.Key+"`") {
			t.Errorf("docs/configuration.md lacks %s (%s): run scripts/update-config-doc.sh", s.Key, s.Env)
		}
	}
}

// TestCostSettingsBadInput: negative budgets, an unknown currency and an
// unknown model are refused at configuration time, naming the setting.
func TestCostSettingsBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	euro := write("euro.yaml", "pools: [{name: azure, amount: \"4000\", currency: EUR, providers: [azure]}]\n")
	gbp := write("gbp.yaml", "pools: [{name: azure, amount: \"4000\", currency: GBP, providers: [azure]}]\n")
	unpriced := write("prices.yaml", "models: [{provider: openai, model: my-model, input: \"1\", output: \"-2\"}]\n")
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"negative request budget", map[string]string{"QLP_BUDGET_REQUEST_USD": "-0.10"}, `budget.request_usd (QLP_BUDGET_REQUEST_USD): "-0.10" is negative`},
		{"negative daily budget", map[string]string{"QLP_BUDGET_TENANT_DAILY_USD": "-1"}, "budget.tenant_daily_usd (QLP_BUDGET_TENANT_DAILY_USD)"},
		{"negative monthly budget", map[string]string{"QLP_BUDGET_TENANT_MONTHLY_USD": "-1"}, "budget.tenant_monthly_usd (QLP_BUDGET_TENANT_MONTHLY_USD)"},
		{"unknown policy", map[string]string{"QLP_BUDGET_POLICY": "hope"}, "budget.policy (QLP_BUDGET_POLICY)"},
		{"unknown currency", map[string]string{"QLP_COSTS_FILE": euro}, `costs.file (QLP_COSTS_FILE) ` + euro + `: pools[0] (azure).currency: unknown currency "EUR" (want USD or GBP)`},
		{"GBP without a rate", map[string]string{"QLP_COSTS_FILE": gbp}, "set costs.gbp_usd_rate (QLP_COSTS_GBP_USD_RATE)"},
		{"bad rate", map[string]string{"QLP_COSTS_GBP_USD_RATE": "-1.3"}, "costs.gbp_usd_rate (QLP_COSTS_GBP_USD_RATE)"},
		{"bad price file", map[string]string{"QLP_PRICING_FILE": unpriced}, "pricing.file (QLP_PRICING_FILE)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(config.Source{Environ: env(tt.env)})
			require.NoError(t, err)
			err = c.ValidateCore()
			if err == nil {
				_, _, err = c.LoadCosts()
			}
			require.ErrorContains(t, err, tt.want)
		})
	}

	// An unknown model is refused when the tiers are built, naming the settings.
	c, err := config.Load(config.Source{Environ: env(map[string]string{"QLP_LLM_PROVIDER": "openai", "QLP_LLM_API_KEY": "sk-test", "QLP_LLM_MODEL_T2": "gpt-4.1-turbo-ultra"})})
	require.NoError(t, err)
	_, err = tiers.Build(c.LLM, nil, logx.Discard())
	require.ErrorContains(t, err, "QLP_LLM_MODEL_T0..T3")
	require.ErrorContains(t, err, `no price for model "gpt-4.1-turbo-ultra" of provider "openai"`)

	// GBP with the rate given: $5,000.
	c, err = config.Load(config.Source{Environ: env(map[string]string{"QLP_COSTS_FILE": gbp, "QLP_COSTS_GBP_USD_RATE": "1.25"})})
	require.NoError(t, err)
	require.NoError(t, c.ValidateCore())
	_, plan, err := c.LoadCosts()
	require.NoError(t, err)
	require.EqualValues(t, 5_000_000_000_000_000, plan.Pools[0].AmountPUSD)
}
