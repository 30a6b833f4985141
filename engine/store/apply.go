package store

import (
	"errors"
	"fmt"

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
	if err := s.persistAccounts(eff, set); err != nil {
		return err
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
		if err := set(metaKey, meta{Version: v, LastTimestamp: eff.LastTimestamp}.encode()); err != nil {
			return err
		}
	}
	return wb.Flush()
}

// persistAccounts writes one 'a' value per changed account: its record and
// the statement entries this batch added, grouped from the touches.
func (s *Store) persistAccounts(eff *ledger.Effects, set func(k, v []byte) error) error {
	if len(eff.Changed) == 0 {
		return nil
	}
	// ordinal[account index] = position in Changed + 1 (0: unchanged).
	if n := s.state.AccountCount(); len(s.ordinal) < n {
		s.ordinal = append(s.ordinal, make([]int32, n-len(s.ordinal))...)
	}
	counts := make([]int, len(eff.Changed))
	for i, ai := range eff.Changed {
		s.ordinal[ai] = int32(i + 1)
	}
	for i := range eff.Touches {
		counts[s.ordinal[eff.Touches[i].Account]-1]++
	}
	values := make([][]byte, len(eff.Changed))
	for i, ai := range eff.Changed {
		a := s.state.AccountAt(ai)
		val := s.arena.alloc(ledger.RecordSize + 4 + counts[i]*entrySize(a))
		ledger.EncodeAccount(val, a)
		le.PutUint32(val[ledger.RecordSize:], uint32(counts[i]))
		values[i] = val[:ledger.RecordSize+4] // grows as entries are filled in
	}
	for i := range eff.Touches {
		t := &eff.Touches[i]
		o := s.ordinal[t.Account] - 1
		a := s.state.AccountAt(t.Account)
		e := statementEntry{Timestamp: t.Balance.Timestamp, TransferID: t.TransferID, Balance: t.Balance}
		if t.Debit {
			e.Flags |= entryDebit
		}
		if t.Slot < 0 {
			e.Flags |= entryExpiry
		}
		size := entrySize(a)
		val := values[o]
		values[o] = val[:len(val)+size]
		putEntry(values[o][len(val):], &e, size == entryWithBalance)
	}
	for i, ai := range eff.Changed {
		s.ordinal[ai] = 0
		if err := set(idKey(prefixAccount, s.state.AccountAt(ai).ID), values[i]); err != nil {
			return err
		}
	}
	return nil
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
