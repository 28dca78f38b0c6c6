// Command qlp is the Quantum Layer Platform: see `qlp --help`.
package main

import (
	"context"
	"os"

	"github.com/quantumlayer/qlp/internal/cli"
	"github.com/quantumlayer/qlp/internal/sandbox/jail"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// The sandbox starts this binary inside every run as its helper: it must
	// do nothing else first (no configuration, no files, no goroutines).
	if len(os.Args) > 1 && os.Args[1] == jail.HelperCommand {
		os.Exit(jail.ExecMain(os.Args[2:]))
	}
	os.Exit(cli.Execute(context.Background(), version, os.Args[1:], os.Stdout, os.Stderr))
}
