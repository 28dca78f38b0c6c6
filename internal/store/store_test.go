package store_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/store/storetest"
)

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "qlp.db"))
		require.NoError(t, err)
		return s
	})
}

func TestPostgresConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.OpenPostgres(t.Context(), storetest.PostgresURL(t))
		require.NoError(t, err)
		return s
	})
}

func TestMigrationsAreIdempotentAndVersioned(t *testing.T) {
	path := filepath.Join(t.TempDir(), "qlp.db")
	for i := 0; i < 2; i++ {
		s, err := store.OpenSQLite(t.Context(), path)
		require.NoError(t, err)
		applied, known, err := s.SchemaVersion(t.Context())
		require.NoError(t, err)
		require.Equal(t, known, applied)
		require.NoError(t, s.Close())
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     store.Config
		want    string
		wantErr bool
	}{
		{"default sqlite", store.Config{}, "sqlite", false},
		{"url implies postgres", store.Config{DatabaseURL: "postgres://u:secret@h/db"}, "postgres", false},
		{"postgres without url", store.Config{Driver: "postgres"}, "postgres", true},
		{"unknown driver", store.Config{Driver: "mysql"}, "mysql", true},
		{"not a postgres url", store.Config{DatabaseURL: "mysql://u:secret@h/db"}, "postgres", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			require.Equal(t, tt.want, tt.cfg.EffectiveDriver())
			if !tt.wantErr {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), "QLP_")
			require.NotContains(t, err.Error(), "secret", "errors never echo a password")
		})
	}
}
