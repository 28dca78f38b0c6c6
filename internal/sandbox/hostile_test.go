package sandbox_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/quantumlayer/qlp/internal/sandbox"
)

// hostileLimits are tight so that the resource cases end quickly. The wall
// limit is only a bound for the cases that end by themselves (on a loaded
// machine a sandboxed python can take seconds to start): those meant to
// end at it set a shorter one.
var hostileLimits = sandbox.Limits{
	WallTime: sandbox.Duration(10 * time.Second), CPUTime: sandbox.Duration(1 * time.Second),
	MemoryBytes: 128 << 20, Processes: 64, OutputBytes: 64 << 10, DiskBytes: 8 << 20,
}

// Every hostile program prints CONTAINED when its attack fails and exits
// 42 printing ESCAPED when it succeeds.
const pyPrelude = `import os, sys, socket, ctypes, errno, time
def escaped(what):
    print("ESCAPED", what); sys.stdout.flush(); os._exit(42)
`

type hostileCase struct {
	name   string
	lang   string
	code   string
	limits func(*sandbox.Limits)
	status sandbox.Status
	check  func(t *testing.T, res *sandbox.Result)
	// gvisorStatus, when set, is what the gvisor backend ends with
	// instead (a known gap, documented in docs/sandbox.md).
	gvisorStatus sandbox.Status
	// unsafeLocal is false for the cases the unsafe-local backend does
	// not contain, by design (it hides no files): they are skipped there.
	unsafeLocal bool
}

