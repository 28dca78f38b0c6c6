package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Campaign statuses.
const (
	CampaignQueued    = "queued"
	CampaignRunning   = "running"
	CampaignCompleted = "completed"
	CampaignFailed    = "failed"
)

// Piece statuses.
const (
	PiecePlanned   = "planned"
	PieceGenerated = "generated"
	PiecePublished = "published"
	PieceFailed    = "failed"
)

// Publication statuses. A row is written as pending before the adapter is
// called and moved to posted or failed after; a pending row found later
// means a post whose outcome is unknown, which is never retried blindly.
const (
	PublicationPending       = "pending"
	PublicationPosted        = "posted"
	PublicationFailed        = "failed"
	PublicationNotConfigured = "not_configured"
)

// Publishing states of a campaign.
const (
	PublishingOff    = "off"
	PublishingActive = "active"
	PublishingPaused = "paused"
)

// Campaign is one marketing campaign. Brief, Strategy are JSON documents
// owned by package marketing.
type Campaign struct {
	ID         string
	TenantID   string
	Name       string
	Status     string
	WorkflowID string
	Brief      json.RawMessage
	Strategy   json.RawMessage
	// Optimisation is what the optimisation pass said of the campaign.
	Optimisation string
	Publishing   string
	Error        string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Piece is one piece of content of a campaign, for one channel on one day.
type Piece struct {
	CampaignID    string
	ID            string
	Channel       string
	Day           int
	ScheduledAt   time.Time
	Theme         string
	Status        string
	Content       json.RawMessage
	Notes         string
	PromptVersion string
	ModelCalls    int
	CostPUSD      int64
	UpdatedAt     time.Time
}

// Publication is one post of a piece through one adapter.
type Publication struct {
	CampaignID     string
	PieceID        string
	Adapter        string
	IdempotencyKey string
	Status         string
	Attempts       int
	ExternalID     string
	Error          string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Analytics is one report of a published piece's metrics.
type Analytics struct {
	ID         int64
	CampaignID string
	PieceID    string
	TenantID   string
	Metrics    json.RawMessage
	ObservedAt time.Time
	CreatedAt  time.Time
}

// Marketing is the part of the store the marketing worker and its API use.
type Marketing interface {
	// CreateCampaign inserts c; a campaign with c.ID already there is
	// returned with created=false (a retried start).
	CreateCampaign(ctx context.Context, c Campaign) (Campaign, bool, error)
	// GetCampaign returns a campaign; tenantID scopes it unless empty.
	GetCampaign(ctx context.Context, tenantID, id string) (Campaign, error)
	// ListCampaigns returns a tenant's campaigns, newest first.
	ListCampaigns(ctx context.Context, tenantID string, limit int) ([]Campaign, error)
	// UpdateCampaign replaces the mutable fields of c (status, strategy,
	// optimisation, publishing, error, name).
	UpdateCampaign(ctx context.Context, c Campaign) error
	// AddPieces inserts the pieces that do not exist yet and leaves the
	// others as they are, so that a replanned campaign keeps what was
	// generated.
	AddPieces(ctx context.Context, pieces []Piece) error
	GetPiece(ctx context.Context, campaignID, id string) (Piece, error)
	// ListPieces returns a campaign's pieces by day and id.
	ListPieces(ctx context.Context, campaignID string) ([]Piece, error)
	// UpdatePiece replaces the mutable fields of p.
	UpdatePiece(ctx context.Context, p Piece) error
	// DuePieces returns generated pieces scheduled at or before now whose
	// campaign publishes (publishing active), oldest first.
	DuePieces(ctx context.Context, now time.Time, limit int) ([]Piece, error)
	// ClaimPublication records p as pending unless a publication with its
	// (campaign, piece, adapter) exists; it returns the row as stored and
	// whether it was created.
	ClaimPublication(ctx context.Context, p Publication) (Publication, bool, error)
	// UpdatePublication replaces status, attempts, external id and error.
	UpdatePublication(ctx context.Context, p Publication) error
	// ListPublications returns a campaign's publications.
	ListPublications(ctx context.Context, campaignID string) ([]Publication, error)
	// RecordAnalytics appends a and returns it with its id.
	RecordAnalytics(ctx context.Context, a Analytics) (Analytics, error)
	// ListAnalytics returns a campaign's analytics, oldest first.
	ListAnalytics(ctx context.Context, campaignID string) ([]Analytics, error)
}

func jsonOr(b json.RawMessage, def string) string {
	if len(b) == 0 {
		return def
	}
	return string(b)
}

// CreateCampaign implements Marketing.
func (s *SQL) CreateCampaign(ctx context.Context, c Campaign) (Campaign, bool, error) {
	now := s.now()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	c.UpdatedAt = c.CreatedAt
	if c.Status == "" {
		c.Status = CampaignQueued
	}
	if c.Publishing == "" {
		c.Publishing = PublishingOff
	}
	res, err := s.exec(ctx, `INSERT INTO campaigns (id, tenant_id, name, status, workflow_id, brief, strategy, optimisation, publishing, error, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		c.ID, c.TenantID, c.Name, c.Status, c.WorkflowID, jsonOr(c.Brief, "{}"), jsonOr(c.Strategy, "{}"), c.Optimisation, c.Publishing, c.Error,
		s.t(c.CreatedAt), s.t(c.UpdatedAt))
	if err != nil {
		return Campaign{}, false, fmt.Errorf("store: create campaign %s: %w", c.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return Campaign{}, false, fmt.Errorf("store: create campaign %s: %w", c.ID, err)
	}
	got, err := s.GetCampaign(ctx, c.TenantID, c.ID)
	if err != nil {
		// Another tenant's campaign with this id is a conflict, not a hit.
		if errors.Is(err, ErrNotFound) {
			return Campaign{}, false, fmt.Errorf("store: create campaign %s: %w", c.ID, ErrConflict)
		}
		return Campaign{}, false, err
	}
	return got, n == 1, nil
}

const campaignCols = `id, tenant_id, name, status, workflow_id, brief, strategy, optimisation, publishing, error, created_at, updated_at`

func scanCampaign(sc interface{ Scan(...any) error }) (Campaign, error) {
	var c Campaign
	var brief, strategy string
	var created, updated dbTime
	if err := sc.Scan(&c.ID, &c.TenantID, &c.Name, &c.Status, &c.WorkflowID, &brief, &strategy, &c.Optimisation, &c.Publishing, &c.Error, &created, &updated); err != nil {
		return Campaign{}, err
	}
	c.Brief, c.Strategy = json.RawMessage(brief), json.RawMessage(strategy)
	c.CreatedAt, c.UpdatedAt = created.T, updated.T
	return c, nil
}

// GetCampaign implements Marketing.
func (s *SQL) GetCampaign(ctx context.Context, tenantID, id string) (Campaign, error) {
	q := `SELECT ` + campaignCols + ` FROM campaigns WHERE id = ?`
	args := []any{id}
	if tenantID != "" {
		q += ` AND tenant_id = ?`
		args = append(args, tenantID)
	}
	c, err := scanCampaign(s.queryRow(ctx, q, args...))
	if err != nil {
		return Campaign{}, fmt.Errorf("store: get campaign %s: %w", id, notFound(err))
	}
	return c, nil
}

// ListCampaigns implements Marketing.
func (s *SQL) ListCampaigns(ctx context.Context, tenantID string, limit int) ([]Campaign, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.query(ctx, `SELECT `+campaignCols+` FROM campaigns WHERE tenant_id = ? ORDER BY created_at DESC, id LIMIT ?`, tenantID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list campaigns: %w", err)
	}
	defer rows.Close()
	out := []Campaign{}
	for rows.Next() {
		c, err := scanCampaign(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list campaigns: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// UpdateCampaign implements Marketing.
func (s *SQL) UpdateCampaign(ctx context.Context, c Campaign) error {
	res, err := s.exec(ctx, `UPDATE campaigns SET name = ?, status = ?, workflow_id = ?, strategy = ?, optimisation = ?, publishing = ?, error = ?, updated_at = ?
		WHERE id = ?`, c.Name, c.Status, c.WorkflowID, jsonOr(c.Strategy, "{}"), c.Optimisation, c.Publishing, c.Error, s.t(s.now()), c.ID)
	return affected(res, err, "update campaign "+c.ID)
}

func affected(res sql.Result, err error, what string) error {
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("store: %s: %w", what, ErrNotFound)
	}
	return nil
}

// AddPieces implements Marketing.
func (s *SQL) AddPieces(ctx context.Context, pieces []Piece) error {
	now := s.now()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, p := range pieces {
			if p.Status == "" {
				p.Status = PiecePlanned
			}
			if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO campaign_pieces (campaign_id, id, channel, day, scheduled_at, theme, status, content, notes, prompt_version, model_calls, cost_pusd, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (campaign_id, id) DO NOTHING`),
				p.CampaignID, p.ID, p.Channel, p.Day, s.t(p.ScheduledAt), p.Theme, p.Status, jsonOr(p.Content, "{}"), p.Notes, p.PromptVersion,
				p.ModelCalls, p.CostPUSD, s.t(now)); err != nil {
				return fmt.Errorf("store: add piece %s/%s: %w", p.CampaignID, p.ID, err)
			}
		}
		return nil
	})
}

