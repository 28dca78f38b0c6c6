package e2e

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/sandbox"
	"github.com/quantumlayer/qlp/internal/validation"
)

// The tests' platforms share one Validation Mesh, served over HTTP as in
// split mode (QLP_VALIDATION_URL): its cache then validates the example's
// files once for the whole package instead of once per test.
var sharedMesh struct {
	once  sync.Once
	url   string
	token string
	err   error
	close func()
}

const meshToken = "e2e-service-token-for-the-shared-validation-mesh"

// validationURL starts the shared mesh on first use, or returns "" where
// bwrap is missing (a failure under QLP_TEST_REQUIRE_SERVICES=1).
func validationURL(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("bwrap"); err != nil {
		if os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("bwrap is not installed (run scripts/install-deps.sh test): %v", err)
		}
		return ""
	}
	sharedMesh.once.Do(func() {
		ctx := context.Background()
		sb, err := sandbox.New(ctx, sandbox.Defaults(), sandbox.Deps{Logger: logx.Discard()})
		if err != nil {
			sharedMesh.err = err
			return
		}
		m, err := validation.New(ctx, validation.Defaults(), validation.Deps{Logger: logx.Discard(), Sandbox: sb})
		if err != nil {
			sb.Close()
			sharedMesh.err = err
			return
		}
		srv := httptest.NewServer(auth.Require(auth.ServiceToken{Token: meshToken}, logx.Discard())(m.Handler()))
		sharedMesh.url, sharedMesh.token = srv.URL, meshToken
		sharedMesh.close = func() { srv.Close(); sb.Close() }
	})
	require.NoError(t, sharedMesh.err)
	return sharedMesh.url
}
