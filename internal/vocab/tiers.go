package vocab

import (
	"sort"
	"strings"
)

// The model tiers, cheapest first.
const (
	T0 = "T0"
	T1 = "T1"
	T2 = "T2"
	T3 = "T3"
)

// tiers lists the tiers, cheapest first.
var tiers = [...]string{T0, T1, T2, T3}

// Tiers lists the tiers, cheapest first. The slice is the caller's.
func Tiers() []string { return append([]string(nil), tiers[:]...) }

// TierIndex is the tier's position from 0 (T0) to 3 (T3), or -1 when s is
// not a tier.
func TierIndex(s string) int {
	for i, t := range tiers {
		if t == s {
			return i
		}
	}
	return -1
}

// ValidTier reports whether s names a tier (exactly: "T0", not "t0").
func ValidTier(s string) bool { return TierIndex(s) >= 0 }

// NextTier is the next stronger tier, or tier itself at the top (and for a
// word that is not a tier).
func NextTier(tier string) string {
	if i := TierIndex(tier); i >= 0 && i < len(tiers)-1 {
		return tiers[i+1]
	}
	return tier
}

// TierList is the tiers as an error message lists them: "T0, T1, T2, T3".
func TierList() string { return strings.Join(tiers[:], ", ") }

// complexities a task may have, simplest first, with the tier the default
// routing gives it.
var complexities = []struct{ name, tier string }{
	{"trivial", T0},
	{"simple", T0},
	{"medium", T1},
	{"complex", T2},
	{"meta", T3},
}

// complexityAliases are the earlier QLP's spellings: its estimate accepted
// "very_complex", which sized and routed like "meta".
var complexityAliases = map[string]string{"very_complex": "meta"}

// Complexities lists the complexities, simplest first. The slice is the
// caller's.
func Complexities() []string {
	out := make([]string, len(complexities))
	for i, c := range complexities {
		out[i] = c.name
	}
	return out
}

// ComplexityAliases lists the earlier spellings NormalizeComplexity
// accepts, sorted. The slice is the caller's.
func ComplexityAliases() []string {
	out := make([]string, 0, len(complexityAliases))
	for a := range complexityAliases {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// NormalizeComplexity maps a complexity or an earlier alias of one to its
// name; ok is false when it is neither.
func NormalizeComplexity(s string) (name string, ok bool) {
	if a, found := complexityAliases[s]; found {
		s = a
	}
	for _, c := range complexities {
		if c.name == s {
			return s, true
		}
	}
	return s, false
}

// ValidComplexity reports whether s is one of Complexities (aliases are
// not: a plan must use the names).
func ValidComplexity(s string) bool {
	for _, c := range complexities {
		if c.name == s {
			return true
		}
	}
	return false
}

// TierForComplexity is the default routing of a complexity (or an alias of
// one) to a tier: trivial and simple to T0, medium to T1, complex to T2,
// meta to T3.
func TierForComplexity(complexity string) (tier string, ok bool) {
	name, ok := NormalizeComplexity(complexity)
	if !ok {
		return "", false
	}
	for _, c := range complexities {
		if c.name == name {
			return c.tier, true
		}
	}
	return "", false
}
