package store

import (
	"errors"
	"fmt"
	"slices"

	"github.com/conto-ledger/conto/engine/ledger"
)

// ErrFailed wraps the error that broke a store: once a batch applied in
// memory could not be persisted, memory and disk disagree, and the store
// refuses further batches. The owner must close it and reopen, which reloads
// the last persisted version; the Raft log then re-applies what followed.
var ErrFailed = errors.New("store failed")

// Apply applies batch b and returns once its results are final: the ledger
// rules have run in memory and the batch's writes are encoded and queued.
// The writer goroutine then writes them to Badger at ts = b.Version, so the
// rules of one batch overlap the disk writes of the one before (at most
// maxInFlight batches wait). results must have room for one Result per event.
// A whole-batch error (see ledger.Apply) changes nothing.
//
// Reads never see a half-written batch, and wait for the writer when asked
// for a version it has not finished; Sync makes everything applied durable.
func (s *Store) Apply(b *ledger.Batch, results []ledger.Result) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if err := s.checkUsable(); err != nil {
		return err
	}
	return s.applyWith(b, results, nil)
}

// applyWith applies b; then, still under mu, extra (if set) may change
// in-memory state of its own and return more writes for the same version.
// The caller holds applyMu.
func (s *Store) applyWith(b *ledger.Batch, results []ledger.Result, extra func() []kv) error {
	ar := <-s.arenas // back-pressure: wait while maxInFlight batches are queued
	s.mu.Lock()
	eff, err := s.state.Apply(b, results)
	var more []kv
	if err == nil {
		s.applied = b.Version
		s.noteVersions(eff)
		if extra != nil {
			more = extra()
		}
	}
	s.mu.Unlock()
	if err != nil {
		s.arenas <- ar
		return fmt.Errorf("store: apply version %d: %w", b.Version, err)
	}
	// Only Apply mutates state, and applyMu is held, so encoding can read
	// it without mu while readers go on.
	s.jobs <- s.encode(eff, ar, more, true)
	return nil
}

// checkUsable reports why the store cannot take batches, if it cannot.
func (s *Store) checkUsable() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.usable()
}

// usable reports why the store cannot be used, if it cannot. Callers hold mu.
func (s *Store) usable() error {
	switch {
	case s.closed:
		return ErrClosed
	case s.broken != nil:
		return s.broken
	}
	return nil
}

// encode turns one batch's effects into its Badger writes, all at ts =
// eff.Version. The meta key goes last: Badger commits a write batch's pieces
// in order, so meta at version v on disk means everything of v before it is
// there too. Tests leave the meta out to play a crash in the middle.
func (s *Store) encode(eff *ledger.Effects, ar *arena, more []kv, withMeta bool) *writeJob {
	job := &writeJob{version: eff.Version, arena: ar}
	if n := len(eff.Transfers); n > 0 {
		block := ar.allocBig(n * ledger.RecordSize)
		for i := range eff.Transfers {
			ledger.EncodeTransfer(block[i*ledger.RecordSize:], &eff.Transfers[i])
		}
		job.add(u64Key(prefixBlock, eff.Version), block)
	}
	s.encodeDelta(eff, job)
	if s.index.due(eff.Version) {
		s.encodeIndex(job)
		job.checkpoint = true
		s.index.checkpointed(eff.Version)
	}
	for _, p := range eff.Pending {
		job.add(idKey(prefixPending, p.ID), pendingValue(p.Info))
	}
	for _, f := range eff.Failed {
		val := ar.alloc(4)
		le.PutUint32(val, uint32(f.Status))
		job.add(idKey(prefixFailed, f.ID), val)
	}
	if eff.FirstTimestamp != 0 {
		val := ar.alloc(8)
		be.PutUint64(val, eff.Version)
		job.add(u64Key(prefixTime, eff.LastTimestamp), val)
	}
	job.kvs = append(job.kvs, more...)
	if withMeta {
		m := meta{Version: eff.Version, LastTimestamp: eff.LastTimestamp, IndexedThrough: s.index.through}
		job.add(metaKey, m.encode())
	}
	return job
}

// encodeDelta encodes the batch's delta block: every changed account's
// record and the statement entries this batch added to it, grouped from the
// touches, behind a directory sorted by id.
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
	job.add(u64Key(prefixDelta, eff.Version), block)
}

func cmpU128(a, b ledger.Uint128) int {
	if c := cmpU64(a.Hi, b.Hi); c != 0 {
		return c
	}
	return cmpU64(a.Lo, b.Lo)
}
