package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/vocab"
)

// ExecuteRequest is the body of POST /execute, the earlier QLP contract:
// one file of code, run (or tested) in a language.
type ExecuteRequest struct {
	Code           string         `json:"code"`
	Language       string         `json:"language"`
	Inputs         map[string]any `json:"inputs,omitempty"`
	ResourceLimits *LegacyLimits  `json:"resource_limits,omitempty"`
	Dependencies   []string       `json:"dependencies,omitempty"`
	TestMode       bool           `json:"test_mode,omitempty"`
	Runtime        string         `json:"runtime,omitempty"` // accepted and ignored: the backend is configured
}

// LegacyLimits are the earlier contract's resource limits. Sizes are
// strings like "512m" or numbers of bytes; timeout is in seconds.
// cpu_count is accepted for compatibility but not enforced: runs are bound
// by CPU time, not by a CPU quota.
type LegacyLimits struct {
	CPUCount float64         `json:"cpu_count,omitempty"`
	Memory   json.RawMessage `json:"memory,omitempty"`
	Timeout  float64         `json:"timeout,omitempty"`
	DiskSize json.RawMessage `json:"disk_size,omitempty"`
}

// ExecuteResponse is the answer of POST /execute.
type ExecuteResponse struct {
	ExecutionID   string        `json:"execution_id"`
	Status        Status        `json:"status"`
	Output        string        `json:"output"`
	Error         string        `json:"error"`
	ExitCode      int           `json:"exit_code"`
	DurationMS    int64         `json:"duration_ms"`
	Runtime       string        `json:"runtime"`
	ResourceUsage ResourceUsage `json:"resource_usage"`
	Reason        string        `json:"reason,omitempty"`
	CreatedAt     time.Time     `json:"created_at"`
	CompletedAt   time.Time     `json:"completed_at"`
}

