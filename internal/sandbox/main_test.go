package sandbox_test

import (
	"os"
	"testing"

	"github.com/quantumlayer/qlp/internal/sandbox"
)

// TestMain lets the test binary act as the sandbox helper, as the qlp
// binary does with its hidden `sandbox-exec` command.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == sandbox.HelperCommand {
		os.Exit(sandbox.ExecMain(os.Args[2:]))
	}
	os.Exit(m.Run())
}