func TestHostile(t *testing.T) {
	// A real listener on the host's loopback that must never see a
	// connection from a sandbox.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The backends run in parallel subtests, which run after this function
	// has returned: what they use is released by cleanups, not defers.
	t.Cleanup(func() { ln.Close() })
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port

	// Secrets of the service: an environment variable, a data directory,
	// and a file in the invoking user's home.
	const secret = "qlp-test-secret-7f3a9c"
	t.Setenv("QLP_TEST_SANDBOX_SECRET", secret)
	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, "secret.txt"), []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	homeMarker := filepath.Join(home, ".qlp-sandbox-test-"+strconv.Itoa(os.Getpid()))
	if err := os.WriteFile(homeMarker, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(homeMarker) })
	// Names no other process on the host has (the backends run at once:
	// each has its own).
	markerOf := func(backend string) string { return "qlp-hostile-" + strconv.Itoa(os.Getpid()) + "-" + backend }

	// A descriptor of the service that is not close-on-exec, as one
	// inherited from systemd or from whatever started the service would
	// be: no sandbox may write to it.
	var leak [2]int
	if err := syscall.Pipe(leak[:]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Close(leak[0])
		syscall.Close(leak[1])
	})
	syscall.CloseOnExec(leak[0])
	if err := syscall.SetNonblock(leak[0], true); err != nil {
		t.Fatal(err)
	}

	contained := func(t *testing.T, res *sandbox.Result) {
		t.Helper()
		out := res.Commands[0].Stdout + res.Commands[0].Stderr
		if strings.Contains(out, "ESCAPED") || strings.Contains(out, secret) || !strings.Contains(res.Commands[0].Stdout, "CONTAINED") {
			t.Errorf("not contained: stdout %q stderr %q", res.Commands[0].Stdout, res.Commands[0].Stderr)
		}
	}
	cases := func(hostMarker string) []hostileCase {
		return []hostileCase{
			{name: "tcp to host loopback", lang: "python", unsafeLocal: true, status: sandbox.StatusCompleted, check: contained,
				code: pyPrelude + fmt.Sprintf(`
try:
    socket.create_connection(("127.0.0.1", %d), timeout=2); escaped("tcp connect")
except OSError as e: print("CONTAINED", e)`, port)},
			{name: "dns lookup", lang: "python", unsafeLocal: true, status: sandbox.StatusCompleted, check: contained,
				code: pyPrelude + `
try:
    socket.getaddrinfo("example.com", 443); escaped("dns")
except OSError as e: print("CONTAINED", e)`},
			{name: "read /etc/shadow", lang: "python", unsafeLocal: true, status: sandbox.StatusCompleted, check: contained,
				code: pyPrelude + `
try:
    open("/etc/shadow").read(); escaped("shadow")
except OSError as e: print("CONTAINED", e)`},
			{name: "read home, data dir and env secrets", lang: "python", unsafeLocal: true, status: sandbox.StatusCompleted, check: contained,
				code: pyPrelude + fmt.Sprintf(`
for p in [%q, %q]:
    try:
        print(open(p).read()); escaped(p)
    except OSError as e: print("CONTAINED", p, e)
for d in [%q, %q]:
    try:
        print(os.listdir(d)); escaped("list " + d)
    except OSError as e: print("CONTAINED", d, e)
if any(%q in v for v in os.environ.values()) or "QLP_TEST_SANDBOX_SECRET" in os.environ: escaped("env")
for pid in os.listdir("/proc"):
    try:
        if b%q in open("/proc/%%s/environ" %% pid, "rb").read(): escaped("environ of " + pid)
    except (OSError, ValueError): pass
print("CONTAINED env")`, homeMarker, filepath.Join(dataDir, "secret.txt"), home, dataDir, secret, secret)},
			{name: "descriptors inherited from the service", lang: "python", unsafeLocal: true, status: sandbox.StatusCompleted,
				check: func(t *testing.T, res *sandbox.Result) {
					contained(t, res)
					buf := make([]byte, 512)
					if n, _ := syscall.Read(leak[0], buf); n > 0 {
						t.Errorf("a sandbox wrote %q to a descriptor of the service", buf[:n])
					}
				},
				code: pyPrelude + `
import stat
for fd in range(3, 1024):
    try:
        st = os.fstat(fd)
    except OSError:
        continue
    if stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode):
        try:
            os.write(fd, b"ESCAPED\n"); escaped("wrote to descriptor %d" % fd)
        except OSError as e: print("CONTAINED", fd, e)
print("CONTAINED descriptors")`},
			{name: "write outside the work dir", lang: "python", status: sandbox.StatusCompleted, check: func(t *testing.T, res *sandbox.Result) {
				contained(t, res)
				if _, err := os.Stat(filepath.Join("/tmp", hostMarker)); err == nil {
					os.Remove(filepath.Join("/tmp", hostMarker))
					t.Errorf("a file written to the sandbox's /tmp appeared in the host's /tmp")
				}
			},
				code: pyPrelude + fmt.Sprintf(`
for p in ["/usr/qlp-x", "/etc/qlp-x", "/qlp-x", "../../qlp-x", "/var/tmp/qlp-x", "/root/qlp-x", "/proc/sys/kernel/qlp-x", "/dev/qlp-x"]:
    try:
        open(p, "w").write("x"); escaped("write " + p)
    except OSError as e: print("CONTAINED", p, e)
open("/tmp/%s", "w").write("inside")`, hostMarker)},
			{name: "fork bomb counted", lang: "python", unsafeLocal: true, status: sandbox.StatusCompleted, check: contained,
				// Only the process limit is under test: fewer processes mean
				// fewer forks, and forks are costly CPU time under gVisor.
				limits: func(l *sandbox.Limits) { l.Processes, l.CPUTime = 16, sandbox.Duration(5*time.Second) },
				code: pyPrelude + `
n = 0
try:
    while n < 100000:
        pid = os.fork()
        if pid == 0:
            time.sleep(60); os._exit(0)
        n += 1
    escaped("forked %d" % n)
except OSError as e: print("CONTAINED after", n, "forks:", e)`},
			{name: "fork bomb", lang: "bash", unsafeLocal: true, status: sandbox.StatusTimeout,
				limits: func(l *sandbox.Limits) { l.WallTime = sandbox.Duration(2 * time.Second) },
				code:   `bomb() { bomb | bomb & }; bomb; wait; sleep 60`},
			{name: "memory bomb", lang: "python", unsafeLocal: true, status: sandbox.StatusMemoryExceeded,
				// Under runsc the run's memory cgroup does not see the
				// sentry's allocations here; the CPU limit ends the bomb.
				gvisorStatus: sandbox.StatusTimeout,
				code: `chunks = []
while True:
    chunks.append(bytearray(16 << 20))`},
			{name: "cpu spin", lang: "python", unsafeLocal: true, status: sandbox.StatusTimeout,
				// The CPU limit (1 s) must end it, not the wall limit: on a
				// loaded machine 1 s of CPU can take seconds.
				limits: func(l *sandbox.Limits) { l.WallTime = sandbox.Duration(30 * time.Second) },
				check: func(t *testing.T, res *sandbox.Result) {
					if !strings.Contains(res.Reason, "CPU") {
						t.Errorf("reason = %q, want the CPU limit named", res.Reason)
					}
				}, code: "while True: pass"},
			{name: "sleep past the wall limit", lang: "bash", unsafeLocal: true, status: sandbox.StatusTimeout,
				limits: func(l *sandbox.Limits) { l.WallTime = sandbox.Duration(time.Second) }, code: "sleep 60"},
			{name: "daemon outliving the run", lang: "bash", unsafeLocal: true, status: sandbox.StatusCompleted,
				code: fmt.Sprintf(`setsid bash -c 'exec -a %s-daemon sleep 300' </dev/null >/dev/null 2>&1 &
(nohup bash -c 'exec -a %s-daemon sleep 300' >/dev/null 2>&1 &)
sleep 0.2; echo CONTAINED started`, hostMarker, hostMarker),
				check: func(t *testing.T, res *sandbox.Result) {
					if pids := findProcs(hostMarker + "-daemon"); len(pids) > 0 {
						t.Errorf("daemon processes outlived the run: %v", pids)
					}
				}},
			{name: "1 GiB of output", lang: "python", unsafeLocal: true, status: sandbox.StatusOutputExceeded,
				code: `import sys
b = b"x" * (1 << 20)
for _ in range(1024): sys.stdout.buffer.write(b)`,
				check: func(t *testing.T, res *sandbox.Result) {
					c := res.Commands[0]
					if !c.StdoutTruncated || int64(len(c.Stdout)) > hostileLimits.OutputBytes {
						t.Errorf("truncated=%v len=%d, want truncated at %d", c.StdoutTruncated, len(c.Stdout), hostileLimits.OutputBytes)
					}
				}},
			{name: "fill the disk", lang: "python", unsafeLocal: true, status: sandbox.StatusCompleted, check: contained,
				code: pyPrelude + `
written = 0
try:
    with open("fill", "wb") as f:
        while written < (1 << 30):
            f.write(b"\0" * (1 << 20)); f.flush(); written += 1 << 20
    escaped("wrote 1 GiB")
except OSError as e: print("CONTAINED after", written >> 20, "MiB:", e)`},
			{name: "ptrace another process", lang: "python", unsafeLocal: true, status: sandbox.StatusCompleted, check: contained,
				code: pyPrelude + `
libc = ctypes.CDLL(None, use_errno=True)
child = os.fork()
if child == 0:
    time.sleep(30); os._exit(0)
for pid in [child, 1, os.getppid()]:
    if libc.ptrace(16, pid, None, None) == 0: escaped("ptrace attach %d" % pid)
    print("CONTAINED ptrace", pid, errno.errorcode.get(ctypes.get_errno()))
try:
    open("/proc/%d/mem" % child, "rb").read(1); escaped("read child memory")
except OSError as e: print("CONTAINED mem", e)`},
			{name: "setuid binaries and privileges", lang: "bash", unsafeLocal: true, status: sandbox.StatusCompleted, check: contained,
				code: `found=0
for b in /usr/bin/mount /usr/bin/su /usr/bin/passwd /usr/bin/chsh /usr/bin/newgrp; do [ -u "$b" ] && found=1; done
[ "$found" = 1 ] || echo "note: no setuid binary present"
if mount -t tmpfs none "$PWD" 2>/dev/null; then echo ESCAPED mount; exit 42; fi
echo CONTAINED mount
if python3 -c 'import os; os.setuid(0)' 2>/dev/null; then echo ESCAPED setuid; exit 42; fi
echo CONTAINED setuid
if unshare -r true 2>/dev/null; then echo ESCAPED unshare; exit 42; fi
echo CONTAINED userns
[ "$(id -u)" != 0 ] || { echo ESCAPED root; exit 42; }`},
		}
	}
	for _, backend := range allBackends {
		t.Run(backend, func(t *testing.T) {
			// Each backend has a runner, a sandbox uid and a runtime
			// directory of its own: the checks of one do not see the
			// others' runs.
			t.Parallel()
			r := runnerFor(t, backend)
			// Where the host has cgroups, the runner must have its command
			// cgroup: without it the fork bombs test a degraded sandbox.
			if cg := r.Info().Cgroup; cg.Version > 0 && !cg.CommandCgroup {
				t.Fatalf("runner without a command cgroup: %s", cg.CommandReason)
			}
			for _, tc := range cases(markerOf(backend)) {
				t.Run(tc.name, func(t *testing.T) {
					if backend == sandbox.BackendUnsafeLocal && !tc.unsafeLocal {
						t.Skip("unsafe-local does not isolate the file system (documented)")
					}
					before := hostState(t, r)
					lim := hostileLimits
					if tc.limits != nil {
						tc.limits(&lim)
					}
					name := map[string]string{"python": "main.py", "bash": "main.sh"}[tc.lang]
					res, err := r.Run(t.Context(), sandbox.Spec{Language: tc.lang, Files: files(name, tc.code), Limits: lim}, nil)
					if err != nil {
						t.Fatalf("Run: %v", err)
					}
					want := tc.status
					if backend == sandbox.BackendGVisor && tc.gvisorStatus != "" {
						want = tc.gvisorStatus
					}
					if res.Status != want {
						t.Errorf("status %s (%s), want %s; stdout %q stderr %q", res.Status, res.Reason, want,
							clip(res.Commands[0].Stdout), clip(res.Commands[0].Stderr))
					}
					if tc.check != nil {
						tc.check(t, res)
					}
					checkHost(t, r, before, res)
				})
			}
			if n := accepted.Load(); n != 0 {
				t.Errorf("the host listener accepted %d connections from sandboxes", n)
			}
		})
	}
}

