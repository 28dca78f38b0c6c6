package marketing

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/quantumlayer/qlp/internal/store"
)

// Publishing names.
const (
	PublisherWorkflowName = "MarketingPublisherWorkflow"
	// ScheduleID names the Temporal Schedule that publishes due pieces.
	ScheduleID = "qlp-marketing-publisher"
	// SignatureHeader carries the webhook's HMAC-SHA256 of the body:
	// "sha256=<hex>".
	SignatureHeader = "X-QLP-Signature"
	// IdempotencyHeader carries the publication's idempotency key, the
	// same on every retry, so that a receiver can drop a repeat.
	IdempotencyHeader = "Idempotency-Key"
	// PublicationPosting marks a post under way: found on a later attempt,
	// it means the attempt before died without recording the outcome.
	PublicationPosting = "posting"
)

// Adapter posts one piece somewhere.
type Adapter interface {
	// Name is the adapter's name in publication rows.
	Name() string
	// Post sends the piece; key is its idempotency key. It returns the
	// receiver's id of the post, if it gives one.
	Post(ctx context.Context, m Message, key string) (string, error)
	// Dedups reports whether the receiver drops a repeated key, so that a
	// post whose outcome is unknown may be sent again.
	Dedups() bool
}

// Message is what a publication sends: the piece and its campaign.
type Message struct {
	CampaignID   string    `json:"campaign_id"`
	CampaignName string    `json:"campaign_name,omitempty"`
	PieceID      string    `json:"piece_id"`
	Channel      string    `json:"channel"`
	ScheduledAt  time.Time `json:"scheduled_at"`
	Content      Content   `json:"content"`
	// Text is the post as the channel shows it (body and hashtags).
	Text string `json:"text"`
}

// Webhook posts the message as JSON, signed with HMAC-SHA256 of the body
// under Secret in the X-QLP-Signature header.
type Webhook struct {
	URL    string
	Secret string
	Client *http.Client
}

// Name implements Adapter.
func (w Webhook) Name() string { return "webhook" }

// Dedups implements Adapter: the receiver is told the key and is expected
// to drop repeats.
func (w Webhook) Dedups() bool { return true }

// Post implements Adapter.
func (w Webhook) Post(ctx context.Context, m Message, key string) (string, error) {
	body, err := json.Marshal(map[string]any{"type": "marketing.piece.due", "idempotency_key": key, "piece": m})
	if err != nil {
		return "", err
	}
	h := map[string]string{IdempotencyHeader: key}
	if w.Secret != "" {
		h[SignatureHeader] = Sign(w.Secret, body)
	}
	return postJSON(ctx, w.Client, "webhook", w.URL, body, h)
}

// Sign is the webhook signature of body under secret: "sha256=<hex>".
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Slack posts to a Slack incoming webhook ({"text": …, "blocks": …}).
type Slack struct {
	URL    string
	Client *http.Client
}

// Name implements Adapter.
func (s Slack) Name() string { return "slack" }

// Dedups implements Adapter: Slack has no idempotency keys.
func (s Slack) Dedups() bool { return false }

// Post implements Adapter.
func (s Slack) Post(ctx context.Context, m Message, key string) (string, error) {
	head := fmt.Sprintf("*%s* · %s · campaign %s", m.Channel, m.ScheduledAt.UTC().Format("2006-01-02 15:04 UTC"), m.CampaignID)
	body, err := json.Marshal(map[string]any{
		"text": head + "\n" + m.Text,
		"blocks": []any{
			map[string]any{"type": "section", "text": map[string]string{"type": "mrkdwn", "text": head}},
			map[string]any{"type": "section", "text": map[string]string{"type": "plain_text", "text": truncateRunes(m.Text, 2900)}},
		},
	})
	if err != nil {
		return "", err
	}
	return postJSON(ctx, s.Client, "slack", s.URL, body, nil)
}

