package workflow

import "github.com/quantumlayer/qlp/internal/answer"

// Answer is a coding answer: a set of files and a one-line summary.
type Answer = answer.Answer

// ParseAnswer reads the files out of a model's answer (see answer.Parse).
func ParseAnswer(text string) (*Answer, error) { return answer.Parse(text) }
