package app

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/config"
)

func TestSortTargets(t *testing.T) {
	table := func(needs map[string][]string, order ...string) []Target {
		var out []Target
		for _, n := range order {
			out = append(out, Target{Name: n, Needs: needs[n]})
		}
		return out
	}
	tests := []struct {
		name    string
		table   []Target
		names   []string
		want    []string
		wantErr string
	}{
		{name: "table order without needs", table: table(nil, "a", "b", "c"), names: []string{"c", "a"}, want: []string{"a", "c"}},
		{name: "needs first", table: table(map[string][]string{"a": {"c"}, "c": {"b"}}, "a", "b", "c"),
			names: []string{"a", "b", "c"}, want: []string{"b", "c", "a"}},
		{name: "a need outside names is left out", table: table(map[string][]string{"a": {"b"}}, "a", "b"),
			names: []string{"a"}, want: []string{"a"}},
		{name: "nothing asked", table: table(nil, "a"), names: nil, want: nil},
		{name: "unknown name", table: table(nil, "a"), names: []string{"z"}, wantErr: `unknown target "z"`},
		{name: "unknown need", table: table(map[string][]string{"a": {"z"}}, "a"), names: []string{"a"},
			wantErr: `target "a" needs "z", which is not a target`},
		{name: "cycle", table: table(map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a"}}, "a", "b", "c"), names: []string{"a"},
			wantErr: "cycle: a needs b needs c needs a"},
		{name: "cycle not reached by the names asked for", table: table(map[string][]string{"b": {"c"}, "c": {"b"}}, "a", "b", "c"),
			names: []string{"a"}, wantErr: "cycle: b needs c needs b"},
		{name: "self", table: table(map[string][]string{"a": {"a"}}, "a"), names: []string{"a"}, wantErr: "cycle: a needs a"},
		{name: "listed twice", table: table(nil, "a", "a"), names: []string{"a"}, wantErr: `target "a" is listed twice`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sortTargets(tc.table, tc.names)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// TestTargetsTable: every entry can be opened and served, its settings
// exist, it listens on its own port, and whatever another target needs can
// be reached by URL (split mode).
func TestTargetsTable(t *testing.T) {
	cfg := config.Defaults()
	table := Targets()
	all, err := sortTargets(table, TargetNames())
	require.NoError(t, err, "the table sorts")
	require.Equal(t, []string{Orchestrator, Agents, Memory, Sandbox, Validation, Worker, Marketing}, all)
	needed := map[string]bool{}
	ports := map[string]string{}
	for _, tg := range table {
		for _, d := range tg.Needs {
			needed[d] = true
		}
	}
	for _, tg := range table {
		t.Run(tg.Name, func(t *testing.T) {
			require.NotEmpty(t, tg.Summary)
			require.NotNil(t, tg.open, "opens")
			require.NotNil(t, tg.mount, "has a handler")
			_, ok := setting(cfg, tg.AddrKey)
			require.True(t, ok, "address setting %q exists", tg.AddrKey)
			_, port, err := net.SplitHostPort(tg.Addr(cfg))
			require.NoError(t, err, "default address")
			require.Empty(t, ports[port], "port %s is also %s's", port, ports[port])
			ports[port] = tg.Name
			if tg.URLKey == "" {
				require.Nil(t, tg.dial, "no URL setting, so nothing dials it")
				require.False(t, needed[tg.Name], "a target needed by another has a URL setting")
				return
			}
			_, ok = setting(cfg, tg.URLKey)
			require.True(t, ok, "URL setting %q exists", tg.URLKey)
			require.NotNil(t, tg.dial, "a URL setting is dialled")
			require.Empty(t, tg.URL(cfg), "runs in this process by default")
		})
	}
}

func TestPlanFor(t *testing.T) {
	split := config.Defaults()
	split.Services.MemoryURL = "http://memory:8003"
	split.Services.ValidationURL = "http://validation:8002"
	split.Services.SandboxURL = "http://sandbox:8004"
	sandboxOnly := config.Defaults()
	sandboxOnly.Services.SandboxURL = "http://sandbox:8004"
	tests := []struct {
		name    string
		cfg     config.Config
		run     []string
		use     []string
		want    Plan
		wantErr string
	}{
		{name: "up", cfg: config.Defaults(), run: TargetNames(),
			want: Plan{Run: TargetNames(), Local: TargetNames()}},
		{name: "serve worker", cfg: config.Defaults(), run: []string{Worker},
			want: Plan{Run: []string{Worker}, Local: []string{Memory, Sandbox, Validation, Worker}}},
		{name: "serve worker, split", cfg: split, run: []string{Worker},
			want: Plan{Run: []string{Worker}, Local: []string{Worker}, Remote: []string{Memory, Validation}}},
		{name: "serve worker, sandbox elsewhere", cfg: sandboxOnly, run: []string{Worker},
			want: Plan{Run: []string{Worker}, Local: []string{Memory, Validation, Worker}, Remote: []string{Sandbox}}},
		{name: "serve validation, split", cfg: split, run: []string{Validation},
			want: Plan{Run: []string{Validation}, Local: []string{Validation}, Remote: []string{Sandbox}}},
		{name: "a target run here is used here", cfg: split, run: []string{Worker, Validation, Sandbox},
			want: Plan{Run: []string{Sandbox, Validation, Worker}, Local: []string{Sandbox, Validation, Worker}, Remote: []string{Memory}}},
		{name: "up, split", cfg: split, run: TargetNames(),
			want: Plan{Run: TargetNames(), Local: TargetNames()}},
		{name: "serve agents", cfg: config.Defaults(), run: []string{Agents},
			want: Plan{Run: []string{Agents}, Local: []string{Agents}}},
		{name: "use memory", cfg: config.Defaults(), use: []string{Memory},
			want: Plan{Local: []string{Memory}}},
		{name: "use memory, split", cfg: split, use: []string{Memory},
			want: Plan{Remote: []string{Memory}}},
		{name: "nothing", cfg: config.Defaults(), want: Plan{}},
		{name: "named twice", cfg: config.Defaults(), run: []string{Sandbox, Sandbox},
			want: Plan{Run: []string{Sandbox}, Local: []string{Sandbox}}},
		{name: "unknown", cfg: config.Defaults(), run: []string{"billing"}, wantErr: `unknown target "billing" (want orchestrator, agents`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PlanFor(tc.cfg, tc.run, tc.use)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
