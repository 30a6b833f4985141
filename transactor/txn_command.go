package transactor

import (
	"fmt"

	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/engine/store"
)

// kindTxn marks a command that carries an optimistic transaction. Format 2
// has the chain algorithm in header byte 3 and the leader's 128-byte stamp
// after the header (format 1, before hash chains, has neither). The body
// follows (the header's count is 0):
//
//	u32 n, n × (account id u128 · version u64)          account checks
//	u32 n, n × (key length u16 · key · version u64)      key checks
//	u32 n, n × (key length u16 · key · length u32 · value) puts
//	u32 n, n × 128-byte transfer records
const kindTxn = 0x10

func encodeTxn(txn *store.Txn, t uint64) []byte {
	buf := make([]byte, sealedHeader, sealedHeader+64+len(txn.Transfers)*ledger.RecordSize)
	buf[0], buf[1], buf[2], buf[3] = commandMagic, commandFormat, kindTxn, txn.Seal.Alg
	le.PutUint64(buf[8:], t)
	copy(buf[headerSize:sealedHeader], txn.Seal.Stamp[:])
	buf = le.AppendUint32(buf, uint32(len(txn.AccountChecks)))
	for _, c := range txn.AccountChecks {
		buf = le.AppendUint64(buf, c.ID.Lo)
		buf = le.AppendUint64(buf, c.ID.Hi)
		buf = le.AppendUint64(buf, c.Version)
	}
	buf = le.AppendUint32(buf, uint32(len(txn.KeyChecks)))
	for _, c := range txn.KeyChecks {
		buf = appendKey(buf, c.Key)
		buf = le.AppendUint64(buf, c.Version)
	}
	buf = le.AppendUint32(buf, uint32(len(txn.Puts)))
	for _, p := range txn.Puts {
		buf = appendKey(buf, p.Key)
		buf = le.AppendUint32(buf, uint32(len(p.Value)))
		buf = append(buf, p.Value...)
	}
	buf = le.AppendUint32(buf, uint32(len(txn.Transfers)))
	for i := range txn.Transfers {
		var rec [ledger.RecordSize]byte
		ledger.EncodeTransfer(rec[:], &txn.Transfers[i])
		buf = append(buf, rec[:]...)
	}
	return buf
}

func appendKey(buf []byte, k string) []byte {
	buf = le.AppendUint16(buf, uint16(len(k)))
	return append(buf, k...)
}

// txnReader decodes a txn body, remembering the first error.
type txnReader struct {
	b   []byte
	err error
}

// take returns the next n bytes. Past the end it records the error and
// returns 8 zero bytes (enough for any fixed-size read), never n: a corrupt
// length must not make a node allocate gigabytes.
func (r *txnReader) take(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		r.err = fmt.Errorf("%w: truncated transaction", ErrCommand)
		return make([]byte, 8)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *txnReader) u16() uint16 { return le.Uint16(r.take(2)) }
func (r *txnReader) u32() uint32 { return le.Uint32(r.take(4)) }
func (r *txnReader) u64() uint64 { return le.Uint64(r.take(8)) }
func (r *txnReader) key() string { return string(r.take(int(r.u16()))) }

// count reads a count and rejects one the remaining bytes cannot hold.
func (r *txnReader) count(minSize int) int {
	n := int(r.u32())
	if n*minSize > len(r.b) {
		r.err = fmt.Errorf("%w: count %d exceeds the entry", ErrCommand, n)
		return 0
	}
	return n
}

func decodeTxn(data []byte) (*store.Txn, uint64, error) {
	if len(data) < headerSize || data[0] != commandMagic || data[2] != kindTxn {
		return nil, 0, fmt.Errorf("%w: bad transaction header", ErrCommand)
	}
	txn := &store.Txn{}
	var r *txnReader
	switch {
	case data[1] == commandFormatV1 && data[3] == 0:
		r = &txnReader{b: data[headerSize:]}
	case data[1] == commandFormat && len(data) >= sealedHeader:
		txn.Seal.Alg = data[3]
		copy(txn.Seal.Stamp[:], data[headerSize:sealedHeader])
		r = &txnReader{b: data[sealedHeader:]}
	default:
		return nil, 0, fmt.Errorf("%w: bad transaction header", ErrCommand)
	}
	for n := r.count(24); n > 0 && r.err == nil; n-- {
		id := ledger.Uint128{Lo: r.u64(), Hi: r.u64()}
		txn.AccountChecks = append(txn.AccountChecks, store.AccountCheck{ID: id, Version: r.u64()})
	}
	for n := r.count(10); n > 0 && r.err == nil; n-- {
		k := r.key()
		txn.KeyChecks = append(txn.KeyChecks, store.KeyCheck{Key: k, Version: r.u64()})
	}
	for n := r.count(6); n > 0 && r.err == nil; n-- {
		k := r.key()
		raw := r.take(int(r.u32()))
		v := make([]byte, len(raw))
		copy(v, raw)
		txn.Puts = append(txn.Puts, store.Put{Key: k, Value: v})
	}
	for n := r.count(ledger.RecordSize); n > 0 && r.err == nil; n-- {
		t, err := ledger.DecodeTransfer(r.take(ledger.RecordSize))
		if err != nil {
			r.err = fmt.Errorf("%w: %v", ErrCommand, err)
		}
		txn.Transfers = append(txn.Transfers, t)
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d trailing bytes", ErrCommand, len(r.b))
	}
	return txn, le.Uint64(data[8:]), r.err
}
