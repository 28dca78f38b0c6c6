package tiers

import (
	"fmt"
	"sort"
	"strings"
)

// Providers QLP can call, by the name the price catalogue uses.
var Providers = []string{"openai", "azure", "anthropic", "bedrock", "ollama"}

func knownProvider(p string) bool {
	for _, k := range Providers {
		if p == k {
			return true
		}
	}
	return false
}

// Slot is the provider and model that answer one tier.
type Slot struct {
	Provider string
	Model    string
}

func (s Slot) String() string { return s.Provider + "/" + s.Model }

// Pack names a model for each tier, cheapest (T0: summaries, names,
// trivial tasks) to strongest (T3: meta tasks). Every model of a built-in
// pack has an exact price in the catalogue (local models are free).
type Pack struct {
	Name        string
	Description string
	Tiers       [4]Slot
}

// Providers lists the providers the pack uses, sorted.
func (p Pack) Providers() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range p.Tiers {
		if !seen[s.Provider] {
			seen[s.Provider] = true
			out = append(out, s.Provider)
		}
	}
	sort.Strings(out)
	return out
}

const (
	localSmall  = "qwen2.5-coder:7b"
	localMedium = "qwen2.5-coder:14b"
	localLarge  = "qwen2.5-coder:32b"
)

var builtinPacks = []Pack{
	{Name: "openai", Description: "OpenAI: GPT-4.1 nano/mini/full, o3 for meta tasks",
		Tiers: [4]Slot{{"openai", "gpt-4.1-nano"}, {"openai", "gpt-4.1-mini"}, {"openai", "gpt-4.1"}, {"openai", "o3"}}},
	{Name: "azure", Description: "Azure OpenAI deployments of the openai pack's models (map them with QLP_LLM_AZURE_DEPLOYMENTS)",
		Tiers: [4]Slot{{"azure", "gpt-4.1-nano"}, {"azure", "gpt-4.1-mini"}, {"azure", "gpt-4.1"}, {"azure", "o3"}}},
	{Name: "anthropic", Description: "Anthropic: Haiku 4.5, Sonnet 4.5 for code, Opus 4.5 for meta tasks",
		Tiers: [4]Slot{{"anthropic", "claude-haiku-4-5-20251001"}, {"anthropic", "claude-sonnet-4-5-20250929"},
			{"anthropic", "claude-sonnet-4-5-20250929"}, {"anthropic", "claude-opus-4-5-20251101"}}},
	{Name: "bedrock", Description: "AWS Bedrock: Nova Lite, then Claude through US cross-region inference profiles (other regions: override QLP_LLM_MODEL_T1..T3)",
		Tiers: [4]Slot{{"bedrock", "amazon.nova-lite-v1:0"}, {"bedrock", "us.anthropic.claude-3-5-haiku-20241022-v1:0"},
			{"bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0"}, {"bedrock", "us.anthropic.claude-opus-4-1-20250805-v1:0"}}},
	{Name: "ollama-local", Description: "Everything on a local Ollama (free): Qwen2.5-Coder 7B/14B/32B",
		Tiers: [4]Slot{{"ollama", localSmall}, {"ollama", localMedium}, {"ollama", localLarge}, {"ollama", localLarge}}},
	{Name: "hybrid", Description: "A cheap local model for T0 (summaries, names, trivial tasks), OpenAI for code",
		Tiers: [4]Slot{{"ollama", localSmall}, {"openai", "gpt-4.1-mini"}, {"openai", "gpt-4.1"}, {"openai", "o3"}}},
	{Name: "hybrid-anthropic", Description: "A cheap local model for T0, Anthropic for code",
		Tiers: [4]Slot{{"ollama", localSmall}, {"anthropic", "claude-haiku-4-5-20251001"},
			{"anthropic", "claude-sonnet-4-5-20250929"}, {"anthropic", "claude-opus-4-5-20251101"}}},
}

// Packs returns the built-in packs.
func Packs() []Pack { return append([]Pack(nil), builtinPacks...) }

// LookupPack returns the built-in pack called name.
func LookupPack(name string) (Pack, error) {
	for _, p := range builtinPacks {
		if p.Name == name {
			return p, nil
		}
	}
	names := make([]string, len(builtinPacks))
	for i, p := range builtinPacks {
		names[i] = p.Name
	}
	return Pack{}, fmt.Errorf("unknown model pack %q (known: %s)", name, strings.Join(names, ", "))
}

// defaultPack is the pack of a provider named alone.
func defaultPack(provider string) string {
	if provider == "ollama" {
		return "ollama-local"
	}
	return provider
}

// parseSlot reads a tier override: "model" keeps the tier's provider,
// "provider:model" names another (bedrock and ollama model ids contain
// colons too, so only a known provider name counts as a prefix).
func parseSlot(v string, tierProvider string) Slot {
	if p, m, ok := strings.Cut(v, ":"); ok && knownProvider(p) && m != "" {
		return Slot{Provider: p, Model: m}
	}
	return Slot{Provider: tierProvider, Model: v}
}

// Offered are the packs a tenant may be assigned on this server, the
// default first: the default pack (with its tier overrides) and
// llm.tenant_packs. The fallback pack answers outages, not tenants.
func (c *Config) Offered() ([]Pack, error) {
	all, err := c.packs()
	if err != nil {
		return nil, err
	}
	n := 1
	for _, name := range c.TenantPacks {
		if name = strings.TrimSpace(name); name != "" && name != all[0].Name {
			n++
		}
	}
	return all[:n], nil
}