// Discord posts to a Discord webhook ({"content": …}, at most 2000
// characters: a longer piece is sent as an embed's description, which
// takes 4096).
type Discord struct {
	URL    string
	Client *http.Client
}

// Name implements Adapter.
func (d Discord) Name() string { return "discord" }

// Dedups implements Adapter: Discord webhooks have no idempotency keys.
func (d Discord) Dedups() bool { return false }

// Post implements Adapter.
func (d Discord) Post(ctx context.Context, m Message, key string) (string, error) {
	head := fmt.Sprintf("**%s** · %s · campaign %s", m.Channel, m.ScheduledAt.UTC().Format("2006-01-02 15:04 UTC"), m.CampaignID)
	payload := map[string]any{"content": head + "\n" + m.Text}
	if len([]rune(head+"\n"+m.Text)) > 2000 {
		payload = map[string]any{"content": head, "embeds": []any{map[string]any{"title": truncateRunes(firstNonEmpty(m.Content.Title, m.Content.Subject, m.PieceID), 256),
			"description": truncateRunes(m.Text, 4096)}}}
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return "", err
	}
	// wait=true makes Discord answer with the message, whose id is kept.
	url := d.URL
	if !strings.Contains(url, "wait=") {
		if strings.Contains(url, "?") {
			url += "&wait=true"
		} else {
			url += "?wait=true"
		}
	}
	return postJSON(ctx, d.Client, "discord", url, body, nil)
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// truncateRunes shortens s to n runes for a receiver's hard limit, saying
// so at the end.
func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	const more = " […]"
	return string(r[:n-len([]rune(more))]) + more
}

// PostError is a receiver's refusal. Status 5xx and 429 are retried.
type PostError struct {
	Adapter string
	Status  int
	Body    string
}

func (e *PostError) Error() string {
	return fmt.Sprintf("%s answered HTTP %d: %s", e.Adapter, e.Status, e.Body)
}

func postJSON(ctx context.Context, c *http.Client, adapter, url string, body []byte, headers map[string]string) (string, error) {
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("%s: %w", adapter, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "qlp-marketing")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		// The URL may carry a token (Slack, Discord): name the adapter only.
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap()
		}
		return "", fmt.Errorf("%s: post: %w", adapter, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return "", &PostError{Adapter: adapter, Status: resp.StatusCode, Body: strings.TrimSpace(string(b))}
	}
	var id struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(b, &id)
	return id.ID, nil
}

// Publisher publishes due pieces through its adapters.
type Publisher struct {
	Adapters []Adapter
	// Interval is how often the schedule runs; 0 turns it off.
	Interval time.Duration
	Logger   *slog.Logger
}

// IdempotencyKey is the key of one piece's publication through one
// adapter: the same for every attempt.
func IdempotencyKey(campaignID, pieceID, adapter string) string {
	sum := sha256.Sum256([]byte(campaignID + "\x00" + pieceID + "\x00" + adapter))
	return "qlp-mkt-" + hex.EncodeToString(sum[:16])
}

// DueResult lists the pieces due now.
type DueResult struct {
	Pieces []PieceRef
	// NotConfigured is set when no adapter is configured: nothing is
	// posted, and the pieces stay due.
	NotConfigured string
}

// PieceRef names a piece.
type PieceRef struct {
	CampaignID string
	PieceID    string
}

// ListDue returns the generated pieces whose time has come, of campaigns
// that publish.
func (a *Activities) ListDue(ctx context.Context) (DueResult, error) {
	if a.Publisher == nil || len(a.Publisher.Adapters) == 0 {
		return DueResult{NotConfigured: "no publishing adapter is configured (set marketing.publish.webhook_url, marketing.publish.slack_webhook_url or marketing.publish.discord_webhook_url)"}, nil
	}
	due, err := a.Store.DuePieces(ctx, a.now(), 200)
	if err != nil {
		return DueResult{}, err
	}
	var out DueResult
	for _, p := range due {
		out.Pieces = append(out.Pieces, PieceRef{CampaignID: p.CampaignID, PieceID: p.ID})
	}
	return out, nil
}

