package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/quantumlayer/qlp/internal/orchestrator"
)

// progressView shows a job's progress: on a terminal, a live block with the
// current step, tokens and cost so far and a bar per task; otherwise one
// line per event.
type progressView struct {
	w       io.Writer
	tty     bool
	start   time.Time
	step    string
	order   []string
	tasks   map[string]*taskLine
	totals  jobTotals
	drawn   int
	spinner int
}

type taskLine struct {
	id, desc, status, tier, model, cost string
	review                              string // the review the task waits for
	phase                               string // capsule while it repairs the capsule's findings
	chars, tokensOut, files, attempt    int
}

type jobTotals struct {
	In    int64  `json:"job_tokens_in"`
	Out   int64  `json:"job_tokens_out"`
	Cost  string `json:"job_cost_usd"`
	Calls int    `json:"job_calls"`
}

func newProgressView(w io.Writer, tty bool) *progressView {
	return &progressView{w: w, tty: tty, start: time.Now(), step: "submitted", tasks: map[string]*taskLine{}, totals: jobTotals{Cost: "0.000000"}}
}

// Handle takes one event.
func (v *progressView) Handle(ev orchestrator.ProgressEvent) error {
	var data map[string]json.RawMessage
	_ = json.Unmarshal(ev.Data, &data)
	var tot jobTotals
	if json.Unmarshal(ev.Data, &tot) == nil && tot.Cost != "" {
		v.totals = tot
	}
	str := func(k string) string {
		var s string
		_ = json.Unmarshal(data[k], &s)
		return s
	}
	num := func(k string) int {
		var n int
		_ = json.Unmarshal(data[k], &n)
		return n
	}
	t := v.tasks[ev.TaskID]
	line := ""
	switch ev.Type {
	case "workflow_started":
		v.step, line = "planning", "job started"
	case "decomposed":
		var tasks []struct {
			ID          string `json:"id"`
			Description string `json:"description"`
			Complexity  string `json:"complexity"`
		}
		_ = json.Unmarshal(data["tasks"], &tasks)
		for _, tk := range tasks {
			if _, ok := v.tasks[tk.ID]; !ok {
				v.order = append(v.order, tk.ID)
				v.tasks[tk.ID] = &taskLine{id: tk.ID, desc: tk.Description, status: "pending"}
			}
		}
		v.step, line = "generating", ev.Message
	case "task_started":
		if t != nil {
			t.status, t.tier, t.model = "running", str("tier"), str("model")
		}
		line = fmt.Sprintf("task %s started on %s %s (%s)", ev.TaskID, str("tier"), str("model"), str("reason"))
	case "task_attempt":
		if t != nil {
			t.status, t.tier, t.model, t.attempt, t.chars, t.phase = "running", str("tier"), str("model"), num("attempt"), 0, str("phase")
		}
		line = fmt.Sprintf("task %s %s", ev.TaskID, ev.Message)
	case "task_generated":
		if t != nil {
			t.status = "validating"
		}
		var files []string
		_ = json.Unmarshal(data["files"], &files)
		role := str("role")
		if role == "" {
			role = "coder"
		}
		line = fmt.Sprintf("task %s attempt %d written by the %s (%s %s): %d files, %d tokens out, $%s", ev.TaskID, num("attempt"), role,
			str("tier"), str("model"), len(files), num("tokens_out"), str("cost_usd"))
	case "task_progress":
		if t != nil {
			t.chars = num("chars")
		}
	case "task_completed":
		if t != nil {
			var files []string
			_ = json.Unmarshal(data["files"], &files)
			t.status, t.tokensOut, t.cost, t.files = "done", num("tokens_out"), str("cost_usd"), len(files)
		}
		line = fmt.Sprintf("task %s done: %s", ev.TaskID, ev.Message)
	case "task_failed", "task_skipped":
		if t != nil {
			t.status = strings.TrimPrefix(ev.Type, "task_")
		}
		line = fmt.Sprintf("task %s %s: %s", ev.TaskID, strings.TrimPrefix(ev.Type, "task_"), ev.Message)
	case "task_validated":
		line = fmt.Sprintf("task %s validated: %s", ev.TaskID, ev.Message)
	case "review_requested":
		if t != nil {
			t.status, t.review = "review", str("review_id")
		}
		line = fmt.Sprintf("task %s waits for a review: %s; respond with: qlp review approve %s | qlp review changes %s --comment \"...\" | qlp review reject %s --comment \"...\"",
			ev.TaskID, ev.Message, str("review_id"), str("review_id"), str("review_id"))
	case "review_decided":
		if t != nil && t.status == "review" {
			t.status = "running"
		}
		line = fmt.Sprintf("task %s: %s", ev.TaskID, ev.Message)
	case "capsule_validated":
		v.step, line = "validated", "capsule validated: "+ev.Message
		if str("status") == "failed" {
			v.step = "repairing"
			line = fmt.Sprintf("capsule validation round %d failed: %s", num("round"), ev.Message)
		}
	case "capsule_created":
		v.step, line = "packaged", ev.Message
	case "workflow_completed":
		v.step, line = "completed", "job completed"
	case "workflow_failed":
		v.step, line = "failed", "job failed: "+ev.Message
		var findings []orchestrator.Finding
		var stored []struct {
			orchestrator.Finding
			RuleID string `json:"rule_id"`
		}
		_ = json.Unmarshal(data["findings"], &stored)
		for _, f := range stored {
			f.Finding.Rule = f.RuleID
			findings = append(findings, f.Finding)
		}
		if v.tty {
			// The block stays; the cause goes below it, in full.
			v.draw()
			v.drawn = 0
			fmt.Fprintf(v.w, "job failed: %s\n", ev.Message)
			for _, f := range findings {
				fmt.Fprintf(v.w, "  %s\n", findingLine(f))
			}
			return nil
		}
		for _, f := range findings {
			line += "\n    " + findingLine(f)
		}
	case "workflow_cancelled":
		v.step, line = "cancelled", "job cancelled"
	case "log_message":
		line = ev.Message
		if ev.TaskID != "" {
			line = "task " + ev.TaskID + ": " + line
		}
	}
	if v.tty {
		v.draw()
		return nil
	}
	if line != "" {
		_, err := fmt.Fprintf(v.w, "[%6.1fs] %s\n", time.Since(v.start).Seconds(), line)
		return err
	}
	return nil
}

