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
	prefixChain   = 'H'
	prefixHead    = 'h'
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
