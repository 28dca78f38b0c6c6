// Package embed turns text into vectors for QLP's memory. Every embedder
// implements [Embedder]:
//
//   - [Hashing], the built-in offline embedder: feature hashing of words,
//     word bigrams, code sub-tokens and character trigrams. It is lexical,
//     not semantic: texts that share words and identifiers come out close;
//     paraphrases with no words in common do not. It costs nothing and needs
//     no network, which is why it is the embedded default.
//   - [OpenAI], the OpenAI /embeddings API and the servers that speak it:
//     Azure OpenAI (api-key header, api-version, deployment in the path) and
//     Ollama's OpenAI-compatible endpoint.
//   - [Bedrock], AWS Bedrock's InvokeModel with Amazon Titan or Cohere
//     embedding models, signed with SigV4 by aws-sdk-go-v2.
//
// Metering and caching are not done here but by the memory service, which
// wraps whichever embedder it holds.
package embed

import (
	"context"
	"errors"
)

// Kind says what a text will be used for. Some models (Cohere) embed
// queries and documents differently; the others ignore it.
type Kind int

// Kinds of text.
const (
	Document Kind = iota // stored for later retrieval
	Query                // searched with
)

// Request is one embedding call.
type Request struct {
	Texts []string
	Kind  Kind
}

// Result holds one vector per input text, in order, and what the provider
// counted.
type Result struct {
	Vectors [][]float32
	// InputTokens is what the provider billed (0 for the built-in embedder).
	InputTokens int
	// TokensEstimated is true when the provider did not report a count and
	// InputTokens is an estimate (4 characters a token).
	TokensEstimated bool
}

// Embedder turns texts into vectors. Implementations are safe for
// concurrent use.
type Embedder interface {
	Embed(ctx context.Context, req Request) (Result, error)
	// Dimension is the length of every vector it returns.
	Dimension() int
	// Provider names the provider: builtin, openai, azure, ollama, bedrock.
	Provider() string
	// Model names the model (the deployment for Azure).
	Model() string
}

// ErrEmptyText is returned for a text with nothing to embed.
var ErrEmptyText = errors.New("embed: text has no words or identifiers to embed")

// estimateTokens is the usual rough count: 4 characters a token.
func estimateTokens(texts []string) int {
	n := 0
	for _, t := range texts {
		n += (len(t) + 3) / 4
	}
	return n
}