var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func (v *progressView) draw() {
	var b strings.Builder
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", v.drawn) // back to the top of the block
	}
	v.spinner++
	lines := []string{fmt.Sprintf("QLP %-10s %5.1fs   tokens %d in / %d out   cost $%s   %d calls",
		v.step, time.Since(v.start).Seconds(), v.totals.In, v.totals.Out, v.totals.Cost, v.totals.Calls)}
	for _, id := range v.order {
		t := v.tasks[id]
		frac, mark := 0.0, " "
		switch t.status {
		case "running":
			frac, mark = min(0.9, float64(t.chars)/6000), spinnerFrames[v.spinner%len(spinnerFrames)]
		case "validating":
			frac, mark = 0.95, spinnerFrames[v.spinner%len(spinnerFrames)]
		case "done":
			frac, mark = 1, "✔"
		case "failed":
			mark = "✘"
		case "skipped":
			mark = "-"
		case "review":
			mark = "?"
		}
		detail := t.status
		switch t.status {
		case "running":
			detail = fmt.Sprintf("%s %s  %d chars", t.tier, t.model, t.chars)
		case "validating":
			detail = fmt.Sprintf("%s %s  validating", t.tier, t.model)
		case "done":
			detail = fmt.Sprintf("%s %s  %d files  %d tok  $%s", t.tier, t.model, t.files, t.tokensOut, t.cost)
		case "review":
			detail = "waiting for a review: qlp review show " + t.review
		}
		if t.attempt > 1 {
			detail = fmt.Sprintf("attempt %d  %s", t.attempt, detail)
			if t.phase == "capsule" {
				detail = "capsule repair, " + detail
			}
		}
		desc := t.desc
		if len(desc) > 40 {
			desc = desc[:39] + "…"
		}
		lines = append(lines, fmt.Sprintf("%s %-4s %s %-44s %s", mark, t.id, bar(frac, 12), desc, detail))
	}
	for _, l := range lines {
		b.WriteString("\x1b[2K")
		b.WriteString(l)
		b.WriteString("\n")
	}
	v.drawn = len(lines)
	io.WriteString(v.w, b.String())
}

func bar(frac float64, width int) string {
	n := int(frac*float64(width) + 0.5)
	return strings.Repeat("█", n) + strings.Repeat("░", width-n)
}
