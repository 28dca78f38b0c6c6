package console

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Cookie names. The session cookie is scoped to /ui/ so that it never
// travels with API calls.
const (
	sessionCookie = "qlp_console"
	loginCookie   = "qlp_console_login"
	cookiePath    = "/ui/"
)

// session is what the sealed cookie carries. The API key itself is in it
// (encrypted): every page acts through the API with it, so the API's own
// authentication re-checks revocation and expiry on every request, and no
// session table is needed for several replicas to share sign-ins.
type session struct {
	Key     string `json:"k"`
	KeyID   string `json:"i"`
	Expires int64  `json:"e"`
	// CSRF is the token every form of this session carries.
	CSRF string `json:"c"`
}

// sealer encrypts and authenticates cookie values with AES-256-GCM.
type sealer struct {
	aead cipher.AEAD
	mac  []byte // for the sign-in form's token
	now  func() time.Time
}

func newSealer(secret string) (*sealer, error) {
	var raw []byte
	if secret == "" {
		raw = make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, fmt.Errorf("console: draw a session key: %w", err)
		}
	} else {
		raw = []byte(secret)
	}
	k := sha256.Sum256(append([]byte("qlp console session v1\x00"), raw...))
	m := sha256.Sum256(append([]byte("qlp console login v1\x00"), raw...))
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, fmt.Errorf("console: session cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("console: session cipher: %w", err)
	}
	return &sealer{aead: aead, mac: m[:], now: time.Now}, nil
}

// seal encrypts v; the cookie name is authenticated with it, so a value
// cannot be moved to another cookie.
func (s *sealer) seal(name string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("console: draw a nonce: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(name))), nil
}

var errBadSession = errors.New("console: no valid session")

func (s *sealer) open(name, value string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(b) < s.aead.NonceSize() {
		return errBadSession
	}
	plain, err := s.aead.Open(nil, b[:s.aead.NonceSize()], b[s.aead.NonceSize():], []byte(name))
	if err != nil {
		return errBadSession
	}
	if json.Unmarshal(plain, v) != nil {
		return errBadSession
	}
	return nil
}

// loginToken is the sign-in form's CSRF token for the nonce in its cookie.
func (s *sealer) loginToken(nonce string) string {
	h := hmac.New(sha256.New, s.mac)
	h.Write([]byte(nonce))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("console: draw a token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// cookie builds one of the console's cookies: HttpOnly, SameSite=Strict,
// Secure when the request came over TLS (directly or, per the proxy, as
// X-Forwarded-Proto https).
func cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: cookiePath, MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"}
}

// equalToken compares tokens in constant time.
func equalToken(a, b string) bool { return a != "" && hmac.Equal([]byte(a), []byte(b)) }
