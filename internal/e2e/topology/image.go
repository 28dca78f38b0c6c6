package topology

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// BuildImage builds the qlp container image with deploy/image/build.sh (the
// build definition operators use) into an OCI layout under dir, holding the
// toolchains of languages (comma-separated, as build.sh's -l), and returns
// its reference ("layout:tag"). The image's qlp is the one the harness
// builds for its other processes.
func BuildImage(ctx context.Context, dir, languages string) (string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	bin, err := buildQLP(ctx, dir)
	if err != nil {
		return "", err
	}
	layout := filepath.Join(dir, "image")
	if _, err := run(ctx, root, nil, filepath.Join(root, "deploy", "image", "build.sh"), "-l", languages, "-t", "test", "-b", bin, layout); err != nil {
		return "", fmt.Errorf("build the image: %w", err)
	}
	return layout + ":test", nil
}

// imageProc makes a process that runs `qlp args…` from the image ref with
// runc, as the Helm chart's pod would: the image's root file system and
// environment, env added, the data directory bound in, the host's network
// (the harness's ports) and, like the chart's privileged sandbox pod, every
// capability and the host's /sys, so that the sandbox can make its
// namespaces and cgroups inside.
func (tp *Topology) imageProc(ctx context.Context, name, url, ref, dataDir string, env []string, args ...string) (*Proc, error) {
	bundle := filepath.Join(tp.dir, name+"-bundle")
	if _, err := run(ctx, tp.dir, nil, "umoci", "unpack", "--image", ref, bundle); err != nil {
		return nil, fmt.Errorf("unpack the image for %s: %w", name, err)
	}
	path := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var spec map[string]any
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := privileged(spec, dataDir, env, append([]string{"/usr/local/bin/qlp"}, args...)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if data, err = json.MarshalIndent(spec, "", "  "); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, err
	}
	state := filepath.Join(tp.dir, "runc")
	id := fmt.Sprintf("qlp-topology-%s-%d", name, time.Now().UnixNano())
	p := &Proc{Name: name, bin: "runc", dir: tp.dir, URL: url, LogPath: filepath.Join(tp.dir, name+".log"),
		args: []string{"--root", state, "run", "--bundle", bundle, id}}
	// A SIGKILL ends runc, not the container it started: delete it.
	p.cleanup = func() {
		_, _ = run(context.Background(), tp.dir, nil, "runc", "--root", state, "delete", "--force", id)
	}
	return p, nil
}

// privileged changes an OCI runtime spec made by `umoci unpack` into the
// chart's privileged sandbox container running args.
func privileged(spec map[string]any, dataDir string, env, args []string) error {
	process, ok := spec["process"].(map[string]any)
	if !ok {
		return fmt.Errorf("no process in the runtime spec")
	}
	var envs []any
	if have, ok := process["env"].([]any); ok {
		envs = have
	}
	for _, e := range env {
		envs = append(envs, e)
	}
	process["env"], process["args"], process["cwd"], process["terminal"] = envs, args, "/", false
	process["user"] = map[string]any{"uid": 0, "gid": 0}
	process["noNewPrivileges"] = false
	delete(process, "apparmorProfile")
	caps := allCapabilities()
	process["capabilities"] = map[string]any{"bounding": caps, "effective": caps, "permitted": caps, "inheritable": caps, "ambient": caps}
	delete(process, "rlimits")

	if root, ok := spec["root"].(map[string]any); ok {
		root["readonly"] = false
	}
	linux, ok := spec["linux"].(map[string]any)
	if !ok {
		return fmt.Errorf("no linux section in the runtime spec")
	}
	// The host's network: the harness gives each service a loopback port.
	var ns []any
	if have, ok := linux["namespaces"].([]any); ok {
		for _, n := range have {
			if m, ok := n.(map[string]any); ok && (m["type"] == "network" || m["type"] == "user" || m["type"] == "cgroup") {
				continue
			}
			ns = append(ns, n)
		}
	}
	linux["namespaces"] = ns
	delete(linux, "uidMappings")
	delete(linux, "gidMappings")
	delete(linux, "seccomp")
	delete(linux, "maskedPaths")
	delete(linux, "readonlyPaths")
	linux["resources"] = map[string]any{"devices": []any{map[string]any{"allow": true, "access": "rwm"}}}

	var mounts []any
	if have, ok := spec["mounts"].([]any); ok {
		for _, m := range have {
			if mm, ok := m.(map[string]any); ok {
				if d, _ := mm["destination"].(string); d == "/sys" || strings.HasPrefix(d, "/sys/") {
					continue
				}
			}
			mounts = append(mounts, m)
		}
	}
	mounts = append(mounts,
		map[string]any{"destination": "/sys", "type": "bind", "source": "/sys", "options": []any{"rbind", "rw"}},
		map[string]any{"destination": dataDir, "type": "bind", "source": dataDir, "options": []any{"rbind", "rw"}},
	)
	spec["mounts"] = mounts
	return nil
}

// allCapabilities are the capabilities a privileged container holds: all
// of them that this process may pass on (its bounding set). Asking runc
// for one outside it fails the start ("unable to apply caps"), which is
// what happens when the tests themselves run in a container without, say,
// CAP_SYS_RESOURCE.
func allCapabilities() []any {
	names := []string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
		"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK",
		"IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT",
		"SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL",
		"SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
		"PERFMON", "BPF", "CHECKPOINT_RESTORE"} // in the order of their numbers, from 0
	bounding := boundingSet()
	var caps []any
	for i, n := range names {
		if bounding&(1<<i) != 0 {
			caps = append(caps, "CAP_"+n)
		}
	}
	return caps
}

// boundingSet is this process's capability bounding set (every bit set
// when it cannot be read).
func boundingSet() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ^uint64(0)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			if b, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err == nil {
				return b
			}
		}
	}
	return ^uint64(0)
}
