package marketing_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/quantumlayer/qlp/internal/engine"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/llm/tiers"
	"github.com/quantumlayer/qlp/internal/logx"
	mkt "github.com/quantumlayer/qlp/internal/marketing"
	"github.com/quantumlayer/qlp/internal/store"
)

// workerEnv, when set, makes the test binary a marketing worker process
// (see workerMain): the durability test kills it with SIGKILL.
const workerEnv = "QLP_MARKETING_TEST_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		if err := workerMain(); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if shared.eng != nil {
		shared.eng.Close()
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// shared is one embedded Temporal server for the test binary: starting one
// takes seconds (more under -race), and the tests that need one run one
// after another on it, each with its own campaign and worker.
var shared struct {
	once sync.Once
	eng  *engine.Engine
	err  error
	dir  string
}

func sharedEngine(t *testing.T) *engine.Engine {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "qlp-marketing-temporal-")
		if shared.err == nil {
			shared.eng, shared.err = engine.Start(context.Background(), engine.Config{Namespace: "default", LogLevel: "error"}, shared.dir, logx.Discard())
		}
	})
	require.NoError(t, shared.err)
	return shared.eng
}

// workerMain runs a marketing worker on the store, Temporal server and
// model named by the environment until it is signalled (or killed).
func workerMain() error {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, os.Getenv("QLP_MARKETING_TEST_DB"))
	if err != nil {
		return err
	}
	defer st.Close()
	cfg := tiers.Defaults()
	cfg.Provider, cfg.BaseURL = "openai", os.Getenv("QLP_MARKETING_TEST_LLM")
	cfg.Models = [4]string{"gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1", "gpt-4o"}
	router, err := tiers.Build(cfg, st, logx.Discard())
	if err != nil {
		return err
	}
	c, err := client.Dial(client.Options{HostPort: os.Getenv("QLP_MARKETING_TEST_TEMPORAL"), Namespace: "default",
		Logger: tlog.NewStructuredLogger(logx.Discard())})
	if err != nil {
		return err
	}
	defer c.Close()
	acts := &mkt.Activities{Store: st, Models: router, Tier: "T1", MaxTokens: 2048, Temperature: 0.2, MaxPieces: 40, Logger: logx.Discard()}
	// A short sticky timeout: the killed worker's workflow tasks move to the new one at once.
	w := mkt.NewWorker(c, acts, worker.Options{StickyScheduleToStartTimeout: time.Second})
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	return w.Run(stopChan(stop))
}

func stopChan(sig <-chan os.Signal) <-chan interface{} {
	out := make(chan interface{})
	go func() { <-sig; close(out) }()
	return out
}

// startWorker starts the test binary as a worker process.
func startWorker(t *testing.T, temporal, db, llmURL string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"=1", "QLP_MARKETING_TEST_DB="+db, "QLP_MARKETING_TEST_LLM="+llmURL,
		"QLP_MARKETING_TEST_TEMPORAL="+temporal)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_, _ = cmd.Process.Wait()
		}
	})
	return cmd
}

