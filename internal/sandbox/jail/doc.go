// Package jail is the sandbox's helper, the hidden `qlp sandbox-exec`
// command: the only QLP code that runs inside a sandbox, next to the
// hostile program it runs. The qlp binary calls [ExecMain] first thing
// when started as [HelperCommand], before it reads any configuration.
//
// It depends on nothing of the host service (package sandbox): only on the
// standard library, golang.org/x/sys/unix, the seccomp filter and package
// wire, the protocol both sides share. TestJailDependsOnNothingOfTheHost
// keeps it so: what runs in the jail can be read, and reasoned about, on
// its own.
//
// # Threat model
//
// Inside the jail the helper is no more trusted than the program it runs:
// both run as the same unprivileged user, in the namespaces and cgroups
// the host set up and under the seccomp filter (which, for backends that
// cannot pass it from outside, the helper installs before any command
// runs). The helper holds no secrets
// (a scrubbed environment, no descriptor of the service beyond its stdin,
// stdout and stderr: it marks every other one close-on-exec before running
// anything), makes itself non-dumpable so that the program cannot forge its
// frames through /proc, sets each command's rlimits (a command whose
// limits cannot be set does not run on), ends every process a command
// leaves behind, and caps output and collected files. The host re-checks
// what it can; nothing the helper reports is trusted for more than what
// the program could have claimed itself.
//
// # Files and where they run
//
//   - main.go: [ExecMain], the entry point; it dispatches on the mode.
//   - helper.go — inside the jail: mode "run" (the default). Reads one
//     wire.Request from stdin, writes the project, runs the commands
//     under their limits, streams wire frames on stdout, collects files.
//   - launch.go — on the host, before the jail exists: the launchers.
//     Mode "stage" (bwrap backend, as root) bind-mounts toolchains
//     read-only in a private mount namespace, drops to the sandbox uid
//     and executes bwrap; mode "cgexec" (gVisor backend) joins the run's
//     cgroups and executes runsc. Both replace themselves with the jail's
//     runtime by exec(2) and run no untrusted code.
package jail
