package capsule

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Limits on reading an archive. An archive comes from a file or a server
// the reader does not control, so what it claims (entry counts and sizes in
// its headers) is not trusted: the reader counts the bytes it actually
// decompresses and the compressed bytes it actually consumed, and stops as
// soon as either goes past a limit, before the memory is spent.
const (
	// MaxArchiveEntries bounds the entries of an archive, directories
	// included (MaxFiles project files, their directories and QLP's own).
	MaxArchiveEntries = 2*MaxFiles + 24
	// MaxEntryBytes bounds one project file read from an archive: a
	// capsule's files are at most MaxFileBytes; README.md gets QLP's section
	// appended.
	MaxEntryBytes = MaxFileBytes + 1<<20
	// MaxQLPEntryBytes bounds each file QLP writes itself (OwnFile).
	MaxQLPEntryBytes = 8 << 20
	// MaxArchiveTotal bounds the bytes of all entries together.
	MaxArchiveTotal = MaxTotal + 2*MaxQLPEntryBytes
	// MaxArchiveBytes bounds the archive itself (tar headers add up to a few
	// KiB an entry).
	MaxArchiveBytes = MaxArchiveTotal + MaxArchiveEntries*4<<10
	// MaxExpansion bounds how many bytes an archive may decompress to per
	// compressed byte consumed, past the first ExpansionAllowance bytes
	// (small, very regular files compress far better than source code).
	// Source code deflates 3-10 times; a zip bomb thousands of times.
	MaxExpansion       = 100
	ExpansionAllowance = 1 << 20
)

// ReadArchive reads a zip, tar or tar.gz archive (detected from its first
// bytes) into a map of files. It refuses, with an error naming the entry:
// more than MaxArchiveEntries entries, an entry larger than MaxEntryBytes
// (MaxQLPEntryBytes for the files QLP writes itself), more than
// MaxArchiveTotal bytes in all, an archive that decompresses to more than
// MaxExpansion times what it consumed (a decompression bomb), entries that
// are not regular files or directories (links, devices), unsafe paths (of
// directories too), a name given twice and a name used both for a file
// and for a directory.
func ReadArchive(b []byte) (map[string][]byte, error) {
	if len(b) > MaxArchiveBytes {
		return nil, fmt.Errorf("capsule: archive is %d bytes, over the %d limit of a capsule", len(b), MaxArchiveBytes)
	}
	switch {
	case bytes.HasPrefix(b, []byte("PK\x03\x04")) || bytes.HasPrefix(b, []byte("PK\x05\x06")):
		return readZip(b)
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		in := &countingReader{r: bytes.NewReader(b)}
		gz, err := gzip.NewReader(in)
		if err != nil {
			return nil, fmt.Errorf("capsule: gzip: %w", err)
		}
		return readTar(gz, in)
	case len(b) > 262 && string(b[257:262]) == "ustar":
		in := &countingReader{r: bytes.NewReader(b)}
		return readTar(in, in)
	default:
		return nil, errors.New("capsule: not a zip, tar or tar.gz archive")
	}
}

// ReadArchiveBytes reads an archive's bytes from r (a file, a download),
// refusing one larger than MaxArchiveBytes before holding it in memory.
func ReadArchiveBytes(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxArchiveBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxArchiveBytes {
		return nil, fmt.Errorf("capsule: archive is larger than %d bytes, the limit of a capsule", MaxArchiveBytes)
	}
	return b, nil
}

// reader holds what an archive has cost so far.
type reader struct {
	consumed func() int64 // compressed bytes read from the archive so far
	entries  int
	total    int64 // bytes decompressed so far
	files    map[string][]byte
	dirs     map[string]bool // every directory a name puts a file in, and directory entries
	chunk    []byte
}

func newReader(consumed func() int64) *reader {
	return &reader{consumed: consumed, files: map[string][]byte{}, dirs: map[string]bool{}, chunk: make([]byte, 32<<10)}
}

// entry counts one more entry and checks its name: a directory's (which
// holds no data) or a file's.
func (r *reader) entry(name string, dir bool) error {
	r.entries++
	if r.entries > MaxArchiveEntries {
		return fmt.Errorf("capsule: archive has more than %d entries, more than a capsule holds", MaxArchiveEntries)
	}
	if dir {
		name = strings.TrimSuffix(name, "/")
		if name == "" || name == "." {
			return nil // the archive's root
		}
		if err := CheckPath(name); err != nil {
			return fmt.Errorf("capsule: archive directory entry: %w", err)
		}
		return r.directory(name)
	}
	if !OwnFile(name) {
		if err := CheckPath(name); err != nil {
			return fmt.Errorf("capsule: archive entry: %w", err)
		}
	}
	if _, dup := r.files[name]; dup {
		return fmt.Errorf("capsule: archive has %s twice", name)
	}
	if r.dirs[name] {
		return fmt.Errorf("capsule: archive has %s both as a file and as a directory", name)
	}
	if d := path.Dir(name); d != "." {
		return r.directory(d)
	}
	return nil
}

// directory records dir and its parents as directories, refusing one that
// is a file already: such an archive cannot be written out as a tree.
func (r *reader) directory(dir string) error {
	for ; dir != "." && !r.dirs[dir]; dir = path.Dir(dir) {
		if _, isFile := r.files[dir]; isFile {
			return fmt.Errorf("capsule: archive has %s both as a file and as a directory", dir)
		}
		r.dirs[dir] = true
	}
	return nil
}

