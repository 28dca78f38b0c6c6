package llmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Example is a scripted example under examples/: the request, the
// decomposer's plan and, per task, the coder's files and summary and,
// optionally, the tests a test writer wrote first.
//
//	request.txt
//	plan.json
//	tasks/<id>/SUMMARY, tasks/<id>/files/...
//	tasks/<id>/TESTS_SUMMARY, tasks/<id>/tests/...   (optional)
type Example struct {
	Request string
	Rules   []Rule
}

// LoadExample reads an example directory into script rules.
func LoadExample(dir string) (*Example, error) {
	req, err := os.ReadFile(filepath.Join(dir, "request.txt"))
	if err != nil {
		return nil, fmt.Errorf("llmtest: %w", err)
	}
	plan, err := os.ReadFile(filepath.Join(dir, "plan.json"))
	if err != nil {
		return nil, fmt.Errorf("llmtest: %w", err)
	}
	ex := &Example{Request: strings.TrimSpace(string(req)), Rules: []Rule{{Role: "decomposer", Replies: []Reply{{Content: string(plan)}}}}}
	tasks, err := os.ReadDir(filepath.Join(dir, "tasks"))
	if err != nil {
		return nil, fmt.Errorf("llmtest: %w", err)
	}
	for _, t := range tasks {
		root := filepath.Join(dir, "tasks", t.Name())
		code, err := answer(filepath.Join(root, "files"), filepath.Join(root, "SUMMARY"))
		if err != nil {
			return nil, err
		}
		ex.Rules = append(ex.Rules, Rule{Role: "coder", TaskID: t.Name(), Replies: []Reply{{Content: code}}})
		if _, err := os.Stat(filepath.Join(root, "tests")); err == nil {
			tests, err := answer(filepath.Join(root, "tests"), filepath.Join(root, "TESTS_SUMMARY"))
			if err != nil {
				return nil, err
			}
			ex.Rules = append(ex.Rules, Rule{Role: "test_writer", TaskID: t.Name(), Replies: []Reply{{Content: tests}}})
		}
	}
	return ex, nil
}

// answer is a {"summary","files"} answer made of a directory's files.
func answer(dir, summaryFile string) (string, error) {
	summary, err := os.ReadFile(summaryFile)
	if err != nil {
		return "", fmt.Errorf("llmtest: %w", err)
	}
	var files []map[string]string
	err = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files = append(files, map[string]string{"path": filepath.ToSlash(rel), "content": string(b)})
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("llmtest: %w", err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i]["path"] < files[j]["path"] })
	return JSON(map[string]any{"summary": strings.TrimSpace(string(summary)), "files": files}), nil
}
