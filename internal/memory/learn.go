package memory

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/quantumlayer/qlp/internal/memory/embed"
	"github.com/quantumlayer/qlp/internal/memory/vector"
	"github.com/quantumlayer/qlp/internal/vocab"
)

func joinCollections() string { return strings.Join(vector.Collections(), ", ") }

// put embeds texts as documents and upserts one point per text.
func (s *Service) put(ctx context.Context, collection, requestID string, ids, texts []string, payloads []map[string]any) error {
	t, err := tenant(ctx)
	if err != nil {
		return err
	}
	if err := s.checkCollection(collection); err != nil {
		return err
	}
	vecs, err := s.embedTexts(ctx, requestID, PurposeStore, embed.Document, texts)
	if err != nil {
		return err
	}
	points := make([]vector.Point, len(texts))
	for i := range texts {
		points[i] = vector.Point{ID: ids[i], Tenant: t, Vector: vecs[i], Payload: payloads[i]}
	}
	if err := s.store.Upsert(ctx, collection, points); err != nil {
		if errors.Is(err, vector.ErrInvalid) {
			return fieldErr("payload", "%v", err)
		}
		return fmt.Errorf("memory: store into %s: %w", collection, err)
	}
	s.metrics.records.WithLabelValues(collection).Add(float64(len(points)))
	return nil
}

func (s *Service) checkTasks(tasks []Task) error {
	if len(tasks) > 500 {
		return fieldErr("tasks", "has %d tasks, more than 500", len(tasks))
	}
	for i, t := range tasks {
		if err := s.checkText(fmt.Sprintf("tasks[%d].description", i), t.Description); err != nil {
			return err
		}
		if t.Complexity != "" {
			if err := oneOf(fmt.Sprintf("tasks[%d].complexity", i), t.Complexity, vocab.Complexities()); err != nil {
				return err
			}
		}
	}
	return nil
}

// RecordRequest implements Memory.
func (s *Service) RecordRequest(ctx context.Context, r RequestRecord) error {
	if err := s.checkText("request_id", r.RequestID); err != nil {
		return err
	}
	if err := s.checkText("description", r.Description); err != nil {
		return err
	}
	if err := s.checkTasks(r.Tasks); err != nil {
		return err
	}
	if r.SuccessRate < 0 || r.SuccessRate > 1 {
		return fieldErr("success_rate", "must be between 0 and 1")
	}
	tasks := make([]any, len(r.Tasks))
	for i, t := range r.Tasks {
		m := map[string]any{"id": t.ID, "type": t.Type, "description": clip(t.Description, 4096)}
		if t.Complexity != "" {
			m["complexity"] = t.Complexity
		}
		if t.Tier != "" {
			m["tier"] = t.Tier
		}
		if len(t.Dependencies) > 0 {
			m["dependencies"] = t.Dependencies
		}
		tasks[i] = m
	}
	p := map[string]any{"request_id": r.RequestID, "description": clip(r.Description, maxEmbedChars), "tasks": tasks,
		"success_rate": r.SuccessRate, "execution_time": r.ExecutionTime}
	if r.Success != nil {
		p["success"] = *r.Success
	}
	for k, v := range map[string]string{"language": r.Language, "user_id": r.UserID, "capsule_id": r.CapsuleID} {
		if v != "" {
			p[k] = v
		}
	}
	return s.put(ctx, vector.Executions, r.RequestID, []string{entryID("request", r.RequestID)},
		[]string{clip(r.Description, maxEmbedChars)}, []map[string]any{p})
}

