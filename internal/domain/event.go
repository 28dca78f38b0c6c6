package domain

import (
	"encoding/json"
	"time"
)

// Event is one progress event of a job. ID grows monotonically across all
// jobs, so it doubles as the SSE event id.
type Event struct {
	ID        int64
	JobID     string
	TenantID  string
	Type      string
	TaskID    string
	Message   string
	Data      json.RawMessage
	CreatedAt time.Time
}
