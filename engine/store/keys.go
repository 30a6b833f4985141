package store

import (
	"encoding/binary"
	"fmt"

	"github.com/conto-ledger/conto/engine/ledger"
)

// Key prefixes; see the package doc for what each holds.
const (
	prefixMeta    = 'm'
	prefixAccount = 'a'
	prefixBlock   = 'B'
	prefixTime    = 't'
	prefixPending = 'p'
	prefixFailed  = 'f'
)

var be = binary.BigEndian

var metaKey = []byte{prefixMeta}

func idKey(prefix byte, id ledger.Uint128) []byte {
	k := make([]byte, 17)
	k[0] = prefix
	be.PutUint64(k[1:], id.Hi)
	be.PutUint64(k[9:], id.Lo)
	return k
}

func idFromKey(k []byte) ledger.Uint128 {
	return ledger.Uint128{Hi: be.Uint64(k[1:]), Lo: be.Uint64(k[9:])}
}

func u64Key(prefix byte, v uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefix
	be.PutUint64(k[1:], v)
	return k
}

// meta is the value of the meta key.
type meta struct {
	Version       uint64
	LastTimestamp uint64
}

const metaSize = 16

func (m meta) encode() []byte {
	b := make([]byte, metaSize)
	le.PutUint64(b, m.Version)
	le.PutUint64(b[8:], m.LastTimestamp)
	return b
}

func decodeMeta(b []byte) (meta, error) {
	if len(b) != metaSize {
		return meta{}, fmt.Errorf("meta value of %d bytes, want %d", len(b), metaSize)
	}
	return meta{Version: le.Uint64(b), LastTimestamp: le.Uint64(b[8:])}, nil
}

var le = binary.LittleEndian

// Statement entries follow the account record in an 'a' value:
//
//	count u32, then count entries of
//	  timestamp u64 · transfer id u128 · flags u32 · reserved u32
//	  [debits_pending, debits_posted, credits_pending, credits_posted u64: history accounts only]
//
// An expiry entry names the pending transfer that expired.
const (
	entryBase        = 32
	entryWithBalance = entryBase + 32

	entryDebit  = 1 // the account was the debit side
	entryExpiry = 2 // a pending transfer expired (no new transfer)
)

func entrySize(a *ledger.Account) int {
	if a.Flags&ledger.AccountHistory != 0 {
		return entryWithBalance
	}
	return entryBase
}

// statementEntry is one decoded entry.
type statementEntry struct {
	Timestamp  uint64
	TransferID ledger.Uint128
	Flags      uint32
	Balance    ledger.Balance // zero unless the account has history
}

func putEntry(b []byte, e *statementEntry, withBalance bool) {
	le.PutUint64(b, e.Timestamp)
	le.PutUint64(b[8:], e.TransferID.Lo)
	le.PutUint64(b[16:], e.TransferID.Hi)
	le.PutUint32(b[24:], e.Flags)
	le.PutUint32(b[28:], 0)
	if withBalance {
		le.PutUint64(b[32:], e.Balance.DebitsPending)
		le.PutUint64(b[40:], e.Balance.DebitsPosted)
		le.PutUint64(b[48:], e.Balance.CreditsPending)
		le.PutUint64(b[56:], e.Balance.CreditsPosted)
	}
}

// decodeAccountValue splits an 'a' value into the account and its entries.
func decodeAccountValue(v []byte) (ledger.Account, []statementEntry, error) {
	if len(v) < ledger.RecordSize+4 {
		return ledger.Account{}, nil, fmt.Errorf("account value of %d bytes is too short", len(v))
	}
	a, err := ledger.DecodeAccount(v)
	if err != nil {
		return ledger.Account{}, nil, err
	}
	n := int(le.Uint32(v[ledger.RecordSize:]))
	size := entrySize(&a)
	body := v[ledger.RecordSize+4:]
	if len(body) != n*size {
		return ledger.Account{}, nil, fmt.Errorf("account %s: %d entries in %d bytes", a.ID, n, len(body))
	}
	entries := make([]statementEntry, n)
	for i := range entries {
		b := body[i*size:]
		e := &entries[i]
		e.Timestamp = le.Uint64(b)
		e.TransferID = ledger.Uint128{Lo: le.Uint64(b[8:]), Hi: le.Uint64(b[16:])}
		e.Flags = le.Uint32(b[24:])
		if size == entryWithBalance {
			e.Balance = ledger.Balance{Timestamp: e.Timestamp, DebitsPending: le.Uint64(b[32:]),
				DebitsPosted: le.Uint64(b[40:]), CreditsPending: le.Uint64(b[48:]), CreditsPosted: le.Uint64(b[56:])}
		}
	}
	return a, entries, nil
}

// pendingValue encodes a pending transfer's life cycle: state u8, expires_at u64.
func pendingValue(p ledger.PendingInfo) []byte {
	b := make([]byte, 9)
	b[0] = byte(p.State)
	le.PutUint64(b[1:], p.ExpiresAt)
	return b
}

func decodePending(b []byte) (ledger.PendingInfo, error) {
	if len(b) != 9 || b[0] < byte(ledger.PendingActive) || b[0] > byte(ledger.PendingExpired) {
		return ledger.PendingInfo{}, fmt.Errorf("bad pending value %x", b)
	}
	return ledger.PendingInfo{State: ledger.PendingState(b[0]), ExpiresAt: le.Uint64(b[1:])}, nil
}
