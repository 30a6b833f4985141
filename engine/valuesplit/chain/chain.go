package chain

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/conto-ledger/conto/engine/valuesplit/internal/journal"
)

// File names inside a chain directory.
const (
	BlocksFile = "blocks.dat" // the block records, RecordSize bytes each
	FlagsFile  = "flags.log"  // the frozen ranges (journal)
	repairFile = "blocks.repair"
)

// Errors. Every error the package returns wraps one of these or ErrInvalid.
var (
	ErrNotFound = errors.New("not found")
	// ErrTampered reports a block whose bytes on disk no longer match its
	// hash or the hash it had when it was written.
	ErrTampered = errors.New("block tampered")
	// ErrBroken reports a chain whose last write failed: what reached the
	// disk is unknown, so it refuses writes until reopened.
	ErrBroken = errors.New("chain broken by an earlier write error; reopen it")
	ErrClosed = errors.New("chain closed")
	// ErrLiveTampered is returned by Repair when a block outside the frozen
	// ranges fails verification: freeze it first, then repair.
	ErrLiveTampered = errors.New("unfrozen block fails verification")
	// ErrLost is returned by a RebuildFunc that has nothing to rebuild a
	// block from; Repair then writes a void block in its place.
	ErrLost = errors.New("block cannot be rebuilt")
)

// Options configure a chain.
type Options struct {
	// HashKey keys the block hashes (required, not all zero). The center
	// derives it from its master key.
	HashKey [32]byte
	// Record, if set, is called with every block (except genesis) after it
	// is built and before it is written: the center records it in the
	// independent account book first, so a block that reached the chain is
	// always in the book. An error aborts the append.
	Record func(context.Context, Block) error
	// Now stamps genesis and void blocks (default time.Now).
	Now func() time.Time
	// Rand supplies nonces (default crypto/rand).
	Rand io.Reader
	// NoSync skips the fsync after each append. Only for bulk loads and
	// benchmarks: a crash may then lose blocks that were acknowledged.
	NoSync bool
}

// Recovery reports what Open repaired after a crash.
type Recovery struct {
	// TornBytes is how many bytes of an incomplete last block record Open
	// dropped (a crash during an append). The block was never acknowledged.
	TornBytes int64
	// FlagsTornBytes is the same for the frozen-flags journal.
	FlagsTornBytes int64
	// StaleFreezes counts frozen ranges that no longer apply because the
	// block they pinned was rebuilt (a crash during Repair).
	StaleFreezes int
}

// meta is what the chain keeps in memory per block: enough to link,
// index and judge blocks without reading them back.
type meta struct {
	hash    Hash
	parent  uint64
	item    ItemID
	op      OpID
	cluster string
	user    string
	kind    Kind
	ok      bool // the record decoded and its hash matched when loaded
}

// Chain is an open block chain. It is safe for concurrent use; reads run in
// parallel with each other, writes are serialised.
type Chain struct {
	mu     sync.RWMutex
	dir    string
	opts   Options
	f      *os.File
	flags  *journal.Journal
	metas  []meta
	items  map[ItemID]uint64 // latest authentic block per item
	ops    map[OpID]uint64   // block written by each operation
	frozen []Range
	broken bool
}

// Open opens the chain in dir, creating it (with a genesis block) if empty.
// A torn last record is dropped and reported in Recovery.
func Open(dir string, opts Options) (*Chain, Recovery, error) {
	var rec Recovery
	if opts.HashKey == ([32]byte{}) {
		return nil, rec, fmt.Errorf("%w: chain hash key is all zero", ErrInvalid)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, rec, fmt.Errorf("create chain directory: %w", err)
	}
	c := &Chain{dir: dir, opts: opts}
	if err := c.finishRepair(); err != nil {
		return nil, rec, err
	}
	f, torn, err := openBlocks(filepath.Join(dir, BlocksFile))
	if err != nil {
		return nil, rec, err
	}
	c.f, rec.TornBytes = f, torn
	if err := c.load(); err != nil {
		f.Close()
		return nil, rec, err
	}
	if len(c.metas) == 0 {
		if _, err := c.appendLocked(context.Background(), Draft{Kind: KindGenesis, Time: opts.Now().UTC()}); err != nil {
			f.Close()
			return nil, rec, fmt.Errorf("write genesis block: %w", err)
		}
	}
	if err := c.openFlags(&rec); err != nil {
		f.Close()
		return nil, rec, err
	}
	return c, rec, nil
}

