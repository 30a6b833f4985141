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
	prefixDelta   = 'D'
	prefixIndex   = 'x'
	prefixKV      = 'k'
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

// indexKey is 'x' id first-version: the versions, from first-version on,
// at which the account changed, as written at one index checkpoint.
func indexKey(id ledger.Uint128, first uint64) []byte {
	k := make([]byte, 25)
	k[0] = prefixIndex
	be.PutUint64(k[1:], id.Hi)
	be.PutUint64(k[9:], id.Lo)
	be.PutUint64(k[17:], first)
	return k
}

// meta is the value of the meta key.
type meta struct {
	Version       uint64
	LastTimestamp uint64
	// IndexedThrough is the version of the last index checkpoint: account
	// versions after it are only in the delta blocks.
	IndexedThrough uint64
}

const metaSize = 24

func (m meta) encode() []byte {
	b := make([]byte, metaSize)
	le.PutUint64(b, m.Version)
	le.PutUint64(b[8:], m.LastTimestamp)
	le.PutUint64(b[16:], m.IndexedThrough)
	return b
}

func decodeMeta(b []byte) (meta, error) {
	if len(b) != metaSize {
		return meta{}, fmt.Errorf("meta value of %d bytes, want %d", len(b), metaSize)
	}
	return meta{Version: le.Uint64(b), LastTimestamp: le.Uint64(b[8:]), IndexedThrough: le.Uint64(b[16:])}, nil
}

var le = binary.LittleEndian

// Statement entries follow an account's record in a delta block:
//
//	timestamp u64 · transfer id u128 · flags u32 · reserved u32
//	[debits_pending, debits_posted, credits_pending, credits_posted u64: history accounts only]
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

// A delta block ('D' version) holds every account the batch changed:
//
//	count u32
//	count directory rows, sorted by id: id u128 · offset u32 · entries u32
//	bodies: the account record (128 bytes), then its entries
//
// offset is from the start of the block.
const deltaDirRow = 24

// deltaLookup finds an account in a delta block by binary search.
func deltaLookup(block []byte, id ledger.Uint128) (ledger.Account, []byte, bool, error) {
	n, err := deltaRows(block)
	if err != nil {
		return ledger.Account{}, nil, false, err
	}
	lo, hi := 0, n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if rowID(block, mid).Less(id) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == n || rowID(block, lo) != id {
		return ledger.Account{}, nil, false, nil
	}
	a, entries, err := deltaBody(block, lo)
	return a, entries, err == nil, err
}

// deltaRows returns the number of accounts in a delta block.
func deltaRows(block []byte) (int, error) {
	if len(block) < 4 {
		return 0, fmt.Errorf("delta block of %d bytes", len(block))
	}
	n := int(le.Uint32(block))
	if len(block) < 4+n*deltaDirRow {
		return 0, fmt.Errorf("delta block of %d bytes for %d accounts", len(block), n)
	}
	return n, nil
}

func rowID(block []byte, i int) ledger.Uint128 {
	r := block[4+i*deltaDirRow:]
	return ledger.Uint128{Lo: le.Uint64(r), Hi: le.Uint64(r[8:])}
}

// deltaBody returns row i's account and its raw entries.
func deltaBody(block []byte, i int) (ledger.Account, []byte, error) {
	r := block[4+i*deltaDirRow:]
	off, count := int(le.Uint32(r[16:])), int(le.Uint32(r[20:]))
	if off < 0 || off+ledger.RecordSize > len(block) {
		return ledger.Account{}, nil, fmt.Errorf("delta row %d: offset %d out of range", i, off)
	}
	a, err := ledger.DecodeAccount(block[off:])
	if err != nil {
		return ledger.Account{}, nil, err
	}
	end := off + ledger.RecordSize + count*entrySize(&a)
	if end > len(block) {
		return ledger.Account{}, nil, fmt.Errorf("delta row %d: %d entries overrun the block", i, count)
	}
	return a, block[off+ledger.RecordSize : end], nil
}

// decodeEntries decodes raw statement entries of an account.
func decodeEntries(a *ledger.Account, raw []byte) []statementEntry {
	size := entrySize(a)
	entries := make([]statementEntry, len(raw)/size)
	for i := range entries {
		b := raw[i*size:]
		e := &entries[i]
		e.Timestamp = le.Uint64(b)
		e.TransferID = ledger.Uint128{Lo: le.Uint64(b[8:]), Hi: le.Uint64(b[16:])}
		e.Flags = le.Uint32(b[24:])
		if size == entryWithBalance {
			e.Balance = ledger.Balance{Timestamp: e.Timestamp, DebitsPending: le.Uint64(b[32:]),
				DebitsPosted: le.Uint64(b[40:]), CreditsPending: le.Uint64(b[48:]), CreditsPosted: le.Uint64(b[56:])}
		}
	}
	return entries
}

// encodeVersions and decodeVersions code an index value: versions, u64 LE.
func encodeVersions(vs []uint64) []byte {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		le.PutUint64(b[8*i:], v)
	}
	return b
}

func decodeVersions(b []byte) ([]uint64, error) {
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("index value of %d bytes", len(b))
	}
	vs := make([]uint64, len(b)/8)
	for i := range vs {
		vs[i] = le.Uint64(b[8*i:])
	}
	return vs, nil
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
