package capsule_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"hash/crc32"
	"io/fs"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/capsule"
)

// zipEntry is one entry of a hand-built zip: a name, a mode and content,
// or (raw) the same precompressed content repeated without compressing it
// again, which is how a decompression bomb is built cheaply.
type zipEntry struct {
	name    string
	mode    fs.FileMode // 0: a regular file (a directory when the name ends in /)
	content []byte
}

func buildZip(t testing.TB, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		switch {
		case e.mode != 0:
			h.SetMode(e.mode)
		case strings.HasSuffix(e.name, "/"):
			h.SetMode(fs.ModeDir | 0o755)
		default:
			h.SetMode(0o644)
		}
		w, err := zw.CreateHeader(h)
		require.NoError(t, err)
		_, err = w.Write(e.content)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// zipBomb is n entries of size zero bytes each, written raw: the deflated
// block is computed once, so building 1.5 GB of entries costs 1 MiB of work.
func zipBomb(t *testing.T, n int, size int) []byte { return lyingZipBomb(t, n, size, size) }

// lyingZipBomb is zipBomb whose headers claim each entry holds claimed bytes.
func lyingZipBomb(t *testing.T, n, size, claimed int) []byte {
	t.Helper()
	zeros := make([]byte, size)
	var comp bytes.Buffer
	fw, err := flate.NewWriter(&comp, flate.BestSpeed)
	require.NoError(t, err)
	_, err = fw.Write(zeros)
	require.NoError(t, err)
	require.NoError(t, fw.Close())
	crc := crc32.ChecksumIEEE(zeros)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range n {
		h := &zip.FileHeader{Name: "zero" + strconv.Itoa(i) + ".txt", Method: zip.Deflate, CRC32: crc,
			CompressedSize64: uint64(comp.Len()), UncompressedSize64: uint64(claimed)}
		h.SetMode(0o644)
		w, err := zw.CreateRaw(h)
		require.NoError(t, err)
		_, err = w.Write(comp.Bytes())
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

type tarEntry struct {
	name     string
	typeflag byte
	linkname string
	content  []byte
}

func buildTar(t testing.TB, gz bool, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w = &buf
	var gzw *gzip.Writer
	var tw *tar.Writer
	if gz {
		gzw, _ = gzip.NewWriterLevel(w, gzip.BestSpeed)
		tw = tar.NewWriter(gzw)
	} else {
		tw = tar.NewWriter(w)
	}
	for _, e := range entries {
		tf := e.typeflag
		if tf == 0 {
			tf = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Typeflag: tf, Linkname: e.linkname, Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if tf == tar.TypeReg {
			h.Size = int64(len(e.content))
		}
		require.NoError(t, tw.WriteHeader(h))
		if tf == tar.TypeReg {
			_, err := tw.Write(e.content)
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	if gzw != nil {
		require.NoError(t, gzw.Close())
	}
	return buf.Bytes()
}

func manyTar(n, size int, fill func([]byte)) []tarEntry {
	out := make([]tarEntry, n)
	for i := range out {
		b := make([]byte, size)
		if fill != nil {
			fill(b)
		}
		out[i] = tarEntry{name: "f" + strconv.Itoa(i) + ".txt", content: b}
	}
	return out
}

func random(b []byte) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte('a' + r.IntN(26))
	}
}

// allocated returns how many bytes fn allocated on the heap in total.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestReadArchiveRefusesHostileArchives feeds the reader archives built to
// hurt it: decompression bombs (the 1,500 × 1 MiB zip of the report among
// them), too many entries, entries too large, unsafe directory entries,
// links and duplicates. Each must be refused with an error naming the
// problem, and reading must stay within a bounded amount of memory however
// much the archive claims to hold.
func TestReadArchiveRefusesHostileArchives(t *testing.T) {
	const maxAlloc = 96 << 20
	tests := []struct {
		name    string
		archive func(t *testing.T) []byte
		want    string
		alloc   uint64 // 0: maxAlloc
	}{
		{"zip of 1,500 zero-filled 1 MiB entries", func(t *testing.T) []byte { return zipBomb(t, 1500, 1<<20) }, "entries", 0},
		{"zip of 200 zero-filled 1 MiB entries", func(t *testing.T) []byte { return zipBomb(t, 200, 1<<20) }, "decompression bomb", 0},
		{"zip of one 16 MiB zero-filled entry", func(t *testing.T) []byte { return zipBomb(t, 1, 16<<20) }, "zero0.txt is larger than", 0},
		{"zip of one 16 MiB zero-filled entry claiming 1 KiB", func(t *testing.T) []byte { return lyingZipBomb(t, 1, 16<<20, 1<<10) }, "zero0.txt", 0},
		{"zip of 300 zero-filled 1 MiB entries claiming 1 KiB", func(t *testing.T) []byte { return lyingZipBomb(t, 300, 1<<20, 1<<10) }, "zero0.txt", 0},
		{"zip of 3,000 empty entries", func(t *testing.T) []byte { return zipBomb(t, 3000, 0) }, "entries", 0},
		{"tar.gz of 100 zero-filled 1 MiB entries", func(t *testing.T) []byte { return buildTar(t, true, manyTar(100, 1<<20, nil)...) }, "decompression bomb", 0},
		{"tar of 3,000 small entries", func(t *testing.T) []byte { return buildTar(t, false, manyTar(3000, 1, nil)...) }, "entries", 0},
		{"tar of a 3 MiB entry", func(t *testing.T) []byte { return buildTar(t, false, manyTar(1, 3<<20, random)...) }, "f0.txt is larger than", 0},
		{"tar.gz of a 3 MiB entry", func(t *testing.T) []byte { return buildTar(t, true, manyTar(1, 3<<20, random)...) }, "f0.txt is larger than", 0},
		{"tar of 38 entries of 1 MiB", func(t *testing.T) []byte {
			return buildTar(t, false, manyTar(38, 1<<20, func(b []byte) { copy(b, bytes.Repeat([]byte("x"), len(b))) })...)
		}, "more than", 160 << 20},
		{"zip directory entry leaving the tree", func(t *testing.T) []byte {
			return buildZip(t, zipEntry{name: "../../evil/"}, zipEntry{name: "main.go", content: []byte("package main\n")})
		}, "leaves its directory", 0},
		{"tar directory entry leaving the tree", func(t *testing.T) []byte {
			return buildTar(t, false, tarEntry{name: "../../evil/", typeflag: tar.TypeDir}, tarEntry{name: "main.go", content: []byte("x")})
		}, "leaves its directory", 0},
		{"tar.gz absolute directory entry", func(t *testing.T) []byte {
			return buildTar(t, true, tarEntry{name: "/etc/", typeflag: tar.TypeDir})
		}, "absolute", 0},
		{"zip symlink", func(t *testing.T) []byte {
			return buildZip(t, zipEntry{name: "link", mode: fs.ModeSymlink | 0o777, content: []byte("/etc/passwd")})
		}, "not a regular file", 0},
		{"tar symlink", func(t *testing.T) []byte {
			return buildTar(t, false, tarEntry{name: "link", typeflag: tar.TypeSymlink, linkname: "/etc/passwd"})
		}, "not a regular file", 0},
		{"tar hard link", func(t *testing.T) []byte {
			return buildTar(t, false, tarEntry{name: "a.txt", content: []byte("x")}, tarEntry{name: "b.txt", typeflag: tar.TypeLink, linkname: "a.txt"})
		}, "not a regular file", 0},
		{"zip duplicate names", func(t *testing.T) []byte {
			return buildZip(t, zipEntry{name: "main.go", content: []byte("a")}, zipEntry{name: "main.go", content: []byte("b")})
		}, "main.go twice", 0},
		{"tar duplicate names", func(t *testing.T) []byte {
			return buildTar(t, false, tarEntry{name: "main.go", content: []byte("a")}, tarEntry{name: "./main.go", content: []byte("b")})
		}, "main.go twice", 0},
		// Found by FuzzReadArchive: a file also used as a directory.
		{"zip file used as a directory after", func(t *testing.T) []byte {
			return buildZip(t, zipEntry{name: "a", content: []byte("x")}, zipEntry{name: "a/b", content: []byte("y")})
		}, "a both as a file and as a directory", 0},
		{"tar file used as a directory before", func(t *testing.T) []byte {
			return buildTar(t, false, tarEntry{name: "a/b/c.go", content: []byte("y")}, tarEntry{name: "a/b", content: []byte("x")})
		}, "a/b both as a file and as a directory", 0},
		{"tar directory entry over a file", func(t *testing.T) []byte {
			return buildTar(t, true, tarEntry{name: "a", content: []byte("x")}, tarEntry{name: "a/", typeflag: tar.TypeDir})
		}, "a both as a file and as a directory", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			archive := tt.archive(t)
			var err error
			used := allocated(func() { _, err = capsule.ReadArchive(archive) })
			require.Error(t, err, "a hostile archive must be refused")
			require.ErrorContains(t, err, tt.want)
			bound := tt.alloc
			if bound == 0 {
				bound = maxAlloc
			}
			t.Logf("%v; allocated %d KiB", err, used>>10)
			require.Less(t, used, bound, "reading allocated %d MiB", used>>20)
		})
	}
}

// TestReadArchiveAcceptsSafeDirectoryEntries: archives made by ordinary
// tools list directories; safe ones are fine.
func TestReadArchiveAcceptsSafeDirectoryEntries(t *testing.T) {
	for name, archive := range map[string][]byte{
		"zip": buildZip(t, zipEntry{name: "cmd/"}, zipEntry{name: "cmd/main.go", content: []byte("package main\n")}),
		"tar": buildTar(t, false, tarEntry{name: "./cmd/", typeflag: tar.TypeDir}, tarEntry{name: "./cmd/main.go", content: []byte("package main\n")}),
	} {
		t.Run(name, func(t *testing.T) {
			files, err := capsule.ReadArchive(archive)
			require.NoError(t, err)
			require.Equal(t, map[string][]byte{"cmd/main.go": []byte("package main\n")}, files)
		})
	}
}

// TestReadArchiveRefusesOversizedInput: the archive itself is bounded before
// anything is decompressed.
func TestReadArchiveRefusesOversizedInput(t *testing.T) {
	big := make([]byte, capsule.MaxArchiveBytes+1)
	copy(big, "PK\x03\x04")
	_, err := capsule.ReadArchive(big)
	require.ErrorContains(t, err, "archive is")
}