// TestKilledWorkerCompletesTheCampaignWithoutRegenerating: a marketing
// worker process is killed with SIGKILL while it writes the third of four
// pieces; a new worker process completes the campaign. The two pieces
// written before the kill are not written again (one model call each),
// the interrupted one is written once (its first call never answered,
// nothing recorded), and the ledger has one row per model answer.
func TestKilledWorkerCompletesTheCampaignWithoutRegenerating(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Temporal and two worker processes")
	}
	h := newHarness(t, "", nil)
	dir := t.TempDir()
	db := filepath.Join(dir, "qlp.db")
	st, err := store.OpenSQLite(t.Context(), db)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	h.st = st
	_, err = st.EnsureTenant(t.Context(), "acme", "Acme")
	require.NoError(t, err)
	h.campaign(t, "cmp-kill", mkt.Brief{ProductDescription: "A URL shortener in Go.", DurationDays: 7, Channels: []string{"x"}, LaunchDate: "2026-03-02"})

	// The model: p003-x's first call hangs until the worker is killed.
	reached := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	cw := &copywriter{asked: map[string]int{}}
	var mu sync.Mutex
	first := true
	srv := llmtest.New(func(c llmtest.Call) llmtest.Reply {
		var r llmtest.Reply
		switch c.Role {
		case "strategist":
			r = strategyReply()
		case "copywriter":
			mu.Lock()
			hang := c.TaskID == "p003-x" && first
			if hang {
				first = false
			}
			mu.Unlock()
			if hang {
				once.Do(func() { close(reached) })
				<-release
				return llmtest.Reply{Status: 503, Body: `{"error":{"message":"the caller is gone"}}`}
			}
			r = cw.reply(c)
		case "optimiser":
			r = optimiserReply()
		}
		u := callUsage
		r.Usage = &u
		return r
	})
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})

	eng := sharedEngine(t)

	w1 := startWorker(t, eng.Address, db, srv.URL)
	run, err := eng.Client.ExecuteWorkflow(t.Context(), client.StartWorkflowOptions{ID: mkt.WorkflowID("cmp-kill"), TaskQueue: mkt.TaskQueue},
		mkt.WorkflowName, mkt.Input{CampaignID: "cmp-kill", TenantID: "acme", MaxParallel: 1, HeartbeatTimeout: 2 * time.Second})
	require.NoError(t, err)
	select {
	case <-reached:
	case <-time.After(2 * time.Minute):
		t.Fatal("the worker never reached the third piece")
	}
	require.NoError(t, w1.Process.Signal(syscall.SIGKILL))
	_, _ = w1.Process.Wait()
	close(release)

	startWorker(t, eng.Address, db, srv.URL)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	var rep mkt.Report
	require.NoError(t, run.Get(ctx, &rep))
	require.Equal(t, store.CampaignCompleted, rep.Status)
	require.Equal(t, 4, rep.Generated)

	calls := map[string]int{}
	for _, c := range srv.Calls() {
		calls[c.Role+"/"+c.TaskID]++
	}
	require.Equal(t, map[string]int{"strategist/strategy": 1, "copywriter/p001-x": 1, "copywriter/p002-x": 1,
		"copywriter/p003-x": 2, "copywriter/p004-x": 1, "optimiser/optimise": 1}, calls,
		"the interrupted call to p003-x is the only repeat; it was never answered")
	pieces, err := st.ListPieces(t.Context(), "cmp-kill")
	require.NoError(t, err)
	for _, p := range pieces {
		require.Equal(t, 1, p.ModelCalls, "piece %s generated once", p.ID)
	}
	rows, err := st.ListUsage(t.Context(), store.UsageFilter{JobID: "cmp-kill"})
	require.NoError(t, err)
	perTask := map[string]int{}
	for _, r := range rows {
		perTask[r.TaskID]++
	}
	require.Equal(t, map[string]int{"strategy": 1, "p001-x": 1, "p002-x": 1, "p003-x": 1, "p004-x": 1, "optimise": 1}, perTask)
	require.Equal(t, int64(len(rows))*callPUSD, rep.CostPUSD)

	// The history the two workers made, crash included, replays against
	// the workflows as registered: they are deterministic.
	var events []*historypb.HistoryEvent
	it := eng.Client.GetWorkflowHistory(t.Context(), mkt.WorkflowID("cmp-kill"), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		require.NoError(t, err)
		events = append(events, e)
	}
	require.NotEmpty(t, events)
	r := worker.NewWorkflowReplayer()
	mkt.RegisterWorkflows(r)
	require.NoError(t, r.ReplayWorkflowHistory(nil, &historypb.History{Events: events}))
}

// TestScheduleFiresThePublisher: the publisher's Temporal Schedule, made
// by Publisher.Schedule on a real (embedded) Temporal server, fires: a
// trigger runs the publisher workflow on the marketing queue, which posts
// the due piece through the webhook once. The dev server does not skip
// time, so the test triggers the schedule instead of waiting an interval;
// the schedule's interval is checked as configured.
func TestScheduleFiresThePublisher(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Temporal")
	}
	h := newHarness(t, "", nil)
	rcv := newReceiver(t, "k", 0)
	h.acts.Publisher = &mkt.Publisher{Interval: time.Hour, Adapters: []mkt.Adapter{mkt.Webhook{URL: rcv.srv.URL, Secret: "k"}}}
	h.acts.Now = func() time.Time { return time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC) }
	generatedPiece(t, h, store.PublishingActive)

	eng := sharedEngine(t)
	w := mkt.NewWorker(eng.Client, h.acts, worker.Options{})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	require.NoError(t, h.acts.Publisher.Schedule(t.Context(), eng.Client, mkt.TaskQueue))
	require.NoError(t, h.acts.Publisher.Schedule(t.Context(), eng.Client, mkt.TaskQueue), "making it again updates it")
	handle := eng.Client.ScheduleClient().GetHandle(t.Context(), mkt.ScheduleID)
	desc, err := handle.Describe(t.Context())
	require.NoError(t, err)
	require.Equal(t, time.Hour, desc.Schedule.Spec.Intervals[0].Every)
	require.NoError(t, handle.Trigger(t.Context(), client.ScheduleTriggerOptions{}))

	deadline := time.Now().Add(time.Minute)
	for {
		rcv.mu.Lock()
		n := len(rcv.accepted)
		rcv.mu.Unlock()
		if n == 1 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the schedule's run never posted the piece")
		time.Sleep(100 * time.Millisecond)
	}
	p, err := h.st.GetPiece(t.Context(), "cmp-pub", "p001-x")
	require.NoError(t, err)
	require.Equal(t, store.PiecePublished, p.Status)

	h.acts.Publisher.Interval = 0
	require.NoError(t, h.acts.Publisher.Schedule(t.Context(), eng.Client, mkt.TaskQueue), "interval 0 deletes the schedule")
	_, err = handle.Describe(t.Context())
	require.Error(t, err)
}
