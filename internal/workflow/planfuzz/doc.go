// Package planfuzz holds the fuzzer of workflow.ParsePlan, the parser of
// the decomposer's answer. It has no code of its own: it lives apart from
// package workflow because `go test -fuzz` instruments every package of the
// test binary, and workflow's own tests pull in twice as many packages
// (test services and their clients) as workflow itself.
package planfuzz
