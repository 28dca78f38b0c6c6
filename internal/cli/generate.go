package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/orchestrator"
)

type generateOpts struct {
	language, framework, requirements, tier   string
	out, archive, llm, record, idempotencyKey string
	force, jsonOut, reuse                     bool
}

func newGenerateCmd(e *env) *cobra.Command {
	var o generateOpts
	cmd := &cobra.Command{
		Use:   `generate "REQUEST"`,
		Short: "Turn a request into a capsule, with live progress",
		Long: `Generate a capsule from a natural-language request and show its progress:
a bar per task, the current step, tokens and cost so far.

With QLP_URL set, the job runs on that server (QLP_API_KEY authenticates).
Without it, qlp runs the whole platform in this process: an LLM provider must
be configured (QLP_LLM_PROVIDER, or --llm). The capsule's files are written to
--out and its archive to --archive (zip, tar or tar.gz, by extension).`,
		Example: `  qlp generate "a URL shortener in Go" --llm replay:examples/url-shortener/cassette.jsonl --out out/demo --archive out/demo.zip
  QLP_LLM_PROVIDER=ollama qlp generate "a CLI that counts words" --language python --out ./wc`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGenerate(cmd.Context(), e, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.language, "language", "l", "", "require a language: go, python, javascript, typescript, java, rust, bash")
	f.StringVar(&o.framework, "framework", "", "require a framework")
	f.StringVar(&o.requirements, "requirements", "", "further requirements")
	f.StringVar(&o.tier, "tier", "", "force every task onto one tier: T0..T3")
	f.StringVarP(&o.out, "out", "o", "", "write the capsule's files into this directory")
	f.StringVar(&o.archive, "archive", "", "write the capsule's archive to this file (.zip, .tar or .tar.gz)")
	f.StringVar(&o.llm, "llm", "", "model provider for an in-process run: openai[:URL], azure[:ENDPOINT], anthropic[:URL], bedrock[:REGION], ollama[:URL], pack:NAME or replay:CASSETTE")
	f.StringVar(&o.record, "record", "", "write every model exchange of an in-process run to this cassette (replay it with --llm replay:FILE)")
	f.StringVar(&o.idempotencyKey, "idempotency-key", "", "submit at most once with this key")
	f.BoolVar(&o.reuse, "reuse", false, "accept an earlier validated capsule made for a near-identical request (no model call, cost 0)")
	f.BoolVar(&o.force, "force", false, "write into a non-empty --out directory that holds no earlier capsule")
	f.BoolVar(&o.jsonOut, "json", false, "print the result as JSON")
	return cmd
}

func archiveFormat(path string) (string, error) {
	switch {
	case path == "":
		return capsule.FormatZip, nil
	case strings.HasSuffix(path, ".tar.gz") || strings.HasSuffix(path, ".tgz"):
		return capsule.FormatTarGz, nil
	case strings.HasSuffix(path, ".tar"):
		return capsule.FormatTar, nil
	case strings.HasSuffix(path, ".zip"):
		return capsule.FormatZip, nil
	}
	return "", fmt.Errorf("--archive %s: name it .zip, .tar or .tar.gz", path)
}

func runGenerate(parent context.Context, e *env, request string, o generateOpts) error {
	format, err := archiveFormat(o.archive)
	if err != nil {
		return err
	}
	if o.out != "" {
		if err := checkOutDir(o.out, o.force); err != nil {
			return err
		}
	}
	if o.llm != "" {
		if e.cfg.Client.URL != "" {
			return errors.New("--llm applies to in-process runs; with QLP_URL the server's configuration chooses the models")
		}
		if err := e.cfg.LLM.ParseFlag(o.llm); err != nil {
			return err
		}
	}
	if o.record != "" {
		if e.cfg.Client.URL != "" {
			return errors.New("--record applies to in-process runs; record on the server with QLP_LLM_RECORD")
		}
		e.cfg.LLM.Record = o.record
	}
	ctx, stop := signal.NotifyContext(parent, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if e.cfg.Client.URL == "" {
		fmt.Fprintf(e.stderr, "qlp: starting the platform in this process (data in %s)…\n", e.cfg.DataDir)
	}
	b, err := connect(ctx, e, true, true)
	if err != nil {
		return err
	}
	defer b.Close()

	constraints := map[string]any{}
	if o.language != "" {
		constraints["language"] = o.language
	}
	if o.framework != "" {
		constraints["framework"] = o.framework
	}
	var metadata map[string]any
	if o.reuse {
		metadata = map[string]any{"allow_reuse": true}
	}
	sub, err := b.Execute(ctx, orchestrator.ExecuteRequest{Description: request, Requirements: o.requirements, Constraints: constraints,
		TierOverride: o.tier, UserID: os.Getenv("USER"), Metadata: metadata}, o.idempotencyKey)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "qlp: job %s (%s)\n", sub.RequestID, sub.WorkflowID)

	view := newProgressView(e.stderr, logx.IsTerminal(e.stderr))
	ferr := b.Follow(ctx, sub.WorkflowID, 0, view.Handle)
	if ctx.Err() != nil {
		// Interrupted. A local job would otherwise resume the next time
		// the platform starts: cancel it. A server's job keeps running.
		if b.local != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _ = b.Cancel(cctx, sub.WorkflowID)
			return fail("interrupted: job %s cancelled", sub.RequestID)
		}
		return fail("interrupted: job %s continues on the server; follow it with `qlp status %s`", sub.RequestID, sub.RequestID)
	}
	if ferr != nil {
		return fmt.Errorf("following job %s: %w", sub.RequestID, ferr)
	}
	st, err := b.Status(ctx, sub.WorkflowID)
	if err != nil {
		return err
	}
	if st.Status != "completed" || st.Result == nil || st.Result.CapsuleID == "" {
		reason := st.Error
		if reason == "" {
			reason = "no capsule was produced"
		}
		if o.jsonOut {
			_ = e.printJSON(st)
		}
		return fail("job %s %s: %s", st.RequestID, st.Status, reason)
	}
	archive, err := b.Download(ctx, st.Result.CapsuleID, 0, format)
	if err != nil {
		return err
	}
	written := map[string]string{}
	if o.archive != "" {
		if err := os.MkdirAll(filepath.Dir(o.archive), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(o.archive, archive, 0o644); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
		written["archive"] = o.archive
	}
	files, err := capsule.ReadArchive(archive)
	if err != nil {
		return err
	}
	// An in-process run signed with this installation's key; a server's
	// capsule is checked against the configured publishers' keys, if any.
	trusted, err := trustedKeys(e, nil)
	if err != nil {
		return err
	}
	ver, err := capsule.Verify(files, trusted.keys()...)
	if err != nil {
		return err
	}
	signature := fmt.Sprintf("key %s (trusted: %s)", ver.KeyID, trusted.source(ver.KeyID))
	var bad error
	switch {
	case !ver.Intact():
		bad = fail("the downloaded capsule does not verify: %s", strings.Join(ver.Problems, "; "))
	case ver.Trusted:
	case b.local != nil || len(e.cfg.Capsule.TrustedKeys) > 0:
		bad = fail("the downloaded capsule does not verify: %s", trusted.refusal(ver.KeyID))
	default:
		signature = fmt.Sprintf("key %s (the server's; valid, signer not checked: no QLP_CAPSULE_TRUSTED_KEYS)", ver.KeyID)
	}
	if o.out != "" && bad == nil {
		if err := writeTree(o.out, files); err != nil {
			return err
		}
		written["out"] = o.out
	}
	m := ver.Manifest
	if o.jsonOut {
		if err := e.printJSON(map[string]any{"status": st, "capsule": map[string]any{"id": m.ID, "name": m.Name, "files": len(m.Files),
			"validation": m.Validation.Status, "cost_usd": m.Cost.USD, "signature": signature, "verified": bad == nil}, "written": written}); err != nil {
			return err
		}
		return bad
	}
	fmt.Fprintf(e.stdout, "\ncapsule %s (%s), version %d\n", m.Name, m.ID, m.Version)
	fmt.Fprintf(e.stdout, "  files       %d\n", len(m.Files))
	fmt.Fprintf(e.stdout, "  validation  %s — %s\n", m.Validation.Status, m.Validation.Summary)
	fmt.Fprintf(e.stdout, "  cost        $%s (%d calls, %d tokens in, %d out)\n", m.Cost.USD, m.Cost.Calls, m.Cost.InputTokens, m.Cost.OutputTokens)
	if m.Generator.Scripted {
		fmt.Fprintf(e.stdout, "  generator   scripted cassette: no model ran\n")
	}
	if m.ReusedFrom != "" {
		fmt.Fprintf(e.stdout, "  reused      capsule %s (no model call)\n", m.ReusedFrom)
	}
	if bad != nil {
		return bad
	}
	fmt.Fprintf(e.stdout, "  signature   %s\n", signature)
	if o.out != "" {
		fmt.Fprintf(e.stdout, "  files in    %s\n", o.out)
	}
	if o.archive != "" {
		fmt.Fprintf(e.stdout, "  archive     %s\n", o.archive)
	}
	return nil
}

// checkOutDir refuses to write into a directory holding someone's work.
func checkOutDir(dir string, force bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || len(entries) == 0 || force {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, capsule.ManifestFile)); err == nil {
		return nil // an earlier capsule: replaced
	}
	return fmt.Errorf("--out %s is not empty and holds no earlier capsule; choose another directory or pass --force", dir)
}

// writeTree replaces dir's content with files. Paths were checked when the
// archive was read.
func writeTree(dir string, files map[string][]byte) error {
	if _, err := os.Stat(filepath.Join(dir, capsule.ManifestFile)); err == nil {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove the earlier capsule in %s: %w", dir, err)
		}
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return fmt.Errorf("write %s: %w", full, err)
		}
	}
	return nil
}
