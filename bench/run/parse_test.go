package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	page := "# Benchmarks\n\n## Overhead\n\nCommand:\n\n" +
		"    go run ./bench/platform -runs 10 -latency 0\n" +
		"    go run ./bench/platform -concurrency 1,2 -env QLP_X=4   # other settings\n\n" +
		"Some text with go run ./bench/nothing inline.\n\n## Memory\n\n```\n" +
		"eval \"$(scripts/test-services.sh start)\"\n" +
		"go test -run '^$' -bench . -benchtime 1x -timeout 60m ./bench/memory/\n" +
		"go test -run '^$' -bench . -benchtime=1x ./bench/memory/ -memory.data uniform   # worst case\n" +
		"```\n\n    go test ./internal/x/\n"
	cmds, err := Parse(page)
	require.NoError(t, err)
	require.Len(t, cmds, 4)
	tests := []struct {
		section, pkg string
		test         bool
		variant      bool
		flags        []string
	}{
		{"Overhead", "./bench/platform", false, false, []string{"runs", "latency"}},
		{"Overhead", "./bench/platform", false, true, []string{"concurrency", "env"}},
		{"Memory", "./bench/memory", true, false, nil},
		{"Memory", "./bench/memory", true, true, []string{"memory.data"}},
	}
	for i, tt := range tests {
		c := cmds[i]
		require.Equal(t, tt.section, c.Section, c.Line)
		require.Equal(t, tt.pkg, c.Pkg, c.Line)
		require.Equal(t, tt.test, c.Test, c.Line)
		require.Equal(t, tt.variant, c.Variant, c.Line)
		require.Equal(t, tt.flags, c.Flags, c.Line)
	}
	require.Equal(t, "go test -run '^$' -bench . -benchtime=1x ./bench/memory/ -memory.data uniform", cmds[3].Line)

	_, err = Parse("```\ngo run ./bench/x\n")
	require.ErrorContains(t, err, "not closed")
	_, err = Parse("    go run ./bench/x -a 'b\n")
	require.ErrorContains(t, err, "unclosed quote")
}

// TestPageCommandsExist is what keeps docs/benchmarks.md honest: every
// command it gives builds, and every flag it passes exists.
func TestPageCommandsExist(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every benchmark")
	}
	root := repoRoot(t)
	text, err := os.ReadFile(filepath.Join(root, "docs", "benchmarks.md"))
	require.NoError(t, err)
	cmds, err := Parse(string(text))
	require.NoError(t, err)
	require.NotEmpty(t, cmds)
	t.Chdir(root)
	require.NoError(t, Check(context.Background(), cmds, io.Discard))
}

// TestCheckFindsWhatIsGone: a flag or a package the page names that does
// not exist fails the check.
func TestCheckFindsWhatIsGone(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a benchmark")
	}
	t.Chdir(repoRoot(t))
	for _, page := range []string{
		"    go test -run '^$' -bench . ./bench/budget/ -budget.nosuchflag 3\n",
		"    go run ./bench/nosuchbenchmark -runs 1\n",
	} {
		cmds, err := Parse(page)
		require.NoError(t, err)
		require.Error(t, Check(context.Background(), cmds, io.Discard), page)
	}
}

func repoRoot(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	return filepath.Join(filepath.Dir(file), "..", "..")
}
