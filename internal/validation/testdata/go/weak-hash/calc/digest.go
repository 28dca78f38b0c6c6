package calc

import (
	"crypto/md5"
	"encoding/hex"
)

// Digest fingerprints a password.
func Digest(password string) string {
	sum := md5.Sum([]byte(password))
	return hex.EncodeToString(sum[:])
}
