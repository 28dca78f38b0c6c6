package cli

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/retest"
)

func newStatusCmd(e *env) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show a job's status (request id or workflow id)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return callAPI(cmd, e, apiClient(e, false), jsonOut, func(ctx context.Context, c *orchestrator.Client) (orchestrator.StatusResponse, error) {
				return c.Status(ctx, args[0])
			}, func(st orchestrator.StatusResponse) error { printStatus(e.stdout, st); return nil })
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

// printStatus writes a job's status for a person: the job, each task
// with every attempt and why it failed, and, for a job that failed on its
// capsule's validation, every finding with its place.
func printStatus(w io.Writer, st orchestrator.StatusResponse) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "job\t%s\nworkflow\t%s\nstatus\t%s\ncreated\t%s\n", st.RequestID, st.WorkflowID, st.Status, st.CreatedAt.Format(time.RFC3339))
	if st.Error != "" {
		fmt.Fprintf(tw, "error\t%s\n", st.Error)
	}
	r := st.Result
	if r == nil {
		tw.Flush()
		return
	}
	fmt.Fprintf(tw, "tasks\t%d of %d completed\ncapsule\t%s\ncost\t$%s (%d calls)\ntime\t%.1fs\n",
		r.TasksCompleted, r.TasksTotal, r.CapsuleID, r.Cost.USD, r.Cost.Calls, r.ExecutionTime)
	if len(r.PlanAttempts) > 1 || len(r.PlanAttempts) == 1 && r.PlanAttempts[0].Status != "passed" {
		fmt.Fprintf(tw, "  plan\t%d attempt(s)\n", len(r.PlanAttempts))
		for _, a := range r.PlanAttempts {
			fmt.Fprintf(tw, "  \t%s\n", attemptLine(a))
		}
	}
	for _, t := range r.Outputs {
		fmt.Fprintf(tw, "  %s\t%s %s %s, %d attempt(s) (%s) %s\n", t.TaskID, t.Status, t.Tier, t.Model, t.Attempts, t.TierReason, t.Error)
		for _, a := range t.AttemptLog {
			fmt.Fprintf(tw, "  \t%s\n", attemptLine(a))
		}
	}
	tw.Flush()
	if len(r.Findings) > 0 {
		fmt.Fprintf(w, "findings of the capsule's validation (%d):\n", len(r.Findings))
		for _, f := range r.Findings {
			fmt.Fprintf(w, "  %s\n", findingLine(f))
		}
	}
}

// attemptLine is one attempt in a line: its number and phase, who made it
// on which tier, and how it ended.
func attemptLine(a orchestrator.AttemptOutput) string {
	s := fmt.Sprintf("attempt %d", a.Attempt)
	switch a.Phase {
	case "capsule":
		s += " (capsule repair)"
	case "plan":
		s += " (plan)"
	}
	s += fmt.Sprintf(": %s on %s %s: %s", a.Role, a.Tier, a.Model, a.Status)
	if a.Validation == "unusable" {
		s += " (unusable answer)"
	}
	if len(a.Deleted) > 0 {
		s += " (deleted " + strings.Join(a.Deleted, ", ") + ")"
	}
	if a.Reason != "" {
		s += ": " + a.Reason
	}
	return s
}

// findingLine is a finding as a compiler prints one: file:line:col, then
// the check, its rule and the message, and the task it went back to.
func findingLine(f orchestrator.Finding) string {
	s := ""
	if f.File != "" {
		s = f.File
		if f.Line > 0 {
			s += fmt.Sprintf(":%d", f.Line)
			if f.Column > 0 {
				s += fmt.Sprintf(":%d", f.Column)
			}
		}
		s += ": "
	}
	s += f.Check
	if f.Rule != "" {
		s += " " + f.Rule
	}
	s += ": " + f.Message
	if f.TaskID != "" {
		s += " (task " + f.TaskID + ")"
	}
	return s
}

func newCapsuleCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "capsule", Short: "List, show, download, verify, retest, push and diff capsules, and open pull requests of them"}
	cmd.AddCommand(newCapsuleListCmd(e), newCapsuleShowCmd(e), newCapsuleDownloadCmd(e), newCapsuleVerifyCmd(e), newCapsuleRetestCmd(e), newCapsuleKeyCmd(e), newCapsulePushCmd(e), newCapsulePRCmd(e), newCapsuleDiffCmd(e))
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
			return callAPI(cmd, e, apiClient(e, false), jsonOut, func(ctx context.Context, c *orchestrator.Client) (orchestrator.CapsuleList, error) {
				return c.Capsules(ctx, limit, offset)
			}, func(l orchestrator.CapsuleList) error {
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tLANGUAGE\tVERSION\tFILES\tVALIDATION\tCREATED")
				for _, c := range l.Capsules {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", c.ID, c.Name, c.Language, c.Version, c.FileCount, c.ValidationStatus, c.CreatedAt.Format(time.RFC3339))
				}
				fmt.Fprintf(tw, "(%d of %d)\n", l.Count, l.Total)
				return tw.Flush()
			})
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
			var rounds orchestrator.DeliveryRounds
			return callAPI(cmd, e, apiClient(e, false), jsonOut, func(ctx context.Context, c *orchestrator.Client) (orchestrator.CapsuleDetail, error) {
				d, err := c.Capsule(ctx, args[0], version)
				if err != nil || jsonOut {
					return d, err
				}
				rounds, err = c.Deliveries(ctx, args[0])
				return d, err
			}, func(d orchestrator.CapsuleDetail) error {
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "capsule\t%s\nname\t%s\nversion\t%d of %d\nrequest\t%s\nfiles\t%d (%d lines)\n", d.ID, d.Name, d.Version, d.LatestVersion, d.RequestID, d.Stats.TotalFiles, d.Stats.TotalLines)
				for _, f := range d.Files {
					fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\n", f.Path, f.Role, f.Size, f.SHA256[:12])
				}
				if len(rounds.Rounds) > 0 {
					fmt.Fprintf(tw, "deliveries\t%d round(s)\n", len(rounds.Rounds))
					for _, r := range rounds.Rounds {
						fmt.Fprintf(tw, "  %s\n", deliveryLine(r))
					}
				}
				return tw.Flush()
			})
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

