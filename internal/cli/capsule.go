package cli

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/quantumlayer/qlp/internal/capsule"
)

func newStatusCmd(e *env) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show a job's status (request id or workflow id)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := connect(cmd.Context(), e, false, false)
			if err != nil {
				return err
			}
			defer b.Close()
			st, err := b.Status(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if jsonOut {
				return e.printJSON(st)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "job\t%s\nworkflow\t%s\nstatus\t%s\ncreated\t%s\n", st.RequestID, st.WorkflowID, st.Status, st.CreatedAt.Format(time.RFC3339))
			if st.Error != "" {
				fmt.Fprintf(tw, "error\t%s\n", st.Error)
			}
			if r := st.Result; r != nil {
				fmt.Fprintf(tw, "tasks\t%d of %d completed\ncapsule\t%s\ncost\t$%s (%d calls)\ntime\t%.1fs\n",
					r.TasksCompleted, r.TasksTotal, r.CapsuleID, r.Cost.USD, r.Cost.Calls, r.ExecutionTime)
				for _, t := range r.Outputs {
					fmt.Fprintf(tw, "  %s\t%s %s %s, %d attempt(s) (%s) %s\n", t.TaskID, t.Status, t.Tier, t.Model, t.Attempts, t.TierReason, t.Error)
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func newCapsuleCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "capsule", Short: "List, show, download and verify capsules"}
	cmd.AddCommand(newCapsuleListCmd(e), newCapsuleShowCmd(e), newCapsuleDownloadCmd(e), newCapsuleVerifyCmd(e), newCapsuleKeyCmd(e))
	return cmd
}

func newCapsuleListCmd(e *env) *cobra.Command {
	var jsonOut bool
	var limit, offset int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List capsules, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := connect(cmd.Context(), e, false, false)
			if err != nil {
				return err
			}
			defer b.Close()
			l, err := b.Capsules(cmd.Context(), limit, offset)
			if err != nil {
				return err
			}
			if jsonOut {
				return e.printJSON(l)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tLANGUAGE\tVERSION\tFILES\tVALIDATION\tCREATED")
			for _, c := range l.Capsules {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", c.ID, c.Name, c.Language, c.Version, c.FileCount, c.ValidationStatus, c.CreatedAt.Format(time.RFC3339))
			}
			fmt.Fprintf(tw, "(%d of %d)\n", l.Count, l.Total)
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	cmd.Flags().IntVar(&limit, "limit", 20, "how many")
	cmd.Flags().IntVar(&offset, "offset", 0, "skip this many")
	return cmd
}

func newCapsuleShowCmd(e *env) *cobra.Command {
	var jsonOut bool
	var version int
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a capsule's manifest summary and files",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := connect(cmd.Context(), e, false, false)
			if err != nil {
				return err
			}
			defer b.Close()
			d, err := b.Capsule(cmd.Context(), args[0], version)
			if err != nil {
				return err
			}
			if jsonOut {
				return e.printJSON(d)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "capsule\t%s\nname\t%s\nversion\t%d of %d\nrequest\t%s\nfiles\t%d (%d lines)\n", d.ID, d.Name, d.Version, d.LatestVersion, d.RequestID, d.Stats.TotalFiles, d.Stats.TotalLines)
			for _, f := range d.Files {
				fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\n", f.Path, f.Role, f.Size, f.SHA256[:12])
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	cmd.Flags().IntVar(&version, "version", 0, "capsule version (0 = latest)")
	return cmd
}

func newCapsuleDownloadCmd(e *env) *cobra.Command {
	var out string
	var version int
	cmd := &cobra.Command{
		Use:   "download ID",
		Short: "Download a capsule archive (format from --out's extension: .zip, .tar, .tar.gz)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				out = args[0] + ".zip"
			}
			format, err := archiveFormat(out)
			if err != nil {
				return err
			}
			b, err := connect(cmd.Context(), e, false, false)
			if err != nil {
				return err
			}
			defer b.Close()
			data, err := b.Download(cmd.Context(), args[0], version, format)
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, data, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s (%d bytes, sha256 %s)\n", out, len(data), capsule.Digest(data))
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "file to write (default ID.zip)")
	cmd.Flags().IntVar(&version, "version", 0, "capsule version (0 = latest)")
	return cmd
}

func newCapsuleVerifyCmd(e *env) *cobra.Command {
	var keyFile string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "verify ARCHIVE",
		Short: "Check every file hash and the manifest signature of a capsule archive",
		Long: `Check a capsule archive: every file against the SHA-256 and size the manifest
lists, no file missing or extra, and the manifest's ed25519 signature. Exits
non-zero on any mismatch. With --key, the signer must be that key; without
it, a signature by this machine's key (in the data directory) is reported as
trusted and any other valid signature as untrusted.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			data, err := capsule.ReadArchiveBytes(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			files, err := capsule.ReadArchive(data)
			if err != nil {
				return err
			}
			var trusted []ed25519.PublicKey
			if keyFile != "" {
				raw, err := os.ReadFile(keyFile)
				if err != nil {
					return err
				}
				k, err := capsule.ParsePublicKey(raw)
				if err != nil {
					return err
				}
				trusted = append(trusted, k)
			} else if _, err := os.Stat(capsule.KeyFile(e.cfg.DataDir)); err == nil {
				s, err := capsule.LoadOrCreateSigner(e.cfg.DataDir)
				if err != nil {
					return err
				}
				trusted = append(trusted, s.PublicKey())
			}
			v, err := capsule.Verify(files, trusted...)
			if err != nil {
				return err
			}
			if keyFile != "" && v.OK() && !v.Trusted {
				v.Problems = append(v.Problems, "signed by key "+v.KeyID+", not by the key given with --key")
			}
			if jsonOut {
				if err := e.printJSON(map[string]any{"ok": v.OK(), "capsule": v.Manifest.ID, "name": v.Manifest.Name, "files_checked": v.Files,
					"key_id": v.KeyID, "trusted": v.Trusted, "problems": v.Problems}); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(e.stdout, "capsule %s (%s) version %d\n", v.Manifest.Name, v.Manifest.ID, v.Manifest.Version)
				fmt.Fprintf(e.stdout, "  %d files checked against the manifest\n", v.Files)
				trust := "untrusted: not this machine's key; pass --key to check a publisher's key"
				if v.Trusted {
					trust = "trusted"
				}
				fmt.Fprintf(e.stdout, "  signature by key %s (%s)\n", v.KeyID, trust)
				for _, p := range v.Problems {
					fmt.Fprintf(e.stdout, "  MISMATCH %s\n", p)
				}
			}
			if !v.OK() {
				return fail("%s does not verify: %d problem(s): %s", args[0], len(v.Problems), strings.Join(v.Problems, "; "))
			}
			if !jsonOut {
				fmt.Fprintln(e.stdout, "  OK")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "public key (PEM or base64) the capsule must be signed with")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func newCapsuleKeyCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "key",
		Short: "Print the public key this installation signs capsules with (PEM), for verify --key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := os.Stat(capsule.KeyFile(e.cfg.DataDir)); errors.Is(err, os.ErrNotExist) {
				return fail("no signing key in %s yet: it is created when the first capsule is built", e.cfg.DataDir)
			}
			s, err := capsule.LoadOrCreateSigner(e.cfg.DataDir)
			if err != nil {
				return err
			}
			pemKey, err := s.PublicKeyPEM()
			if err != nil {
				return err
			}
			_, err = e.stdout.Write(pemKey)
			return err
		},
	}
}
