package ledger

import (
	"container/heap"
	"math/bits"
)

// The checks in this file run in the order of SPEC §2's status tables; the
// first failing check is the event's status.

// createAccount validates and creates one account at timestamp ts.
func (s *State) createAccount(a *Account, ts uint64) (AccountStatus, uint64) {
	switch {
	case a.Timestamp != 0:
		return AccountTimestampMustBeZero, 0
	// Version is output only and has no status of its own; a client that
	// sets it is writing into what create treats as reserved.
	case a.Reserved != 0 || a.Version != 0:
		return AccountReservedField, 0
	case a.Flags&^accountFlagsKnown != 0:
		return AccountReservedFlag, 0
	case a.ID.IsZero():
		return AccountIDMustNotBeZero, 0
	case a.ID.IsMax():
		return AccountIDMustNotBeIntMax, 0
	}
	if i, ok := s.accountIndex[a.ID]; ok {
		e := &s.accounts[i]
		if st := accountExists(a, e); st != AccountExists {
			return st, 0
		}
		return AccountExists, e.Timestamp
	}
	switch {
	case a.Flags&AccountDebitsMustNotExceedCredits != 0 && a.Flags&AccountCreditsMustNotExceedDebits != 0:
		return AccountFlagsAreMutuallyExclusive, 0
	case a.DebitsPending != 0:
		return AccountDebitsPendingMustBeZero, 0
	case a.DebitsPosted != 0:
		return AccountDebitsPostedMustBeZero, 0
	case a.CreditsPending != 0:
		return AccountCreditsPendingMustBeZero, 0
	case a.CreditsPosted != 0:
		return AccountCreditsPostedMustBeZero, 0
	case a.Ledger == 0:
		return AccountLedgerMustNotBeZero, 0
	case a.Code == 0:
		return AccountCodeMustNotBeZero, 0
	}
	n := *a
	n.Timestamp = ts
	n.Version = s.effects.Version
	s.insertAccount(&n)
	return AccountCreated, ts
}

// accountExists compares a re-submitted account with the stored one. The
// closed bit is ignored: closing is a later change, not a different request.
func accountExists(a, e *Account) AccountStatus {
	switch {
	case (a.Flags^e.Flags)&^AccountClosed != 0:
		return AccountExistsWithDifferentFlags
	case a.UserData128 != e.UserData128:
		return AccountExistsWithDifferentUserData128
	case a.UserData64 != e.UserData64:
		return AccountExistsWithDifferentUserData64
	case a.UserData32 != e.UserData32:
		return AccountExistsWithDifferentUserData32
	case a.Ledger != e.Ledger:
		return AccountExistsWithDifferentLedger
	case a.Code != e.Code:
		return AccountExistsWithDifferentCode
	}
	return AccountExists
}

const (
	postOrVoidFlags = TransferPostPendingTransfer | TransferVoidPendingTransfer
	closingFlags    = TransferClosingDebit | TransferClosingCredit
	balancingFlags  = TransferBalancingDebit | TransferBalancingCredit
)

// flagsExclusive reports a transfer whose flags cannot go together: more
// than one of pending, post and void; or a post or void that also balances
// or closes (those describe a new transfer, which a post or void is not).
func flagsExclusive(f TransferFlags) bool {
	phase := f & (TransferPending | postOrVoidFlags)
	if phase&(phase-1) != 0 {
		return true
	}
	return f&postOrVoidFlags != 0 && f&(balancingFlags|closingFlags) != 0
}

