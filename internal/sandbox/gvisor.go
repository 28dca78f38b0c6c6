package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// gvisorBackend runs the helper as the process of an OCI container under
// gVisor's runsc: a user-space kernel between the program and the host, no
// network (--network=none), a read-only root made of binds, and a
// size-limited tmpfs. The helper installs the seccomp filter itself (gVisor
// implements seccomp for its guests). runsc must run as root; it is started
// through the helper's "cgexec" mode so that the sandbox, its gofer and all
// they start are in the run's cgroup from the first instruction.
type gvisorBackend struct {
	r      *Local
	runsc  string
	rootfs string
	state  string
	bundle string
}

func newGVisor(r *Local) (*gvisorBackend, error) {
	path, err := exec.LookPath(r.cfg.RunscPath)
	if err != nil {
		return nil, fmt.Errorf("sandbox: gvisor backend: runsc not found (%v); install the runsc package or choose another backend", err)
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("sandbox: gvisor backend: runsc needs root here; run the service as root or use the bwrap backend")
	}
	g := &gvisorBackend{r: r, runsc: path,
		rootfs: filepath.Join(r.runtimeDir, "gvisor", "rootfs"),
		state:  filepath.Join(r.runtimeDir, "gvisor", "state"),
		bundle: filepath.Join(r.runtimeDir, "gvisor", "bundles")}
	for _, d := range []string{"usr", "etc", "proc", "dev", "sandbox", ".qlp", g.state, g.bundle} {
		if !filepath.IsAbs(d) {
			d = filepath.Join(g.rootfs, d)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("sandbox: gvisor backend: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(g.rootfs, ".qlp", "helper"), nil, 0o755); err != nil {
		return nil, fmt.Errorf("sandbox: gvisor backend: %w", err)
	}
	for _, d := range []string{"bin", "sbin", "lib", "lib64", "lib32", "libx32"} {
		if target, err := os.Readlink("/" + d); err == nil {
			_ = os.Symlink(target, filepath.Join(g.rootfs, d))
		} else if fi, err := os.Stat("/" + d); err == nil && fi.IsDir() {
			_ = os.MkdirAll(filepath.Join(g.rootfs, d), 0o755)
		}
	}
	_ = os.Symlink("/sandbox/tmp", filepath.Join(g.rootfs, "tmp"))
	return g, nil
}

func (g *gvisorBackend) root(string) string   { return "/sandbox" }
func (g *gvisorBackend) slack() time.Duration { return 15 * time.Second }

func (g *gvisorBackend) ready(context.Context) error {
	if _, err := os.Stat(g.runsc); err != nil {
		return fmt.Errorf("sandbox: gvisor backend: %w", err)
	}
	return nil
}

type ociMount struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type"`
	Source      string   `json:"source"`
	Options     []string `json:"options,omitempty"`
}

func (g *gvisorBackend) launch(_ context.Context, p *prepared, cg *runCgroup) (*launch, error) {
	p.req.PIDNamespace = true
	p.req.Seccomp = true
	mounts := []ociMount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/usr", Type: "bind", Source: "/usr", Options: []string{"rbind", "ro"}},
		{Destination: "/sandbox", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=" + strconv.FormatInt(p.limits.DiskBytes, 10)}},
		{Destination: "/.qlp/helper", Type: "bind", Source: g.r.helper, Options: []string{"bind", "ro"}},
	}
	for _, e := range etcEntries {
		if _, err := os.Stat("/etc/" + e); err == nil {
			mounts = append(mounts, ociMount{Destination: "/etc/" + e, Type: "bind", Source: "/etc/" + e, Options: []string{"rbind", "ro"}})
		}
	}
	for _, sd := range p.seeds {
		mounts = append(mounts, ociMount{Destination: sd.at, Type: "bind", Source: sd.host, Options: []string{"rbind", "ro"}})
	}
	for _, b := range p.binds {
		mounts = append(mounts, ociMount{Destination: b, Type: "bind", Source: b, Options: []string{"rbind", "ro"}})
	}
	spec := map[string]any{
		"ociVersion": "1.0.2",
		"process": map[string]any{
			"terminal": false, "user": map[string]int{"uid": 1000, "gid": 1000},
			"args": []string{"/.qlp/helper", HelperCommand, "run"}, "env": append([]string{"PATH=" + basePath}, helperEnv()...),
			"cwd": "/sandbox", "noNewPrivileges": true, "capabilities": map[string]any{},
			"rlimits": []map[string]any{{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 4096}},
		},
		"root":     map[string]any{"path": g.rootfs, "readonly": true},
		"hostname": "sandbox",
		"mounts":   mounts,
		"linux": map[string]any{
			"namespaces": []map[string]string{{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}},
		},
	}
	dir := filepath.Join(g.bundle, p.id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(spec)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		return nil, err
	}
	id := "qlp-" + p.id
	runArgs := []string{"--root", g.state, "--network=none", "run", "--bundle", dir, id}
	var cmd *exec.Cmd
	if cg != nil {
		args := append([]string{HelperCommand, "cgexec"}, cg.procsFiles()...)
		cmd = exec.Command(g.r.helper, append(append(args, "--", g.runsc), runArgs...)...)
	} else {
		cmd = exec.Command(g.runsc, runArgs...)
	}
	cmd.Env = []string{"PATH=" + basePath}
	return &launch{cmd: cmd, cleanup: func() {
		// runsc run deletes the container when it ends; force it in case it
		// was killed, then drop the bundle.
		_ = exec.Command(g.runsc, "--root", g.state, "delete", "--force", id).Run()
		_ = os.RemoveAll(dir)
	}}, nil
}
