package capsule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/parser"
	"go/token"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/uuid"
	"golang.org/x/mod/modfile"
)

// SBOMFile is the capsule's software bill of materials: CycloneDX 1.6 JSON.
const SBOMFile = "qlp-sbom.cdx.json"

// SBOMSpecVersion is the CycloneDX version of SBOMFile.
const SBOMSpecVersion = "1.6"

// LicenceUnknown is what the SBOM says of a dependency whose licence no
// file of the capsule states. QLP does not look licences up in registries,
// and never guesses one.
const LicenceUnknown = "unknown: no file of the capsule states it, and QLP does not look licences up"

// Properties QLP sets on SBOM components.
const (
	propSource     = "qlp:source"     // where the dependency was found: go.mod, requirements.txt, import in main.go…
	propKind       = "qlp:kind"       // declared|detected
	propConstraint = "qlp:constraint" // a version range as written (the version itself is then unknown)
	propLicence    = "qlp:licence"    // set when the licence is unknown
	kindDeclared   = "declared"
	kindDetected   = "detected"
)

// dep is one dependency found in a capsule's files.
type dep struct {
	ecosystem  string // purl type: golang, pypi, npm, cargo, maven, generic
	name       string
	version    string // exact version, or ""
	constraint string // a range as written, when not exact
	licence    string // SPDX id or expression, when a file states it
	kind       string
	sources    []string
}

func (d *dep) purl() string {
	var name string
	switch d.ecosystem {
	case "npm", "golang", "maven":
		segs := strings.Split(d.name, "/")
		for i, s := range segs {
			segs[i] = strings.ReplaceAll(url.PathEscape(s), "@", "%40")
		}
		name = strings.Join(segs, "/")
	default:
		name = strings.ReplaceAll(url.PathEscape(d.name), "@", "%40")
	}
	p := "pkg:" + d.ecosystem + "/" + name
	if d.version != "" {
		p += "@" + url.PathEscape(d.version)
	}
	return p
}

// deps collects dependencies by purl, keeping every place each was found.
type deps struct{ byKey map[string]*dep }