func clip(s string) string {
	if len(s) > 400 {
		return s[:400] + "…"
	}
	return s
}

// host is what a run must leave as it found it. Other test binaries and
// services on this machine run sandboxes too, so what is looked at is
// limited to what belongs to this runner and run: its runtime directory,
// its sandbox uid, the run's id.
type host struct {
	mounts  []string
	runtime []string // the runner's runtime directory, a few levels deep
}

func hostState(t *testing.T, r *testRunner) host {
	t.Helper()
	var h host
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 {
			h.mounts = append(h.mounts, f[4])
		}
	}
	sort.Strings(h.mounts)
	_ = filepath.WalkDir(r.runtimeDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(r.runtimeDir, p)
		if strings.HasPrefix(rel, "gocache-seed") { // built once, by the first Go run
			return filepath.SkipDir
		}
		h.runtime = append(h.runtime, rel)
		if d.IsDir() && strings.Count(rel, string(filepath.Separator)) >= 2 {
			return filepath.SkipDir
		}
		return nil
	})
	return h
}

// checkHost fails t if the run left anything behind: mounts, files in its
// runner's runtime directory or (owned by its sandbox uid, or named after
// the run) in the host's temporary directory, cgroups, processes.
func checkHost(t *testing.T, r *testRunner, before host, res *sandbox.Result) {
	t.Helper()
	after := hostState(t, r)
	if strings.Join(before.mounts, "\n") != strings.Join(after.mounts, "\n") {
		t.Errorf("host mounts changed:\nbefore %v\nafter  %v", before.mounts, after.mounts)
	}
	if strings.Join(before.runtime, ",") != strings.Join(after.runtime, ",") {
		t.Errorf("runtime directory changed:\nbefore %v\nafter  %v", before.runtime, after.runtime)
	}
	var tmp []string
	entries, _ := os.ReadDir(os.TempDir())
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			continue
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		if strings.Contains(e.Name(), res.ID) || (r.uid > 0 && st != nil && int(st.Uid) == r.uid) {
			tmp = append(tmp, e.Name())
		}
	}
	if len(tmp) > 0 {
		t.Errorf("files left in the host's temporary directory: %v", tmp)
	}
	if cgs := runCgroups(res.ID); len(cgs) > 0 {
		t.Errorf("cgroups left behind: %v", cgs)
	}
	if procs := runProcs(r, res.ID); len(procs) > 0 {
		t.Errorf("sandbox processes left behind: %v", procs)
	}
}

