package ledger

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// Tests of SPEC §2's semantics as Apply implements them: every status code,
// linked chains, idempotency, two-phase transfers, expiry, balancing,
// closing, history touches, timestamps, versions, batch errors, effects and
// conservation.

const (
	dmnec  = AccountDebitsMustNotExceedCredits
	cmned  = AccountCreditsMustNotExceedDebits
	maxU64 = ^uint64(0)
	second = uint64(1e9)
)

// acct is a valid new account on ledger 1 with code 10.
func acct(id uint64, flags AccountFlags) Account {
	return Account{ID: U128(id), Ledger: 1, Code: 10, Flags: flags}
}

// xfer is a valid plain transfer on ledger 1 with code 1.
func xfer(id, dr, cr, amount uint64) Transfer {
	return Transfer{ID: U128(id), DebitAccountID: U128(dr), CreditAccountID: U128(cr),
		Amount: amount, Ledger: 1, Code: 1}
}

// pend is a pending transfer on ledger 1 with code 1.
func pend(id, dr, cr, amount uint64, timeout uint32) Transfer {
	t := xfer(id, dr, cr, amount)
	t.Flags, t.Timeout = TransferPending, timeout
	return t
}

// postOf and voidOf name only the pending transfer: accounts, ledger and code
// are left zero, to be taken from it.
func postOf(id, pendingID, amount uint64) Transfer {
	return Transfer{ID: U128(id), PendingID: U128(pendingID), Amount: amount, Flags: TransferPostPendingTransfer}
}

func voidOf(id, pendingID, amount uint64) Transfer {
	return Transfer{ID: U128(id), PendingID: U128(pendingID), Amount: amount, Flags: TransferVoidPendingTransfer}
}

func withA(a Account, f func(*Account)) Account    { f(&a); return a }
func withT(t Transfer, f func(*Transfer)) Transfer { f(&t); return t }
func linkA(a Account) Account                      { a.Flags |= AccountLinked; return a }
func linkT(t Transfer) Transfer                    { t.Flags |= TransferLinked; return t }

// env drives a State with strictly increasing versions (skipping numbers, as
// Raft indexes may) and an advancing clock.
type env struct {
	t       *testing.T
	s       *State
	version uint64
	time    uint64
}

func newEnv(t *testing.T) *env {
	return &env{t: t, s: NewState(16, 16), time: 1000 * second}
}

// apply applies b with the next version; a zero b.Time means the env clock,
// which then advances by 1µs.
func (e *env) apply(b Batch) ([]Result, *Effects) {
	e.t.Helper()
	e.version += 2
	b.Version = e.version
	if b.Time == 0 {
		b.Time = e.time
		e.time += 1000
	}
	res := make([]Result, len(b.Accounts)+len(b.Transfers))
	eff, err := e.s.Apply(&b, res)
	if err != nil {
		e.t.Fatalf("Apply(version %d): %v", b.Version, err)
	}
	return res, eff
}

func (e *env) accounts(as ...Account) []Result {
	e.t.Helper()
	res, _ := e.apply(Batch{Kind: KindAccounts, Accounts: as})
	return res
}

func (e *env) transfers(ts ...Transfer) []Result {
	e.t.Helper()
	res, _ := e.apply(Batch{Kind: KindTransfers, Transfers: ts})
	return res
}

func (e *env) mustAccounts(as ...Account) []Result {
	e.t.Helper()
	res := e.accounts(as...)
	for i, r := range res {
		if AccountStatus(r.Status) != AccountCreated {
			e.t.Fatalf("setup: account %v: %v", as[i].ID, AccountStatus(r.Status))
		}
	}
	return res
}

func (e *env) mustTransfers(ts ...Transfer) []Result {
	e.t.Helper()
	res := e.transfers(ts...)
	for i, r := range res {
		if TransferStatus(r.Status) != TransferCreated {
			e.t.Fatalf("setup: transfer %v: %v", ts[i].ID, TransferStatus(r.Status))
		}
	}
	return res
}

// expireAt applies an expiry batch at time at.
func (e *env) expireAt(at uint64) *Effects {
	e.t.Helper()
	_, eff := e.apply(Batch{Kind: KindExpire, Time: at})
	return eff
}

func (e *env) account(id uint64) Account {
	e.t.Helper()
	a, ok := e.s.Account(U128(id))
	if !ok {
		e.t.Fatalf("account %d not found", id)
	}
	return a
}

func (e *env) transfer(id uint64) Transfer {
	e.t.Helper()
	tr, ok := e.s.Transfer(U128(id))
	if !ok {
		e.t.Fatalf("transfer %d not found", id)
	}
	return tr
}

func (e *env) index(id uint64) int32 {
	e.t.Helper()
	i, n := int32(-1), int32(0)
	e.s.Accounts(func(a *Account) bool {
		if a.ID == U128(id) {
			i = n
			return false
		}
		n++
		return true
	})
	if i < 0 {
		e.t.Fatalf("account %d not found", id)
	}
	return i
}

// balances asserts an account's four balances.
func (e *env) balances(id, debitsPending, debitsPosted, creditsPending, creditsPosted uint64) {
	e.t.Helper()
	a := e.account(id)
	got := [4]uint64{a.DebitsPending, a.DebitsPosted, a.CreditsPending, a.CreditsPosted}
	want := [4]uint64{debitsPending, debitsPosted, creditsPending, creditsPosted}
	if got != want {
		e.t.Errorf("account %d balances (dp, dP, cp, cP) = %v, want %v", id, got, want)
	}
}

type snapshot struct {
	accounts               []Account
	transfers              int
	version, lastTimestamp uint64
}

func (e *env) snap() snapshot {
	sn := snapshot{transfers: e.s.TransferCount(), version: e.s.Version(), lastTimestamp: e.s.LastTimestamp()}
	e.s.Accounts(func(a *Account) bool { sn.accounts = append(sn.accounts, *a); return true })
	return sn
}

// sameAccounts asserts that accounts and the transfer count are as in sn.
func (e *env) sameAccounts(sn snapshot) {
	e.t.Helper()
	now := e.snap()
	if len(now.accounts) != len(sn.accounts) {
		e.t.Fatalf("account count %d, want %d", len(now.accounts), len(sn.accounts))
	}
	for i := range now.accounts {
		if now.accounts[i] != sn.accounts[i] {
			e.t.Errorf("account %v changed:\n got %+v\nwant %+v", now.accounts[i].ID, now.accounts[i], sn.accounts[i])
		}
	}
	if now.transfers != sn.transfers {
		e.t.Errorf("transfer count %d, want %d", now.transfers, sn.transfers)
	}
}

// sameState also asserts that the clock and version did not move.
func (e *env) sameState(sn snapshot) {
	e.t.Helper()
	e.sameAccounts(sn)
	now := e.snap()
	if now.version != sn.version || now.lastTimestamp != sn.lastTimestamp {
		e.t.Errorf("version, last timestamp = %d, %d; want %d, %d", now.version, now.lastTimestamp, sn.version, sn.lastTimestamp)
	}
}

func tStatuses(res []Result) []TransferStatus {
	out := make([]TransferStatus, len(res))
	for i, r := range res {
		out[i] = TransferStatus(r.Status)
	}
	return out
}

func aStatuses(res []Result) []AccountStatus {
	out := make([]AccountStatus, len(res))
	for i, r := range res {
		out[i] = AccountStatus(r.Status)
	}
	return out
}

func wantTStatuses(t *testing.T, res []Result, want ...TransferStatus) {
	t.Helper()
	if got := tStatuses(res); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
}

func wantAStatuses(t *testing.T, res []Result, want ...AccountStatus) {
	t.Helper()
	if got := aStatuses(res); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
}

