package capsule_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/blob"
	"github.com/quantumlayer/qlp/internal/capsule"
)

// TestArchiveKey: every tenant id makes one valid key segment of its own,
// so that no tenant's archives can sit among another's.
func TestArchiveKey(t *testing.T) {
	tests := []struct {
		tenant, format, want string
	}{
		{"acme", capsule.FormatZip, "capsules/acme/c1/v3.zip"},
		{"acme", capsule.FormatTarGz, "capsules/acme/c1/v3.tar.gz"},
		{"a/b", capsule.FormatTar, "capsules/a%2Fb/c1/v3.tar"},
		{"..", capsule.FormatZip, "capsules/%2E./c1/v3.zip"},
		{".hidden", capsule.FormatZip, "capsules/%2Ehidden/c1/v3.zip"},
		{"ten ant%\x01", capsule.FormatZip, "capsules/ten%20ant%25%01/c1/v3.zip"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			key := capsule.ArchiveKey(tt.tenant, "c1", 3, tt.format)
			require.Equal(t, tt.want, key)
			require.NoError(t, blob.ValidKey(key))
		})
	}
}

// TestStoredContentType: the archive's digest rides in the content type it
// is stored with, and comes back out; a content type without one gives "".
func TestStoredContentType(t *testing.T) {
	archive := []byte("PK\x03\x04 an archive")
	ct := capsule.StoredContentType(capsule.FormatZip, archive)
	require.Equal(t, "application/zip; sha256="+capsule.Digest(archive), ct)
	require.Equal(t, capsule.Digest(archive), capsule.StoredDigest(ct))
	for _, other := range []string{"", "application/zip", "application/zip; sha256=xyz", "not a media type;;"} {
		require.Empty(t, capsule.StoredDigest(other), other)
	}
}
