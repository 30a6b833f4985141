package store

import (
	"errors"
	"fmt"

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
	job := s.encode(eff, ar, more, true)
	s.encodeChain(b, results, eff, job, job.transferBlock)
	s.jobs <- job
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
		job.transferBlock = block
	}
	s.encodeDelta(eff, job)
	if s.indexDue(eff.Version) {
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

func cmpU128(a, b ledger.Uint128) int {
	if c := cmpU64(a.Hi, b.Hi); c != 0 {
		return c
	}
	return cmpU64(a.Lo, b.Lo)
}
