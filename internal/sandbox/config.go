package sandbox

import (
	"errors"
	"runtime"
	"strings"
	"time"

	"github.com/quantumlayer/qlp/internal/settings"
)

// Backend names.
const (
	BackendBwrap       = "bwrap"
	BackendGVisor      = "gvisor"
	BackendUnsafeLocal = "unsafe-local"
)

// Config configures the sandbox service and its runner.
type Config struct {
	// Backend is bwrap (default), gvisor or unsafe-local.
	Backend string `yaml:"backend"`
	// AllowUnsafe must be true for the unsafe-local backend, which runs
	// generated code as plain processes on the host.
	AllowUnsafe bool `yaml:"allow_unsafe"`
	// MaxConcurrent is how many runs execute at once; 0: twice as many as
	// the machine has CPUs (see [Config.Slots]).
	MaxConcurrent int `yaml:"max_concurrent"`
	// QueueSize is how many runs may wait for a slot; past it, 429.
	QueueSize int `yaml:"queue_size"`
	// PerTenant is how many runs of one tenant may execute at once (at
	// most MaxConcurrent); 0: half of MaxConcurrent, rounded up (see
	// [Config.Slots]).
	PerTenant int `yaml:"per_tenant"`
	// DefaultLimits apply to limit fields a spec leaves at zero.
	DefaultLimits Limits `yaml:"default_limits"`
	// MaxLimits are the most a spec may ask for.
	MaxLimits Limits `yaml:"max_limits"`
	// MaxFilesBytes bounds the total size of a spec's files.
	MaxFilesBytes int64 `yaml:"max_files_bytes"`
	// MaxBodyBytes bounds an HTTP request body.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxCollectBytes bounds the total size of collected files.
	MaxCollectBytes int64 `yaml:"max_collect_bytes"`
	// BwrapPath and RunscPath locate the isolation tools (looked up in PATH
	// when not absolute).
	BwrapPath string `yaml:"bwrap_path"`
	RunscPath string `yaml:"runsc_path"`
	// HelperPath is the binary that provides the hidden `sandbox-exec`
	// command; empty means the running executable.
	HelperPath string `yaml:"helper_path"`
	// RuntimeDir holds the sandbox's own files (a copy of the helper when
	// the sandbox user cannot read the executable, gVisor bundles and
	// state, the Go build-cache seed). Empty: a fresh directory under the
	// system temporary directory, removed by Close.
	RuntimeDir string `yaml:"runtime_dir"`
	// SandboxUID is the host uid sandboxed processes run as when the
	// service runs as root (default 65534, "nobody").
	SandboxUID int `yaml:"sandbox_uid"`
	// CgroupParent is the cgroup (v2 path, or v1 path relative to each
	// controller's mount) under which runs get their own cgroups. Empty:
	// the service's own cgroup; "none": no cgroups.
	CgroupParent string `yaml:"cgroup_parent"`
	// GoModCache is the read-only Go module cache offered to Go runs.
	// Empty: `go env GOMODCACHE`; "none": no module cache.
	GoModCache string `yaml:"go_mod_cache"`
	// GoCacheSeed pre-builds the standard library into a read-only build
	// cache copied into each Go run, so that `go test` does not recompile
	// the runtime every time (costs one build when the first Go run comes).
	GoCacheSeed bool `yaml:"go_cache_seed"`
	// GoCacheSeedDir keeps the seed across restarts, one per Go version,
	// so that only the first start on a machine builds it. Empty:
	// /var/cache/qlp/gocache-seed as root, else qlp's directory in the
	// user's cache directory; "none": a seed per process, in the runtime
	// directory.
	GoCacheSeedDir string `yaml:"go_cache_seed_dir"`
	// MypyCacheSeed builds mypy's cache of the standard library's typeshed
	// stubs once per mypy and Python version, kept in GoCacheSeedDir's
	// directory with the Go seeds, and copies it into each Python run that
	// runs mypy, so that mypy does not analyse the stubs every time.
	MypyCacheSeed bool `yaml:"mypy_cache_seed"`
}

// Defaults returns the configuration used when nothing is set.
func Defaults() Config {
	return Config{
		Backend:   BackendBwrap,
		QueueSize: 64,
		DefaultLimits: Limits{
			WallTime:    Duration(30 * time.Second),
			CPUTime:     Duration(30 * time.Second),
			MemoryBytes: 512 << 20,
			Processes:   128,
			OutputBytes: 1 << 20,
			DiskBytes:   256 << 20,
		},
		MaxLimits: Limits{
			WallTime:    Duration(10 * time.Minute),
			CPUTime:     Duration(10 * time.Minute),
			MemoryBytes: 4 << 30,
			Processes:   1024,
			OutputBytes: 64 << 20,
			DiskBytes:   4 << 30,
		},
		MaxFilesBytes:   16 << 20,
		MaxBodyBytes:    96 << 20,
		MaxCollectBytes: 8 << 20,
		BwrapPath:       "bwrap",
		RunscPath:       "runsc",
		SandboxUID:      65534,
		GoCacheSeed:     true,
		MypyCacheSeed:   true,
	}
}

