package app

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/store"
)

// keyStore holds API keys by digest and counts the lookups.
type keyStore struct {
	store.Store
	keys    map[string]store.APIKey
	lookups atomic.Int32
}

func (k *keyStore) APIKeyByDigest(_ context.Context, digest string) (store.APIKey, error) {
	k.lookups.Add(1)
	rec, ok := k.keys[digest]
	if !ok || rec.RevokedAt != nil {
		return store.APIKey{}, store.ErrNotFound
	}
	return rec, nil
}

func (k *keyStore) TouchAPIKey(context.Context, string, time.Time) error { return nil }

func (k *keyStore) RevokeAPIKey(_ context.Context, _, id string) error {
	for d, rec := range k.keys {
		if rec.ID == id {
			now := time.Now()
			rec.RevokedAt = &now
			k.keys[d] = rec
		}
	}
	return nil
}

// TestKeysAreRememberedBriefly: a key found in the store is trusted for
// keyTTL without asking again (its expiry still checked on every call), an
// unknown key is asked about every time, and a key revoked through this
// process (the console) is refused at once.
func TestKeysAreRememberedBriefly(t *testing.T) {
	now := time.Now()
	soon := now.Add(time.Hour)
	good, expiring, unknown := "qlp_good", "qlp_expiring", "qlp_unknown"
	newKeys := func() (*keyStore, *storeKeys) {
		ks := &keyStore{keys: map[string]store.APIKey{
			auth.Digest(good):     {ID: "k1", TenantID: "acme"},
			auth.Digest(expiring): {ID: "k2", TenantID: "acme", ExpiresAt: &soon},
		}}
		k := newStoreKeys(ks)
		k.now = func() time.Time { return now }
		return ks, k
	}
	tests := []struct {
		name        string
		key         string
		calls       int
		between     func(t *testing.T, ks *keyStore, k *storeKeys) // before the last call
		wantErr     error                                          // of the last call
		wantLookups int32
	}{
		{name: "known key: one lookup", key: good, calls: 5, wantLookups: 1},
		{name: "unknown key: every time", key: unknown, calls: 3, wantErr: auth.ErrInvalidKey, wantLookups: 3},
		{name: "expiry checked on a remembered key", key: expiring, calls: 3,
			between: func(_ *testing.T, _ *keyStore, k *storeKeys) { k.now = func() time.Time { return soon } }, wantErr: auth.ErrExpiredKey, wantLookups: 1},
		{name: "revoked through the console: refused at once", key: good, calls: 3,
			between: func(t *testing.T, ks *keyStore, k *storeKeys) {
				require.NoError(t, revokingKeys{Store: ks, keys: k}.RevokeAPIKey(t.Context(), "acme", "k1"))
			}, wantErr: auth.ErrInvalidKey, wantLookups: 2},
		{name: "revoked elsewhere: refused after keyTTL", key: good, calls: 3,
			between: func(t *testing.T, ks *keyStore, _ *storeKeys) {
				require.NoError(t, ks.RevokeAPIKey(t.Context(), "acme", "k1"))
				time.Sleep(keyTTL + 100*time.Millisecond)
			}, wantErr: auth.ErrInvalidKey, wantLookups: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, k := newKeys()
			var err error
			for i := range tt.calls {
				if i == tt.calls-1 && tt.between != nil {
					tt.between(t, ks, k)
				}
				var p auth.Principal
				p, err = k.Authenticate(t.Context(), tt.key)
				if err == nil {
					require.Equal(t, "acme", p.TenantID)
				}
			}
			if tt.wantErr == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.wantErr)
			}
			require.Equal(t, tt.wantLookups, ks.lookups.Load(), "store lookups")
		})
	}
}
