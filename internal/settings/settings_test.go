package settings_test

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/quantumlayer/qlp/internal/settings"
)

func testList() []settings.Setting {
	var n int
	var s string
	return []settings.Setting{
		{Key: "workflow.max_parallel", Env: "QLP_WORKFLOW_MAX_PARALLEL", Value: settings.Int(&n)},
		{Key: "no_env", Value: settings.String(&s)},
	}
}

func TestInvalidNamesKeyAndEnv(t *testing.T) {
	for _, tc := range []struct {
		name, key, format string
		args              []any
		want              string
	}{
		{"key and env", "workflow.max_parallel", "%d is outside 1..64", []any{0}, "workflow.max_parallel (QLP_WORKFLOW_MAX_PARALLEL): 0 is outside 1..64"},
		{"no env", "no_env", "must not be empty", nil, "no_env: must not be empty"},
		{"quoted value", "no_env", "%q is not auto, json or text", []any{"xml"}, `no_env: "xml" is not auto, json or text`},
		{"percent in argument", "no_env", "%s", []any{"100%"}, "no_env: 100%"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := settings.Invalid(testList(), tc.key, tc.format, tc.args...)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Invalid() = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestInvalidWraps(t *testing.T) {
	err := settings.Invalid(testList(), "no_env", "%w", fs.ErrNotExist)
	if !errors.Is(err, fs.ErrNotExist) || err.Error() != "no_env: file does not exist" {
		t.Fatalf("Invalid(%%w) = %v, want it to wrap fs.ErrNotExist", err)
	}
}

func TestNameOf(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"workflow.max_parallel", "workflow.max_parallel (QLP_WORKFLOW_MAX_PARALLEL)"},
		{"no_env", "no_env"},
	} {
		if got := settings.NameOf(testList(), tc.key); got != tc.want {
			t.Errorf("NameOf(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

func TestUnknownKeyPanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		call func()
	}{
		{"Lookup", func() { settings.Lookup(testList(), "workflow.max_paralel") }},
		{"Invalid", func() { _ = settings.Invalid(testList(), "workflow.max_paralel", "bad") }},
		{"NameOf", func() { settings.NameOf(testList(), "max_parallel") }},
		{"empty list", func() { settings.Lookup(nil, "no_env") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic for an unknown key")
				}
			}()
			tc.call()
		})
	}
}
