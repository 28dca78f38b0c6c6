package app

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"golang.org/x/sync/singleflight"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/store"
)

// touchEvery is how often a key's last-used time is written: one write per
// key per minute, not one per request.
const touchEvery = time.Minute

// keyTTL is how long a key found in the store is trusted without asking the
// store again: a client polling many times a second costs one query per
// second per replica, and a key revoked or rotated elsewhere (another
// replica, `qlp apikey revoke`) is refused everywhere within keyTTL. A key
// revoked through this process is forgotten at once (forget).
const keyTTL = time.Second

// keyCacheEntries bounds the keys remembered; unknown keys are never
// remembered, so guessing costs the guesser, not the cache.
const keyCacheEntries = 10_000

// storeKeys authenticates tenant API keys against the store: revoked and
// expired keys are refused, and each key's last use is recorded.
type storeKeys struct {
	s   store.Store
	now func() time.Time

	// found: digest -> the key's record, for keyTTL.
	found *expirable.LRU[string, store.APIKey]
	// lookups makes the requests that find a key missing from found at
	// the same moment (every poll in flight when it expires) share one
	// query.
	lookups singleflight.Group

	mu      sync.Mutex
	touched map[string]time.Time
}

func newStoreKeys(s store.Store) *storeKeys {
	return &storeKeys{s: s, now: time.Now, touched: map[string]time.Time{},
		found: expirable.NewLRU[string, store.APIKey](keyCacheEntries, nil, keyTTL)}
}

func (k *storeKeys) Authenticate(ctx context.Context, key string) (auth.Principal, error) {
	digest := auth.Digest(key)
	rec, ok := k.found.Get(digest)
	if !ok {
		v, err, _ := k.lookups.Do(digest, func() (any, error) {
			// Shared by the requests waiting on it: none's cancellation
			// ends it for the others; a deadline of its own instead.
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			rec, err := k.s.APIKeyByDigest(lctx, digest)
			if err == nil {
				k.found.Add(digest, rec)
			}
			return rec, err
		})
		if errors.Is(err, store.ErrNotFound) {
			return auth.Principal{}, auth.ErrInvalidKey
		}
		if err != nil {
			return auth.Principal{}, err
		}
		rec = v.(store.APIKey)
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

// forget drops the remembered keys, so that a key revoked through this
// process is refused from its next request.
func (k *storeKeys) forget() { k.found.Purge() }

// revokingKeys is the console's key store: a key it revokes is refused by
// this process from the next request, not keyTTL later.
type revokingKeys struct {
	store.Store
	keys *storeKeys
}

func (r revokingKeys) RevokeAPIKey(ctx context.Context, tenantID, id string) error {
	err := r.Store.RevokeAPIKey(ctx, tenantID, id)
	r.keys.forget()
	return err
}

// keys returns the process's key authenticator.
func (p *Platform) keys() *storeKeys {
	p.keysOnce.Do(func() { p.keyAuth = newStoreKeys(p.Store) })
	return p.keyAuth
}
