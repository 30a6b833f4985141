package ledger

import (
	"cmp"
	"fmt"
	"math/bits"
	"reflect"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// Property tests over random sequences of batches. The id space is small so
// that ids collide (exists, id_already_failed, posts of real pendings), every
// transfer flag combination occurs, amounts include 0, AmountMax and values
// that overflow, and batch times go backwards and jump by whole seconds so
// that pending transfers expire.

// propTB is what the helpers need from *testing.T and *rapid.T.
type propTB interface {
	Fatalf(format string, args ...any)
}

const (
	propAccountIDs  = 10 // accounts 1..8 are created first; 9, 10 mostly do not exist
	propTransferIDs = 40
	propStartTime   = 1_000_000_000_000
)

// rapid biases its draws towards the first element of a list and the low end
// of a range, so lists below put the common choices first, and rare events are
// drawn as the top of a range (propChance).

// propAmounts are transfer amounts: everyday ones first, then 0 and values
// that overflow when added.
var propAmounts = []uint64{10, 100, 1, 5, 1000, 0, 2, 3, 1 << 32, 1 << 62, 1 << 63, AmountMax - 1, AmountMax}

// propTimeSteps are the differences between consecutive batch times (ns):
// forward by whole seconds so pending transfers expire, not at all, and
// backwards.
var propTimeSteps = []int64{1e9, 0, 1, 2e9, 50, -1, 3e9, 1e9 + 1, 1e9 - 1, -2e9, 4e9}

// propChance is true roughly once in n draws.
func propChance(t *rapid.T, label string, n int) bool {
	return rapid.IntRange(0, n-1).Draw(t, label) == n-1
}

// propLedgerOf is the ledger of account id in the generated runs: odd ids
// are in ledger 1, even ids in ledger 2 (account events may disagree).
func propLedgerOf(id uint64) uint32 { return uint32(2 - id%2) }

// propGen remembers what earlier events used, so later ones can refer to it.
type propGen struct {
	pendingIDs []Uint128  // ids drawn for pending transfers, most recent first
	usedIDs    []Uint128  // all transfer ids drawn, most recent first
	fresh      uint64     // how many fresh ids were handed out
	idStyle    int        // how fresh ids are made, see propNextID
	past       []Transfer // transfers drawn, most recent first
}

// propGenAccount draws an account event. valid makes a creatable account
// with the given id.
func propGenAccount(t *rapid.T, id uint64, valid bool) Account {
	a := Account{
		ID:     U128(id),
		Ledger: propLedgerOf(id),
		Code:   1,
	}
	if propChance(t, "acct.other_code", 6) {
		a.Code = 2
	}
	if propChance(t, "acct.other_ledger", 20) {
		a.Ledger = 3 - a.Ledger
	}
	switch rapid.IntRange(0, 5).Draw(t, "acct.limit") {
	case 4:
		a.Flags |= AccountCreditsMustNotExceedDebits
	case 5:
		a.Flags |= AccountDebitsMustNotExceedCredits
	}
	if propChance(t, "acct.history", 3) {
		a.Flags |= AccountHistory
	}
	if propChance(t, "acct.closed", 20) {
		a.Flags |= AccountClosed
	}
	if propChance(t, "acct.linked", 6) {
		a.Flags |= AccountLinked
	}
	if propChance(t, "acct.user_data", 8) {
		a.UserData64 = 1
	}
	if valid {
		return a
	}
	switch rapid.IntRange(0, 14).Draw(t, "acct.invalid") {
	case 1:
		a.Ledger = 0
	case 2:
		a.Code = 0
	case 3:
		a.Timestamp = 1
	case 4:
		a.Reserved = 1
	case 5:
		a.Flags |= AccountDebitsMustNotExceedCredits | AccountCreditsMustNotExceedDebits
	case 6:
		a.Flags |= 16 // reserved flag
	case 7:
		a.CreditsPosted = 5
	case 8:
		a.DebitsPending = 5
	case 9:
		a.Version = 3
	case 10:
		a.ID = Uint128{}
	case 11:
		a.ID = MaxUint128
	}
	return a
}

// propTransferPhases are the kinds of transfer drawn; propPhaseAny stands for
// any combination of the eight flags (and sometimes a reserved one).
const propPhaseAny = 0xffff

var propTransferPhases = []TransferFlags{0, TransferPending, 0, TransferPostPendingTransfer,
	TransferPending, TransferVoidPendingTransfer, propPhaseAny, TransferPostPendingTransfer,
	TransferVoidPendingTransfer, propPhaseAny}

// propGenTransfer draws a transfer event.
func (g *propGen) propGenTransfer(t *rapid.T) Transfer {
	if len(g.past) > 0 && propChance(t, "tr.resubmit", 10) {
		// The same request again: exists, or its first outcome's echo.
		return rapid.SampledFrom(g.past).Draw(t, "tr.resubmitted")
	}
	tr := g.propDrawTransfer(t)
	g.past = slices.Insert(g.past, 0, tr)
	return tr
}

func (g *propGen) propDrawTransfer(t *rapid.T) Transfer {
	var tr Transfer
	f := rapid.SampledFrom(propTransferPhases).Draw(t, "tr.phase")
	if f == propPhaseAny {
		f = TransferFlags(rapid.Uint16Range(0, 0xff).Draw(t, "tr.anyflags"))
		if propChance(t, "tr.reserved_flag", 10) {
			f |= 0x100
		}
	} else {
		if f&postOrVoidFlags == 0 {
			switch rapid.IntRange(0, 7).Draw(t, "tr.balancing") {
			case 5:
				f |= TransferBalancingDebit
			case 6:
				f |= TransferBalancingCredit
			case 7:
				f |= TransferBalancingDebit | TransferBalancingCredit
			}
		}
		if f&TransferPending != 0 {
			switch rapid.IntRange(0, 29).Draw(t, "tr.closing") {
			case 28:
				f |= TransferClosingDebit
			case 29:
				f |= TransferClosingCredit
			}
		}
		if propChance(t, "tr.linked", 8) {
			f |= TransferLinked
		}
	}
	tr.Flags = f
	postOrVoid := f&postOrVoidFlags != 0

	// Ids: handed out in turn (wrapping, so old ids come back), or re-used
	// on purpose so that exists_with_different_* and id_already_failed happen.
	if len(g.usedIDs) > 0 && propChance(t, "tr.reuse_id", 8) {
		tr.ID = rapid.SampledFrom(g.usedIDs).Draw(t, "tr.reused_id")
	} else {
		tr.ID = g.propNextID()
	}
	g.usedIDs = slices.Insert(g.usedIDs, 0, tr.ID)
	if f&TransferPending != 0 {
		g.pendingIDs = slices.Insert(g.pendingIDs, 0, tr.ID)
	}

	// Two accounts of one ledger: index k in 0..3 of ledger L is account L+2k.
	ledger := rapid.Uint32Range(1, 2).Draw(t, "tr.ledger")
	dk := rapid.Uint64Range(0, 3).Draw(t, "tr.debit_index")
	ck := (dk + rapid.Uint64Range(1, 3).Draw(t, "tr.credit_offset")) % 4
	tr.DebitAccountID, tr.CreditAccountID = U128(uint64(ledger)+2*dk), U128(uint64(ledger)+2*ck)
	tr.Ledger, tr.Code = ledger, 1
	tr.Amount = rapid.SampledFrom(propAmounts).Draw(t, "tr.amount")
	if f&TransferPending != 0 {
		tr.Timeout = rapid.Uint32Range(0, 3).Draw(t, "tr.timeout")
	}
	if propChance(t, "tr.user_data", 10) {
		tr.UserData32 = 1
	}

	if postOrVoid {
		// Posts and voids mostly name the latest pending transfer drawn and
		// mostly leave accounts, ledger and code for the engine to fill in.
		switch {
		case len(g.pendingIDs) == 0:
			tr.PendingID = U128(rapid.Uint64Range(1, propTransferIDs).Draw(t, "tr.any_pending_id"))
		case !propChance(t, "tr.older_pending", 3):
			tr.PendingID = g.pendingIDs[0]
		default:
			tr.PendingID = rapid.SampledFrom(g.pendingIDs).Draw(t, "tr.pending_id")
		}
		if !propChance(t, "tr.set_fields", 4) {
			tr.DebitAccountID, tr.CreditAccountID, tr.Ledger, tr.Code = Uint128{}, Uint128{}, 0, 0
		}
		switch rapid.IntRange(0, 4).Draw(t, "tr.post_amount") {
		case 0, 1:
			if f&TransferVoidPendingTransfer != 0 {
				tr.Amount = 0
			} else {
				tr.Amount = AmountMax
			}
		case 2:
			if f&TransferVoidPendingTransfer != 0 {
				tr.Amount = AmountMax
			} else {
				tr.Amount = 0
			}
		}
	}

	// Now and then exactly one mistake or oddity.
	if propChance(t, "tr.odd", 4) {
		switch rapid.IntRange(0, 14).Draw(t, "tr.oddity") {
		case 0:
			tr.DebitAccountID = Uint128{}
		case 1:
			tr.CreditAccountID = Uint128{}
		case 2:
			tr.DebitAccountID = U128(rapid.Uint64Range(9, propAccountIDs).Draw(t, "tr.missing_debit"))
		case 3:
			tr.CreditAccountID = U128(rapid.Uint64Range(9, propAccountIDs).Draw(t, "tr.missing_credit"))
		case 4:
			tr.CreditAccountID = U128(uint64(3-ledger) + 2*ck) // other ledger
		case 5:
			tr.CreditAccountID = tr.DebitAccountID
		case 6:
			tr.Ledger = 3 - ledger
		case 7:
			tr.Ledger = 0
		case 8:
			tr.Code = 0
		case 9:
			tr.Code = 2
		case 10:
			tr.PendingID = U128(rapid.Uint64Range(1, propTransferIDs).Draw(t, "tr.stray_pending"))
		case 11:
			tr.Timeout = rapid.Uint32Range(1, 3).Draw(t, "tr.stray_timeout")
		case 12:
			tr.Timestamp = 1
		case 13:
			tr.DebitAccountID = MaxUint128
		case 14:
			tr.ID = Uint128{}
		}
	}
	return tr
}

// propNextID hands out the next fresh transfer id. Style 0 (the most
// common) wraps within 1..40 so ids collide; the others exercise the
// transfer table: ids increasing, increasing in 128-bit order while their
// low halves decrease, and decreasing.
func (g *propGen) propNextID() Uint128 {
	g.fresh++
	switch g.idStyle {
	case 1:
		return U128(g.fresh)
	case 2:
		return Uint128{Hi: g.fresh, Lo: ^uint64(0) - g.fresh}
	case 3:
		return U128(1 << 20 / g.fresh)
	}
	return U128((g.fresh-1)%propTransferIDs + 1)
}

// propIDs returns every transfer id and pending id the batches name.
func propIDs(batches []Batch) []Uint128 {
	seen := map[Uint128]bool{}
	var out []Uint128
	for _, b := range batches {
		for _, tr := range b.Transfers {
			for _, id := range []Uint128{tr.ID, tr.PendingID} {
				if !seen[id] {
					seen[id] = true
					out = append(out, id)
				}
			}
		}
	}
	return out
}

// propGenBatches draws a sequence of batches: first one creating accounts
// 1..8, then transfer batches mixed with account and expiry batches.
func propGenBatches(t *rapid.T) ([]Batch, *propGen) {
	g := &propGen{idStyle: rapid.IntRange(0, 3).Draw(t, "id_style")}
	version := uint64(0)
	now := uint64(propStartTime)
	nextBatch := func(kind BatchKind) Batch {
		version += rapid.Uint64Range(1, 3).Draw(t, "version_step")
		step := rapid.SampledFrom(propTimeSteps).Draw(t, "time_step")
		if step < 0 && uint64(-step) > now {
			now = 0
		} else {
			now = uint64(int64(now) + step)
		}
		return Batch{Kind: kind, Version: version, Time: now}
	}
	first := nextBatch(KindAccounts)
	for id := uint64(1); id <= 8; id++ {
		first.Accounts = append(first.Accounts, propGenAccount(t, id, true))
	}
	// Keep the first batch usable: no chain left open at its end.
	first.Accounts[7].Flags &^= AccountLinked
	batches := []Batch{first}
	n := rapid.IntRange(1, 12).Draw(t, "batches")
	for i := 0; i < n; i++ {
		switch k := rapid.IntRange(0, 9).Draw(t, "kind"); {
		case k == 8:
			b := nextBatch(KindAccounts)
			m := rapid.IntRange(1, 4).Draw(t, "accounts")
			for j := 0; j < m; j++ {
				id := rapid.Uint64Range(1, propAccountIDs).Draw(t, "acct.id")
				b.Accounts = append(b.Accounts, propGenAccount(t, id, !propChance(t, "acct.invalid_event", 2)))
			}
			batches = append(batches, b)
		case k == 9:
			batches = append(batches, nextBatch(KindExpire))
		default:
			b := nextBatch(KindTransfers)
			m := rapid.IntRange(1, 10).Draw(t, "transfers")
			for j := 0; j < m; j++ {
				b.Transfers = append(b.Transfers, g.propGenTransfer(t))
			}
			batches = append(batches, b)
		}
	}
	return batches, g
}

// ---- applying and snapshotting -----------------------------------------------

func propCopyEffects(e *Effects) Effects {
	c := *e
	c.Transfers = slices.Clip(slices.Clone(e.Transfers))
	c.Touches = slices.Clip(slices.Clone(e.Touches))
	c.Changed = slices.Clip(slices.Clone(e.Changed))
	c.Pending = slices.Clip(slices.Clone(e.Pending))
	c.Failed = slices.Clip(slices.Clone(e.Failed))
	for _, p := range []any{&c.Transfers, &c.Touches, &c.Changed, &c.Pending, &c.Failed} {
		v := reflect.ValueOf(p).Elem()
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
		}
	}
	return c
}

