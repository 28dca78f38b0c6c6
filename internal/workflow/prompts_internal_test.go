package workflow

import (
	"strings"
	"testing"

	"github.com/quantumlayer/qlp/internal/memory"
)

// TestExamplesShowTheirTaskNotTheEarlierRequest: a recalled example is
// introduced by the task it was written for; without one (entries stored
// before tasks were kept), by the first line of its description, never by
// the earlier request's whole text. Examples over the byte budget are left
// out.
func TestExamplesShowTheirTaskNotTheEarlierRequest(t *testing.T) {
	long := "Build a board-game rules engine in Go with many details\n" + strings.Repeat("more of the earlier request ", 50)
	tests := []struct {
		name string
		in   []memory.CodeExample
		want []string // descriptions shown, in order
	}{
		{"the task", []memory.CodeExample{{Path: "board.go", Description: long + "\nCheck a board for a winner", Task: "Check a board for a winner", Code: "package game\n"}},
			[]string{"Check a board for a winner"}},
		{"no task: the first line", []memory.CodeExample{{Path: "board.go", Description: long, Code: "package game\n"}},
			[]string{"Build a board-game rules engine in Go with many details"}},
		{"over the budget", []memory.CodeExample{
			{Path: "big.go", Task: "big", Code: strings.Repeat("x", exampleBudget+1)},
			{Path: "small.go", Task: "small", Code: "package small\n"}},
			[]string{"small"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range examplesFor(tc.in) {
				got = append(got, e.Description)
				if strings.Contains(e.Description, "more of the earlier request") {
					t.Fatalf("the example shows the earlier request's text: %q", e.Description)
				}
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("examples %q, want %q", got, tc.want)
			}
		})
	}
}
