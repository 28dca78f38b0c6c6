package delivery

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// Sealer encrypts credentials (AES-256-GCM) so that they can travel
// through places that keep what they carry — a Temporal workflow's input
// and history — without being readable there.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer takes a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("delivery: a sealing key has 32 bytes, not %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("delivery: sealing key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("delivery: sealing key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// sealedAuth is Auth as sealed: the same fields, named in JSON so that a
// later field stays readable by an older opener.
type sealedAuth struct {
	Token            string `json:"token,omitempty"`
	Username         string `json:"username,omitempty"`
	SSHKey           []byte `json:"ssh_key,omitempty"`
	SSHKeyPassphrase string `json:"ssh_key_passphrase,omitempty"`
	SSHKnownHost     string `json:"ssh_known_host,omitempty"`
}

// Seal encrypts a with a fresh random nonce; the result is base64 text.
func (s *Sealer) Seal(a Auth) (string, error) {
	plain, err := json.Marshal(sealedAuth(a))
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("delivery: seal: %w", err)
	}
	return base64.RawStdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte("qlp delivery auth v1"))), nil
}

// ErrUnseal: the sealed credentials cannot be opened (another key, or
// altered text).
var ErrUnseal = errors.New("delivery: the sealed credentials cannot be opened with this installation's key")

// Open decrypts what Seal returned.
func (s *Sealer) Open(sealed string) (Auth, error) {
	b, err := base64.RawStdEncoding.DecodeString(sealed)
	if err != nil || len(b) < s.aead.NonceSize() {
		return Auth{}, ErrUnseal
	}
	plain, err := s.aead.Open(nil, b[:s.aead.NonceSize()], b[s.aead.NonceSize():], []byte("qlp delivery auth v1"))
	if err != nil {
		return Auth{}, ErrUnseal
	}
	var a sealedAuth
	if err := json.Unmarshal(plain, &a); err != nil {
		return Auth{}, ErrUnseal
	}
	return Auth(a), nil
}