// RecordCodePattern implements Memory and returns the pattern's id.
func (s *Service) RecordCodePattern(ctx context.Context, c CodePattern) (string, error) {
	if err := s.checkText("description", c.Description); err != nil {
		return "", err
	}
	if err := s.checkText("code", c.Code); err != nil {
		return "", err
	}
	for f, v := range map[string]string{"path": c.Path, "language": c.Language, "task_type": c.TaskType, "capsule_id": c.CapsuleID} {
		if err := checkShort(f, v); err != nil {
			return "", err
		}
	}
	if c.Score < 0 || c.Score > 1 {
		return "", fieldErr("score", "must be between 0 and 1")
	}
	if c.Complexity != "" {
		if err := oneOf("complexity", c.Complexity, vocab.Complexities()); err != nil {
			return "", err
		}
	}
	if c.Language == "" {
		c.Language = languageOf(c.Path)
	}
	if c.Language == "" {
		return "", fieldErr("language", "must be set (or given by the path's extension)")
	}
	id := entryID("code", c.CapsuleID, c.RequestID, c.Path, c.Code)
	if c.CapsuleID != "" && c.Path != "" {
		id = entryID("code", c.CapsuleID, c.Path) // a capsule's file is replaced, not duplicated
	}
	if err := s.put(ctx, vector.CodePatterns, c.RequestID, []string{id}, []string{codeText(c.Description, c.Path, c.Code)},
		[]map[string]any{codePayload(c)}); err != nil {
		return "", err
	}
	return id, nil
}

func codePayload(c CodePattern) map[string]any {
	code := clip(c.Code, maxCodeBytes)
	p := map[string]any{"description": clip(c.Description, 4096), "code": code, "truncated": len(code) < len(c.Code),
		"language": c.Language, "validated": c.Validated, "success_rate": c.Score}
	for k, v := range map[string]string{"request_id": c.RequestID, "capsule_id": c.CapsuleID, "path": c.Path,
		"task_type": c.TaskType, "complexity": c.Complexity, "tier": c.Tier} {
		if v != "" {
			p[k] = v
		}
	}
	return p
}

// RecordCapsule implements Memory. A capsule that was not validated is not
// stored: neither its code nor its request may be offered again.
func (s *Service) RecordCapsule(ctx context.Context, c CapsuleRecord) (CapsuleStored, error) {
	if err := s.checkText("capsule_id", c.CapsuleID); err != nil {
		return CapsuleStored{}, err
	}
	if err := s.checkText("request_id", c.RequestID); err != nil {
		return CapsuleStored{}, err
	}
	if err := s.checkText("description", c.Description); err != nil {
		return CapsuleStored{}, err
	}
	if c.ValidationScore < 0 || c.ValidationScore > 1 {
		return CapsuleStored{}, fieldErr("validation_score", "must be between 0 and 1")
	}
	if len(c.Files) == 0 {
		return CapsuleStored{}, fieldErr("files", "must not be empty")
	}
	if len(c.Files) > 2000 {
		return CapsuleStored{}, fieldErr("files", "has %d files, more than 2000", len(c.Files))
	}
	for i, f := range c.Files {
		if err := s.checkText(fmt.Sprintf("files[%d].path", i), f.Path); err != nil {
			return CapsuleStored{}, err
		}
		if int64(len(f.Content)) > s.cfg.MaxTextBytes {
			return CapsuleStored{}, fieldErr(fmt.Sprintf("files[%d].content", i), "is %d bytes, more than the limit of %d", len(f.Content), s.cfg.MaxTextBytes)
		}
	}
	out := CapsuleStored{Status: "stored", CapsuleID: c.CapsuleID}
	if !c.Validated {
		out.Status, out.Reason = "skipped", "the capsule was not validated; only validated work is remembered"
		return out, nil
	}
	var ids, texts []string
	var payloads []map[string]any
	for _, f := range c.Files {
		role := f.Role
		if role == "" {
			role = "source"
		}
		if (role != "source" && role != "test") || strings.TrimSpace(f.Content) == "" {
			continue
		}
		lang := f.Language
		if lang == "" {
			lang = languageOf(f.Path)
		}
		if lang == "" {
			lang = c.Language
		}
		if lang == "" {
			continue
		}
		desc := c.Description
		if f.Task != "" {
			desc += "\n" + clip(f.Task, 4096)
		}
		p := CodePattern{RequestID: c.RequestID, CapsuleID: c.CapsuleID, Path: f.Path, Language: lang, TaskType: f.TaskType,
			Description: desc, Code: f.Content, Validated: true, Score: c.ValidationScore}
		ids = append(ids, entryID("code", c.CapsuleID, f.Path))
		texts = append(texts, codeText(p.Description, p.Path, p.Code))
		pl := codePayload(p)
		pl["role"] = role
		if f.Task != "" {
			pl["task"] = clip(f.Task, 1024)
		}
		payloads = append(payloads, pl)
	}
	if len(ids) > 0 {
		if err := s.put(ctx, vector.CodePatterns, c.RequestID, ids, texts, payloads); err != nil {
			return CapsuleStored{}, err
		}
	}
	out.Patterns = len(ids)
	req := map[string]any{"request_id": c.RequestID, "capsule_id": c.CapsuleID, "description": clip(c.Description, maxEmbedChars),
		"validated": true, "validation_score": c.ValidationScore}
	if c.Language != "" {
		req["language"] = c.Language
	}
	if err := s.put(ctx, vector.Requirements, c.RequestID, []string{entryID("capsule", c.CapsuleID)},
		[]string{clip(c.Description, maxEmbedChars)}, []map[string]any{req}); err != nil {
		return CapsuleStored{}, err
	}
	out.Reusable = true
	return out, nil
}

