package store

import (
	"context"
	"fmt"
	"time"

	"github.com/conto-ledger/conto/engine/hashchain"
	"github.com/dgraph-io/badger/v4"
)

// maxInFlight bounds the batches applied in memory but not yet written to
// Badger: one being written, one being chained, one encoded and waiting.
// Apply blocks beyond it.
const maxInFlight = 3

// writeJob is one batch's encoded Badger writes. Its keys and values live in
// its arena until the writer has flushed them.
type writeJob struct {
	version    uint64
	kvs        []kv
	arena      *arena
	checkpoint bool       // the job holds an index checkpoint at version
	chain      *chainWork // the batch's hash-chain input (nil: chains off)
	// The chain stage's outcome: the batch's chain block, or why it has
	// none (the writer then breaks the store).
	blk      *hashchain.Block
	chainErr error
	// transferBlock is the batch's encoded transfers (in arena).
	transferBlock []byte
}

type kv struct{ key, value []byte }

func (j *writeJob) add(k, v []byte) { j.kvs = append(j.kvs, kv{k, v}) }

// startWriter starts the two stages after Apply: the chainer hashes each
// queued batch into the chains, and the writer writes it to Badger, each on
// its own goroutine, so one batch's hashing overlaps the previous batch's
// write. Both keep the batches' order.
func (s *Store) startWriter() {
	s.jobs = make(chan *writeJob, maxInFlight)
	s.chained = make(chan *writeJob, maxInFlight)
	s.arenas = make(chan *arena, maxInFlight)
	for i := 0; i < maxInFlight; i++ {
		s.arenas <- &arena{}
	}
	s.writerDone = make(chan struct{})
	go s.chainer()
	go s.writer()
}

// chainer folds each job into the chains and adds its chain block to it.
func (s *Store) chainer() {
	defer close(s.chained)
	var failed error // after a failure nothing more is chained: the store is broken
	for job := range s.jobs {
		switch {
		case failed != nil:
			job.chainErr = failed
		case job.chain != nil:
			job.blk, job.chainErr = s.chainBlock(job)
			failed = job.chainErr
		}
		s.chained <- job
	}
}

// writer writes each job as one managed write batch, then makes its version
// visible. After a failure it writes nothing more: the store is broken and
// Badger keeps the last complete batch.
func (s *Store) writer() {
	defer close(s.writerDone)
	for job := range s.chained {
		s.mu.RLock()
		broken := s.broken != nil
		s.mu.RUnlock()
		err, blk := job.chainErr, job.blk
		if !broken && err == nil {
			err = s.write(job)
		}
		written := !broken && err == nil
		// Before the version turns visible, so a reader who waited for it
		// (Partition.Checkpoint) finds its system hash known to the signer.
		if written && blk != nil && s.opts.OnSystemHash != nil { // only what is in Badger is signed
			s.opts.OnSystemHash(blk.Version, blk.Alg, blk.System)
		}
		job.arena.reset()
		s.arenas <- job.arena
		s.mu.Lock()
		switch {
		case err != nil:
			s.broken = fmt.Errorf("%w: writing version %d: %v", ErrFailed, job.version, err)
		case !broken:
			s.visible = job.version
			if job.checkpoint {
				s.index.trimThrough(job.version)
			}
		}
		s.visibleCond.Broadcast()
		s.mu.Unlock()
	}
}

func (s *Store) write(job *writeJob) error {
	wb := s.db.NewManagedWriteBatch()
	defer wb.Cancel()
	for _, e := range job.kvs {
		if err := wb.SetEntryAt(badger.NewEntry(e.key, e.value), job.version); err != nil {
			return err
		}
	}
	return wb.Flush()
}

// waitVisible waits until every batch up to version v is in Badger, and
// returns the visible version. It fails if the store broke or closed first.
func (s *Store) waitVisible(v uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.visible < v && s.broken == nil && !s.closed {
		s.visibleCond.Wait()
	}
	if err := s.usable(); err != nil {
		return 0, err
	}
	return s.visible, nil
}

// Applied is the version of the last batch applied in memory: what current
// reads (Account, Transfer) already reflect.
func (s *Store) Applied() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.applied
}

// WaitApplied waits until version v is applied in memory, or ctx ends.
// Followers use it to serve linearizable reads (see transactor.ReadBarrier).
func (s *Store) WaitApplied(ctx context.Context, v uint64) error {
	for s.Applied() < v {
		select {
		case <-ctx.Done():
			return fmt.Errorf("store: waiting for version %d: %w", v, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// drain waits until everything applied so far is in Badger.
func (s *Store) drain() (uint64, error) {
	s.mu.RLock()
	v := s.applied
	s.mu.RUnlock()
	return s.waitVisible(v)
}

// arena hands out byte slices for one batch's keys and values, reused from
// batch to batch so the commit path does not allocate (and zero) megabytes
// per batch. Slices stay valid until reset, which the writer calls only
// after the batch's Flush returned.
type arena struct {
	chunks [][]byte
	idx    int
	bigs   [][]byte // large buffers (transfer and delta blocks), reused in order
	bigIdx int
	evs    []hashchain.Event // the chain events of the batch
}

// events returns an empty slice with room for n chain events.
func (a *arena) events(n int) []hashchain.Event {
	if cap(a.evs) < n {
		a.evs = make([]hashchain.Event, 0, n+n/4)
	}
	return a.evs[:0]
}

const arenaChunk = 1 << 20

func (a *arena) reset() {
	for i := range a.chunks {
		a.chunks[i] = a.chunks[i][:0]
	}
	a.idx, a.bigIdx = 0, 0
}

// alloc returns n bytes (not zeroed).
func (a *arena) alloc(n int) []byte {
	if n > arenaChunk/4 {
		return a.allocBig(n)
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

// allocBig returns n bytes (not zeroed) from a buffer of its own. A batch
// asks for its big buffers in the same order each time, so each one is
// reused by the same kind of block.
func (a *arena) allocBig(n int) []byte {
	if a.bigIdx == len(a.bigs) {
		a.bigs = append(a.bigs, nil)
	}
	if cap(a.bigs[a.bigIdx]) < n {
		a.bigs[a.bigIdx] = make([]byte, n+n/4)
	}
	b := a.bigs[a.bigIdx][:n:n]
	a.bigIdx++
	return b
}
