// Package blobtest is the conformance suite every blob.Store backend must
// pass ([Run]), and the real servers it runs against: Azurite for Azure
// Blob Storage and versitygw for S3 ([StartAzurite], [StartVersityGW]),
// installed by scripts/deps/blob.sh and started by the tests on ports of
// their own.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quantumlayer/qlp/internal/blob"
)

// Harness describes a backend to the suite.
type Harness struct {
	// Open returns a store over a fresh, empty namespace (a new directory,
	// container or bucket).
	Open func(t *testing.T) blob.Store
	// PartSize is the size above which the backend uploads in parts (0:
	// it has no parts). Large objects are made to cross it.
	PartSize int64
	// Stop stops the server behind the stores; nil when there is none. The
	// suite calls it last.
	Stop func(t *testing.T)
	// Backend is the word every error of the backend contains ("s3").
	Backend string
}

// LargeSize is the size of the suite's large objects.
const LargeSize = 20 << 20

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, h) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, h) })
	t.Run("Overwrite", func(t *testing.T) { testOverwrite(t, h) })
	t.Run("List", func(t *testing.T) { testList(t, h) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, h) })
	t.Run("InvalidKeys", func(t *testing.T) { testInvalidKeys(t, h) })
	t.Run("WrongSize", func(t *testing.T) { testWrongSize(t, h) })
	t.Run("ConcurrentWriters", func(t *testing.T) { testConcurrentWriters(t, h) })
	t.Run("ReaderDuringWrite", func(t *testing.T) { testReaderDuringWrite(t, h) })
	t.Run("ReadWhileReplaced", func(t *testing.T) { testReadWhileReplaced(t, h) })
	t.Run("CancelMidUpload", func(t *testing.T) { testCancelMidUpload(t, h) })
	t.Run("StoppedServer", func(t *testing.T) { testStoppedServer(t, h) })
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// payload is size deterministic pseudo-random bytes, distinct per seed.
func payload(seed uint64, size int) []byte {
	b := make([]byte, size)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 0x51})
	_, _ = r.Read(b)
	return b
}

// opaque hides every method but Read, so backends cannot seek or size it.
type opaque struct{ r io.Reader }

func (o opaque) Read(p []byte) (int, error) { return o.r.Read(p) }

func put(t *testing.T, s blob.Store, key string, data []byte, ct string) {
	t.Helper()
	if err := s.Put(ctxT(t), key, bytes.NewReader(data), int64(len(data)), ct); err != nil {
		t.Fatalf("put %q (%d bytes): %v", key, len(data), err)
	}
}

func get(t *testing.T, s blob.Store, key string) ([]byte, blob.Info) {
	t.Helper()
	rc, info, err := s.Get(ctxT(t), key)
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	defer rc.Close()
	var b bytes.Buffer
	b.Grow(int(info.Size))
	if _, err := b.ReadFrom(rc); err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return b.Bytes(), info
}

// same reports whether got is want, describing the first difference.
func same(got, want []byte) error {
	if bytes.Equal(got, want) {
		return nil
	}
	if len(got) != len(want) {
		return fmt.Errorf("%d bytes, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Errorf("differs at byte %d of %d", i, len(want))
		}
	}
	return nil
}

func mustSame(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if err := same(got, want); err != nil {
		t.Fatalf("%s: %v (sha256 %x, want %x)", what, err, sha256.Sum256(got), sha256.Sum256(want))
	}
}

func mustNotFound(t *testing.T, s blob.Store, key string) {
	t.Helper()
	_, err := s.Stat(ctxT(t), key)
	if !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("stat %q: %v, want not found", key, err)
	}
	var nf *blob.NotFoundError
	if !errors.As(err, &nf) || nf.Key != key {
		t.Fatalf("stat %q: %v is not a *blob.NotFoundError for the key", key, err)
	}
	rc, _, err := s.Get(ctxT(t), key)
	if err == nil {
		rc.Close()
		t.Fatalf("get %q: found, want not found", key)
	}
	if !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("get %q: %v, want not found", key, err)
	}
}