func entryLimit(name string) int64 {
	if OwnFile(name) {
		return MaxQLPEntryBytes
	}
	return MaxEntryBytes
}

// read reads one entry's content, checking the limits as the bytes come.
// claimed is the size the entry's header states: a claim over the limit is
// refused at once, but a smaller claim is not trusted.
func (r *reader) read(name string, claimed int64, src io.Reader) error {
	limit := entryLimit(name)
	if claimed > limit {
		return fmt.Errorf("capsule: archive entry %s is larger than %d bytes (its header says %d)", name, limit, claimed)
	}
	start := r.consumed()
	// The buffer grows with what is read, never with what a header claims.
	var buf bytes.Buffer
	for {
		n, err := src.Read(r.chunk)
		if n > 0 {
			buf.Write(r.chunk[:n])
			r.total += int64(n)
			in := r.consumed()
			switch size := int64(buf.Len()); {
			case size > limit:
				return fmt.Errorf("capsule: archive entry %s is larger than %d bytes", name, limit)
			case r.total > MaxArchiveTotal:
				return fmt.Errorf("capsule: archive holds more than %d bytes, more than a capsule holds", MaxArchiveTotal)
			case size > MaxExpansion*(in-start)+ExpansionAllowance:
				return fmt.Errorf("capsule: archive entry %s expands to more than %d bytes from %d compressed, over %d times (a decompression bomb?)",
					name, size, in-start, MaxExpansion)
			case r.total > MaxExpansion*in+ExpansionAllowance:
				return fmt.Errorf("capsule: archive expands to more than %d bytes from %d compressed, over %d times (a decompression bomb?); stopped at entry %s",
					r.total, in, MaxExpansion, name)
			}
		}
		if errors.Is(err, io.EOF) {
			r.files[name] = buf.Bytes()
			return nil
		}
		if errors.Is(err, zip.ErrFormat) || errors.Is(err, zip.ErrChecksum) {
			return fmt.Errorf("capsule: archive entry %s does not match its header (size or CRC-32): %w", name, err)
		}
		if err != nil {
			return fmt.Errorf("capsule: archive entry %s: %w", name, err)
		}
	}
}

func readZip(b []byte) (map[string][]byte, error) {
	// zip.NewReader allocates every central directory record up front, so
	// the count the end record states is checked first.
	if n, ok := zipRecordCount(b); ok && n > MaxArchiveEntries {
		return nil, fmt.Errorf("capsule: zip has %d entries, more than the %d a capsule holds", n, MaxArchiveEntries)
	}
	ra := &countingReaderAt{r: bytes.NewReader(b)}
	zr, err := zip.NewReader(ra, int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("capsule: zip: %w", err)
	}
	if len(zr.File) > MaxArchiveEntries {
		return nil, fmt.Errorf("capsule: zip has %d entries, more than the %d a capsule holds", len(zr.File), MaxArchiveEntries)
	}
	ra.n = 0 // from here on, count only what the entries' data consumes
	r := newReader(func() int64 { return ra.n })
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			if err := r.entry(f.Name, true); err != nil {
				return nil, err
			}
			continue
		}
		if !f.Mode().IsRegular() {
			return nil, fmt.Errorf("capsule: zip entry %s is not a regular file (%s)", f.Name, f.Mode().Type())
		}
		if err := r.entry(f.Name, false); err != nil {
			return nil, err
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("capsule: zip %s: %w", f.Name, err)
		}
		claimed := int64(min(f.UncompressedSize64, 1<<62))
		err = r.read(f.Name, claimed, rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
	}
	return r.files, nil
}

// zipRecordCount reads the number of entries the end of central directory
// record states, found the way archive/zip finds it. ok is false when there
// is no such record (zip.NewReader then reports the error). A count of
// 0xFFFF means a ZIP64 archive with at least that many entries.
func zipRecordCount(b []byte) (n int, ok bool) {
	const endLen = 22
	lo := max(0, len(b)-(endLen+0xFFFF))
	for i := len(b) - endLen; i >= lo; i-- {
		if b[i] == 'P' && b[i+1] == 'K' && b[i+2] == 0x05 && b[i+3] == 0x06 {
			return int(binary.LittleEndian.Uint16(b[i+10:])), true
		}
	}
	return 0, false
}

func readTar(src io.Reader, in *countingReader) (map[string][]byte, error) {
	tr := tar.NewReader(src)
	r := newReader(func() int64 { return in.n })
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return r.files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("capsule: tar: %w", err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		switch h.Typeflag {
		case tar.TypeDir:
			if err := r.entry(name, true); err != nil {
				return nil, err
			}
			continue
		case tar.TypeReg:
		default:
			return nil, fmt.Errorf("capsule: tar entry %s is not a regular file (type %q)", h.Name, h.Typeflag)
		}
		if err := r.entry(name, false); err != nil {
			return nil, err
		}
		if err := r.read(name, h.Size, tr); err != nil {
			return nil, err
		}
	}
}

// countingReader counts the bytes read through it. It is an io.ByteReader
// so that a decompressor reads exactly what it needs from it (without a
// buffer of its own reading ahead).
type countingReader struct {
	r *bytes.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r *bytes.Reader
	n int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}
