// Package ledger holds conto's double-entry rules: the Account and Transfer
// objects, their status codes, the 128-byte wire codec, and Apply, which runs a
// batch of events against an in-memory State.
//
// The package is pure and deterministic: no I/O, no clock, no goroutines, no
// randomness. Everything Apply uses comes from its arguments (the batch, its
// version and its timestamp), so replaying the same batches on any node gives
// byte-identical state. Durable storage, replication and transport live in
// other packages and drive this one.
package ledger

import (
	"errors"
	"fmt"
	"math/bits"
)

// MaxBatchEvents is the most events one batch may carry (SPEC §2).
const MaxBatchEvents = 8189

// RecordSize is the size of an encoded Account or Transfer (SPEC §3).
const RecordSize = 128

// AmountMax posts the full pending amount when used as a post's amount.
const AmountMax = ^uint64(0)

// Uint128 is an unsigned 128-bit integer, used for ids and user_data_128.
// It is a comparable value so it can key Go maps without allocation.
type Uint128 struct {
	Lo, Hi uint64
}

// U128 returns the Uint128 with value v.
func U128(v uint64) Uint128 { return Uint128{Lo: v} }

// MaxUint128 is 2^128-1, which SPEC forbids as an id.
var MaxUint128 = Uint128{Lo: ^uint64(0), Hi: ^uint64(0)}

// IsZero reports whether u is 0.
func (u Uint128) IsZero() bool { return u.Lo == 0 && u.Hi == 0 }

// IsMax reports whether u is 2^128-1.
func (u Uint128) IsMax() bool { return u == MaxUint128 }

// Less orders Uint128 values numerically.
func (u Uint128) Less(v Uint128) bool {
	if u.Hi != v.Hi {
		return u.Hi < v.Hi
	}
	return u.Lo < v.Lo
}

// String formats u in decimal, the form SPEC uses in JSON.
func (u Uint128) String() string {
	if u.Hi == 0 {
		return fmt.Sprint(u.Lo)
	}
	var buf [40]byte
	i := len(buf)
	for !u.IsZero() {
		// Divide by 10^19 (the largest power of ten below 2^64) at a time.
		const chunk = 10000000000000000000
		q1, r1 := u.Hi/chunk, u.Hi%chunk
		q0, r := bits.Div64(r1, u.Lo, chunk)
		u = Uint128{Lo: q0, Hi: q1}
		for d := 0; d < 19; d++ {
			i--
			buf[i] = byte('0' + r%10)
			r /= 10
			if u.IsZero() && r == 0 {
				break
			}
		}
	}
	return string(buf[i:])
}

// ErrUint128Syntax reports a string that is not a decimal u128.
var ErrUint128Syntax = errors.New("not a decimal unsigned 128-bit integer")

// ParseUint128 parses a decimal string (no sign, no spaces, no leading '+').
func ParseUint128(s string) (Uint128, error) {
	if len(s) == 0 || len(s) > 39 {
		return Uint128{}, fmt.Errorf("%q: %w", s, ErrUint128Syntax)
	}
	var u Uint128
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return Uint128{}, fmt.Errorf("%q: %w", s, ErrUint128Syntax)
		}
		// u = u*10 + d, checking for overflow.
		hiHi, hiLo := bits.Mul64(u.Hi, 10)
		loHi, loLo := bits.Mul64(u.Lo, 10)
		hi, carry := bits.Add64(hiLo, loHi, 0)
		if hiHi != 0 || carry != 0 {
			return Uint128{}, fmt.Errorf("%q overflows 128 bits: %w", s, ErrUint128Syntax)
		}
		lo, c2 := bits.Add64(loLo, uint64(c-'0'), 0)
		hi, carry = bits.Add64(hi, 0, c2)
		if carry != 0 {
			return Uint128{}, fmt.Errorf("%q overflows 128 bits: %w", s, ErrUint128Syntax)
		}
		u = Uint128{Lo: lo, Hi: hi}
	}
	return u, nil
}

// AccountFlags are the flag bits of an Account (SPEC §1).
type AccountFlags uint16

// Account flag bits. Bit 16 (value 16) is reserved; any bit outside
// accountFlagsKnown answers reserved_flag.
const (
	AccountLinked                     AccountFlags = 1
	AccountDebitsMustNotExceedCredits AccountFlags = 2
	AccountCreditsMustNotExceedDebits AccountFlags = 4
	AccountHistory                    AccountFlags = 8
	AccountClosed                     AccountFlags = 32

	accountFlagsKnown = AccountLinked | AccountDebitsMustNotExceedCredits |
		AccountCreditsMustNotExceedDebits | AccountHistory | AccountClosed
)

// TransferFlags are the flag bits of a Transfer (SPEC §1).
type TransferFlags uint16

// Transfer flag bits.
const (
	TransferLinked              TransferFlags = 1
	TransferPending             TransferFlags = 2
	TransferPostPendingTransfer TransferFlags = 4
	TransferVoidPendingTransfer TransferFlags = 8
	TransferBalancingDebit      TransferFlags = 16
	TransferBalancingCredit     TransferFlags = 32
	TransferClosingDebit        TransferFlags = 64
	TransferClosingCredit       TransferFlags = 128

	transferFlagsKnown = TransferLinked | TransferPending | TransferPostPendingTransfer |
		TransferVoidPendingTransfer | TransferBalancingDebit | TransferBalancingCredit |
		TransferClosingDebit | TransferClosingCredit
)

// Account is a ledger account. Its layout mirrors the 128-byte record.
type Account struct {
	ID             Uint128
	DebitsPending  uint64
	DebitsPosted   uint64
	CreditsPending uint64
	CreditsPosted  uint64
	UserData128    Uint128
	UserData64     uint64
	UserData32     uint32
	Reserved       uint32
	Ledger         uint32
	Code           uint16
	Flags          AccountFlags
	Timestamp      uint64
	// Version is the commit version of the last change to the account. It is
	// output only: the engine sets it.
	Version uint64
}

// Transfer moves Amount from DebitAccountID to CreditAccountID.
type Transfer struct {
	ID              Uint128
	DebitAccountID  Uint128
	CreditAccountID Uint128
	Amount          uint64
	PendingID       Uint128
	UserData128     Uint128
	UserData64      uint64
	UserData32      uint32
	Timeout         uint32
	Ledger          uint32
	Code            uint16
	Flags           TransferFlags
	Timestamp       uint64
}

// Balance is an account's balances after one change, kept for accounts with
// the history flag (GET /v1/accounts/{id}/balances).
type Balance struct {
	Timestamp      uint64
	DebitsPending  uint64
	DebitsPosted   uint64
	CreditsPending uint64
	CreditsPosted  uint64
}

// Result is the outcome of one event. Timestamp is the event's timestamp when
// it was created, the existing object's timestamp for exists, else 0.
type Result struct {
	Timestamp uint64
	Status    uint32
}

func (a *Account) balance(ts uint64) Balance {
	return Balance{Timestamp: ts, DebitsPending: a.DebitsPending, DebitsPosted: a.DebitsPosted,
		CreditsPending: a.CreditsPending, CreditsPosted: a.CreditsPosted}
}