func TestEveryAccountStatus(t *testing.T) {
	// Account 1 exists with user data and flags, and has balances.
	existing := withA(acct(1, dmnec|AccountHistory), func(a *Account) {
		a.UserData128, a.UserData64, a.UserData32 = Uint128{Lo: 7, Hi: 1}, 8, 9
	})
	base := func(e *env) {
		e.mustAccounts(existing, acct(2, 0))
		e.mustTransfers(xfer(1, 2, 1, 50))
	}
	rows := []struct {
		name   string
		events []Account
		want   []AccountStatus
	}{
		{"created", []Account{acct(20, 0)}, []AccountStatus{AccountCreated}},
		{"created with every compatible flag", []Account{acct(20, cmned|AccountHistory|AccountClosed)},
			[]AccountStatus{AccountCreated}},
		{"linked_event_failed", []Account{linkA(acct(20, 0)), acct(0, 0)},
			[]AccountStatus{AccountLinkedEventFailed, AccountIDMustNotBeZero}},
		{"linked_event_chain_open alone", []Account{linkA(acct(20, 0))},
			[]AccountStatus{AccountLinkedEventChainOpen}},
		{"linked_event_chain_open after a linked event", []Account{acct(19, 0), linkA(acct(20, 0)), linkA(acct(21, 0))},
			[]AccountStatus{AccountCreated, AccountLinkedEventFailed, AccountLinkedEventChainOpen}},
		{"timestamp_must_be_zero", []Account{withA(acct(20, 0), func(a *Account) { a.Timestamp = 1 })},
			[]AccountStatus{AccountTimestampMustBeZero}},
		{"precedence: timestamp over reserved flag", []Account{withA(acct(20, 16), func(a *Account) { a.Timestamp = 1 })},
			[]AccountStatus{AccountTimestampMustBeZero}},
		{"reserved_field", []Account{withA(acct(20, 0), func(a *Account) { a.Reserved = 1 })},
			[]AccountStatus{AccountReservedField}},
		{"precedence: reserved field over reserved flag", []Account{withA(acct(20, 16), func(a *Account) { a.Reserved = 1 })},
			[]AccountStatus{AccountReservedField}},
		{"reserved_flag 16", []Account{acct(20, 16)}, []AccountStatus{AccountReservedFlag}},
		{"reserved_flag high bit", []Account{acct(20, 1<<15)}, []AccountStatus{AccountReservedFlag}},
		{"precedence: reserved flag over zero id", []Account{acct(0, 16)}, []AccountStatus{AccountReservedFlag}},
		{"id_must_not_be_zero", []Account{acct(0, 0)}, []AccountStatus{AccountIDMustNotBeZero}},
		{"precedence: zero id over zero ledger", []Account{withA(acct(0, 0), func(a *Account) { a.Ledger = 0 })},
			[]AccountStatus{AccountIDMustNotBeZero}},
		{"id_must_not_be_int_max", []Account{withA(acct(0, 0), func(a *Account) { a.ID = MaxUint128 })},
			[]AccountStatus{AccountIDMustNotBeIntMax}},
		{"exists_with_different_flags", []Account{withA(existing, func(a *Account) { a.Flags = dmnec })},
			[]AccountStatus{AccountExistsWithDifferentFlags}},
		{"exists_with_different_user_data_128", []Account{withA(existing, func(a *Account) { a.UserData128 = U128(7) })},
			[]AccountStatus{AccountExistsWithDifferentUserData128}},
		{"exists_with_different_user_data_64", []Account{withA(existing, func(a *Account) { a.UserData64 = 0 })},
			[]AccountStatus{AccountExistsWithDifferentUserData64}},
		{"exists_with_different_user_data_32", []Account{withA(existing, func(a *Account) { a.UserData32 = 10 })},
			[]AccountStatus{AccountExistsWithDifferentUserData32}},
		{"exists_with_different_ledger", []Account{withA(existing, func(a *Account) { a.Ledger = 2 })},
			[]AccountStatus{AccountExistsWithDifferentLedger}},
		{"exists_with_different_code", []Account{withA(existing, func(a *Account) { a.Code = 11 })},
			[]AccountStatus{AccountExistsWithDifferentCode}},
		{"exists (engine-set balances are not compared)", []Account{existing}, []AccountStatus{AccountExists}},
		{"exists twice in one batch", []Account{acct(20, 0), acct(20, 0)}, []AccountStatus{AccountCreated, AccountExists}},
		{"precedence: first differing field", []Account{withA(existing, func(a *Account) { a.UserData128, a.Code = U128(1), 99 })},
			[]AccountStatus{AccountExistsWithDifferentUserData128}},
		{"precedence: exists over flags_are_mutually_exclusive", []Account{withA(existing, func(a *Account) { a.Flags = dmnec | cmned })},
			[]AccountStatus{AccountExistsWithDifferentFlags}},
		{"flags_are_mutually_exclusive", []Account{acct(20, dmnec|cmned)}, []AccountStatus{AccountFlagsAreMutuallyExclusive}},
		{"precedence: flags over debits_pending", []Account{withA(acct(20, dmnec|cmned), func(a *Account) { a.DebitsPending = 1 })},
			[]AccountStatus{AccountFlagsAreMutuallyExclusive}},
		{"debits_pending_must_be_zero", []Account{withA(acct(20, 0), func(a *Account) { a.DebitsPending = 1 })},
			[]AccountStatus{AccountDebitsPendingMustBeZero}},
		{"debits_posted_must_be_zero", []Account{withA(acct(20, 0), func(a *Account) { a.DebitsPosted = 1 })},
			[]AccountStatus{AccountDebitsPostedMustBeZero}},
		{"precedence: debits_posted over credits_pending", []Account{withA(acct(20, 0), func(a *Account) { a.DebitsPosted, a.CreditsPending = 1, 1 })},
			[]AccountStatus{AccountDebitsPostedMustBeZero}},
		{"credits_pending_must_be_zero", []Account{withA(acct(20, 0), func(a *Account) { a.CreditsPending = 1 })},
			[]AccountStatus{AccountCreditsPendingMustBeZero}},
		{"credits_posted_must_be_zero", []Account{withA(acct(20, 0), func(a *Account) { a.CreditsPosted = 1 })},
			[]AccountStatus{AccountCreditsPostedMustBeZero}},
		{"precedence: credits_posted over ledger", []Account{withA(acct(20, 0), func(a *Account) { a.CreditsPosted, a.Ledger = 1, 0 })},
			[]AccountStatus{AccountCreditsPostedMustBeZero}},
		{"ledger_must_not_be_zero", []Account{withA(acct(20, 0), func(a *Account) { a.Ledger = 0 })},
			[]AccountStatus{AccountLedgerMustNotBeZero}},
		{"precedence: ledger over code", []Account{withA(acct(20, 0), func(a *Account) { a.Ledger, a.Code = 0, 0 })},
			[]AccountStatus{AccountLedgerMustNotBeZero}},
		{"code_must_not_be_zero", []Account{withA(acct(20, 0), func(a *Account) { a.Code = 0 })},
			[]AccountStatus{AccountCodeMustNotBeZero}},
	}
	seen := map[AccountStatus]bool{}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			if len(row.want) != len(row.events) {
				t.Fatalf("bad row: %d events, %d statuses", len(row.events), len(row.want))
			}
			e := newEnv(t)
			base(e)
			before := e.snap()
			res := e.accounts(row.events...)
			wantAStatuses(t, res, row.want...)
			anyCreated := false
			for i, r := range res {
				st := AccountStatus(r.Status)
				seen[st] = true
				switch {
				case st == AccountCreated:
					anyCreated = true
					a, ok := e.s.Account(row.events[i].ID)
					if !ok || r.Timestamp == 0 || a.Timestamp != r.Timestamp {
						t.Errorf("event %d created: result timestamp %d, stored %+v (found %v)", i, r.Timestamp, a, ok)
					}
				case st == AccountExists:
					a, _ := e.s.Account(row.events[i].ID)
					if r.Timestamp != a.Timestamp {
						t.Errorf("event %d exists: result timestamp %d, want the stored %d", i, r.Timestamp, a.Timestamp)
					}
				case st < AccountExistsWithDifferentFlags || st > AccountExists:
					if r.Timestamp != 0 {
						t.Errorf("event %d failed %v with timestamp %d, want 0", i, st, r.Timestamp)
					}
				}
			}
			if !anyCreated {
				e.sameAccounts(before)
			}
		})
	}
	for st := AccountStatus(0); int(st) < AccountStatusCount; st++ {
		if !seen[st] {
			t.Errorf("no row provokes account status %d %v", st, st)
		}
	}
}

