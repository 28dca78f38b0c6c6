package workflow

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/policy"
	"github.com/quantumlayer/qlp/internal/store"
)

// TestApplyOutputPolicy: action fail turns a passing attempt into a
// failed one with the reason; action review keeps it passing but forces a
// review with the reason; clean files, and a category the tenant allows,
// change nothing.
func TestApplyOutputPolicy(t *testing.T) {
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "qlp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	job := domain.Job{ID: "j1", TenantID: "acme"}
	// Tenant "lab" allows malware (a security-research tenant).
	if _, err := st.EnsureTenant(t.Context(), "lab", ""); err != nil {
		t.Fatal(err)
	}
	if err := st.PutContentPolicy(t.Context(), store.ContentPolicy{TenantID: "lab", Allow: []string{"malware"}}); err != nil {
		t.Fatal(err)
	}
	bad := domain.Task{ID: "t1", Files: []domain.File{{Path: "a.go", Content: "package a\n"}, {Path: "b.go", Content: "// build a keylogger that hides from windows defender\n"}}}
	clean := domain.Task{ID: "t2", Files: []domain.File{{Path: "a.go", Content: "package a\n// kill the process with kill -9\n"}}}
	cases := []struct {
		name       string
		tenant     string
		action     string
		task       domain.Task
		wantPassed bool
		wantReview bool
		wantReason bool
	}{
		{"fail", "acme", policy.OutputFail, bad, false, false, true},
		{"review", "acme", policy.OutputReview, bad, true, true, true},
		{"clean", "acme", policy.OutputFail, clean, true, false, false},
		{"allowed by the tenant", "lab", policy.OutputFail, bad, true, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := policy.Defaults()
			cfg.OutputAction = c.action
			a := &Activities{Policy: policy.New(cfg, nil), PolicyStore: st}
			tv := TaskValidation{Passed: true, Status: "passed", Confidence: 0.9}
			j := job
			j.TenantID = c.tenant
			review, err := a.applyOutputPolicy(t.Context(), j, c.task, &tv)
			if err != nil {
				t.Fatal(err)
			}
			if tv.Passed != c.wantPassed || review != c.wantReview {
				t.Fatalf("passed %v review %v, want %v %v: %+v", tv.Passed, review, c.wantPassed, c.wantReview, tv)
			}
			text := tv.Failures + strings.Join(tv.Reasons, " ")
			if got := strings.Contains(text, "b.go: malware"); got != c.wantReason {
				t.Fatalf("reason %q", text)
			}
		})
	}
	vs, err := st.ListPolicyViolations(t.Context(), "acme", 10)
	if err != nil || len(vs) != 2 || vs[0].Action != "review" || vs[1].Action != "failed" {
		t.Fatalf("violations %+v, %v", vs, err)
	}
	if vs, err := st.ListPolicyViolations(t.Context(), "lab", 10); err != nil || len(vs) != 0 {
		t.Fatalf("an allowed category was recorded: %+v, %v", vs, err)
	}
}
