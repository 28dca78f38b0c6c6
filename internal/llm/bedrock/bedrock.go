// Package bedrock calls models on AWS Bedrock through the Converse and
// ConverseStream APIs of the AWS SDK, which signs every request with SigV4
// from the SDK's credential chain (environment, shared profile, instance
// or pod role) or static keys.
//
// The SDK's own retries are off: QLP's resilience wrappers retry, so that
// a throttled call is not retried by two layers at once.
package bedrock

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/llm"
)

// jsonInstruction is added to the system prompt for JSON requests:
// Converse has no JSON mode.
const jsonInstruction = "Respond with a single JSON object and nothing else: no prose, no code fences."

// Config configures a client.
type Config struct {
	// Region is the AWS region, e.g. us-east-1. Required.
	Region string
	// Profile is a shared-configuration profile; empty uses the default
	// chain.
	Profile string
	// Endpoint overrides the service endpoint (VPC endpoints, tests).
	Endpoint string
	// AccessKeyID and SecretAccessKey are static credentials; when empty
	// the SDK's default chain is used.
	AccessKeyID     string
	SecretAccessKey auth.Secret
	SessionToken    auth.Secret
	// Timeout bounds one call (default: none beyond the context's). The
	// SDK's own buildable HTTP client is used so that its options (a
	// custom CA bundle from AWS_CA_BUNDLE) still apply.
	Timeout time.Duration
}

// Client is a Bedrock Converse client. It is safe for concurrent use.
type Client struct {
	api *bedrockruntime.Client
}

var _ llm.Provider = (*Client)(nil)

// New loads the AWS configuration (it reads files, but makes no call) and
// returns a client.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Region == "" {
		return nil, errors.New("bedrock: the AWS region is not set")
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(cfg.Region), config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} })}
	if cfg.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(cfg.Profile))
	}
	if cfg.Timeout > 0 {
		opts = append(opts, config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(cfg.Timeout)))
	}
	if cfg.AccessKeyID != "" || cfg.SecretAccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(
			cfg.AccessKeyID, cfg.SecretAccessKey.Reveal(), cfg.SessionToken.Reveal())))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("bedrock: load AWS configuration: %w", err)
	}
	api := bedrockruntime.NewFromConfig(awsCfg, func(o *bedrockruntime.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.Retryer = aws.NopRetryer{}
	})
	return &Client{api: api}, nil
}

// Name implements llm.Provider.
func (c *Client) Name() string { return "bedrock" }

// toWire builds the Converse input: system messages apart, consecutive
// messages of one role merged (Converse wants them alternating).
func toWire(req llm.Request) (model *string, system []types.SystemContentBlock, msgs []types.Message, inf *types.InferenceConfiguration) {
	var sys []string
	for _, m := range req.Messages {
		if m.Role == llm.RoleSystem {
			sys = append(sys, m.Content)
			continue
		}
		role := types.ConversationRoleUser
		if m.Role == llm.RoleAssistant {
			role = types.ConversationRoleAssistant
		}
		if n := len(msgs); n > 0 && msgs[n-1].Role == role {
			prev := msgs[n-1].Content[0].(*types.ContentBlockMemberText)
			prev.Value += "\n\n" + m.Content
			continue
		}
		msgs = append(msgs, types.Message{Role: role, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: m.Content}}})
	}
	if req.JSON {
		sys = append(sys, jsonInstruction)
	}
	if len(sys) > 0 {
		system = []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: strings.Join(sys, "\n\n")}}
	}
	inf = &types.InferenceConfiguration{Temperature: aws.Float32(float32(min(req.Temperature, 1)))}
	if req.MaxTokens > 0 {
		inf.MaxTokens = aws.Int32(int32(req.MaxTokens))
	}
	return aws.String(req.Model), system, msgs, inf
}

// fromWireUsage normalises usage: Bedrock's inputTokens excludes tokens
// read from or written to the prompt cache; llm.Usage's InputTokens
// includes them.
func fromWireUsage(u *types.TokenUsage) (llm.Usage, bool) {
	if u == nil {
		return llm.Usage{}, false
	}
	read, write := int(aws.ToInt32(u.CacheReadInputTokens)), int(aws.ToInt32(u.CacheWriteInputTokens))
	return llm.Usage{
		InputTokens:           int(aws.ToInt32(u.InputTokens)) + read + write,
		CachedInputTokens:     read,
		CacheWriteInputTokens: write,
		OutputTokens:          int(aws.ToInt32(u.OutputTokens)),
	}, true
}

// finishReason maps stopReason onto llm's.
func finishReason(s types.StopReason) string {
	switch s {
	case types.StopReasonMaxTokens, types.StopReasonModelContextWindowExceeded:
		return llm.FinishLength
	case types.StopReasonContentFiltered, types.StopReasonGuardrailIntervened:
		return llm.FinishContentFilter
	case "":
		return ""
	default:
		return llm.FinishStop
	}
}

