package gateway

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/valyala/fasthttp"
)

// API keys. A key is shown once, when created; the data directory keeps
// only its SHA-256, one "name hex-hash" line per key in api-keys (mode
// 0600). Requests present the key as "Authorization: Bearer <key>"; it is
// hashed and compared with every stored hash in constant time.

// KeysFile is the name of the key file in a data directory.
const KeysFile = "api-keys"

// KeyHash is the SHA-256 of an API key.
type KeyHash [sha256.Size]byte

// NewAPIKey creates a key, appends its hash to dir's key file and returns
// the key, which is not stored anywhere.
func NewAPIKey(dir, name string) (string, error) {
	if name == "" || strings.ContainsAny(name, " \t\n") {
		return "", errors.New("key name must be one word")
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	key := "conto_" + base64.RawURLEncoding.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(key))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.OpenFile(filepath.Join(dir, KeysFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "%s %s\n", name, hex.EncodeToString(sum[:])); err != nil {
		return "", err
	}
	return key, f.Sync()
}

// LoadKeyHashes reads dir's key file; no file means no keys.
func LoadKeyHashes(dir string) ([]KeyHash, error) {
	f, err := os.Open(filepath.Join(dir, KeysFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []KeyHash
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		var h KeyHash
		if b, err := hex.DecodeString(fields[len(fields)-1]); len(fields) != 2 || err != nil || len(b) != len(h) {
			return nil, fmt.Errorf("%s line %d: want \"name sha256-hex\"", KeysFile, line)
		} else {
			copy(h[:], b)
		}
		out = append(out, h)
	}
	return out, sc.Err()
}

// authorized reports whether the request carries a valid key. Every stored
// hash is compared, in constant time, so timing says nothing about which
// byte or which key differed.
func authorized(ctx *fasthttp.RequestCtx, keys []KeyHash) bool {
	h := string(ctx.Request.Header.Peek("Authorization"))
	const prefix = "Bearer "
	if !strings.HasPrefix(h, prefix) {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(h[len(prefix):])))
	ok := 0
	for i := range keys {
		ok |= subtle.ConstantTimeCompare(sum[:], keys[i][:])
	}
	return ok == 1
}
