package store

import (
	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/dgraph-io/badger/v4"
)

// Index checkpoints: how often the versions at which accounts changed move
// from memory into Badger. Between checkpoints they live only in memory and
// in the delta blocks, so a restart replays at most maxIndexLag versions of
// delta blocks, and memory holds at most maxRecentPairs versions.
//
// A checkpoint writes two keys per account changed since the last one, so
// it is taken only once the changes outnumber those accounts indexDensity
// times: with small batches over many accounts a checkpoint every indexEvery
// versions would write more index keys than the batches write transfers.
const (
	indexEvery     = 64
	indexDensity   = 16
	maxIndexLag    = 4096
	maxRecentPairs = 1 << 20
)

// versionIndex remembers, per account, the versions since the last
// checkpoint at which the account changed. Older versions are in 'x' keys.
// recent and touched change under Store.mu (Apply appends, the writer trims
// after a checkpoint is written) and readers copy them under Store.mu.RLock.
// pairs and through belong to the Apply goroutine.
type versionIndex struct {
	recent  [][]uint64 // by account index in creation order
	touched []int32    // accounts with recent versions, each once
	pairs   int
	through uint64 // version of the last checkpoint
	every   uint64 // least checkpoint interval in versions
	density int    // least account-version pairs per changed account
}

// indexDue reports whether the batch at version v takes a checkpoint.
func (s *Store) indexDue(v uint64) bool {
	x := &s.index
	lag := v - x.through
	if x.pairs >= maxRecentPairs || lag >= maxIndexLag {
		return true
	}
	if lag < x.every {
		return false
	}
	s.mu.RLock() // the writer trims touched under mu
	changed := len(x.touched)
	s.mu.RUnlock()
	return x.pairs >= x.density*changed
}

func (x *versionIndex) add(account int32, v uint64) {
	if n := int(account) + 1; len(x.recent) < n {
		x.recent = append(x.recent, make([][]uint64, n-len(x.recent))...)
	}
	if len(x.recent[account]) == 0 {
		x.touched = append(x.touched, account)
	}
	x.recent[account] = append(x.recent[account], v)
	x.pairs++
}

func (x *versionIndex) versions(account int32) []uint64 {
	if int(account) >= len(x.recent) {
		return nil
	}
	return x.recent[account]
}

// checkpointed notes that a checkpoint at version v was encoded: later
// checkpoints hold only versions after v.
func (x *versionIndex) checkpointed(v uint64) {
	x.pairs = 0
	x.through = v
}

// trimThrough forgets the versions ≤ v once the checkpoint at v is in Badger.
// Versions after v (batches applied since) stay.
func (x *versionIndex) trimThrough(v uint64) {
	kept := x.touched[:0]
	for _, a := range x.touched {
		vs := x.recent[a]
		k := 0
		for k < len(vs) && vs[k] <= v {
			k++
		}
		x.recent[a] = append(vs[:0], vs[k:]...)
		if len(x.recent[a]) > 0 {
			kept = append(kept, a)
		}
	}
	x.touched = kept
}

// noteVersions records that the batch's changed accounts changed at its
// version. Readers filter by the visible version, so this runs before the
// batch is written. The caller holds mu.
func (s *Store) noteVersions(eff *ledger.Effects) {
	for _, ai := range eff.Changed {
		s.index.add(ai, eff.Version)
	}
}

// encodeIndex encodes a checkpoint: per account that changed since the last
// one, an 'x' key listing those versions and an 'a' key with its current
// record (what load starts from). Versions of an earlier checkpoint that is
// not yet trimmed are left out, so no version is indexed twice.
func (s *Store) encodeIndex(job *writeJob) {
	s.mu.RLock() // the writer trims recent under mu
	defer s.mu.RUnlock()
	for _, ai := range s.index.touched {
		vs := s.index.recent[ai]
		k := 0
		for k < len(vs) && vs[k] <= s.index.through {
			k++
		}
		if k == len(vs) {
			continue
		}
		vs = vs[k:]
		a := s.state.AccountAt(ai)
		job.add(indexKey(a.ID, vs[0]), encodeVersions(vs))
		rec := job.arena.alloc(ledger.RecordSize)
		ledger.EncodeAccount(rec, a)
		job.add(idKey(prefixAccount, a.ID), rec)
	}
}

// accountVersions calls fn with the versions ≤ maxV at which the account
// changed, newest first, until fn returns false. recent is the caller's copy
// of the account's in-memory versions.
func accountVersions(txn *badger.Txn, id ledger.Uint128, recent []uint64, maxV uint64, fn func(v uint64) (bool, error)) error {
	for i := len(recent) - 1; i >= 0; i-- {
		if recent[i] > maxV {
			continue
		}
		if more, err := fn(recent[i]); err != nil || !more {
			return err
		}
	}
	opts := badger.DefaultIteratorOptions
	opts.Reverse = true
	opts.Prefix = idKey(prefixIndex, id)
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Seek(indexKey(id, maxV)); it.Valid(); it.Next() {
		var vs []uint64
		err := it.Item().Value(func(b []byte) (err error) { vs, err = decodeVersions(b); return err })
		if err != nil {
			return err
		}
		for i := len(vs) - 1; i >= 0; i-- {
			if vs[i] > maxV {
				continue
			}
			if more, err := fn(vs[i]); err != nil || !more {
				return err
			}
		}
	}
	return nil
}
