package topology

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/orchestrator"
)

// TestRateLimitsHoldAcrossReplicas (issue 13.2, 16.2): a burst of one
// key spread over the two orchestrator replicas, straight to each (nginx's
// per-address limit would answer first), is limited as one: the replicas
// take from one bucket in Redis. Apart, each would grant its half of the
// burst, well under limits.key_requests_per_minute (600), and refuse none.
func TestRateLimitsHoldAcrossReplicas(t *testing.T) {
	tp := topology(t)
	ctx := overall(t, 3*time.Minute)
	const burst, limit = 900, 600
	replicas := []string{"orchestrator-1", "orchestrator-2"}
	var mu sync.Mutex
	granted, refused := 0, map[string]int{}
	work := make(chan string)
	var wg sync.WaitGroup
	start := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for replica := range work {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, tp.Procs[replica].URL+"/api/capsules?limit=1", nil)
				if err != nil {
					t.Error(err)
					continue
				}
				req.Header.Set("Authorization", "Bearer "+tp.Keys["initech"])
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				switch resp.StatusCode {
				case http.StatusOK:
					granted++
				case http.StatusTooManyRequests:
					var body httpx.ErrorBody
					if err := json.Unmarshal(b, &body); err != nil || body.Limit != orchestrator.LimitKeyRequests || resp.Header.Get("Retry-After") == "" {
						t.Errorf("a 429 that does not name %s with Retry-After: %s", orchestrator.LimitKeyRequests, b)
					}
					refused[replica]++
				default:
					t.Errorf("%s answered %d: %s", replica, resp.StatusCode, b)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range burst {
		work <- replicas[i%2]
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	// The bucket refills limit/60 a second during the burst.
	most := limit + int(elapsed.Seconds()*limit/60) + 2
	t.Logf("%d requests in %s: %d granted (at most %d), refused %v", burst, elapsed.Round(time.Millisecond), granted, most, refused)
	require.GreaterOrEqual(t, granted, limit, "a full bucket grants a minute's worth")
	require.LessOrEqual(t, granted, most, "the two replicas granted more than one shared budget")
	for _, r := range replicas {
		require.Positive(t, refused[r], "%s refused nothing", r)
	}
}
