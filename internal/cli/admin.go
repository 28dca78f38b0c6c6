package cli

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/config"
	"github.com/quantumlayer/qlp/internal/store"
)

// openStore opens the configured store (applying migrations).
func openStore(cmd *cobra.Command, e *env) (*store.SQL, error) {
	if err := e.cfg.Store.Validate(); err != nil {
		return nil, err
	}
	return store.Open(cmd.Context(), e.cfg.Store, e.cfg.DataDir)
}

// cliActor names who ran a command on the store, for the audit log.
func cliActor() string {
	if u := os.Getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}

// auditCLI records a command that changed the store; a failure to record
// is reported, since the change is made.
func auditCLI(cmd *cobra.Command, e *env, s store.Store, tenant, action, target string, err error) {
	out := "ok"
	detail := ""
	if err != nil {
		out, detail = "error", err.Error()
	}
	if aerr := s.AppendAudit(context.WithoutCancel(cmd.Context()), store.AuditEntry{TenantID: tenant, Actor: cliActor(), Action: action,
		Target: target, Outcome: out, Detail: detail}); aerr != nil {
		fmt.Fprintln(e.stderr, "qlp: warning: the audit log did not record this:", aerr)
	}
}

// parseScopes checks --scope values; none gives auth.DefaultScopes.
func parseScopes(in []string, admin bool) ([]string, error) {
	var out []string
	for _, v := range in {
		for _, sc := range strings.Split(v, ",") {
			sc = strings.TrimSpace(sc)
			if sc == "" {
				continue
			}
			if !auth.KnownScope(sc) {
				return nil, fmt.Errorf("--scope: unknown scope %q (want %s)", sc, strings.Join(auth.TenantScopes(), ", "))
			}
			if !slices.Contains(out, sc) {
				out = append(out, sc)
			}
		}
	}
	if admin && !slices.Contains(out, auth.ScopeAdmin) {
		out = append(out, auth.ScopeAdmin)
	}
	if len(out) == 0 {
		out = auth.DefaultScopes()
	}
	return out, nil
}

func newAPIKeyCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "apikey", Short: "Create, list, rotate and revoke tenant API keys"}
	var tenant, name string
	var admin, jsonOut bool
	var scopes []string
	var expires time.Duration
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an API key for a tenant (the key is shown once)",
		Long: `Create an API key for a tenant. Its scopes say what it may do: submit (submit
and cancel jobs), read (jobs, capsules, progress, costs, reviews), review
(answer reviews), admin (budgets, review policy, audit log; implies the
others). Without --scope a key gets submit, read and review.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if tenant == "" {
				return fmt.Errorf("--tenant is required")
			}
			sc, err := parseScopes(scopes, admin)
			if err != nil {
				return err
			}
			if expires < 0 {
				return fmt.Errorf("--expires: must be positive, e.g. 720h")
			}
			s, err := openStore(cmd, e)
			if err != nil {
				return err
			}
			defer s.Close()
			if _, err := s.EnsureTenant(cmd.Context(), tenant, ""); err != nil {
				return err
			}
			rec, key, err := newKey(cmd, s, store.APIKey{TenantID: tenant, Name: name, Scopes: sc}, expires)
			auditCLI(cmd, e, s, tenant, "apikey create", rec.ID, err)
			if err != nil {
				return err
			}
			if jsonOut {
				return e.printJSON(map[string]any{"key": key.Reveal(), "id": rec.ID, "tenant": tenant, "scopes": sc, "expires_at": rec.ExpiresAt})
			}
			fmt.Fprintf(e.stderr, "API key %s for tenant %s, scopes %s%s (store it now: it is not shown again)\n", rec.ID, tenant, strings.Join(sc, ","), expiryNote(rec.ExpiresAt))
			fmt.Fprintln(e.stdout, key.Reveal())
			return nil
		},
	}
	create.Flags().StringVar(&tenant, "tenant", "", "tenant the key belongs to (created if new)")
	create.Flags().StringVar(&name, "name", "", "a label for the key")
	create.Flags().StringSliceVar(&scopes, "scope", nil, "scopes: submit, read, review, admin (repeatable or comma-separated; default submit,read,review)")
	create.Flags().BoolVar(&admin, "admin", false, "grant the admin scope too (budgets, review policy, audit log)")
	create.Flags().DurationVar(&expires, "expires", 0, "the key stops working after this long, e.g. 2160h (default: never)")
	create.Flags().BoolVar(&jsonOut, "json", false, `print {"key": "...", "id": "..."} as JSON`)

	var listTenant string
	list := &cobra.Command{
		Use:   "list",
		Short: "List a tenant's keys (prefixes only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore(cmd, e)
			if err != nil {
				return err
			}
			defer s.Close()
			keys, err := s.ListAPIKeys(cmd.Context(), listTenant)
			if err != nil {
				return err
			}
			at := func(t *time.Time) string {
				if t == nil {
					return "-"
				}
				return t.UTC().Format(time.RFC3339)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPREFIX\tNAME\tSCOPES\tCREATED\tEXPIRES\tLAST USED\tREVOKED")
			for _, k := range keys {
				sc := k.Scopes
				if len(sc) == 0 {
					sc = auth.DefaultScopes()
				}
				fmt.Fprintf(tw, "%s\t%s…\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix, k.Name, strings.Join(sc, ","), k.CreatedAt.UTC().Format(time.RFC3339),
					at(k.ExpiresAt), at(k.LastUsedAt), at(k.RevokedAt))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&listTenant, "tenant", "", "tenant")
	_ = list.MarkFlagRequired("tenant")

	var rotateTenant string
	var overlap time.Duration
	rotate := &cobra.Command{
		Use:   "rotate ID",
		Short: "Replace a key: a new key with the same scopes now, the old one expiring after --overlap",
		Long: `Creates a new key with the old one's name, scopes and lifetime, and makes the
