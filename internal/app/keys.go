package app

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/store"
)

// touchEvery is how often a key's last-used time is written: one write per
// key per minute, not one per request.
const touchEvery = time.Minute

// storeKeys authenticates tenant API keys against the store: revoked and
// expired keys are refused, and each key's last use is recorded.
type storeKeys struct {
	s   store.Store
	now func() time.Time

	mu      sync.Mutex
	touched map[string]time.Time
}

func newStoreKeys(s store.Store) *storeKeys {
	return &storeKeys{s: s, now: time.Now, touched: map[string]time.Time{}}
}

func (k *storeKeys) Authenticate(ctx context.Context, key string) (auth.Principal, error) {
	rec, err := k.s.APIKeyByDigest(ctx, auth.Digest(key))
	if errors.Is(err, store.ErrNotFound) {
		return auth.Principal{}, auth.ErrInvalidKey
	}
	if err != nil {
		return auth.Principal{}, err
	}
	now := k.now()
	if rec.Expired(now) {
		return auth.Principal{}, auth.ErrExpiredKey
	}
	k.touch(ctx, rec, now)
	return auth.Principal{TenantID: rec.TenantID, KeyID: rec.ID, Scopes: rec.Scopes}, nil
}

// touch writes the key's last use when the stored one is older than
// touchEvery; a failed write costs the caller nothing.
func (k *storeKeys) touch(ctx context.Context, rec store.APIKey, now time.Time) {
	k.mu.Lock()
	last, ok := k.touched[rec.ID]
	if !ok && rec.LastUsedAt != nil {
		last = *rec.LastUsedAt
	}
	if now.Sub(last) < touchEvery {
		k.mu.Unlock()
		return
	}
	k.touched[rec.ID] = now
	k.mu.Unlock()
	_ = k.s.TouchAPIKey(context.WithoutCancel(ctx), rec.ID, now.UTC())
}

// keys returns the process's key authenticator.
func (p *Platform) keys() *storeKeys {
	p.keysOnce.Do(func() { p.keyAuth = newStoreKeys(p.Store) })
	return p.keyAuth
}