func testRoundTrip(t *testing.T, h Harness) {
	s := h.Open(t)
	tests := []struct {
		name, key, ct string
		size          int
		opaque        bool
	}{
		{"empty", "rt/empty", "text/plain", 0, false},
		{"small", "rt/small.json", "application/json", 1000, false},
		{"small streamed", "rt/deep/er/small.bin", "", 4096, true},
		{"large", "rt/capsule.tar.gz", "application/gzip", LargeSize, false},
		{"large streamed", "rt/capsule.zip", "application/zip", LargeSize + 12345, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := payload(uint64(100+i), tt.size)
			var r io.Reader = bytes.NewReader(data)
			if tt.opaque {
				r = opaque{r}
			}
			before := time.Now().Add(-2 * time.Minute)
			if err := s.Put(ctxT(t), tt.key, r, int64(len(data)), tt.ct); err != nil {
				t.Fatalf("put: %v", err)
			}
			wantCT := tt.ct
			if wantCT == "" {
				wantCT = blob.DefaultContentType
			}
			info, err := s.Stat(ctxT(t), tt.key)
			if err != nil {
				t.Fatalf("stat: %v", err)
			}
			if info.Key != tt.key || info.Size != int64(tt.size) || info.ContentType != wantCT {
				t.Fatalf("stat = %+v, want key %q, size %d, content type %q", info, tt.key, tt.size, wantCT)
			}
			if info.ModTime.Before(before) || info.ModTime.After(time.Now().Add(2*time.Minute)) {
				t.Fatalf("stat: modification time %v is not about now", info.ModTime)
			}
			got, ginfo := get(t, s, tt.key)
			mustSame(t, "get", got, data)
			if ginfo.Size != int64(tt.size) || ginfo.ContentType != wantCT || ginfo.Key != tt.key {
				t.Fatalf("get info = %+v, want size %d, content type %q", ginfo, tt.size, wantCT)
			}
		})
	}
	if err := s.Ping(ctxT(t)); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

func testNotFound(t *testing.T, h Harness) {
	s := h.Open(t)
	mustNotFound(t, s, "nothing/here.zip")
	put(t, s, "nf/a", []byte("a"), "")
	mustNotFound(t, s, "nf/b")
	mustNotFound(t, s, "nf")             // a prefix, not an object
	mustNotFound(t, s, "nf/a/deeper")    // below an object
	mustNotFound(t, s, "other/nf/a.zip") // in a prefix that does not exist
	if err := s.Delete(ctxT(t), "nf/never"); err != nil {
		t.Fatalf("delete of a missing key: %v, want nil", err)
	}
	_, err := s.Stat(ctxT(t), "nf/b")
	if !strings.Contains(err.Error(), h.Backend) || !strings.Contains(err.Error(), "nf/b") {
		t.Fatalf("not-found error %q does not name the backend %q and the key", err, h.Backend)
	}
}

func testOverwrite(t *testing.T, h Harness) {
	s := h.Open(t)
	large, small := payload(1, LargeSize), payload(2, 777)
	put(t, s, "ow/x", large, "application/zip")
	put(t, s, "ow/x", small, "text/plain")
	got, info := get(t, s, "ow/x")
	mustSame(t, "after overwriting large with small", got, small)
	if info.ContentType != "text/plain" || info.Size != int64(len(small)) {
		t.Fatalf("info after overwrite = %+v", info)
	}
	put(t, s, "ow/x", large, "application/zip")
	got, info = get(t, s, "ow/x")
	mustSame(t, "after overwriting small with large", got, large)
	if info.ContentType != "application/zip" {
		t.Fatalf("content type after overwrite = %q", info.ContentType)
	}
}

