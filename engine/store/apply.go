package store

import (
	"errors"
	"fmt"
	"slices"

	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/dgraph-io/badger/v4"
)

// ErrFailed wraps the error that broke a store: once a batch applied in
// memory could not be persisted, memory and disk disagree, and the store
// refuses further batches. The owner must close it and reopen, which reloads
// the last persisted version; the Raft log then re-applies what followed.
var ErrFailed = errors.New("store failed")

// Apply applies batch b: the ledger rules in memory, then one Badger write
// batch at ts = b.Version. results must have room for one Result per event.
// It returns after the batch is in Badger (fsynced only with SyncWrites).
// A whole-batch error (see ledger.Apply) changes nothing.
func (s *Store) Apply(b *ledger.Batch, results []ledger.Result) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	s.mu.Lock()
	eff, err := s.state.Apply(b, results)
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("store: apply version %d: %w", b.Version, err)
	}
	// Only Apply mutates state, and applyMu is held, so persist can read it
	// without mu while readers go on.
	if err := s.persist(eff, true); err != nil {
		return s.fail(fmt.Errorf("%w: persisting version %d: %v", ErrFailed, b.Version, err))
	}
	s.mu.Lock()
	s.visible = b.Version
	s.mu.Unlock()
	return nil
}

// fail marks the store broken (see ErrFailed) and returns err.
func (s *Store) fail(err error) error {
	s.mu.Lock()
	s.broken = err
	s.mu.Unlock()
	return err
}

// usable reports why the store cannot be used, if it cannot. Callers hold
// mu or applyMu.
func (s *Store) usable() error {
	switch {
	case s.db == nil:
		return ErrClosed
	case s.broken != nil:
		return s.broken
	}
	return nil
}

// persist writes one batch's effects at ts = eff.Version. The meta key goes
// last: Badger commits a write batch's pieces in order, so meta at version v
// on disk means everything of v before it is there too. Tests leave the meta
// out to play a crash in the middle of a batch.
func (s *Store) persist(eff *ledger.Effects, withMeta bool) error {
	wb := s.db.NewManagedWriteBatch()
	defer wb.Cancel()
	s.arena.reset()
	v := eff.Version
	set := func(k, val []byte) error { return wb.SetEntryAt(badger.NewEntry(k, val), v) }

	if n := len(eff.Transfers); n > 0 {
		block := s.arena.alloc(n * ledger.RecordSize)
		for i := range eff.Transfers {
			ledger.EncodeTransfer(block[i*ledger.RecordSize:], &eff.Transfers[i])
		}
		if err := set(u64Key(prefixBlock, v), block); err != nil {
			return err
		}
	}
	if err := s.persistDelta(eff, set); err != nil {
		return err
	}
	s.noteVersions(eff)
	checkpoint := s.index.due(v)
	if checkpoint {
		if err := s.writeIndex(set); err != nil {
			return err
		}
	}
	for _, p := range eff.Pending {
		if err := set(idKey(prefixPending, p.ID), pendingValue(p.Info)); err != nil {
			return err
		}
	}
	for _, f := range eff.Failed {
		val := make([]byte, 4)
		le.PutUint32(val, uint32(f.Status))
		if err := set(idKey(prefixFailed, f.ID), val); err != nil {
			return err
		}
	}
	if eff.FirstTimestamp != 0 {
		val := make([]byte, 8)
		be.PutUint64(val, v)
		if err := set(u64Key(prefixTime, eff.LastTimestamp), val); err != nil {
			return err
		}
	}
	if withMeta {
		m := meta{Version: v, LastTimestamp: eff.LastTimestamp, IndexedThrough: s.index.through}
		if checkpoint {
			m.IndexedThrough = v
		}
		if err := set(metaKey, m.encode()); err != nil {
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		return err
	}
	if checkpoint {
		s.mu.Lock()
		s.index.reset(v)
		s.mu.Unlock()
	}
	return nil
}

// persistDelta writes the batch's delta block: every changed account's
// record and the statement entries this batch added to it, grouped from the
// touches, behind a directory sorted by id.
func (s *Store) persistDelta(eff *ledger.Effects, set func(k, v []byte) error) error {
	n := len(eff.Changed)
	if n == 0 {
		return nil
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
		counts[s.ordinal[eff.Touches[i].Account]-1]++
	}
	// order lists positions in Changed by account id; sorting the ids with
	// them keeps the comparisons in one contiguous slice.
	type idPos struct {
		id  ledger.Uint128
		pos int
	}
	order := make([]idPos, n)
	size := 4 + n*deltaDirRow
	for i, ai := range eff.Changed {
		a := s.state.AccountAt(ai)
		order[i] = idPos{a.ID, i}
		size += ledger.RecordSize + counts[i]*entrySize(a)
	}
	slices.SortFunc(order, func(x, y idPos) int { return cmpU128(x.id, y.id) })
	block := s.arena.alloc(size)
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
		le.PutUint32(r[20:], uint32(counts[ci]))
		ledger.EncodeAccount(block[off:], a)
		cursor[ci] = off + ledger.RecordSize
		off += ledger.RecordSize + counts[ci]*entrySize(a)
	}
	for i := range eff.Touches {
		t := &eff.Touches[i]
		ci := s.ordinal[t.Account] - 1
		e := statementEntry{Timestamp: t.Balance.Timestamp, TransferID: t.TransferID, Balance: t.Balance}
		if t.Debit {
			e.Flags |= entryDebit
		}
		if t.Slot < 0 {
			e.Flags |= entryExpiry
		}
		withBalance := entrySize(s.state.AccountAt(t.Account)) == entryWithBalance
		putEntry(block[cursor[ci]:], &e, withBalance)
		cursor[ci] += entrySize(s.state.AccountAt(t.Account))
	}
	return set(u64Key(prefixDelta, eff.Version), block)
}

func cmpU128(a, b ledger.Uint128) int {
	if c := cmpU64(a.Hi, b.Hi); c != 0 {
		return c
	}
	return cmpU64(a.Lo, b.Lo)
}

// arena hands out byte slices for one batch's values, so a batch of
// thousands of values costs no allocation once warm. Slices stay valid until
// reset, which persist calls only after the previous Flush returned.
type arena struct {
	chunks [][]byte
	idx    int
}

const arenaChunk = 1 << 20

func (a *arena) reset() {
	for i := range a.chunks {
		a.chunks[i] = a.chunks[i][:0]
	}
	a.idx = 0
}

func (a *arena) alloc(n int) []byte {
	if n > arenaChunk/4 {
		return make([]byte, n) // large: its own allocation
	}
	for a.idx < len(a.chunks) && cap(a.chunks[a.idx])-len(a.chunks[a.idx]) < n {
		a.idx++
	}
	if a.idx == len(a.chunks) {
		a.chunks = append(a.chunks, make([]byte, 0, arenaChunk))
	}
	c := a.chunks[a.idx]
	start := len(c)
	a.chunks[a.idx] = c[:start+n]
	return c[start : start+n : start+n]
}
