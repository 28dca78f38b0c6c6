package memory_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/memory"
)

// TestExportImportOverHTTP: every tenant's entries leave one service through
// GET /v1/memory/export and enter another through POST /v1/memory/import
// (the client a backup uses when memory runs in another process), where a
// tenant finds its own again by search; a tenant key may do neither.
func TestExportImportOverHTTP(t *testing.T) {
	serve := func(svc *memory.Service) *httptest.Server {
		authn := auth.Chain{keys{"key-a": {TenantID: "a"}}, auth.ServiceToken{Token: "svc"}}
		srv := httptest.NewServer(auth.Require(authn, logx.Discard())(svc.Handler()))
		t.Cleanup(srv.Close)
		return srv
	}
	src := newService(t, embeddedConfig(t), memory.Deps{})
	for _, tenant := range []string{"a", "b"} {
		ctx := auth.WithPrincipal(t.Context(), auth.Principal{TenantID: tenant})
		for _, code := range []string{"func Reverse(s string) string { return s }", "func Sum(xs []int) int { return 0 }"} {
			if _, err := src.RecordCodePattern(ctx, memory.CodePattern{Language: "go", Description: tenant + " helper", Code: code, Validated: true, Score: 1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	dst := newService(t, embeddedConfig(t), memory.Deps{})
	from := memory.NewClient(serve(src).URL, auth.Secret("svc"), nil)
	to := memory.NewClient(serve(dst).URL, auth.Secret("svc"), nil)

	var got []memory.Archived
	if err := from.Export(t.Context(), func(a memory.Archived) error { got = append(got, a); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("exported %d entries, want 4", len(got))
	}
	n, err := to.Import(t.Context(), got)
	if err != nil || n != 4 {
		t.Fatalf("import: %d, %v", n, err)
	}
	var again []memory.Archived
	if err := dst.Export(t.Context(), func(a memory.Archived) error { again = append(again, a); return nil }); err != nil {
		t.Fatal(err)
	}
	ids := func(as []memory.Archived) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.Collection+"/"+a.Tenant+"/"+a.ID)
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(ids(got), ids(again)) {
		t.Fatalf("after import: %v, want %v", ids(again), ids(got))
	}
	ex, err := dst.CodeExamples(auth.WithPrincipal(context.Background(), auth.Principal{TenantID: "b"}), memory.CodeQuery{Language: "go", Query: "b helper Reverse a string", Limit: 5, MinScore: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	if len(ex) == 0 {
		t.Fatal("tenant b finds nothing after the import: the entries were not embedded again")
	}

	srv := serve(src)
	for _, c := range []call{
		{method: "GET", path: "/v1/memory/export", key: "key-a"},
		{method: "POST", path: "/v1/memory/import", key: "key-a", body: got},
	} {
		if code, body := c.do(t, srv); code != http.StatusForbidden {
			t.Errorf("%s %s with a tenant key: %d %s, want 403", c.method, c.path, code, body)
		}
	}
	if code, body := (call{method: "POST", path: "/v1/memory/import", key: "svc", body: []memory.Archived{{Collection: "nope", Tenant: "a", ID: "x"}}}).do(t, srv); code != http.StatusBadRequest {
		t.Errorf("import into an unknown collection: %d %s, want 400", code, body)
	}
}
