// Package calc adds numbers given as text.
package calc

import (
	"fmt"
	"strconv"
)

// Sum adds the integers in args.
func Sum(args []string) (int, error) {
	total := 0
	for _, a := range args {
		n, err := strconv.Atoi(a)
		if err != nil {
			return 0, fmt.Errorf("calc: %q is not an integer", a)
		}
		total += n
	}
	return total, nil
}
