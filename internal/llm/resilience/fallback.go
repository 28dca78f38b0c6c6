package resilience

import (
	"context"
	"errors"

	"github.com/quantumlayer/qlp/internal/llm"
)

// Route is a provider and the model to ask it for.
type Route struct {
	Provider llm.Provider
	Model    string
}

func (r Route) String() string { return r.Provider.Name() + "/" + r.Model }

// Fallback sends a tier's calls to its primary route and, when that fails
// because the provider is down (breaker open, unavailable, timeout, or
// still rate limited after the retries), to its secondary route with the
// secondary's model. It never falls back for errors the second provider
// would repeat (bad request, authentication, context length, content
// filter), nor for a stream that already delivered output.
type Fallback struct {
	tier      string
	primary   Route
	secondary Route
	obs       Observer
}

var _ llm.Provider = (*Fallback)(nil)

// NewFallback returns the pair. Requests keep the model they name for the
// primary route (the tier's model); the secondary gets its own.
func NewFallback(tier string, primary, secondary Route, obs Observer) *Fallback {
	return &Fallback{tier: tier, primary: primary, secondary: secondary, obs: observer(obs)}
}

// Name implements llm.Provider: the primary's.
func (f *Fallback) Name() string { return f.primary.Provider.Name() }

// Secondary returns the fallback route.
func (f *Fallback) Secondary() Route { return f.secondary }

// Down reports whether err says the provider cannot answer now.
func Down(err error) bool {
	if errors.Is(err, ErrBreakerOpen) {
		return true
	}
	var le *llm.Error
	if !errors.As(err, &le) {
		return false
	}
	switch le.Kind {
	case llm.KindUnavailable, llm.KindTimeout, llm.KindRateLimit:
		return true
	}
	return false
}

// Chat implements llm.Provider.
func (f *Fallback) Chat(ctx context.Context, req llm.Request) (*llm.Response, error) {
	resp, err := f.primary.Provider.Chat(ctx, req)
	if err == nil || !Down(err) || ctx.Err() != nil {
		return resp, err
	}
	f.obs.FellBack(f.tier, f.primary.String(), f.secondary.String())
	req.Model = f.secondary.Model
	resp, err2 := f.secondary.Provider.Chat(ctx, req)
	if err2 != nil {
		return nil, errors.Join(err, err2)
	}
	return resp, nil
}

// Stream implements llm.Provider.
func (f *Fallback) Stream(ctx context.Context, req llm.Request, fn func(llm.Chunk) error) (*llm.Response, error) {
	delivered := false
	resp, err := f.primary.Provider.Stream(ctx, req, func(c llm.Chunk) error {
		delivered = true
		if fn == nil {
			return nil
		}
		return fn(c)
	})
	if err == nil || delivered || !Down(err) || ctx.Err() != nil {
		return resp, err
	}
	f.obs.FellBack(f.tier, f.primary.String(), f.secondary.String())
	req.Model = f.secondary.Model
	resp, err2 := f.secondary.Provider.Stream(ctx, req, fn)
	if err2 != nil {
		return nil, errors.Join(err, err2)
	}
	return resp, nil
}
