package store

import (
	"fmt"
	"slices"

	"github.com/conto-ledger/conto/engine/ledger"
)

// A delta block ('D' version) holds every account a batch changed:
//
//	count u32
//	count directory rows, sorted by id: id u128 · offset u32 · entries u32
//	                                    (top bit of entries: full record)
//	bodies, at their offsets: the account, then its statement entries
//
// An account created by the batch is stored whole (128-byte record). Any
// other changed account stores only what can change: its four balances and
// its flags (40 bytes); the rest (ids, user data, ledger, code, timestamp)
// never changes and comes from the account as it is now. The version of
// every row is the block's.
//
// Statement entries point into the batch's transfer block:
//
//	timestamp u64 · slot u32 (bit 31: the account was the debit side)
//	history accounts add: reserved u32 · debits_pending, debits_posted,
//	credits_pending, credits_posted u64 (balances after the change)
//
// A history account's entry for an expiry has slot expirySlot. Expiries of
// other accounts leave no entry: their statements list transfers only.
const (
	deltaDirRow      = 24
	compactSize      = 40
	entryBase        = 12
	entryWithBalance = 48
	fullBit          = 1 << 31
	debitBit         = 1 << 31
	expirySlot       = debitBit - 1
)

func entrySize(history bool) int {
	if history {
		return entryWithBalance
	}
	return entryBase
}

func hasHistory(a *ledger.Account) bool { return a.Flags&ledger.AccountHistory != 0 }

// statementEntry is one decoded entry.
type statementEntry struct {
	Version   uint64 // the batch (set by the reader)
	Timestamp uint64
	Slot      int32 // index in the batch's transfer block, -1 for an expiry
	Debit     bool
	Balance   ledger.Balance // zero unless the account has history
}

// keeps reports whether a touch becomes a statement entry.
func keeps(t *ledger.Touch, history bool) bool { return t.Slot >= 0 || history }

// encodeDelta encodes the batch's delta block.
func (s *Store) encodeDelta(eff *ledger.Effects, job *writeJob) {
	n := len(eff.Changed)
	if n == 0 {
		return
	}
	// ordinal[account index] = position in Changed + 1 (0: unchanged).
	if c := s.state.AccountCount(); len(s.ordinal) < c {
		s.ordinal = append(s.ordinal, make([]int32, c-len(s.ordinal))...)
	}
	for i, ai := range eff.Changed {
		s.ordinal[ai] = int32(i + 1)
	}
	defer func() {
		for _, ai := range eff.Changed {
			s.ordinal[ai] = 0
		}
	}()
	counts := make([]int, n)
	for i := range eff.Touches {
		t := &eff.Touches[i]
		if keeps(t, hasHistory(s.state.AccountAt(t.Account))) {
			counts[s.ordinal[t.Account]-1]++
		}
	}
	// Rows sorted by id; sorting (id, position) pairs keeps the comparisons
	// in one contiguous slice.
	type idPos struct {
		id  ledger.Uint128
		pos int
	}
	order := make([]idPos, n)
	full := make([]bool, n)
	size := 4 + n*deltaDirRow
	for i, ai := range eff.Changed {
		a := s.state.AccountAt(ai)
		order[i] = idPos{a.ID, i}
		// Created by this batch: its timestamp is one the batch assigned.
		full[i] = eff.FirstTimestamp != 0 && a.Timestamp >= eff.FirstTimestamp
		size += bodySize(full[i]) + counts[i]*entrySize(hasHistory(a))
	}
	slices.SortFunc(order, func(x, y idPos) int { return cmpU128(x.id, y.id) })
	block := job.arena.allocBig(size)
	le.PutUint32(block, uint32(n))
	cursor := make([]int, n) // where the next entry of each account goes
	off := 4 + n*deltaDirRow
	for row, o := range order {
		ci := o.pos
		a := s.state.AccountAt(eff.Changed[ci])
		r := block[4+row*deltaDirRow:]
		le.PutUint64(r, a.ID.Lo)
		le.PutUint64(r[8:], a.ID.Hi)
		le.PutUint32(r[16:], uint32(off))
		cnt := uint32(counts[ci])
		if full[ci] {
			cnt |= fullBit
			ledger.EncodeAccount(block[off:], a)
		} else {
			putCompact(block[off:], a)
		}
		le.PutUint32(r[20:], cnt)
		cursor[ci] = off + bodySize(full[ci])
		off = cursor[ci] + counts[ci]*entrySize(hasHistory(a))
	}
	for i := range eff.Touches {
		t := &eff.Touches[i]
		history := hasHistory(s.state.AccountAt(t.Account))
		if !keeps(t, history) {
			continue
		}
		ci := s.ordinal[t.Account] - 1
		putEntry(block[cursor[ci]:], t, history)
		cursor[ci] += entrySize(history)
	}
	job.add(u64Key(prefixDelta, eff.Version), block)
}

func bodySize(full bool) int {
	if full {
		return ledger.RecordSize
	}
	return compactSize
}