// RecordTaskOutcome implements Memory.
func (s *Service) RecordTaskOutcome(ctx context.Context, o TaskOutcome) error {
	if err := s.checkText("request_id", o.RequestID); err != nil {
		return err
	}
	if err := s.checkText("task_id", o.TaskID); err != nil {
		return err
	}
	if err := s.checkText("task_type", o.TaskType); err != nil {
		return err
	}
	if err := oneOf("complexity", o.Complexity, vocab.Complexities()); err != nil {
		return err
	}
	if err := oneOf("tier", o.Tier, vocab.Tiers()); err != nil {
		return err
	}
	if int64(len(o.Description)) > s.cfg.MaxTextBytes {
		return fieldErr("description", "is %d bytes, more than the limit of %d", len(o.Description), s.cfg.MaxTextBytes)
	}
	if o.Attempts < 0 || o.Duration < 0 || o.CostUSD < 0 {
		return fieldErr("attempts", "attempts, duration_seconds and cost_usd must not be negative")
	}
	p := map[string]any{"request_id": o.RequestID, "task_id": o.TaskID, "task_type": o.TaskType, "complexity": o.Complexity,
		"tier": o.Tier, "success": o.Success, "attempts": o.Attempts, "duration_seconds": o.Duration, "cost_usd": o.CostUSD,
		"description": clip(o.Description, 4096)}
	return s.put(ctx, vector.AgentDecisions, o.RequestID, []string{entryID("outcome", o.RequestID, o.TaskID, o.Tier)},
		[]string{outcomeText(o.Description, o.TaskType, o.Complexity)}, []map[string]any{p})
}

// RecordErrorFix implements Memory. The same error (once line numbers and
// paths are stripped) in the same language keeps one entry, whose fix is the
// latest and whose occurrences count up.
func (s *Service) RecordErrorFix(ctx context.Context, f ErrorFix) error {
	t, err := tenant(ctx)
	if err != nil {
		return err
	}
	if err := s.checkText("error", f.Error); err != nil {
		return err
	}
	if err := s.checkText("fix", f.Fix); err != nil {
		return err
	}
	for k, v := range map[string]string{"language": f.Language, "error_type": f.ErrorType, "task_type": f.TaskType} {
		if err := checkShort(k, v); err != nil {
			return err
		}
	}
	norm := normalizeError(f.Error)
	if norm == "" {
		return fieldErr("error", "has nothing left once numbers and paths are removed")
	}
	id := entryID("error", f.Language, norm)
	occurrences := 1.0
	if err := s.checkCollection(vector.ErrorPatterns); err != nil {
		return err
	}
	if old, err := s.store.Get(ctx, vector.ErrorPatterns, t, id); err == nil {
		occurrences = num(old.Payload, "occurrences") + 1
	} else if !errors.Is(err, vector.ErrNotFound) {
		return fmt.Errorf("memory: read error pattern: %w", err)
	}
	p := map[string]any{"error": clip(f.Error, 8192), "fix": clip(f.Fix, maxCodeBytes), "fixed": true, "occurrences": occurrences}
	for k, v := range map[string]string{"language": f.Language, "error_type": f.ErrorType, "task_type": f.TaskType, "request_id": f.RequestID} {
		if v != "" {
			p[k] = v
		}
	}
	return s.put(ctx, vector.ErrorPatterns, f.RequestID, []string{id}, []string{norm}, []map[string]any{p})
}
