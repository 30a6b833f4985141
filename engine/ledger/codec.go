package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ResultSize is the size of one encoded Result: timestamp u64, status u32,
// reserved u32 (SPEC §3).
const ResultSize = 16

// Codec errors. Each names the problem; decoders wrap them with the record
// index so a client can find the bad record.
var (
	ErrRecordLength = errors.New("length is not a multiple of 128 bytes")
	ErrReservedByte = errors.New("reserved bytes must be zero")
	ErrEmptyBatch   = errors.New("batch is empty")
	ErrBatchTooBig  = fmt.Errorf("batch has more than %d events", MaxBatchEvents)
)

var le = binary.LittleEndian

func putU128(b []byte, u Uint128) {
	le.PutUint64(b, u.Lo)
	le.PutUint64(b[8:], u.Hi)
}

func getU128(b []byte) Uint128 {
	return Uint128{Lo: le.Uint64(b), Hi: le.Uint64(b[8:])}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// EncodeAccount writes a into the first 128 bytes of dst.
func EncodeAccount(dst []byte, a *Account) {
	_ = dst[RecordSize-1]
	putU128(dst[0:], a.ID)
	le.PutUint64(dst[16:], a.DebitsPending)
	le.PutUint64(dst[24:], a.DebitsPosted)
	le.PutUint64(dst[32:], a.CreditsPending)
	le.PutUint64(dst[40:], a.CreditsPosted)
	putU128(dst[48:], a.UserData128)
	le.PutUint64(dst[64:], a.UserData64)
	le.PutUint32(dst[72:], a.UserData32)
	le.PutUint32(dst[76:], a.Reserved)
	le.PutUint32(dst[80:], a.Ledger)
	le.PutUint16(dst[84:], a.Code)
	le.PutUint16(dst[86:], uint16(a.Flags))
	le.PutUint64(dst[88:], a.Timestamp)
	le.PutUint64(dst[96:], a.Version)
	clear(dst[104:RecordSize])
}

// DecodeAccount reads an account from the first 128 bytes of src. The tail
// [104,128) is reserved and must be zero. The in-record reserved u32 at [76] is
// decoded as is: Apply answers reserved_field for it, per event.
func DecodeAccount(src []byte) (Account, error) {
	if len(src) < RecordSize {
		return Account{}, ErrRecordLength
	}
	if !allZero(src[104:RecordSize]) {
		return Account{}, fmt.Errorf("account bytes [104,128): %w", ErrReservedByte)
	}
	return Account{
		ID:             getU128(src[0:]),
		DebitsPending:  le.Uint64(src[16:]),
		DebitsPosted:   le.Uint64(src[24:]),
		CreditsPending: le.Uint64(src[32:]),
		CreditsPosted:  le.Uint64(src[40:]),
		UserData128:    getU128(src[48:]),
		UserData64:     le.Uint64(src[64:]),
		UserData32:     le.Uint32(src[72:]),
		Reserved:       le.Uint32(src[76:]),
		Ledger:         le.Uint32(src[80:]),
		Code:           le.Uint16(src[84:]),
		Flags:          AccountFlags(le.Uint16(src[86:])),
		Timestamp:      le.Uint64(src[88:]),
		Version:        le.Uint64(src[96:]),
	}, nil
}

// EncodeTransfer writes t into the first 128 bytes of dst.
func EncodeTransfer(dst []byte, t *Transfer) {
	_ = dst[RecordSize-1]
	putU128(dst[0:], t.ID)
	putU128(dst[16:], t.DebitAccountID)
	putU128(dst[32:], t.CreditAccountID)
	le.PutUint64(dst[48:], t.Amount)
	putU128(dst[56:], t.PendingID)
	putU128(dst[72:], t.UserData128)
	le.PutUint64(dst[88:], t.UserData64)
	le.PutUint32(dst[96:], t.UserData32)
	le.PutUint32(dst[100:], t.Timeout)
	le.PutUint32(dst[104:], t.Ledger)
	le.PutUint16(dst[108:], t.Code)
	le.PutUint16(dst[110:], uint16(t.Flags))
	le.PutUint64(dst[112:], t.Timestamp)
	clear(dst[120:RecordSize])
}

// DecodeTransfer reads a transfer from the first 128 bytes of src. The tail
// [120,128) is reserved and must be zero.
func DecodeTransfer(src []byte) (Transfer, error) {
	if len(src) < RecordSize {
		return Transfer{}, ErrRecordLength
	}
	if !allZero(src[120:RecordSize]) {
		return Transfer{}, fmt.Errorf("transfer bytes [120,128): %w", ErrReservedByte)
	}
	return Transfer{
		ID:              getU128(src[0:]),
		DebitAccountID:  getU128(src[16:]),
		CreditAccountID: getU128(src[32:]),
		Amount:          le.Uint64(src[48:]),
		PendingID:       getU128(src[56:]),
		UserData128:     getU128(src[72:]),
		UserData64:      le.Uint64(src[88:]),
		UserData32:      le.Uint32(src[96:]),
		Timeout:         le.Uint32(src[100:]),
		Ledger:          le.Uint32(src[104:]),
		Code:            le.Uint16(src[108:]),
		Flags:           TransferFlags(le.Uint16(src[110:])),
		Timestamp:       le.Uint64(src[112:]),
	}, nil
}

// CheckEvents validates a batch's number of events: 1..MaxBatchEvents.
func CheckEvents(n int) error {
	switch {
	case n == 0:
		return ErrEmptyBatch
	case n > MaxBatchEvents:
		return fmt.Errorf("%d events: %w", n, ErrBatchTooBig)
	}
	return nil
}

// checkBatchLength validates the length of a binary batch and returns the
// number of records in it.
func checkBatchLength(n int) (int, error) {
	if n == 0 {
		return 0, ErrEmptyBatch
	}
	if n%RecordSize != 0 {
		return 0, fmt.Errorf("body of %d bytes: %w", n, ErrRecordLength)
	}
	if n/RecordSize > MaxBatchEvents {
		return 0, fmt.Errorf("%d records: %w", n/RecordSize, ErrBatchTooBig)
	}
	return n / RecordSize, nil
}

// DecodeAccounts decodes a binary batch of 1..8189 accounts. Any bad record
// rejects the whole batch, and the error names the record's index.
func DecodeAccounts(src []byte) ([]Account, error) {
	n, err := checkBatchLength(len(src))
	if err != nil {
		return nil, err
	}
	out := make([]Account, n)
	for i := range out {
		if out[i], err = DecodeAccount(src[i*RecordSize:]); err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
	}
	return out, nil
}

// DecodeTransfers decodes a binary batch of 1..8189 transfers. Any bad record
// rejects the whole batch, and the error names the record's index.
func DecodeTransfers(src []byte) ([]Transfer, error) {
	n, err := checkBatchLength(len(src))
	if err != nil {
		return nil, err
	}
	out := make([]Transfer, n)
	for i := range out {
		if out[i], err = DecodeTransfer(src[i*RecordSize:]); err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
	}
	return out, nil
}

// EncodeResults appends the 16-byte encoding of each result to dst.
func EncodeResults(dst []byte, rs []Result) []byte {
	for _, r := range rs {
		var b [ResultSize]byte
		le.PutUint64(b[0:], r.Timestamp)
		le.PutUint32(b[8:], r.Status)
		dst = append(dst, b[:]...)
	}
	return dst
}

// DecodeResults decodes 16-byte results; the reserved word must be zero.
func DecodeResults(src []byte) ([]Result, error) {
	if len(src)%ResultSize != 0 {
		return nil, fmt.Errorf("results of %d bytes: length is not a multiple of %d", len(src), ResultSize)
	}
	out := make([]Result, len(src)/ResultSize)
	for i := range out {
		b := src[i*ResultSize:]
		if le.Uint32(b[12:]) != 0 {
			return nil, fmt.Errorf("result %d: %w", i, ErrReservedByte)
		}
		out[i] = Result{Timestamp: le.Uint64(b), Status: le.Uint32(b[8:])}
	}
	return out, nil
}
