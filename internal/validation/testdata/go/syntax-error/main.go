package main

import (
	"fmt"
	"os"

	"example.com/calc/calc"
)

func main() {
	total, err := calc.Sum(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(total)
}