// checkTransferFields runs the stateless checks, statuses 20 to 33.
func checkTransferFields(t *Transfer) TransferStatus {
	postOrVoid := t.Flags&postOrVoidFlags != 0
	switch {
	case flagsExclusive(t.Flags):
		return TransferFlagsAreMutuallyExclusive
	case t.DebitAccountID.IsZero() && !postOrVoid:
		return TransferDebitAccountIDMustNotBeZero
	case t.DebitAccountID.IsMax():
		return TransferDebitAccountIDMustNotBeIntMax
	case t.CreditAccountID.IsZero() && !postOrVoid:
		return TransferCreditAccountIDMustNotBeZero
	case t.CreditAccountID.IsMax():
		return TransferCreditAccountIDMustNotBeIntMax
	case !t.DebitAccountID.IsZero() && t.DebitAccountID == t.CreditAccountID:
		return TransferAccountsMustBeDifferent
	case !postOrVoid && !t.PendingID.IsZero():
		return TransferPendingIDMustBeZero
	case postOrVoid && t.PendingID.IsZero():
		return TransferPendingIDMustNotBeZero
	case postOrVoid && t.PendingID.IsMax():
		return TransferPendingIDMustNotBeIntMax
	case postOrVoid && t.PendingID == t.ID:
		return TransferPendingIDMustBeDifferent
	case t.Timeout != 0 && t.Flags&TransferPending == 0:
		return TransferTimeoutReservedForPendingTransfer
	case t.Flags&closingFlags != 0 && t.Flags&TransferPending == 0:
		return TransferClosingTransferMustBePending
	case t.Ledger == 0 && !postOrVoid:
		return TransferLedgerMustNotBeZero
	case t.Code == 0 && !postOrVoid:
		return TransferCodeMustNotBeZero
	}
	return TransferCreated
}

// createTransfer validates and applies one transfer at timestamp ts; now is
// the batch's engine time, against which pending timeouts are judged.
func (s *State) createTransfer(t *Transfer, ts, now uint64) (TransferStatus, uint64) {
	switch {
	case t.Timestamp != 0:
		return TransferTimestampMustBeZero, 0
	case t.Flags&^transferFlagsKnown != 0:
		return TransferReservedFlag, 0
	case t.ID.IsZero():
		return TransferIDMustNotBeZero, 0
	case t.ID.IsMax():
		return TransferIDMustNotBeIntMax, 0
	}
	if e, ok := s.transfers.get(t.ID); ok {
		if st := transferExists(t, e); st != TransferExists {
			return st, 0
		}
		return TransferExists, e.Timestamp
	}
	if _, ok := s.failed[t.ID]; ok {
		return TransferIDAlreadyFailed, 0
	}
	if st := checkTransferFields(t); st != TransferCreated {
		return st, 0
	}
	if t.Flags&postOrVoidFlags != 0 {
		return s.postOrVoid(t, ts, now)
	}
	dr, ok := s.accountIndex[t.DebitAccountID]
	if !ok {
		return TransferDebitAccountNotFound, 0
	}
	cr, ok := s.accountIndex[t.CreditAccountID]
	if !ok {
		return TransferCreditAccountNotFound, 0
	}
	d, c := &s.accounts[dr], &s.accounts[cr]
	if st := checkAccounts(t, d, c); st != TransferCreated {
		return st, 0
	}
	amount := balancedAmount(t, d, c)
	if st := checkBalances(t, d, c, amount, ts); st != TransferCreated {
		return st, 0
	}
	s.applyTransfer(t, dr, cr, amount, ts)
	return TransferCreated, ts
}

// checkAccounts runs statuses 36, 37, 49 and 50 for a new transfer.
func checkAccounts(t *Transfer, d, c *Account) TransferStatus {
	switch {
	case d.Ledger != c.Ledger:
		return TransferAccountsMustHaveTheSameLedger
	case t.Ledger != d.Ledger:
		return TransferTransferMustHaveTheSameLedgerAsAccounts
	case d.Flags&AccountClosed != 0:
		return TransferDebitAccountAlreadyClosed
	case c.Flags&AccountClosed != 0:
		return TransferCreditAccountAlreadyClosed
	}
	return TransferCreated
}

// balancedAmount clamps a balancing transfer's amount so that the debit
// account's debits do not exceed its credits (balancing_debit) and the credit
// account's credits do not exceed its debits (balancing_credit), as
// TigerBeetle does.
func balancedAmount(t *Transfer, d, c *Account) uint64 {
	amount := t.Amount
	if t.Flags&TransferBalancingDebit != 0 {
		amount = min(amount, headroom(d.CreditsPosted, d.DebitsPending, d.DebitsPosted))
	}
	if t.Flags&TransferBalancingCredit != 0 {
		amount = min(amount, headroom(c.DebitsPosted, c.CreditsPending, c.CreditsPosted))
	}
	return amount
}

// headroom is limit - (a + b), floored at 0, without overflow.
func headroom(limit, a, b uint64) uint64 {
	used, carry := bits.Add64(a, b, 0)
	if carry != 0 || used >= limit {
		return 0
	}
	return limit - used
}