func propCloneBatch(b *Batch) Batch {
	c := *b
	c.Accounts = slices.Clone(b.Accounts)
	c.Transfers = slices.Clone(b.Transfers)
	return c
}

// propApply applies b to s and returns copies of the results and effects.
func propApply(tb propTB, s *State, b *Batch) ([]Result, Effects) {
	results := make([]Result, len(b.Accounts)+len(b.Transfers))
	eff, err := s.Apply(b, results)
	if err != nil {
		tb.Fatalf("Apply(version %d, kind %d): %v", b.Version, b.Kind, err)
	}
	return results, propCopyEffects(eff)
}

func propAccounts(s *State) []Account {
	var out []Account
	s.Accounts(func(a *Account) bool { out = append(out, *a); return true })
	return out
}

// propEngineNow is the engine time Apply uses for b on a state whose last
// timestamp was last.
func propEngineNow(b *Batch, last uint64) uint64 { return max(b.Time, last+1) }

// ---- invariants ------------------------------------------------------------

// prop128 is an overflow-free accumulator.
type prop128 struct{ hi, lo uint64 }

func (p *prop128) add(v uint64) {
	var c uint64
	p.lo, c = bits.Add64(p.lo, v, 0)
	p.hi += c
}

func propSum(vs ...uint64) prop128 {
	var p prop128
	for _, v := range vs {
		p.add(v)
	}
	return p
}

