// Package deploy_test tests the deployment artefacts under deploy/ against
// the real tools and the real qlp command line: a real nginx in front of
// real upstreams, promtool over the Prometheus configuration and rules, the
// Helm chart rendered and linted by helm, validated by kubeconform and
// decoded into Kubernetes' own types, and every metric name checked against
// the code.
package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantumlayer/qlp/internal/cli"
)

// requireTool returns the path of an executable, or skips the test when it
// is missing — fails instead when QLP_TEST_REQUIRE_SERVICES=1 (make test).
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		if c := filepath.Join(dir, name); isExecutable(c) {
			return c
		}
	}
	if os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" {
		t.Fatalf("%s is not installed (QLP_TEST_REQUIRE_SERVICES=1): run scripts/install-deps.sh test", name)
	}
	t.Skipf("%s is not installed; run scripts/install-deps.sh test", name)
	return ""
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// qlp runs the qlp command line in this process, as the binary would, with
// a throwaway data directory, and returns its standard output.
func qlp(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{"--data-dir", t.TempDir()}, args...)
	if code := cli.Execute(context.Background(), "test", full, &out, &errb); code != 0 {
		t.Fatalf("qlp %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	return out.String()
}

// binaryTargets are the targets `qlp serve` accepts, from its shell
// completion (cobra's ValidArgs, the list serve checks its argument against).
func binaryTargets(t *testing.T) []string {
	t.Helper()
	var targets []string
	for _, line := range strings.Split(qlp(t, "__complete", "serve", ""), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, ":") || strings.HasPrefix(line, "Completion ended") {
			continue
		}
		targets = append(targets, line)
	}
	if len(targets) == 0 {
		t.Fatal("qlp __complete serve listed no targets")
	}
	return targets
}

// setting is one row of `qlp config dump`.
type setting struct{ Key, Env, Value string }

// configDump returns every setting of `qlp config dump` (defaults, as a
// process with no QLP_* environment sees them) by YAML key.
func configDump(t *testing.T) map[string]setting {
	t.Helper()
	out := qlp(t, "config", "dump")
	sc := bufio.NewScanner(strings.NewReader(out))
	if !sc.Scan() {
		t.Fatal("qlp config dump printed nothing")
	}
	header := sc.Text()
	envAt, valAt, meaningAt := strings.Index(header, "ENV"), strings.Index(header, "VALUE"), strings.Index(header, "MEANING")
	if envAt < 0 || valAt < envAt || meaningAt < valAt {
		t.Fatalf("unexpected config dump header %q", header)
	}
	col := func(line string, from, to int) string {
		if from >= len(line) {
			return ""
		}
		if to > len(line) {
			to = len(line)
		}
		return strings.TrimSpace(line[from:to])
	}
	settings := map[string]setting{}
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		s := setting{Key: col(line, 0, envAt), Env: col(line, envAt, valAt), Value: col(line, valAt, meaningAt)}
		settings[s.Key] = s
	}
	if len(settings) < 20 {
		t.Fatalf("config dump: only %d settings parsed", len(settings))
	}
	return settings
}

// envNames are the QLP_* variables of every setting.
func envNames(dump map[string]setting) map[string]bool {
	out := map[string]bool{}
	for _, s := range dump {
		out[s.Env] = true
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
