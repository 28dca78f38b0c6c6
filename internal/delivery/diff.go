package delivery

import (
	"bytes"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	fdiff "github.com/go-git/go-git/v5/plumbing/format/diff"
	"github.com/go-git/go-git/v5/utils/diff"
	"github.com/sergi/go-diff/diffmatchpatch"
)

// File changes a FileDiff reports.
const (
	Added    = "added"
	Removed  = "removed"
	Modified = "modified"
)

// FileDiff is how one file differs between two versions of a capsule.
type FileDiff struct {
	Path string `json:"path"`
	// Change is added, removed or modified.
	Change string `json:"change"`
	// Binary files are noted, not diffed.
	Binary bool `json:"binary,omitempty"`
	// Diff is the file's part of a git-style unified diff (git apply and
	// patch -p1 take it); for a binary file, the "Binary files … differ"
	// line git writes.
	Diff string `json:"diff"`
}

// contextLines is what git diff shows around each change.
const contextLines = 3

// DiffFiles compares two sets of files (path → content) and returns the
// files that differ, by path. The diff is computed with go-git's line diff
// (Myers, through go-diff) and written by go-git's unified encoder, the
// format git apply reads.
func DiffFiles(from, to map[string][]byte) []FileDiff {
	paths := map[string]bool{}
	for p := range from {
		paths[p] = true
	}
	for p := range to {
		paths[p] = true
	}
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	var out []FileDiff
	for _, p := range sorted {
		a, inA := from[p]
		b, inB := to[p]
		if inA && inB && bytes.Equal(a, b) {
			continue
		}
		fp := &filePatch{binary: isBinary(a) || isBinary(b)}
		fd := FileDiff{Path: p, Change: Modified, Binary: fp.binary}
		switch {
		case !inA:
			fd.Change = Added
			fp.to = &patchFile{path: p, content: b}
		case !inB:
			fd.Change = Removed
			fp.from = &patchFile{path: p, content: a}
		default:
			fp.from, fp.to = &patchFile{path: p, content: a}, &patchFile{path: p, content: b}
		}
		if !fp.binary {
			for _, d := range diff.Do(string(a), string(b)) {
				op := fdiff.Equal
				switch d.Type {
				case diffmatchpatch.DiffInsert:
					op = fdiff.Add
				case diffmatchpatch.DiffDelete:
					op = fdiff.Delete
				}
				fp.chunks = append(fp.chunks, chunk{text: d.Text, op: op})
			}
		}
		var buf strings.Builder
		// Encode writes to a strings.Builder, which cannot fail.
		_ = fdiff.NewUnifiedEncoder(&buf, contextLines).Encode(patch{fp})
		fd.Diff = buf.String()
		out = append(out, fd)
	}
	return out
}

// Unified joins the files' diffs into one patch.
func Unified(files []FileDiff) string {
	var b strings.Builder
	for _, f := range files {
		b.WriteString(f.Diff)
	}
	return b.String()
}

// isBinary is git's test (a NUL byte in the first 8000) and text that is
// not UTF-8.
func isBinary(b []byte) bool {
	head := b
	if len(head) > 8000 {
		head = head[:8000]
	}
	return bytes.IndexByte(head, 0) >= 0 || !utf8.Valid(b)
}

// patch, filePatch, patchFile and chunk implement go-git's diff.Patch
// for the encoder.
type patch struct{ fp *filePatch }

func (p patch) FilePatches() []fdiff.FilePatch { return []fdiff.FilePatch{p.fp} }
func (p patch) Message() string                { return "" }

type filePatch struct {
	from, to *patchFile
	binary   bool
	chunks   []fdiff.Chunk
}

func (f *filePatch) IsBinary() bool { return f.binary }
func (f *filePatch) Files() (fdiff.File, fdiff.File) {
	// A nil *patchFile in an interface is not nil: the encoder tests
	// for nil to tell a new or deleted file.
	var from, to fdiff.File
	if f.from != nil {
		from = f.from
	}
	if f.to != nil {
		to = f.to
	}
	return from, to
}
func (f *filePatch) Chunks() []fdiff.Chunk { return f.chunks }

type patchFile struct {
	path    string
	content []byte
}

func (f *patchFile) Hash() plumbing.Hash {
	return plumbing.ComputeHash(plumbing.BlobObject, f.content)
}
func (f *patchFile) Mode() filemode.FileMode { return filemode.Regular }
func (f *patchFile) Path() string            { return f.path }

type chunk struct {
	text string
	op   fdiff.Operation
}

func (c chunk) Content() string       { return c.text }
func (c chunk) Type() fdiff.Operation { return c.op }