old key expire after --overlap (default 24h), so that both work while
clients change over. The new key is shown once.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if overlap < 0 {
				return fmt.Errorf("--overlap: must not be negative")
			}
			s, err := openStore(cmd, e)
			if err != nil {
				return err
			}
			defer s.Close()
			keys, err := s.ListAPIKeys(cmd.Context(), rotateTenant)
			if err != nil {
				return err
			}
			var old *store.APIKey
			for i := range keys {
				if keys[i].ID == args[0] && keys[i].RevokedAt == nil {
					old = &keys[i]
				}
			}
			if old == nil {
				return fmt.Errorf("no active key %s for tenant %s (`qlp apikey list --tenant %s`)", args[0], rotateTenant, rotateTenant)
			}
			life := time.Duration(0)
			if old.ExpiresAt != nil {
				life = old.ExpiresAt.Sub(old.CreatedAt)
			}
			rec, key, err := newKey(cmd, s, store.APIKey{TenantID: old.TenantID, Name: old.Name, Scopes: old.Scopes}, life)
			if err == nil {
				until := time.Now().UTC().Add(overlap)
				if old.ExpiresAt != nil && old.ExpiresAt.Before(until) {
					until = *old.ExpiresAt
				}
				err = s.ExpireAPIKey(cmd.Context(), rotateTenant, old.ID, until)
				old.ExpiresAt = &until
			}
			auditCLI(cmd, e, s, rotateTenant, "apikey rotate", old.ID+" -> "+rec.ID, err)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "API key %s replaces %s, which works until %s (store the new key now: it is not shown again)\n",
				rec.ID, old.ID, old.ExpiresAt.Format(time.RFC3339))
			fmt.Fprintln(e.stdout, key.Reveal())
			return nil
		},
	}
	rotate.Flags().StringVar(&rotateTenant, "tenant", "", "tenant")
	rotate.Flags().DurationVar(&overlap, "overlap", 24*time.Hour, "how long the old key keeps working")
	_ = rotate.MarkFlagRequired("tenant")

	var revokeTenant string
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore(cmd, e)
			if err != nil {
				return err
			}
			defer s.Close()
			err = s.RevokeAPIKey(cmd.Context(), revokeTenant, args[0])
			auditCLI(cmd, e, s, revokeTenant, "apikey revoke", args[0], err)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "revoked %s\n", args[0])
			return nil
		},
	}
	revoke.Flags().StringVar(&revokeTenant, "tenant", "", "tenant")
	_ = revoke.MarkFlagRequired("tenant")
	cmd.AddCommand(create, list, rotate, revoke)
	return cmd
}