func TestEveryTransferStatus(t *testing.T) {
	// Accounts: 1, 2, 6 plain; 3 debits_must_not_exceed_credits;
	// 4 credits_must_not_exceed_debits; 5 on ledger 2.
	base := func(e *env) {
		e.mustAccounts(acct(1, 0), acct(2, 0), acct(3, dmnec), acct(4, cmned),
			withA(acct(5, 0), func(a *Account) { a.Ledger = 2 }), acct(6, 0))
	}
	// T100 plain with user data; T50 and T51 pending; T52 posts T50.
	t100 := withT(xfer(100, 1, 2, 10), func(t *Transfer) {
		t.UserData128, t.UserData64, t.UserData32 = Uint128{Lo: 1, Hi: 2}, 3, 4
	})
	existing := func(e *env) {
		e.mustTransfers(t100, pend(50, 1, 2, 30, 3600), pend(51, 1, 2, 30, 0), postOf(52, 50, AmountMax))
	}
	pendings := func(e *env) {
		e.mustTransfers(withT(pend(50, 1, 2, 30, 0), func(t *Transfer) { t.Code = 7 }), xfer(60, 1, 2, 1))
	}
	// Accounts 11..16; 11 has debits_posted and 12 credits_posted near 2^64;
	// 13 has debits_pending and 14 credits_pending near 2^64.
	big := func(e *env) {
		e.mustAccounts(acct(11, 0), acct(12, 0), acct(13, 0), acct(14, 0), acct(15, 0), acct(16, 0))
		e.mustTransfers(xfer(90, 11, 12, maxU64-10), pend(91, 13, 14, maxU64-10, 0))
	}
	closeDebit := func(id, dr, cr uint64, timeout uint32) Transfer {
		return withT(pend(id, dr, cr, 0, timeout), func(t *Transfer) { t.Flags |= TransferClosingDebit })
	}
	closeCredit := func(id, dr, cr uint64) Transfer {
		return withT(pend(id, dr, cr, 0, 0), func(t *Transfer) { t.Flags |= TransferClosingCredit })
	}
	ts := func(id uint64, f func(*Transfer)) Transfer { return withT(xfer(id, 1, 2, 10), f) }
	re := func(f func(*Transfer)) Transfer { return withT(t100, f) }
	one := func(st TransferStatus) []TransferStatus { return []TransferStatus{st} }

	rows := []struct {
		name   string
		setup  func(e *env)
		events []Transfer
		want   []TransferStatus
	}{
		{"created", nil, []Transfer{xfer(100, 1, 2, 10)}, one(TransferCreated)},
		{"created with amount 0", nil, []Transfer{xfer(100, 1, 2, 0)}, one(TransferCreated)},
		{"linked_event_failed", nil, []Transfer{linkT(xfer(100, 1, 2, 10)), xfer(101, 1, 99, 10)},
			[]TransferStatus{TransferLinkedEventFailed, TransferCreditAccountNotFound}},
		{"linked_event_chain_open alone", nil, []Transfer{linkT(xfer(100, 1, 2, 10))}, one(TransferLinkedEventChainOpen)},
		{"linked_event_chain_open after a linked event", nil,
			[]Transfer{xfer(99, 1, 2, 1), linkT(xfer(100, 1, 2, 10)), linkT(xfer(101, 1, 2, 10))},
			[]TransferStatus{TransferCreated, TransferLinkedEventFailed, TransferLinkedEventChainOpen}},
		{"timestamp_must_be_zero", nil, []Transfer{ts(100, func(t *Transfer) { t.Timestamp = 1 })}, one(TransferTimestampMustBeZero)},
		{"precedence: timestamp over reserved flag", nil,
			[]Transfer{ts(100, func(t *Transfer) { t.Timestamp, t.Flags = 1, 1<<8 })}, one(TransferTimestampMustBeZero)},
		{"reserved_flag", nil, []Transfer{ts(100, func(t *Transfer) { t.Flags = 1 << 8 })}, one(TransferReservedFlag)},
		{"reserved_flag high bit", nil, []Transfer{ts(100, func(t *Transfer) { t.Flags = 1 << 15 })}, one(TransferReservedFlag)},
		{"precedence: reserved flag over zero id", nil,
			[]Transfer{ts(0, func(t *Transfer) { t.Flags = 1 << 9 })}, one(TransferReservedFlag)},
		{"id_must_not_be_zero", nil, []Transfer{xfer(0, 1, 2, 10)}, one(TransferIDMustNotBeZero)},
		{"precedence: zero id over zero ledger", nil,
			[]Transfer{ts(0, func(t *Transfer) { t.Ledger = 0 })}, one(TransferIDMustNotBeZero)},
		{"id_must_not_be_int_max", nil, []Transfer{ts(0, func(t *Transfer) { t.ID = MaxUint128 })}, one(TransferIDMustNotBeIntMax)},
		{"exists_with_different_flags", existing,
			[]Transfer{re(func(t *Transfer) { t.Flags = TransferPending })}, one(TransferExistsWithDifferentFlags)},
		{"exists_with_different_flags (linked)", existing,
			[]Transfer{linkT(t100), xfer(101, 1, 2, 1)}, []TransferStatus{TransferExistsWithDifferentFlags, TransferLinkedEventFailed}},
		{"precedence: exists over flags_are_mutually_exclusive", existing,
			[]Transfer{re(func(t *Transfer) { t.Flags = TransferPending | TransferVoidPendingTransfer })},
			one(TransferExistsWithDifferentFlags)},
		{"exists_with_different_pending_id", existing,
			[]Transfer{postOf(52, 51, AmountMax)}, one(TransferExistsWithDifferentPendingID)},
		{"exists_with_different_timeout", existing,
			[]Transfer{pend(50, 1, 2, 30, 7200)}, one(TransferExistsWithDifferentTimeout)},
		{"exists_with_different_debit_account_id", existing,
			[]Transfer{re(func(t *Transfer) { t.DebitAccountID = U128(6) })}, one(TransferExistsWithDifferentDebitAccountID)},
		{"precedence: exists over debit_account_id_must_not_be_zero", existing,
			[]Transfer{re(func(t *Transfer) { t.DebitAccountID, t.Ledger = Uint128{}, 0 })},
			one(TransferExistsWithDifferentDebitAccountID)},
		{"exists_with_different_credit_account_id", existing,
			[]Transfer{re(func(t *Transfer) { t.CreditAccountID = U128(6) })}, one(TransferExistsWithDifferentCreditAccountID)},
		{"exists_with_different_amount", existing,
			[]Transfer{re(func(t *Transfer) { t.Amount = 11 })}, one(TransferExistsWithDifferentAmount)},
		{"precedence: amount over code", existing,
			[]Transfer{re(func(t *Transfer) { t.Amount, t.Code = 9, 2 })}, one(TransferExistsWithDifferentAmount)},
		{"exists_with_different_user_data_128", existing,
			[]Transfer{re(func(t *Transfer) { t.UserData128 = U128(1) })}, one(TransferExistsWithDifferentUserData128)},
		{"exists_with_different_user_data_64", existing,
			[]Transfer{re(func(t *Transfer) { t.UserData64 = 0 })}, one(TransferExistsWithDifferentUserData64)},
		{"exists_with_different_user_data_32", existing,
			[]Transfer{re(func(t *Transfer) { t.UserData32 = 5 })}, one(TransferExistsWithDifferentUserData32)},
		{"exists_with_different_ledger", existing,
			[]Transfer{re(func(t *Transfer) { t.Ledger = 2 })}, one(TransferExistsWithDifferentLedger)},
		{"exists_with_different_code", existing,
			[]Transfer{re(func(t *Transfer) { t.Code = 2 })}, one(TransferExistsWithDifferentCode)},
		{"exists", existing, []Transfer{t100}, one(TransferExists)},
		{"exists: pending", existing, []Transfer{pend(50, 1, 2, 30, 3600)}, one(TransferExists)},
		{"exists: post re-submitted as sent", existing, []Transfer{postOf(52, 50, AmountMax)}, one(TransferExists)},
		{"exists: post re-submitted with the fields it took from the pending", existing,
			[]Transfer{withT(postOf(52, 50, 30), func(t *Transfer) {
				t.DebitAccountID, t.CreditAccountID, t.Ledger, t.Code = U128(1), U128(2), 1, 1
			})}, one(TransferExists)},
		{"exists twice in one batch", nil, []Transfer{xfer(100, 1, 2, 1), xfer(100, 1, 2, 1)},
			[]TransferStatus{TransferCreated, TransferExists}},
		{"id_already_failed", func(e *env) { wantTStatuses(e.t, e.transfers(xfer(100, 99, 2, 10)), TransferDebitAccountNotFound) },
			[]Transfer{xfer(100, 1, 2, 10)}, one(TransferIDAlreadyFailed)},
		{"id_already_failed after exceeds_credits, even once the account has credits", func(e *env) {
			wantTStatuses(e.t, e.transfers(xfer(100, 3, 1, 10)), TransferExceedsCredits)
			e.mustTransfers(xfer(101, 1, 3, 100))
		}, []Transfer{xfer(100, 3, 1, 10)}, one(TransferIDAlreadyFailed)},
		{"precedence: id_already_failed over ledger_must_not_be_zero", func(e *env) {
			wantTStatuses(e.t, e.transfers(xfer(100, 1, 99, 10)), TransferCreditAccountNotFound)
		}, []Transfer{ts(100, func(t *Transfer) { t.Ledger = 0 })}, one(TransferIDAlreadyFailed)},
		{"flags_are_mutually_exclusive: pending and post", nil,
			[]Transfer{ts(100, func(t *Transfer) { t.Flags, t.PendingID = TransferPending|TransferPostPendingTransfer, U128(7) })},
			one(TransferFlagsAreMutuallyExclusive)},
		{"flags_are_mutually_exclusive: post and void", pendings,
			[]Transfer{withT(postOf(100, 50, AmountMax), func(t *Transfer) { t.Flags |= TransferVoidPendingTransfer })},
			one(TransferFlagsAreMutuallyExclusive)},
		{"flags_are_mutually_exclusive: post and balancing", pendings,
			[]Transfer{withT(postOf(100, 50, AmountMax), func(t *Transfer) { t.Flags |= TransferBalancingDebit })},
			one(TransferFlagsAreMutuallyExclusive)},
		{"flags_are_mutually_exclusive: void and closing", pendings,
			[]Transfer{withT(voidOf(100, 50, 0), func(t *Transfer) { t.Flags |= TransferClosingCredit })},
			one(TransferFlagsAreMutuallyExclusive)},
		{"precedence: flags over debit_account_id_must_not_be_zero", nil,
			[]Transfer{ts(100, func(t *Transfer) { t.Flags, t.DebitAccountID = TransferPending|TransferVoidPendingTransfer, Uint128{} })},
			one(TransferFlagsAreMutuallyExclusive)},
		{"debit_account_id_must_not_be_zero", nil, []Transfer{xfer(100, 0, 2, 10)}, one(TransferDebitAccountIDMustNotBeZero)},
		{"precedence: debit zero over credit zero", nil, []Transfer{xfer(100, 0, 0, 10)}, one(TransferDebitAccountIDMustNotBeZero)},
		{"debit_account_id_must_not_be_int_max", nil,
			[]Transfer{ts(100, func(t *Transfer) { t.DebitAccountID = MaxUint128 })}, one(TransferDebitAccountIDMustNotBeIntMax)},
		{"credit_account_id_must_not_be_zero", nil, []Transfer{xfer(100, 1, 0, 10)}, one(TransferCreditAccountIDMustNotBeZero)},
		{"credit_account_id_must_not_be_int_max", nil,
			[]Transfer{ts(100, func(t *Transfer) { t.CreditAccountID = MaxUint128 })}, one(TransferCreditAccountIDMustNotBeIntMax)},
		{"accounts_must_be_different", nil, []Transfer{xfer(100, 1, 1, 10)}, one(TransferAccountsMustBeDifferent)},
		{"precedence: accounts_must_be_different over ledger", nil,
			[]Transfer{ts(100, func(t *Transfer) { t.CreditAccountID, t.Ledger = U128(1), 0 })}, one(TransferAccountsMustBeDifferent)},
		{"pending_id_must_be_zero", pendings,
			[]Transfer{ts(100, func(t *Transfer) { t.PendingID = U128(50) })}, one(TransferPendingIDMustBeZero)},
		{"pending_id_must_not_be_zero", pendings, []Transfer{postOf(100, 0, AmountMax)}, one(TransferPendingIDMustNotBeZero)},
		{"pending_id_must_not_be_int_max", pendings,
			[]Transfer{withT(voidOf(100, 0, 0), func(t *Transfer) { t.PendingID = MaxUint128 })}, one(TransferPendingIDMustNotBeIntMax)},
		{"pending_id_must_be_different", pendings, []Transfer{postOf(100, 100, AmountMax)}, one(TransferPendingIDMustBeDifferent)},
		{"timeout_reserved_for_pending_transfer", nil,
			[]Transfer{ts(100, func(t *Transfer) { t.Timeout = 5 })}, one(TransferTimeoutReservedForPendingTransfer)},
		{"timeout_reserved_for_pending_transfer on a post", pendings,
			[]Transfer{withT(postOf(100, 50, AmountMax), func(t *Transfer) { t.Timeout = 5 })},
			one(TransferTimeoutReservedForPendingTransfer)},
		{"closing_transfer_must_be_pending (debit)", nil,
			[]Transfer{ts(100, func(t *Transfer) { t.Flags = TransferClosingDebit })}, one(TransferClosingTransferMustBePending)},
		{"closing_transfer_must_be_pending (credit)", nil,
			[]Transfer{ts(100, func(t *Transfer) { t.Flags = TransferClosingCredit })}, one(TransferClosingTransferMustBePending)},
		{"ledger_must_not_be_zero", nil, []Transfer{ts(100, func(t *Transfer) { t.Ledger = 0 })}, one(TransferLedgerMustNotBeZero)},
		{"precedence: ledger over code", nil,
			[]Transfer{ts(100, func(t *Transfer) { t.Ledger, t.Code = 0, 0 })}, one(TransferLedgerMustNotBeZero)},
		{"code_must_not_be_zero", nil, []Transfer{ts(100, func(t *Transfer) { t.Code = 0 })}, one(TransferCodeMustNotBeZero)},
		{"debit_account_not_found", nil, []Transfer{xfer(100, 99, 2, 10)}, one(TransferDebitAccountNotFound)},
		{"precedence: debit over credit not found", nil, []Transfer{xfer(100, 99, 98, 10)}, one(TransferDebitAccountNotFound)},
		{"credit_account_not_found", nil, []Transfer{xfer(100, 1, 99, 10)}, one(TransferCreditAccountNotFound)},
		{"accounts_must_have_the_same_ledger", nil, []Transfer{xfer(100, 1, 5, 10)}, one(TransferAccountsMustHaveTheSameLedger)},
		{"precedence: same ledger over transfer ledger", nil,
			[]Transfer{withT(xfer(100, 5, 1, 10), func(t *Transfer) { t.Ledger = 3 })}, one(TransferAccountsMustHaveTheSameLedger)},
		{"transfer_must_have_the_same_ledger_as_accounts", nil,
			[]Transfer{ts(100, func(t *Transfer) { t.Ledger = 2 })}, one(TransferTransferMustHaveTheSameLedgerAsAccounts)},
		{"pending_transfer_not_found", pendings, []Transfer{postOf(100, 777, AmountMax)}, one(TransferPendingTransferNotFound)},
		{"pending_transfer_not_pending", pendings, []Transfer{postOf(100, 60, AmountMax)}, one(TransferPendingTransferNotPending)},
		{"pending_transfer_has_different_debit_account_id", pendings,
			[]Transfer{withT(postOf(100, 50, AmountMax), func(t *Transfer) { t.DebitAccountID = U128(6) })},
			one(TransferPendingTransferHasDifferentDebitAccountID)},
		{"precedence: different debit over exceeds amount", pendings,
			[]Transfer{withT(postOf(100, 50, 31), func(t *Transfer) { t.DebitAccountID = U128(6) })},
			one(TransferPendingTransferHasDifferentDebitAccountID)},
		{"pending_transfer_has_different_credit_account_id", pendings,
			[]Transfer{withT(voidOf(100, 50, 0), func(t *Transfer) { t.CreditAccountID = U128(6) })},
			one(TransferPendingTransferHasDifferentCreditAccountID)},
		{"pending_transfer_has_different_ledger", pendings,
			[]Transfer{withT(postOf(100, 50, AmountMax), func(t *Transfer) { t.Ledger = 2 })},
			one(TransferPendingTransferHasDifferentLedger)},
		{"pending_transfer_has_different_code", pendings,
			[]Transfer{withT(postOf(100, 50, AmountMax), func(t *Transfer) { t.Code = 1 })},
			one(TransferPendingTransferHasDifferentCode)},
		{"exceeds_pending_transfer_amount", pendings, []Transfer{postOf(100, 50, 31)}, one(TransferExceedsPendingTransferAmount)},
		{"exceeds_pending_transfer_amount on a void", pendings, []Transfer{voidOf(100, 50, 31)}, one(TransferExceedsPendingTransferAmount)},
		{"pending_transfer_has_different_amount", pendings, []Transfer{voidOf(100, 50, 29)}, one(TransferPendingTransferHasDifferentAmount)},
		{"pending_transfer_already_posted", func(e *env) { pendings(e); e.mustTransfers(postOf(99, 50, 10)) },
			[]Transfer{postOf(100, 50, AmountMax)}, one(TransferPendingTransferAlreadyPosted)},
		{"pending_transfer_already_posted on a void", func(e *env) { pendings(e); e.mustTransfers(postOf(99, 50, AmountMax)) },
			[]Transfer{voidOf(100, 50, 0)}, one(TransferPendingTransferAlreadyPosted)},
		{"pending_transfer_already_voided", func(e *env) { pendings(e); e.mustTransfers(voidOf(99, 50, 0)) },
			[]Transfer{postOf(100, 50, AmountMax)}, one(TransferPendingTransferAlreadyVoided)},
		{"pending_transfer_expired", func(e *env) {
			r := e.mustTransfers(pend(50, 1, 2, 30, 1))
			e.time = r[0].Timestamp + second
			e.expireAt(e.time)
		}, []Transfer{postOf(100, 50, AmountMax)}, one(TransferPendingTransferExpired)},
		{"debit_account_already_closed", func(e *env) { e.mustTransfers(closeDebit(50, 1, 2, 0)) },
			[]Transfer{xfer(100, 1, 6, 10)}, one(TransferDebitAccountAlreadyClosed)},
		{"debit_account_already_closed on a post", func(e *env) {
			e.mustTransfers(pend(50, 1, 2, 30, 0), closeDebit(51, 1, 6, 0))
		}, []Transfer{postOf(100, 50, AmountMax)}, one(TransferDebitAccountAlreadyClosed)},
		{"credit_account_already_closed", func(e *env) { e.mustTransfers(closeCredit(50, 1, 2)) },
			[]Transfer{xfer(100, 6, 2, 10)}, one(TransferCreditAccountAlreadyClosed)},
		{"overflows_debits_pending", big, []Transfer{pend(100, 13, 15, 20, 0)}, one(TransferOverflowsDebitsPending)},
		{"overflows_credits_pending", big, []Transfer{pend(100, 15, 14, 20, 0)}, one(TransferOverflowsCreditsPending)},
		{"overflows_debits_posted", big, []Transfer{xfer(100, 11, 15, 20)}, one(TransferOverflowsDebitsPosted)},
		{"overflows_credits_posted", big, []Transfer{xfer(100, 15, 12, 20)}, one(TransferOverflowsCreditsPosted)},
		{"overflows_debits (pending over posted)", big, []Transfer{pend(100, 11, 15, 20, 0)}, one(TransferOverflowsDebits)},
		{"overflows_debits (posted over pending)", big, []Transfer{xfer(100, 13, 15, 20)}, one(TransferOverflowsDebits)},
		{"overflows_credits", big, []Transfer{pend(100, 15, 12, 20, 0)}, one(TransferOverflowsCredits)},
		{"overflows_timeout", func(e *env) { e.time = MaxTimestamp - 5e8 - 2*(MaxBatchEvents+MaxExpiriesPerBatch) },
			[]Transfer{pend(100, 1, 2, 10, 1)}, one(TransferOverflowsTimeout)},
		{"exceeds_credits", nil, []Transfer{xfer(100, 3, 1, 1)}, one(TransferExceedsCredits)},
		{"exceeds_credits counts pending debits", func(e *env) { e.mustTransfers(xfer(90, 1, 3, 10), pend(91, 3, 1, 6, 0)) },
			[]Transfer{pend(100, 3, 1, 5, 0)}, one(TransferExceedsCredits)},
		{"exceeds_debits", nil, []Transfer{xfer(100, 1, 4, 1)}, one(TransferExceedsDebits)},
		{"exceeds_debits counts pending credits", func(e *env) { e.mustTransfers(xfer(90, 4, 1, 10), pend(91, 1, 4, 6, 0)) },
			[]Transfer{xfer(100, 1, 4, 5)}, one(TransferExceedsDebits)},
	}
	seen := map[TransferStatus]bool{}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			if len(row.want) != len(row.events) {
				t.Fatalf("bad row: %d events, %d statuses", len(row.events), len(row.want))
			}
			e := newEnv(t)
			base(e)
			if row.setup != nil {
				row.setup(e)
			}
			before := e.snap()
			res := e.transfers(row.events...)
			wantTStatuses(t, res, row.want...)
			anyCreated := false
			for i, r := range res {
				st := TransferStatus(r.Status)
				seen[st] = true
				stored, found := e.s.Transfer(row.events[i].ID)
				switch {
				case st == TransferCreated:
					anyCreated = true
					if !found || r.Timestamp == 0 || stored.Timestamp != r.Timestamp {
						t.Errorf("event %d created: result timestamp %d, stored %+v (found %v)", i, r.Timestamp, stored, found)
					}
				case st == TransferExists:
					if r.Timestamp != stored.Timestamp {
						t.Errorf("event %d exists: result timestamp %d, want the stored %d", i, r.Timestamp, stored.Timestamp)
					}
				case st < TransferExistsWithDifferentFlags || st > TransferExists:
					if r.Timestamp != 0 {
						t.Errorf("event %d failed %v with timestamp %d, want 0", i, st, r.Timestamp)
					}
				}
			}
			if !anyCreated {
				e.sameAccounts(before)
			}
		})
	}
	for st := TransferStatus(0); int(st) < TransferStatusCount; st++ {
		if st == TransferAccountsInDifferentPartitions {
			continue // only a partitioned router returns it
		}
		if !seen[st] {
			t.Errorf("no row provokes transfer status %d %v", st, st)
		}
	}
}