// ResourceUsage is what a legacy run used.
type ResourceUsage struct {
	CPUPercent    float64 `json:"cpu_percent"`
	MemoryUsageMB float64 `json:"memory_usage_mb"`
	MemoryLimitMB float64 `json:"memory_limit_mb"`
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// legacyField renames spec fields to the earlier contract's names.
func legacyField(f string) string {
	switch {
	case strings.HasPrefix(f, "files"):
		return "code"
	case f == "limits.wall_time":
		return "resource_limits.timeout"
	case f == "limits.memory_bytes":
		return "resource_limits.memory"
	case f == "limits.disk_bytes":
		return "resource_limits.disk_size"
	}
	return f
}

// legacySpec converts a legacy request into a Spec; errors are *SpecError with
// the legacy field names.
func (c *Config) legacySpec(req *ExecuteRequest) (Spec, error) {
	lang, _ := vocab.NormalizeLanguage(req.Language)
	if req.Code == "" {
		return Spec{}, specErr("code", "must not be empty")
	}
	if int64(len(req.Code)) > c.MaxFilesBytes {
		return Spec{}, specErr("code", "is %d bytes; the limit is %d", len(req.Code), c.MaxFilesBytes)
	}
	s := Spec{Language: lang, Dependencies: req.Dependencies}
	if req.TestMode {
		s.Mode = "test"
	}
	if l := req.ResourceLimits; l != nil {
		if l.CPUCount < 0 {
			return Spec{}, specErr("resource_limits.cpu_count", "must not be negative")
		}
		if l.Timeout < 0 {
			return Spec{}, specErr("resource_limits.timeout", "must not be negative")
		}
		s.Limits.WallTime = Duration(time.Duration(l.Timeout * float64(time.Second)))
		var err error
		if s.Limits.MemoryBytes, err = legacySize(l.Memory); err != nil {
			return Spec{}, specErr("resource_limits.memory", "%v", err)
		}
		if s.Limits.DiskBytes, err = legacySize(l.DiskSize); err != nil {
			return Spec{}, specErr("resource_limits.disk_size", "%v", err)
		}
	}
	code := req.Code
	keys := make([]string, 0, len(req.Inputs))
	for k := range req.Inputs {
		if !identifier.MatchString(k) {
			return Spec{}, specErr("inputs", "%q is not an identifier", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		all, err := json.Marshal(req.Inputs)
		if err != nil {
			return Spec{}, specErr("inputs", "%v", err)
		}
		s.Env = map[string]string{"QLP_INPUTS": string(all)}
		var pre strings.Builder
		for _, k := range keys {
			v, _ := json.Marshal(req.Inputs[k])
			switch lang {
			case "python":
				if pre.Len() == 0 {
					pre.WriteString("import json as _qlp_json\n")
				}
				fmt.Fprintf(&pre, "%s = _qlp_json.loads(%s)\n", k, strconv.Quote(string(v)))
			case "javascript", "typescript":
				fmt.Fprintf(&pre, "const %s = %s;\n", k, v)
			}
		}
		code = pre.String() + code
	}
	name := map[string]string{"python": "main.py", "javascript": "main.js", "typescript": "main.ts", "go": "main.go",
		"bash": "main.sh", "java": "Main.java", "rust": "main.rs"}[lang]
	if name == "" {
		name = "main"
	}
	if lang == "go" && req.TestMode {
		name = "main_test.go"
	} else if lang == "python" && req.TestMode {
		name = "test_main.py"
	} else if (lang == "javascript" || lang == "typescript") && req.TestMode {
		name = strings.Replace(name, "main.", "main.test.", 1)
	}
	s.Files = []File{{Path: name, Content: []byte(code)}}
	s.Entrypoint = name
	return s, nil
}

// legacySize parses "512m", "1g", "100Mi", "1048576" or a JSON number.
func legacySize(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		var n float64
		if err := json.Unmarshal(raw, &n); err != nil {
			return 0, fmt.Errorf("must be a size like \"512m\" or a number of bytes")
		}
		s = strconv.FormatFloat(n, 'f', -1, 64)
	}
	s = strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"ki", 1 << 10}, {"mi", 1 << 20}, {"gi", 1 << 30},
		{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("must be a size like \"512m\" or a number of bytes")
	}
	if f < 0 {
		return 0, fmt.Errorf("must not be negative")
	}
	return int64(f * float64(mult)), nil
}

func (s *Service) handleExecute(w http.ResponseWriter, r *http.Request) error {
	created := time.Now().UTC()
	var req ExecuteRequest
	if err := httpx.DecodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	spec, err := s.cfg.legacySpec(&req)
	if err != nil {
		return s.httpError(err, nil)
	}
	res, err := s.Run(r.Context(), spec, nil)
	if err != nil {
		return s.httpError(err, legacyField)
	}
	resp := ExecuteResponse{ExecutionID: res.ID, Status: res.Status, ExitCode: res.ExitCode, Runtime: res.Backend,
		DurationMS: res.Duration.D().Milliseconds(), Reason: res.Reason, CreatedAt: created, CompletedAt: time.Now().UTC(),
		ResourceUsage: ResourceUsage{MemoryUsageMB: float64(res.PeakMemoryBytes) / (1 << 20), MemoryLimitMB: float64(res.Limits.MemoryBytes) / (1 << 20)}}
	if res.Duration > 0 {
		resp.ResourceUsage.CPUPercent = 100 * float64(res.CPUTime) / float64(res.Duration)
	}
	var out, errs strings.Builder
	for _, c := range res.Commands {
		out.WriteString(c.Stdout)
		errs.WriteString(c.Stderr)
	}
	if res.Status != StatusCompleted && res.Reason != "" {
		if errs.Len() > 0 && !strings.HasSuffix(errs.String(), "\n") {
			errs.WriteString("\n")
		}
		errs.WriteString(res.Reason)
	}
	resp.Output, resp.Error = out.String(), errs.String()
	httpx.WriteJSON(w, http.StatusOK, resp)
	return nil
}
