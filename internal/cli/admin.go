package cli

import (
	"fmt"
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

func newAPIKeyCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "apikey", Short: "Create, list and revoke tenant API keys"}
	var tenant, name string
	var admin, jsonOut bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an API key for a tenant (the key is shown once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if tenant == "" {
				return fmt.Errorf("--tenant is required")
			}
			s, err := openStore(cmd, e)
			if err != nil {
				return err
			}
			defer s.Close()
			if _, err := s.EnsureTenant(cmd.Context(), tenant, ""); err != nil {
				return err
			}
			key, digest, err := auth.NewKey()
			if err != nil {
				return err
			}
			var scopes []string
			if admin {
				scopes = []string{auth.ScopeAdmin}
			}
			id := uuid.NewString()
			if err := s.CreateAPIKey(cmd.Context(), store.APIKey{ID: id, TenantID: tenant, Name: name, Prefix: auth.DisplayPrefix(key.Reveal()),
				Digest: digest, Scopes: scopes}); err != nil {
				return err
			}
			if jsonOut {
				return e.printJSON(map[string]any{"key": key.Reveal(), "id": id, "tenant": tenant, "scopes": scopes})
			}
			fmt.Fprintf(e.stderr, "API key %s for tenant %s (store it now: it is not shown again)\n", id, tenant)
			fmt.Fprintln(e.stdout, key.Reveal())
			return nil
		},
	}
	create.Flags().StringVar(&tenant, "tenant", "", "tenant the key belongs to (created if new)")
	create.Flags().StringVar(&name, "name", "", "a label for the key")
	create.Flags().BoolVar(&admin, "admin", false, "grant the admin scope (budgets, keys)")
	create.Flags().BoolVar(&jsonOut, "json", false, `print {"key": "..."} as JSON`)

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
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPREFIX\tNAME\tSCOPES\tCREATED\tREVOKED")
			for _, k := range keys {
				revoked := ""
				if k.RevokedAt != nil {
					revoked = k.RevokedAt.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s…\t%s\t%v\t%s\t%s\n", k.ID, k.Prefix, k.Name, k.Scopes, k.CreatedAt.Format(time.RFC3339), revoked)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&listTenant, "tenant", "", "tenant")
	_ = list.MarkFlagRequired("tenant")

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
			if err := s.RevokeAPIKey(cmd.Context(), revokeTenant, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "revoked %s\n", args[0])
			return nil
		},
	}
	revoke.Flags().StringVar(&revokeTenant, "tenant", "", "tenant")
	_ = revoke.MarkFlagRequired("tenant")
	cmd.AddCommand(create, list, revoke)
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