func TestLinkedChainRollbackTransfers(t *testing.T) {
	e := newEnv(t)
	e.mustAccounts(acct(1, 0), acct(2, 0), acct(3, dmnec), acct(6, 0))
	e.mustTransfers(xfer(1, 1, 2, 5))
	before := e.snap()
	res, eff := e.apply(Batch{Kind: KindTransfers, Transfers: []Transfer{
		linkT(pend(10, 1, 2, 50, 1)), // applies, then rolls back
		linkT(xfer(11, 3, 2, 10)),    // exceeds_credits
		xfer(12, 1, 2, 5),            // end of the chain
		xfer(13, 1, 6, 7),            // independent
	}})
	wantTStatuses(t, res, TransferLinkedEventFailed, TransferExceedsCredits, TransferLinkedEventFailed, TransferCreated)
	for i := 0; i < 3; i++ {
		if res[i].Timestamp != 0 {
			t.Errorf("event %d: timestamp %d, want 0", i, res[i].Timestamp)
		}
	}
	for _, id := range []uint64{10, 11, 12} {
		if _, ok := e.s.Transfer(U128(id)); ok {
			t.Errorf("transfer %d exists after its chain failed", id)
		}
	}
	if _, ok := e.s.Pending(U128(10)); ok {
		t.Error("pending 10 has a life cycle after its chain failed")
	}
	if got := e.s.NextExpiry(); got != 0 {
		t.Errorf("NextExpiry = %d after the pending was rolled back, want 0", got)
	}
	e.transfer(13)
	e.balances(1, 0, 12, 0, 0)
	e.balances(2, 0, 0, 0, 5)
	e.balances(3, 0, 0, 0, 0)
	e.balances(6, 0, 0, 0, 7)
	if got := e.account(2).Version; got != before.accounts[1].Version {
		t.Errorf("account 2 version %d, want unchanged %d", got, before.accounts[1].Version)
	}
	if len(eff.Transfers) != 1 || eff.Transfers[0].ID != U128(13) {
		t.Errorf("Effects.Transfers = %+v, want only 13", eff.Transfers)
	}
	if len(eff.Pending) != 0 {
		t.Errorf("Effects.Pending = %+v, want none", eff.Pending)
	}
	if len(eff.Changed) != 2 || eff.Changed[0] != e.index(1) || eff.Changed[1] != e.index(6) {
		t.Errorf("Effects.Changed = %v, want [%d %d]", eff.Changed, e.index(1), e.index(6))
	}
	// The breaking event failed transiently; the others may be retried.
	if st, ok := e.s.Failed(U128(11)); !ok || st != TransferExceedsCredits {
		t.Errorf("Failed(11) = %v, %v; want exceeds_credits", st, ok)
	}
	wantTStatuses(t, e.transfers(pend(10, 1, 2, 50, 0), xfer(11, 3, 2, 10), xfer(12, 1, 2, 5)),
		TransferCreated, TransferIDAlreadyFailed, TransferCreated)
	e.balances(1, 50, 17, 0, 0)
}

// TestLinkedChainRollbackPending rolls back a post and a closing transfer:
// the pending is active again, still expires, and the account is open.
func TestLinkedChainRollbackPending(t *testing.T) {
	e := newEnv(t)
	e.mustAccounts(acct(1, 0), acct(2, 0), acct(6, 0))
	r := e.mustTransfers(pend(10, 1, 2, 40, 1))
	exp := r[0].Timestamp + second
	before := e.snap()
	res := e.transfers(linkT(postOf(11, 10, AmountMax)),
		linkT(withT(pend(12, 6, 2, 0, 0), func(t *Transfer) { t.Flags |= TransferClosingDebit })),
		xfer(13, 6, 6, 1))
	wantTStatuses(t, res, TransferLinkedEventFailed, TransferLinkedEventFailed, TransferAccountsMustBeDifferent)
	e.sameAccounts(before)
	if p, _ := e.s.Pending(U128(10)); p.State != PendingActive || p.ExpiresAt != exp {
		t.Errorf("Pending(10) = %+v, want active expiring at %d", p, exp)
	}
	if e.account(6).Flags&AccountClosed != 0 {
		t.Error("account 6 still closed after the closing transfer rolled back")
	}
	if got := e.s.NextExpiry(); got != exp {
		t.Errorf("NextExpiry = %d, want %d", got, exp)
	}
	e.expireAt(exp)
	e.balances(1, 0, 0, 0, 0)
	if p, _ := e.s.Pending(U128(10)); p.State != PendingExpired {
		t.Errorf("Pending(10) = %+v, want expired", p)
	}
}

// TestLinkedChainRollbackIDOrder rolls back chains whose ids arrive in and
// out of increasing order, and checks lookups afterwards.
func TestLinkedChainRollbackIDOrder(t *testing.T) {
	e := newEnv(t)
	e.mustAccounts(acct(1, 0), acct(2, 0))
	e.mustTransfers(xfer(100, 1, 2, 1), xfer(90, 1, 2, 1))
	hi := Uint128{Lo: 5, Hi: 1}
	res := e.transfers(
		linkT(xfer(50, 1, 2, 1)),  // below the highest id
		linkT(xfer(200, 1, 2, 1)), // above it
		linkT(withT(xfer(0, 1, 2, 1), func(t *Transfer) { t.ID = hi })),
		linkT(xfer(150, 1, 2, 1)), // below the chain's highest
		xfer(60, 1, 1, 1),         // fails: accounts_must_be_different
		xfer(120, 1, 2, 1),        // independent
	)
	wantTStatuses(t, res, TransferLinkedEventFailed, TransferLinkedEventFailed, TransferLinkedEventFailed,
		TransferLinkedEventFailed, TransferAccountsMustBeDifferent, TransferCreated)
	for _, id := range []Uint128{U128(50), U128(200), hi, U128(150), U128(60)} {
		if _, ok := e.s.Transfer(id); ok {
			t.Errorf("transfer %v exists after rollback", id)
		}
	}
	for _, id := range []uint64{90, 100, 120} {
		if tr := e.transfer(id); tr.ID != U128(id) {
			t.Errorf("Transfer(%d) = %+v", id, tr)
		}
	}
	if e.s.TransferCount() != 3 {
		t.Errorf("TransferCount = %d, want 3", e.s.TransferCount())
	}
	e.balances(1, 0, 3, 0, 0)
	// The rolled-back ids are free again, in any order.
	e.mustTransfers(xfer(150, 1, 2, 2), withT(xfer(0, 1, 2, 3), func(t *Transfer) { t.ID = hi }), xfer(50, 1, 2, 4), xfer(200, 1, 2, 5))
	for id, amount := range map[Uint128]uint64{U128(150): 2, hi: 3, U128(50): 4, U128(200): 5, U128(120): 1} {
		if tr, ok := e.s.Transfer(id); !ok || tr.Amount != amount {
			t.Errorf("Transfer(%v) = %+v, %v; want amount %d", id, tr, ok, amount)
		}
	}
	wantTStatuses(t, e.transfers(xfer(150, 1, 2, 2), xfer(50, 1, 2, 4), xfer(60, 1, 2, 1)),
		TransferExists, TransferExists, TransferCreated)
	e.balances(1, 0, 18, 0, 0)
}