func testList(t *testing.T, h Harness) {
	s := h.Open(t)
	sizes := map[string]int{"l/a": 1, "l/b/c": 2, "l/b/d": 3, "l2/x": 4, "other": 5, "l/b/e/f.zip": 6}
	for k, n := range sizes {
		put(t, s, k, payload(uint64(n), n), "")
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"l/a", "l/b/c", "l/b/d", "l/b/e/f.zip", "l2/x", "other"}},
		{"l/", []string{"l/a", "l/b/c", "l/b/d", "l/b/e/f.zip"}},
		{"l", []string{"l/a", "l/b/c", "l/b/d", "l/b/e/f.zip", "l2/x"}},
		{"l/b/", []string{"l/b/c", "l/b/d", "l/b/e/f.zip"}},
		{"l/b/e/f", []string{"l/b/e/f.zip"}},
		{"l/b/c", []string{"l/b/c"}},
		{"nope/", nil},
		{"l/bx", nil},
	}
	for _, tt := range tests {
		got, err := s.List(ctxT(t), tt.prefix)
		if err != nil {
			t.Fatalf("list %q: %v", tt.prefix, err)
		}
		var keys []string
		for _, in := range got {
			keys = append(keys, in.Key)
			if in.Size != int64(sizes[in.Key]) {
				t.Errorf("list %q: %s has size %d, want %d", tt.prefix, in.Key, in.Size, sizes[in.Key])
			}
			if in.ModTime.IsZero() {
				t.Errorf("list %q: %s has no modification time", tt.prefix, in.Key)
			}
			if in.ContentType != "" {
				t.Errorf("list %q: %s has content type %q; listings report none on every backend", tt.prefix, in.Key, in.ContentType)
			}
		}
		if strings.Join(keys, " ") != strings.Join(tt.want, " ") {
			t.Errorf("list %q = %q, want %q", tt.prefix, keys, tt.want)
		}
	}
}

func testDelete(t *testing.T, h Harness) {
	s := h.Open(t)
	put(t, s, "d/one", []byte("1"), "")
	put(t, s, "d/two", []byte("2"), "")
	if err := s.Delete(ctxT(t), "d/one"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	mustNotFound(t, s, "d/one")
	got, err := s.List(ctxT(t), "d/")
	if err != nil || len(got) != 1 || got[0].Key != "d/two" {
		t.Fatalf("list after delete = %+v, %v; want only d/two", got, err)
	}
	if err := s.Delete(ctxT(t), "d/one"); err != nil {
		t.Fatalf("second delete: %v, want nil", err)
	}
	put(t, s, "d/one", []byte("again"), "")
	b, _ := get(t, s, "d/one")
	mustSame(t, "put after delete", b, []byte("again"))
}

func testInvalidKeys(t *testing.T, h Harness) {
	s := h.Open(t)
	for _, key := range []string{"", "/abs", "a//b", "trailing/", "../up", "a/../b", ".tmp/x", "a/.hidden", "back\\slash", "nul\x00"} {
		err := s.Put(ctxT(t), key, strings.NewReader("x"), 1, "")
		if err == nil {
			t.Errorf("put %q: accepted, want an invalid-key error", key)
			continue
		}
		if errors.Is(err, blob.ErrNotFound) {
			t.Errorf("put %q: %v is a not-found error", key, err)
		}
		if _, err := s.Stat(ctxT(t), key); err == nil || errors.Is(err, blob.ErrNotFound) {
			t.Errorf("stat %q: %v, want an invalid-key error", key, err)
		}
	}
	if got, err := s.List(ctxT(t), ""); err != nil || len(got) != 0 {
		t.Fatalf("list after invalid puts = %+v, %v; want nothing", got, err)
	}
}

// testWrongSize: a body shorter or longer than its declared size is
// refused and leaves nothing, or the previous object, behind.
func testWrongSize(t *testing.T, h Harness) {
	s := h.Open(t)
	old := payload(9, 1000)
	put(t, s, "ws/existing", old, "text/plain")
	for _, n := range []int{1000, LargeSize} {
		data := payload(uint64(n), n)
		for _, tc := range []struct {
			name string
			body []byte
			size int64
		}{
			{"short", data[:len(data)-1], int64(len(data))},
			{"long", data, int64(len(data) - 1)},
		} {
			for _, key := range []string{"ws/new", "ws/existing"} {
				err := s.Put(ctxT(t), key, opaque{bytes.NewReader(tc.body)}, tc.size, "")
				if err == nil {
					t.Fatalf("%d bytes, %s body, put %q: accepted", n, tc.name, key)
				}
				if !strings.Contains(err.Error(), h.Backend) {
					t.Errorf("error %q does not name the backend %q", err, h.Backend)
				}
			}
			mustNotFound(t, s, "ws/new")
			got, _ := get(t, s, "ws/existing")
			mustSame(t, fmt.Sprintf("%d bytes, %s body: the previous object", n, tc.name), got, old)
		}
	}
	if err := s.Put(ctxT(t), "ws/neg", strings.NewReader(""), -1, ""); err == nil {
		t.Fatal("put with size -1: accepted")
	}
}

// testConcurrentWriters: writers racing on one key leave exactly one
// writer's whole object, never a mix.
func testConcurrentWriters(t *testing.T, h Harness) {
	s := h.Open(t)
	for _, size := range []int{64 << 10, LargeSize} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			const writers = 4
			key := fmt.Sprintf("cw/%d", size)
			datas := make([][]byte, writers)
			errs := make([]error, writers)
			var wg sync.WaitGroup
			for i := range writers {
				datas[i] = payload(uint64(1000+i), size)
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = s.Put(ctxT(t), key, bytes.NewReader(datas[i]), int64(size), fmt.Sprintf("application/x-writer-%d", i))
				}()
			}
			wg.Wait()
			got, info := get(t, s, key)
			winner := -1
			for i := range datas {
				if same(got, datas[i]) == nil {
					winner = i
				}
			}
			if winner < 0 {
				t.Fatalf("the object (%d bytes) is no writer's whole payload", len(got))
			}
			if errs[winner] != nil {
				t.Fatalf("the object is writer %d's, whose put failed: %v", winner, errs[winner])
			}
			if want := fmt.Sprintf("application/x-writer-%d", winner); info.ContentType != want {
				t.Fatalf("content type %q is not the winner's %q: metadata of one writer, data of another", info.ContentType, want)
			}
			for i, err := range errs {
				if err != nil {
					// Only a conflict between writers may fail a put (Azure
					// drops staged blocks of a blob another upload commits).
					t.Logf("writer %d: %v", i, err)
					if size <= int(h.PartSize) || h.PartSize == 0 {
						t.Errorf("writer %d of a single-request object failed: %v", i, err)
					}
				}
			}
		})
	}
}