const pieceCols = `campaign_id, id, channel, day, scheduled_at, theme, status, content, notes, prompt_version, model_calls, cost_pusd, updated_at`

func scanPiece(sc interface{ Scan(...any) error }) (Piece, error) {
	var p Piece
	var content string
	var at, updated dbTime
	if err := sc.Scan(&p.CampaignID, &p.ID, &p.Channel, &p.Day, &at, &p.Theme, &p.Status, &content, &p.Notes, &p.PromptVersion, &p.ModelCalls, &p.CostPUSD, &updated); err != nil {
		return Piece{}, err
	}
	p.Content, p.ScheduledAt, p.UpdatedAt = json.RawMessage(content), at.T, updated.T
	return p, nil
}

// GetPiece implements Marketing.
func (s *SQL) GetPiece(ctx context.Context, campaignID, id string) (Piece, error) {
	p, err := scanPiece(s.queryRow(ctx, `SELECT `+pieceCols+` FROM campaign_pieces WHERE campaign_id = ? AND id = ?`, campaignID, id))
	if err != nil {
		return Piece{}, fmt.Errorf("store: get piece %s/%s: %w", campaignID, id, notFound(err))
	}
	return p, nil
}

func (s *SQL) listPieces(ctx context.Context, q string, args ...any) ([]Piece, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list pieces: %w", err)
	}
	defer rows.Close()
	out := []Piece{}
	for rows.Next() {
		p, err := scanPiece(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list pieces: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ListPieces implements Marketing.
func (s *SQL) ListPieces(ctx context.Context, campaignID string) ([]Piece, error) {
	return s.listPieces(ctx, `SELECT `+pieceCols+` FROM campaign_pieces WHERE campaign_id = ? ORDER BY day, id`, campaignID)
}

// UpdatePiece implements Marketing.
func (s *SQL) UpdatePiece(ctx context.Context, p Piece) error {
	res, err := s.exec(ctx, `UPDATE campaign_pieces SET status = ?, content = ?, notes = ?, prompt_version = ?, model_calls = ?, cost_pusd = ?, theme = ?, updated_at = ?
		WHERE campaign_id = ? AND id = ?`, p.Status, jsonOr(p.Content, "{}"), p.Notes, p.PromptVersion, p.ModelCalls, p.CostPUSD, p.Theme, s.t(s.now()), p.CampaignID, p.ID)
	return affected(res, err, "update piece "+p.CampaignID+"/"+p.ID)
}

// DuePieces implements Marketing.
func (s *SQL) DuePieces(ctx context.Context, now time.Time, limit int) ([]Piece, error) {
	if limit <= 0 {
		limit = 100
	}
	return s.listPieces(ctx, `SELECT p.campaign_id, p.id, p.channel, p.day, p.scheduled_at, p.theme, p.status, p.content, p.notes, p.prompt_version,
		p.model_calls, p.cost_pusd, p.updated_at FROM campaign_pieces p JOIN campaigns c ON c.id = p.campaign_id
		WHERE p.status = ? AND p.scheduled_at <= ? AND c.publishing = ? ORDER BY p.scheduled_at, p.campaign_id, p.id LIMIT ?`,
		PieceGenerated, s.t(now), PublishingActive, limit)
}

// ClaimPublication implements Marketing.
func (s *SQL) ClaimPublication(ctx context.Context, p Publication) (Publication, bool, error) {
	now := s.now()
	if p.Status == "" {
		p.Status = PublicationPending
	}
	res, err := s.exec(ctx, `INSERT INTO campaign_publications (campaign_id, piece_id, adapter, idempotency_key, status, attempts, external_id, error, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		p.CampaignID, p.PieceID, p.Adapter, p.IdempotencyKey, p.Status, p.Attempts, p.ExternalID, p.Error, s.t(now), s.t(now))
	if err != nil {
		return Publication{}, false, fmt.Errorf("store: claim publication %s/%s/%s: %w", p.CampaignID, p.PieceID, p.Adapter, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return Publication{}, false, fmt.Errorf("store: claim publication: %w", err)
	}
	var got Publication
	var created, updated dbTime
	err = s.queryRow(ctx, `SELECT campaign_id, piece_id, adapter, idempotency_key, status, attempts, external_id, error, created_at, updated_at
		FROM campaign_publications WHERE campaign_id = ? AND piece_id = ? AND adapter = ?`, p.CampaignID, p.PieceID, p.Adapter).
		Scan(&got.CampaignID, &got.PieceID, &got.Adapter, &got.IdempotencyKey, &got.Status, &got.Attempts, &got.ExternalID, &got.Error, &created, &updated)
	if err != nil {
		return Publication{}, false, fmt.Errorf("store: claim publication %s/%s/%s: %w", p.CampaignID, p.PieceID, p.Adapter, notFound(err))
	}
	got.CreatedAt, got.UpdatedAt = created.T, updated.T
	return got, n == 1, nil
}

// UpdatePublication implements Marketing.
func (s *SQL) UpdatePublication(ctx context.Context, p Publication) error {
	res, err := s.exec(ctx, `UPDATE campaign_publications SET status = ?, attempts = ?, external_id = ?, error = ?, updated_at = ?
		WHERE campaign_id = ? AND piece_id = ? AND adapter = ?`, p.Status, p.Attempts, p.ExternalID, p.Error, s.t(s.now()), p.CampaignID, p.PieceID, p.Adapter)
	return affected(res, err, "update publication "+p.CampaignID+"/"+p.PieceID+"/"+p.Adapter)
}

// ListPublications implements Marketing.
func (s *SQL) ListPublications(ctx context.Context, campaignID string) ([]Publication, error) {
	rows, err := s.query(ctx, `SELECT campaign_id, piece_id, adapter, idempotency_key, status, attempts, external_id, error, created_at, updated_at
		FROM campaign_publications WHERE campaign_id = ? ORDER BY piece_id, adapter`, campaignID)
	if err != nil {
		return nil, fmt.Errorf("store: list publications: %w", err)
	}
	defer rows.Close()
	out := []Publication{}
	for rows.Next() {
		var p Publication
		var created, updated dbTime
		if err := rows.Scan(&p.CampaignID, &p.PieceID, &p.Adapter, &p.IdempotencyKey, &p.Status, &p.Attempts, &p.ExternalID, &p.Error, &created, &updated); err != nil {
			return nil, fmt.Errorf("store: list publications: %w", err)
		}
		p.CreatedAt, p.UpdatedAt = created.T, updated.T
		out = append(out, p)
	}
	return out, rows.Err()
}

// RecordAnalytics implements Marketing.
func (s *SQL) RecordAnalytics(ctx context.Context, a Analytics) (Analytics, error) {
	a.CreatedAt = s.now()
	if a.ObservedAt.IsZero() {
		a.ObservedAt = a.CreatedAt
	}
	err := s.w.QueryRowContext(ctx, s.d.rebind(`INSERT INTO campaign_analytics (campaign_id, piece_id, tenant_id, metrics, observed_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`), a.CampaignID, a.PieceID, a.TenantID, jsonOr(a.Metrics, "{}"), s.t(a.ObservedAt), s.t(a.CreatedAt)).Scan(&a.ID)
	if err != nil {
		return Analytics{}, fmt.Errorf("store: record analytics of %s/%s: %w", a.CampaignID, a.PieceID, err)
	}
	return a, nil
}

// ListAnalytics implements Marketing.
func (s *SQL) ListAnalytics(ctx context.Context, campaignID string) ([]Analytics, error) {
	rows, err := s.query(ctx, `SELECT id, campaign_id, piece_id, tenant_id, metrics, observed_at, created_at FROM campaign_analytics
		WHERE campaign_id = ? ORDER BY id`, campaignID)
	if err != nil {
		return nil, fmt.Errorf("store: list analytics: %w", err)
	}
	defer rows.Close()
	out := []Analytics{}
	for rows.Next() {
		var a Analytics
		var m string
		var obs, created dbTime
		if err := rows.Scan(&a.ID, &a.CampaignID, &a.PieceID, &a.TenantID, &m, &obs, &created); err != nil {
			return nil, fmt.Errorf("store: list analytics: %w", err)
		}
		a.Metrics, a.ObservedAt, a.CreatedAt = json.RawMessage(m), obs.T, created.T
		out = append(out, a)
	}
	return out, rows.Err()
}
