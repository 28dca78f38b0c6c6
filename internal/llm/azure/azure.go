// Package azure is Azure OpenAI: the OpenAI chat completions wire format
// (package openai does the translation), addressed by deployment
// (…/openai/deployments/{deployment}/chat/completions?api-version=…) and
// authenticated with an api-key header.
//
// Requests name OpenAI model ids ("gpt-4.1-mini"), which is what the price
// catalogue knows; Deployments maps each to the deployment that serves it.
package azure

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/openai"
)

// DefaultAPIVersion is the data-plane API version sent when none is set.
const DefaultAPIVersion = "2024-10-21"

// Config configures a client.
type Config struct {
	// Endpoint is the resource endpoint, https://NAME.openai.azure.com.
	Endpoint   string
	APIKey     auth.Secret
	APIVersion string
	// Deployments maps model ids to deployment names; a model without an
	// entry is served by a deployment of the same name.
	Deployments map[string]string
	HTTPClient  *http.Client
}

// Validate checks the endpoint and key.
func (c Config) Validate() error {
	u, err := url.Parse(c.Endpoint)
	if c.Endpoint == "" {
		return errors.New("azure: the endpoint is not set")
	}
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("azure: endpoint %q is not an http(s) URL", c.Endpoint)
	}
	if c.APIKey == "" {
		return errors.New("azure: the API key is not set")
	}
	for m, d := range c.Deployments {
		if m == "" || d == "" || strings.ContainsAny(d, "/?#") {
			return fmt.Errorf("azure: deployment mapping %q=%q is not model=deployment", m, d)
		}
	}
	return nil
}

// New returns an Azure OpenAI client; its usage rows name provider
// "azure", which the catalogue prices by OpenAI's model ids.
func New(cfg Config) *openai.Client {
	base := strings.TrimRight(cfg.Endpoint, "/")
	version := cfg.APIVersion
	if version == "" {
		version = DefaultAPIVersion
	}
	return openai.New(openai.Config{
		Name: "azure", APIKey: cfg.APIKey, KeyHeader: "api-key", HTTPClient: cfg.HTTPClient,
		Endpoint: func(model string) string {
			return base + "/openai/deployments/" + url.PathEscape(Deployment(cfg.Deployments, model)) +
				"/chat/completions?api-version=" + url.QueryEscape(version)
		},
	})
}

// Deployment returns the deployment that serves model.
func Deployment(deployments map[string]string, model string) string {
	if d, ok := deployments[model]; ok {
		return d
	}
	return model
}

// ParseDeployments reads "model=deployment,model=deployment".
func ParseDeployments(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		m, d, ok := strings.Cut(part, "=")
		m, d = strings.TrimSpace(m), strings.TrimSpace(d)
		if !ok || m == "" || d == "" {
			return nil, fmt.Errorf("%q is not model=deployment", part)
		}
		out[m] = d
	}
	return out, nil
}

// FormatDeployments is the inverse of ParseDeployments, sorted.
func FormatDeployments(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

var _ llm.Provider = (*openai.Client)(nil)
