package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/backup"
)

func newBackupCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "backup", Short: "Take, list, check and restore encrypted backups",
		Long: `A backup holds the store, the capsule archives of the blob store, the Vector
Memory's entries, the embedded Temporal server's database, the capsule
signing key and the configuration (secrets redacted), encrypted with age to
backup.key and kept in the blob store under backups/. The worker takes one
every backup.interval when a key is set. Runbook: docs/operations.md.`}
	var jsonOut bool
	printJSON := func(v any) error {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	create := &cobra.Command{
		Use:   "create",
		Short: "Take a backup now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := app.Open(cmd.Context(), e.cfg, e.logger, app.Options{NoEngine: true, Use: []string{app.Memory}, Version: e.version})
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return fmt.Errorf("%w\nA qlp process runs on this data directory with the embedded Vector Memory. Its worker takes the scheduled backups (backup.interval); to take one now, set QLP_MEMORY_URL to its memory service (e.g. http://%s) and QLP_SERVICE_TOKEN to its service token, or stop it first", err, e.cfg.Services.MemoryAddr)
			}
			if err != nil {
				return err
			}
			defer p.Close()
			svc, err := p.OpenBackups(nil)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stderr, "qlp: taking a backup of", p.Store.Driver(), "store, blobs in", p.Blobs, "and the Vector Memory…")
			m, err := svc.Create(cmd.Context())
			if err != nil {
				return err
			}
			if jsonOut {
				m.Entries = nil
				return printJSON(m)
			}
			fmt.Fprintf(e.stdout, "backup %s taken in %.1f s: %d blob(s), %d memory entries, embedded Temporal: %t\n",
				m.ID, float64(m.DurationMillis)/1000, m.Blobs, m.MemoryEntries, m.Temporal)
			return nil
		},
	}
	create.Flags().BoolVar(&jsonOut, "json", false, "print the manifest (without its list of entries) as JSON")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the backups in the blob store, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := app.Open(cmd.Context(), e.cfg, e.logger, app.Options{NoEngine: true, Version: e.version})
			if err != nil {
				return err
			}
			defer p.Close()
			svc, err := p.OpenBackups(nil)
			if err != nil {
				return err
			}
			all, err := svc.List(cmd.Context())
			if err != nil {
				return err
			}
			if jsonOut {
				if all == nil {
					all = []backup.Info{}
				}
				return printJSON(all)
			}
			if len(all) == 0 {
				fmt.Fprintln(e.stdout, "no backups in", p.Blobs)
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCREATED\tSIZE")
			for _, b := range all {
				fmt.Fprintf(tw, "%s\t%s\t%d\n", b.ID, b.CreatedAt.Format(time.RFC3339), b.Size)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&jsonOut, "json", false, "print JSON")

	verify := &cobra.Command{
		Use:   "verify ID|FILE",
		Short: "Decrypt a backup and check every entry against its manifest",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := app.Open(cmd.Context(), e.cfg, e.logger, app.Options{NoEngine: true, Version: e.version})
			if err != nil {
				return err
			}
			defer p.Close()
			svc, err := p.OpenBackups(nil)
			if err != nil {
				return err
			}
			m, err := svc.Verify(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "backup %s verified: %d entries match their checksums (%s store, %d blob(s), %d memory entries, taken %s by qlp %s)\n",
				m.ID, len(m.Entries), m.StoreDriver, m.Blobs, m.MemoryEntries, m.CreatedAt.Format(time.RFC3339), m.QLPVersion)
			return nil
		},
	}

	var force bool
	restore := &cobra.Command{
		Use:   "restore ID|FILE",
		Short: "Restore a backup into an empty data directory and database (the platform stopped)",
		Long: `Checks the whole backup (decryption with backup.key, every checksum) and only
then restores it into the configured store (the SQLite file under the data
directory, or the PostgreSQL database of store.database_url), the data
directory (embedded Temporal database, signing key), the blob store and the
Vector Memory. A target that holds data is refused unless --force. Stop
every qlp process using them first.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			start := time.Now()
			rep, err := app.RestoreBackup(cmd.Context(), e.cfg, e.logger, args[0], force, func(step string) {
				fmt.Fprintf(e.stderr, "qlp: [%5.1fs] %s\n", time.Since(start).Seconds(), step)
			})
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(rep)
			}
			fmt.Fprintf(e.stdout, "backup %s restored in %.1f s: %s store, %d blob(s), %d memory entries; start the platform on %s\n",
				rep.Manifest.ID, rep.Duration.Seconds(), rep.Manifest.StoreDriver, rep.Blobs, rep.MemoryEntries, e.cfg.DataDir)
			return nil
		},
	}
	restore.Flags().BoolVar(&force, "force", false, "replace the data that is there")
	restore.Flags().BoolVar(&jsonOut, "json", false, "print the report as JSON")

	keygen := &cobra.Command{
		Use:   "keygen",
		Short: "Print a new backup key (an age identity) for backup.key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := backup.NewKey()
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stderr, "qlp: keep this key in a secret store away from the platform: without it no backup can be restored")
			fmt.Fprintln(e.stdout, k)
			return nil
		},
	}
	cmd.AddCommand(create, list, verify, restore, keygen)
	return cmd
}
