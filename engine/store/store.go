// Package store keeps conto's ledger durable and versioned on Badger, with the
// hot state in memory.
//
// Every batch the transactor commits is applied to an in-memory ledger.State
// (the hot balances the seed keeps in process) and then written to Badger in
// managed mode, every key at commit timestamp = the batch's version. Nothing
// is ever deleted, so any account can be read as of any version.
//
// # Layout
//
// Badger's cost is per key (NOTES.md: ≈ 250k keys/s sustained on two cores;
// one key per changed account capped apply+persist at 150k transfers/s), so
// a batch writes a handful of large values and no key per transfer or per
// account:
//
//	'm'                    meta: last applied version, last timestamp, last
//	                       index checkpoint (every batch, written last)
//	'B' version            the batch's created transfers, 128 bytes each
//	'D' version            the batch's changed accounts: a directory sorted by
//	                       id, then per account its record after the batch and
//	                       the statement entries the batch added
//	't' last timestamp     version (maps time to version for as-of-time reads)
//	'p' id                 life cycle of a pending transfer (when it changes)
//	'f' id                 status of a transiently failed transfer id
//	'x' id first-version   versions at which the account changed (index
//	                       checkpoint, every 64 versions)
//	'a' id                 the account's record at the last index checkpoint
//	'k' key                value of a key of the key-value space (SPEC §4)
//
// The versions at which each account changed since the last checkpoint are
// kept in memory. Reading an account as of v finds the last such version ≤ v
// (memory, then 'x' keys) and binary-searches that version's 'D' block;
// statements walk the same versions newest first. On open, the store loads
// the 'a' records, replays the 'D' blocks after the last checkpoint (at most
// 64) and reloads the transfers from the 'B' blocks.
//
// Integers in keys are big-endian so keys sort numerically.
//
// # Atomicity and restart
//
// A Badger WriteBatch is not atomic (it splits large batches), so readers
// see Badger only up to the "visible" version, which advances after a batch's
// writes are flushed. The meta key is the batch's last write; on open the
// store reads everything as of the meta's version, so a batch cut short by a
// crash is invisible and re-applying it rewrites the same keys at the same
// version with the same bytes.
package store

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"

	"github.com/conto-ledger/conto/engine/hashchain"
	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Options configure a Store.
type Options struct {
	// Dir is the Badger directory. Required.
	Dir string
	// SyncWrites fsyncs every batch. Off by default: in conto the Raft log is
	// fsynced before a batch is applied and restart replays it, so syncing
	// Badger too would pay for durability twice. Turn it on when the store is
	// used without a replicated log in front of it.
	SyncWrites bool
	// Logger receives Badger's warnings and errors; nil means slog.Default.
	Logger *slog.Logger
	// AccountHint and TransferHint pre-size the in-memory maps.
	AccountHint, TransferHint int

	// Partition is the partition the store holds; every genesis hash of
	// its chains names it.
	Partition uint32
	// NoChains turns the hash chains off: for measuring what they cost,
	// never for data that must be verifiable.
	NoChains bool
	// OnSystemHash, if set, is called by the writer after each batch's
	// chain block is in Badger (for signed checkpoints). It must not block
	// for long: the next batch's write waits for it.
	OnSystemHash func(version uint64, alg hashchain.Alg, system hashchain.Hash)

	// indexEvery overrides the index checkpoint interval, and with it
	// checkpoints stop waiting for indexDensity (tests only).
	indexEvery   uint64
	indexDensity int
}

// Store is the ledger's versioned storage. Apply is meant for one writer at a
// time (the transactor's FSM); reads may run concurrently with it.
type Store struct {
	db   *badger.DB
	opts Options

	// mu guards state: Apply holds it for writing while the ledger rules run,
	// readers hold it for reading.
	mu    sync.RWMutex
	state *ledger.State

	// applyMu serialises Apply, Restore and Close, so encoding can read
	// state without holding mu.
	applyMu sync.Mutex
	// applied is the version of the last batch applied in memory; visible
	// the last version whose writes are all in Badger. Reads of the past
	// never go above visible. Guarded by mu; visibleCond signals changes.
	applied, visible uint64
	visibleCond      *sync.Cond
	// broken is set when a batch applied in memory failed to persist.
	broken error
	closed bool

	// The writer goroutine's queue, and the arenas encoded batches live in.
	jobs       chan *writeJob // Apply → chainer
	chained    chan *writeJob // chainer → writer
	arenas     chan *arena
	writerDone chan struct{}

	// kv maps every key of the key-value space to the version that last
	// wrote it, so transactions check versions without waiting for Badger.
	// Guarded by mu.
	kv map[string]uint64

	// index holds the versions at which accounts changed since the last
	// index checkpoint. Guarded by mu.
	index versionIndex

	// Scratch reused by encode (guarded by applyMu).
	ordinal []int32

	// chainAlg is the algorithm of the last batch (Apply's). chains and
	// headsMoved (accounts whose chain moved since the last index
	// checkpoint) belong to the writer goroutine once it runs.
	chainAlg   hashchain.Alg
	chains     *hashchain.Chains
	headsMoved map[ledger.Uint128]struct{}
	// lastChained is the version of the last batch the chainer chained.
	lastChained uint64
}