func (ds *deps) add(d dep, source string) {
	if d.name == "" {
		return
	}
	key := d.ecosystem + "/" + d.name
	if d.version != "" {
		key += "@" + d.version
	}
	if old, ok := ds.byKey[key]; ok {
		if !contains(old.sources, source) {
			old.sources = append(old.sources, source)
		}
		if old.kind == kindDetected && d.kind == kindDeclared {
			old.kind = kindDeclared
		}
		if old.licence == "" {
			old.licence = d.licence
		}
		if old.constraint == "" {
			old.constraint = d.constraint
		}
		return
	}
	d.sources = []string{source}
	ds.byKey[key] = &d
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// BuildSBOM writes the CycloneDX SBOM of a capsule's project files: the
// dependencies its manifests declare (go.mod, requirements.txt,
// pyproject.toml, package.json, Cargo.toml, pom.xml), those its lock files
// and sources show (go.sum is not read: it lists hashes of every module
// version ever considered; package-lock.json, Cargo.lock and Go imports
// outside go.mod are), and the plan's own list, each with its version and
// licence when a file states them. It is deterministic: the same input
// gives the same bytes.
func BuildSBOM(in Input, qlpVersion string) ([]byte, error) {
	ds := &deps{byKey: map[string]*dep{}}
	paths := make([]string, 0, len(in.Files))
	for p := range in.Files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var goModules []string
	ownModule := ""
	for _, p := range paths {
		b := in.Files[p]
		var err error
		switch base := path.Base(p); {
		case base == "go.mod":
			var mods []string
			var own string
			mods, own, err = goModDeps(ds, p, b)
			goModules = append(goModules, mods...)
			if ownModule == "" {
				ownModule = own
			}
		case base == "requirements.txt" || (strings.HasPrefix(base, "requirements") && strings.HasSuffix(base, ".txt")):
			requirementsDeps(ds, p, b)
		case base == "pyproject.toml":
			err = pyprojectDeps(ds, p, b)
		case base == "package.json":
			err = packageJSONDeps(ds, p, b)
		case base == "package-lock.json":
			err = packageLockDeps(ds, p, b)
		case base == "Cargo.toml":
			err = cargoDeps(ds, p, b)
		case base == "Cargo.lock":
			err = cargoLockDeps(ds, p, b)
		case base == "pom.xml":
			pomDeps(ds, p, b)
		}
		if err != nil {
			return nil, fmt.Errorf("capsule: SBOM: %s: %w", p, err)
		}
	}
	// Go imports no go.mod requirement covers: the build would fetch them
	// (or fail), so they belong in the list as detected.
	for _, p := range paths {
		if !strings.HasSuffix(p, ".go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, in.Files[p], parser.ImportsOnly)
		if err != nil {
			continue // the validation report says why the file does not parse
		}
		for _, imp := range f.Imports {
			ip, err := strconv.Unquote(imp.Path.Value)
			if err != nil || isGoStd(ip) || (ownModule != "" && within(ip, ownModule)) || coveredBy(ip, goModules) {
				continue
			}
			ds.add(dep{ecosystem: "golang", name: ip, kind: kindDetected}, "import in "+p)
		}
	}
	for _, name := range in.Dependencies {
		eco := map[string]string{"go": "golang", "python": "pypi", "javascript": "npm", "typescript": "npm", "rust": "cargo", "java": "maven"}[in.Language]
		if eco == "" {
			eco = "generic"
		}
		n, v := splitPlanDep(name)
		ds.add(dep{ecosystem: eco, name: n, version: v, kind: kindDeclared}, "plan")
	}

	keys := make([]string, 0, len(ds.byKey))
	for k := range ds.byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	comps := make([]cdx.Component, 0, len(keys))
	for _, k := range keys {
		comps = append(comps, component(ds.byKey[k]))
	}

	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + uuid.NewSHA1(uuid.NameSpaceURL, []byte("qlp-capsule:"+in.ID+"@"+strconv.Itoa(in.Version))).String()
	bom.Version = 1
	lang := in.Language
	if lang == "" {
		lang = "unspecified"
	}
	bom.Metadata = &cdx.Metadata{
		Timestamp: in.CreatedAt,
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication, Name: "qlp", Version: qlpVersion,
		}}},
		Component: &cdx.Component{
			BOMRef: "capsule:" + in.ID, Type: cdx.ComponentTypeApplication, Name: in.Name,
			Version: strconv.Itoa(in.Version), Description: in.Description,
			Properties: &[]cdx.Property{{Name: "qlp:capsule-id", Value: in.ID}, {Name: "qlp:language", Value: lang}},
		},
	}
	bom.Components = &comps
	refs := make([]string, 0, len(comps))
	for _, c := range comps {
		refs = append(refs, c.BOMRef)
	}
	bom.Dependencies = &[]cdx.Dependency{{Ref: "capsule:" + in.ID, Dependencies: &refs}}

	var buf bytes.Buffer
	enc := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	enc.SetEscapeHTML(false)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return nil, fmt.Errorf("capsule: encode SBOM: %w", err)
	}
	return buf.Bytes(), nil
}

func component(d *dep) cdx.Component {
	c := cdx.Component{BOMRef: d.purl(), Type: cdx.ComponentTypeLibrary, Name: d.name, Version: d.version, PackageURL: d.purl()}
	if d.ecosystem == "generic" {
		c.PackageURL = ""
	}
	props := []cdx.Property{{Name: propKind, Value: d.kind}}
	for _, s := range d.sources {
		props = append(props, cdx.Property{Name: propSource, Value: s})
	}
	if d.constraint != "" {
		props = append(props, cdx.Property{Name: propConstraint, Value: d.constraint})
	}
	if d.licence != "" {
		c.Licenses = &cdx.Licenses{licenceChoice(d.licence)}
	} else {
		props = append(props, cdx.Property{Name: propLicence, Value: LicenceUnknown})
	}
	c.Properties = &props
	return c
}

var spdxID = regexp.MustCompile(`^[A-Za-z0-9.+-]+$`)

// licenceChoice states a licence as a file wrote it: an SPDX id, an SPDX
// expression, or (anything else) a name.
func licenceChoice(s string) cdx.LicenseChoice {
	switch {
	case spdxID.MatchString(s):
		return cdx.LicenseChoice{License: &cdx.License{ID: s}}
	case strings.Contains(s, " OR ") || strings.Contains(s, " AND ") || strings.Contains(s, " WITH "):
		return cdx.LicenseChoice{Expression: s}
	default:
		return cdx.LicenseChoice{License: &cdx.License{Name: s}}
	}
}

func goModDeps(ds *deps, p string, b []byte) (modules []string, own string, err error) {
	f, err := modfile.ParseLax(p, b, nil)
	if err != nil {
		return nil, "", err
	}
	if f.Module != nil {
		own = f.Module.Mod.Path
	}
	for _, r := range f.Require {
		kind := kindDeclared
		if r.Indirect {
			kind = kindDetected // written by go mod tidy, not by the author
		}
		ds.add(dep{ecosystem: "golang", name: r.Mod.Path, version: r.Mod.Version, kind: kind}, p)
		modules = append(modules, r.Mod.Path)
	}
	return modules, own, nil
}

