package cli

import (
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/quantumlayer/qlp/internal/mcpserver"
)

func newMCPCmd(e *env) *cobra.Command {
	var llmFlag string
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "Serve QLP's tools to an agent over MCP (stdio)",
		Long: `Serve the platform to another agent as Model Context Protocol tools over
stdio: generate (submit a job), status (wait for it), review (answer a
review it waits for), download (the capsule's archive, as an embedded
resource) and costs, and the resource template
qlp://capsules/{id}/archive.{format}.

With QLP_URL set, every tool calls that server with QLP_API_KEY. Without it,
qlp runs the whole platform in this process, with a worker, as 'qlp generate'
does. Requests are read from standard input and answers written to standard
output; logs go to standard error.

The same tools are served over streamable HTTP by the API itself, at /mcp
('qlp up', 'qlp serve orchestrator'), to callers with an API key.`,
		Example: `  qlp mcp --llm replay:examples/url-shortener/cassette.jsonl
  QLP_URL=https://qlp.example.com QLP_API_KEY=qlp_… qlp mcp`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if llmFlag != "" {
				if e.cfg.Client.URL != "" {
					return fmt.Errorf("--llm applies to in-process runs; with QLP_URL the server's configuration chooses the models")
				}
				if err := e.cfg.LLM.ParseFlag(llmFlag); err != nil {
					return err
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			b, err := connect(ctx, e, true, true)
			if err != nil {
				return err
			}
			defer b.Close()
			s := mcpserver.New(mcpserver.Fixed(b.Client), mcpserver.Options{Version: e.version})
			return s.Run(ctx, &mcp.IOTransport{Reader: io.NopCloser(cmd.InOrStdin()), Writer: nopWriteCloser{e.stdout}})
		},
	}
	cmd.Flags().StringVar(&llmFlag, "llm", "", "model provider for an in-process run: openai[:URL], azure[:ENDPOINT], anthropic[:URL], bedrock[:REGION], ollama[:URL], pack:NAME or replay:CASSETTE")
	return cmd
}

// nopWriteCloser keeps the command's output open when the session ends:
// it is not the server's to close.
type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