func TestLinkedChainRollbackAccounts(t *testing.T) {
	e := newEnv(t)
	e.mustAccounts(acct(1, 0))
	res, eff := e.apply(Batch{Kind: KindAccounts, Accounts: []Account{
		linkA(acct(20, 0)),
		linkA(withA(acct(21, 0), func(a *Account) { a.Ledger = 0 })),
		acct(22, 0),
		acct(23, 0),
	}})
	wantAStatuses(t, res, AccountLinkedEventFailed, AccountLedgerMustNotBeZero, AccountLinkedEventFailed, AccountCreated)
	for _, id := range []uint64{20, 21, 22} {
		if _, ok := e.s.Account(U128(id)); ok {
			t.Errorf("account %d exists after its chain failed", id)
		}
	}
	if e.s.AccountCount() != 2 {
		t.Errorf("AccountCount = %d, want 2", e.s.AccountCount())
	}
	if got := e.index(23); got != 1 {
		t.Errorf("account 23 at index %d, want 1", got)
	}
	if len(eff.Changed) != 1 || eff.Changed[0] != 1 {
		t.Errorf("Effects.Changed = %v, want [1]", eff.Changed)
	}
	// Rolled-back ids are free; the chain can be sent again and applies whole.
	wantAStatuses(t, e.accounts(linkA(acct(20, 0)), linkA(acct(21, 0)), acct(22, 0)),
		AccountCreated, AccountCreated, AccountCreated)
	if e.s.AccountCount() != 5 {
		t.Errorf("AccountCount = %d, want 5", e.s.AccountCount())
	}
}

func TestLinkedChainOpenAtEndOfBatch(t *testing.T) {
	e := newEnv(t)
	e.mustAccounts(acct(1, 0), acct(2, 0))
	before := e.snap()
	res := e.transfers(linkT(xfer(10, 1, 2, 1)), linkT(pend(11, 1, 2, 2, 0)), linkT(xfer(12, 2, 1, 3)))
	wantTStatuses(t, res, TransferLinkedEventFailed, TransferLinkedEventFailed, TransferLinkedEventChainOpen)
	e.sameAccounts(before)
	for _, id := range []uint64{10, 11, 12} {
		if _, ok := e.s.Transfer(U128(id)); ok {
			t.Errorf("transfer %d exists", id)
		}
	}
	// A chain that already failed still ends with chain_open.
	res = e.transfers(xfer(20, 1, 2, 1), linkT(xfer(21, 1, 1, 1)), linkT(xfer(22, 1, 2, 1)))
	wantTStatuses(t, res, TransferCreated, TransferAccountsMustBeDifferent, TransferLinkedEventChainOpen)
	e.balances(1, 0, 1, 0, 0)

	n := e.s.AccountCount()
	wantAStatuses(t, e.accounts(linkA(acct(20, 0)), linkA(acct(21, 0))), AccountLinkedEventFailed, AccountLinkedEventChainOpen)
	if e.s.AccountCount() != n {
		t.Errorf("AccountCount = %d, want %d", e.s.AccountCount(), n)
	}
}

func TestResubmittedLinkedChain(t *testing.T) {
	e := newEnv(t)
	e.mustAccounts(acct(1, 0), acct(2, 0), acct(6, 0))
	chain := []Transfer{linkT(xfer(10, 1, 2, 10)), linkT(pend(11, 2, 6, 3, 0)), xfer(12, 1, 6, 4)}
	first := e.mustTransfers(chain...)
	before := e.snap()
	res := e.transfers(chain...)
	wantTStatuses(t, res, TransferExists, TransferLinkedEventFailed, TransferLinkedEventFailed)
	if res[0].Timestamp != first[0].Timestamp {
		t.Errorf("exists timestamp %d, want %d", res[0].Timestamp, first[0].Timestamp)
	}
	e.sameAccounts(before)
	// exists breaks a chain: a new event linked to it does not apply.
	res = e.transfers(linkT(xfer(10, 1, 2, 10)), xfer(13, 1, 2, 1))
	wantTStatuses(t, res, TransferExists, TransferLinkedEventFailed)
	if _, ok := e.s.Transfer(U128(13)); ok {
		t.Error("transfer 13 applied although its chain failed")
	}
	e.sameAccounts(before)
	// Accounts too.
	e.mustAccounts(linkA(acct(20, 0)), acct(21, 0))
	wantAStatuses(t, e.accounts(linkA(acct(20, 0)), acct(21, 0)), AccountExists, AccountLinkedEventFailed)
}

func TestIdempotency(t *testing.T) {
	e := newEnv(t)
	e.mustAccounts(acct(1, 0), acct(2, 0))
	tr := withT(xfer(10, 1, 2, 25), func(t *Transfer) { t.UserData64 = 42 })
	r1 := e.mustTransfers(tr)
	r2 := e.transfers(tr)
	wantTStatuses(t, r2, TransferExists)
	if r2[0].Timestamp != r1[0].Timestamp || r1[0].Timestamp == 0 {
		t.Errorf("exists timestamp %d, want the original %d", r2[0].Timestamp, r1[0].Timestamp)
	}
	e.balances(1, 0, 25, 0, 0)
	e.balances(2, 0, 0, 0, 25)
	if e.s.TransferCount() != 1 {
		t.Errorf("TransferCount = %d, want 1", e.s.TransferCount())
	}
	// The same id twice in one batch.
	res := e.transfers(xfer(11, 2, 1, 5), xfer(11, 2, 1, 5))
	wantTStatuses(t, res, TransferCreated, TransferExists)
	if res[1].Timestamp != res[0].Timestamp {
		t.Errorf("exists timestamp %d, want %d", res[1].Timestamp, res[0].Timestamp)
	}
	e.balances(1, 0, 25, 0, 5)
	// Accounts.
	a1 := e.account(1)
	res = e.accounts(acct(1, 0))
	wantAStatuses(t, res, AccountExists)
	if res[0].Timestamp != a1.Timestamp {
		t.Errorf("account exists timestamp %d, want %d", res[0].Timestamp, a1.Timestamp)
	}
	if e.account(1) != a1 {
		t.Error("re-submitting account 1 changed it")
	}
}

// TestResultTimestampExistsWithDifferent: Result's doc comment gives a
// timestamp only to created and exists; exists_with_different_* get 0.
func TestResultTimestampExistsWithDifferent(t *testing.T) {
	e := newEnv(t)
	e.mustAccounts(acct(1, 0), acct(2, 0))
	e.mustTransfers(xfer(10, 1, 2, 1))
	res := e.accounts(acct(1, AccountHistory))
	wantAStatuses(t, res, AccountExistsWithDifferentFlags)
	if res[0].Timestamp != 0 {
		t.Errorf("account exists_with_different_flags: timestamp %d, want 0", res[0].Timestamp)
	}
	res = e.transfers(xfer(10, 1, 2, 2))
	wantTStatuses(t, res, TransferExistsWithDifferentAmount)
	if res[0].Timestamp != 0 {
		t.Errorf("transfer exists_with_different_amount: timestamp %d, want 0", res[0].Timestamp)
	}
}

func TestTwoPhase(t *testing.T) {
	setup := func(t *testing.T) *env {
		e := newEnv(t)
		e.mustAccounts(acct(1, 0), acct(2, 0), acct(6, 0))
		e.mustTransfers(withT(pend(10, 1, 2, 100, 0), func(t *Transfer) { t.Code = 7 }))
		return e
	}
	t.Run("pending reserves", func(t *testing.T) {
		e := setup(t)
		e.balances(1, 100, 0, 0, 0)
		e.balances(2, 0, 0, 100, 0)
		if p, ok := e.s.Pending(U128(10)); !ok || p != (PendingInfo{State: PendingActive}) {
			t.Errorf("Pending(10) = %+v, %v", p, ok)
		}
	})
	t.Run("post full with AmountMax", func(t *testing.T) {
		e := setup(t)
		e.mustTransfers(postOf(11, 10, AmountMax))
		e.balances(1, 0, 100, 0, 0)
		e.balances(2, 0, 0, 0, 100)
		if p, _ := e.s.Pending(U128(10)); p.State != PendingPosted {
			t.Errorf("Pending(10) = %+v, want posted", p)
		}
		p := e.transfer(11)
		if p.Amount != 100 || p.DebitAccountID != U128(1) || p.CreditAccountID != U128(2) || p.Ledger != 1 || p.Code != 7 ||
			p.PendingID != U128(10) || p.Flags != TransferPostPendingTransfer {
			t.Errorf("stored post %+v: want amount 100, accounts 1→2, ledger 1, code 7 from the pending", p)
		}
		wantTStatuses(t, e.transfers(postOf(12, 10, AmountMax)), TransferPendingTransferAlreadyPosted)
		wantTStatuses(t, e.transfers(voidOf(13, 10, 0)), TransferPendingTransferAlreadyPosted)
		e.balances(1, 0, 100, 0, 0)
	})
	t.Run("post with matching explicit fields", func(t *testing.T) {
		e := setup(t)
		e.mustTransfers(withT(postOf(11, 10, 100), func(t *Transfer) {
			t.DebitAccountID, t.CreditAccountID, t.Ledger, t.Code = U128(1), U128(2), 1, 7
		}))
		e.balances(1, 0, 100, 0, 0)
	})
	t.Run("partial post releases the rest", func(t *testing.T) {
		e := setup(t)
		e.mustTransfers(postOf(11, 10, 30))
		e.balances(1, 0, 30, 0, 0)
		e.balances(2, 0, 0, 0, 30)
		if got := e.transfer(11).Amount; got != 30 {
			t.Errorf("stored post amount %d, want 30", got)
		}
		wantTStatuses(t, e.transfers(postOf(12, 10, 70)), TransferPendingTransferAlreadyPosted)
		e.balances(1, 0, 30, 0, 0)
	})
	t.Run("void with amount 0", func(t *testing.T) {
		e := setup(t)
		e.mustTransfers(voidOf(11, 10, 0))
		e.balances(1, 0, 0, 0, 0)
		e.balances(2, 0, 0, 0, 0)
		if p, _ := e.s.Pending(U128(10)); p.State != PendingVoided {
			t.Errorf("Pending(10) = %+v, want voided", p)
		}
		v := e.transfer(11)
		if v.DebitAccountID != U128(1) || v.CreditAccountID != U128(2) || v.Ledger != 1 || v.Code != 7 {
			t.Errorf("stored void %+v: want accounts, ledger and code from the pending", v)
		}
		wantTStatuses(t, e.transfers(postOf(12, 10, AmountMax)), TransferPendingTransferAlreadyVoided)
		wantTStatuses(t, e.transfers(voidOf(13, 10, 0)), TransferPendingTransferAlreadyVoided)
		wantTStatuses(t, e.transfers(voidOf(11, 10, 0), voidOf(11, 10, 100), voidOf(11, 10, 1)),
			TransferExists, TransferExists, TransferExistsWithDifferentAmount)
		e.balances(1, 0, 0, 0, 0)
	})
	t.Run("void with the exact amount", func(t *testing.T) {
		e := setup(t)
		e.mustTransfers(voidOf(11, 10, 100))
		e.balances(1, 0, 0, 0, 0)
		e.balances(2, 0, 0, 0, 0)
	})
	t.Run("post before expiry cancels it", func(t *testing.T) {
		e := setup(t)
		r := e.mustTransfers(pend(20, 1, 6, 9, 5))
		if got := e.s.NextExpiry(); got != r[0].Timestamp+5*second {
			t.Fatalf("NextExpiry = %d, want %d", got, r[0].Timestamp+5*second)
		}
		e.mustTransfers(postOf(21, 20, AmountMax))
		if got := e.s.NextExpiry(); got != 0 {
			t.Errorf("NextExpiry = %d after the post, want 0", got)
		}
		eff := e.expireAt(r[0].Timestamp + 6*second)
		if len(eff.Pending) != 0 || len(eff.Touches) != 0 {
			t.Errorf("expiry batch changed %+v", eff)
		}
		e.balances(1, 100, 9, 0, 0)
		e.balances(6, 0, 0, 0, 9)
	})
	t.Run("post and void in one batch", func(t *testing.T) {
		e := setup(t)
		wantTStatuses(t, e.transfers(postOf(11, 10, 40), voidOf(12, 10, 0)),
			TransferCreated, TransferPendingTransferAlreadyPosted)
		e.balances(1, 0, 40, 0, 0)
	})
}

