package cli_test

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/cli"
)

func runArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Execute(t.Context(), "test", args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestCostCommands runs qlp costs, costs runway and budget in-process on the
// seed's cost plan.
func TestCostCommands(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("QLP_DATA_DIR", filepath.Join(dir, "data"))
	t.Setenv("QLP_COSTS_FILE", "../../examples/costs/seed.yaml")
	t.Setenv("QLP_URL", "")
	chart := filepath.Join(dir, "runway.svg")

	code, out, errs := runArgs(t, "costs", "runway", "--chart", chart)
	require.Equal(t, 0, code, errs)
	require.Contains(t, out, "a projection")
	require.Regexp(t, `azure\s+4000.00 GBP\s+\$5000.000000\s+\$5000.000000\s+\$300.000000`, out)
	require.Regexp(t, `temporal-cloud\s+906.45 USD .* 2025-10 \(expired\), \$906.450000 unused`, out)
	svg, err := os.ReadFile(chart)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(svg), "<svg"))
	require.Contains(t, string(svg), `data-pool="azure"`)
	pngChart := filepath.Join(dir, "runway.png")
	code, _, errs = runArgs(t, "costs", "runway", "--chart", pngChart)
	require.Equal(t, 0, code, errs)
	b, err := os.ReadFile(pngChart)
	require.NoError(t, err)
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	require.NoError(t, err, "--chart NAME.png writes a PNG")
	require.Equal(t, [2]int{1040, 560}, [2]int{cfg.Width, cfg.Height})

	code, out, errs = runArgs(t, "budget", "set", "--request-usd", "0.05", "--policy", "downgrade")
	require.Equal(t, 0, code, errs)
	require.Regexp(t, `request\s+\$0.050000\s+tenant`, out)
	require.Contains(t, out, "policy  downgrade (tenant)")
	require.Regexp(t, `temporal-cloud .* refused: expired`, out)

	code, _, errs = runArgs(t, "budget", "set", "--daily-usd", "-3")
	require.Equal(t, 1, code)
	require.Contains(t, errs, `tenant_daily_usd: "-3" is negative`)
	code, _, errs = runArgs(t, "budget", "set")
	require.Equal(t, 1, code)
	require.Contains(t, errs, "nothing to change")

	code, out, errs = runArgs(t, "costs", "--days", "7")
	require.Equal(t, 0, code, errs)
	require.Contains(t, out, "total    $0.000000  0 calls")
	code, _, errs = runArgs(t, "costs", "--days", "400")
	require.Equal(t, 1, code)
	require.Contains(t, errs, "period_days")

	t.Setenv("QLP_COSTS_FILE", filepath.Join(dir, "missing.yaml"))
	code, _, errs = runArgs(t, "costs")
	require.Equal(t, 1, code)
	require.Contains(t, errs, "costs.file (QLP_COSTS_FILE)")
}
