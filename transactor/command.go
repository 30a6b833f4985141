package transactor

import (
	"errors"
	"fmt"

	"github.com/conto-ledger/conto/engine/ledger"
)

// A command is the payload of one Raft log entry: one batch.
//
//	[0] magic 0xC0 · [1] format 1 · [2] kind · [3] reserved 0
//	[4:8] event count u32 · [8:16] time u64 (ns, stamped by the leader)
//	then count 128-byte records (SPEC §3 layouts)
//
// Everything the state machine needs is in the entry, so every node applies
// the same bytes to the same state and gets the same result.
const (
	commandMagic  = 0xC0
	commandFormat = 1
	headerSize    = 16
)

// ErrCommand reports a log entry that is not a valid command. It never
// happens for entries this package wrote; the FSM answers it as an error
// instead of panicking so a corrupt entry cannot take a node down.
var ErrCommand = errors.New("malformed command")

// encodeCommand encodes a batch (its Version is not encoded: the log index
// is the version).
func encodeCommand(b *ledger.Batch) []byte {
	n := len(b.Accounts) + len(b.Transfers)
	buf := make([]byte, headerSize+n*ledger.RecordSize)
	buf[0], buf[1], buf[2] = commandMagic, commandFormat, byte(b.Kind)
	le.PutUint32(buf[4:], uint32(n))
	le.PutUint64(buf[8:], b.Time)
	rec := buf[headerSize:]
	for i := range b.Accounts {
		ledger.EncodeAccount(rec[i*ledger.RecordSize:], &b.Accounts[i])
	}
	for i := range b.Transfers {
		ledger.EncodeTransfer(rec[i*ledger.RecordSize:], &b.Transfers[i])
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
	if len(data) < headerSize || data[0] != commandMagic || data[1] != commandFormat || data[3] != 0 {
		return nil, fmt.Errorf("%w: bad header", ErrCommand)
	}
	n := int(le.Uint32(data[4:]))
	if n > ledger.MaxBatchEvents || len(data) != headerSize+n*ledger.RecordSize {
		return nil, fmt.Errorf("%w: %d events in %d bytes", ErrCommand, n, len(data))
	}
	b := &ledger.Batch{Kind: ledger.BatchKind(data[2]), Version: version, Time: le.Uint64(data[8:])}
	rec := data[headerSize:]
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

// grow returns (*buf)[:n], reallocating only when it is too small.
func grow[T any](buf *[]T, n int) []T {
	if cap(*buf) < n {
		*buf = make([]T, n)
	}
	return (*buf)[:n]
}