func (p prop128) le(q prop128) bool { return p.hi < q.hi || p.hi == q.hi && p.lo <= q.lo }

// propCheckConservation checks SPEC §2 conservation per ledger.
func propCheckConservation(tb propTB, s *State) {
	type sums struct{ dPend, dPost, cPend, cPost prop128 }
	per := map[uint32]*sums{}
	s.Accounts(func(a *Account) bool {
		x := per[a.Ledger]
		if x == nil {
			x = &sums{}
			per[a.Ledger] = x
		}
		x.dPend.add(a.DebitsPending)
		x.dPost.add(a.DebitsPosted)
		x.cPend.add(a.CreditsPending)
		x.cPost.add(a.CreditsPosted)
		return true
	})
	for ledger, x := range per {
		if x.dPost != x.cPost {
			tb.Fatalf("ledger %d: Σ debits_posted %v != Σ credits_posted %v", ledger, x.dPost, x.cPost)
		}
		if x.dPend != x.cPend {
			tb.Fatalf("ledger %d: Σ debits_pending %v != Σ credits_pending %v", ledger, x.dPend, x.cPend)
		}
	}
}

// propCheckLimits checks the balance-limit account flags.
func propCheckLimits(tb propTB, s *State) {
	s.Accounts(func(a *Account) bool {
		if a.Flags&AccountDebitsMustNotExceedCredits != 0 &&
			!propSum(a.DebitsPending, a.DebitsPosted).le(propSum(a.CreditsPosted)) {
			tb.Fatalf("account %v (debits_must_not_exceed_credits): debits_pending %d + debits_posted %d > credits_posted %d",
				a.ID, a.DebitsPending, a.DebitsPosted, a.CreditsPosted)
		}
		if a.Flags&AccountCreditsMustNotExceedDebits != 0 &&
			!propSum(a.CreditsPending, a.CreditsPosted).le(propSum(a.DebitsPosted)) {
			tb.Fatalf("account %v (credits_must_not_exceed_debits): credits_pending %d + credits_posted %d > debits_posted %d",
				a.ID, a.CreditsPending, a.CreditsPosted, a.DebitsPosted)
		}
		return true
	})
}

