package hashchain

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LoadOrCreateKey returns the node's ed25519 signing key stored at path, and
// creates it if the file does not exist. The file holds the 32-byte seed in
// hex and a newline, mode 0600; its parent directory is created (0700) if
// missing. path+".pub" receives the public key in hex, so operators can hand
// it to auditors without touching the secret; it is written when missing and
// must match the key when present. A malformed key file is an error naming
// the path: the node must not silently start with a new identity.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	key, err := loadKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createKey(path)
	}
	if err != nil {
		return nil, err
	}
	if err := writePublicKey(path+".pub", key, false); err != nil {
		return nil, err
	}
	return key, nil
}

// loadKey reads and parses an existing key file.
func loadKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	s := strings.TrimSuffix(string(data), "\n")
	seed, err := hex.DecodeString(s)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("signing key %s: want %d hex digits and a newline: %w", path, 2*ed25519.SeedSize, ErrFormat)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// createKey makes a new key file. O_EXCL makes two nodes racing on one path
// agree: the loser reads the winner's key instead of replacing it.
func createKey(path string) (ed25519.PrivateKey, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return loadKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	if err := writeAndClose(f, []byte(hex.EncodeToString(seed)+"\n")); err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// syncDir makes a file created in dir survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeAndClose writes data, syncs (a key must survive a crash once used to
// sign) and closes f.
func writeAndClose(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writePublicKey writes the public key file if missing, and checks it if
// present: a stale .pub would send auditors to the wrong key.
func writePublicKey(path string, key ed25519.PrivateKey, retried bool) error {
	want := []byte(hex.EncodeToString(key[32:]) + "\n")
	have, err := os.ReadFile(path)
	switch {
	case err == nil && bytes.Equal(have, want):
		return nil
	case err == nil:
		return fmt.Errorf("public key %s does not match the signing key: %w", path, ErrFormat)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("public key %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) && !retried {
		return writePublicKey(path, key, true) // another process wrote it meanwhile: check it
	}
	if err != nil {
		return fmt.Errorf("public key %s: %w", path, err)
	}
	if err := writeAndClose(f, want); err != nil {
		return fmt.Errorf("public key %s: %w", path, err)
	}
	return nil
}