func TestPendingExpiry(t *testing.T) {
	setup := func(t *testing.T) (*env, uint64) {
		e := newEnv(t)
		e.mustAccounts(acct(1, 0), acct(2, 0))
		r := e.mustTransfers(pend(10, 1, 2, 100, 1))
		exp := r[0].Timestamp + second
		if p, _ := e.s.Pending(U128(10)); p.ExpiresAt != exp || p.State != PendingActive {
			t.Fatalf("Pending(10) = %+v, want active expiring at %d", p, exp)
		}
		if got := e.s.NextExpiry(); got != exp {
			t.Fatalf("NextExpiry = %d, want %d", got, exp)
		}
		// Just before expiry nothing happens.
		_, eff := e.apply(Batch{Kind: KindTransfers, Time: exp - 1, Transfers: []Transfer{xfer(20, 1, 2, 1)}})
		if len(eff.Pending) != 0 {
			t.Fatalf("Effects.Pending = %+v before expiry", eff.Pending)
		}
		e.balances(1, 100, 1, 0, 0)
		if p, _ := e.s.Pending(U128(10)); p.State != PendingActive {
			t.Fatalf("Pending(10) = %+v before expiry", p)
		}
		e.time = exp + second
		return e, exp
	}
	check := func(t *testing.T, e *env, eff *Effects) {
		t.Helper()
		e.balances(1, 0, 1, 0, 0)
		e.balances(2, 0, 0, 0, 1)
		if p, _ := e.s.Pending(U128(10)); p.State != PendingExpired {
			t.Errorf("Pending(10) = %+v, want expired", p)
		}
		if got := e.s.NextExpiry(); got != 0 {
			t.Errorf("NextExpiry = %d, want 0", got)
		}
		if len(eff.Pending) != 1 || eff.Pending[0].ID != U128(10) || eff.Pending[0].Info.State != PendingExpired {
			t.Errorf("Effects.Pending = %+v, want 10 expired", eff.Pending)
		}
		var touched []int32
		for _, tc := range eff.Touches {
			if tc.Slot == -1 {
				touched = append(touched, tc.Account)
				if tc.TransferID != U128(10) {
					t.Errorf("expiry touch %+v: want transfer id 10", tc)
				}
			}
		}
		if fmt.Sprint(touched) != fmt.Sprint([]int32{0, 1}) {
			t.Errorf("expiry touches for accounts %v, want [0 1]", touched)
		}
		for _, id := range []uint64{1, 2} {
			if v := e.account(id).Version; v != eff.Version {
				t.Errorf("account %d version %d, want the expiring batch's %d", id, v, eff.Version)
			}
		}
		wantTStatuses(t, e.transfers(postOf(11, 10, AmountMax), voidOf(12, 10, 0)),
			TransferPendingTransferExpired, TransferPendingTransferExpired)
		e.balances(1, 0, 1, 0, 0)
	}
	t.Run("expire batch", func(t *testing.T) {
		e, exp := setup(t)
		check(t, e, e.expireAt(exp))
	})
	t.Run("accounts batch", func(t *testing.T) {
		e, exp := setup(t)
		_, eff := e.apply(Batch{Kind: KindAccounts, Time: exp + 5, Accounts: []Account{acct(7, 0)}})
		check(t, e, eff)
	})
	t.Run("post in the expiring batch", func(t *testing.T) {
		e, exp := setup(t)
		res, eff := e.apply(Batch{Kind: KindTransfers, Time: exp, Transfers: []Transfer{postOf(13, 10, AmountMax)}})
		wantTStatuses(t, res, TransferPendingTransferExpired)
		check(t, e, eff)
	})
}

// TestExpiryBacklog checks expiries beyond MaxExpiriesPerBatch: the rest
// expire in the next batch, and posting one of them meanwhile already fails.
func TestExpiryBacklog(t *testing.T) {
	e := newEnv(t)
	e.mustAccounts(acct(1, 0), acct(2, 0))
	batch := make([]Transfer, MaxExpiriesPerBatch)
	for i := range batch {
		batch[i] = pend(uint64(1000+i), 1, 2, 1, 1)
	}
	e.mustTransfers(batch...)
	last := e.mustTransfers(pend(10, 1, 2, 7, 1))
	exp := last[0].Timestamp + second
	res, eff := e.apply(Batch{Kind: KindTransfers, Time: exp, Transfers: []Transfer{postOf(11, 10, AmountMax)}})
	wantTStatuses(t, res, TransferPendingTransferExpired)
	if len(eff.Pending) != MaxExpiriesPerBatch {
		t.Errorf("expired %d in one batch, want %d", len(eff.Pending), MaxExpiriesPerBatch)
	}
	e.balances(1, 7, 0, 0, 0)
	if got := e.s.NextExpiry(); got != exp {
		t.Errorf("NextExpiry = %d, want %d", got, exp)
	}
	e.expireAt(exp)
	e.balances(1, 0, 0, 0, 0)
	e.balances(2, 0, 0, 0, 0)
	if p, _ := e.s.Pending(U128(10)); p.State != PendingExpired {
		t.Errorf("Pending(10) = %+v, want expired", p)
	}
	if got := e.s.NextExpiry(); got != 0 {
		t.Errorf("NextExpiry = %d, want 0", got)
	}
}

func TestBalancing(t *testing.T) {
	e := newEnv(t)
	e.mustAccounts(acct(1, 0), acct(2, 0), acct(3, dmnec), acct(4, cmned))
	e.mustTransfers(xfer(1, 2, 3, 100), pend(2, 3, 1, 30, 0), xfer(3, 4, 1, 60))

	bd := withT(xfer(20, 3, 1, 1000), func(t *Transfer) { t.Flags = TransferBalancingDebit })
	r := e.mustTransfers(bd)
	if got := e.transfer(20).Amount; got != 70 {
		t.Errorf("balancing_debit stored amount %d, want 70 (credits 100 - pending 30)", got)
	}
	e.balances(3, 30, 70, 0, 100)
	e.balances(1, 0, 0, 30, 130)
	// Nothing left to move: created with amount 0.
	e.mustTransfers(withT(bd, func(t *Transfer) { t.ID = U128(21) }))
	if got := e.transfer(21).Amount; got != 0 {
		t.Errorf("second balancing_debit amount %d, want 0", got)
	}
	e.balances(3, 30, 70, 0, 100)
	// Re-submission answers exists, with the original timestamp, and moves nothing.
	res := e.transfers(bd, withT(bd, func(t *Transfer) { t.Amount = 70 }), withT(bd, func(t *Transfer) { t.Amount = 69 }))
	wantTStatuses(t, res, TransferExists, TransferExists, TransferExistsWithDifferentAmount)
	if res[0].Timestamp != r[0].Timestamp {
		t.Errorf("exists timestamp %d, want %d", res[0].Timestamp, r[0].Timestamp)
	}
	e.balances(3, 30, 70, 0, 100)

	bc := withT(xfer(30, 2, 4, 1000), func(t *Transfer) { t.Flags = TransferBalancingCredit })
	e.mustTransfers(bc)
	if got := e.transfer(30).Amount; got != 60 {
		t.Errorf("balancing_credit stored amount %d, want 60", got)
	}
	e.balances(4, 0, 60, 0, 60)
	wantTStatuses(t, e.transfers(bc), TransferExists)
	e.balances(4, 0, 60, 0, 60)
	// A balancing transfer for less than the headroom moves what it asks.
	e.mustTransfers(xfer(40, 2, 3, 10), withT(xfer(41, 3, 1, 4), func(t *Transfer) { t.Flags = TransferBalancingDebit }))
	if got := e.transfer(41).Amount; got != 4 {
		t.Errorf("balancing_debit within headroom: amount %d, want 4", got)
	}
}

