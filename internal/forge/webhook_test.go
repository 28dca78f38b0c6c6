package forge_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/delivery"
	"github.com/quantumlayer/qlp/internal/forge"
)

func TestGitHubSignature(t *testing.T) {
	body := []byte(`{"action":"completed"}`)
	good := forge.SignGitHub("s3cret", body)
	tests := []struct {
		name, secret, header string
		body                 []byte
		ok                   bool
	}{
		{"good", "s3cret", good, body, true},
		{"missing", "s3cret", "", body, false},
		{"other secret", "other", good, body, false},
		{"body changed", "s3cret", good, []byte(`{"action":"completed!"}`), false},
		{"sha1 scheme", "s3cret", "sha1=" + good[len("sha256="):], body, false},
		{"not hex", "s3cret", "sha256=zz", body, false},
		{"no secret configured", "", forge.SignGitHub("", body), body, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.ok, forge.VerifyGitHubSignature(tt.secret, tt.body, tt.header))
		})
	}
	require.True(t, forge.VerifyGitLabToken("tok", "tok"))
	require.False(t, forge.VerifyGitLabToken("tok", "tok2"))
	require.False(t, forge.VerifyGitLabToken("", ""))
}

func TestParseGitHubEvent(t *testing.T) {
	const repo = `"repository":{"full_name":"acme/shorty"}`
	tests := []struct {
		event, body string
		ok          bool
		state       delivery.CIState
		wantErr     bool
	}{
		{"check_suite", `{"action":"completed","check_suite":{"head_sha":"abc","status":"completed","conclusion":"failure"},` + repo + `}`, true, delivery.CIFailure, false},
		{"check_run", `{"action":"completed","check_run":{"head_sha":"abc","status":"completed","conclusion":"success"},` + repo + `}`, true, delivery.CISuccess, false},
		{"check_run", `{"action":"created","check_run":{"head_sha":"abc","status":"queued","conclusion":null},` + repo + `}`, true, delivery.CIPending, false},
		{"workflow_run", `{"action":"completed","workflow_run":{"head_sha":"abc","status":"completed","conclusion":"timed_out"},` + repo + `}`, true, delivery.CIFailure, false},
		{"status", `{"sha":"abc","state":"error",` + repo + `}`, true, delivery.CIFailure, false},
		{"ping", `{"zen":"Keep it logically awesome."}`, false, "", false},
		{"check_run", `{"action":"completed",` + repo + `}`, false, "", true},
		{"status", `not json`, false, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			ev, ok, err := forge.ParseGitHubEvent(tt.event, []byte(tt.body))
			require.Equal(t, tt.wantErr, err != nil, "%v", err)
			require.Equal(t, tt.ok, ok)
			if ok {
				require.Equal(t, delivery.CIEvent{Forge: "github", Repo: "acme/shorty", SHA: "abc", State: tt.state}, ev)
			}
		})
	}
}

func TestParseGitLabEvent(t *testing.T) {
	body := func(status string) []byte {
		return []byte(`{"object_kind":"pipeline","object_attributes":{"id":31,"sha":"def","status":"` + status + `"},"project":{"path_with_namespace":"acme/platform/shorty"}}`)
	}
	for status, want := range map[string]delivery.CIState{"failed": delivery.CIFailure, "success": delivery.CISuccess, "running": delivery.CIPending} {
		ev, ok, err := forge.ParseGitLabEvent("Pipeline Hook", body(status))
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, delivery.CIEvent{Forge: "gitlab", Repo: "acme/platform/shorty", SHA: "def", State: want}, ev)
	}
	_, ok, err := forge.ParseGitLabEvent("Push Hook", []byte(`{"object_kind":"push"}`))
	require.NoError(t, err)
	require.False(t, ok)
	_, _, err = forge.ParseGitLabEvent("Pipeline Hook", []byte(`{"object_kind":"pipeline"}`))
	require.Error(t, err)
}
