package forge

import (
	"context"
	"fmt"
	"time"

	"github.com/quantumlayer/qlp/internal/delivery"
)

// DeliverOptions say where a capsule goes on a forge.
type DeliverOptions struct {
	Repo RepoSpec
	// Branch receives the capsule (delivery.Push).
	Branch string
	// Base is the branch the pull request merges into; empty is the
	// repository's default branch.
	Base string
	// PullRequest opens a pull request from Branch into Base; without it
	// the capsule is only pushed.
	PullRequest bool
	Title, Body string
	// Message, AuthorName, AuthorEmail and When make the commit.
	Message                 string
	AuthorName, AuthorEmail string
	When                    time.Time
}

// Delivery is what Deliver did.
type Delivery struct {
	Repository  Repo                  `json:"repository"`
	Push        delivery.PushResult   `json:"push"`
	PullRequest *delivery.PullRequest `json:"pull_request,omitempty"`
}

// Deliver finds (or creates) the repository, pushes files to Branch with
// delivery.Push at the forge's clone URL with the same token, and opens
// the pull request. A created repository gets a first commit on its
// default branch (Initialize) when a pull request is asked for, so that
// it has a base: the capsule's branch starts from it.
func Deliver(ctx context.Context, f Forge, files map[string][]byte, o DeliverOptions) (Delivery, error) {
	spec := o.Repo
	spec.Initialize = spec.Initialize || o.PullRequest
	repo, err := f.EnsureRepo(ctx, spec)
	if err != nil {
		return Delivery{}, err
	}
	out := Delivery{Repository: repo}
	base := o.Base
	if base == "" {
		base = repo.DefaultBranch
	}
	if o.PullRequest && o.Branch == base {
		return out, fieldError{"branch", fmt.Sprintf("the capsule's branch %q is the pull request's base: name another branch", base)}
	}
	push := delivery.PushOptions{Remote: repo.CloneURL, Branch: o.Branch, Message: o.Message, AuthorName: o.AuthorName, AuthorEmail: o.AuthorEmail,
		When: o.When, Auth: f.PushAuth()}
	if o.PullRequest {
		push.From = base
	}
	out.Push, err = delivery.Push(ctx, files, push)
	if err != nil {
		return out, err
	}
	if !o.PullRequest {
		return out, nil
	}
	pr, err := f.OpenPullRequest(ctx, PullRequestSpec{Repo: repo.Path, Head: o.Branch, Base: base, Title: o.Title, Body: o.Body})
	if err != nil {
		return out, err
	}
	out.PullRequest = &pr
	return out, nil
}
