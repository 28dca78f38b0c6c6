package vector

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// NormalizePayload returns payload as encoding/json would decode it (numbers
// as float64), so that every store stores and returns the same values. A nil
// payload becomes an empty map. The tenant key is reserved.
func NormalizePayload(payload map[string]any) (map[string]any, error) {
	if _, ok := payload[TenantKey]; ok {
		return nil, fmt.Errorf("%w: payload key %q is reserved", ErrInvalid, TenantKey)
	}
	if len(payload) == 0 {
		return map[string]any{}, nil
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not JSON: %v", ErrInvalid, err)
	}
	return DecodePayload(b)
}

// DecodePayload decodes a JSON object into a payload map.
func DecodePayload(b []byte) (map[string]any, error) {
	out := map[string]any{}
	if len(b) == 0 {
		return out, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("vector: decode payload: %w", err)
	}
	return out, nil
}

// Matches reports whether payload satisfies every condition of f. Stores that
// filter in process (the embedded store, the Qdrant test server) use it; the
// others translate f to their own query language with the same meaning.
func (f Filter) Matches(payload map[string]any) bool {
	for _, c := range f.Must {
		v, ok := payload[c.Key]
		if !ok {
			return false
		}
		if c.Range != nil {
			n, ok := v.(float64)
			if !ok {
				return false
			}
			if c.Range.Gte != nil && n < *c.Range.Gte {
				return false
			}
			if c.Range.Lte != nil && n > *c.Range.Lte {
				return false
			}
			continue
		}
		if !equalScalar(v, c.Match) {
			return false
		}
	}
	return true
}

func equalScalar(stored, want any) bool {
	switch w := want.(type) {
	case string:
		s, ok := stored.(string)
		return ok && s == w
	case bool:
		b, ok := stored.(bool)
		return ok && b == w
	default:
		n, ok := stored.(float64)
		f, ok2 := ToFloat(want)
		return ok && ok2 && n == f
	}
}

// ToFloat converts a numeric match value to float64.
func ToFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}