// PublishResult says what one piece's publication did.
type PublishResult struct {
	Posted  []string
	Skipped []string // already posted, never again
	Failed  []string
}

// PublishPiece posts one piece through every adapter, once each: the
// publication row is written (pending) before the post, marked posting
// during it and posted after. A piece already posted through an adapter
// is skipped; a failed post is recorded and the activity fails so that
// Temporal retries it with backoff (the posted adapters are then skipped).
// A post that died without an outcome is sent again only to a receiver
// that drops repeated idempotency keys; otherwise it is failed for a
// person to check, never posted twice.
func (a *Activities) PublishPiece(ctx context.Context, ref PieceRef) (PublishResult, error) {
	if a.Publisher == nil || len(a.Publisher.Adapters) == 0 {
		return PublishResult{}, temporal.NewNonRetryableApplicationError("not configured: no publishing adapter", ErrTypeCampaign, nil)
	}
	p, err := a.Store.GetPiece(ctx, ref.CampaignID, ref.PieceID)
	if err != nil {
		return PublishResult{}, err
	}
	c, err := a.Store.GetCampaign(ctx, "", ref.CampaignID)
	if err != nil {
		return PublishResult{}, err
	}
	var res PublishResult
	if p.Status == store.PiecePublished {
		res.Skipped = append(res.Skipped, "all")
		return res, nil
	}
	if c.Publishing != store.PublishingActive {
		// Paused or stopped since the piece was listed.
		res.Skipped = append(res.Skipped, "campaign publishing is "+c.Publishing)
		return res, nil
	}
	spec, err := LookupChannel(p.Channel)
	if err != nil {
		return PublishResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeCampaign, nil)
	}
	var ct Content
	if err := json.Unmarshal(p.Content, &ct); err != nil {
		return PublishResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("piece %s/%s: content does not parse: %v", p.CampaignID, p.ID, err), ErrTypeCampaign, nil)
	}
	msg := Message{CampaignID: c.ID, CampaignName: c.Name, PieceID: p.ID, Channel: p.Channel, ScheduledAt: p.ScheduledAt, Content: ct, Text: spec.Post(ct)}
	var errs []error
	allPosted := true
	for _, ad := range a.Publisher.Adapters {
		key := IdempotencyKey(c.ID, p.ID, ad.Name())
		pub, _, err := a.Store.ClaimPublication(ctx, store.Publication{CampaignID: c.ID, PieceID: p.ID, Adapter: ad.Name(), IdempotencyKey: key})
		if err != nil {
			return res, err
		}
		switch pub.Status {
		case store.PublicationPosted:
			res.Skipped = append(res.Skipped, ad.Name())
			continue
		case store.PublicationFailed:
			allPosted = false
			res.Failed = append(res.Failed, ad.Name()+": "+pub.Error)
			continue
		case PublicationPosting:
			if !ad.Dedups() {
				pub.Status = store.PublicationFailed
				pub.Error = "an earlier attempt died while posting, so whether it was posted is unknown; not posted again (check the channel, then mark it)"
				if err := a.Store.UpdatePublication(ctx, pub); err != nil {
					return res, err
				}
				allPosted = false
				res.Failed = append(res.Failed, ad.Name()+": "+pub.Error)
				continue
			}
		}
		pub.Status, pub.Attempts = PublicationPosting, pub.Attempts+1
		if err := a.Store.UpdatePublication(ctx, pub); err != nil {
			return res, err
		}
		id, perr := ad.Post(ctx, msg, key)
		if perr != nil {
			pub.Status, pub.Error = store.PublicationPending, perr.Error()
			var pe *PostError
			if errors.As(perr, &pe) && pe.Status/100 == 4 && pe.Status != http.StatusTooManyRequests && pe.Status != http.StatusRequestTimeout {
				pub.Status = store.PublicationFailed // refused: retrying sends the same refused request
			}
			if err := a.Store.UpdatePublication(ctx, pub); err != nil {
				return res, err
			}
			allPosted = false
			if pub.Status == store.PublicationFailed {
				res.Failed = append(res.Failed, ad.Name()+": "+pub.Error)
			} else {
				errs = append(errs, fmt.Errorf("piece %s/%s through %s (attempt %d): %w", c.ID, p.ID, ad.Name(), pub.Attempts, perr))
			}
			continue
		}
		pub.Status, pub.ExternalID, pub.Error = store.PublicationPosted, id, ""
		if err := a.Store.UpdatePublication(ctx, pub); err != nil {
			return res, err
		}
		res.Posted = append(res.Posted, ad.Name())
	}
	if len(errs) > 0 {
		return res, errors.Join(errs...)
	}
	if allPosted {
		p.Status = store.PiecePublished
	} else {
		p.Status = store.PieceFailed
		p.Notes = strings.TrimPrefix(p.Notes+"; publishing failed: "+strings.Join(res.Failed, "; "), "; ")
	}
	if err := a.Store.UpdatePiece(ctx, p); err != nil {
		return res, err
	}
	return res, nil
}