// propCheckPending checks every account's pending balances against the
// active pending transfers in ids, the expiry bookkeeping of those
// transfers, and NextExpiry. now is the engine time of the last batch.
func propCheckPending(tb propTB, s *State, ids map[Uint128]bool, now uint64) {
	debit := map[Uint128]*prop128{}
	credit := map[Uint128]*prop128{}
	s.Accounts(func(a *Account) bool {
		debit[a.ID], credit[a.ID] = &prop128{}, &prop128{}
		return true
	})
	var next uint64
	for id := range ids {
		tr, ok := s.Transfer(id)
		if !ok || tr.Flags&TransferPending == 0 {
			tb.Fatalf("pending transfer %v: stored %v %+v", id, ok, tr)
		}
		info, ok := s.Pending(id)
		if !ok {
			tb.Fatalf("pending transfer %v has no PendingInfo", id)
		}
		if info.State != PendingActive {
			continue
		}
		if tr.Timeout == 0 && info.ExpiresAt != 0 ||
			tr.Timeout != 0 && info.ExpiresAt != tr.Timestamp+uint64(tr.Timeout)*1e9 {
			tb.Fatalf("pending %v: timestamp %d timeout %d but ExpiresAt %d", id, tr.Timestamp, tr.Timeout, info.ExpiresAt)
		}
		if info.ExpiresAt != 0 && info.ExpiresAt <= now {
			tb.Fatalf("pending %v still active at engine time %d, past its expiry %d", id, now, info.ExpiresAt)
		}
		if info.ExpiresAt != 0 && (next == 0 || info.ExpiresAt < next) {
			next = info.ExpiresAt
		}
		d, c := debit[tr.DebitAccountID], credit[tr.CreditAccountID]
		if d == nil || c == nil {
			tb.Fatalf("pending %v names a missing account: %+v", id, tr)
		}
		d.add(tr.Amount)
		c.add(tr.Amount)
	}
	s.Accounts(func(a *Account) bool {
		if got, want := propSum(a.DebitsPending), *debit[a.ID]; got != want {
			tb.Fatalf("account %v: debits_pending %d, active pending debits sum to %v", a.ID, a.DebitsPending, want)
		}
		if got, want := propSum(a.CreditsPending), *credit[a.ID]; got != want {
			tb.Fatalf("account %v: credits_pending %d, active pending credits sum to %v", a.ID, a.CreditsPending, want)
		}
		return true
	})
	if got := s.NextExpiry(); got != next {
		tb.Fatalf("NextExpiry() = %d, earliest active expiry is %d", got, next)
	}
}

// propStatusName formats a status of the batch's kind.
func propStatusName(kind BatchKind, st uint32) string {
	if kind == KindAccounts {
		return fmt.Sprintf("%d:%v", st, AccountStatus(st))
	}
	return fmt.Sprintf("%d:%v", st, TransferStatus(st))
}

// propChains returns, for each event, the index of the first event of its
// linked chain (an unlinked event is its own chain).
func propChains(linked []bool) []int {
	start := make([]int, len(linked))
	s := 0
	for i := range linked {
		start[i] = s
		if !linked[i] {
			s = i + 1
		}
	}
	return start
}

func propLinked(b *Batch) []bool {
	var out []bool
	for i := range b.Accounts {
		out = append(out, b.Accounts[i].Flags&AccountLinked != 0)
	}
	for i := range b.Transfers {
		out = append(out, b.Transfers[i].Flags&TransferLinked != 0)
	}
	return out
}

// propEventID returns event i's id.
func propEventID(b *Batch, i int) Uint128 {
	if b.Kind == KindAccounts {
		return b.Accounts[i].ID
	}
	return b.Transfers[i].ID
}