// newKey stores a fresh key like tmpl, expiring after life (0: never).
func newKey(cmd *cobra.Command, s store.Store, tmpl store.APIKey, life time.Duration) (store.APIKey, auth.Secret, error) {
	key, digest, err := auth.NewKey()
	if err != nil {
		return store.APIKey{}, "", err
	}
	tmpl.ID, tmpl.Prefix, tmpl.Digest = uuid.NewString(), auth.DisplayPrefix(key.Reveal()), digest
	tmpl.CreatedAt = time.Now().UTC().Truncate(time.Second)
	if life > 0 {
		exp := tmpl.CreatedAt.Add(life)
		tmpl.ExpiresAt = &exp
	}
	return tmpl, key, s.CreateAPIKey(cmd.Context(), tmpl)
}

func expiryNote(t *time.Time) string {
	if t == nil {
		return ""
	}
	return ", expires " + t.Format(time.RFC3339)
}

func newAuditCmd(e *env) *cobra.Command {
	var tenant string
	var since time.Duration
	var limit int
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit log: every state-changing call and key change, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore(cmd, e)
			if err != nil {
				return err
			}
			defer s.Close()
			f := store.AuditFilter{TenantID: tenant, Limit: limit}
			if since > 0 {
				f.Since = time.Now().Add(-since)
			}
			entries, err := s.ListAudit(cmd.Context(), f)
			if err != nil {
				return err
			}
			if jsonOut {
				return e.printJSON(entries)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "AT\tTENANT\tACTOR\tACTION\tTARGET\tSTATUS\tOUTCOME")
			for _, a := range entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", a.At.UTC().Format(time.RFC3339), a.TenantID, a.Actor, a.Action, a.Target, a.Status, a.Outcome)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "one tenant's entries (default: every tenant)")
	cmd.Flags().DurationVar(&since, "since", 0, "only entries of this last while, e.g. 24h")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many entries (up to 1000)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func newMigrateCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending database migrations and print the schema version",
		Long:  "Apply pending migrations to the configured store (SQLite under the data dir, or QLP_DATABASE_URL).\nServers also migrate at start-up; run this first when several replicas share a database.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore(cmd, e)
			if err != nil {
				return err
			}
			defer s.Close()
			applied, known, err := s.SchemaVersion(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s store at schema version %d (latest %d)\n", s.Driver(), applied, known)
			return nil
		},
	}
}

func newConfigCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Show or check the configuration"}
	var markdown bool
	dump := &cobra.Command{
		Use:   "dump",
		Short: "Print every setting with its value (secrets redacted), YAML key and environment variable",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if markdown {
				fmt.Fprintln(e.stdout, "| YAML key | Environment variable | Meaning |")
				fmt.Fprintln(e.stdout, "|---|---|---|")
				defaults := config.Defaults()
				for _, s := range defaults.Dump() {
					help := s.Help
					if s.Secret {
						help += " (secret)"
					}
					fmt.Fprintf(e.stdout, "| `%s` | `%s` | %s |\n", s.Key, s.Env, strings.ReplaceAll(help, "|", "\\|"))
				}
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tENV\tVALUE\tMEANING")
			for _, s := range e.cfg.Dump() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Key, s.Env, s.Display(), s.Help)
			}
			return tw.Flush()
		},
	}
	dump.Flags().BoolVar(&markdown, "markdown", false, "print the table of settings as Markdown (no values), as in docs/configuration.md")
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Validate the configuration as `qlp up` would; exit 1 on the first problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := e.cfg.ValidateCore(); err != nil {
				return err
			}
			if err := e.cfg.LLM.Validate(); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, "configuration OK")
			return nil
		},
	}
	cmd.AddCommand(dump, verify)
	return cmd
}
