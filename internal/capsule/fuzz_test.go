package capsule_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"io/fs"
	"maps"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quantumlayer/qlp/internal/capsule"
)

// seedEntry is one entry of a seed archive.
// FuzzReadArchive feeds arbitrary bytes to ReadArchive. It never panics; a
// refused archive yields no files; an accepted one holds only clean,
// relative, safe paths (or QLP's own two files), each within its limit,
// within the entry and total limits, and no name twice or link of any kind
// (checked against archive/zip's and archive/tar's own reading of it); and
// writing the files again in each format reads back the same files.
func FuzzReadArchive(f *testing.F) {
	zmain := zipEntry{name: "main.go", content: []byte("package main\n")}
	tmain := tarEntry{name: "main.go", content: []byte("package main\n")}
	zeros := make([]byte, 2<<20)
	for _, seed := range [][]byte{
		buildZip(f, zmain, zipEntry{name: "cmd/"}, zipEntry{name: "cmd/x.go", content: []byte("package x\n")}),
		buildTar(f, false, tmain, tarEntry{name: "./docs/", typeflag: tar.TypeDir}, tarEntry{name: "docs/a.md", content: []byte("# a\n")}),
		buildTar(f, true, tmain, tarEntry{name: capsule.ManifestFile, content: []byte("{}")}),
		// Hostile: traversal, absolute paths, backslashes, .git, links,
		// devices, duplicate names, a file also used as a directory, a
		// decompression bomb, entries that lie about their size.
		buildZip(f, zipEntry{name: "../../etc/passwd", content: []byte("x")}),
		buildZip(f, zipEntry{name: "/etc/passwd", content: []byte("x")}),
		buildZip(f, zipEntry{name: `..\..\evil.txt`, content: []byte("x")}),
		buildZip(f, zipEntry{name: ".git/hooks/pre-commit", content: []byte("x")}),
		buildZip(f, zipEntry{name: "link", mode: fs.ModeSymlink | 0o777, content: []byte("/etc/passwd")}),
		buildZip(f, zmain, zmain),
		buildZip(f, zipEntry{name: "a", content: []byte("x")}, zipEntry{name: "a/b", content: []byte("y")}),
		buildZip(f, zipEntry{name: "zeros.txt", content: zeros}),
		buildTar(f, false, tarEntry{name: "link", typeflag: tar.TypeSymlink, linkname: "/etc"}, tarEntry{name: "link/passwd", content: []byte("x")}),
		buildTar(f, false, tmain, tarEntry{name: "b.go", typeflag: tar.TypeLink, linkname: "/etc/shadow"}),
		buildTar(f, false, tarEntry{name: "dev", typeflag: tar.TypeChar}),
		buildTar(f, false, tmain, tarEntry{name: "./main.go", content: []byte("package evil\n")}),
		buildTar(f, true, tarEntry{name: "../x", typeflag: tar.TypeDir}),
		buildTar(f, true, tarEntry{name: "zeros.txt", content: zeros}),
		[]byte("PK\x05\x06\x00\x00\x00\x00\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
		{0x1f, 0x8b},
		[]byte("not an archive"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		files, err := capsule.ReadArchive(b)
		if err != nil {
			if files != nil {
				t.Fatalf("ReadArchive refused the archive (%v) but returned %d files", err, len(files))
			}
			return
		}
		if len(files) > capsule.MaxArchiveEntries {
			t.Fatalf("%d files, over the limit of %d", len(files), capsule.MaxArchiveEntries)
		}
		var total int64
		for p, content := range files {
			own := p == capsule.ManifestFile || p == capsule.ReportFile
			if !own {
				if err := capsule.CheckPath(p); err != nil {
					t.Fatalf("accepted path %q fails CheckPath: %v", p, err)
				}
			}
			if !filepath.IsLocal(p) || path.Clean(p) != p || strings.ContainsAny(p, "\\\x00:") {
				t.Fatalf("accepted path %q could escape the directory it is written to", p)
			}
			limit := int64(capsule.MaxEntryBytes)
			if own {
				limit = capsule.MaxQLPEntryBytes
			}
			if int64(len(content)) > limit {
				t.Fatalf("%s is %d bytes, over its limit of %d", p, len(content), limit)
			}
			total += int64(len(content))
			// A file whose path another file uses as a directory cannot be
			// written out.
			for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
				if _, ok := files[dir]; ok {
					t.Fatalf("%s is both a file and the directory of %s", dir, p)
				}
			}
		}
		if total > capsule.MaxArchiveTotal {
			t.Fatalf("%d bytes in all, over the limit of %d", total, capsule.MaxArchiveTotal)
		}
		checkAgainstStdlib(t, b)
		for _, format := range []string{capsule.FormatZip, capsule.FormatTar, capsule.FormatTarGz} {
			var buf bytes.Buffer
			if err := capsule.WriteArchive(&buf, format, files, time.Unix(0, 0)); err != nil {
				t.Fatalf("write the accepted files as %s: %v", format, err)
			}
			again, err := capsule.ReadArchive(buf.Bytes())
			if err != nil {
				t.Fatalf("the accepted files written as %s are refused: %v", format, err)
			}
			if !maps.EqualFunc(files, again, bytes.Equal) {
				t.Fatalf("the accepted files written as %s read back differently", format)
			}
		}
	})
}

