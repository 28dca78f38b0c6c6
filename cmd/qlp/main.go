// Command qlp is the Quantum Layer Platform: see `qlp --help`.
package main

import (
	"context"
	"os"

	"github.com/quantumlayer/qlp/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(cli.Execute(context.Background(), version, os.Args[1:], os.Stdout, os.Stderr))
}
