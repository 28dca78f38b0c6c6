package sandbox

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/quantumlayer/qlp/internal/sandbox/wire"
)

// ErrQueueFull is returned when the run queue is full; retry later.
var ErrQueueFull = errors.New("sandbox: run queue is full")

func specErr(field, format string, args ...any) *SpecError {
	return &SpecError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Bounds on the shape of a spec, beyond the configurable sizes.
const (
	maxFiles        = 10000
	maxCommands     = 32
	maxArgs         = 4096
	maxArgBytes     = 256 << 10
	maxEnv          = 256
	maxCollect      = 64
	maxDependencies = 256
)

// validate checks the spec's shape against the configuration. Language is
// checked by the caller, which knows what the host runs.
func (c *Config) validate(s *Spec) error {
	switch s.Mode {
	case "", "run", "build", "test":
	default:
		return specErr("mode", "unknown mode %q (want run, build or test)", s.Mode)
	}
	if len(s.Files) > maxFiles {
		return specErr("files", "at most %d files", maxFiles)
	}
	var total int64
	seen := make(map[string]bool, len(s.Files))
	for i, f := range s.Files {
		field := fmt.Sprintf("files[%d].path", i)
		if err := wire.CheckRelPath(field, f.Path); err != nil {
			return err
		}
		if seen[f.Path] {
			return specErr(field, "duplicate path %q", f.Path)
		}
		seen[f.Path] = true
		total += int64(len(f.Content))
		if total > c.MaxFilesBytes {
			return specErr("files", "total size exceeds the limit of %d bytes", c.MaxFilesBytes)
		}
	}
	for i, f := range s.Files {
		for dir := path.Dir(f.Path); dir != "."; dir = path.Dir(dir) {
			if seen[dir] {
				return specErr(fmt.Sprintf("files[%d].path", i), "%q is inside %q, which is a file", f.Path, dir)
			}
		}
	}
	if s.Entrypoint != "" {
		if err := wire.CheckRelPath("entrypoint", s.Entrypoint); err != nil {
			return err
		}
	}
	if len(s.Commands) > maxCommands {
		return specErr("commands", "at most %d commands", maxCommands)
	}
	for i, cmd := range s.Commands {
		field := fmt.Sprintf("commands[%d]", i)
		if len(cmd.Args) == 0 || cmd.Args[0] == "" {
			return specErr(field+".args", "must name a program")
		}
		if len(cmd.Args) > maxArgs {
			return specErr(field+".args", "at most %d arguments", maxArgs)
		}
		n := 0
		for _, a := range cmd.Args {
			n += len(a)
			if strings.ContainsRune(a, 0) {
				return specErr(field+".args", "must not contain NUL bytes")
			}
		}
		if n > maxArgBytes {
			return specErr(field+".args", "arguments exceed %d bytes", maxArgBytes)
		}
		if cmd.Timeout < 0 {
			return specErr(field+".timeout", "must not be negative")
		}
		if len(cmd.Name) > 64 {
			return specErr(field+".name", "at most 64 characters")
		}
		if int64(len(cmd.Stdin)) > c.MaxFilesBytes {
			return specErr(field+".stdin", "exceeds %d bytes", c.MaxFilesBytes)
		}
	}
	if len(s.Env) > maxEnv {
		return specErr("env", "at most %d variables", maxEnv)
	}
	for k, v := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			return specErr("env", "invalid variable %q", k)
		}
	}
	if err := s.Limits.nonNegative(); err != nil {
		return err
	}
	if err := s.Limits.within(c.MaxLimits); err != nil {
		return err
	}
	if len(s.Collect) > maxCollect {
		return specErr("collect", "at most %d patterns", maxCollect)
	}
	for i, p := range s.Collect {
		field := fmt.Sprintf("collect[%d]", i)
		if err := wire.CheckRelPath(field, p); err != nil {
			return err
		}
		if _, err := path.Match(p, ""); err != nil {
			return specErr(field, "bad pattern: %v", err)
		}
	}
	if len(s.Dependencies) > maxDependencies {
		return specErr("dependencies", "at most %d", maxDependencies)
	}
	for i, d := range s.Dependencies {
		if d == "" || len(d) > 200 || strings.ContainsAny(d, "\x00\n") {
			return specErr(fmt.Sprintf("dependencies[%d]", i), "must be a package name")
		}
	}
	return nil
}

func (l Limits) nonNegative() error {
	switch {
	case l.WallTime < 0:
		return specErr("limits.wall_time", "must not be negative")
	case l.CPUTime < 0:
		return specErr("limits.cpu_time", "must not be negative")
	case l.MemoryBytes < 0:
		return specErr("limits.memory_bytes", "must not be negative")
	case l.Processes < 0:
		return specErr("limits.processes", "must not be negative")
	case l.OutputBytes < 0:
		return specErr("limits.output_bytes", "must not be negative")
	case l.DiskBytes < 0:
		return specErr("limits.disk_bytes", "must not be negative")
	}
	return nil
}

// positive is for configured limits, which must all be set. Fields are
// named without the "limits." prefix.
func (l Limits) positive() error {
	switch {
	case l.WallTime <= 0:
		return specErr("wall_time", "must be positive")
	case l.CPUTime <= 0:
		return specErr("cpu_time", "must be positive")
	case l.MemoryBytes < 16<<20:
		return specErr("memory_bytes", "must be at least 16MiB")
	case l.Processes < 8:
		return specErr("processes", "must be at least 8")
	case l.OutputBytes < 1024:
		return specErr("output_bytes", "must be at least 1KiB")
	case l.DiskBytes < 1<<20:
		return specErr("disk_bytes", "must be at least 1MiB")
	}
	return nil
}

func (l Limits) within(max Limits) error {
	switch {
	case l.WallTime > max.WallTime:
		return specErr("limits.wall_time", "must be at most %s", time.Duration(max.WallTime))
	case l.CPUTime > max.CPUTime:
		return specErr("limits.cpu_time", "must be at most %s", time.Duration(max.CPUTime))
	case l.MemoryBytes > max.MemoryBytes:
		return specErr("limits.memory_bytes", "must be at most %d", max.MemoryBytes)
	case l.Processes > max.Processes:
		return specErr("limits.processes", "must be at most %d", max.Processes)
	case l.OutputBytes > max.OutputBytes:
		return specErr("limits.output_bytes", "must be at most %d", max.OutputBytes)
	case l.DiskBytes > max.DiskBytes:
		return specErr("limits.disk_bytes", "must be at most %d", max.DiskBytes)
	}
	return nil
}

// withDefaults fills zero fields from d.
func (l Limits) withDefaults(d Limits) Limits {
	if l.WallTime == 0 {
		l.WallTime = d.WallTime
	}
	if l.CPUTime == 0 {
		l.CPUTime = d.CPUTime
	}
	if l.MemoryBytes == 0 {
		l.MemoryBytes = d.MemoryBytes
	}
	if l.Processes == 0 {
		l.Processes = d.Processes
	}
	if l.OutputBytes == 0 {
		l.OutputBytes = d.OutputBytes
	}
	if l.DiskBytes == 0 {
		l.DiskBytes = d.DiskBytes
	}
	return l
}
