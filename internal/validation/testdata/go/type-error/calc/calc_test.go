package calc

import "testing"

func TestSum(t *testing.T) {
	tests := []struct {
		in   []string
		want int
	}{
		{nil, 0},
		{[]string{"1", "2", "3"}, 6},
		{[]string{"-4", "4"}, 0},
	}
	for _, tc := range tests {
		got, err := Sum(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Sum(%v) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestSumRejectsText(t *testing.T) {
	if _, err := Sum([]string{"x"}); err == nil {
		t.Error("want an error")
	}
}