func overflows(a, b uint64) bool {
	_, carry := bits.Add64(a, b, 0)
	return carry != 0
}

func overflows3(a, b, c uint64) bool {
	ab, c1 := bits.Add64(a, b, 0)
	_, c2 := bits.Add64(ab, c, 0)
	return c1 != 0 || c2 != 0
}

// checkBalances runs statuses 51 to 59 for a new transfer of amount.
func checkBalances(t *Transfer, d, c *Account, amount, ts uint64) TransferStatus {
	pending := t.Flags&TransferPending != 0
	switch {
	case pending && overflows(d.DebitsPending, amount):
		return TransferOverflowsDebitsPending
	case pending && overflows(c.CreditsPending, amount):
		return TransferOverflowsCreditsPending
	case !pending && overflows(d.DebitsPosted, amount):
		return TransferOverflowsDebitsPosted
	case !pending && overflows(c.CreditsPosted, amount):
		return TransferOverflowsCreditsPosted
	case overflows3(d.DebitsPending, d.DebitsPosted, amount):
		return TransferOverflowsDebits
	case overflows3(c.CreditsPending, c.CreditsPosted, amount):
		return TransferOverflowsCredits
	case pending && t.Timeout != 0 && timeoutOverflows(ts, t.Timeout):
		return TransferOverflowsTimeout
	case d.Flags&AccountDebitsMustNotExceedCredits != 0 &&
		d.DebitsPending+d.DebitsPosted+amount > d.CreditsPosted:
		return TransferExceedsCredits
	case c.Flags&AccountCreditsMustNotExceedDebits != 0 &&
		c.CreditsPending+c.CreditsPosted+amount > c.DebitsPosted:
		return TransferExceedsDebits
	}
	return TransferCreated
}

// timeoutOverflows reports a pending transfer that would expire after the
// last timestamp the engine can reach (MaxTimestamp).
func timeoutOverflows(ts uint64, timeout uint32) bool {
	return uint64(timeout)*1e9 > MaxTimestamp-ts // timeout·1e9 < 2^62: no overflow
}

// applyTransfer creates a checked transfer that moves amount.
func (s *State) applyTransfer(t *Transfer, dr, cr int32, amount, ts uint64) {
	n := *t
	n.Amount = amount
	n.Timestamp = ts
	slot := s.insertTransfer(&n)
	d, c := s.mutAccount(dr), s.mutAccount(cr)
	if n.Flags&TransferPending != 0 {
		d.DebitsPending += amount
		c.CreditsPending += amount
		info := PendingInfo{State: PendingActive}
		if n.Timeout != 0 {
			info.ExpiresAt = ts + uint64(n.Timeout)*1e9
			heap.Push(&s.expiry, expiryEntry{expiresAt: info.ExpiresAt, timestamp: ts, id: n.ID})
		}
		s.setPending(n.ID, info)
		if n.Flags&TransferClosingDebit != 0 {
			d.Flags |= AccountClosed
		}
		if n.Flags&TransferClosingCredit != 0 {
			c.Flags |= AccountClosed
		}
	} else {
		d.DebitsPosted += amount
		c.CreditsPosted += amount
	}
	s.touch(dr, slot, n.ID, true, ts)
	s.touch(cr, slot, n.ID, false, ts)
}