// finishRepair removes a repaired file that never replaced the chain (a
// crash before Repair's rename): the old chain, still frozen, is current.
func (c *Chain) finishRepair() error {
	err := os.Remove(filepath.Join(c.dir, repairFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove unfinished repair file: %w", err)
	}
	return nil
}

// openBlocks opens the block file and drops a torn tail: a partial last
// record, or a last record that is all zeros (the file grew but the data
// never landed).
func openBlocks(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("open block file: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("stat block file: %w", err)
	}
	size := info.Size()
	keep := size - size%RecordSize
	if keep > 0 {
		last := make([]byte, RecordSize)
		if _, err := f.ReadAt(last, keep-RecordSize); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("read last block record: %w", err)
		}
		if allZero(last) {
			keep -= RecordSize
		}
	}
	if keep == size {
		return f, 0, nil
	}
	if err := f.Truncate(keep); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("drop torn block record: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("sync block file after dropping torn record: %w", err)
	}
	return f, size - keep, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// load reads every record and rebuilds the in-memory metadata.
func (c *Chain) load() error {
	c.metas = c.metas[:0]
	c.items = make(map[ItemID]uint64)
	c.ops = make(map[OpID]uint64)
	return scanFile(context.Background(), c.f, 0, NoBlock, func(i uint64, rec []byte) error {
		b, err := decode(rec)
		ok := err == nil && b.Index == i && mac(rec, &c.opts.HashKey) == b.Hash
		c.addMeta(&b, ok)
		return nil
	})
}

// addMeta appends a block's metadata and indexes it if authentic. Blocks
// that fail their hash are kept (Verify names them) but never indexed:
// their content cannot be trusted.
func (c *Chain) addMeta(b *Block, ok bool) {
	m := meta{hash: b.Hash, parent: b.Parent, kind: b.Kind, ok: ok}
	if ok {
		m.item, m.op, m.cluster, m.user = b.Item, b.Op, b.Cluster, b.User
	}
	i := uint64(len(c.metas))
	c.metas = append(c.metas, m)
	if !ok {
		return
	}
	if b.Kind == KindRegister || b.Kind == KindTransfer {
		c.items[b.Item] = i
	}
	if !b.Op.IsZero() {
		c.ops[b.Op] = i
	}
}

// scanFile calls fn for the records [from, to) of f in order, reading in
// large chunks. to = NoBlock means to the end of the file.
func scanFile(ctx context.Context, f *os.File, from, to uint64, fn func(uint64, []byte) error) error {
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat block file: %w", err)
	}
	n := uint64(info.Size()) / RecordSize
	to = min(to, n)
	const per = 2048 // 1 MiB reads
	buf := make([]byte, per*RecordSize)
	for i := from; i < to; {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := min(per, to-i)
		chunk := buf[:k*RecordSize]
		if _, err := f.ReadAt(chunk, int64(i)*RecordSize); err != nil {
			return fmt.Errorf("read block records %d..%d: %w", i, i+k-1, err)
		}
		for j := uint64(0); j < k; j++ {
			if err := fn(i+j, chunk[j*RecordSize:(j+1)*RecordSize]); err != nil {
				return err
			}
		}
		i += k
	}
	return nil
}

// Close closes the chain's files.
func (c *Chain) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	err := errors.Join(c.f.Close(), c.flags.Close())
	c.f = nil
	return err
}

// Len returns the number of blocks, genesis included.
func (c *Chain) Len() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return uint64(len(c.metas))
}

// Dir returns the chain's directory.
func (c *Chain) Dir() string { return c.dir }

