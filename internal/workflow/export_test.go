package workflow

import (
	"fmt"
	"strings"

	"github.com/quantumlayer/qlp/internal/delivery"
	"github.com/quantumlayer/qlp/internal/domain"
)

// AssembleAttempts is assembleAttempts, for the tests of package
// workflow_test.
const AssembleAttempts = assembleAttempts

// CIFindings routes CI runs over files owned by tasks (in dependency
// order) and returns "task check file:line:column" per finding.
func CIFindings(owners map[string]string, order []string, runs []delivery.CIRun) []string {
	var tasks []domain.Task
	for i, id := range order {
		t := domain.Task{ID: id, Seq: i}
		for p, o := range owners {
			if o == id {
				t.Files = append(t.Files, domain.File{Path: p})
			}
		}
		tasks = append(tasks, t)
	}
	files := map[string][]byte{}
	for p := range owners {
		files[p] = nil
	}
	c := ciCheck("j", 1, CIRepairInput{SHA: "abc", Runs: runs}, files, tasks)
	var out []string
	for _, f := range c.Findings {
		out = append(out, fmt.Sprintf("%s %s %s:%d:%d", f.TaskID, strings.TrimPrefix(f.Check, "ci:"), f.File, f.Line, f.Column))
	}
	return out
}
