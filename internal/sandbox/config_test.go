package sandbox_test

import (
	"testing"

	"github.com/quantumlayer/qlp/internal/sandbox"
)

// TestConfigValidateNamesTheSetting: each bad value is reported with its key
// and variable (a misspelt key in Validate would panic here).
func TestConfigValidateNamesTheSetting(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*sandbox.Config)
		want string
	}{
		{"defaults", func(*sandbox.Config) {}, ""},
		{"unsafe without allow", func(c *sandbox.Config) { c.Backend = sandbox.BackendUnsafeLocal },
			"sandbox.backend (QLP_SANDBOX_BACKEND): unsafe-local runs generated code without isolation; set sandbox.allow_unsafe (QLP_SANDBOX_ALLOW_UNSAFE)=true to allow it"},
		{"unsafe allowed", func(c *sandbox.Config) { c.Backend, c.AllowUnsafe = sandbox.BackendUnsafeLocal, true }, ""},
		{"unknown backend", func(c *sandbox.Config) { c.Backend = "docker" },
			`sandbox.backend (QLP_SANDBOX_BACKEND): unknown backend "docker" (want bwrap, gvisor or unsafe-local)`},
		{"negative queue", func(c *sandbox.Config) { c.QueueSize = -1 }, "sandbox.queue_size (QLP_SANDBOX_QUEUE_SIZE): must not be negative"},
		{"negative per tenant", func(c *sandbox.Config) { c.PerTenant = -1 }, "sandbox.per_tenant (QLP_SANDBOX_PER_TENANT): must not be negative"},
		{"default processes", func(c *sandbox.Config) { c.DefaultLimits.Processes = 2 },
			"sandbox.default_limits.processes (QLP_SANDBOX_DEFAULT_PROCESSES): must be at least 8"},
		{"max disk", func(c *sandbox.Config) { c.MaxLimits.DiskBytes = 1 }, "sandbox.max_limits.disk_bytes (QLP_SANDBOX_MAX_DISK): must be at least 1MiB"},
		{"default above max", func(c *sandbox.Config) { c.DefaultLimits.Processes = c.MaxLimits.Processes + 1 },
			"sandbox.default_limits.processes (QLP_SANDBOX_DEFAULT_PROCESSES): must be at most 1024 (the maximum)"},
		{"body below files", func(c *sandbox.Config) { c.MaxBodyBytes = c.MaxFilesBytes - 1 },
			"sandbox.max_body_bytes (QLP_SANDBOX_MAX_BODY_BYTES): must be at least sandbox.max_files_bytes (QLP_SANDBOX_MAX_FILES_BYTES)"},
		{"root uid", func(c *sandbox.Config) { c.SandboxUID = 0 }, "sandbox.sandbox_uid (QLP_SANDBOX_UID): must be a non-root uid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sandbox.Defaults()
			tt.mod(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}