// checkAgainstStdlib lists an accepted archive with archive/zip or
// archive/tar and fails on a link, a device or a name given twice.
func checkAgainstStdlib(t *testing.T, b []byte) {
	t.Helper()
	seen := map[string]bool{}
	see := func(name string, mode fs.FileMode) {
		if mode&(fs.ModeSymlink|fs.ModeDevice|fs.ModeCharDevice|fs.ModeNamedPipe|fs.ModeSocket|fs.ModeIrregular) != 0 {
			t.Fatalf("accepted an archive with %s of mode %s", name, mode)
		}
		if mode.IsDir() {
			return
		}
		if seen[name] {
			t.Fatalf("accepted an archive with %s twice", name)
		}
		seen[name] = true
	}
	if bytes.HasPrefix(b, []byte("PK")) {
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		for _, f := range zr.File {
			see(f.Name, f.Mode())
		}
		return
	}
	var r io.Reader = bytes.NewReader(b)
	if bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return
		}
		r = gz
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err != nil {
			return
		}
		if h.Typeflag == tar.TypeLink {
			t.Fatalf("accepted an archive with the hard link %s", h.Name)
		}
		see(strings.TrimPrefix(h.Name, "./"), h.FileInfo().Mode())
	}
}

// FuzzVerify feeds arbitrary manifests to Verify beside one file. It never
// panics; an intact verdict means every listed file matches, nothing is
// extra and the ed25519 signature holds over the canonical bytes; the
// canonical form is stable; and any manifest that decodes, once signed
// over the file, verifies as trusted and stops verifying when the file
// changes by one byte.
func FuzzVerify(f *testing.F) {
	signer := capsule.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)))
	content := []byte("package main\n")
	m := capsule.Manifest{SchemaVersion: capsule.SchemaVersion, ID: "c1", Version: 1, Name: "demo",
		Files: []capsule.ManifestFileEntry{{Path: "main.go", Role: capsule.RoleSource, Size: int64(len(content)), SHA256: capsule.Digest(content)}}}
	signed, err := signer.Sign(&m)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed, content)
	f.Add(signed, []byte("package evil\n"))
	f.Add(bytes.Replace(signed, []byte(`"demo"`), []byte(`"evil"`), 1), content)
	f.Add([]byte(`{"files":[{"path":"../../etc/passwd","size":1,"sha256":"x"}],"signature":{"algorithm":"ed25519","public_key":"!!","value":"x"}}`), content)
	f.Add([]byte(`{"signature":{"algorithm":"none"}}`), content)
	f.Add([]byte(`{"signature":{"algorithm":"ed25519","key_id":"0","public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","value":"AAAA"}}`), content)
	f.Add([]byte(`{"version":1e999}`), content)
	f.Add([]byte(`[]`), content)
	f.Add([]byte(`{"a":1}{"b":2}`), content)
	f.Fuzz(func(t *testing.T, manifest, content []byte) {
		files := map[string][]byte{capsule.ManifestFile: manifest, "main.go": content}
		v, err := capsule.Verify(files, signer.PublicKey())
		if err == nil {
			checkVerdict(t, v, manifest, files)
		} else if v != nil {
			t.Fatalf("Verify failed (%v) but returned a verdict", err)
		}
		if canon, err := capsule.CanonicalBytes(manifest); err == nil {
			again, err := capsule.CanonicalBytes(canon)
			if err != nil || !bytes.Equal(again, canon) {
				t.Fatalf("canonical bytes are not stable: %s then %s (%v)", canon, again, err)
			}
			var top map[string]json.RawMessage
			if err := json.Unmarshal(canon, &top); err != nil {
				t.Fatalf("canonical bytes are not a JSON object: %v", err)
			}
			if _, ok := top["signature"]; ok {
				t.Fatal("canonical bytes keep the signature")
			}
		}
		// Sign what decodes over the file, then check and tamper.
		var m capsule.Manifest
		if json.Unmarshal(manifest, &m) != nil {
			return
		}
		m.Files = []capsule.ManifestFileEntry{{Path: "main.go", Role: capsule.RoleSource, Size: int64(len(content)), SHA256: capsule.Digest(content)}}
		raw, err := signer.Sign(&m)
		if err != nil {
			t.Fatalf("sign a decoded manifest: %v", err)
		}
		files[capsule.ManifestFile] = raw
		v, err = capsule.Verify(files, signer.PublicKey())
		if err != nil || !v.OK() {
			t.Fatalf("a freshly signed manifest does not verify: %v %+v", err, v)
		}
		files["main.go"] = append(append([]byte(nil), content...), 'x')
		if v, err = capsule.Verify(files, signer.PublicKey()); err != nil || v.Intact() || v.Trusted {
			t.Fatalf("a changed file still verifies: %v %+v", err, v)
		}
	})
}