func TestClosing(t *testing.T) {
	closing := func(id, dr, cr uint64, flag TransferFlags, timeout uint32) Transfer {
		return withT(pend(id, dr, cr, 0, timeout), func(t *Transfer) { t.Flags |= flag })
	}
	setup := func(t *testing.T) *env {
		e := newEnv(t)
		e.mustAccounts(acct(1, 0), acct(2, 0), acct(6, 0))
		e.mustTransfers(pend(5, 1, 2, 10, 0))
		return e
	}
	t.Run("closing_debit and void re-opens", func(t *testing.T) {
		e := setup(t)
		e.mustTransfers(closing(10, 1, 2, TransferClosingDebit, 0))
		if e.account(1).Flags&AccountClosed == 0 {
			t.Fatal("account 1 not closed")
		}
		if e.account(2).Flags&AccountClosed != 0 {
			t.Fatal("account 2 closed by closing_debit")
		}
		wantTStatuses(t, e.transfers(xfer(20, 1, 6, 1), xfer(21, 6, 1, 1), pend(22, 1, 6, 1, 0), xfer(23, 6, 2, 1)),
			TransferDebitAccountAlreadyClosed, TransferCreditAccountAlreadyClosed, TransferDebitAccountAlreadyClosed, TransferCreated)
		// Re-submitting the account is not a different request.
		wantAStatuses(t, e.accounts(acct(1, 0)), AccountExists)
		// A void touches the closed account.
		e.mustTransfers(voidOf(24, 5, 0))
		e.balances(1, 0, 0, 0, 0)
		e.mustTransfers(voidOf(25, 10, 0))
		if e.account(1).Flags&AccountClosed != 0 {
			t.Fatal("voiding the closing transfer did not re-open account 1")
		}
		e.mustTransfers(xfer(26, 1, 6, 1))
		e.balances(1, 0, 1, 0, 0)
	})
	t.Run("closing_credit", func(t *testing.T) {
		e := setup(t)
		e.mustTransfers(closing(10, 1, 2, TransferClosingCredit, 0))
		if e.account(2).Flags&AccountClosed == 0 || e.account(1).Flags&AccountClosed != 0 {
			t.Fatalf("flags 1=%v 2=%v, want only 2 closed", e.account(1).Flags, e.account(2).Flags)
		}
		wantTStatuses(t, e.transfers(xfer(20, 6, 2, 1), xfer(21, 2, 6, 1)),
			TransferCreditAccountAlreadyClosed, TransferDebitAccountAlreadyClosed)
		e.mustTransfers(voidOf(25, 10, 0))
		e.mustTransfers(xfer(26, 6, 2, 1))
	})
	t.Run("expiry re-opens", func(t *testing.T) {
		e := setup(t)
		r := e.mustTransfers(closing(10, 1, 2, TransferClosingDebit, 1))
		e.expireAt(r[0].Timestamp + second)
		if p, _ := e.s.Pending(U128(10)); p.State != PendingExpired {
			t.Fatalf("Pending(10) = %+v, want expired", p)
		}
		if e.account(1).Flags&AccountClosed != 0 {
			t.Fatal("expiry of the closing transfer did not re-open account 1")
		}
		e.mustTransfers(xfer(26, 1, 6, 1))
	})
}

func TestHistoryTouches(t *testing.T) {
	e := newEnv(t)
	e.mustAccounts(acct(7, AccountHistory), acct(8, AccountHistory|dmnec))
	e.mustTransfers(xfer(1, 7, 8, 10))
	res, eff := e.apply(Batch{Kind: KindTransfers, Transfers: []Transfer{
		xfer(2, 7, 8, 5), pend(3, 8, 7, 4, 0), postOf(4, 3, 3),
	}})
	wantTStatuses(t, res, TransferCreated, TransferCreated, TransferCreated)
	i7, i8 := e.index(7), e.index(8)
	ts := []uint64{res[0].Timestamp, res[1].Timestamp, res[2].Timestamp}
	type touch struct {
		Account, Slot int32
		ID            uint64
		Debit         bool
		Balance       Balance
	}
	want := []touch{
		{i7, 0, 2, true, Balance{Timestamp: ts[0], DebitsPosted: 15}},
		{i8, 0, 2, false, Balance{Timestamp: ts[0], CreditsPosted: 15}},
		{i8, 1, 3, true, Balance{Timestamp: ts[1], DebitsPending: 4, CreditsPosted: 15}},
		{i7, 1, 3, false, Balance{Timestamp: ts[1], DebitsPosted: 15, CreditsPending: 4}},
		{i8, 2, 4, true, Balance{Timestamp: ts[2], DebitsPosted: 3, CreditsPosted: 15}},
		{i7, 2, 4, false, Balance{Timestamp: ts[2], DebitsPosted: 15, CreditsPosted: 3}},
	}
	var got []touch
	for _, tc := range eff.Touches {
		if tc.TransferID.Hi != 0 {
			t.Errorf("touch %+v: unexpected transfer id", tc)
		}
		got = append(got, touch{tc.Account, tc.Slot, tc.TransferID.Lo, tc.Debit, tc.Balance})
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Effects.Touches =\n %+v\nwant\n %+v", got, want)
	}
	e.balances(7, 0, 15, 0, 3)
	e.balances(8, 0, 3, 0, 15)
	if fmt.Sprint(eff.Changed) != fmt.Sprint([]int32{i7, i8}) {
		t.Errorf("Effects.Changed = %v, want [%d %d]", eff.Changed, i7, i8)
	}
}

