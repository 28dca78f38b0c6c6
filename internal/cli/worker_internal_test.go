package cli

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWorkerTargets: `qlp worker --queue` chooses the targets that serve
// the task queues.
func TestWorkerTargets(t *testing.T) {
	tests := []struct {
		queues  []string
		want    []string
		wantErr string
	}{
		{queues: []string{"qlp-main"}, want: []string{"worker"}},
		{queues: []string{"qlp-marketing"}, want: []string{"marketing"}},
		{queues: []string{"qlp-main", "qlp-marketing", "qlp-main"}, want: []string{"worker", "marketing"}},
		{queues: []string{"marketing-queue"}, wantErr: `unknown task queue "marketing-queue" (want qlp-main or qlp-marketing)`},
	}
	for _, tt := range tests {
		got, err := workerTargets(tt.queues)
		if tt.wantErr != "" {
			require.EqualError(t, err, tt.wantErr)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tt.want, got)
	}
}
