package embed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// BedrockConfig configures the AWS Bedrock embedder.
type BedrockConfig struct {
	// Region is the AWS region, e.g. "us-east-1". Required.
	Region string
	// Model is a Bedrock model id: "amazon.titan-embed-text-v2:0",
	// "amazon.titan-embed-text-v1", "cohere.embed-english-v3" or
	// "cohere.embed-multilingual-v3" (or an inference profile of them).
	Model string
	// Dimension is the vector length; Titan v2 is asked for it (256, 512
	// or 1024), the others must match it.
	Dimension int
	// Endpoint overrides the service endpoint (VPC endpoints, tests).
	Endpoint string
	// AccessKeyID, SecretAccessKey and SessionToken are static credentials;
	// when empty the SDK's default chain is used (environment, shared
	// files, instance or pod role).
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// Concurrency bounds parallel InvokeModel calls for Titan, which embeds
	// one text per call (default 4).
	Concurrency int
	HTTPClient  *http.Client
}

// Bedrock embeds through bedrockruntime.InvokeModel.
type Bedrock struct {
	cfg    BedrockConfig
	client *bedrockruntime.Client
	cohere bool
}

// NewBedrock loads AWS configuration and returns the embedder.
func NewBedrock(ctx context.Context, cfg BedrockConfig) (*Bedrock, error) {
	if cfg.Region == "" {
		return nil, errors.New("embed: bedrock needs a region")
	}
	if cfg.Model == "" {
		cfg.Model = "amazon.titan-embed-text-v2:0"
	}
	b := &Bedrock{cfg: cfg}
	switch {
	case strings.Contains(cfg.Model, "cohere.embed"):
		b.cohere = true
	case strings.Contains(cfg.Model, "amazon.titan-embed"):
	default:
		return nil, fmt.Errorf("embed: bedrock model %q is neither a Titan nor a Cohere embedding model", cfg.Model)
	}
	if cfg.Dimension <= 0 {
		return nil, fmt.Errorf("embed: the dimension of model %s must be configured", cfg.Model)
	}
	if strings.Contains(cfg.Model, "titan-embed-text-v2") && cfg.Dimension != 256 && cfg.Dimension != 512 && cfg.Dimension != 1024 {
		return nil, fmt.Errorf("embed: Titan v2 gives 256, 512 or 1024 dimensions, not %d", cfg.Dimension)
	}
	if cfg.Concurrency <= 0 {
		b.cfg.Concurrency = 4
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(cfg.Region)}
	if cfg.HTTPClient != nil {
		opts = append(opts, config.WithHTTPClient(cfg.HTTPClient))
	}
	if cfg.AccessKeyID != "" || cfg.SecretAccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("embed: load AWS configuration: %w", err)
	}
	b.client = bedrockruntime.NewFromConfig(awsCfg, func(o *bedrockruntime.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return b, nil
}

// Dimension implements Embedder.
func (b *Bedrock) Dimension() int { return b.cfg.Dimension }

// Provider implements Embedder.
func (b *Bedrock) Provider() string { return "bedrock" }

// Model implements Embedder.
func (b *Bedrock) Model() string { return b.cfg.Model }

// Embed implements Embedder.
func (b *Bedrock) Embed(ctx context.Context, req Request) (Result, error) {
	for i, t := range req.Texts {
		if strings.TrimSpace(t) == "" {
			return Result{}, fmt.Errorf("text %d: %w", i, ErrEmptyText)
		}
	}
	if b.cohere {
		return b.embedCohere(ctx, req)
	}
	return b.embedTitan(ctx, req)
}

// invoke calls InvokeModel and returns the body and Bedrock's input token
// count header (-1 when absent).
func (b *Bedrock) invoke(ctx context.Context, body any) ([]byte, int, error) {
	in, err := json.Marshal(body)
	if err != nil {
		return nil, 0, fmt.Errorf("embed: encode request: %w", err)
	}
	out, err := b.client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{
		ModelId:     aws.String(b.cfg.Model),
		Body:        in,
		ContentType: aws.String("application/json"),
		Accept:      aws.String("application/json"),
	})
	if err != nil {
		// The SDK's error carries the service's exception name and message.
		return nil, 0, fmt.Errorf("embed: bedrock %s: %w", b.cfg.Model, err)
	}
	tokens := -1
	if raw, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); ok {
		if n, err := strconv.Atoi(raw.Header.Get("X-Amzn-Bedrock-Input-Token-Count")); err == nil {
			tokens = n
		}
	}
	return out.Body, tokens, nil
}

