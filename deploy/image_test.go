package deploy_test

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// hostOnly are packages the test machine needs that the image does not:
// gVisor is a backend chosen per cluster (its own image layer when used),
// procps serves the sandbox's hostile suite.
var hostOnly = []string{"runsc", "procps"}

// aptList reads one of scripts/deps/*.apt: a package per line, # comments.
func aptList(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "scripts", "deps", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var pkgs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if fields := strings.Fields(line); len(fields) > 0 {
			pkgs = append(pkgs, fields[0])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// toolchains reads deploy/image/toolchains: language → packages and copied
// paths.
func toolchains(t *testing.T) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("image", "toolchains"))
	if err != nil {
		t.Fatal(err)
	}
	langs := map[string][]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		lang, items, ok := strings.Cut(line, ":")
		if !ok || strings.ContainsAny(lang, " \t") {
			t.Fatalf("toolchains: %q is not \"<language>: <item>...\"", line)
		}
		langs[lang] = strings.Fields(items)
	}
	return langs
}

// TestImageHoldsTheSandboxToolchains keeps the image's definition and the
// test machine's package lists together: a toolchain the sandbox or the
// Validation Mesh gains on the test machine must reach the image the Helm
// chart runs.
func TestImageHoldsTheSandboxToolchains(t *testing.T) {
	langs := toolchains(t)
	var inImage []string
	for _, items := range langs {
		inImage = append(inImage, items...)
	}
	for _, list := range []string{"sandbox.apt", "validation.apt"} {
		for _, pkg := range aptList(t, list) {
			if !slices.Contains(inImage, pkg) && !slices.Contains(hostOnly, pkg) {
				t.Errorf("scripts/deps/%s installs %s, which deploy/image/toolchains does not hold (add it to its language, or to hostOnly here with the reason)", list, pkg)
			}
		}
	}
	// What validation.sh installs under /usr/local is copied in.
	for _, path := range []string{"/usr/local/go", "/usr/local/bin/staticcheck", "/usr/local/bin/gosec", "/usr/local/bin/eslint"} {
		if !slices.Contains(inImage, "copy:"+path) {
			t.Errorf("deploy/image/toolchains does not copy %s into the image", path)
		}
	}
	for _, lang := range []string{"base", "python", "go", "javascript", "typescript", "java", "rust", "bash"} {
		if _, ok := langs[lang]; !ok {
			t.Errorf("deploy/image/toolchains has no %s line", lang)
		}
	}
	if !slices.Contains(langs["base"], "bubblewrap") {
		t.Error("the image's base lacks bubblewrap, the sandbox's default backend")
	}
}
