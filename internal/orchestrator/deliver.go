package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/delivery"
	"github.com/quantumlayer/qlp/internal/httpx"
)

// DeliverRequest asks for a capsule version to be pushed to a git remote.
// The token is used for this push only: it is neither stored nor logged.
type DeliverRequest struct {
	RemoteURL string `json:"remote_url"`
	// Branch defaults to qlp/<capsule name>.
	Branch string `json:"branch,omitempty"`
	// Version defaults to the latest.
	Version int `json:"version,omitempty"`
	// Token authenticates over HTTPS; Username goes with it (default
	// x-access-token).
	Token    string `json:"token,omitempty"`
	Username string `json:"username,omitempty"`
	// SSHKey (PEM) authenticates ssh:// and user@host: remotes;
	// SSHKnownHost pins the server's host key (an authorized_keys line).
	SSHKey       string `json:"ssh_key,omitempty"`
	SSHKnownHost string `json:"ssh_known_host,omitempty"`
	// Message overrides the commit message made from the manifest.
	Message string `json:"message,omitempty"`
}

// DeliverResponse says what was pushed.
type DeliverResponse struct {
	CapsuleID string `json:"capsule_id"`
	Version   int    `json:"version"`
	delivery.PushResult
}

// Deliver pushes a capsule version of the tenant to a git remote.
func (s *Service) Deliver(ctx context.Context, tenantID, id string, req DeliverRequest) (DeliverResponse, error) {
	c, v, err := s.Capsule(ctx, tenantID, id, req.Version)
	if err != nil {
		return DeliverResponse{}, err
	}
	branch := req.Branch
	if branch == "" {
		branch = "qlp/" + branchSegment(c.Name, c.ID)
	}
	msg := req.Message
	if msg == "" {
		msg = fmt.Sprintf("%s: %s\n\nQLP capsule %s version %d (request %s).\n", c.Name, firstLine(c.Description), c.ID, v.Version, c.RequestID)
	}
	res, err := delivery.Push(ctx, capsule.VersionFiles(v), delivery.PushOptions{Remote: req.RemoteURL, Branch: branch, Message: msg,
		AuthorName: "QLP", AuthorEmail: "qlp@localhost", When: v.CreatedAt,
		Auth: delivery.Auth{Token: req.Token, Username: req.Username, SSHKey: []byte(req.SSHKey), SSHKnownHost: req.SSHKnownHost}})
	var fe delivery.FieldError
	switch {
	case errors.As(err, &fe):
		return DeliverResponse{}, httpx.BadRequest(fe.Field(), "%s", strings.TrimPrefix(err.Error(), fe.Field()+": "))
	case errors.Is(err, delivery.ErrAuth):
		return DeliverResponse{}, &httpx.Error{Status: http.StatusUnprocessableEntity, Code: "remote_auth", Field: "token", Message: err.Error()}
	case errors.Is(err, delivery.ErrRejected):
		return DeliverResponse{}, &httpx.Error{Status: http.StatusConflict, Code: "remote_rejected", Message: err.Error()}
	case err != nil:
		return DeliverResponse{}, &httpx.Error{Status: http.StatusBadGateway, Code: "remote_failed", Message: err.Error()}
	}
	return DeliverResponse{CapsuleID: c.ID, Version: v.Version, PushResult: res}, nil
}

func (s *Service) handleDeliver(w http.ResponseWriter, r *http.Request) error {
	tid, err := tenant(r)
	if err != nil {
		return err
	}
	var req DeliverRequest
	if err := httpx.DecodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	res, err := s.Deliver(r.Context(), tid, r.PathValue("id"), req)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, res)
	return nil
}

// Deliver pushes a capsule version to a git remote
// (POST /api/v2/capsules/{id}/deliver).
func (c *Client) Deliver(ctx context.Context, id string, req DeliverRequest) (DeliverResponse, error) {
	var out DeliverResponse
	return out, c.hc.Do(ctx, http.MethodPost, "/api/v2/capsules/"+url.PathEscape(id)+"/deliver", req, &out)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// branchSegment makes a branch name part of a capsule's name.
func branchSegment(name, fallback string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-.")
	if out == "" || len(out) > 60 {
		return fallback
	}
	return out
}
