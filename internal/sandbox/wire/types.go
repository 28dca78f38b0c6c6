package wire

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// File is one file of the project.
type File struct {
	Path       string `json:"path"`
	Content    []byte `json:"content"` // base64 in JSON
	Executable bool   `json:"executable,omitempty"`
}

// Status classifies how a command or a run ended.
type Status string

// The statuses a run or command can end with.
const (
	// StatusCompleted: every command exited 0.
	StatusCompleted Status = "completed"
	// StatusFailed: a command exited non-zero (a compile error, a failing
	// test, an uncaught exception).
	StatusFailed Status = "failed"
	// StatusTimeout: the wall-clock or CPU-time limit was reached.
	StatusTimeout Status = "timeout"
	// StatusMemoryExceeded: the memory limit was reached and the kernel
	// killed the program.
	StatusMemoryExceeded Status = "memory_exceeded"
	// StatusOutputExceeded: a command wrote more than OutputBytes.
	StatusOutputExceeded Status = "output_exceeded"
	// StatusKilled: a command died of a signal not sent by a limit (e.g.
	// SIGSEGV, or it killed itself), or the caller cancelled the run.
	StatusKilled Status = "killed"
	// StatusError: the run could not be carried out: a dependency is
	// unavailable, a command could not be started, or the sandbox failed.
	StatusError Status = "error"
	// StatusSkipped marks a command not run because an earlier one did not
	// complete. It never describes a whole run.
	StatusSkipped Status = "skipped"
)

// CommandResult is the outcome of one command.
type CommandResult struct {
	Name            string   `json:"name"`
	Args            []string `json:"args"`
	Status          Status   `json:"status"`
	Reason          string   `json:"reason,omitempty"`
	ExitCode        int      `json:"exit_code"`        // -1 when killed by a signal or not run
	Signal          string   `json:"signal,omitempty"` // e.g. "killed", "segmentation fault"
	Stdout          string   `json:"stdout"`
	Stderr          string   `json:"stderr"`
	StdoutTruncated bool     `json:"stdout_truncated,omitempty"`
	StderrTruncated bool     `json:"stderr_truncated,omitempty"`
	Duration        Duration `json:"duration"`
	CPUTime         Duration `json:"cpu_time"`
	PeakMemoryBytes int64    `json:"peak_memory_bytes"`
}

// Stream names an output stream.
type Stream string

// The output streams.
const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("1.5s"); a JSON number is read as milliseconds.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "1.5s" or a number of milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		v, err := time.ParseDuration(str)
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. \"30s\")", str)
		}
		*d = Duration(v)
		return nil
	}
	ms, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("%s is not a duration in milliseconds", s)
	}
	*d = Duration(time.Duration(ms * float64(time.Millisecond)))
	return nil
}