// ErrClosed is returned by operations on a closed store.
var ErrClosed = errors.New("store is closed")

// badgerOptions configures Badger for this layout. Each choice is deliberate.
func badgerOptions(o Options) badger.Options {
	return badger.DefaultOptions(o.Dir).
		// Conflict detection is for concurrent transactions; the FSM is the
		// only writer, and leaving it on grows the committed-txn list until
		// the discard timestamp advances, which it never does here.
		WithDetectConflicts(false).
		// History is the product: keep every version (no retention horizon).
		WithNumVersionsToKeep(math.MaxInt32).
		WithSyncWrites(o.SyncWrites).
		// Account values with a handful of statement entries stay in the LSM;
		// batch blocks (up to 1 MiB of transfers) go to the value log, which
		// is written sequentially and never rewritten by compaction.
		WithValueThreshold(1 << 10).
		// Large memtables absorb bursts of 8189-transfer batches before L0
		// flushes stall writes.
		WithMemTableSize(64 << 20).
		WithNumMemtables(4).
		WithNumLevelZeroTables(8).
		WithNumLevelZeroTablesStall(16).
		// Records are mostly random ids and amounts: compression costs CPU on
		// the commit path for little gain. Without compression Badger reads
		// tables through mmap and needs no block cache.
		WithCompression(options.None).
		WithBlockCacheSize(0).
		// Two cores: two compactors (one is rejected by Badger).
		WithNumCompactors(2).
		WithLogger(badgerLogger{log: o.Logger})
}

// Open opens (or creates) the store in o.Dir and loads its hot state.
func Open(o Options) (*Store, error) {
	if o.Dir == "" {
		return nil, errors.New("store: Options.Dir is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.indexEvery == 0 {
		o.indexEvery, o.indexDensity = indexEvery, indexDensity
	}
	db, err := badger.OpenManaged(badgerOptions(o))
	if err != nil {
		return nil, fmt.Errorf("store: open badger in %s: %w", o.Dir, err)
	}
	s := &Store{db: db, opts: o}
	s.visibleCond = sync.NewCond(&s.mu)
	if err := s.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: load %s: %w", o.Dir, err)
	}
	s.startWriter()
	return s, nil
}

// Close writes every queued batch, then closes Badger. The store must not
// be used afterwards.
func (s *Store) Close() error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.mu.Unlock()
	close(s.jobs) // the writer drains the queue, then exits
	<-s.writerDone
	s.mu.Lock()
	s.closed = true
	broken := s.broken
	s.visibleCond.Broadcast()
	s.mu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return broken
}

// Sync waits until every applied batch is written, then makes it durable on
// disk. The transactor calls it before Raft may compact its log past the
// last applied version.
func (s *Store) Sync() error {
	if _, err := s.drain(); err != nil {
		return err
	}
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("store: sync: %w", err)
	}
	return nil
}

// LastApplied is the version of the last batch applied and written to
// Badger: a restart resumes after it.
func (s *Store) LastApplied() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.visible
}

// badgerLogger sends Badger's warnings and errors to slog and drops its
// info and debug chatter.
type badgerLogger struct{ log *slog.Logger }

func (l badgerLogger) Errorf(f string, a ...any) {
	l.log.Error(fmt.Sprintf(f, a...), "component", "badger")
}
func (l badgerLogger) Warningf(f string, a ...any) {
	l.log.Warn(fmt.Sprintf(f, a...), "component", "badger")
}
func (l badgerLogger) Infof(string, ...any)  {}
func (l badgerLogger) Debugf(string, ...any) {}