// runCgroups lists the cgroups of run id (ours, and those runsc makes for
// its container) and probe cgroups of this process.
func runCgroups(id string) []string {
	var out []string
	probe := "qlp-probe-" + strconv.Itoa(os.Getpid()) + "-"
	_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if n := d.Name(); n == "qlp-sbx-"+id || n == "qlp-"+id || strings.HasPrefix(n, probe) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// runProcs lists host processes of the runner's sandboxes: running as its
// sandbox uid, in a cgroup of run id, or a launcher working in its runtime
// directory (bwrap, runsc and its gofer and sandbox).
func runProcs(r *testRunner, id string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		status, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil || strings.Contains(string(status), "State:\tZ") {
			continue
		}
		cg, _ := os.ReadFile("/proc/" + e.Name() + "/cgroup")
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		ours := r.uid > 0 && strings.Contains(string(status), "Uid:\t"+strconv.Itoa(r.uid)+"\t")
		inRun := strings.Contains(string(cg), "/qlp-sbx-"+id) || strings.Contains(string(cg), "/qlp-"+id)
		launcher := strings.Contains(string(cmd), r.runtimeDir) && !strings.Contains(string(cmd), "gocache-seed")
		if ours || inRun || launcher {
			out = append(out, e.Name()+":"+strings.ReplaceAll(string(cmd), "\x00", " "))
		}
	}
	return out
}

func findProcs(marker string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(cmd), marker) {
			out = append(out, e.Name())
		}
	}
	return out
}
