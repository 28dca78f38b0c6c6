package topology

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBadInputThroughNginx: what a hostile or broken client sends is
// refused at the right layer, through the production proxy in front of the
// running services.
func TestBadInputThroughNginx(t *testing.T) {
	tp := topology(t)
	ctx := overall(t, 5*time.Minute)
	post := func(body []byte) (int, string, http.Header) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, tp.Nginx+"/execute", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tp.Keys["acme"])
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	big := func(n int) []byte {
		return []byte(`{"description":"` + strings.Repeat("x", n) + `"}`)
	}

	t.Run("body over nginx's limit", func(t *testing.T) {
		status, body, _ := post(big(2 << 20))
		require.Equal(t, http.StatusRequestEntityTooLarge, status, body)
		require.Contains(t, body, `"code":"body_too_large"`)
		require.Contains(t, body, "request body too large", "nginx answers it, not the API")
	})
	t.Run("body over the API's limit", func(t *testing.T) {
		// 100 KiB passes nginx (1 MiB) and exceeds the API's 64 KiB.
		status, body, _ := post(big(100 << 10))
		require.Equal(t, http.StatusRequestEntityTooLarge, status, body)
		require.Contains(t, body, "exceeds the limit of 65536 bytes", "the API answers it")
	})
	t.Run("slow-loris client", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(tp.Nginx, "http://"))
		require.NoError(t, err)
		defer conn.Close()
		start := time.Now()
		_, err = fmt.Fprintf(conn, "GET /api/capsules HTTP/1.1\r\nHost: qlp\r\n")
		require.NoError(t, err)
		// One header byte a second, never finishing the headers: nginx
		// must cut the connection after client_header_timeout (10 s).
		closed := make(chan time.Duration, 1)
		go func() {
			buf := make([]byte, 512)
			for {
				if _, err := conn.Read(buf); err != nil {
					closed <- time.Since(start)
					return
				}
			}
		}()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case d := <-closed:
				require.Less(t, d, 20*time.Second)
				require.Greater(t, d, 5*time.Second, "cut by the timeout, not at once")
				return
			case <-tick.C:
				if time.Since(start) > 30*time.Second {
					t.Fatal("nginx kept a slow-loris connection open for 30 s")
				}
				_, _ = conn.Write([]byte("X"))
			}
		}
	})
	t.Run("burst over the per-address rate limit", func(t *testing.T) {
		limited := 0
		for range 60 {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, tp.Nginx+"/api/capsules", nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+tp.Keys["acme"])
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
			case http.StatusTooManyRequests:
				limited++
				require.Equal(t, "1", resp.Header.Get("Retry-After"))
				require.Contains(t, string(b), `"code":"too_many_requests"`)
			default:
				t.Fatalf("unexpected %d: %s", resp.StatusCode, b)
			}
		}
		require.Greater(t, limited, 0, "60 requests at once exceed 10 r/s with a burst of 20")
		// Let the bucket drain before the next test's requests.
		time.Sleep(3 * time.Second)
	})
}