// gated yields the first n bytes of data, then signals reached and waits
// for release (or ctx) before yielding the rest.
type gated struct {
	ctx     context.Context
	data    []byte
	off, n  int
	reached chan struct{}
	release chan struct{}
	once    sync.Once
}

func newGated(ctx context.Context, data []byte, n int) *gated {
	return &gated{ctx: ctx, data: data, n: n, reached: make(chan struct{}), release: make(chan struct{})}
}

func (g *gated) Read(p []byte) (int, error) {
	if g.off == g.n {
		g.once.Do(func() { close(g.reached) })
		select {
		case <-g.release:
		case <-g.ctx.Done():
			return 0, g.ctx.Err()
		}
	}
	if g.off == len(g.data) {
		return 0, io.EOF
	}
	end := len(g.data)
	if g.off < g.n {
		end = g.n
	}
	k := copy(p, g.data[g.off:end])
	g.off += k
	return k, nil
}

// gatePoint is where a gated body stops: past the first part, so that a
// part-wise backend has sent one.
func gatePoint(h Harness, size int) int {
	if h.PartSize > 0 && int(h.PartSize)+1<<20 < size {
		return int(h.PartSize) + 1<<20
	}
	return size / 2
}

func waitReached(t *testing.T, g *gated, done <-chan error) {
	t.Helper()
	select {
	case <-g.reached:
	case err := <-done:
		t.Fatalf("put ended before its body was half read: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("put did not read its body")
	}
}

// testReaderDuringWrite: while an upload is half done, readers see the
// previous object whole (or none), then the new one whole.
func testReaderDuringWrite(t *testing.T, h Harness) {
	s := h.Open(t)
	old := payload(50, 3<<20)
	put(t, s, "rdw/existing", old, "application/x-old")
	for _, key := range []string{"rdw/existing", "rdw/new"} {
		t.Run(key, func(t *testing.T) {
			data := payload(51, LargeSize)
			g := newGated(ctxT(t), data, gatePoint(h, len(data)))
			done := make(chan error, 1)
			go func() { done <- s.Put(ctxT(t), key, g, int64(len(data)), "application/x-new") }()
			waitReached(t, g, done)
			for range 3 {
				if key == "rdw/new" {
					mustNotFound(t, s, key)
					if l, err := s.List(ctxT(t), key); err != nil || len(l) != 0 {
						t.Fatalf("list during the upload = %+v, %v; want nothing", l, err)
					}
					continue
				}
				got, info := get(t, s, key)
				mustSame(t, "get during the upload", got, old)
				if info.ContentType != "application/x-old" {
					t.Fatalf("content type during the upload = %q", info.ContentType)
				}
				st, err := s.Stat(ctxT(t), key)
				if err != nil || st.Size != int64(len(old)) {
					t.Fatalf("stat during the upload = %+v, %v", st, err)
				}
			}
			close(g.release)
			if err := <-done; err != nil {
				t.Fatalf("put: %v", err)
			}
			got, info := get(t, s, key)
			mustSame(t, "get after the upload", got, data)
			if info.ContentType != "application/x-new" {
				t.Fatalf("content type after the upload = %q", info.ContentType)
			}
		})
	}
}

// testReadWhileReplaced: a reader opened before a replacement reads the
// object it opened, whole.
func testReadWhileReplaced(t *testing.T, h Harness) {
	s := h.Open(t)
	first, second := payload(60, LargeSize), payload(61, LargeSize)
	put(t, s, "rwr/x", first, "")
	rc, _, err := s.Get(ctxT(t), "rwr/x")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	defer rc.Close()
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatalf("read: %v", err)
	}
	put(t, s, "rwr/x", second, "")
	rest, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read the rest after a replacement: %v", err)
	}
	mustSame(t, "a read across a replacement", append(head, rest...), first)
	got, _ := get(t, s, "rwr/x")
	mustSame(t, "a new read", got, second)
}

