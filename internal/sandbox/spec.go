package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Runner runs a [Spec] in isolation. onOutput, when not nil, receives the
// output of the commands as it is produced (in order per stream, possibly
// split anywhere); it must not block for long. The in-process [Local] runner,
// the [Service] and the HTTP [Client] all implement it.
//
// Run returns an error only when the spec is invalid ([*SpecError]), the
// queue is full ([ErrQueueFull]) or the sandbox itself could not run;
// anything the program did, including failing, is reported in the [Result].
type Runner interface {
	Run(ctx context.Context, spec Spec, onOutput func(OutputChunk)) (*Result, error)
}

// Spec is what to run: a whole project and the commands to run in it.
type Spec struct {
	// Language selects the toolchain, the default commands and the
	// dependency check: one of the names GET /languages reports.
	Language string `json:"language"`
	// Files is the project, written under the work directory before the
	// first command runs. Paths are relative, slash-separated and stay
	// inside the work directory.
	Files []File `json:"files"`
	// Commands run in order in the work directory. A command that does not
	// complete stops the run (the rest are reported as skipped) unless it
	// sets ContinueOnFailure. Empty means the language's default command
	// for Mode.
	Commands []Command `json:"commands,omitempty"`
	// Mode picks the default commands when Commands is empty: "run"
	// (default), "build" or "test".
	Mode string `json:"mode,omitempty"`
	// Entrypoint is the file the default "run" command runs (default: the
	// language's main file, e.g. main.py).
	Entrypoint string `json:"entrypoint,omitempty"`
	// Env is added to the environment of every command. Nothing of the
	// service's own environment is passed to the sandbox.
	Env map[string]string `json:"env,omitempty"`
	// Limits bound the run; zero fields take the service's defaults and
	// no field may exceed the service's maximum.
	Limits Limits `json:"limits"`
	// Dependencies the project declares beyond its manifests
	// (requirements.txt, package.json, go.mod, Cargo.toml are read too).
	// A dependency this host cannot provide offline fails the run with
	// status "error" and reason "dependency unavailable: …".
	Dependencies []string `json:"dependencies,omitempty"`
	// Collect names files (relative paths or path.Match patterns) to
	// return after the run, e.g. "report.xml" or "reports/*.json".
	Collect []string `json:"collect,omitempty"`
}

// File is one file of the project.
type File struct {
	Path       string `json:"path"`
	Content    []byte `json:"content"` // base64 in JSON
	Executable bool   `json:"executable,omitempty"`
}

// Command is one program to run, as an argument vector (no shell; use
// ["bash", "-c", "…"] for one).
type Command struct {
	// Name labels the command in results and output, e.g. "build", "test".
	Name string   `json:"name,omitempty"`
	Args []string `json:"args"`
	// Stdin is given to the command; otherwise it reads /dev/null.
	Stdin string `json:"stdin,omitempty"`
	// Timeout caps this command's wall time below the run's limit.
	Timeout Duration `json:"timeout,omitempty"`
	// ContinueOnFailure lets later commands run even if this one fails.
	ContinueOnFailure bool `json:"continue_on_failure,omitempty"`
}

// Limits bound a run. The network is always off and is not a limit.
type Limits struct {
	// WallTime is the wall-clock limit for the whole run.
	WallTime Duration `json:"wall_time,omitempty"`
	// CPUTime is the CPU-time limit of each process (RLIMIT_CPU), and of
	// the whole run where cgroups are available.
	CPUTime Duration `json:"cpu_time,omitempty"`
	// MemoryBytes is the memory limit of the whole run (cgroup).
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
	// Processes is the most processes and threads alive at once.
	Processes int `json:"processes,omitempty"`
	// OutputBytes caps stdout plus stderr of each command; past it the
	// command is killed and reported as output_exceeded.
	OutputBytes int64 `json:"output_bytes,omitempty"`
	// DiskBytes is the size of the writable file system (work dir, home
	// and /tmp together).
	DiskBytes int64 `json:"disk_bytes,omitempty"`
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

// Result is the outcome of a run.
type Result struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
	// Reason says in a sentence why the run ended as it did when it did
	// not complete, e.g. `command "test" exceeded the wall time of 10s`.
	Reason   string          `json:"reason,omitempty"`
	ExitCode int             `json:"exit_code"` // of the last command run; -1 if none ran or it died of a signal
	Commands []CommandResult `json:"commands"`
	Files    []File          `json:"files,omitempty"` // collected, as asked by Spec.Collect
	// MissingDependencies lists what made the run fail with
	// "dependency unavailable".
	MissingDependencies []string `json:"missing_dependencies,omitempty"`
	// Notes report problems collecting files.
	Notes           []string `json:"notes,omitempty"`
	Duration        Duration `json:"duration"`
	CPUTime         Duration `json:"cpu_time"`
	PeakMemoryBytes int64    `json:"peak_memory_bytes"`
	Backend         string   `json:"backend"`
	Language        string   `json:"language"`
	Limits          Limits   `json:"limits"` // as applied
}

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

// OutputChunk is a piece of a command's output, delivered while it runs.
type OutputChunk struct {
	Command int    `json:"command"` // index into Spec.Commands (as resolved)
	Name    string `json:"name"`
	Stream  Stream `json:"stream"`
	Data    []byte `json:"data"`
}

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
