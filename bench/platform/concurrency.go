package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// concurrency measures job throughput with n jobs in flight for each n of
// levels: a closed loop of n workers, each submitting its next job as soon
// as its last one ended, until jobs jobs have ended. Throughput is the
// completed jobs over the time from the first submission to the last end;
// the ratio is against the first level, measured in the same run. Job
// times are from submission to the job's last event (p99 is the nearest
// rank: with 8 jobs, the slowest). CPU is the machine's busy time over the
// level (all processes: on a shared machine, others' work too) and the CPU
// time of `qlp up` and the sandboxed tools it waited for, per job. From the
// sandbox's metrics: its runs per job, and how many were executing on
// average (the sum of their durations over the level's wall time: near
// the sandbox's slots per tenant, the sandbox is what jobs wait for).
func (p *platform) concurrency(levels []int, jobs int) error {
	ctx := context.Background()
	next := 0
	// One warm-up job: the sandbox's Go build-cache seed, the tools'
	// first start, Temporal's first workflow.
	if _, last, _, err := p.submit(ctx, next, nil); err != nil {
		return fmt.Errorf("warm-up job: %w", err)
	} else if last.Type != "workflow_completed" {
		return fmt.Errorf("warm-up job ended %s: %s", last.Type, last.Message)
	}
	next++
	fmt.Printf("%s jobs of 5 tasks, scripted model, %d CPUs, %d jobs per level\n\n", p.lang, runtime.NumCPU(), jobs)
	fmt.Println("| jobs in flight | jobs | completed | wall | throughput (jobs/min) | vs 1 in flight | p50 job time | p99 job time | machine CPU busy | qlp CPU per job | sandbox runs per job | runs executing (mean) |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	var base float64
	var failures []string
	for _, n := range levels {
		total := max(jobs, n)
		var (
			mu    sync.Mutex
			times []time.Duration
			done  int
			wg    sync.WaitGroup
		)
		queue := make(chan int, total)
		for i := range total {
			queue <- next + i
		}
		close(queue)
		next += total
		cpu0, busy0, sb0 := procCPU(p.up.Process.Pid), machineBusy(), scrape(p.sandbox+"/metrics")
		start := time.Now()
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for id := range queue {
					wall, last, reqID, err := p.submit(ctx, id, nil)
					mu.Lock()
					switch {
					case err != nil:
						failures = append(failures, fmt.Sprintf("job %d (%d in flight): %v", id, n, err))
					case last.Type != "workflow_completed":
						failures = append(failures, fmt.Sprintf("job %d %s (%d in flight): %s: %s", id, reqID, n, last.Type, last.Message))
					default:
						done++
						times = append(times, wall)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		cpu1, busy1, sb1 := procCPU(p.up.Process.Pid), machineBusy(), scrape(p.sandbox+"/metrics")
		rate := float64(done) / elapsed.Minutes()
		if base == 0 {
			base = rate
		}
		busy := "n/a"
		if busy0.total > 0 && busy1.total > busy0.total {
			busy = fmt.Sprintf("%.0f %%", 100*float64(busy1.busy-busy0.busy)/float64(busy1.total-busy0.total))
		}
		perJob := "n/a"
		if cpu0 >= 0 && cpu1 >= cpu0 && total > 0 {
			perJob = fmt.Sprintf("%.2f s", (cpu1-cpu0).Seconds()/float64(total))
		}
		runs, executing := "n/a", "n/a"
		if sb0 != nil && sb1 != nil {
			const count, sum = "qlp_sandbox_run_duration_seconds_count", "qlp_sandbox_run_duration_seconds_sum"
			runs = fmt.Sprintf("%.1f", (sb1[count]-sb0[count])/float64(total))
			executing = fmt.Sprintf("%.2f", (sb1[sum]-sb0[sum])/elapsed.Seconds())
		}
		fmt.Printf("| %d | %d | %d | %.1f s | %.2f | %.2f× | %s | %s | %s | %s | %s | %s |\n", n, total, done, elapsed.Seconds(), rate, rate/base,
			fmtDur(percentile(times, 0.50)), fmtDur(percentile(times, 0.99)), busy, perJob, runs, executing)
	}
	if len(failures) > 0 {
		fmt.Println()
		for _, f := range failures {
			fmt.Println("failed:", f)
		}
		return fmt.Errorf("%d jobs did not complete", len(failures))
	}
	return nil
}

// percentile is the nearest-rank percentile of ds (0 when empty).
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func fmtDur(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

// clockTick is USER_HZ, the unit of /proc's CPU times (100 on Linux).
const clockTick = 100

// procCPU is the CPU time of pid and of the children it waited for
// (utime, stime, cutime, cstime of /proc/pid/stat); -1 if unreadable.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 15 {
		return -1
	}
	var ticks int64
	for _, k := range []int{11, 12, 13, 14} { // fields 14..17
		n, err := strconv.ParseInt(f[k], 10, 64)
		if err != nil {
			return -1
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTick
}

type cpuTimes struct{ busy, total int64 }

// machineBusy reads the machine's CPU times from /proc/stat.
func machineBusy() cpuTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return cpuTimes{}
	}
	var t cpuTimes
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i >= 8 { // guest times are already in user and nice
			break
		}
		t.total += n
		if i != 3 && i != 4 { // idle, iowait
			t.busy += n
		}
	}
	return t
}

// scrape reads a Prometheus text page and sums each metric's samples
// over their labels; nil if it cannot be read.
func scrape(url string) map[string]float64 {
	resp, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil
	}
	out := map[string]float64{}
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(f[0], "{")
		v, err := strconv.ParseFloat(f[1], 64)
		if err == nil {
			out[name] += v
		}
	}
	return out
}
