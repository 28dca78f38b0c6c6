package sandbox

import (
	"context"

	"github.com/quantumlayer/qlp/internal/sandbox/wire"
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

// OutputChunk is a piece of a command's output, delivered while it runs.
type OutputChunk struct {
	Command int    `json:"command"` // index into Spec.Commands (as resolved)
	Name    string `json:"name"`
	Stream  Stream `json:"stream"`
	Data    []byte `json:"data"`
}

// The types a run's result shares with the helper inside the sandbox live
// in package wire, below both sides of the trust boundary; these aliases
// keep their names here for the callers of the service.
type (
	// File is one file of the project: see [wire.File].
	File = wire.File
	// CommandResult is the outcome of one command: see [wire.CommandResult].
	CommandResult = wire.CommandResult
	// Status classifies how a command or a run ended: see [wire.Status].
	Status = wire.Status
	// Stream names an output stream: see [wire.Stream].
	Stream = wire.Stream
	// Duration is a JSON-friendly time.Duration: see [wire.Duration].
	Duration = wire.Duration
	// SpecError is an invalid spec: see [wire.SpecError].
	SpecError = wire.SpecError
)

// The statuses a run or command can end with: see [wire.Status].
const (
	StatusCompleted      = wire.StatusCompleted
	StatusFailed         = wire.StatusFailed
	StatusTimeout        = wire.StatusTimeout
	StatusMemoryExceeded = wire.StatusMemoryExceeded
	StatusOutputExceeded = wire.StatusOutputExceeded
	StatusKilled         = wire.StatusKilled
	StatusError          = wire.StatusError
	StatusSkipped        = wire.StatusSkipped
)

// The output streams.
const (
	Stdout = wire.Stdout
	Stderr = wire.Stderr
)

// HelperCommand is the hidden subcommand of the qlp binary that runs the
// sandbox's helper (jail.ExecMain): `qlp sandbox-exec`. The backends start
// it for every run.
const HelperCommand = wire.HelperCommand