func checkVerdict(t *testing.T, v *capsule.Verification, manifest []byte, files map[string][]byte) {
	t.Helper()
	if v.Trusted && !v.Intact() {
		t.Fatalf("trusted but not intact: %v", v.Problems)
	}
	if v.Files > len(v.Manifest.Files) {
		t.Fatalf("%d files checked, %d listed", v.Files, len(v.Manifest.Files))
	}
	if !v.Intact() {
		return
	}
	listed := map[string]bool{capsule.ManifestFile: true}
	for _, e := range v.Manifest.Files {
		b, ok := files[e.Path]
		if !ok || int64(len(b)) != e.Size || capsule.Digest(b) != e.SHA256 {
			t.Fatalf("intact, but %s does not match the manifest", e.Path)
		}
		listed[e.Path] = true
	}
	for p := range files {
		if !listed[p] {
			t.Fatalf("intact, but %s is not in the manifest", p)
		}
	}
	sig := v.Manifest.Signature
	if sig == nil || sig.Algorithm != "ed25519" {
		t.Fatal("intact without an ed25519 signature")
	}
	pub, err := capsule.ParsePublicKey([]byte(sig.PublicKey))
	if err != nil {
		t.Fatalf("intact with a bad public key: %v", err)
	}
	canon, err := capsule.CanonicalBytes(manifest)
	if err != nil {
		t.Fatal(err)
	}
	var value []byte
	if err := json.Unmarshal([]byte(`"`+sig.Value+`"`), &value); err != nil || !ed25519.Verify(pub, canon, value) {
		t.Fatal("intact, but the signature does not hold")
	}
}