// Append connects a new block (claim 2, Fig. 15): it links the draft to the
// valid block — the tail, or while blocks are frozen the last unfrozen
// block, which branches the chain (Fig. 22) — writes it durably and moves
// the valid flag to it. Only register and transfer blocks can be appended.
func (c *Chain) Append(ctx context.Context, d Draft) (Block, error) {
	if d.Kind != KindRegister && d.Kind != KindTransfer {
		return Block{}, fmt.Errorf("%w: only register and transfer blocks can be appended, not %s", ErrInvalid, d.Kind)
	}
	if err := validateDraft(&d); err != nil {
		return Block{}, err
	}
	if d.Item.IsZero() {
		return Block{}, fmt.Errorf("%w: block has no item id", ErrInvalid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.writable(); err != nil {
		return Block{}, err
	}
	return c.appendLocked(ctx, d)
}

func (c *Chain) writable() error {
	if c.f == nil {
		return ErrClosed
	}
	if c.broken {
		return ErrBroken
	}
	return nil
}

// appendLocked builds, records and writes one block. The caller holds mu.
func (c *Chain) appendLocked(ctx context.Context, d Draft) (Block, error) {
	if err := ctx.Err(); err != nil {
		return Block{}, err
	}
	b := Block{Draft: d, Index: uint64(len(c.metas)), Parent: NoBlock}
	if v, ok := c.validLocked(); ok {
		b.Parent, b.Prev = v, c.metas[v].hash
	}
	if _, err := io.ReadFull(c.opts.Rand, b.Nonce[:]); err != nil {
		return Block{}, fmt.Errorf("block nonce: %w", err)
	}
	b.Time = b.Time.UTC()
	rec := make([]byte, RecordSize)
	encode(rec, &b, &c.opts.HashKey)
	if c.opts.Record != nil && b.Kind != KindGenesis {
		if err := c.opts.Record(ctx, b); err != nil {
			return Block{}, fmt.Errorf("record block %d in the account book: %w", b.Index, err)
		}
	}
	if _, err := c.f.WriteAt(rec, int64(b.Index)*RecordSize); err != nil {
		c.broken = true
		return Block{}, fmt.Errorf("write block %d: %w", b.Index, err)
	}
	if !c.opts.NoSync {
		if err := c.f.Sync(); err != nil {
			c.broken = true
			return Block{}, fmt.Errorf("sync block %d: %w", b.Index, err)
		}
	}
	c.addMeta(&b, true)
	b.Valid = true
	return b, nil
}

// validLocked returns the block holding the valid flag: the last block not
// frozen. ok is false when every block is frozen.
func (c *Chain) validLocked() (uint64, bool) {
	i := uint64(len(c.metas))
	for i > 0 {
		i--
		r, frozen := c.rangeOf(i)
		if !frozen {
			return i, true
		}
		if r.From == 0 {
			return 0, false
		}
		i = r.From // the loop steps to r.From-1
	}
	return 0, false
}

// Valid returns the index of the block holding the valid flag (the one the
// next block links to); ok is false when every block is frozen.
func (c *Chain) Valid() (uint64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.validLocked()
}

// Block reads block i from disk and checks it against its hash and the
// hash it had in memory. A mismatch returns the decoded block (when it
// decodes) with an error wrapping ErrTampered.
func (c *Chain) Block(i uint64) (Block, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.blockLocked(i)
}

func (c *Chain) blockLocked(i uint64) (Block, error) {
	if c.f == nil {
		return Block{}, ErrClosed
	}
	if i >= uint64(len(c.metas)) {
		return Block{}, fmt.Errorf("%w: block %d (chain has %d)", ErrNotFound, i, len(c.metas))
	}
	rec := make([]byte, RecordSize)
	if _, err := c.f.ReadAt(rec, int64(i)*RecordSize); err != nil {
		return Block{}, fmt.Errorf("read block %d: %w", i, err)
	}
	b, err := decode(rec)
	if err != nil {
		return b, fmt.Errorf("%w: block %d: %v", ErrTampered, i, err)
	}
	c.setState(&b, i)
	if b.Index != i || mac(rec, &c.opts.HashKey) != b.Hash || b.Hash != c.metas[i].hash {
		return b, fmt.Errorf("%w: block %d does not match its hash", ErrTampered, i)
	}
	return b, nil
}

func (c *Chain) setState(b *Block, i uint64) {
	_, b.Frozen = c.rangeOf(i)
	v, ok := c.validLocked()
	b.Valid = ok && v == i
}

// Latest returns the latest authentic block about item: the registration or
// the last transfer, so its User and Cluster are the current owner. The
// block may be Frozen; callers decide what that allows.
func (c *Chain) Latest(item ItemID) (Block, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	i, ok := c.items[item]
	if !ok {
		return Block{}, fmt.Errorf("%w: item %s", ErrNotFound, item)
	}
	return c.blockLocked(i)
}

// LatestIndex returns the index of the latest authentic block about item,
// from memory.
func (c *Chain) LatestIndex(item ItemID) (uint64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	i, ok := c.items[item]
	return i, ok
}

// ByOp returns the block written by operation op.
func (c *Chain) ByOp(op OpID) (Block, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	i, ok := c.ops[op]
	if !ok {
		return Block{}, fmt.Errorf("%w: operation %s", ErrNotFound, op)
	}
	return c.blockLocked(i)
}

// HasOp reports whether operation op wrote a block (from memory).
func (c *Chain) HasOp(op OpID) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.ops[op]
	return ok
}

// Owner is an item's current owner as the chain's memory knows it.
type Owner struct {
	Item    ItemID
	Block   uint64
	Cluster string
	User    string
	Frozen  bool
}

// Owners calls fn for every item with its latest authentic block, in no
// particular order, from memory (no disk reads). fn must not call back into
// the chain. It stops when fn returns false.
func (c *Chain) Owners(fn func(Owner) bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for item, i := range c.items {
		m := &c.metas[i]
		_, frozen := c.rangeOf(i)
		if !fn(Owner{Item: item, Block: i, Cluster: m.cluster, User: m.user, Frozen: frozen}) {
			return
		}
	}
}

// Scan reads the blocks [from, to) from disk in order and calls fn with
// each (state flags set, hashes not checked: use Verify for that). to =
// NoBlock means to the end.
func (c *Chain) Scan(ctx context.Context, from, to uint64, fn func(Block, error) error) error {
	f, n, err := c.snapshot()
	if err != nil {
		return err
	}
	defer f.Close()
	return scanFile(ctx, f, from, min(to, n), func(i uint64, rec []byte) error {
		b, err := decode(rec)
		c.mu.RLock()
		c.setState(&b, i)
		c.mu.RUnlock()
		return fn(b, err)
	})
}

// snapshot opens a second handle on the block file and returns it with the
// current length, so long reads (Verify, Scan) run without holding the lock:
// records below that length never change, and Repair replaces the file by
// rename, which leaves this handle on the old one.
func (c *Chain) snapshot() (*os.File, uint64, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.f == nil {
		return nil, 0, ErrClosed
	}
	f, err := os.Open(filepath.Join(c.dir, BlocksFile))
	if err != nil {
		return nil, 0, fmt.Errorf("open block file for reading: %w", err)
	}
	return f, uint64(len(c.metas)), nil
}
