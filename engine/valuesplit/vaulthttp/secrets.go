package vaulthttp

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	vs "github.com/conto-ledger/conto/engine/valuesplit"
	"github.com/conto-ledger/conto/engine/valuesplit/internal/fsutil"
)

// Secret limits. Shared keys and tokens travel in Authorization headers, so
// they are printable ASCII without spaces.
const (
	MinSecretLen = 32
	MaxSecretLen = 512
)

// AdminTokenHashFile is where a server keeps the SHA-256 of its admin token
// (hex), in its data directory.
const AdminTokenHashFile = "admin-token.sha256"

// SecretHash is the SHA-256 of a shared key or token. Servers keep only
// hashes and compare them in constant time.
type SecretHash [32]byte

// HashSecret hashes a secret.
func HashSecret(s string) SecretHash { return sha256.Sum256([]byte(s)) }

// IsZero reports an unset hash.
func (h SecretHash) IsZero() bool { return h == SecretHash{} }

// Matches reports in constant time whether s hashes to h. A zero h matches
// nothing.
func (h SecretHash) Matches(s string) bool {
	if h.IsZero() {
		return false
	}
	g := HashSecret(s)
	return subtle.ConstantTimeCompare(g[:], h[:]) == 1
}

// NewSecret returns 32 random bytes, base64url without padding (43
// characters).
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// CheckSecret validates a secret's shape.
func CheckSecret(s string) error {
	if len(s) < MinSecretLen || len(s) > MaxSecretLen {
		return fmt.Errorf("%w: secret must be %d..%d characters, got %d", vs.ErrInvalid, MinSecretLen, MaxSecretLen, len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return fmt.Errorf("%w: secret must be printable ASCII without spaces", vs.ErrInvalid)
		}
	}
	return nil
}

// ReadSecretFile reads a secret from a file (surrounding white space is
// ignored).
func ReadSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if err := CheckSecret(s); err != nil {
		return "", fmt.Errorf("secret file %s: %w", path, err)
	}
	return s, nil
}

// WriteSecretFile writes a secret to a new file, mode 0600.
func WriteSecretFile(path, secret string) error {
	if err := CheckSecret(secret); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create directory for %s: %w", path, err)
	}
	return fsutil.WriteFileAtomic(path, []byte(secret+"\n"), 0o600)
}

// SetupAdminToken gives a server its admin token, keeping only the token's
// hash in dir (AdminTokenHashFile). With tokenFile, the token is read from
// it (a missing file is created with a new token) and its hash replaces the
// stored one. Without, the stored hash is used; on first start a new token
// is made and returned as printOnce for the caller to show the operator
// once — it is not kept anywhere.
func SetupAdminToken(dir, tokenFile string) (hash SecretHash, printOnce string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return hash, "", fmt.Errorf("create data directory: %w", err)
	}
	hashPath := filepath.Join(dir, AdminTokenHashFile)
	if tokenFile != "" {
		tok, err := ReadSecretFile(tokenFile)
		if errors.Is(err, os.ErrNotExist) {
			if tok, err = NewSecret(); err != nil {
				return hash, "", err
			}
			if err = WriteSecretFile(tokenFile, tok); err != nil {
				return hash, "", fmt.Errorf("create admin token file: %w", err)
			}
		}
		if err != nil {
			return hash, "", err
		}
		hash = HashSecret(tok)
		if old, err := readHashFile(hashPath); err != nil || old != hash {
			if err := writeHashFile(hashPath, hash); err != nil {
				return hash, "", err
			}
		}
		return hash, "", nil
	}
	hash, err = readHashFile(hashPath)
	if err == nil {
		return hash, "", nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return hash, "", err
	}
	tok, err := NewSecret()
	if err != nil {
		return hash, "", err
	}
	hash = HashSecret(tok)
	if err := writeHashFile(hashPath, hash); err != nil {
		return hash, "", err
	}
	return hash, tok, nil
}

func readHashFile(path string) (SecretHash, error) {
	var h SecretHash
	b, err := os.ReadFile(path)
	if err != nil {
		return h, err
	}
	s := strings.TrimSpace(string(b))
	if len(s) != 64 {
		return h, fmt.Errorf("%w: %s: want 64 hex digits", vs.ErrInvalid, path)
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil || h.IsZero() {
		return SecretHash{}, fmt.Errorf("%w: %s: not a SHA-256 in hex", vs.ErrInvalid, path)
	}
	return h, nil
}

func writeHashFile(path string, h SecretHash) error {
	if err := fsutil.WriteFileAtomic(path, []byte(hex.EncodeToString(h[:])+"\n"), 0o600); err != nil {
		return fmt.Errorf("store admin token hash: %w", err)
	}
	return nil
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const p = "bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	tok := strings.TrimSpace(h[len(p):])
	if tok == "" || len(tok) > MaxSecretLen {
		return "", false
	}
	return tok, true
}