var reqLine = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$`)

// pep508 splits a requirement ("flask==3.0.0", "requests>=2; python_version>'3'").
func pep508(s string) (name, version, constraint string) {
	s, _, _ = strings.Cut(s, ";")
	s = strings.TrimSpace(s)
	m := reqLine.FindStringSubmatch(s)
	if m == nil {
		return "", "", ""
	}
	name = strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(m[1]))
	spec := strings.TrimSpace(m[3])
	if strings.HasPrefix(spec, "==") && !strings.ContainsAny(spec[2:], ",*<>=!~") {
		return name, strings.TrimSpace(spec[2:]), ""
	}
	return name, "", spec
}

func requirementsDeps(ds *deps, p string, b []byte) {
	for _, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "-") {
			continue
		}
		n, v, c := pep508(line)
		ds.add(dep{ecosystem: "pypi", name: n, version: v, constraint: c, kind: kindDeclared}, p)
	}
}

func pyprojectDeps(ds *deps, p string, b []byte) error {
	var doc struct {
		Project struct {
			Dependencies         []string            `toml:"dependencies"`
			OptionalDependencies map[string][]string `toml:"optional-dependencies"`
		} `toml:"project"`
		Tool struct {
			Poetry struct {
				Dependencies map[string]any `toml:"dependencies"`
			} `toml:"poetry"`
		} `toml:"tool"`
	}
	if _, err := toml.Decode(string(b), &doc); err != nil {
		return err
	}
	all := append([]string(nil), doc.Project.Dependencies...)
	for _, group := range sortedKeys(doc.Project.OptionalDependencies) {
		all = append(all, doc.Project.OptionalDependencies[group]...)
	}
	for _, r := range all {
		n, v, c := pep508(r)
		ds.add(dep{ecosystem: "pypi", name: n, version: v, constraint: c, kind: kindDeclared}, p)
	}
	for _, name := range sortedKeys(doc.Tool.Poetry.Dependencies) {
		if name == "python" {
			continue
		}
		c, _ := doc.Tool.Poetry.Dependencies[name].(string)
		ds.add(dep{ecosystem: "pypi", name: strings.ToLower(name), constraint: c, kind: kindDeclared}, p)
	}
	return nil
}

var exactSemver = regexp.MustCompile(`^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$`)

// rangeOrVersion keeps an exact version as the version and anything else
// (^1.2, ~1.2, >=1, 1.2 in Cargo's caret meaning) as a constraint.
func rangeOrVersion(s string, bareIsExact bool) (version, constraint string) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "=") && !strings.HasPrefix(s, "==") {
		s = strings.TrimSpace(s[1:])
		if exactSemver.MatchString(s) {
			return s, ""
		}
	}
	if bareIsExact && exactSemver.MatchString(s) {
		return s, ""
	}
	return "", s
}

func packageJSONDeps(ds *deps, p string, b []byte) error {
	var doc struct {
		Dependencies         map[string]string `json:"dependencies"`
		DevDependencies      map[string]string `json:"devDependencies"`
		PeerDependencies     map[string]string `json:"peerDependencies"`
		OptionalDependencies map[string]string `json:"optionalDependencies"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	for _, m := range []map[string]string{doc.Dependencies, doc.DevDependencies, doc.PeerDependencies, doc.OptionalDependencies} {
		for _, name := range sortedKeys(m) {
			v, c := rangeOrVersion(m[name], true)
			ds.add(dep{ecosystem: "npm", name: name, version: v, constraint: c, kind: kindDeclared}, p)
		}
	}
	return nil
}