func putCompact(b []byte, a *ledger.Account) {
	le.PutUint64(b, a.DebitsPending)
	le.PutUint64(b[8:], a.DebitsPosted)
	le.PutUint64(b[16:], a.CreditsPending)
	le.PutUint64(b[24:], a.CreditsPosted)
	le.PutUint16(b[32:], uint16(a.Flags))
	clear(b[34:compactSize])
}

func putEntry(b []byte, t *ledger.Touch, history bool) {
	le.PutUint64(b, t.Balance.Timestamp)
	slot := uint32(expirySlot)
	if t.Slot >= 0 {
		slot = uint32(t.Slot)
	}
	if t.Debit {
		slot |= debitBit
	}
	le.PutUint32(b[8:], slot)
	if history {
		le.PutUint32(b[12:], 0)
		le.PutUint64(b[16:], t.Balance.DebitsPending)
		le.PutUint64(b[24:], t.Balance.DebitsPosted)
		le.PutUint64(b[32:], t.Balance.CreditsPending)
		le.PutUint64(b[40:], t.Balance.CreditsPosted)
	}
}

// deltaRow is one decoded directory row and its body.
type deltaRow struct {
	id      ledger.Uint128
	full    bool
	body    []byte // 128-byte record or 40-byte compact state
	entries []byte // raw entries
	count   int
}

// account returns the row's account as of the block's version v. base is
// the account as it is now (only its unchanging fields are used); a full
// row needs none.
func (r *deltaRow) account(base ledger.Account, v uint64) (ledger.Account, error) {
	if r.full {
		return ledger.DecodeAccount(r.body)
	}
	a := base
	a.DebitsPending, a.DebitsPosted = le.Uint64(r.body), le.Uint64(r.body[8:])
	a.CreditsPending, a.CreditsPosted = le.Uint64(r.body[16:]), le.Uint64(r.body[24:])
	a.Flags = ledger.AccountFlags(le.Uint16(r.body[32:]))
	a.Version = v
	return a, nil
}

// deltaRows returns the number of accounts in a delta block.
func deltaRows(block []byte) (int, error) {
	if len(block) < 4 {
		return 0, fmt.Errorf("delta block of %d bytes", len(block))
	}
	n := int(le.Uint32(block))
	if len(block) < 4+n*deltaDirRow {
		return 0, fmt.Errorf("delta block of %d bytes for %d accounts", len(block), n)
	}
	return n, nil
}

func rowID(block []byte, i int) ledger.Uint128 {
	r := block[4+i*deltaDirRow:]
	return ledger.Uint128{Lo: le.Uint64(r), Hi: le.Uint64(r[8:])}
}

// deltaRowAt decodes row i. history says how large its entries are (it is
// a fixed property of the account, known from the account as it is now).
func deltaRowAt(block []byte, i int, history func(ledger.Uint128) bool) (deltaRow, error) {
	d := block[4+i*deltaDirRow:]
	r := deltaRow{id: rowID(block, i)}
	off, cnt := int(le.Uint32(d[16:])), le.Uint32(d[20:])
	r.full, r.count = cnt&fullBit != 0, int(cnt&^fullBit)
	end := off + bodySize(r.full)
	if off < 0 || end > len(block) {
		return r, fmt.Errorf("delta row %d: offset %d out of range", i, off)
	}
	r.body = block[off:end]
	h := false
	if r.full {
		h = ledger.AccountFlags(le.Uint16(r.body[86:]))&ledger.AccountHistory != 0
	} else {
		h = history(r.id)
	}
	stop := end + r.count*entrySize(h)
	if stop > len(block) {
		return r, fmt.Errorf("delta row %d: %d entries overrun the block", i, r.count)
	}
	r.entries = block[end:stop]
	return r, nil
}

// deltaLookup finds an account's row by binary search.
func deltaLookup(block []byte, id ledger.Uint128, history bool) (deltaRow, bool, error) {
	n, err := deltaRows(block)
	if err != nil {
		return deltaRow{}, false, err
	}
	lo, hi := 0, n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if rowID(block, mid).Less(id) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == n || rowID(block, lo) != id {
		return deltaRow{}, false, nil
	}
	r, err := deltaRowAt(block, lo, func(ledger.Uint128) bool { return history })
	return r, err == nil, err
}

// decodeEntries decodes a row's statement entries.
func decodeEntries(raw []byte, history bool) []statementEntry {
	size := entrySize(history)
	entries := make([]statementEntry, len(raw)/size)
	for i := range entries {
		b := raw[i*size:]
		e := &entries[i]
		e.Timestamp = le.Uint64(b)
		slot := le.Uint32(b[8:])
		e.Debit = slot&debitBit != 0
		if slot &^= debitBit; slot == expirySlot {
			e.Slot = -1
		} else {
			e.Slot = int32(slot)
		}
		if history {
			e.Balance = ledger.Balance{Timestamp: e.Timestamp, DebitsPending: le.Uint64(b[16:]),
				DebitsPosted: le.Uint64(b[24:]), CreditsPending: le.Uint64(b[32:]), CreditsPosted: le.Uint64(b[40:])}
		}
	}
	return entries
}
