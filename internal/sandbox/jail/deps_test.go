package jail

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/quantumlayer/qlp"

// TestJailDependsOnNothingOfTheHost keeps the trust boundary visible in the
// imports: the code that runs inside the jail (this package) and the
// protocol below both sides (wire) must not link the host service — package
// sandbox, its configuration, HTTP, metrics, or anything else of QLP — so
// that what runs next to a hostile program can be read on its own.
func TestJailDependsOnNothingOfTheHost(t *testing.T) {
	tests := []struct {
		pkg string
		// allowed are the only packages outside the standard library that
		// pkg may depend on, directly or not (a trailing "/" allows a tree).
		allowed []string
	}{
		{
			pkg: module + "/internal/sandbox/jail",
			allowed: []string{
				module + "/internal/sandbox/wire",
				module + "/internal/sandbox/seccomp",
				"golang.org/x/sys/",
				"golang.org/x/net/bpf",
				"github.com/elastic/go-seccomp-bpf/",
			},
		},
		{pkg: module + "/internal/sandbox/wire"},
	}
	for _, tt := range tests {
		t.Run(tt.pkg[len(module)+1:], func(t *testing.T) {
			// `go test` puts its own go first on the PATH of the test binary.
			out, err := exec.Command("go", "list", "-deps",
				"-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", tt.pkg).Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", tt.pkg, err)
			}
			deps := strings.Fields(string(out))
			if len(deps) == 0 || deps[len(deps)-1] != tt.pkg {
				t.Fatalf("go list -deps %s listed %q, want the package itself last", tt.pkg, deps)
			}
			for _, dep := range deps[:len(deps)-1] {
				if !allowed(dep, tt.allowed) {
					t.Errorf("%s depends on %s: code that runs in the jail, or crosses its boundary, must not link the host side (allowed besides the standard library: %s)",
						tt.pkg, dep, strings.Join(tt.allowed, ", "))
				}
			}
		})
	}
}

func allowed(dep string, allowed []string) bool {
	for _, a := range allowed {
		if dep == a || strings.HasSuffix(a, "/") && strings.HasPrefix(dep, a) {
			return true
		}
	}
	return false
}
