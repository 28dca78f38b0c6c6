//go:build race

package sandbox

import "os"

// helperEnv is the environment the helper itself starts with (its commands
// get their own). In a build with the race detector, whose runtime sleeps
// a second when a process with goroutines exits (GORACE atexit_sleep_ms),
// every run would last a second longer.
func helperEnv() []string {
	return []string{"GORACE=" + os.Getenv("GORACE") + " atexit_sleep_ms=0"}
}