// propCheckBatch checks one applied batch's results and effects for
// internal consistency: chain rules, Effects.Transfers matching the created
// transfers, Changed and account versions.
func propCheckBatch(tb propTB, s *State, b *Batch, rs []Result, eff Effects) {
	linked := propLinked(b)
	for i := 0; i < len(rs); {
		j := i
		for j < len(rs)-1 && linked[j] {
			j++
		}
		// Chain [i, j]: either all created, or exactly one own failure (or a
		// chain_open at the end) and linked_event_failed for the rest.
		// A chain still open at the end reports chain_open on its last event
		// on top of the failure (if any) that broke it earlier.
		own := 0
		for k := i; k <= j; k++ {
			if k == j && linked[j] {
				continue
			}
			if st := rs[k].Status; st != statusCreated && st != statusLinkedEventFailed {
				own++
			}
		}
		if own > 1 {
			tb.Fatalf("chain [%d,%d] has %d own failures: %v", i, j, own, rs[i:j+1])
		}
		if own == 0 && !linked[j] {
			for k := i; k <= j; k++ {
				if rs[k].Status != statusCreated {
					tb.Fatalf("chain [%d,%d] linked_event_failed without a cause: %v", i, j, rs[i:j+1])
				}
			}
		} else {
			for k := i; k <= j; k++ {
				if rs[k].Status == statusCreated {
					tb.Fatalf("chain [%d,%d] failed but event %d created: %v", i, j, k, rs[i:j+1])
				}
			}
		}
		if linked[j] && rs[j].Status != statusChainOpen {
			tb.Fatalf("chain [%d,%d] open at the end of the batch, last status %s", i, j, propStatusName(b.Kind, rs[j].Status))
		}
		i = j + 1
	}
	if b.Kind == KindTransfers {
		var created []Transfer
		for i, r := range rs {
			if r.Status == statusCreated {
				stored, ok := s.Transfer(b.Transfers[i].ID)
				if !ok {
					tb.Fatalf("event %d created but transfer %v not stored", i, b.Transfers[i].ID)
				}
				created = append(created, stored)
			}
		}
		if !slices.Equal(created, eff.Transfers) {
			tb.Fatalf("Effects.Transfers %+v\n!= created transfers %+v", eff.Transfers, created)
		}
	} else if len(eff.Transfers) != 0 {
		tb.Fatalf("%d effect transfers in a batch of kind %d", len(eff.Transfers), b.Kind)
	}
	seen := map[int32]bool{}
	for _, i := range eff.Changed {
		if seen[i] {
			tb.Fatalf("account index %d listed twice in Changed %v", i, eff.Changed)
		}
		seen[i] = true
		if v := s.AccountAt(i).Version; v != b.Version {
			tb.Fatalf("changed account %d has version %d, batch version %d", i, v, b.Version)
		}
	}
	for i := 0; i < s.AccountCount(); i++ {
		if !seen[int32(i)] && s.AccountAt(int32(i)).Version >= b.Version {
			tb.Fatalf("unchanged account %d has version %d, batch version %d", i, s.AccountAt(int32(i)).Version, b.Version)
		}
	}
	last := map[int32]Balance{}
	prevTS := uint64(0)
	for k, tc := range eff.Touches {
		if !seen[tc.Account] {
			tb.Fatalf("touched account %d not in Changed %v", tc.Account, eff.Changed)
		}
		if tc.Balance.Timestamp < prevTS {
			tb.Fatalf("touch %d at %d before the previous one at %d", k, tc.Balance.Timestamp, prevTS)
		}
		prevTS = tc.Balance.Timestamp
		a := s.AccountAt(tc.Account)
		var side Uint128
		if tc.Slot >= 0 {
			if int(tc.Slot) >= len(eff.Transfers) {
				tb.Fatalf("touch %d names slot %d of %d transfers", k, tc.Slot, len(eff.Transfers))
			}
			tr := eff.Transfers[tc.Slot]
			if tr.ID != tc.TransferID || tr.Timestamp != tc.Balance.Timestamp {
				tb.Fatalf("touch %d: transfer %v at %d, slot %d holds %v at %d", k, tc.TransferID,
					tc.Balance.Timestamp, tc.Slot, tr.ID, tr.Timestamp)
			}
			side = tr.CreditAccountID
			if tc.Debit {
				side = tr.DebitAccountID
			}
		} else {
			p, ok := s.Transfer(tc.TransferID)
			if info, _ := s.Pending(tc.TransferID); !ok || info.State != PendingExpired {
				tb.Fatalf("expiry touch %d names %v, which is not an expired pending transfer", k, tc.TransferID)
			}
			side = p.CreditAccountID
			if tc.Debit {
				side = p.DebitAccountID
			}
		}
		if side != a.ID {
			tb.Fatalf("touch %d is on account %v, but the transfer's side is %v", k, a.ID, side)
		}
		last[tc.Account] = tc.Balance
	}
	// The last touch of an account in the batch holds its final balances.
	for i, bal := range last {
		a := s.AccountAt(i)
		if got := a.balance(bal.Timestamp); got != bal {
			tb.Fatalf("account %v ends the batch with %+v, its last touch says %+v", a.ID, got, bal)
		}
	}
	finalPending := map[Uint128]PendingInfo{}
	for _, pc := range eff.Pending {
		finalPending[pc.ID] = pc.Info
	}
	for id, info := range finalPending {
		if got, _ := s.Pending(id); got != info {
			tb.Fatalf("pending %v: Effects.Pending ends with %+v, state has %+v", id, info, got)
		}
	}
	for _, f := range eff.Failed {
		if got, ok := s.Failed(f.ID); !ok || got != f.Status || !f.Status.transient() {
			tb.Fatalf("Effects.Failed has %v %v, state has %v %v", f.ID, f.Status, got, ok)
		}
	}
	if eff.Version != b.Version || s.Version() != b.Version || eff.LastTimestamp != s.LastTimestamp() {
		tb.Fatalf("effects version %d / last ts %d, state version %d / last ts %d, batch version %d",
			eff.Version, eff.LastTimestamp, s.Version(), s.LastTimestamp(), b.Version)
	}
}

// propPendingIDs adds the pending transfers a batch created to ids.
func propPendingIDs(ids map[Uint128]bool, eff *Effects) {
	for _, tr := range eff.Transfers {
		if tr.Flags&TransferPending != 0 {
			ids[tr.ID] = true
		}
	}
}

// ---- properties ------------------------------------------------------------

func TestPropConservationAndLimits(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		batches, _ := propGenBatches(t)
		s := NewState(0, 0)
		for i := range batches {
			rs, eff := propApply(t, s, &batches[i])
			propCheckBatch(t, s, &batches[i], rs, eff)
			propCheckConservation(t, s)
			propCheckLimits(t, s)
		}
	})
}

func TestPropPendingAccounting(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		batches, _ := propGenBatches(t)
		s := NewState(0, 0)
		ids := map[Uint128]bool{}
		for i := range batches {
			now := propEngineNow(&batches[i], s.LastTimestamp())
			_, eff := propApply(t, s, &batches[i])
			propPendingIDs(ids, &eff)
			propCheckPending(t, s, ids, now)
			// Every pending id ever created still is a pending transfer
			// whose life cycle only moves forward from active.
			for _, pc := range eff.Pending {
				if pc.Info.State != PendingActive && pc.Info.ExpiresAt != 0 {
					t.Fatalf("ended pending %v keeps ExpiresAt %d", pc.ID, pc.Info.ExpiresAt)
				}
			}
		}
	})
}

