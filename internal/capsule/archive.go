package capsule

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"
)

// Archive formats.
const (
	FormatZip   = "zip"
	FormatTar   = "tar"
	FormatTarGz = "tar.gz"
)

// ContentType returns the MIME type of a format.
func ContentType(format string) string {
	switch format {
	case FormatZip:
		return "application/zip"
	case FormatTar:
		return "application/x-tar"
	default:
		return "application/gzip"
	}
}

// ValidFormat reports whether format is one of zip, tar, tar.gz.
func ValidFormat(format string) bool {
	return format == FormatZip || format == FormatTar || format == FormatTarGz
}

// WriteArchive writes files as a deterministic archive: sorted paths, mode
// 0644, every timestamp set to mtime, no owner names.
func WriteArchive(w io.Writer, format string, files map[string][]byte, mtime time.Time) error {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	mtime = mtime.UTC().Truncate(time.Second)
	switch format {
	case FormatZip:
		zw := zip.NewWriter(w)
		for _, p := range paths {
			h := &zip.FileHeader{Name: p, Method: zip.Deflate, Modified: mtime}
			h.SetMode(0o644)
			fw, err := zw.CreateHeader(h)
			if err != nil {
				return fmt.Errorf("capsule: zip %s: %w", p, err)
			}
			if _, err := fw.Write(files[p]); err != nil {
				return fmt.Errorf("capsule: zip %s: %w", p, err)
			}
		}
		return zw.Close()
	case FormatTar:
		return writeTar(w, paths, files, mtime)
	case FormatTarGz:
		gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
		if err != nil {
			return err
		}
		// Header ModTime and Name stay zero: they would make bytes differ.
		if err := writeTar(gz, paths, files, mtime); err != nil {
			return err
		}
		return gz.Close()
	default:
		return fmt.Errorf("capsule: unknown archive format %q (want zip, tar or tar.gz)", format)
	}
}

func writeTar(w io.Writer, paths []string, files map[string][]byte, mtime time.Time) error {
	tw := tar.NewWriter(w)
	for _, p := range paths {
		h := &tar.Header{Name: p, Mode: 0o644, Size: int64(len(files[p])), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("capsule: tar %s: %w", p, err)
		}
		if _, err := tw.Write(files[p]); err != nil {
			return fmt.Errorf("capsule: tar %s: %w", p, err)
		}
	}
	return tw.Close()
}

// Verification is the result of checking an archive.
type Verification struct {
	Manifest Manifest
	Files    int    // files checked against the manifest
	KeyID    string // signer
	Trusted  bool   // the signer is one of the trusted keys
	// Problems lists every mismatch of the content and the signature;
	// empty means intact. Who signed is Trusted's business.
	Problems []string
	// Attested is true when the capsule carries an SBOM and a provenance
	// statement and both were checked (their problems are in Problems).
	Attested bool
	// SBOMComponents counts the dependencies the SBOM lists.
	SBOMComponents int
	// Notes are facts worth telling that are not problems, such as a
	// capsule made before QLP wrote SBOMs.
	Notes []string
}

// Intact reports whether every file matched the manifest and the manifest's
// signature is valid, whoever made it. Anyone can re-sign an edited
// capsule with a key of their own, so Intact alone says nothing of where
// the capsule comes from.
func (v *Verification) Intact() bool { return len(v.Problems) == 0 }

// OK reports whether the capsule is intact and signed by one of the trusted
// keys.
func (v *Verification) OK() bool { return v.Intact() && v.Trusted }

// Verify checks every file against the manifest (presence, size, SHA-256,
// no extra files), the manifest's ed25519 signature and, when the manifest
// names them, the SBOM (CycloneDX of this capsule) and the DSSE-signed
// provenance (by the manifest's key, its subjects exactly the files). trusted lists the
// keys whose signatures count as trusted; an empty list trusts none, and a
// valid signature by any other key is intact but not OK.
func Verify(files map[string][]byte, trusted ...ed25519.PublicKey) (*Verification, error) {
	raw, ok := files[ManifestFile]
	if !ok {
		return nil, fmt.Errorf("capsule: archive has no %s", ManifestFile)
	}
	v := &Verification{}
	if err := json.Unmarshal(raw, &v.Manifest); err != nil {
		return nil, fmt.Errorf("capsule: %s: %w", ManifestFile, err)
	}
	listed := map[string]bool{}
	for _, e := range v.Manifest.Files {
		listed[e.Path] = true
		b, ok := files[e.Path]
		switch {
		case !ok:
			v.Problems = append(v.Problems, fmt.Sprintf("%s: listed in the manifest but missing", e.Path))
		case int64(len(b)) != e.Size:
			v.Problems = append(v.Problems, fmt.Sprintf("%s: size %d, manifest says %d", e.Path, len(b), e.Size))
		case Digest(b) != e.SHA256:
			v.Problems = append(v.Problems, fmt.Sprintf("%s: SHA-256 %s, manifest says %s", e.Path, Digest(b), e.SHA256))
		default:
			v.Files++
		}
	}
	extra := []string{}
	for p := range files {
		if p != ManifestFile && !listed[p] {
			extra = append(extra, p)
		}
	}
	sort.Strings(extra)
	for _, p := range extra {
		v.Problems = append(v.Problems, fmt.Sprintf("%s: in the archive but not in the manifest", p))
	}
	sig := v.Manifest.Signature
	if sig == nil || sig.Algorithm != "ed25519" {
		v.Problems = append(v.Problems, "manifest is not signed with ed25519")
		return v, nil
	}
	pub, err := base64.StdEncoding.DecodeString(sig.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		v.Problems = append(v.Problems, "manifest signature has a malformed public key")
		return v, nil
	}
	v.KeyID = KeyID(pub)
	if sig.KeyID != v.KeyID {
		v.Problems = append(v.Problems, fmt.Sprintf("signature key id %s does not match its public key (%s)", sig.KeyID, v.KeyID))
	}
	value, err := base64.StdEncoding.DecodeString(sig.Value)
	if err != nil {
		v.Problems = append(v.Problems, "manifest signature is not base64")
		return v, nil
	}
	canon, err := CanonicalBytes(raw)
	if err != nil {
		return nil, err
	}
	if !ed25519.Verify(pub, canon, value) {
		v.Problems = append(v.Problems, "manifest signature does not match its content")
	}
	if a := v.Manifest.Attestations; a == nil {
		v.Notes = append(v.Notes, "no SBOM or provenance: the capsule was made before QLP wrote them")
	} else {
		v.Attested = true
		if a.SBOM != SBOMFile || a.Provenance != ProvenanceFile {
			v.Problems = append(v.Problems, fmt.Sprintf("manifest names the SBOM %q and the provenance %q, want %q and %q", a.SBOM, a.Provenance, SBOMFile, ProvenanceFile))
		}
		n, err := CheckSBOM(files[SBOMFile], v.Manifest.ID)
		if err != nil {
			v.Problems = append(v.Problems, err.Error())
		}
		v.SBOMComponents = n
		_, problems := VerifyProvenance(files, pub)
		v.Problems = append(v.Problems, problems...)
	}
	for _, k := range trusted {
		if bytes.Equal(k, pub) && len(v.Problems) == 0 {
			v.Trusted = true
		}
	}
	return v, nil
}
