package budget

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/quantumlayer/qlp/internal/auth"
)

// webhookAttempts is how many times an alert is offered to the webhook.
const webhookAttempts = 3

// webhook delivers alerts as JSON POSTs, in the background. Its URL and
// key are secrets: neither ever reaches a log line or an error.
type webhook struct {
	url, key auth.Secret
	hc       *http.Client
	timeout  time.Duration
	logger   *slog.Logger
	metrics  *metrics
	wg       sync.WaitGroup
	backoff  time.Duration // between attempts; 500ms when zero
}

// SignatureHeader carries "sha256=" + the hex HMAC-SHA256 of the body, keyed
// with budget.webhook_secret.
const SignatureHeader = "X-QLP-Signature"

func (w *webhook) send(payload map[string]any) {
	body, err := json.Marshal(payload)
	if err != nil {
		w.logger.Error("budget webhook: encode alert", "error", err)
		return
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		backoff := w.backoff
		if backoff <= 0 {
			backoff = 500 * time.Millisecond
		}
		for attempt := 1; attempt <= webhookAttempts; attempt++ {
			err := w.post(body)
			if err == nil {
				w.metrics.webhook.WithLabelValues("delivered").Inc()
				return
			}
			w.logger.Warn("budget webhook delivery failed", "attempt", attempt, "of", webhookAttempts, "error", err)
			if attempt < webhookAttempts {
				time.Sleep(backoff * time.Duration(attempt))
			}
		}
		w.metrics.webhook.WithLabelValues("failed").Inc()
	}()
}

func (w *webhook) post(body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url.Reveal(), bytes.NewReader(body))
	if err != nil {
		return errors.New("cannot build the request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "qlp-budget-webhook")
	if w.key != "" {
		mac := hmac.New(sha256.New, []byte(w.key.Reveal()))
		mac.Write(body)
		req.Header.Set(SignatureHeader, "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	resp, err := w.hc.Do(req)
	if err != nil {
		// A *url.Error repeats the URL, which may hold a token: keep only
		// the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("%s: %w", ue.Op, scrub(ue.Err))
		}
		return scrub(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the receiver answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// scrub keeps an error's kind without any text that could hold the URL.
func scrub(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return errors.New("timed out")
	case errors.Is(err, context.Canceled):
		return errors.New("cancelled")
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.New("timed out")
	}
	return errors.New("could not connect or send")
}

func (w *webhook) wait() { w.wg.Wait() }