func TestPropTimestamps(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		batches, _ := propGenBatches(t)
		s := NewState(0, 0)
		seen := map[uint64]string{}
		for bi := range batches {
			b := &batches[bi]
			prevLast := s.LastTimestamp()
			now := propEngineNow(b, prevLast)
			rs, eff := propApply(t, s, b)
			if s.LastTimestamp() < prevLast {
				t.Fatalf("LastTimestamp went back from %d to %d", prevLast, s.LastTimestamp())
			}
			claim := func(ts uint64, what string) {
				if ts <= prevLast {
					t.Fatalf("batch %d: %s has timestamp %d, not after the previous batches' %d", bi, what, ts, prevLast)
				}
				if ts > s.LastTimestamp() {
					t.Fatalf("batch %d: %s has timestamp %d after LastTimestamp %d", bi, what, ts, s.LastTimestamp())
				}
				if ts < now {
					t.Fatalf("batch %d: %s has timestamp %d before engine time %d", bi, what, ts, now)
				}
				if other, dup := seen[ts]; dup {
					t.Fatalf("batch %d: %s reuses timestamp %d of %s", bi, what, ts, other)
				}
				seen[ts] = what
			}
			made := false
			expired := map[Uint128]uint64{}
			for _, tc := range eff.Touches {
				if tc.Slot == -1 {
					if ts, ok := expired[tc.TransferID]; ok && ts != tc.Balance.Timestamp {
						t.Fatalf("expiry of %v touched at %d and %d", tc.TransferID, ts, tc.Balance.Timestamp)
					}
					expired[tc.TransferID] = tc.Balance.Timestamp
				}
			}
			for id, ts := range expired {
				claim(ts, fmt.Sprintf("expiry of %v", id))
				made = true
			}
			linked := propLinked(b)
			for i, r := range rs {
				id := propEventID(b, i)
				switch {
				case r.Status == statusCreated:
					claim(r.Timestamp, fmt.Sprintf("batch %d event %d (%v)", bi, i, id))
					made = true
					var stored uint64
					if b.Kind == KindAccounts {
						a, _ := s.Account(id)
						stored = a.Timestamp
					} else {
						tr, _ := s.Transfer(id)
						stored = tr.Timestamp
					}
					if stored != r.Timestamp {
						t.Fatalf("event %d created at %d but stored with timestamp %d", i, r.Timestamp, stored)
					}
				case r.Status == uint32(TransferExists) && b.Kind == KindTransfers ||
					r.Status == uint32(AccountExists) && b.Kind == KindAccounts:
					standalone := !linked[i] && (i == 0 || !linked[i-1])
					if !standalone {
						break
					}
					var stored uint64
					if b.Kind == KindAccounts {
						a, _ := s.Account(id)
						stored = a.Timestamp
					} else {
						tr, _ := s.Transfer(id)
						stored = tr.Timestamp
					}
					if stored == 0 || r.Timestamp != stored {
						t.Fatalf("event %d exists with timestamp %d, stored object's is %d", i, r.Timestamp, stored)
					}
				case r.Status >= 3:
					// Every other failure, exists_with_different_* included,
					// carries no timestamp (Result's doc comment).
					if r.Timestamp != 0 {
						t.Fatalf("event %d failed %s with timestamp %d", i, propStatusName(b.Kind, r.Status), r.Timestamp)
					}
				case r.Status == statusLinkedEventFailed || r.Status == statusChainOpen:
					if r.Timestamp != 0 {
						t.Fatalf("event %d %s with timestamp %d", i, propStatusName(b.Kind, r.Status), r.Timestamp)
					}
				}
			}
			_ = made
			// Every event and every expiry consumes one timestamp, failed or
			// not, starting at the batch's engine time.
			if used := uint64(len(rs) + len(expired)); used > 0 {
				if eff.FirstTimestamp != now || s.LastTimestamp() != now+used-1 {
					t.Fatalf("batch %d: %d timestamps used from engine time %d, but FirstTimestamp %d, LastTimestamp %d",
						bi, used, now, eff.FirstTimestamp, s.LastTimestamp())
				}
			} else if eff.FirstTimestamp != 0 || s.LastTimestamp() != prevLast {
				t.Fatalf("batch %d: nothing happened but FirstTimestamp %d, LastTimestamp %d -> %d",
					bi, eff.FirstTimestamp, prevLast, s.LastTimestamp())
			}
		}
	})
}

// propSnapshot is everything observable about a State for the replay test.
type propSnapshot struct {
	Version, LastTimestamp uint64
	Accounts               []Account
	TransferCount          int
	Transfers              map[Uint128]Transfer
	Pending                map[Uint128]PendingInfo
	Failed                 map[Uint128]TransferStatus
	NextExpiry             uint64
}

// propSnap snapshots s, looking up the transfers with the given ids.
func propSnap(s *State, ids []Uint128) propSnapshot {
	sn := propSnapshot{Version: s.Version(), LastTimestamp: s.LastTimestamp(), Accounts: propAccounts(s),
		TransferCount: s.TransferCount(), Transfers: map[Uint128]Transfer{}, Pending: map[Uint128]PendingInfo{},
		Failed: map[Uint128]TransferStatus{}, NextExpiry: s.NextExpiry()}
	for _, id := range ids {
		if tr, ok := s.Transfer(id); ok {
			sn.Transfers[id] = tr
		}
		if p, ok := s.Pending(id); ok {
			sn.Pending[id] = p
		}
		if f, ok := s.Failed(id); ok {
			sn.Failed[id] = f
		}
	}
	return sn
}

// propSmallIDs are the ids 0..41 and 2^128-1.
func propSmallIDs() []Uint128 {
	out := []Uint128{MaxUint128}
	for id := uint64(0); id <= propTransferIDs+1; id++ {
		out = append(out, U128(id))
	}
	return out
}

