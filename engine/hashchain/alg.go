package hashchain

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"

	"golang.org/x/crypto/blake2b"
)

// Alg names a hash algorithm. It is stored next to every head and in every
// hash input, so a verifier always knows which function to run and a chain
// can change algorithm without losing its past.
type Alg uint8

// The hash algorithms. The values are part of the stored formats.
const (
	// SHA256 is SHA-256 (crypto/sha256), the default: SHA-NI makes it the
	// fastest on the servers conto targets.
	SHA256 Alg = 1
	// BLAKE2b256 is unkeyed BLAKE2b with a 32-byte digest
	// (golang.org/x/crypto/blake2b), the migration target if SHA-256 is ever
	// deprecated.
	BLAKE2b256 Alg = 2
)

// ErrUnknownAlg reports an algorithm name or number this package does not
// implement.
var ErrUnknownAlg = errors.New("unknown hash algorithm")

// Valid reports whether a is an implemented algorithm.
func (a Alg) Valid() bool { return a == SHA256 || a == BLAKE2b256 }

// String returns the algorithm's name as ParseAlg reads it.
func (a Alg) String() string {
	switch a {
	case SHA256:
		return "sha256"
	case BLAKE2b256:
		return "blake2b-256"
	}
	return fmt.Sprintf("alg(%d)", uint8(a))
}

// ParseAlg returns the algorithm named s ("sha256" or "blake2b-256").
func ParseAlg(s string) (Alg, error) {
	for _, a := range []Alg{SHA256, BLAKE2b256} {
		if s == a.String() {
			return a, nil
		}
	}
	return 0, fmt.Errorf("%w %q (valid: %s, %s)", ErrUnknownAlg, s, SHA256, BLAKE2b256)
}

// MarshalText encodes a as its name, for JSON answers and config files.
func (a Alg) MarshalText() ([]byte, error) {
	if !a.Valid() {
		return nil, fmt.Errorf("%w %d", ErrUnknownAlg, uint8(a))
	}
	return []byte(a.String()), nil
}

// UnmarshalText parses a name written by MarshalText.
func (a *Alg) UnmarshalText(b []byte) error {
	v, err := ParseAlg(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// newHash returns a streaming hash for a, or nil for an invalid a. Only the
// cold paths (Sum, test vectors) use it: the hot path hashes a stack buffer
// in one call, which allocates nothing.
func newHash(a Alg) hash.Hash {
	switch a {
	case SHA256:
		return sha256.New()
	case BLAKE2b256:
		h, _ := blake2b.New256(nil) // fails only for a key longer than 64 bytes
		return h
	}
	return nil
}

// sumOf hashes b with a in one call, without allocating.
func sumOf(a Alg, b []byte) Hash {
	switch a {
	case SHA256:
		return sha256.Sum256(b)
	case BLAKE2b256:
		return blake2b.Sum256(b)
	}
	return Hash{}
}

// Hash is a 32-byte digest of either algorithm.
type Hash [32]byte

// String returns h in lowercase hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zero: an unset hash.
func (h Hash) IsZero() bool { return h == Hash{} }

// ParseHash parses 64 hex digits (either case) into a Hash.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) {
		return Hash{}, fmt.Errorf("hash %q: %d characters, want %d hex digits", s, len(s), 2*len(h))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return Hash{}, fmt.Errorf("hash %q: %w", s, err)
	}
	return h, nil
}

// MarshalText encodes h as lowercase hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText parses hex written by MarshalText.
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}
