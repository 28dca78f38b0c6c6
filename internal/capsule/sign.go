package capsule

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Signer signs manifests with an ed25519 key.
type Signer struct {
	key ed25519.PrivateKey
}

// KeyFile is where the signing key lives under the data dir.
func KeyFile(dataDir string) string { return filepath.Join(dataDir, "keys", "capsule-signing.pem") }

// LoadOrCreateSigner reads the signing key from the data dir, creating it
// (mode 0600) on first run.
func LoadOrCreateSigner(dataDir string) (*Signer, error) {
	path := KeyFile(dataDir)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("capsule: generate signing key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("capsule: create key directory: %w", err)
		}
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		// O_EXCL: two processes starting together must not both write a key.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, werr := f.Write(pemBytes)
			cerr := f.Close()
			if werr != nil || cerr != nil {
				return nil, fmt.Errorf("capsule: write signing key: %w", errors.Join(werr, cerr))
			}
			return &Signer{key: priv}, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("capsule: create signing key %s: %w", path, err)
		}
		b, err = os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("capsule: read signing key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("capsule: read signing key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("capsule: %s is not a PEM key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("capsule: parse %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("capsule: %s holds a %T, not an ed25519 key", path, k)
	}
	return &Signer{key: priv}, nil
}

// NewSigner wraps an existing key (tests).
func NewSigner(key ed25519.PrivateKey) *Signer { return &Signer{key: key} }

// PublicKey returns the verifying key.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// KeyID names a public key: the first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Sign sets m.Signature and returns the manifest's JSON as it is written
// into the capsule (indented; the signature covers the canonical form).
func (s *Signer) Sign(m *Manifest) ([]byte, error) {
	m.Signature = nil
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("capsule: encode manifest: %w", err)
	}
	canon, err := CanonicalBytes(raw)
	if err != nil {
		return nil, err
	}
	pub := s.PublicKey()
	m.Signature = &Signature{
		Algorithm: "ed25519",
		KeyID:     KeyID(pub),
		PublicKey: base64.StdEncoding.EncodeToString(pub),
		Value:     base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, canon)),
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("capsule: encode manifest: %w", err)
	}
	return buf.Bytes(), nil
}

// ParsePublicKey reads a public key given as base64 (as in a manifest) or
// as a PEM file's content.
func ParsePublicKey(s []byte) (ed25519.PublicKey, error) {
	if block, _ := pem.Decode(s); block != nil {
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("capsule: parse public key: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("capsule: public key is a %T, not ed25519", k)
		}
		return pub, nil
	}
	b, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(s)))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("capsule: public key must be PEM or base64 of %d bytes", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// PublicKeyPEM encodes the signer's public key for sharing.
func (s *Signer) PublicKeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(s.PublicKey())
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// DeriveKey derives a 32-byte key for purpose from the signing key
// (HKDF-SHA256), so that other secrets of the installation — the sealing
// of delivery credentials — need no key of their own; every process that
// holds the signing key derives the same one.
func (s *Signer) DeriveKey(purpose string) ([]byte, error) {
	return hkdf.Key(sha256.New, s.key.Seed(), nil, "qlp "+purpose, 32)
}
