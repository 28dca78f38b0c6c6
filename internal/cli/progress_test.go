package cli

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/orchestrator"
)

// TestProgressViewShowsReviews prints a review request with the commands
// that answer it, and the decision.
func TestProgressViewShowsReviews(t *testing.T) {
	var out bytes.Buffer
	v := newProgressView(&out, false)
	data, err := json.Marshal(map[string]any{"review_id": "rv-j-t1-1", "confidence": 0.82})
	require.NoError(t, err)
	require.NoError(t, v.Handle(orchestrator.ProgressEvent{Type: "review_requested", TaskID: "t1", Message: "waiting for a review", Data: data}))
	require.NoError(t, v.Handle(orchestrator.ProgressEvent{Type: "review_decided", TaskID: "t1", Message: "review rv-j-t1-1: approve by alice"}))
	s := out.String()
	require.Contains(t, s, "task t1 waits for a review")
	require.Contains(t, s, "qlp review approve rv-j-t1-1")
	require.Contains(t, s, `qlp review changes rv-j-t1-1 --comment "..."`)
	require.Contains(t, s, "task t1: review rv-j-t1-1: approve by alice")
}
