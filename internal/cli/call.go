package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/quantumlayer/qlp/internal/orchestrator"
)

// dialer connects a command to the API and returns what to close and the
// client to call: [apiClient] for most commands, [tenantClient] for those
// that take --tenant in process.
type dialer func(cmd *cobra.Command) (*backend, *orchestrator.Client, error)

// apiClient connects without a worker; engine starts the embedded workflow
// engine when the platform runs in this process (deciding a review needs
// it).
func apiClient(e *env, engine bool) dialer {
	return func(cmd *cobra.Command) (*backend, *orchestrator.Client, error) {
		b, err := connect(cmd.Context(), e, false, engine)
		if err != nil {
			return nil, nil, err
		}
		return b, b.Client, nil
	}
}

// callAPI is what the API commands share: connect with dial, call the API,
// and print the answer, as indented JSON when jsonOut is set and with show
// (for a person) otherwise.
func callAPI[T any](cmd *cobra.Command, e *env, dial dialer, jsonOut bool,
	call func(context.Context, *orchestrator.Client) (T, error), show func(T) error) error {
	b, c, err := dial(cmd)
	if err != nil {
		return err
	}
	defer b.Close()
	v, err := call(cmd.Context(), c)
	if err != nil {
		return err
	}
	if jsonOut {
		return e.printJSON(v)
	}
	return show(v)
}
