// Package wire holds the JSON shapes of conto's HTTP API (SPEC §1, §3):
// accounts, transfers, results and balances, with u128 and u64 values as
// decimal strings and flags as names. The gateway and its Go client share
// it, and it depends on nothing but engine/ledger.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/conto-ledger/conto/engine/ledger"
)

// JSON shapes of SPEC §1. u128 and u64 values are written as decimal
// strings and read from a decimal string or an exact JSON integer; flags
// are written as arrays of names and read from names or the bit set.

// U128 is a u128 in JSON.
type U128 ledger.Uint128

func (u U128) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, ledger.Uint128(u).String()), nil
}

func (u *U128) UnmarshalJSON(b []byte) error {
	s, err := numberText(b)
	if err != nil {
		return err
	}
	v, err := ledger.ParseUint128(s)
	if err != nil {
		return fmt.Errorf("%s is not an unsigned 128-bit integer", b)
	}
	*u = U128(v)
	return nil
}

// U64 is a u64 in JSON.
type U64 uint64

func (u U64) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, strconv.FormatUint(uint64(u), 10)), nil
}

func (u *U64) UnmarshalJSON(b []byte) error {
	s, err := numberText(b)
	if err != nil {
		return err
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%s is not an unsigned 64-bit integer", b)
	}
	*u = U64(v)
	return nil
}

// numberText accepts "123" or 123 (digits only: no sign, fraction or
// exponent) and returns the digits.
func numberText(b []byte) (string, error) {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	if s == "" {
		return "", errors.New("empty number")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", fmt.Errorf("%s is not a decimal integer", b)
		}
	}
	return s, nil
}

var accountFlagNames = []flagName{
	{"linked", 1}, {"debits_must_not_exceed_credits", 2}, {"credits_must_not_exceed_debits", 4},
	{"history", 8}, {"closed", 32},
}

var transferFlagNames = []flagName{
	{"linked", 1}, {"pending", 2}, {"post_pending_transfer", 4}, {"void_pending_transfer", 8},
	{"balancing_debit", 16}, {"balancing_credit", 32}, {"closing_debit", 64}, {"closing_credit", 128},
}

type flagName struct {
	name string
	bit  uint16
}

func marshalFlags(v uint16, names []flagName) []byte {
	out := []string{}
	for _, n := range names {
		if v&n.bit != 0 {
			out = append(out, n.name)
			v &^= n.bit
		}
	}
	b, _ := json.Marshal(out)
	return b
}

// unmarshalFlags reads an array of names or an integer bit set. Unknown
// bits in an integer pass through, and the ledger answers reserved_flag.
func unmarshalFlags(b []byte, names []flagName) (uint16, error) {
	if len(b) > 0 && b[0] == '[' {
		var list []string
		if err := json.Unmarshal(b, &list); err != nil {
			return 0, errors.New("flags must be an array of flag names or an integer")
		}
		var v uint16
	next:
		for _, s := range list {
			for _, n := range names {
				if n.name == s {
					v |= n.bit
					continue next
				}
			}
			return 0, fmt.Errorf("unknown flag %q", s)
		}
		return v, nil
	}
	var v uint16
	if err := json.Unmarshal(b, &v); err != nil {
		return 0, errors.New("flags must be an array of flag names or an integer 0..65535")
	}
	return v, nil
}

// AccountFlags and TransferFlags are flag sets in JSON.
type (
	AccountFlags  uint16
	TransferFlags uint16
)

func (f AccountFlags) MarshalJSON() ([]byte, error) {
	return marshalFlags(uint16(f), accountFlagNames), nil
}

func (f *AccountFlags) UnmarshalJSON(b []byte) error {
	v, err := unmarshalFlags(b, accountFlagNames)
	*f = AccountFlags(v)
	return err
}

func (f TransferFlags) MarshalJSON() ([]byte, error) {
	return marshalFlags(uint16(f), transferFlagNames), nil
}

func (f *TransferFlags) UnmarshalJSON(b []byte) error {
	v, err := unmarshalFlags(b, transferFlagNames)
	*f = TransferFlags(v)
	return err
}

