package valuesplit

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Note is an electronic-money note a cluster generates as an item (claim 5:
// the value data is generated on the cluster instead of uploaded). Its
// random serial makes every note distinct; once registered it is split and
// stored like any item, so the bytes that hold its amount exist whole only
// when its owner acquires it.
type Note struct {
	Kind     string    `json:"kind"` // "note"
	Serial   string    `json:"serial"`
	Amount   string    `json:"amount"` // decimal, in the currency's smallest unit
	Currency string    `json:"currency"`
	Issuer   string    `json:"issuer"` // the cluster that generated it
	IssuedAt time.Time `json:"issued_at"`
}

// GenerateNote returns a new note's bytes (JSON). The amount must be
// positive and the currency 1..16 bytes.
func GenerateNote(issuer string, amount uint64, currency string, now time.Time, rnd io.Reader) ([]byte, error) {
	if amount == 0 {
		return nil, fmt.Errorf("%w: a note's amount must be positive", ErrInvalid)
	}
	if len(currency) == 0 || len(currency) > 16 {
		return nil, fmt.Errorf("%w: a note's currency must be 1..16 bytes", ErrInvalid)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	var serial [16]byte
	if _, err := io.ReadFull(rnd, serial[:]); err != nil {
		return nil, fmt.Errorf("note serial: %w", err)
	}
	return json.Marshal(Note{Kind: "note", Serial: hex.EncodeToString(serial[:]), Amount: strconv.FormatUint(amount, 10),
		Currency: currency, Issuer: issuer, IssuedAt: now.UTC()})
}