// Slots returns how many runs execute at once, in all and per tenant,
// with the defaults of zero values resolved for this machine: twice as
// many runs as CPUs in all, and half of them, one per CPU, per tenant.
//
// The tools a validation runs (compilers, linters, type checkers, test
// runners) are CPU-bound, and several (go build, go vet, staticcheck) use
// every CPU on their own. One run per CPU keeps every CPU busy, and more
// runs of one tenant would only make each of them slower, while its
// other runs wait in a fair order instead.
//
// The other half is for the other tenants: a run cannot be preempted, so
// a tenant allowed every slot would make the others wait for its runs to
// end (a test that sleeps holds its slot to the end). With a tenant held
// to half, another tenant's run starts at once; when more tenants wait,
// freed slots go to the one holding the fewest.
func (c *Config) Slots() (max, perTenant int) {
	max = c.MaxConcurrent
	if max <= 0 {
		max = 2 * runtime.NumCPU()
	}
	perTenant = c.PerTenant
	if perTenant <= 0 {
		perTenant = (max + 1) / 2
	}
	return max, min(perTenant, max)
}

// Settings binds the configuration to YAML keys under "sandbox." and to
// QLP_SANDBOX_* environment variables.
func (c *Config) Settings() []settings.Setting {
	s := func(key, env, help string, v settings.Value) settings.Setting {
		return settings.Setting{Key: "sandbox." + key, Env: "QLP_SANDBOX_" + env, Help: help, Value: v}
	}
	return []settings.Setting{
		s("backend", "BACKEND", "isolation backend: bwrap, gvisor or unsafe-local", settings.String(&c.Backend)),
		s("allow_unsafe", "ALLOW_UNSAFE", "allow the unsafe-local backend (no isolation; never in production)", settings.Bool(&c.AllowUnsafe)),
		s("max_concurrent", "MAX_CONCURRENT", "runs executing at once (0: two per CPU)", settings.Int(&c.MaxConcurrent)),
		s("queue_size", "QUEUE_SIZE", "runs waiting for a slot before 429", settings.Int(&c.QueueSize)),
		s("per_tenant", "PER_TENANT", "runs of one tenant executing at once (0: half of max_concurrent, rounded up)", settings.Int(&c.PerTenant)),
		s("default_limits.wall_time", "DEFAULT_WALL_TIME", "default wall-clock limit of a run", durationValue(&c.DefaultLimits.WallTime)),
		s("default_limits.cpu_time", "DEFAULT_CPU_TIME", "default CPU-time limit", durationValue(&c.DefaultLimits.CPUTime)),
		s("default_limits.memory_bytes", "DEFAULT_MEMORY", "default memory limit (e.g. 512MiB)", settings.Int64(&c.DefaultLimits.MemoryBytes)),
		s("default_limits.processes", "DEFAULT_PROCESSES", "default process/thread limit", settings.Int(&c.DefaultLimits.Processes)),
		s("default_limits.output_bytes", "DEFAULT_OUTPUT", "default output limit per command", settings.Int64(&c.DefaultLimits.OutputBytes)),
		s("default_limits.disk_bytes", "DEFAULT_DISK", "default size of the writable file system", settings.Int64(&c.DefaultLimits.DiskBytes)),
		s("max_limits.wall_time", "MAX_WALL_TIME", "largest wall-clock limit a spec may ask for", durationValue(&c.MaxLimits.WallTime)),
		s("max_limits.cpu_time", "MAX_CPU_TIME", "largest CPU-time limit", durationValue(&c.MaxLimits.CPUTime)),
		s("max_limits.memory_bytes", "MAX_MEMORY", "largest memory limit", settings.Int64(&c.MaxLimits.MemoryBytes)),
		s("max_limits.processes", "MAX_PROCESSES", "largest process limit", settings.Int(&c.MaxLimits.Processes)),
		s("max_limits.output_bytes", "MAX_OUTPUT", "largest output limit", settings.Int64(&c.MaxLimits.OutputBytes)),
		s("max_limits.disk_bytes", "MAX_DISK", "largest disk limit", settings.Int64(&c.MaxLimits.DiskBytes)),
		s("max_files_bytes", "MAX_FILES_BYTES", "largest total size of a spec's files", settings.Int64(&c.MaxFilesBytes)),
		s("max_body_bytes", "MAX_BODY_BYTES", "largest HTTP request body", settings.Int64(&c.MaxBodyBytes)),
		s("max_collect_bytes", "MAX_COLLECT_BYTES", "largest total size of collected files", settings.Int64(&c.MaxCollectBytes)),
		s("bwrap_path", "BWRAP_PATH", "bubblewrap binary", settings.String(&c.BwrapPath)),
		s("runsc_path", "RUNSC_PATH", "gVisor runsc binary", settings.String(&c.RunscPath)),
		s("helper_path", "HELPER_PATH", "binary providing `sandbox-exec` (default: this executable)", settings.String(&c.HelperPath)),
		s("runtime_dir", "RUNTIME_DIR", "directory for the sandbox's own files (default: a temporary one)", settings.String(&c.RuntimeDir)),
		s("sandbox_uid", "UID", "host uid of sandboxed processes when the service runs as root", settings.Int(&c.SandboxUID)),
		s("cgroup_parent", "CGROUP_PARENT", "cgroup under which runs get theirs (empty: own; none: no cgroups)", settings.String(&c.CgroupParent)),
		s("go_mod_cache", "GO_MOD_CACHE", "read-only Go module cache for Go runs (empty: go env GOMODCACHE; none)", settings.String(&c.GoModCache)),
		s("go_cache_seed", "GO_CACHE_SEED", "pre-build the Go standard library once for Go runs", settings.Bool(&c.GoCacheSeed)),
		s("go_cache_seed_dir", "GO_CACHE_SEED_DIR", "where Go build-cache seeds are kept across restarts (empty: /var/cache/qlp as root, else the user's cache directory; none)", settings.String(&c.GoCacheSeedDir)),
		s("mypy_cache_seed", "MYPY_CACHE_SEED", "build mypy's cache of the standard library once for Python runs (kept with the Go seeds)", settings.Bool(&c.MypyCacheSeed)),
	}
}