// Account is the JSON form of an account.
type Account struct {
	ID             U128         `json:"id"`
	DebitsPending  U64          `json:"debits_pending"`
	DebitsPosted   U64          `json:"debits_posted"`
	CreditsPending U64          `json:"credits_pending"`
	CreditsPosted  U64          `json:"credits_posted"`
	UserData128    U128         `json:"user_data_128"`
	UserData64     U64          `json:"user_data_64"`
	UserData32     uint32       `json:"user_data_32"`
	Ledger         uint32       `json:"ledger"`
	Code           uint16       `json:"code"`
	Flags          AccountFlags `json:"flags"`
	Timestamp      U64          `json:"timestamp"`
	Version        U64          `json:"version"`
}

// Transfer is the JSON form of a transfer.
type Transfer struct {
	ID              U128          `json:"id"`
	DebitAccountID  U128          `json:"debit_account_id"`
	CreditAccountID U128          `json:"credit_account_id"`
	Amount          U64           `json:"amount"`
	PendingID       U128          `json:"pending_id"`
	UserData128     U128          `json:"user_data_128"`
	UserData64      U64           `json:"user_data_64"`
	UserData32      uint32        `json:"user_data_32"`
	Timeout         uint32        `json:"timeout"`
	Ledger          uint32        `json:"ledger"`
	Code            uint16        `json:"code"`
	Flags           TransferFlags `json:"flags"`
	Timestamp       U64           `json:"timestamp"`
}

// Result is one event's outcome.
type Result struct {
	Status    string `json:"status"`
	Timestamp U64    `json:"timestamp"`
}

// Balance is a history account's balances after one change.
type Balance struct {
	Timestamp      U64 `json:"timestamp"`
	DebitsPending  U64 `json:"debits_pending"`
	DebitsPosted   U64 `json:"debits_posted"`
	CreditsPending U64 `json:"credits_pending"`
	CreditsPosted  U64 `json:"credits_posted"`
}

// Ledger converts to the ledger type.
func (a *Account) ToLedger() ledger.Account {
	return ledger.Account{ID: ledger.Uint128(a.ID), DebitsPending: uint64(a.DebitsPending), DebitsPosted: uint64(a.DebitsPosted),
		CreditsPending: uint64(a.CreditsPending), CreditsPosted: uint64(a.CreditsPosted), UserData128: ledger.Uint128(a.UserData128),
		UserData64: uint64(a.UserData64), UserData32: a.UserData32, Ledger: a.Ledger, Code: a.Code,
		Flags: ledger.AccountFlags(a.Flags), Timestamp: uint64(a.Timestamp), Version: uint64(a.Version)}
}

// FromAccount converts from the ledger type.
func FromAccount(a *ledger.Account) Account {
	return Account{ID: U128(a.ID), DebitsPending: U64(a.DebitsPending), DebitsPosted: U64(a.DebitsPosted),
		CreditsPending: U64(a.CreditsPending), CreditsPosted: U64(a.CreditsPosted), UserData128: U128(a.UserData128),
		UserData64: U64(a.UserData64), UserData32: a.UserData32, Ledger: a.Ledger, Code: a.Code,
		Flags: AccountFlags(a.Flags), Timestamp: U64(a.Timestamp), Version: U64(a.Version)}
}

// Ledger converts to the ledger type.
func (t *Transfer) ToLedger() ledger.Transfer {
	return ledger.Transfer{ID: ledger.Uint128(t.ID), DebitAccountID: ledger.Uint128(t.DebitAccountID),
		CreditAccountID: ledger.Uint128(t.CreditAccountID), Amount: uint64(t.Amount), PendingID: ledger.Uint128(t.PendingID),
		UserData128: ledger.Uint128(t.UserData128), UserData64: uint64(t.UserData64), UserData32: t.UserData32,
		Timeout: t.Timeout, Ledger: t.Ledger, Code: t.Code, Flags: ledger.TransferFlags(t.Flags), Timestamp: uint64(t.Timestamp)}
}

// FromTransfer converts from the ledger type.
func FromTransfer(t *ledger.Transfer) Transfer {
	return Transfer{ID: U128(t.ID), DebitAccountID: U128(t.DebitAccountID), CreditAccountID: U128(t.CreditAccountID),
		Amount: U64(t.Amount), PendingID: U128(t.PendingID), UserData128: U128(t.UserData128), UserData64: U64(t.UserData64),
		UserData32: t.UserData32, Timeout: t.Timeout, Ledger: t.Ledger, Code: t.Code, Flags: TransferFlags(t.Flags),
		Timestamp: U64(t.Timestamp)}
}

// DecodeStrict decodes exactly one JSON value into v, rejecting unknown
// fields and trailing data.
func DecodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