type titanRequest struct {
	InputText  string `json:"inputText"`
	Dimensions int    `json:"dimensions,omitempty"`
	Normalize  *bool  `json:"normalize,omitempty"`
}

type titanResponse struct {
	Embedding           []float32 `json:"embedding"`
	InputTextTokenCount int       `json:"inputTextTokenCount"`
}

func (b *Bedrock) embedTitan(ctx context.Context, req Request) (Result, error) {
	v2 := strings.Contains(b.cfg.Model, "titan-embed-text-v2")
	out := Result{Vectors: make([][]float32, len(req.Texts))}
	tokens := make([]int, len(req.Texts))
	errs := make([]error, len(req.Texts))
	sem := make(chan struct{}, b.cfg.Concurrency)
	var wg sync.WaitGroup
	for i, text := range req.Texts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := titanRequest{InputText: text}
			if v2 {
				t := true
				r.Dimensions, r.Normalize = b.cfg.Dimension, &t
			}
			body, _, err := b.invoke(ctx, r)
			if err != nil {
				errs[i] = err
				return
			}
			var resp titanResponse
			if err := json.Unmarshal(body, &resp); err != nil {
				errs[i] = fmt.Errorf("embed: bedrock %s: malformed response: %w", b.cfg.Model, err)
				return
			}
			if len(resp.Embedding) != b.cfg.Dimension {
				errs[i] = fmt.Errorf("embed: bedrock %s returned %d-dimensional vectors; memory.embedder.dimension is %d",
					b.cfg.Model, len(resp.Embedding), b.cfg.Dimension)
				return
			}
			out.Vectors[i], tokens[i] = resp.Embedding, resp.InputTextTokenCount
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Result{}, err
	}
	for _, n := range tokens {
		out.InputTokens += n
	}
	return out, nil
}

type cohereRequest struct {
	Texts     []string `json:"texts"`
	InputType string   `json:"input_type"`
	Truncate  string   `json:"truncate"`
}

type cohereResponse struct {
	Embeddings   [][]float32 `json:"embeddings"`
	ResponseType string      `json:"response_type"`
}

// cohereBatch is Cohere's limit of texts per call.
const cohereBatch = 96

func (b *Bedrock) embedCohere(ctx context.Context, req Request) (Result, error) {
	inputType := "search_document"
	if req.Kind == Query {
		inputType = "search_query"
	}
	out := Result{}
	for start := 0; start < len(req.Texts); start += cohereBatch {
		batch := req.Texts[start:min(start+cohereBatch, len(req.Texts))]
		body, tokens, err := b.invoke(ctx, cohereRequest{Texts: batch, InputType: inputType, Truncate: "END"})
		if err != nil {
			return Result{}, err
		}
		var resp cohereResponse
		if err := json.Unmarshal(body, &resp); err != nil {
			return Result{}, fmt.Errorf("embed: bedrock %s: malformed response: %w", b.cfg.Model, err)
		}
		if len(resp.Embeddings) != len(batch) {
			return Result{}, fmt.Errorf("embed: bedrock %s: %d embeddings for %d texts", b.cfg.Model, len(resp.Embeddings), len(batch))
		}
		for _, e := range resp.Embeddings {
			if len(e) != b.cfg.Dimension {
				return Result{}, fmt.Errorf("embed: bedrock %s returned %d-dimensional vectors; memory.embedder.dimension is %d",
					b.cfg.Model, len(e), b.cfg.Dimension)
			}
		}
		out.Vectors = append(out.Vectors, resp.Embeddings...)
		if tokens >= 0 {
			out.InputTokens += tokens
		} else {
			out.InputTokens += estimateTokens(batch)
			out.TokensEstimated = true
		}
	}
	return out, nil
}
