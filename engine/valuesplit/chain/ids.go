package chain

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// ErrInvalid reports input outside the chain's limits or format.
var ErrInvalid = errors.New("invalid input")

// ItemID names a valuable item for its whole life: every block about the
// item carries it, and it is the AEAD associated data of the item's
// ciphertext. It is 16 random bytes, written as 32 hex digits.
type ItemID [16]byte

// OpID is the idempotency key of one operation (a registration or a
// transfer): retrying an operation with the same OpID finds the block the
// first attempt wrote instead of writing a second one.
type OpID [16]byte

// NewItemID returns a random item id read from r (crypto/rand if nil).
func NewItemID(r io.Reader) (ItemID, error) {
	var id ItemID
	return id, fill(r, id[:])
}

// NewOpID returns a random operation id read from r (crypto/rand if nil).
func NewOpID(r io.Reader) (OpID, error) {
	var id OpID
	return id, fill(r, id[:])
}

func fill(r io.Reader, b []byte) error {
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("read random bytes: %w", err)
	}
	return nil
}

// String returns the id as 32 hex digits.
func (id ItemID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero id, which no item has.
func (id ItemID) IsZero() bool { return id == ItemID{} }

// MarshalText encodes the id as hex, for JSON.
func (id ItemID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses 32 hex digits.
func (id *ItemID) UnmarshalText(b []byte) error {
	v, err := ParseItemID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseItemID parses an item id written by String.
func ParseItemID(s string) (ItemID, error) {
	var id ItemID
	return id, parseHex(s, id[:], "item id")
}

// String returns the id as 32 hex digits.
func (id OpID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero id.
func (id OpID) IsZero() bool { return id == OpID{} }

// MarshalText encodes the id as hex, for JSON.
func (id OpID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses 32 hex digits.
func (id *OpID) UnmarshalText(b []byte) error {
	v, err := ParseOpID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseOpID parses an operation id written by String.
func ParseOpID(s string) (OpID, error) {
	var id OpID
	return id, parseHex(s, id[:], "operation id")
}

func parseHex(s string, dst []byte, what string) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("%w: %s %q is not %d hex digits", ErrInvalid, what, truncate(s), 2*len(dst))
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return fmt.Errorf("%w: %s %q is not hex", ErrInvalid, what, truncate(s))
	}
	return nil
}

// truncate keeps error messages short when the input is hostile.
func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