// testCancelMidUpload: cancelling the context of a half-done upload
// leaves no object (or the previous one) visible.
func testCancelMidUpload(t *testing.T, h Harness) {
	s := h.Open(t)
	old := payload(70, 2000)
	put(t, s, "cmu/existing", old, "")
	for _, size := range []int{256 << 10, LargeSize} {
		for _, key := range []string{"cmu/new", "cmu/existing"} {
			t.Run(fmt.Sprintf("%d/%s", size, key), func(t *testing.T) {
				ctx, cancel := context.WithCancel(ctxT(t))
				defer cancel()
				data := payload(71, size)
				g := newGated(ctx, data, gatePoint(h, size))
				done := make(chan error, 1)
				go func() { done <- s.Put(ctx, key, g, int64(size), "") }()
				waitReached(t, g, done)
				cancel()
				select {
				case err := <-done:
					if err == nil {
						t.Fatal("put with a cancelled context succeeded")
					}
					if !errors.Is(err, context.Canceled) {
						t.Errorf("put error %v is not context.Canceled", err)
					}
				case <-time.After(time.Minute):
					t.Fatal("put did not return after its context was cancelled")
				}
				if key == "cmu/new" {
					mustNotFound(t, s, key)
				} else {
					got, _ := get(t, s, key)
					mustSame(t, "the previous object after a cancelled upload", got, old)
				}
			})
		}
	}
	got, err := s.List(ctxT(t), "")
	if err != nil || len(got) != 1 {
		t.Fatalf("list after cancelled uploads = %+v, %v; want only cmu/existing", got, err)
	}
}

// testStoppedServer: with the server gone, every operation fails soon
// with an error that names the backend (and the key), never not-found.
func testStoppedServer(t *testing.T, h Harness) {
	if h.Stop == nil {
		t.Skip("this backend has no server to stop")
	}
	s := h.Open(t)
	put(t, s, "ss/x", []byte("x"), "")
	h.Stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	check := func(op string, err error, key string) {
		t.Helper()
		switch {
		case err == nil:
			t.Errorf("%s with the server stopped: no error", op)
		case errors.Is(err, blob.ErrNotFound):
			t.Errorf("%s with the server stopped: %v is a not-found error", op, err)
		case !strings.Contains(err.Error(), h.Backend) || !strings.Contains(err.Error(), key):
			t.Errorf("%s with the server stopped: %q does not name the backend %q and %q", op, err, h.Backend, key)
		default:
			t.Logf("%s: %v", op, err)
		}
	}
	start := time.Now()
	check("put", s.Put(ctx, "ss/y", strings.NewReader("y"), 1, ""), "ss/y")
	_, _, err := s.Get(ctx, "ss/x")
	check("get", err, "ss/x")
	_, err = s.Stat(ctx, "ss/x")
	check("stat", err, "ss/x")
	_, err = s.List(ctx, "ss/")
	check("list", err, "ss/")
	check("delete", s.Delete(ctx, "ss/x"), "ss/x")
	check("ping", s.Ping(ctx), "ping")
	t.Logf("six operations failed in %v", time.Since(start).Round(time.Millisecond))
}
