package transactor

import (
	"errors"
	"fmt"

	"github.com/conto-ledger/conto/engine/ledger"
)

// A command is the payload of one Raft log entry: one batch.
//
//	[0] magic 0xC0 · [1] format 2 · [2] kind · [3] chain algorithm (0: none)
//	[4:8] event count u32 · [8:16] time u64 (ns, stamped by the leader)
//	[16:144] the leader's stamp for the hash chains (hashchain.Stamp)
//	then count 128-byte records (SPEC §3 layouts)
//	then corrections: count u32, each index u32 · corrected transfer id u128
//
// Format 1 (written before hash chains) has no stamp and no corrections,
// and byte 3 is zero; it is still read. Everything the state machine needs
// is in the entry, so every node applies the same bytes to the same state
// and gets the same result.
const (
	commandMagic    = 0xC0
	commandFormat   = 2
	commandFormatV1 = 1
	headerSize      = 16
	sealedHeader    = headerSize + 128
	correctionSize  = 20
)

// ErrCommand reports a log entry that is not a valid command. It never
// happens for entries this package wrote; the FSM answers it as an error
// instead of panicking so a corrupt entry cannot take a node down.
var ErrCommand = errors.New("malformed command")

// encodeCommand encodes a batch (its Version is not encoded: the log index
// is the version).
func encodeCommand(b *ledger.Batch) []byte {
	n := len(b.Accounts) + len(b.Transfers)
	buf := make([]byte, sealedHeader+n*ledger.RecordSize+4+len(b.Corrections)*correctionSize)
	buf[0], buf[1], buf[2], buf[3] = commandMagic, commandFormat, byte(b.Kind), b.Seal.Alg
	le.PutUint32(buf[4:], uint32(n))
	le.PutUint64(buf[8:], b.Time)
	copy(buf[headerSize:sealedHeader], b.Seal.Stamp[:])
	rec := buf[sealedHeader:]
	for i := range b.Accounts {
		ledger.EncodeAccount(rec[i*ledger.RecordSize:], &b.Accounts[i])
	}
	for i := range b.Transfers {
		ledger.EncodeTransfer(rec[i*ledger.RecordSize:], &b.Transfers[i])
	}
	tail := rec[n*ledger.RecordSize:]
	le.PutUint32(tail, uint32(len(b.Corrections)))
	for i, c := range b.Corrections {
		e := tail[4+i*correctionSize:]
		le.PutUint32(e, c.Index)
		le.PutUint64(e[4:], c.Corrects.Lo)
		le.PutUint64(e[12:], c.Corrects.Hi)
	}
	return buf
}

// decodeScratch holds event slices reused from one decode to the next. The
// FSM decodes one batch at a time and the store does not keep the slices,
// so a 1 MiB batch costs no allocation.
type decodeScratch struct {
	accounts  []ledger.Account
	transfers []ledger.Transfer
}

// decodeCommand decodes a command into a batch at the given version. With
// scratch, the batch's slices are valid until the next decode.
func decodeCommand(data []byte, version uint64, scratch *decodeScratch) (*ledger.Batch, error) {
	if scratch == nil {
		scratch = &decodeScratch{}
	}
	if len(data) < headerSize || data[0] != commandMagic {
		return nil, fmt.Errorf("%w: bad header", ErrCommand)
	}
	b := &ledger.Batch{Kind: ledger.BatchKind(data[2]), Version: version, Time: le.Uint64(data[8:])}
	n := int(le.Uint32(data[4:]))
	if n > ledger.MaxBatchEvents {
		return nil, fmt.Errorf("%w: %d events", ErrCommand, n)
	}
	var rec []byte
	switch {
	case data[1] == commandFormatV1 && data[3] == 0 && len(data) == headerSize+n*ledger.RecordSize:
		rec = data[headerSize:]
	case data[1] == commandFormat && len(data) >= sealedHeader+n*ledger.RecordSize+4:
		b.Seal.Alg = data[3]
		copy(b.Seal.Stamp[:], data[headerSize:sealedHeader])
		rec = data[sealedHeader : sealedHeader+n*ledger.RecordSize]
		var err error
		if b.Corrections, err = decodeCorrections(data[sealedHeader+n*ledger.RecordSize:], n); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: format %d with %d events in %d bytes", ErrCommand, data[1], n, len(data))
	}
	var err error
	switch b.Kind {
	case ledger.KindAccounts:
		b.Accounts = grow(&scratch.accounts, n)
		for i := range b.Accounts {
			if b.Accounts[i], err = ledger.DecodeAccount(rec[i*ledger.RecordSize:]); err != nil {
				return nil, fmt.Errorf("%w: record %d: %v", ErrCommand, i, err)
			}
		}
	case ledger.KindTransfers:
		b.Transfers = grow(&scratch.transfers, n)
		for i := range b.Transfers {
			if b.Transfers[i], err = ledger.DecodeTransfer(rec[i*ledger.RecordSize:]); err != nil {
				return nil, fmt.Errorf("%w: record %d: %v", ErrCommand, i, err)
			}
		}
	case ledger.KindExpire:
		if n != 0 {
			return nil, fmt.Errorf("%w: expiry batch with %d events", ErrCommand, n)
		}
	default:
		return nil, fmt.Errorf("%w: kind %d", ErrCommand, b.Kind)
	}
	return b, nil
}

// decodeCorrections decodes a command's corrections section; each must name
// a distinct event of the batch.
func decodeCorrections(tail []byte, events int) ([]ledger.Correction, error) {
	k := int(le.Uint32(tail))
	if k > events || len(tail) != 4+k*correctionSize {
		return nil, fmt.Errorf("%w: %d corrections in %d bytes", ErrCommand, k, len(tail))
	}
	if k == 0 {
		return nil, nil
	}
	cs := make([]ledger.Correction, k)
	for i := range cs {
		e := tail[4+i*correctionSize:]
		cs[i] = ledger.Correction{Index: le.Uint32(e), Corrects: ledger.Uint128{Lo: le.Uint64(e[4:]), Hi: le.Uint64(e[12:])}}
		if int(cs[i].Index) >= events || (i > 0 && cs[i].Index <= cs[i-1].Index) {
			return nil, fmt.Errorf("%w: correction %d names event %d", ErrCommand, i, cs[i].Index)
		}
	}
	return cs, nil
}

// grow returns (*buf)[:n], reallocating only when it is too small.
func grow[T any](buf *[]T, n int) []T {
	if cap(*buf) < n {
		*buf = make([]T, n)
	}
	return (*buf)[:n]
}
