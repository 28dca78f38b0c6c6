//go:build race

package hnsw

// The race detector slows the graph build about tenfold: keep tests small.
const raceEnabled = true
