// Package shortener keeps short codes and the URLs they stand for.
package shortener

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"sync"
)

// CodeLength is the number of characters in a short code.
const CodeLength = 7

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ErrNotFound is returned by Resolve for an unknown code.
var ErrNotFound = errors.New("short code not found")

// ErrInvalidURL is returned for a URL that cannot be shortened.
var ErrInvalidURL = errors.New("invalid URL: want an absolute http or https URL with a host")

// Store maps codes to URLs. It is safe for concurrent use.
type Store struct {
	mu    sync.RWMutex
	links map[string]string
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{links: make(map[string]string)}
}

// Validate reports whether raw is an absolute http or https URL with a host.
func Validate(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ErrInvalidURL
	}
	return nil
}

// Shorten stores raw under a new random code and returns the code.
func (s *Store) Shorten(raw string) (string, error) {
	if err := Validate(raw); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 0; attempt < 10; attempt++ {
		code, err := randomCode()
		if err != nil {
			return "", err
		}
		if _, taken := s.links[code]; !taken {
			s.links[code] = raw
			return code, nil
		}
	}
	return "", errors.New("could not find a free short code")
}

// Resolve returns the URL stored under code.
func (s *Store) Resolve(code string) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.links[code]
	if !ok {
		return "", ErrNotFound
	}
	return u, nil
}

// Len returns the number of stored links.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.links)
}

func randomCode() (string, error) {
	b := make([]byte, CodeLength)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("read random: %w", err)
		}
		b[i] = alphabet[n.Int64()]
	}
	return string(b), nil
}