// PublisherRun is what one run of the publisher did.
type PublisherRun struct {
	Due           int
	Published     int
	Failed        []string
	NotConfigured string
}

// PublisherWorkflow publishes the pieces due now, each through the
// PublishPiece activity retried with backoff. The Schedule starts it.
func PublisherWorkflow(ctx workflow.Context) (PublisherRun, error) {
	var a *Activities
	lctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3}})
	var due DueResult
	if err := workflow.ExecuteActivity(lctx, a.ListDue).Get(ctx, &due); err != nil {
		return PublisherRun{}, err
	}
	run := PublisherRun{Due: len(due.Pieces), NotConfigured: due.NotConfigured}
	pctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 10 * time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute,
			MaximumAttempts: 6, NonRetryableErrorTypes: []string{ErrTypeCampaign}}})
	futures := make([]workflow.Future, len(due.Pieces))
	for i, p := range due.Pieces {
		futures[i] = workflow.ExecuteActivity(pctx, a.PublishPiece, p)
	}
	for i, f := range futures {
		var r PublishResult
		if err := f.Get(ctx, &r); err != nil {
			run.Failed = append(run.Failed, due.Pieces[i].CampaignID+"/"+due.Pieces[i].PieceID+": "+message(err))
			continue
		}
		if len(r.Posted) > 0 && len(r.Failed) == 0 {
			run.Published++
		}
		for _, f := range r.Failed {
			run.Failed = append(run.Failed, due.Pieces[i].CampaignID+"/"+due.Pieces[i].PieceID+": "+f)
		}
	}
	return run, nil
}

// Schedule makes (or updates) the Temporal Schedule that runs the
// publisher every p.Interval on taskQueue; with no interval it deletes it.
func (p *Publisher) Schedule(ctx context.Context, c client.Client, taskQueue string) error {
	sc := c.ScheduleClient()
	if p.Interval == 0 {
		err := sc.GetHandle(ctx, ScheduleID).Delete(ctx)
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("marketing: delete the publisher schedule: %w", err)
		}
		return nil
	}
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: p.Interval}}}
	action := &client.ScheduleWorkflowAction{ID: "qlp-marketing-publish", Workflow: PublisherWorkflowName, TaskQueue: taskQueue,
		WorkflowExecutionTimeout: time.Hour}
	_, err := sc.Create(ctx, client.ScheduleOptions{ID: ScheduleID, Spec: spec, Action: action,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		err = sc.GetHandle(ctx, ScheduleID).Update(ctx, client.ScheduleUpdateOptions{
			DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
				s := in.Description.Schedule
				s.Spec, s.Action = &spec, action
				return &client.ScheduleUpdate{Schedule: &s}, nil
			},
		})
	}
	if err != nil {
		return fmt.Errorf("marketing: schedule the publisher every %s: %w", p.Interval, err)
	}
	return nil
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}