func TestTimestampsAndVersions(t *testing.T) {
	s := NewState(0, 0)
	apply := func(b Batch) []Result {
		t.Helper()
		res := make([]Result, len(b.Accounts)+len(b.Transfers))
		if _, err := s.Apply(&b, res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	var all []uint64
	collect := func(res []Result) {
		for _, r := range res {
			if r.Status == statusCreated {
				all = append(all, r.Timestamp)
			}
		}
	}
	r := apply(Batch{Kind: KindAccounts, Version: 5, Time: 10_000,
		Accounts: []Account{acct(1, 0), acct(2, 0), acct(0, 0), acct(3, 0)}})
	wantAStatuses(t, r, AccountCreated, AccountCreated, AccountIDMustNotBeZero, AccountCreated)
	// Every event consumes a timestamp, failed ones included.
	if got := []uint64{r[0].Timestamp, r[1].Timestamp, r[3].Timestamp}; fmt.Sprint(got) != "[10000 10001 10003]" {
		t.Errorf("timestamps %v, want [10000 10001 10003]", got)
	}
	collect(r)
	if s.LastTimestamp() != 10_003 {
		t.Errorf("LastTimestamp = %d, want 10003", s.LastTimestamp())
	}
	// A batch whose Time is in the past starts right after the last timestamp.
	r = apply(Batch{Kind: KindTransfers, Version: 9, Time: 500,
		Transfers: []Transfer{xfer(10, 1, 2, 1), xfer(11, 2, 1, 1)}})
	if r[0].Timestamp != 10_004 || r[1].Timestamp != 10_005 {
		t.Errorf("timestamps %d %d, want 10004 10005", r[0].Timestamp, r[1].Timestamp)
	}
	collect(r)
	r = apply(Batch{Kind: KindTransfers, Version: 10, Time: 10_005, Transfers: []Transfer{xfer(12, 1, 2, 1)}})
	if r[0].Timestamp != 10_006 {
		t.Errorf("timestamp %d, want 10006", r[0].Timestamp)
	}
	collect(r)
	res := make([]Result, 1)
	eff, err := s.Apply(&Batch{Kind: KindAccounts, Version: 20, Time: 1e9, Accounts: []Account{acct(4, 0)}}, res)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Timestamp != 1e9 || eff.FirstTimestamp != 1e9 || eff.LastTimestamp != 1e9 || eff.Version != 20 {
		t.Errorf("timestamp %d, effects first %d last %d version %d", res[0].Timestamp, eff.FirstTimestamp, eff.LastTimestamp, eff.Version)
	}
	collect(res)
	for i := 1; i < len(all); i++ {
		if all[i] <= all[i-1] {
			t.Errorf("timestamps not strictly increasing: %v", all)
			break
		}
	}
	// Versions: the batch that last changed each account.
	for id, v := range map[uint64]uint64{1: 10, 2: 10, 3: 5, 4: 20} {
		if a, _ := s.Account(U128(id)); a.Version != v {
			t.Errorf("account %d version %d, want %d", id, a.Version, v)
		}
	}
	if s.Version() != 20 {
		t.Errorf("Version = %d, want 20", s.Version())
	}
	// Setting version on create is refused (it is output only).
	r = apply(Batch{Kind: KindAccounts, Version: 21, Time: 1, Accounts: []Account{withA(acct(5, 0), func(a *Account) { a.Version = 3 })}})
	wantAStatuses(t, r, AccountReservedField)
}

// TestTimestampsNearEndOfTime: engine time must not wrap around 2^64. A
// batch whose events cannot all get a timestamp after the last one must be
// rejected, never hand out 0 or make later timestamps go backwards.
// TestTimestampsNearEndOfTime: engine time never wraps. A batch that would
// assign a timestamp past MaxTimestamp is rejected whole; the batches around
// it keep timestamps unique and increasing.
func TestTimestampsNearEndOfTime(t *testing.T) {
	s := NewState(0, 0)
	var got []uint64
	last := MaxTimestamp - uint64(MaxBatchEvents+MaxExpiriesPerBatch)
	for v, b := range []Batch{
		{Kind: KindAccounts, Time: maxU64 - 1, Accounts: []Account{acct(1, 0)}},
		{Kind: KindAccounts, Time: last - 3, Accounts: []Account{acct(2, 0), acct(3, 0), acct(4, 0)}},
		{Kind: KindAccounts, Time: 5, Accounts: []Account{acct(5, 0)}},
		{Kind: KindAccounts, Time: MaxTimestamp - 10, Accounts: []Account{acct(6, 0)}},
		{Kind: KindAccounts, Time: 5, Accounts: []Account{acct(7, 0)}},
	} {
		b.Version = uint64(v + 1)
		res := make([]Result, len(b.Accounts))
		_, err := s.Apply(&b, res)
		if wantErr := v == 0 || v == 3; wantErr != (err != nil) {
			t.Fatalf("batch %d: err %v, want error %v", v, err, wantErr)
		}
		if err != nil {
			if !errors.Is(err, ErrTimeOutOfRange) {
				t.Fatalf("batch %d: err %v, want ErrTimeOutOfRange", v, err)
			}
			continue
		}
		for _, r := range res {
			if r.Status == statusCreated {
				got = append(got, r.Timestamp)
			}
		}
	}
	for i, ts := range got {
		if ts == 0 || i > 0 && ts <= got[i-1] {
			t.Fatalf("created timestamps %v: not unique and strictly increasing", got)
		}
	}
}

func TestBatchErrors(t *testing.T) {
	e := newEnv(t)
	e.mustAccounts(acct(1, 0), acct(2, 0))
	r := e.mustTransfers(xfer(10, 1, 2, 5), pend(11, 1, 2, 7, 1))
	late := r[1].Timestamp + 10*second
	sn := e.snap()
	v := e.s.Version()
	okT := []Transfer{xfer(20, 1, 2, 1)}
	tooMany := make([]Transfer, MaxBatchEvents+1)
	for i := range tooMany {
		tooMany[i] = xfer(uint64(1000+i), 1, 2, 1)
	}
	cases := []struct {
		name string
		b    Batch
		room int
		is   error
	}{
		{"same version", Batch{Kind: KindTransfers, Version: v, Time: late, Transfers: okT}, 1, ErrVersionNotIncreasing},
		{"older version", Batch{Kind: KindTransfers, Version: v - 1, Time: late, Transfers: okT}, 1, ErrVersionNotIncreasing},
		{"version 0", Batch{Kind: KindExpire, Time: late}, 0, ErrVersionNotIncreasing},
		{"too many events", Batch{Kind: KindTransfers, Version: v + 1, Time: late, Transfers: tooMany}, len(tooMany), ErrBatchTooBig},
		{"accounts kind with transfers", Batch{Kind: KindAccounts, Version: v + 1, Time: late, Transfers: okT}, 1, ErrBatchKind},
		{"transfers kind with accounts", Batch{Kind: KindTransfers, Version: v + 1, Time: late, Accounts: []Account{acct(3, 0)}}, 1, ErrBatchKind},
		{"both", Batch{Kind: KindTransfers, Version: v + 1, Time: late, Accounts: []Account{acct(3, 0)}, Transfers: okT}, 2, ErrBatchKind},
		{"empty transfers", Batch{Kind: KindTransfers, Version: v + 1, Time: late}, 0, ErrBatchKind},
		{"empty accounts", Batch{Kind: KindAccounts, Version: v + 1, Time: late}, 0, ErrBatchKind},
		{"expire with events", Batch{Kind: KindExpire, Version: v + 1, Time: late, Transfers: okT}, 1, ErrBatchKind},
		{"kind 0", Batch{Version: v + 1, Time: late, Transfers: okT}, 1, ErrBatchKind},
		{"unknown kind", Batch{Kind: 99, Version: v + 1, Time: late, Transfers: okT}, 1, ErrBatchKind},
		{"no room for results", Batch{Kind: KindTransfers, Version: v + 1, Time: late, Transfers: okT}, 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			res := make([]Result, c.room)
			eff, err := e.s.Apply(&c.b, res)
			if err == nil || eff != nil {
				t.Fatalf("Apply = %v, %v; want an error", eff, err)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %v, want %v", err, c.is)
			}
			e.sameState(sn)
			if p, _ := e.s.Pending(U128(11)); p.State != PendingActive {
				t.Errorf("pending 11 = %+v: a rejected batch expired it", p)
			}
		})
	}
	e.t = t
	// The version was not consumed, and a full batch is fine.
	full := make([]Account, MaxBatchEvents)
	for i := range full {
		full[i] = acct(uint64(100+i), 0)
	}
	res := make([]Result, MaxBatchEvents)
	if _, err := e.s.Apply(&Batch{Kind: KindAccounts, Version: v + 1, Time: late, Accounts: full}, res); err != nil {
		t.Fatalf("full batch: %v", err)
	}
	for i, r := range res {
		if r.Status != statusCreated {
			t.Fatalf("account %d: %v", i, AccountStatus(r.Status))
		}
	}
	if e.s.Version() != v+1 || e.s.AccountCount() != 2+MaxBatchEvents {
		t.Errorf("Version %d, AccountCount %d", e.s.Version(), e.s.AccountCount())
	}
}

func TestEffects(t *testing.T) {
	e := newEnv(t)
	e.mustAccounts(acct(1, 0), acct(2, 0), acct(3, dmnec), acct(6, 0), acct(7, 0))
	res, eff := e.apply(Batch{Kind: KindTransfers, Transfers: []Transfer{
		xfer(10, 1, 2, 5),           // created
		xfer(11, 1, 99, 5),          // fails
		linkT(xfer(12, 6, 7, 5)),    // rolled back: 6 and 7 change nowhere else
		linkT(pend(13, 7, 6, 1, 9)), // rolled back
		xfer(14, 3, 1, 5),           // exceeds_credits breaks the chain
		xfer(15, 2, 1, 1),           // created
		pend(16, 6, 1, 2, 0),        // created
	}})
	wantTStatuses(t, res, TransferCreated, TransferCreditAccountNotFound, TransferLinkedEventFailed,
		TransferLinkedEventFailed, TransferExceedsCredits, TransferCreated, TransferCreated)
	var ids []Uint128
	for i, tr := range eff.Transfers {
		ids = append(ids, tr.ID)
		if stored := e.transfer(tr.ID.Lo); stored != tr {
			t.Errorf("Effects.Transfers[%d] = %+v, stored %+v", i, tr, stored)
		}
	}
	if fmt.Sprint(ids) != fmt.Sprint([]Uint128{U128(10), U128(15), U128(16)}) {
		t.Errorf("Effects.Transfers ids %v, want [10 15 16]", ids)
	}
	i1, i2, i6 := e.index(1), e.index(2), e.index(6)
	if fmt.Sprint(eff.Changed) != fmt.Sprint([]int32{i1, i2, i6}) {
		t.Errorf("Effects.Changed = %v, want [%d %d %d]", eff.Changed, i1, i2, i6)
	}
	for _, tc := range eff.Touches {
		if tc.Slot < 0 || int(tc.Slot) >= len(eff.Transfers) {
			t.Errorf("touch %+v has a bad slot", tc)
		}
	}
	if len(eff.Touches) != 6 {
		t.Errorf("%d touches, want 6", len(eff.Touches))
	}
	if len(eff.Pending) != 1 || eff.Pending[0].ID != U128(16) || eff.Pending[0].Info.State != PendingActive {
		t.Errorf("Effects.Pending = %+v, want [16 active]", eff.Pending)
	}
	wantFailed := []FailedID{{U128(11), TransferCreditAccountNotFound}, {U128(14), TransferExceedsCredits}}
	if fmt.Sprint(eff.Failed) != fmt.Sprint(wantFailed) {
		t.Errorf("Effects.Failed = %+v, want %+v", eff.Failed, wantFailed)
	}
	if eff.FirstTimestamp != res[0].Timestamp || eff.LastTimestamp != res[6].Timestamp || eff.LastTimestamp != e.s.LastTimestamp() {
		t.Errorf("Effects timestamps %d..%d, results %d..%d", eff.FirstTimestamp, eff.LastTimestamp, res[0].Timestamp, res[6].Timestamp)
	}
	e.balances(7, 0, 0, 0, 0)
	if e.s.NextExpiry() != 0 {
		t.Errorf("NextExpiry = %d, want 0 (the only timeout was rolled back)", e.s.NextExpiry())
	}
}

// TestConservation runs a random mixed workload and checks, after every
// batch, conservation per ledger, the limit flags, and every account's
// balances against a model rebuilt from the stored transfers.
func TestConservation(t *testing.T) {
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var accs []Account
	for id := uint64(1); id <= 20; id++ {
		a := acct(id, 0)
		if id > 10 {
			a.Ledger = 2
		}
		switch id % 10 {
		case 3:
			a.Flags = dmnec
		case 4:
			a.Flags = cmned | AccountHistory
		case 5:
			a.Flags = AccountHistory
		}
		accs = append(accs, a)
	}
	e.mustAccounts(accs...)
	var created, pendings []uint64
	statuses := map[TransferStatus]int{}
	nextID := uint64(1000)
	pick := func(ledger uint64) uint64 { return ledger*10 - 9 + rng.Uint64N(10) }
	for batch := 0; batch < 40; batch++ {
		var evs []Transfer
		for n := 0; n < 60; n++ {
			nextID++
			ledger := 1 + rng.Uint64N(2)
			dr, cr := pick(ledger), pick(ledger)
			if rng.IntN(20) == 0 {
				cr = pick(3 - ledger) // different ledgers: fails
			}
			tr := xfer(nextID, dr, cr, rng.Uint64N(500))
			tr.Ledger = uint32(ledger)
			switch k := rng.IntN(10); {
			case k < 3:
			case k < 5:
				tr.Flags, tr.Timeout = TransferPending, uint32(rng.IntN(3))
			case k < 7 && len(pendings) > 0:
				p := pendings[rng.IntN(len(pendings))]
				amt := AmountMax
				if rng.IntN(2) == 0 {
					amt = rng.Uint64N(600)
				}
				tr = postOf(nextID, p, amt)
			case k < 8 && len(pendings) > 0:
				tr = voidOf(nextID, pendings[rng.IntN(len(pendings))], 0)
			case k < 9:
				tr.Flags = []TransferFlags{TransferBalancingDebit, TransferBalancingCredit}[rng.IntN(2)]
			default:
				if len(created) > 0 { // re-submission
					tr = e.transfer(created[rng.IntN(len(created))])
					tr.Timestamp = 0
				}
			}
			if rng.IntN(5) == 0 {
				tr.Flags |= TransferLinked
			}
			evs = append(evs, tr)
		}
		b := Batch{Kind: KindTransfers, Transfers: evs, Time: e.time + rng.Uint64N(2*second)}
		e.time = b.Time + 1
		res, _ := e.apply(b)
		for i, r := range res {
			statuses[TransferStatus(r.Status)]++
			if r.Status == statusCreated {
				kind := evs[i].Flags &^ TransferLinked
				statuses[TransferStatus(1000+int(kind))]++ // created, by kind
				created = append(created, evs[i].ID.Lo)
				if evs[i].Flags&TransferPending != 0 {
					pendings = append(pendings, evs[i].ID.Lo)
				}
			}
		}
		checkModel(t, e, created)
		if t.Failed() {
			t.Fatalf("after batch %d", batch)
		}
	}
	// Let everything with a timeout expire, then check again.
	e.expireAt(e.time + 10*second)
	checkModel(t, e, created)
	// The workload must have exercised what it is meant to.
	expired := 0
	for _, id := range pendings {
		if p, _ := e.s.Pending(U128(id)); p.State == PendingExpired {
			expired++
		}
	}
	for name, n := range map[string]int{
		"created plain":     statuses[1000],
		"created pending":   statuses[1000+TransferStatus(TransferPending)],
		"created post":      statuses[1000+TransferStatus(TransferPostPendingTransfer)],
		"created void":      statuses[1000+TransferStatus(TransferVoidPendingTransfer)],
		"created balancing": statuses[1000+TransferStatus(TransferBalancingDebit)] + statuses[1000+TransferStatus(TransferBalancingCredit)],
		"expired pendings":  expired,
		"exists":            statuses[TransferExists],
		"rolled back":       statuses[TransferLinkedEventFailed],
		"post after expiry": statuses[TransferPendingTransferExpired],
	} {
		if n == 0 {
			t.Errorf("workload produced no %s: %v", name, statuses)
		}
	}
}

func checkModel(t *testing.T, e *env, created []uint64) {
	t.Helper()
	type bal struct{ dp, dP, cp, cP uint64 }
	model := map[Uint128]*bal{}
	e.s.Accounts(func(a *Account) bool { model[a.ID] = &bal{}; return true })
	for _, id := range created {
		tr := e.transfer(id)
		d, c := model[tr.DebitAccountID], model[tr.CreditAccountID]
		switch {
		case tr.Flags&TransferPending != 0:
			if p, _ := e.s.Pending(tr.ID); p.State == PendingActive {
				d.dp += tr.Amount
				c.cp += tr.Amount
			}
		case tr.Flags&TransferVoidPendingTransfer == 0:
			d.dP += tr.Amount
			c.cP += tr.Amount
		}
	}
	sums := map[uint32]*[4]uint64{}
	e.s.Accounts(func(a *Account) bool {
		if m := model[a.ID]; *m != (bal{a.DebitsPending, a.DebitsPosted, a.CreditsPending, a.CreditsPosted}) {
			t.Errorf("account %v balances %+v, model %+v", a.ID, *a, *m)
		}
		if a.Flags&dmnec != 0 && a.DebitsPending+a.DebitsPosted > a.CreditsPosted {
			t.Errorf("account %v breaks debits_must_not_exceed_credits: %+v", a.ID, *a)
		}
		if a.Flags&cmned != 0 && a.CreditsPending+a.CreditsPosted > a.DebitsPosted {
			t.Errorf("account %v breaks credits_must_not_exceed_debits: %+v", a.ID, *a)
		}
		s := sums[a.Ledger]
		if s == nil {
			s = new([4]uint64)
			sums[a.Ledger] = s
		}
		s[0] += a.DebitsPending
		s[1] += a.DebitsPosted
		s[2] += a.CreditsPending
		s[3] += a.CreditsPosted
		return true
	})
	for ledger, s := range sums {
		if s[0] != s[2] || s[1] != s[3] {
			t.Errorf("ledger %d: Σ debits_pending %d, Σ credits_pending %d, Σ debits_posted %d, Σ credits_posted %d",
				ledger, s[0], s[2], s[1], s[3])
		}
	}
}
