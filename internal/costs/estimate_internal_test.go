package costs

import (
	"testing"

	"github.com/quantumlayer/qlp/internal/vocab"
)

func TestEveryComplexityHasASizeMultiplier(t *testing.T) {
	for _, c := range vocab.Complexities() {
		if sizeMultiplier[c] <= 0 {
			t.Errorf("complexity %q has no size multiplier", c)
		}
	}
	if len(sizeMultiplier) != len(vocab.Complexities()) {
		t.Errorf("sizeMultiplier has %d entries, vocab has %d complexities", len(sizeMultiplier), len(vocab.Complexities()))
	}
}
