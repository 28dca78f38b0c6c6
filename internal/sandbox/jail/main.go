package jail

import (
	"fmt"
	"os"

	"github.com/quantumlayer/qlp/internal/sandbox/wire"
)

// HelperCommand is the hidden subcommand of the qlp binary that runs
// [ExecMain]: `qlp sandbox-exec`.
const HelperCommand = wire.HelperCommand

// ExecMain is the hidden `qlp sandbox-exec` command: the helper that runs
// inside every sandbox. It reads one request from stdin, writes the
// project files, runs the commands under their limits, streams their
// output as frames on stdout and returns the process exit code.
//
// Two other modes serve the backends from outside the sandbox: "cgexec"
// (join the run's cgroups, then execute runsc) and "stage" (root only:
// private mount namespace, read-only binds, drop to the sandbox uid, then
// execute bwrap).
//
// Register it as a hidden cobra command that calls
// os.Exit(jail.ExecMain(args)) and does nothing else first: it must not
// read configuration, open files or start goroutines of its own.
func ExecMain(args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "cgexec":
			return cgexec(args[1:])
		case "stage":
			return stage(args[1:])
		case "run":
		default:
			fmt.Fprintf(os.Stderr, "sandbox: unknown helper mode %q\n", args[0])
			return 2
		}
	}
	out := wire.NewWriter(os.Stdout)
	if err := runHelper(out); err != nil {
		_ = out.Send(wire.FrameFatal, []byte(err.Error()))
		return 1
	}
	return 0
}