func newCapsulePushCmd(e *env) *cobra.Command {
	var req orchestrator.DeliverRequest
	var sshKeyFile string
	cmd := &cobra.Command{
		Use:   "push ID --remote URL",
		Short: "Push a capsule to a git remote: its whole tree as one commit on a branch",
		Long: `Pushes a capsule version to a git repository (a new one, or a branch of an
existing one): the capsule's files as the whole tree of one commit whose
message comes from the manifest, on --branch (default qlp/<capsule name>;
a branch that exists gets the commit as a child). HTTPS remotes take the
token in QLP_GIT_TOKEN (never a flag, so that it stays out of shell history
and process lists); ssh:// and user@host: remotes take --ssh-key-file. A
failed push leaves the remote as it was.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Token = os.Getenv("QLP_GIT_TOKEN")
			if sshKeyFile != "" {
				k, err := os.ReadFile(sshKeyFile)
				if err != nil {
					return fmt.Errorf("--ssh-key-file: %w", err)
				}
				req.SSHKey = string(k)
			}
			b, err := connect(cmd.Context(), e, false, false)
			if err != nil {
				return err
			}
			defer b.Close()
			res, err := b.Deliver(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			verb := "created"
			if res.Parent != "" {
				verb = "moved from " + res.Parent[:12]
			}
			fmt.Fprintf(e.stdout, "capsule %s v%d pushed to %s: branch %s %s to commit %s (%d files)\n",
				res.CapsuleID, res.Version, res.Remote, res.Branch, verb, res.Commit[:12], res.Files)
			return nil
		},
	}
	cmd.Flags().StringVar(&req.RemoteURL, "remote", "", "repository URL (https://…, ssh://… or git@host:owner/repo.git)")
	cmd.Flags().StringVar(&req.Branch, "branch", "", "branch to push to (default qlp/<capsule name>)")
	cmd.Flags().IntVar(&req.Version, "version", 0, "capsule version (0 = latest)")
	cmd.Flags().StringVar(&req.Username, "username", "", "user name sent with the token (default x-access-token)")
	cmd.Flags().StringVar(&sshKeyFile, "ssh-key-file", "", "private key for ssh remotes")
	cmd.Flags().StringVar(&req.SSHKnownHost, "ssh-known-host", "", "the server's host key (an authorized_keys line) to accept; without it the host key is not checked")
	cmd.Flags().StringVar(&req.Message, "message", "", "commit message (default from the manifest)")
	_ = cmd.MarkFlagRequired("remote")
	return cmd
}

func newCapsulePRCmd(e *env) *cobra.Command {
	var req orchestrator.DeliverRequest
	pr := orchestrator.PullRequestOptions{}
	cmd := &cobra.Command{
		Use:   "pr ID --forge github|gitlab --repo OWNER/NAME",
		Short: "Push a capsule to a GitHub or GitLab repository and open a pull request",
		Long: `Pushes a capsule version to a branch of a GitHub or GitLab repository
(--create makes the repository when it is missing, --private keeps it
private) and opens a pull (merge) request from that branch into --base
(default: the repository's default branch); an open pull request of the
branch is found instead of opened twice. Prints the pull request's URL.
The forge token comes from QLP_GIT_TOKEN (never a flag); it is used for
this call only. --forge-url names GitHub Enterprise (https://host/api/v3/)
or a self-managed GitLab (https://host/api/v4/), which the server must
allow (forge.allowed_urls). --watch-ci starts the delivery loop: the pull
request's CI is watched and a failure repaired into a new capsule version
pushed to the same branch (qlp capsule show lists its rounds).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Token = os.Getenv("QLP_GIT_TOKEN")
			if req.Token == "" {
				return fmt.Errorf("set QLP_GIT_TOKEN to a %s token that may create and write the repository", req.Forge)
			}
			req.PullRequest = &pr
			b, err := connect(cmd.Context(), e, false, false)
			if err != nil {
				return err
			}
			defer b.Close()
			res, err := b.Deliver(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			if res.PullRequest == nil {
				return fmt.Errorf("the server pushed the capsule but answered no pull request: is it older than this CLI?")
			}
			fmt.Fprintln(e.stdout, res.PullRequest.URL)
			fmt.Fprintf(e.stderr, "capsule %s v%d: commit %s on branch %s of %s, pull request #%d into %s\n",
				res.CapsuleID, res.Version, res.Commit[:12], res.Branch, res.Repository.Path, res.PullRequest.Number, res.PullRequest.Base)
			if res.DeliveryLoop != nil {
				fmt.Fprintf(e.stderr, "its CI is watched by delivery loop %s (qlp capsule show %s lists the rounds)\n", res.DeliveryLoop.ID, res.CapsuleID)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&req.Forge, "forge", "", "github or gitlab")
	cmd.Flags().StringVar(&req.Repo, "repo", "", "owner/name (GitLab: group/subgroup/name)")
	cmd.Flags().BoolVar(&req.CreateRepo, "create", false, "create the repository when it is missing")
	cmd.Flags().BoolVar(&req.Private, "private", false, "a created repository is private")
	cmd.Flags().StringVar(&req.Branch, "branch", "", "branch to push to (default qlp/<capsule name>)")
	cmd.Flags().StringVar(&pr.Base, "base", "", "branch the pull request merges into (default: the repository's default branch)")
	cmd.Flags().StringVar(&pr.Title, "title", "", "pull request title (default from the manifest)")
	cmd.Flags().StringVar(&pr.Body, "body", "", "pull request description (default from the manifest)")
	cmd.Flags().IntVar(&req.Version, "version", 0, "capsule version (0 = latest)")
	cmd.Flags().BoolVar(&req.WatchCI, "watch-ci", false, "watch the pull request's CI and repair a failure into a new version on the same branch")
	cmd.Flags().StringVar(&req.ForgeURL, "forge-url", "", "the forge's API URL (default: the server's forge.github_url or forge.gitlab_url)")
	_ = cmd.MarkFlagRequired("forge")
	_ = cmd.MarkFlagRequired("repo")
	return cmd
}

func newCapsuleVerifyCmd(e *env) *cobra.Command {
	var keyFiles []string
	var jsonOut, allowUntrusted bool
	cmd := &cobra.Command{
		Use:   "verify ARCHIVE",
		Short: "Check every file hash, the manifest signature, the SBOM and the provenance of a capsule archive, and who signed it",
		Long: `Check a capsule archive: every file against the SHA-256 and size the manifest
lists, no file missing or extra, the manifest's ed25519 signature, the SBOM
(CycloneDX JSON describing this capsule), the provenance (a DSSE envelope
signed by the manifest's key, holding an in-toto statement with an SLSA
provenance predicate whose subjects are exactly the capsule's files with
their SHA-256), and that the signer is trusted. Exits non-zero on any mismatch and on a valid
signature by a key that is not trusted: anyone can edit a capsule and sign it
again with a key of their own.

Trusted keys are the ones given with --key (then only those), else this
installation's own signing key (in the data directory: capsules built on this
machine) and the publishers' keys listed in QLP_CAPSULE_TRUSTED_KEYS.
--allow-untrusted accepts a valid signature by any key (integrity only).`,
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
			trusted, err := trustedKeys(e, keyFiles)
			if err != nil {
				return err
			}
			v, err := capsule.Verify(files, trusted.keys()...)
			if err != nil {
				return err
			}
			by := trusted.source(v.KeyID)
			problems := v.Problems
			ok := v.Intact() && (v.Trusted || allowUntrusted)
			if v.Intact() && !v.Trusted && !allowUntrusted {
				problems = append(problems, trusted.refusal(v.KeyID))
			}
			if jsonOut {
				if err := e.printJSON(map[string]any{"ok": ok, "intact": v.Intact(), "capsule": v.Manifest.ID, "name": v.Manifest.Name,
					"files_checked": v.Files, "attested": v.Attested, "sbom_components": v.SBOMComponents, "notes": nonNilStrings(v.Notes), "key_id": v.KeyID, "trusted": v.Trusted, "trusted_by": by, "allow_untrusted": allowUntrusted,
					"problems": nonNilStrings(problems)}); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(e.stdout, "capsule %s (%s) version %d\n", v.Manifest.Name, v.Manifest.ID, v.Manifest.Version)
				fmt.Fprintf(e.stdout, "  %d files checked against the manifest\n", v.Files)
				if v.Attested {
					fmt.Fprintf(e.stdout, "  SBOM (%d components) and signed provenance checked\n", v.SBOMComponents)
				}
				for _, n := range v.Notes {
					fmt.Fprintf(e.stdout, "  note: %s\n", n)
				}
				trust := "NOT TRUSTED"
				switch {
				case v.Trusted:
					trust = "trusted: " + by
				case allowUntrusted:
					trust = "not trusted; accepted with --allow-untrusted"
				}
				fmt.Fprintf(e.stdout, "  signature by key %s (%s)\n", v.KeyID, trust)
				for _, p := range v.Problems {
					fmt.Fprintf(e.stdout, "  MISMATCH %s\n", p)
				}
			}
			if !ok {
				return fail("%s does not verify: %d problem(s): %s", args[0], len(problems), strings.Join(problems, "; "))
			}
			if !jsonOut {
				fmt.Fprintln(e.stdout, "  OK")
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&keyFiles, "key", nil, "public key (PEM file or base64) the capsule must be signed with; repeat for several")
	cmd.Flags().BoolVar(&allowUntrusted, "allow-untrusted", false, "accept a valid signature by a key that is not trusted (checks integrity only)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// trustList is the keys whose signatures are trusted, each with where it
// comes from.
type trustList struct {
	explicit bool // --key was given: only those keys count
	entries  []trustedKey
}

type trustedKey struct {
	key    ed25519.PublicKey
	source string
}

func (l trustList) keys() []ed25519.PublicKey {
	out := make([]ed25519.PublicKey, len(l.entries))
	for i, t := range l.entries {
		out[i] = t.key
	}
	return out
}

// source names where the key with this id was trusted from.
func (l trustList) source(keyID string) string {
	for _, t := range l.entries {
		if capsule.KeyID(t.key) == keyID {
			return t.source
		}
	}
	return ""
}

// refusal says why a valid signature by keyID is refused, and what to do.
func (l trustList) refusal(keyID string) string {
	if l.explicit {
		return "signed by key " + keyID + ", not by a key given with --key"
	}
	return "signed by key " + keyID + ", which is not trusted here (not this installation's key, not in QLP_CAPSULE_TRUSTED_KEYS): " +
		"pass the publisher's public key with --key, add it to QLP_CAPSULE_TRUSTED_KEYS, or accept any signer with --allow-untrusted"
}

// trustedKeys gathers the keys verify trusts: the --key files if any were
// given, else this installation's signing key (when it has one) and the
// configured publishers' keys.
func trustedKeys(e *env, keyFiles []string) (trustList, error) {
	if len(keyFiles) > 0 {
		l := trustList{explicit: true}
		for _, f := range keyFiles {
			k, err := readPublicKey(f)
			if err != nil {
				return trustList{}, fmt.Errorf("--key %s: %w", f, err)
			}
			l.entries = append(l.entries, trustedKey{k, "--key " + f})
		}
		return l, nil
	}
	var l trustList
	if _, err := os.Stat(capsule.KeyFile(e.cfg.DataDir)); err == nil {
		s, err := capsule.LoadOrCreateSigner(e.cfg.DataDir)
		if err != nil {
			return trustList{}, err
		}
		l.entries = append(l.entries, trustedKey{s.PublicKey(), "this installation's key"})
	}
	for _, entry := range e.cfg.Capsule.TrustedKeys {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		k, err := capsule.ParsePublicKey([]byte(entry))
		if err != nil {
			// Not a key itself: the path of a file holding one.
			if k, err = readPublicKey(entry); err != nil {
				return trustList{}, fmt.Errorf("capsule.trusted_keys (QLP_CAPSULE_TRUSTED_KEYS): %s: %w", entry, err)
			}
		}
		l.entries = append(l.entries, trustedKey{k, "QLP_CAPSULE_TRUSTED_KEYS"})
	}
	return l, nil
}

func readPublicKey(path string) (ed25519.PublicKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return capsule.ParsePublicKey(raw)
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

func newCapsuleRetestCmd(e *env) *cobra.Command {
	var jsonOut bool
	var version int
	cmd := &cobra.Command{
		Use:   "retest ID|ARCHIVE",
		Short: "Rebuild and re-validate a capsule in a fresh sandbox and compare with its validation report",
		Long: `Rebuild and re-validate a capsule: its files (an archive, or the capsule ID
downloads from the platform) go through the same checks the job ran (quick
ones when the job validated quickly), each in a fresh sandbox, with the
Validation Mesh of this process or the validation service
QLP_VALIDATION_URL names. The new report is compared with the capsule's
validation-report.json: overall status, each check's status and findings,
and the tests' counts. The files are also checked against the manifest and
the provenance (who signed is 'qlp capsule verify''s business). Exits
non-zero when anything differs, listing every difference; a tool whose
version changed since is a note, not a difference.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var data []byte
			if st, err := os.Stat(args[0]); err == nil && st.Mode().IsRegular() {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				data, err = capsule.ReadArchiveBytes(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
			} else {
				b, err := connect(ctx, e, false, false)
				if err != nil {
					return err
				}
				data, err = b.Download(ctx, args[0], version, capsule.FormatZip)
				b.Close()
				if err != nil {
					return err
				}
			}
			files, err := capsule.ReadArchive(data)
			if err != nil {
				return err
			}
			logger := e.logger
			if !e.verbose() {
				logger = logx.Discard()
			}
			p, err := app.Open(ctx, e.cfg, logger, app.Options{NoEngine: true, Use: []string{app.Validation}, Version: e.version})
			if err != nil {
				return err
			}
			defer p.Close()
			if p.Validator() == nil {
				return errors.New("retest: no validation service: run the Validation Mesh here or set QLP_VALIDATION_URL")
			}
			res, err := retest.Run(ctx, files, p.Validator())
			if err != nil {
				return err
			}
			if jsonOut {
				if err := e.printJSON(map[string]any{"same": res.Same(), "capsule": res.CapsuleID, "version": res.Version, "quick": res.Quick,
					"integrity": res.Integrity, "differences": res.Differences, "notes": res.Notes,
					"status": res.Report.OverallStatus, "summary": res.Report.Summary}); err != nil {
					return err
				}
			} else {
				mode := "full"
				if res.Quick {
					mode = "quick, as the job ran it"
				}
				fmt.Fprintf(e.stdout, "capsule %s version %d retested (%s validation): %s — %s\n", res.CapsuleID, res.Version, mode, res.Report.OverallStatus, res.Report.Summary)
				for _, p := range res.Integrity {
					fmt.Fprintf(e.stdout, "  INTEGRITY %s\n", p)
				}
				for _, d := range res.Differences {
					fmt.Fprintf(e.stdout, "  DIFFERS %s\n", d)
				}
				for _, n := range res.Notes {
					fmt.Fprintf(e.stdout, "  note: tool version changed: %s\n", n)
				}
			}
			if !res.Same() {
				return fail("capsule %s: the retest differs: %d integrity problem(s), %d difference(s)", res.CapsuleID, len(res.Integrity), len(res.Differences))
			}
			if !jsonOut {
				fmt.Fprintln(e.stdout, "  no difference")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	cmd.Flags().IntVar(&version, "version", 0, "capsule version, for an ID (0 = latest)")
	return cmd
}

// deliveryLine is one delivery round in a line: which version went where,
// what the CI said, what the repair cost and why the round stopped.
func deliveryLine(r orchestrator.DeliveryRound) string {
	s := fmt.Sprintf("round %d: v%d on %s", r.Round, r.Version, r.Branch)
	if r.PullRequest > 0 {
		s += fmt.Sprintf(" (%s#%d)", r.Repo, r.PullRequest)
	}
	if r.SHA != "" {
		s += " at " + r.SHA[:min(12, len(r.SHA))]
	}
	s += ": " + r.State
	if len(r.FailingRuns) > 0 {
		s += " (failing: " + strings.Join(r.FailingRuns, ", ") + ")"
	}
	if r.CostUSD != "" && r.CostUSD != "0.000000" {
		s += ", repair $" + r.CostUSD
	}
	if r.Error != "" {
		s += ": " + r.Error
	}
	return s
}

func newCapsuleDiffCmd(e *env) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "diff ID V1 V2",
		Short: "Show how two versions of a capsule differ, as a unified diff (git apply and patch -p1 take it)",
		Long: `Prints the changes from version V1 to version V2 of a capsule as one git-style
unified diff: added, removed and modified files, binary files noted
("Binary files … differ"). The output applies to a checkout of V1 with
git apply or patch -p1. --json prints the files with their change and diff.`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			from, err := strconv.Atoi(args[1])
			if err != nil {
				return fmt.Errorf("V1 %q is not a version number", args[1])
			}
			to, err := strconv.Atoi(args[2])
			if err != nil {
				return fmt.Errorf("V2 %q is not a version number", args[2])
			}
			return callAPI(cmd, e, apiClient(e, false), jsonOut, func(ctx context.Context, c *orchestrator.Client) (orchestrator.CapsuleDiff, error) {
				return c.CapsuleDiff(ctx, args[0], from, to)
			}, func(d orchestrator.CapsuleDiff) error {
				_, err := io.WriteString(e.stdout, d.Unified())
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}