func TestPropReplayEquality(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		batches, g := propGenBatches(t)
		ids := propIDs(batches)
		s1, s2 := NewState(0, 0), NewState(16, 64)
		for i := range batches {
			b1, b2 := propCloneBatch(&batches[i]), propCloneBatch(&batches[i])
			r1, e1 := propApply(t, s1, &b1)
			r2, e2 := propApply(t, s2, &b2)
			if !slices.Equal(r1, r2) {
				t.Fatalf("batch %d results differ:\n%v\n%v", i, r1, r2)
			}
			if !reflect.DeepEqual(e1, e2) {
				t.Fatalf("batch %d effects differ:\n%+v\n%+v", i, e1, e2)
			}
			if n1, n2 := propSnap(s1, ids), propSnap(s2, ids); !reflect.DeepEqual(n1, n2) {
				t.Fatalf("batch %d states differ:\n%+v\n%+v", i, n1, n2)
			}
		}
		// A State restored from the first one's contents answers the same
		// next batch identically (the Restore path mirrors Apply's state).
		r := NewState(0, 0)
		for _, a := range propAccounts(s1) {
			r.RestoreAccount(a)
		}
		sn := propSnap(s1, ids)
		if len(sn.Transfers) != sn.TransferCount {
			t.Fatalf("%d transfers found by id, TransferCount %d", len(sn.Transfers), sn.TransferCount)
		}
		// Transfers are restored in creation order, as RestoreTransfer asks.
		var stored []Transfer
		for _, tr := range sn.Transfers {
			stored = append(stored, tr)
		}
		slices.SortFunc(stored, func(a, b Transfer) int { return cmp.Compare(a.Timestamp, b.Timestamp) })
		for _, tr := range stored {
			r.RestoreTransfer(tr)
		}
		for _, id := range ids {
			if p, ok := sn.Pending[id]; ok {
				r.RestorePending(id, p)
			}
			if f, ok := sn.Failed[id]; ok {
				r.RestoreFailed(id, f)
			}
		}
		r.RestoreClock(s1.Version(), s1.LastTimestamp())
		next := Batch{Kind: KindTransfers, Version: s1.Version() + 1,
			Time: s1.LastTimestamp() + rapid.SampledFrom([]uint64{0, 1e9, 3e9}).Draw(t, "restore_step")}
		for j, m := 0, rapid.IntRange(1, 8).Draw(t, "restore_transfers"); j < m; j++ {
			next.Transfers = append(next.Transfers, g.propGenTransfer(t))
		}
		b1, b2 := propCloneBatch(&next), propCloneBatch(&next)
		r1, e1 := propApply(t, s1, &b1)
		r2, e2 := propApply(t, r, &b2)
		if !slices.Equal(r1, r2) {
			t.Fatalf("restored state answers differently:\n%v\n%v", r1, r2)
		}
		if !reflect.DeepEqual(e1.Transfers, e2.Transfers) || !reflect.DeepEqual(e1.Touches, e2.Touches) {
			t.Fatalf("restored state's effects differ:\n%+v\n%+v", e1, e2)
		}
		ids = append(ids, propIDs([]Batch{next})...)
		if n1, n2 := propSnap(s1, ids), propSnap(r, ids); !reflect.DeepEqual(n1, n2) {
			t.Fatalf("restored state diverged:\n%+v\n%+v", n1, n2)
		}
	})
}

// propStateDependent are the non-transient transfer failures that depend on
// balances that can go down again (pending amounts, or a balancing clamp).
// SPEC §2 does not list them as transient, so a re-submission may succeed.
func propStateDependent(st uint32) bool {
	return st >= uint32(TransferOverflowsDebitsPending) && st <= uint32(TransferOverflowsCredits)
}

func TestPropIdempotency(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		batches, _ := propGenBatches(t)
		s := NewState(0, 0)
		version := uint64(0)
		for bi := range batches {
			b := propCloneBatch(&batches[bi])
			b.Version += version // keep room for the re-applied batches
			r1, _ := propApply(t, s, &b)
			if b.Kind == KindExpire {
				continue
			}
			before := propAccounts(s)
			transfers, accounts := s.TransferCount(), s.AccountCount()
			again := propCloneBatch(&batches[bi])
			version++
			again.Version = b.Version + 1
			again.Time = 0 // clamped to right after the last timestamp
			r2, eff := propApply(t, s, &again)
			propCheckConservation(t, s)
			propCheckLimits(t, s)

			linked := propLinked(&again)
			chains := propChains(linked)
			// breaker[c] is the first own (not created, not linked_event_failed)
			// status of the chain starting at c in the first application.
			breaker := map[int]uint32{}
			for i, r := range r1 {
				if _, ok := breaker[chains[i]]; !ok && r.Status != statusCreated && r.Status != statusLinkedEventFailed {
					breaker[chains[i]] = r.Status
				}
			}
			retried := false // a state-dependent failure succeeded on retry
			for i := range r2 {
				first, second := r1[i].Status, r2[i].Status
				desc := fmt.Sprintf("batch %d event %d (id %v): first %s, again %s", bi, i, propEventID(&again, i),
					propStatusName(again.Kind, first), propStatusName(again.Kind, second))
				if again.Kind == KindAccounts {
					switch {
					case second == statusCreated:
						t.Fatalf("account re-applied and created: %s", desc)
					case first == statusCreated && chains[i] == i && second != uint32(AccountExists):
						t.Fatalf("created account not answered exists: %s", desc)
					case first == statusCreated && second != uint32(AccountExists) && second != statusLinkedEventFailed:
						t.Fatalf("%s", desc)
					case first == statusLinkedEventFailed:
					case second == first || second == statusLinkedEventFailed || second == statusChainOpen ||
						second >= uint32(AccountExistsWithDifferentFlags) && second <= uint32(AccountExists):
					default:
						t.Fatalf("unexpected status on re-apply: %s", desc)
					}
					continue
				}
				brk, broken := breaker[chains[i]]
				switch {
				case second == statusCreated:
					if !propStateDependent(first) && !(broken && propStateDependent(brk)) {
						t.Fatalf("transfer re-applied and created: %s", desc)
					}
					retried = true
				case first == statusCreated && chains[i] == i && second != uint32(TransferExists):
					t.Fatalf("created transfer not answered exists: %s", desc)
				case first == statusCreated && second != uint32(TransferExists) && second != statusLinkedEventFailed:
					t.Fatalf("%s", desc)
				case TransferStatus(first).transient() && second != uint32(TransferIDAlreadyFailed) &&
					second != statusLinkedEventFailed && second != statusChainOpen &&
					(second < uint32(TransferExistsWithDifferentFlags) || second > uint32(TransferExists)):
					t.Fatalf("transient failure not answered id_already_failed: %s", desc)
				case first == statusLinkedEventFailed || propStateDependent(first):
					// Rolled back or state-dependent the first time: any
					// failure may be reported now.
				case second == first || second == statusLinkedEventFailed || second == statusChainOpen ||
					second == uint32(TransferIDAlreadyFailed) ||
					second >= uint32(TransferExistsWithDifferentFlags) && second <= uint32(TransferExists):
				default:
					t.Fatalf("unexpected status on re-apply: %s", desc)
				}
			}
			if s.AccountCount() != accounts {
				t.Fatalf("batch %d: re-apply changed the account count %d -> %d", bi, accounts, s.AccountCount())
			}
			if retried {
				continue
			}
			if s.TransferCount() != transfers {
				t.Fatalf("batch %d: re-apply changed the transfer count %d -> %d", bi, transfers, s.TransferCount())
			}
			expiry := false
			for _, tc := range eff.Touches {
				expiry = expiry || tc.Slot == -1
			}
			after := propAccounts(s)
			for i := range before {
				x, y := before[i], after[i]
				if x.DebitsPosted != y.DebitsPosted || x.CreditsPosted != y.CreditsPosted {
					t.Fatalf("batch %d: re-apply changed posted balances of %v: %+v -> %+v", bi, x.ID, x, y)
				}
				if !expiry && x != y {
					t.Fatalf("batch %d: re-apply changed account %v: %+v -> %+v", bi, x.ID, x, y)
				}
				if expiry && (y.DebitsPending > x.DebitsPending || y.CreditsPending > x.CreditsPending) {
					t.Fatalf("batch %d: re-apply raised pending balances of %v: %+v -> %+v", bi, x.ID, x, y)
				}
			}
		}
	})
}