func packageLockDeps(ds *deps, p string, b []byte) error {
	var doc struct {
		Packages map[string]struct {
			Version string `json:"version"`
			License any    `json:"license"`
			Link    bool   `json:"link"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	for _, key := range sortedKeys(doc.Packages) {
		i := strings.LastIndex(key, "node_modules/")
		if i < 0 || doc.Packages[key].Link {
			continue // "" is the project itself
		}
		pkg := doc.Packages[key]
		lic, _ := pkg.License.(string)
		ds.add(dep{ecosystem: "npm", name: key[i+len("node_modules/"):], version: pkg.Version, licence: lic, kind: kindDetected}, p)
	}
	return nil
}

func cargoDeps(ds *deps, p string, b []byte) error {
	var doc map[string]any
	if _, err := toml.Decode(string(b), &doc); err != nil {
		return err
	}
	for _, table := range []string{"dependencies", "dev-dependencies", "build-dependencies"} {
		m, _ := doc[table].(map[string]any)
		for _, name := range sortedKeys(m) {
			var spec string
			switch v := m[name].(type) {
			case string:
				spec = v
			case map[string]any:
				spec, _ = v["version"].(string)
			}
			ver, c := rangeOrVersion(spec, false)
			ds.add(dep{ecosystem: "cargo", name: name, version: ver, constraint: c, kind: kindDeclared}, p)
		}
	}
	return nil
}

func cargoLockDeps(ds *deps, p string, b []byte) error {
	var doc struct {
		Package []struct {
			Name    string `toml:"name"`
			Version string `toml:"version"`
			Source  string `toml:"source"`
		} `toml:"package"`
	}
	if _, err := toml.Decode(string(b), &doc); err != nil {
		return err
	}
	for _, pkg := range doc.Package {
		if pkg.Source == "" {
			continue // the project's own crates
		}
		ds.add(dep{ecosystem: "cargo", name: pkg.Name, version: pkg.Version, kind: kindDetected}, p)
	}
	return nil
}

var pomDep = regexp.MustCompile(`(?s)<dependency>(.*?)</dependency>`)
var pomField = func(name string) *regexp.Regexp {
	return regexp.MustCompile(`<` + name + `>\s*([^<]*?)\s*</` + name + `>`)
}
var pomGroup, pomArtifact, pomVersion = pomField("groupId"), pomField("artifactId"), pomField("version")

// pomDeps reads <dependency> elements; a version given as a property
// (${…}) is kept as a constraint, not resolved.
func pomDeps(ds *deps, p string, b []byte) {
	for _, m := range pomDep.FindAllSubmatch(b, -1) {
		g, a, v := pomGroup.FindSubmatch(m[1]), pomArtifact.FindSubmatch(m[1]), pomVersion.FindSubmatch(m[1])
		if g == nil || a == nil {
			continue
		}
		d := dep{ecosystem: "maven", name: string(g[1]) + "/" + string(a[1]), kind: kindDeclared}
		if v != nil {
			if s := string(v[1]); strings.Contains(s, "${") || strings.ContainsAny(s, "[(,") {
				d.constraint = s
			} else {
				d.version = s
			}
		}
		ds.add(d, p)
	}
}

// splitPlanDep reads a plan's dependency ("github.com/x/y@v1.2.3",
// "flask==3.0", "express@4.18.2", "serde").
func splitPlanDep(s string) (name, version string) {
	s = strings.TrimSpace(s)
	if n, v, ok := strings.Cut(s, "=="); ok {
		return strings.TrimSpace(n), strings.TrimSpace(v)
	}
	if i := strings.LastIndex(s, "@"); i > 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// isGoStd reports whether an import path is in the standard library: its
// first element has no dot.
func isGoStd(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return !strings.Contains(first, ".")
}

func within(p, mod string) bool { return p == mod || strings.HasPrefix(p, mod+"/") }

func coveredBy(p string, mods []string) bool {
	for _, m := range mods {
		if within(p, m) {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// CheckSBOM reads a capsule's SBOM and checks that it is CycloneDX
// SBOMSpecVersion JSON describing the capsule capsuleID. It returns the
// number of components it lists. (Its content is covered by the manifest
// and the provenance digests; the schema is checked in tests.)
func CheckSBOM(b []byte, capsuleID string) (int, error) {
	if b == nil {
		return 0, fmt.Errorf("%s: missing", SBOMFile)
	}
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(b), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return 0, fmt.Errorf("%s: not CycloneDX JSON: %w", SBOMFile, err)
	}
	if bom.BOMFormat != cdx.BOMFormat || bom.SpecVersion.String() != SBOMSpecVersion {
		return 0, fmt.Errorf("%s: %s %s, want %s %s", SBOMFile, bom.BOMFormat, bom.SpecVersion, cdx.BOMFormat, SBOMSpecVersion)
	}
	if bom.Metadata == nil || bom.Metadata.Component == nil || bom.Metadata.Component.BOMRef != "capsule:"+capsuleID {
		return 0, fmt.Errorf("%s: does not describe capsule %s", SBOMFile, capsuleID)
	}
	if bom.Components == nil {
		return 0, nil
	}
	return len(*bom.Components), nil
}