// postOrVoid validates and applies a post or void of a pending transfer,
// statuses 38 to 54.
func (s *State) postOrVoid(t *Transfer, ts, now uint64) (TransferStatus, uint64) {
	pp, ok := s.transfers.get(t.PendingID)
	if !ok {
		return TransferPendingTransferNotFound, 0
	}
	p := *pp
	isVoid := t.Flags&TransferVoidPendingTransfer != 0
	amount := t.Amount
	if isVoid && amount == 0 || !isVoid && amount == AmountMax {
		amount = p.Amount
	}
	info := s.pending[p.ID]
	switch {
	case p.Flags&TransferPending == 0:
		return TransferPendingTransferNotPending, 0
	case !t.DebitAccountID.IsZero() && t.DebitAccountID != p.DebitAccountID:
		return TransferPendingTransferHasDifferentDebitAccountID, 0
	case !t.CreditAccountID.IsZero() && t.CreditAccountID != p.CreditAccountID:
		return TransferPendingTransferHasDifferentCreditAccountID, 0
	case t.Ledger != 0 && t.Ledger != p.Ledger:
		return TransferPendingTransferHasDifferentLedger, 0
	case t.Code != 0 && t.Code != p.Code:
		return TransferPendingTransferHasDifferentCode, 0
	case amount > p.Amount:
		return TransferExceedsPendingTransferAmount, 0
	case isVoid && amount != p.Amount:
		return TransferPendingTransferHasDifferentAmount, 0
	case info.State == PendingPosted:
		return TransferPendingTransferAlreadyPosted, 0
	case info.State == PendingVoided:
		return TransferPendingTransferAlreadyVoided, 0
	case info.State == PendingExpired || info.ExpiresAt != 0 && info.ExpiresAt <= now:
		return TransferPendingTransferExpired, 0
	}
	dr, cr := s.accountIndex[p.DebitAccountID], s.accountIndex[p.CreditAccountID]
	d, c := &s.accounts[dr], &s.accounts[cr]
	if !isVoid {
		switch {
		case d.Flags&AccountClosed != 0:
			return TransferDebitAccountAlreadyClosed, 0
		case c.Flags&AccountClosed != 0:
			return TransferCreditAccountAlreadyClosed, 0
		case overflows(d.DebitsPosted, amount):
			return TransferOverflowsDebitsPosted, 0
		case overflows(c.CreditsPosted, amount):
			return TransferOverflowsCreditsPosted, 0
		}
	}
	n := *t
	n.DebitAccountID, n.CreditAccountID = p.DebitAccountID, p.CreditAccountID
	n.Ledger, n.Code = p.Ledger, p.Code
	n.Amount = amount
	n.Timestamp = ts
	slot := s.insertTransfer(&n)
	if isVoid {
		s.releasePending(&p, dr, cr, PendingVoided, ts, slot)
	} else {
		// releasePending journaled both accounts; d and c point at them.
		s.releasePending(&p, dr, cr, PendingPosted, ts, slot)
		d.DebitsPosted += amount
		c.CreditsPosted += amount
	}
	s.touch(dr, slot, n.ID, true, ts)
	s.touch(cr, slot, n.ID, false, ts)
	return TransferCreated, ts
}

// transferExists compares a re-submitted transfer with the stored one, field
// by field in SPEC order. Fields a post or void may leave zero (accounts,
// ledger, code, and the amount that means "all") are compared only when set;
// a balancing transfer is stored with the amount it actually moved, so a
// re-submission may ask for more.
func transferExists(t, e *Transfer) TransferStatus {
	postOrVoid := t.Flags&postOrVoidFlags != 0
	set := func(v Uint128) bool { return !postOrVoid || !v.IsZero() }
	switch {
	case t.Flags != e.Flags:
		return TransferExistsWithDifferentFlags
	case t.PendingID != e.PendingID:
		return TransferExistsWithDifferentPendingID
	case t.Timeout != e.Timeout:
		return TransferExistsWithDifferentTimeout
	case set(t.DebitAccountID) && t.DebitAccountID != e.DebitAccountID:
		return TransferExistsWithDifferentDebitAccountID
	case set(t.CreditAccountID) && t.CreditAccountID != e.CreditAccountID:
		return TransferExistsWithDifferentCreditAccountID
	case amountDiffers(t, e):
		return TransferExistsWithDifferentAmount
	case t.UserData128 != e.UserData128:
		return TransferExistsWithDifferentUserData128
	case t.UserData64 != e.UserData64:
		return TransferExistsWithDifferentUserData64
	case t.UserData32 != e.UserData32:
		return TransferExistsWithDifferentUserData32
	case (!postOrVoid || t.Ledger != 0) && t.Ledger != e.Ledger:
		return TransferExistsWithDifferentLedger
	case (!postOrVoid || t.Code != 0) && t.Code != e.Code:
		return TransferExistsWithDifferentCode
	}
	return TransferExists
}

func amountDiffers(t, e *Transfer) bool {
	switch {
	case t.Flags&TransferPostPendingTransfer != 0 && t.Amount == AmountMax:
		return false
	case t.Flags&TransferVoidPendingTransfer != 0 && t.Amount == 0:
		return false
	case t.Flags&balancingFlags != 0:
		return t.Amount < e.Amount
	}
	return t.Amount != e.Amount
}