// wireError turns an SDK error into a typed error.
func wireError(ctx context.Context, err error) error {
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return err
	}
	e := &llm.Error{Provider: "bedrock", Err: err}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		e.Status = re.HTTPStatusCode()
		if re.Response != nil {
			e.RetryAfter = llm.RetryAfter(re.Response.Header)
		}
	}
	code, msg := "", ""
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code, msg = ae.ErrorCode(), ae.ErrorMessage()
		e.Message = msg
		e.Err = nil // the message says it; the wrapped chain repeats it with request ids
	}
	e.Kind = errorKind(ctx, err, e.Status, code, msg)
	return e
}

func errorKind(ctx context.Context, err error, status int, code, msg string) llm.Kind {
	lower := strings.ToLower(msg)
	switch {
	case code == "ThrottlingException" || code == "ServiceQuotaExceededException" || status == http.StatusTooManyRequests:
		return llm.KindRateLimit
	case code == "AccessDeniedException" || code == "UnrecognizedClientException" || code == "ExpiredTokenException" ||
		code == "InvalidSignatureException" || status == http.StatusUnauthorized || status == http.StatusForbidden:
		return llm.KindAuth
	case strings.Contains(lower, "too long") || strings.Contains(lower, "context window") || strings.Contains(lower, "too many input tokens") ||
		strings.Contains(lower, "context length"):
		return llm.KindContextLength
	case code == "ModelTimeoutException" || status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		return llm.KindTimeout
	case code == "ServiceUnavailableException" || code == "InternalServerException" || code == "ModelNotReadyException" ||
		code == "ModelErrorException" || code == "ModelStreamErrorException" || status >= 500:
		return llm.KindUnavailable
	case code == "ValidationException" || code == "ResourceNotFoundException" || (status >= 400 && status < 500):
		return llm.KindBadRequest
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return llm.KindTimeout
	case strings.Contains(err.Error(), "failed to retrieve credentials") || strings.Contains(err.Error(), "no EC2 IMDS role found"):
		return llm.KindAuth
	case status == 0:
		return llm.KindUnavailable // connection refused, reset, DNS
	}
	return llm.KindUnknown
}

// Chat implements llm.Provider through Converse.
func (c *Client) Chat(ctx context.Context, req llm.Request) (*llm.Response, error) {
	start := time.Now()
	model, system, msgs, inf := toWire(req)
	out, err := c.api.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: model, System: system, Messages: msgs, InferenceConfig: inf})
	if err != nil {
		return nil, wireError(ctx, err)
	}
	msg, ok := out.Output.(*types.ConverseOutputMemberMessage)
	if !ok {
		return nil, &llm.Error{Kind: llm.KindUnavailable, Provider: c.Name(), Message: fmt.Sprintf("output is a %T, not a message", out.Output)}
	}
	var text strings.Builder
	for _, b := range msg.Value.Content {
		if t, ok := b.(*types.ContentBlockMemberText); ok {
			text.WriteString(t.Value)
		}
	}
	resp := &llm.Response{Content: text.String(), FinishReason: finishReason(out.StopReason), Model: req.Model, Provider: c.Name(), Latency: time.Since(start)}
	usage, ok := fromWireUsage(out.Usage)
	if !ok {
		usage = estimate(req, resp.Content)
	}
	resp.Usage = usage
	return resp, nil
}

func estimate(req llm.Request, answer string) llm.Usage {
	return llm.Usage{InputTokens: llm.EstimateTokens(llm.PromptText(req.Messages)), OutputTokens: llm.EstimateTokens(answer), Estimated: true}
}

// Stream implements llm.Provider through ConverseStream.
func (c *Client) Stream(ctx context.Context, req llm.Request, fn func(llm.Chunk) error) (*llm.Response, error) {
	start := time.Now()
	model, system, msgs, inf := toWire(req)
	out, err := c.api.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: model, System: system, Messages: msgs, InferenceConfig: inf})
	if err != nil {
		return nil, wireError(ctx, err)
	}
	stream := out.GetStream()
	defer stream.Close()
	resp := &llm.Response{Model: req.Model, Provider: c.Name()}
	var content strings.Builder
	var usage *llm.Usage
	stopped := false
	for ev := range stream.Events() {
		switch v := ev.(type) {
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			d, ok := v.Value.Delta.(*types.ContentBlockDeltaMemberText)
			if !ok || d.Value == "" {
				continue // reasoning and tool-use deltas are not part of the answer
			}
			content.WriteString(d.Value)
			if fn != nil {
				if err := fn(llm.Chunk{Delta: d.Value}); err != nil {
					return nil, err
				}
			}
		case *types.ConverseStreamOutputMemberMessageStop:
			resp.FinishReason = finishReason(v.Value.StopReason)
			stopped = true
		case *types.ConverseStreamOutputMemberMetadata:
			if u, ok := fromWireUsage(v.Value.Usage); ok {
				usage = &u
			}
		}
	}
	if err := stream.Err(); err != nil {
		return nil, wireError(ctx, err)
	}
	if !stopped {
		return nil, &llm.Error{Kind: llm.KindUnavailable, Provider: c.Name(), Message: "stream ended before messageStop: the answer is incomplete"}
	}
	resp.Content = content.String()
	if usage != nil {
		resp.Usage = *usage
	} else {
		resp.Usage = estimate(req, resp.Content)
	}
	resp.Latency = time.Since(start)
	return resp, nil
}