// Validate reports the first setting that is out of range, by name.
func (c *Config) Validate() error {
	list := c.Settings()
	bad := func(key, format string, args ...any) error {
		return settings.Invalid(list, "sandbox."+key, format, args...)
	}
	name := func(key string) string { return settings.NameOf(list, "sandbox."+key) }
	switch c.Backend {
	case BackendBwrap, BackendGVisor:
	case BackendUnsafeLocal:
		if !c.AllowUnsafe {
			return bad("backend", "unsafe-local runs generated code without isolation; set %s=true to allow it", name("allow_unsafe"))
		}
	default:
		return bad("backend", "unknown backend %q (want bwrap, gvisor or unsafe-local)", c.Backend)
	}
	for _, p := range []struct {
		key string
		v   int
	}{{"max_concurrent", c.MaxConcurrent + 1}, {"queue_size", c.QueueSize + 1}, {"per_tenant", c.PerTenant + 1}} {
		if p.v < 1 {
			return bad(p.key, "must not be negative")
		}
	}
	for _, set := range []struct {
		prefix string
		l      Limits
	}{{"default_limits.", c.DefaultLimits}, {"max_limits.", c.MaxLimits}} {
		if err := set.l.positive(); err != nil {
			var fe *SpecError
			if errors.As(err, &fe) {
				return bad(set.prefix+fe.Field, "%s", fe.Message)
			}
			return err
		}
	}
	if err := c.DefaultLimits.within(c.MaxLimits); err != nil {
		var fe *SpecError
		if !errors.As(err, &fe) {
			return err
		}
		return bad("default_limits."+strings.TrimPrefix(fe.Field, "limits."), "%s (the maximum)", fe.Message)
	}
	if c.MaxFilesBytes < 1 || c.MaxBodyBytes < c.MaxFilesBytes {
		return bad("max_body_bytes", "must be at least %s", name("max_files_bytes"))
	}
	if c.SandboxUID < 1 {
		return bad("sandbox_uid", "must be a non-root uid")
	}
	return nil
}

// durationValue binds a Duration field to settings.
func durationValue(p *Duration) settings.Value { return (*durSetting)(p) }

type durSetting Duration

func (d *durSetting) Set(s string) error {
	var td time.Duration
	if err := settings.Duration(&td).Set(s); err != nil {
		return err
	}
	*d = durSetting(td)
	return nil
}
func (d *durSetting) String() string { return time.Duration(*d).String() }
