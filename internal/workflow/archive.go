package workflow

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/quantumlayer/qlp/internal/blob"
	"github.com/quantumlayer/qlp/internal/capsule"
)

// storeArchive keeps the archive of a capsule version (capsule.DefaultFormat)
// in the blob store, unless it is there already, and reports whether it
// wrote it. The archive is built from the version as the store holds it,
// so it is byte for byte what a download would build; a retried activity
// finds the object its earlier attempt wrote and writes nothing. A failed
// Put leaves no object (the blob store's contract), and its error, naming
// the store and the key, fails the activity so that Temporal retries it.
func (a *Activities) storeArchive(ctx context.Context, tenantID, capsuleID string, version int) (bool, error) {
	if a.Blobs == nil {
		return false, nil
	}
	format := capsule.DefaultFormat
	key := capsule.ArchiveKey(tenantID, capsuleID, version, format)
	_, err := a.Blobs.Stat(ctx, key)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, blob.ErrNotFound) {
		return false, fmt.Errorf("workflow: capsule %s: cannot check for its archive %q in the blob store (%s): %w", capsuleID, key, a.Blobs, err)
	}
	v, err := a.Store.GetCapsuleVersion(ctx, tenantID, capsuleID, version)
	if err != nil {
		return false, fmt.Errorf("workflow: capsule %s version %d: %w", capsuleID, version, err)
	}
	b, err := capsule.VersionArchive(format, v)
	if err != nil {
		return false, fmt.Errorf("workflow: capsule %s: build its %s archive: %w", capsuleID, format, err)
	}
	if err := a.Blobs.Put(ctx, key, bytes.NewReader(b), int64(len(b)), capsule.StoredContentType(format, b)); err != nil {
		return false, fmt.Errorf("workflow: capsule %s: cannot store its archive %q in the blob store (%s): %w", capsuleID, key, a.Blobs, err)
	}
	return true, nil
}
