// Package sandbox is the host side of the QLP execution sandbox: the
// service that runs generated code, hostile until proven otherwise, on this
// host, isolated and under limits, and reports what happened (port 8004;
// see docs/sandbox.md).
//
// # The trust boundary
//
// The sandbox is split at its trust boundary into three packages:
//
//   - sandbox (this package) runs on the host, with the service's rights:
//     it validates specs, schedules runs, builds each run's jail (bwrap,
//     gVisor or the unsafe local backend, cgroups, the seccomp filter) and
//     reads back what happened. Nothing of it runs inside a jail.
//   - [github.com/quantumlayer/qlp/internal/sandbox/jail] is the helper,
//     `qlp sandbox-exec`: the one piece of QLP that runs inside the jail,
//     next to the program it runs, plus the two short launchers that
//     start a jail ("stage", "cgexec"). It depends on nothing of this
//     package.
//   - [github.com/quantumlayer/qlp/internal/sandbox/wire] is what crosses
//     the boundary: the helper's request, its frames, and the types of a
//     command's result. Both sides import it; it imports neither.
//
// # Threat model
//
// The program under test is an adversary with arbitrary code execution
// inside the jail. It shares the jail, and the uid, with the helper, so the
// helper's output is untrusted too: this package reads every frame with
// bounded sizes, refuses unknown frames and files outside the work
// directory, and re-checks from outside what it can (the cgroup's OOM and
// process counters, the wall time). Isolation (namespaces, an
// unprivileged uid, seccomp, rlimits, cgroups) is set up here, before the
// helper starts; the helper only narrows it further. What this package
// holds — configuration, descriptors, the tenants' other runs — never
// reaches the jail: the helper is a fresh process of the qlp binary that
// runs jail.ExecMain and nothing else, with a scrubbed environment.
//
// # Files (all on the host)
//
//   - spec.go, validate.go: the API ([Runner], [Spec], [Result], limits)
//     and the checks of a spec.
//   - service.go, pool.go, metrics.go: the [Service] — fair slots per
//     tenant, the queue, metrics — and its HTTP handler with sse.go
//     (streamed runs) and legacy.go (the earlier POST /execute).
//   - client.go: the HTTP [Client], used by other QLP processes.
//   - local.go, execute.go, deps.go, languages.go, config.go: the
//     in-process runner [Local]: it prepares a run, starts the helper
//     through a backend, feeds it a wire.Request and turns its frames
//     into a [Result].
//   - bwrap.go, gvisor.go, unsafe.go: the backends, which build the jail
//     and start the helper in it; race.go, norace.go: the helper's
//     environment in race-detector builds.
//   - cgroup.go: the run's cgroups (memory, pids, CPU), created and read
//     from the host.
//
// Subpackages: seccomp builds the filter (handed to bwrap from outside;
// installed by the helper itself under gVisor and unsafe-local, before any
// command runs); sandboxtest holds the host-leftover checks the hostile
// suites share.
package sandbox
