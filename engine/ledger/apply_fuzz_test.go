package ledger

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzApply turns arbitrary bytes into a sequence of small batches over a
// small id space and applies them. Apply must never panic, and after every
// batch the invariants of property_test.go must hold: conservation, balance
// limits, pending accounting, and the consistency of results and effects.
//
// Input format (everything optional; missing bytes end the run):
//
//	byte 0:  flags of the setup accounts (bits pick limits, history, closed)
//	then repeated: header byte h, time byte, then n 128-byte records where
//	  h%8 == 0: accounts batch; h%8 == 1: expiry batch; h%8 == 2: a batch
//	  that must be rejected (stale version); else: transfers batch
//	  n = (h>>3)%8 + 1
//	  time byte: index into propTimeSteps (mod its length)

// propFuzzTransfer maps a decoded transfer into the small id space so that
// events collide, keeping enough raw bits to reach every status.
func propFuzzTransfer(t Transfer) Transfer {
	small := func(u Uint128, n uint64) Uint128 {
		if u.Hi == ^uint64(0) && u.Lo%7 == 0 {
			return MaxUint128
		}
		return U128(u.Lo % n)
	}
	t.ID = small(t.ID, propTransferIDs+1)
	t.DebitAccountID = small(t.DebitAccountID, propAccountIDs+1)
	t.CreditAccountID = small(t.CreditAccountID, propAccountIDs+1)
	t.PendingID = small(t.PendingID, propTransferIDs+1)
	t.UserData128 = U128(t.UserData128.Lo % 2)
	t.UserData64 %= 2
	t.UserData32 %= 2
	if t.Amount>>63 == 0 {
		t.Amount %= 1001
	}
	t.Timeout %= 4
	t.Ledger %= 4
	t.Code %= 3
	if t.Flags&0x8000 == 0 {
		t.Flags &= 0xff
	}
	if t.Timestamp%16 != 15 {
		t.Timestamp = 0
	}
	return t
}

// propFuzzAccount maps a decoded account into the small id space.
func propFuzzAccount(a Account) Account {
	if a.ID.Hi == ^uint64(0) && a.ID.Lo%7 == 0 {
		a.ID = MaxUint128
	} else {
		a.ID = U128(a.ID.Lo % (propAccountIDs + 1))
	}
	a.UserData128 = U128(a.UserData128.Lo % 2)
	a.UserData64 %= 2
	a.UserData32 %= 2
	a.Ledger %= 4
	a.Code %= 3
	if a.Flags&0x8000 == 0 {
		a.Flags &= 0x3f
	}
	// Balances, reserved, timestamp and version are zero unless a marker
	// byte asks for them, so most accounts are creatable.
	if a.Reserved%16 != 15 {
		a.Reserved = 0
	}
	if a.Timestamp%16 != 15 {
		a.Timestamp = 0
	}
	if a.Version%16 != 15 {
		a.Version = 0
	}
	if a.DebitsPosted%16 != 15 {
		a.DebitsPending, a.DebitsPosted, a.CreditsPending, a.CreditsPosted = 0, 0, 0, 0
	}
	return a
}

