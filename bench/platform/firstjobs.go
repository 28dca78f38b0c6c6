package main

import (
	"context"
	"fmt"
	"runtime"
	"time"
)

// firstJobs runs n one-task jobs one after another, the first as soon as
// `qlp up` is ready (no warm-up: what a user's first job waits for is the
// figure), and prints each job's time from submission to its last event,
// the first job against the second, and the median of the jobs after the
// first (the warm figure).
func (p *platform) firstJobs(n int) error {
	if n < 2 {
		return fmt.Errorf("-one-task: %d jobs; at least 2 are needed to compare the first with the second", n)
	}
	ctx := context.Background()
	times := make([]time.Duration, 0, n)
	fmt.Printf("%s one-task jobs, scripted model, %d CPUs, from qlp's start\n\n", p.lang, runtime.NumCPU())
	fmt.Println("| job | time |")
	fmt.Println("|---|---|")
	for i := range n {
		wall, last, reqID, err := p.submit(ctx, i, nil)
		if err != nil {
			return fmt.Errorf("job %d: %w", i, err)
		}
		if last.Type != "workflow_completed" {
			return fmt.Errorf("job %d %s ended %s: %s", i, reqID, last.Type, last.Message)
		}
		times = append(times, wall)
		fmt.Printf("| %d | %.2f s |\n", i+1, wall.Seconds())
	}
	warm := median(times[1:])
	fmt.Printf("\nfirst job %.2f s, second %.2f s: first/second %.2f; warm (median of jobs 2..%d) %.2f s\n",
		times[0].Seconds(), times[1].Seconds(), times[0].Seconds()/times[1].Seconds(), n, warm.Seconds())
	return nil
}
