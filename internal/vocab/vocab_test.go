package vocab

import (
	"slices"
	"testing"
)

func TestNormalizeLanguage(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"go", "go", true},
		{" Golang ", "go", true},
		{"py", "python", true},
		{"python3", "python", true},
		{"node", "javascript", true},
		{"TS", "typescript", true},
		{"shell", "bash", true},
		{"rs", "rust", true},
		{"java", "java", true},
		{"cobol", "cobol", false},
		{"", "", false},
		{"auto", "auto", false},
	}
	for _, tt := range tests {
		got, ok := NormalizeLanguage(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizeLanguage(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestEveryAliasNamesALanguage(t *testing.T) {
	for alias, name := range languageAliases {
		if !slices.Contains(languages, name) {
			t.Errorf("alias %q names %q, which is not a language", alias, name)
		}
		if slices.Contains(languages, alias) {
			t.Errorf("alias %q is itself a language", alias)
		}
	}
	if !slices.IsSorted(languages) {
		t.Errorf("languages are not sorted: %v", languages)
	}
}

func TestTiers(t *testing.T) {
	tests := []struct {
		in    string
		valid bool
		next  string
	}{
		{"T0", true, "T1"},
		{"T1", true, "T2"},
		{"T2", true, "T3"},
		{"T3", true, "T3"},
		{"t0", false, "t0"},
		{"T4", false, "T4"},
		{"", false, ""},
	}
	for _, tt := range tests {
		if got := ValidTier(tt.in); got != tt.valid {
			t.Errorf("ValidTier(%q) = %v", tt.in, got)
		}
		if got := NextTier(tt.in); got != tt.next {
			t.Errorf("NextTier(%q) = %q; want %q", tt.in, got, tt.next)
		}
	}
	if got := TierList(); got != "T0, T1, T2, T3" {
		t.Errorf("TierList() = %q", got)
	}
	ts := Tiers()
	ts[0] = "changed"
	if Tiers()[0] != T0 {
		t.Error("Tiers returned the package's own slice")
	}
}

func TestComplexities(t *testing.T) {
	tests := []struct {
		in, name, tier string
		ok, valid      bool
	}{
		{"trivial", "trivial", T0, true, true},
		{"simple", "simple", T0, true, true},
		{"medium", "medium", T1, true, true},
		{"complex", "complex", T2, true, true},
		{"meta", "meta", T3, true, true},
		{"very_complex", "meta", T3, true, false},
		{"huge", "huge", "", false, false},
	}
	for _, tt := range tests {
		name, ok := NormalizeComplexity(tt.in)
		if name != tt.name || ok != tt.ok {
			t.Errorf("NormalizeComplexity(%q) = %q, %v; want %q, %v", tt.in, name, ok, tt.name, tt.ok)
		}
		if got := ValidComplexity(tt.in); got != tt.valid {
			t.Errorf("ValidComplexity(%q) = %v; want %v", tt.in, got, tt.valid)
		}
		tier, ok := TierForComplexity(tt.in)
		if tier != tt.tier || ok != tt.ok {
			t.Errorf("TierForComplexity(%q) = %q, %v; want %q, %v", tt.in, tier, ok, tt.tier, tt.ok)
		}
	}
	if got := ComplexityAliases(); !slices.Equal(got, []string{"very_complex"}) {
		t.Errorf("ComplexityAliases() = %v", got)
	}
}

func TestOnTimeout(t *testing.T) {
	for _, p := range OnTimeoutPolicies() {
		if !ValidOnTimeout(p) {
			t.Errorf("ValidOnTimeout(%q) = false", p)
		}
	}
	for _, p := range []string{"", "Approve", "ignore"} {
		if ValidOnTimeout(p) {
			t.Errorf("ValidOnTimeout(%q) = true", p)
		}
	}
}
