package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode"
)

// The sandbox has no network, so a project can use only what the host
// already has. checkDependencies finds the dependencies a spec declares
// (Spec.Dependencies and its manifests) that this host cannot provide, so
// that the run fails up front with "dependency unavailable" instead of a
// confusing import error or a silent partial run.
func (r *Local) checkDependencies(ctx context.Context, s *Spec, lang *Language) []string {
	var missing []string
	add := func(name, why string) { missing = append(missing, name+" ("+why+")") }
	declared := append([]string(nil), s.Dependencies...)
	switch lang.Name {
	case "python":
		for _, f := range s.Files {
			if path := f.Path; path == "requirements.txt" {
				declared = append(declared, parseRequirements(string(f.Content))...)
			}
		}
		for _, d := range uniq(declared) {
			if !r.pythonHas(ctx, lang, d) {
				add(d, "python package not installed on this host")
			}
		}
	case "javascript", "typescript":
		for _, f := range s.Files {
			if f.Path == "package.json" {
				declared = append(declared, packageJSONDeps(f.Content)...)
			}
		}
		for _, d := range uniq(declared) {
			if lang.Name == "typescript" && d == "typescript" {
				continue // tsc is the host's
			}
			if !nodeHas(s, d) {
				add(d, "npm package neither in the project's node_modules nor installed on this host")
			}
		}
	case "go":
		mods := declared
		for _, f := range s.Files {
			if f.Path == "go.mod" {
				mods = append(mods, goModRequires(string(f.Content))...)
			}
		}
		cache := lang.env["GOMODCACHE"]
		for _, m := range uniq(mods) {
			if !goModuleCached(cache, m) {
				add(m, "Go module not in the host's module cache")
			}
		}
	case "rust":
		for _, f := range s.Files {
			if f.Path == "Cargo.toml" {
				declared = append(declared, cargoDeps(string(f.Content))...)
			}
		}
		for _, d := range uniq(declared) {
			add(d, "crates cannot be fetched offline")
		}
	default:
		for _, d := range uniq(declared) {
			add(d, lang.Name+" dependencies cannot be installed offline")
		}
	}
	sort.Strings(missing)
	return missing
}

func uniq(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

var reqName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*`)

// parseRequirements returns the distribution names in a requirements.txt.
func parseRequirements(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		line, _, _ = strings.Cut(line, "#")
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "-") {
			continue
		}
		if m := reqName.FindString(line); m != "" {
			out = append(out, m)
		}
	}
	return out
}

// pythonHas asks the host's interpreter whether a distribution (or, failing
// that, a module of that name) is installed. Answers are cached.
func (r *Local) pythonHas(ctx context.Context, lang *Language, name string) bool {
	name = reqName.FindString(name)
	if name == "" {
		return false
	}
	r.depMu.Lock()
	v, ok := r.depCache["py:"+name]
	r.depMu.Unlock()
	if ok {
		return v
	}
	py := "/usr/bin/python3"
	if len(lang.pathDirs) > 0 {
		py = filepath.Join(lang.pathDirs[0], "python3")
	}
	mod := strings.Map(func(c rune) rune {
		if c == '-' || c == '.' {
			return '_'
		}
		return unicode.ToLower(c)
	}, name)
	script := fmt.Sprintf(`import importlib.metadata as m, importlib.util as u, sys
try:
    m.version(%q); sys.exit(0)
except Exception:
    sys.exit(0 if u.find_spec(%q) else 1)`, name, mod)
	_, err := probe(ctx, py, "-c", script)
	has := err == nil
	r.depMu.Lock()
	r.depCache["py:"+name] = has
	r.depMu.Unlock()
	return has
}

func packageJSONDeps(b []byte) []string {
	var pj struct {
		Dependencies    map[string]string `json:"dependencies"`
		DevDependencies map[string]string `json:"devDependencies"`
	}
	if json.Unmarshal(b, &pj) != nil {
		return nil
	}
	var out []string
	for k := range pj.Dependencies {
		out = append(out, k)
	}
	for k := range pj.DevDependencies {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func nodeHas(s *Spec, name string) bool {
	if strings.HasPrefix(name, "node:") {
		return true
	}
	for _, f := range s.Files {
		if strings.HasPrefix(f.Path, "node_modules/"+name+"/") {
			return true
		}
	}
	for _, d := range nodeGlobalDirs {
		if fi, err := os.Stat(filepath.Join(d, filepath.FromSlash(name))); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

// goModRequires returns "path@version" for every requirement of a go.mod.
func goModRequires(s string) []string {
	var out []string
	block := false
	for _, line := range strings.Split(s, "\n") {
		line, _, _ = strings.Cut(line, "//")
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case block && f[0] == ")":
			block = false
		case block && len(f) >= 2:
			out = append(out, f[0]+"@"+f[1])
		case f[0] == "require" && len(f) >= 2 && f[1] == "(":
			block = true
		case f[0] == "require" && len(f) >= 3:
			out = append(out, f[1]+"@"+f[2])
		}
	}
	return out
}

// goModuleCached reports whether path@version (or any version of path) is
// in the module cache.
func goModuleCached(cache, mod string) bool {
	if cache == "" {
		return false
	}
	p, v, _ := strings.Cut(mod, "@")
	esc := escapeModPath(p)
	dl := filepath.Join(cache, "cache", "download", filepath.FromSlash(esc), "@v")
	if v == "" {
		entries, err := os.ReadDir(dl)
		return err == nil && len(entries) > 0
	}
	_, err := os.Stat(filepath.Join(dl, v+".zip"))
	if err != nil {
		_, err = os.Stat(filepath.Join(dl, v+".mod"))
	}
	return err == nil
}

// escapeModPath applies the module cache's case encoding ("!" + lower).
func escapeModPath(p string) string {
	var b strings.Builder
	for _, c := range p {
		if unicode.IsUpper(c) {
			b.WriteByte('!')
			b.WriteRune(unicode.ToLower(c))
		} else {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// cargoDeps returns the crate names under [dependencies],
// [dev-dependencies] and [build-dependencies].
func cargoDeps(s string) []string {
	var out []string
	in := false
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			sec := strings.Trim(line, "[] ")
			in = sec == "dependencies" || sec == "dev-dependencies" || sec == "build-dependencies"
			continue
		}
		if in && line != "" && !strings.HasPrefix(line, "#") {
			if name, _, ok := strings.Cut(line, "="); ok {
				out = append(out, strings.TrimSpace(name))
			}
		}
	}
	return out
}
