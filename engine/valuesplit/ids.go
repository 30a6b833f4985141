package valuesplit

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/conto-ledger/conto/engine/valuesplit/chain"
)

// ItemID names a valuable item (the SPEC's value_id).
type ItemID = chain.ItemID

// OpID is an operation's idempotency key; a transfer's OpID is its id.
type OpID = chain.OpID

// FileID is the seed's 4-byte file id shared by an item's blocks and body.
type FileID = chain.FileID

// ParseItemID parses an item id written by ItemID.String.
func ParseItemID(s string) (ItemID, error) { return chain.ParseItemID(s) }

// ParseOpID parses an operation id written by OpID.String.
func ParseOpID(s string) (OpID, error) { return chain.ParseOpID(s) }

// Limits on names and ids. User and cluster ids must fit the chain's block
// record; names go into e-mail subjects, so they hold no control
// characters.
const (
	MaxIDLen    = chain.MaxUserLen // user and cluster ids, bytes
	MaxNameLen  = chain.MaxNameLen // item names, bytes of UTF-8
	MaxEmailLen = 254
)

// CheckID validates a user or cluster id: 1..MaxIDLen bytes of ASCII
// letters, digits and . _ - @ +.
func CheckID(what, id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("%w: %s must be 1..%d bytes, got %d", ErrInvalid, what, MaxIDLen, len(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-@+", c) >= 0
		if !ok {
			return fmt.Errorf("%w: %s %q has a character outside [A-Za-z0-9._@+-]", ErrInvalid, what, short(id))
		}
	}
	return nil
}

// CheckName validates an item name: 1..MaxNameLen bytes of UTF-8 without
// control characters.
func CheckName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("%w: name must be 1..%d bytes, got %d", ErrInvalid, MaxNameLen, len(name))
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: name is not UTF-8", ErrInvalid)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: name has a control character", ErrInvalid)
		}
	}
	return nil
}

// CheckEmail validates an e-mail address loosely: one @ with text on both
// sides, no spaces, control characters or angle brackets (they would let
// an address inject SMTP commands or headers).
func CheckEmail(addr string) error {
	if addr == "" || len(addr) > MaxEmailLen {
		return fmt.Errorf("%w: e-mail address must be 1..%d bytes", ErrInvalid, MaxEmailLen)
	}
	at := strings.IndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 || strings.Count(addr, "@") != 1 {
		return fmt.Errorf("%w: e-mail address %q needs one @ between a local part and a domain", ErrInvalid, short(addr))
	}
	for _, r := range addr {
		if r <= ' ' || r == 0x7f || r == '<' || r == '>' || r == ',' || r == ';' {
			return fmt.Errorf("%w: e-mail address %q has a forbidden character", ErrInvalid, short(addr))
		}
	}
	return nil
}

func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
