package validation

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/vocab"
)

// checkRequest rejects what cannot be validated, naming the field: an
// unknown language, an empty project, paths that leave the project,
// duplicate paths, binary files and files over the size limits. It
// returns the project the checks work on.
func (c *Config) checkRequest(req Request) (*project, error) {
	lang, ok := vocab.NormalizeLanguage(req.Language)
	switch {
	case req.Language == "":
		return nil, reqErr("language", "must be set (one of %s)", strings.Join(vocab.Languages(), ", "))
	case !ok:
		return nil, reqErr("language", "unknown language %q (one of %s)", req.Language, strings.Join(vocab.Languages(), ", "))
	case len(req.Files) == 0:
		return nil, reqErr("files", "the project is empty: at least one file is required")
	case len(req.Files) > c.MaxFiles:
		return nil, reqErr("files", "%d files, over the limit of %d", len(req.Files), c.MaxFiles)
	}
	p := &project{lang: lang, req: req, files: make(map[string]string, len(req.Files))}
	var total int64
	for i, f := range req.Files {
		field := "files[" + itoa(i) + "]"
		if err := capsule.CheckPath(f.Path); err != nil {
			return nil, reqErr(field+".path", "%v", err)
		}
		if _, dup := p.files[f.Path]; dup {
			return nil, reqErr(field+".path", "%q appears twice", f.Path)
		}
		if int64(len(f.Content)) > c.MaxFileBytes {
			return nil, reqErr(field+".content", "%s is %d bytes, over the limit of %d bytes per file", f.Path, len(f.Content), c.MaxFileBytes)
		}
		if binary(f.Content) {
			return nil, reqErr(field+".content", "%s is a binary file (NUL bytes or invalid UTF-8); only text files can be validated", f.Path)
		}
		total += int64(len(f.Content))
		p.files[f.Path] = f.Content
	}
	if total > c.MaxTotalBytes {
		return nil, reqErr("files", "%d bytes of files, over the limit of %d", total, c.MaxTotalBytes)
	}
	for i, d := range req.Dependencies {
		if strings.TrimSpace(d) == "" || strings.ContainsAny(d, "\n\x00") {
			return nil, reqErr("dependencies["+itoa(i)+"]", "must be a non-empty single line")
		}
	}
	for _, cmd := range []struct{ name, v string }{{"build", req.Commands.Build}, {"test", req.Commands.Test}, {"run", req.Commands.Run}} {
		if len(cmd.v) > 4096 || strings.ContainsAny(cmd.v, "\n\x00") {
			return nil, reqErr("commands."+cmd.name, "must be a single line of at most 4096 bytes")
		}
	}
	p.paths = make([]string, 0, len(p.files))
	for n := range p.files {
		p.paths = append(p.paths, n)
	}
	sort.Strings(p.paths)
	p.hash = p.contentHash()
	return p, nil
}

// binary reports whether content is not text: NUL bytes or invalid UTF-8.
func binary(s string) bool {
	return strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s)
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	if i == 0 {
		return "0"
	}
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}

// project is a checked request.
type project struct {
	lang  string
	req   Request
	files map[string]string
	paths []string // sorted
	hash  string
	// pkgs, when set, narrows a check cached in parts to these units (Go
	// package directories, or files): the ones whose results are not
	// cached.
	pkgs []string
}

// goPackageArgs are the package patterns a per-package Go check runs on:
// ./... for the whole project, else the packages in scope.
func (p *project) goPackageArgs() []string {
	if p.pkgs == nil {
		return []string{"./..."}
	}
	out := make([]string, len(p.pkgs))
	for i, d := range p.pkgs {
		out[i] = "./" + d
		if d == "." {
			out[i] = "."
		}
	}
	return out
}

// scopeFiles are the files with the extensions a check cached in parts
// reads: all of them, or those in scope (named, or in a directory named).
func (p *project) scopeFiles(exts ...string) []string {
	all := p.withExt(exts...)
	if p.pkgs == nil {
		return all
	}
	var out []string
	for _, n := range all {
		if contains(p.pkgs, n) || contains(p.pkgs, path.Dir(n)) {
			out = append(out, n)
		}
	}
	return out
}

// contentHash covers everything a check's result depends on besides the
// tool: language, files, commands, declared dependencies, partial.
func (p *project) contentHash() string {
	h := sha256.New()
	w := func(s string) {
		h.Write([]byte(itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	w(p.lang)
	for _, n := range p.paths {
		w(n)
		w(p.files[n])
	}
	w(p.req.Commands.Build)
	w(p.req.Commands.Test)
	w(p.req.Commands.Run)
	deps := append([]string(nil), p.req.Dependencies...)
	sort.Strings(deps)
	w(strings.Join(deps, "\n"))
	if p.req.Partial {
		w("partial")
	}
	if p.req.SkipTests {
		w("skip-tests")
	}
	if p.req.Quick {
		w("quick")
	}
	return hex.EncodeToString(h.Sum(nil))
}

// withExt lists the project's files with one of the extensions, sorted.
func (p *project) withExt(exts ...string) []string {
	var out []string
	for _, n := range p.paths {
		for _, e := range exts {
			if strings.HasSuffix(n, e) && !vendored(n) {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

// vendored paths hold third-party or generated code the checks leave alone.
func vendored(p string) bool {
	for _, d := range []string{"node_modules/", "vendor/", "dist/", "build/", "target/", ".venv/", "venv/"} {
		if strings.HasPrefix(p, d) || strings.Contains(p, "/"+d) {
			return true
		}
	}
	return false
}

// has reports whether the project has the file.
func (p *project) has(name string) bool { _, ok := p.files[name]; return ok }

// rel maps a path a tool printed (relative, "./x", or absolute inside the
// sandbox) to the project's path.
func (p *project) rel(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	c := path.Clean(strings.TrimPrefix(s, "./"))
	if p.has(c) {
		return c
	}
	parts := strings.Split(strings.TrimPrefix(c, "/"), "/")
	for i := 1; i < len(parts); i++ {
		if cand := strings.Join(parts[i:], "/"); p.has(cand) {
			return cand
		}
	}
	if i := strings.Index(c, "/work/"); i >= 0 {
		return c[i+len("/work/"):]
	}
	return c
}
