package marketing

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// View is a campaign as the API and exports show it.
type View struct {
	ID           string         `json:"campaign_id"`
	Name         string         `json:"name"`
	Status       string         `json:"status"`
	WorkflowID   string         `json:"workflow_id"`
	Publishing   string         `json:"publishing"`
	Error        string         `json:"error,omitempty"`
	Brief        Brief          `json:"brief"`
	Strategy     *Strategy      `json:"strategy,omitempty"`
	Optimisation string         `json:"optimisation,omitempty"`
	Calendar     []Slot         `json:"calendar"`
	Pieces       []PieceView    `json:"pieces"`
	Publications []PublicationV `json:"publications"`
	Report       Report         `json:"cost"`
	CreatedAt    time.Time      `json:"created_at"`
	UpdatedAt    time.Time      `json:"updated_at"`
}

// PieceView is one piece, with its length as its channel counts it.
type PieceView struct {
	ID            string    `json:"piece_id"`
	Channel       string    `json:"channel"`
	Day           int       `json:"day"`
	ScheduledAt   time.Time `json:"scheduled_at"`
	Theme         string    `json:"theme"`
	Status        string    `json:"status"`
	Content       Content   `json:"content"`
	Length        int       `json:"length"`
	Limit         int       `json:"limit"`
	Notes         string    `json:"notes,omitempty"`
	PromptVersion string    `json:"prompt_version,omitempty"`
	ModelCalls    int       `json:"model_calls"`
	CostPUSD      int64     `json:"cost_pusd"`
}

