package redisx_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/redisx"
	"github.com/quantumlayer/qlp/internal/redisx/redistest"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		url  string
		want string
	}{
		{"", ""},
		{"redis://127.0.0.1:6379/0", ""},
		{"rediss://user:pw@cache.internal:6380/2", ""},
		{"127.0.0.1:6379", "QLP_REDIS_URL"},
		{"redis://127.0.0.1:6379/notadb", "QLP_REDIS_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := redisx.Config{URL: tt.url}.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
			require.NotContains(t, err.Error(), "pw")
		})
	}
}

func TestOpen(t *testing.T) {
	rdb := redistest.Client(t)
	require.NoError(t, rdb.Ping(t.Context()).Err())
	_, err := redisx.Open(t.Context(), redisx.Config{URL: "redis://127.0.0.1:1/0"})
	require.ErrorContains(t, err, "ping")
}