// TestPropGeneratorCoverage makes sure the generator reaches the outcomes
// the properties are about; a property that never sees a post or an expiry
// proves little.
func TestPropGeneratorCoverage(t *testing.T) {
	counts := map[string]int{}
	rapid.Check(t, func(t *rapid.T) {
		batches, _ := propGenBatches(t)
		s := NewState(0, 0)
		for i := range batches {
			b := &batches[i]
			rs, eff := propApply(t, s, b)
			for j, r := range rs {
				if b.Kind != KindTransfers {
					continue
				}
				f := b.Transfers[j].Flags
				st := TransferStatus(r.Status)
				counts["transfer "+st.String()]++
				if st != TransferCreated {
					continue
				}
				switch {
				case f&TransferPostPendingTransfer != 0:
					counts["created post"]++
				case f&TransferVoidPendingTransfer != 0:
					counts["created void"]++
				case f&closingFlags != 0:
					counts["created closing"]++
				case f&TransferPending != 0:
					counts["created pending"]++
				}
				if f&balancingFlags != 0 {
					if tr, _ := s.Transfer(b.Transfers[j].ID); tr.Amount < b.Transfers[j].Amount {
						counts["clamped balancing"]++
					}
				}
				if f&TransferLinked != 0 {
					counts["created linked"]++
				}
			}
			for _, tc := range eff.Touches {
				if tc.Slot == -1 {
					counts["expiry"]++
				}
			}
		}
	})
	for _, k := range []string{"created post", "created void", "created closing", "created pending",
		"clamped balancing", "created linked", "expiry", "transfer exists", "transfer id_already_failed",
		"transfer linked_event_failed", "transfer exceeds_credits"} {
		if counts[k] == 0 {
			t.Errorf("generator never produced %q; counts: %v", k, counts)
		}
	}
	if testing.Verbose() {
		t.Logf("outcome counts: %v", counts)
	}
}

// TestPropTransferTable checks the transfer table against a model (a map and
// a creation-ordered list) under inserts with ids in every order, lookups,
// and chain rollbacks (mark and truncate), sometimes across a chunk boundary.
func TestPropTransferTable(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tab := newTransferTable(rapid.IntRange(0, 8).Draw(t, "hint"))
		model := map[Uint128]Transfer{}
		var order []Uint128
		insert := func(id Uint128) {
			tr := Transfer{ID: id, Amount: uint64(len(order)), Timestamp: uint64(len(order) + 1)}
			tab.insert(&tr)
			model[id] = tr
			order = append(order, id)
		}
		base := uint64(1 << 40)
		if propChance(t, "prefill", 5) {
			// Start just below a chunk boundary with increasing ids.
			for i := 0; i < transferChunk-3; i++ {
				insert(U128(base))
				base++
			}
		}
		var mark *tableMark
		markLen := 0
		check := func(id Uint128) {
			got, ok := tab.get(id)
			want, wok := model[id]
			if ok != wok || ok && *got != want {
				t.Fatalf("get(%v) = %+v, %v; model has %+v, %v", id, got, ok, want, wok)
			}
		}
		steps := rapid.IntRange(1, 60).Draw(t, "steps")
		for i := 0; i < steps; i++ {
			switch op := rapid.IntRange(0, 9).Draw(t, "op"); op {
			case 0, 1, 2, 3:
				var id Uint128
				switch rapid.IntRange(0, 3).Draw(t, "id_kind") {
				case 0: // above every id so far
					base++
					id = U128(base)
				case 1: // small, below the run
					id = U128(rapid.Uint64Range(1, 50).Draw(t, "small"))
				case 2: // high half set: above everything with Hi 0
					id = Uint128{Hi: rapid.Uint64Range(1, 3).Draw(t, "hi"), Lo: rapid.Uint64Range(0, 5).Draw(t, "lo")}
				case 3: // an id inserted earlier, or near it
					if len(order) > 0 {
						id = order[rapid.IntRange(0, len(order)-1).Draw(t, "existing")]
						id.Lo += rapid.Uint64Range(0, 1).Draw(t, "nudge")
					}
				}
				if _, dup := model[id]; dup || id.IsZero() {
					check(id)
					continue
				}
				insert(id)
			case 4:
				if mark == nil {
					m := tab.mark()
					mark, markLen = &m, len(order)
				}
			case 5:
				if mark != nil {
					tab.truncate(*mark)
					for _, id := range order[markLen:] {
						delete(model, id)
					}
					order = order[:markLen]
					mark = nil
				}
			case 6:
				mark = nil // the chain committed
			default:
				if len(order) > 0 {
					check(order[rapid.IntRange(0, len(order)-1).Draw(t, "lookup")])
				}
				check(U128(rapid.Uint64Range(0, 60).Draw(t, "probe")))
			}
			if tab.len() != len(order) {
				t.Fatalf("table has %d transfers, model %d", tab.len(), len(order))
			}
		}
		// Everything inserted after any prefill, a sample of the prefill,
		// and the creation order.
		for i, id := range order {
			if i >= transferChunk-10 || i%997 == 0 || len(order) < transferChunk {
				check(id)
				if got := tab.at(uint32(i)); got.ID != id {
					t.Fatalf("position %d holds %v, want %v", i, got.ID, id)
				}
			}
		}
	})
}