// PublicationV is one publication of a piece.
type PublicationV struct {
	PieceID    string    `json:"piece_id"`
	Adapter    string    `json:"adapter"`
	Status     string    `json:"status"`
	Attempts   int       `json:"attempts"`
	ExternalID string    `json:"external_id,omitempty"`
	Error      string    `json:"error,omitempty"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Load reads a campaign of tenantID with its pieces, publications and
// cost.
func Load(ctx context.Context, st Store, tenantID, id string) (View, error) {
	c, err := st.GetCampaign(ctx, tenantID, id)
	if err != nil {
		return View{}, err
	}
	v := View{ID: c.ID, Name: c.Name, Status: c.Status, WorkflowID: c.WorkflowID, Publishing: c.Publishing, Error: c.Error,
		Optimisation: c.Optimisation, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, Calendar: []Slot{}, Pieces: []PieceView{}, Publications: []PublicationV{}}
	if err := json.Unmarshal(c.Brief, &v.Brief); err != nil {
		return View{}, fmt.Errorf("marketing: campaign %s: brief: %w", id, err)
	}
	var s Strategy
	if json.Unmarshal(c.Strategy, &s) == nil && (s.Summary != "" || len(s.Pillars) > 0) {
		v.Strategy = &s
	}
	pieces, err := st.ListPieces(ctx, c.ID)
	if err != nil {
		return View{}, err
	}
	for _, p := range pieces {
		pv := PieceView{ID: p.ID, Channel: p.Channel, Day: p.Day, ScheduledAt: p.ScheduledAt, Theme: p.Theme, Status: p.Status,
			Notes: p.Notes, PromptVersion: p.PromptVersion, ModelCalls: p.ModelCalls, CostPUSD: p.CostPUSD}
		_ = json.Unmarshal(p.Content, &pv.Content)
		if spec, err := LookupChannel(p.Channel); err == nil {
			pv.Length, pv.Limit = spec.Length(spec.Post(pv.Content)), spec.BodyMax
		}
		v.Pieces = append(v.Pieces, pv)
		v.Calendar = append(v.Calendar, Slot{PieceID: p.ID, Day: p.Day, Date: p.ScheduledAt.UTC().Format(time.DateOnly),
			ScheduledAt: p.ScheduledAt, Channel: p.Channel, Theme: p.Theme})
	}
	pubs, err := st.ListPublications(ctx, c.ID)
	if err != nil {
		return View{}, err
	}
	for _, p := range pubs {
		v.Publications = append(v.Publications, PublicationV{PieceID: p.PieceID, Adapter: p.Adapter, Status: p.Status, Attempts: p.Attempts,
			ExternalID: p.ExternalID, Error: p.Error, UpdatedAt: p.UpdatedAt})
	}
	if v.Report, err = CostReport(ctx, st, c.ID); err != nil {
		return View{}, err
	}
	v.Report.Status, v.Report.Error = c.Status, c.Error
	return v, nil
}

// Export formats.
const (
	FormatJSON     = "json"
	FormatMarkdown = "markdown"
	FormatCSV      = "csv"
)

// Export renders v as format and returns the body and its content type.
func Export(v View, format string) ([]byte, string, error) {
	switch format {
	case FormatJSON, "":
		b, err := json.MarshalIndent(v, "", "  ")
		return append(b, '\n'), "application/json", err
	case FormatMarkdown, "md":
		return Markdown(v), "text/markdown; charset=utf-8", nil
	case FormatCSV:
		b, err := CalendarCSV(v)
		return b, "text/csv; charset=utf-8", err
	}
	return nil, "", fmt.Errorf("unknown export format %q (want json, markdown or csv)", format)
}

// Markdown is the campaign as a document: strategy, calendar, pieces.
func Markdown(v View) []byte {
	var b bytes.Buffer
	name := v.Name
	if name == "" {
		name = v.ID
	}
	fmt.Fprintf(&b, "# %s\n\n", name)
	fmt.Fprintf(&b, "Campaign `%s` · %s · %d days from %s · channels: %s · cost $%s (%d model calls)\n\n", v.ID, v.Status,
		v.Brief.DurationDays, v.Brief.LaunchDate, strings.Join(v.Brief.Channels, ", "), v.Report.CostUSD, v.Report.Calls)
	if v.Error != "" {
		fmt.Fprintf(&b, "**Failed:** %s\n\n", v.Error)
	}
	if s := v.Strategy; s != nil {
		fmt.Fprintf(&b, "## Strategy\n\n%s\n\n", s.Summary)
		if len(s.Pillars) > 0 {
			b.WriteString("### Messaging pillars\n\n")
			for _, p := range s.Pillars {
				fmt.Fprintf(&b, "- %s\n", p)
			}
			b.WriteString("\n")
		}
		if len(s.Themes) > 0 {
			b.WriteString("### Themes\n\n")
			for _, t := range s.Themes {
				fmt.Fprintf(&b, "- %s\n", t)
			}
			b.WriteString("\n")
		}
	}
	if v.Optimisation != "" {
		fmt.Fprintf(&b, "## Optimisation\n\n%s\n\n", v.Optimisation)
	}
	b.WriteString("## Calendar\n\n| Date | Time (UTC) | Channel | Theme | Piece |\n|---|---|---|---|---|\n")
	for _, s := range v.Calendar {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", s.Date, s.ScheduledAt.UTC().Format("15:04"), s.Channel, mdCell(s.Theme), s.PieceID)
	}
	b.WriteString("\n## Pieces\n")
	for _, p := range v.Pieces {
		fmt.Fprintf(&b, "\n### %s · %s · %s\n\n", p.ID, p.Channel, p.ScheduledAt.UTC().Format("2006-01-02 15:04 UTC"))
		for _, f := range []struct{ k, v string }{{"Title", p.Content.Title}, {"Subject", p.Content.Subject}, {"Tagline", p.Content.Tagline}} {
			if f.v != "" {
				fmt.Fprintf(&b, "**%s:** %s\n\n", f.k, f.v)
			}
		}
		spec, err := LookupChannel(p.Channel)
		text := p.Content.Body
		if err == nil {
			text = spec.Post(p.Content)
		}
		fmt.Fprintf(&b, "%s\n\n", text)
		fmt.Fprintf(&b, "_%d of %d characters · %s_\n", p.Length, p.Limit, p.Status)
		if p.Notes != "" {
			fmt.Fprintf(&b, "\n> %s\n", p.Notes)
		}
	}
	return b.Bytes()
}

func mdCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// CalendarCSV is the content calendar as CSV: one row a piece.
func CalendarCSV(v View) ([]byte, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.Write([]string{"date", "time_utc", "day", "channel", "theme", "piece_id", "status", "title", "text", "length", "limit"}); err != nil {
		return nil, err
	}
	for _, p := range v.Pieces {
		spec, err := LookupChannel(p.Channel)
		text := p.Content.Body
		if err == nil {
			text = spec.Post(p.Content)
		}
		title := firstNonEmpty(p.Content.Title, p.Content.Subject, p.Content.Tagline)
		if err := w.Write([]string{p.ScheduledAt.UTC().Format(time.DateOnly), p.ScheduledAt.UTC().Format("15:04"), strconv.Itoa(p.Day),
			p.Channel, p.Theme, p.ID, p.Status, title, text, strconv.Itoa(p.Length), strconv.Itoa(p.Limit)}); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return b.Bytes(), w.Error()
}
