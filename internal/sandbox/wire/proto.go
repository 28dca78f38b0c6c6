package wire

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
)

// HelperCommand is the hidden subcommand of the qlp binary that runs the
// helper (jail.ExecMain): `qlp sandbox-exec`. Its first argument is the
// mode: "run" inside the sandbox, "stage" and "cgexec" to launch one.
const HelperCommand = "sandbox-exec"

// The runner and the helper inside the sandbox talk over the helper's
// stdin (one JSON Request) and stdout (a stream of frames). The
// helper shares the sandbox with the program it runs, so the runner treats
// every frame as untrusted input: sizes are bounded, unknown frames are an
// error, and limits the helper reports are re-checked outside where
// possible (cgroup OOM counts, wall time).

// Request is everything the helper needs to carry out a run.
type Request struct {
	Root            string    `json:"root"`     // writable root (work, home, tmp live under it)
	WorkDir         string    `json:"work_dir"` // Root/work
	Files           []File    `json:"files"`
	Copies          []Copy    `json:"copies,omitempty"`
	Commands        []Command `json:"commands"`
	Collect         []string  `json:"collect,omitempty"`
	MaxCollectBytes int64     `json:"max_collect_bytes"`
	OutputBytes     int64     `json:"output_bytes"`
	Processes       int       `json:"processes"`
	DiskBytes       int64     `json:"disk_bytes"`
	CPUTime         Duration  `json:"cpu_time"`
	WallTime        Duration  `json:"wall_time"`
	// MemoryRlimit, when positive, is applied as RLIMIT_DATA because no
	// memory cgroup bounds the run.
	MemoryRlimit int64 `json:"memory_rlimit,omitempty"`
	// PIDNamespace: the helper is PID 1 of the run's own PID namespace,
	// so kill(-1) ends every other process of the run.
	PIDNamespace bool `json:"pid_namespace"`
	// Seccomp: install the filter in the helper (backends that cannot pass
	// it from outside).
	Seccomp bool `json:"seccomp"`
	// CommandCgroupFD, when positive, is an open file descriptor of the
	// command cgroup's tasks (v1) or cgroup.threads (v2) file: see
	// the service's runCgroup and the helper's startCommand.
	CommandCgroupFD int `json:"command_cgroup_fd,omitempty"`
}

// Copy is a directory tree the helper copies into the run before the
// first command (e.g. the seed of Go's build cache).
type Copy struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Command is one command of a Request as the service resolved it: its
// argument vector and its whole environment.
type Command struct {
	Name              string   `json:"name"`
	Args              []string `json:"args"`
	Env               []string `json:"env"`
	Stdin             string   `json:"stdin,omitempty"`
	Timeout           Duration `json:"timeout,omitempty"`
	ContinueOnFailure bool     `json:"continue_on_failure,omitempty"`
}

// Frame types sent by the helper.
const (
	FrameOutput  byte = 'o' // [command u16][stream u8][data]
	FrameStart   byte = 's' // JSON StartBody
	FrameCommand byte = 'c' // JSON CommandResult without stdout/stderr
	FrameFile    byte = 'f' // JSON File
	FrameNote    byte = 'n' // text: a problem collecting files
	FrameFatal   byte = 'x' // text: the helper could not go on
	FrameDone    byte = 'd' // empty
)

// MaxFrame is larger than any frame the helper legitimately sends; a
// larger one is refused unread.
const MaxFrame = 4 << 20

// StartBody is the payload of FrameStart: the command about to run.
type StartBody struct {
	Index int `json:"index"`
}

// Writer serialises frames from several goroutines.
type Writer struct {
	mu sync.Mutex
	w  io.Writer
}

// NewWriter returns a Writer of frames to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Send sends one frame of type typ whose payload is the concatenation of
// payload. (It is not an io.Writer: a frame is never split.)
func (fw *Writer) Send(typ byte, payload ...[]byte) error {
	n := 0
	for _, p := range payload {
		n += len(p)
	}
	buf := make([]byte, 5, 5+n)
	buf[0] = typ
	binary.BigEndian.PutUint32(buf[1:], uint32(n))
	for _, p := range payload {
		buf = append(buf, p...)
	}
	fw.mu.Lock()
	defer fw.mu.Unlock()
	_, err := fw.w.Write(buf)
	return err
}

// Output sends a piece of output of command cmd on stream s.
func (fw *Writer) Output(cmd int, s Stream, data []byte) error {
	hdr := []byte{byte(cmd >> 8), byte(cmd), 0}
	if s == Stderr {
		hdr[2] = 1
	}
	return fw.Send(FrameOutput, hdr, data)
}

// ReadFrame reads one frame; io.EOF means the helper closed its stdout.
func ReadFrame(r *bufio.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return 0, nil, fmt.Errorf("sandbox: helper output ends inside a frame header")
		}
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxFrame {
		return 0, nil, fmt.Errorf("sandbox: helper sent a %d-byte frame (limit %d)", n, MaxFrame)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, fmt.Errorf("sandbox: helper output ends inside a frame: %w", err)
	}
	return hdr[0], buf, nil
}

// ParseOutput splits the payload of a FrameOutput into the command's
// index, the stream and the data.
func ParseOutput(p []byte) (int, Stream, []byte, error) {
	if len(p) < 3 {
		return 0, "", nil, fmt.Errorf("sandbox: short output frame")
	}
	s := Stdout
	if p[2] == 1 {
		s = Stderr
	}
	return int(p[0])<<8 | int(p[1]), s, p[3:], nil
}
