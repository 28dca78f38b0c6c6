package capsule

import (
	"bytes"
	"fmt"
	"mime"
	"net/url"
	"regexp"
	"strings"

	"github.com/quantumlayer/qlp/internal/domain"
)

// DefaultFormat is the format a download gets when it names none, and the
// one whose archive the workflow keeps in the blob store when it creates a
// capsule version.
const DefaultFormat = FormatZip

// Ext is the file name extension of a format.
func Ext(format string) string {
	switch format {
	case FormatZip:
		return "zip"
	case FormatTar:
		return "tar"
	default:
		return "tar.gz"
	}
}

// VersionFiles returns every file of a stored version, the manifest
// included: what its archive holds.
func VersionFiles(v domain.CapsuleVersion) map[string][]byte {
	files := make(map[string][]byte, len(v.Files)+1)
	for _, f := range v.Files {
		files[f.Path] = f.Content
	}
	files[ManifestFile] = v.Manifest
	return files
}

// VersionArchive builds a stored version's archive in format. It is
// deterministic, so the archive the workflow keeps in the blob store and
// one built on download from the same version are the same bytes.
func VersionArchive(format string, v domain.CapsuleVersion) ([]byte, error) {
	var buf bytes.Buffer
	if err := WriteArchive(&buf, format, VersionFiles(v), v.CreatedAt); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ArchiveKey is the blob store key of a capsule version's archive in
// format: capsules/<tenant>/<capsule id>/v<version>.<ext>. The tenant id
// is path-escaped (a tenant is whatever its key or the service header
// says), so that no tenant's key can reach into another's.
func ArchiveKey(tenantID, capsuleID string, version int, format string) string {
	return fmt.Sprintf("capsules/%s/%s/v%d.%s", keySegment(tenantID), keySegment(capsuleID), version, Ext(format))
}

// keySegment escapes s into one blob key segment: no slash, no leading dot,
// no control character.
func keySegment(s string) string {
	e := url.PathEscape(s)
	if strings.HasPrefix(e, ".") {
		e = "%2E" + e[1:]
	}
	return e
}

// StoredContentType is the content type an archive is kept with in the
// blob store: its format's, with the archive's SHA-256 as a parameter
// ("application/zip; sha256=…"). The blob store keeps the content type
// with the object in the same atomic Put, so a download can send
// X-Content-SHA256 before it streams the bytes without reading them twice.
func StoredContentType(format string, archive []byte) string {
	return mime.FormatMediaType(ContentType(format), map[string]string{"sha256": Digest(archive)})
}

var hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)

// StoredDigest reads the SHA-256 StoredContentType put in a content type;
// "" when it has none.
func StoredDigest(contentType string) string {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil || !hexDigest.MatchString(params["sha256"]) {
		return ""
	}
	return params["sha256"]
}
