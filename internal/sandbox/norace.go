//go:build !race

package sandbox

// helperEnv is the environment the helper itself starts with (its commands
// get their own): nothing.
func helperEnv() []string { return nil }