func FuzzApply(f *testing.F) {
	rec := func(tr Transfer) []byte {
		b := make([]byte, RecordSize)
		EncodeTransfer(b, &tr)
		return b
	}
	hdr := func(kind, n int) byte { return byte(kind + (n-1)<<3) }
	join := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	// Accounts 1..8: odd in ledger 1, even in ledger 2 (see propFuzzSetup).
	plain := Transfer{ID: U128(1), DebitAccountID: U128(1), CreditAccountID: U128(3), Amount: 100, Ledger: 1, Code: 1}
	pending := Transfer{ID: U128(2), DebitAccountID: U128(3), CreditAccountID: U128(5), Amount: 50, Ledger: 1,
		Code: 1, Flags: TransferPending, Timeout: 1}
	post := Transfer{ID: U128(3), PendingID: U128(2), Amount: AmountMax, Flags: TransferPostPendingTransfer}
	void := Transfer{ID: U128(4), PendingID: U128(2), Flags: TransferVoidPendingTransfer}
	linked := plain
	linked.ID, linked.Flags = U128(5), TransferLinked
	balancing := Transfer{ID: U128(6), DebitAccountID: U128(2), CreditAccountID: U128(4), Amount: 1 << 62,
		Ledger: 2, Code: 1, Flags: TransferBalancingDebit}
	closing := Transfer{ID: U128(7), DebitAccountID: U128(5), CreditAccountID: U128(7), Amount: 1, Ledger: 1,
		Code: 1, Flags: TransferPending | TransferClosingDebit}
	huge := Transfer{ID: U128(8), DebitAccountID: U128(7), CreditAccountID: U128(1), Amount: AmountMax, Ledger: 1, Code: 1}

	f.Add([]byte{})
	f.Add([]byte{0x00})
	f.Add(join([]byte{0x00, hdr(3, 1), 0}, rec(plain)))
	f.Add(join([]byte{0x00, hdr(3, 2), 0}, rec(pending), rec(post)))
	f.Add(join([]byte{0x00, hdr(3, 1), 0}, rec(pending), []byte{hdr(1, 1), 3}, []byte{hdr(3, 1), 0}, rec(void)))
	f.Add(join([]byte{0x06, hdr(3, 3), 1}, rec(linked), rec(plain), rec(balancing)))
	f.Add(join([]byte{0x00, hdr(3, 2), 0}, rec(closing), rec(plain), []byte{hdr(2, 1), 0}, rec(plain),
		[]byte{hdr(3, 1), 9}, rec(huge)))
	f.Add(join([]byte{0xff, hdr(0, 1), 5}, make([]byte, RecordSize), []byte{hdr(3, 2), 4}, rec(huge), rec(huge)))

	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewState(0, 0)
		var setupFlags byte
		if len(data) > 0 {
			setupFlags, data = data[0], data[1:]
		}
		version, now := uint64(1), uint64(propStartTime)
		setup := Batch{Kind: KindAccounts, Version: version, Time: now}
		for id := uint64(1); id <= 8; id++ {
			a := Account{ID: U128(id), Ledger: propLedgerOf(id), Code: 1}
			bit := setupFlags >> (id - 1) & 1
			switch {
			case bit == 1 && id%3 == 0:
				a.Flags |= AccountDebitsMustNotExceedCredits
			case bit == 1 && id%3 == 1:
				a.Flags |= AccountCreditsMustNotExceedDebits
			case bit == 1:
				a.Flags |= AccountHistory
			}
			if setupFlags == 0xff && id == 8 {
				a.Flags |= AccountClosed
			}
			setup.Accounts = append(setup.Accounts, a)
		}
		pendingIDs := map[Uint128]bool{}
		apply := func(b *Batch) {
			engineNow := propEngineNow(b, s.LastTimestamp())
			rs, eff := propApply(t, s, b)
			propCheckBatch(t, s, b, rs, eff)
			propCheckConservation(t, s)
			propCheckLimits(t, s)
			propPendingIDs(pendingIDs, &eff)
			propCheckPending(t, s, pendingIDs, engineNow)
		}
		apply(&setup)

		for batches := 0; len(data) >= 2 && batches < 64; batches++ {
			h, step := data[0], propTimeSteps[int(data[1])%len(propTimeSteps)]
			data = data[2:]
			n := int(h>>3)%8 + 1
			version += uint64(h>>6) + 1
			if step < 0 && uint64(-step) > now {
				now = 0
			} else {
				now = uint64(int64(now) + step)
			}
			b := Batch{Version: version, Time: now}
			take := func() []byte {
				if len(data) == 0 {
					return nil
				}
				rec := make([]byte, RecordSize)
				m := copy(rec, data)
				data = data[m:]
				return rec
			}
			switch h % 8 {
			case 0:
				b.Kind = KindAccounts
				for i := 0; i < n; i++ {
					r := take()
					if r == nil {
						break
					}
					a, err := DecodeAccount(r)
					if err != nil {
						clear(r[104:])
						a, _ = DecodeAccount(r)
					}
					b.Accounts = append(b.Accounts, propFuzzAccount(a))
				}
				if len(b.Accounts) == 0 {
					return
				}
			case 1:
				b.Kind = KindExpire
			default:
				b.Kind = KindTransfers
				for i := 0; i < n; i++ {
					r := take()
					if r == nil {
						break
					}
					tr, err := DecodeTransfer(r)
					if err != nil {
						clear(r[120:])
						tr, _ = DecodeTransfer(r)
					}
					b.Transfers = append(b.Transfers, propFuzzTransfer(tr))
				}
				if len(b.Transfers) == 0 {
					return
				}
			}
			if h%8 == 2 {
				// A rejected batch changes nothing: stale version, then a
				// kind that does not match its events.
				before := propSnap(s, propSmallIDs())
				stale := b
				stale.Version = s.Version()
				res := make([]Result, len(b.Transfers))
				if _, err := s.Apply(&stale, res); !errors.Is(err, ErrVersionNotIncreasing) {
					t.Fatalf("stale version: err = %v", err)
				}
				wrong := b
				wrong.Kind = KindAccounts
				if _, err := s.Apply(&wrong, res); !errors.Is(err, ErrBatchKind) {
					t.Fatalf("mismatched kind: err = %v", err)
				}
				if _, err := s.Apply(&b, res[:len(res)-1]); err == nil {
					t.Fatalf("Apply accepted a results slice that is too short")
				}
				if after := propSnap(s, propSmallIDs()); !reflect.DeepEqual(before, after) {
					t.Fatalf("rejected batch changed the state:\n%+v\n%+v", before, after)
				}
			}
			apply(&b)
		}
	})
}
