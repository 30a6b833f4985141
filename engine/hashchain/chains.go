package hashchain

import (
	"errors"
	"fmt"
	"iter"

	"github.com/conto-ledger/conto/engine/ledger"
)

// Head is the current end of one account's chain and the algorithm it was
// computed with.
type Head struct {
	Hash Hash
	Alg  Alg
}

// Chains is the state machine of a partition's chains: every account's head
// and the last system hash. The commit path and the verifier both run it, so
// what is stored and what is checked come from one code path. A Chains is not
// safe for concurrent use.
type Chains struct {
	partition uint32
	index     map[ledger.Uint128]int32 // position in ids and heads
	ids       []ledger.Uint128         // in creation order, so All is deterministic
	heads     []Head
	version   uint64
	system    Hash
	// Scratch space, reused from batch to batch so Apply allocates per
	// batch, not per event.
	leaves  []Hash   // the Merkle tree's nodes
	slots   []uint64 // bitset of the transfer slots seen
	parties []int32  // positions of each event's debit and credit chains
	// Parallel hashing (parallel.go): each chain's last wave in this batch
	// (all zero between batches), each event's wave, the events in wave
	// order, where each wave starts, and tree scratch.
	wave, evWave, order, waveStart, fill []int32
	treeScratch                          []Hash
}

// NewChains returns an empty Chains for partition, which genesis hashes cover.
func NewChains(partition uint32) *Chains {
	return &Chains{partition: partition, index: map[ledger.Uint128]int32{}}
}

// Head returns the head of account id's chain, if it has one.
func (c *Chains) Head(id ledger.Uint128) (Head, bool) {
	i, ok := c.index[id]
	if !ok {
		return Head{}, false
	}
	return c.heads[i], true
}

// SetHead sets the head of id's chain, creating it if needed: how a restarted
// node restores the heads it stored.
func (c *Chains) SetHead(id ledger.Uint128, h Head) {
	if i, ok := c.index[id]; ok {
		c.heads[i] = h
		return
	}
	c.add(id, h)
}

// Len returns the number of chains.
func (c *Chains) Len() int { return len(c.heads) }

// All yields every chain's account id and head, in the order the chains were
// created (or restored), for snapshots.
func (c *Chains) All() iter.Seq2[ledger.Uint128, Head] {
	return func(yield func(ledger.Uint128, Head) bool) {
		for i, id := range c.ids {
			if !yield(id, c.heads[i]) {
				return
			}
		}
	}
}

// System returns the version and system hash of the last batch applied (or
// set): the Prev of the next block.
func (c *Chains) System() (version uint64, s Hash) { return c.version, c.system }

// SetSystem restores the last batch's version and system hash after a
// restart.
func (c *Chains) SetSystem(version uint64, s Hash) { c.version, c.system = version, s }

func (c *Chains) add(id ledger.Uint128, h Head) {
	c.index[id] = int32(len(c.heads))
	c.ids = append(c.ids, id)
	c.heads = append(c.heads, h)
}

// dropLast removes the last n chains added: undoing a batch's genesis heads
// when the rest of the batch turns out inconsistent.
func (c *Chains) dropLast(n int) {
	keep := len(c.ids) - n
	for _, id := range c.ids[keep:] {
		delete(c.index, id)
	}
	c.ids, c.heads = c.ids[:keep], c.heads[:keep]
}

// BatchInput is what the chains need of one committed batch.
type BatchInput struct {
	Alg     Alg
	Version uint64 // must exceed the version of the last batch applied
	Time    uint64 // the batch time (ns)
	Stamp   Stamp  // the leader's stamp (may be zero: a leader without a key)
	// Accounts are the 128-byte records of the accounts the batch created,
	// in creation order.
	Accounts [][]byte
	// Records is the batch's transfer block: n 128-byte transfer records in
	// slot order.
	Records []byte
	// Events are the batch's transfers and expiries, in order. The caller
	// fills every field but M (Link.M included); Apply fills M.
	Events []Event
}

// ErrInput reports a batch input Apply cannot chain: it names no change of
// state, only an inconsistency between the input and the chains.
var ErrInput = errors.New("inconsistent chain input")

// Apply folds a committed batch into the chains and returns its block.
//
// For each created account, in order, the chain starts at its GenesisHash.
// For each event, in order: a party whose head is of another algorithm than
// in.Alg first migrates (MigrationHead); then m = IntermediateHash over the
// event, its record and both parties' commitments of their current heads,
// with salts Salt(in.Alg, in.Stamp.Nonce, in.Version, slot, side), where slot
// is the transfer's slot and, for the expiry at index i of in.Events,
// 0xFFFFFFFF - i (never a transfer slot: Apply checks that transfers and
// events together number at most 2^32); then both heads advance with
// NextHead. Last, the Merkle root over the block's leaves, and System =
// SystemHash(in.Alg, prev, in.Version, in.Time, root).
//
// Apply fills in.Events[i].M, and the block's Events is in.Events itself (no
// copy on the commit path): keep in.Events unchanged while the block is used.
//
// It fails, changing nothing, only for an input inconsistent with itself or
// with the chains: an unknown algorithm, a version not above the last, a
// record of the wrong size, an unknown event kind, a slot out of range or
// used twice, an account created twice, an event naming an account with no
// chain or the same account on both sides. Errors wrap ErrInput.
func (c *Chains) Apply(in *BatchInput) (*Block, error) {
	return c.apply(in, nil)
}

// ApplyRecords is Apply that also reports every record each account's chain
// gains, in order: the batch's genesis records, then per event the debit
// then the credit side's migration record if any, then the debit then the
// credit side's event record. r is reused between calls, and its Record and
// Link point into in: copy what you keep. each is called only once the batch
// is known to be consistent, so a failed ApplyRecords reports nothing.
func (c *Chains) ApplyRecords(in *BatchInput, each func(id ledger.Uint128, r *AccountRecord)) (*Block, error) {
	return c.apply(in, each)
}

func (c *Chains) apply(in *BatchInput, each func(ledger.Uint128, *AccountRecord)) (*Block, error) {
	if err := c.check(in); err != nil {
		return nil, fmt.Errorf("batch version %d: %w", in.Version, err)
	}
	blk := &Block{Alg: in.Alg, Version: in.Version, Time: in.Time, Stamp: in.Stamp, Prev: c.system,
		Genesis: make([]GenesisEntry, len(in.Accounts)), Events: in.Events}
	if err := c.addGenesis(in, blk.Genesis); err != nil {
		return nil, fmt.Errorf("batch version %d: %w", in.Version, err)
	}
	if err := c.checkParties(in.Events); err != nil {
		c.dropLast(len(in.Accounts))
		return nil, fmt.Errorf("batch version %d: %w", in.Version, err)
	}
	// From here on nothing can fail.
	a := applier{c: c, in: in, each: each}
	if each != nil {
		a.rec = new(AccountRecord)
		a.genesisRecords(blk.Genesis)
	}
	if each == nil && len(in.Events) >= parallelMin {
		a.eventsParallel()
	} else {
		for i := range in.Events {
			a.event(i)
		}
	}
	blk.Root = c.root(blk)
	blk.System = SystemHash(in.Alg, c.system, in.Version, in.Time, blk.Root)
	c.version, c.system = in.Version, blk.System
	return blk, nil
}

// check validates what can be validated without changing the chains.
func (c *Chains) check(in *BatchInput) error {
	switch {
	case !in.Alg.Valid():
		return fmt.Errorf("%w: %w %d", ErrInput, ErrUnknownAlg, uint8(in.Alg))
	case in.Version <= c.version:
		return fmt.Errorf("%w: version %d is not above the last applied, %d", ErrInput, in.Version, c.version)
	case len(in.Records)%ledger.RecordSize != 0:
		return fmt.Errorf("%w: transfer block of %d bytes is not a multiple of %d", ErrInput, len(in.Records), ledger.RecordSize)
	}
	for i, a := range in.Accounts {
		if len(a) != ledger.RecordSize {
			return fmt.Errorf("%w: account record %d of %d bytes", ErrInput, i, len(a))
		}
	}
	return c.checkEvents(in)
}

// checkEvents validates every event's kind and slot. Each transfer slot may
// appear once: two events with one slot would share salts.
func (c *Chains) checkEvents(in *BatchInput) error {
	n := len(in.Records) / ledger.RecordSize
	if uint64(n)+uint64(len(in.Events)) > 1<<32 {
		return fmt.Errorf("%w: %d transfers and %d events overflow the slot space", ErrInput, n, len(in.Events))
	}
	c.slots = resize(c.slots, (n+63)/64)
	for i := range in.Events {
		ev := &in.Events[i]
		switch {
		case ev.Kind == EventExpiry && ev.Slot != 0:
			return fmt.Errorf("%w: event %d: expiry with slot %d, want 0", ErrInput, i, ev.Slot)
		case ev.Kind == EventExpiry:
		case ev.Kind != EventTransfer:
			return fmt.Errorf("%w: event %d: unknown kind %d", ErrInput, i, ev.Kind)
		case int64(ev.Slot) >= int64(n):
			return fmt.Errorf("%w: event %d: slot %d out of the %d transfers", ErrInput, i, ev.Slot, n)
		case c.slots[ev.Slot/64]&(1<<(ev.Slot%64)) != 0:
			return fmt.Errorf("%w: event %d: slot %d used twice", ErrInput, i, ev.Slot)
		default:
			c.slots[ev.Slot/64] |= 1 << (ev.Slot % 64)
		}
		if ev.DebitID == ev.CreditID {
			return fmt.Errorf("%w: event %d: account %v on both sides", ErrInput, i, ev.DebitID)
		}
	}
	return nil
}

// resize returns s with length n, zeroed, reusing its storage.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// addGenesis starts the chains of the accounts the batch created, or starts
// none if one already has a chain.
func (c *Chains) addGenesis(in *BatchInput, out []GenesisEntry) error {
	for i, rec := range in.Accounts {
		id := getU128(rec) // the record's first field is the account id
		if _, ok := c.index[id]; ok {
			c.dropLast(i)
			return fmt.Errorf("%w: account %v (record %d) already has a chain", ErrInput, id, i)
		}
		h := GenesisHash(in.Alg, c.partition, &in.Stamp, rec)
		c.add(id, Head{Hash: h, Alg: in.Alg})
		out[i] = GenesisEntry{ID: id, Hash: h}
	}
	return nil
}

// checkParties checks that every event's accounts have chains, and notes
// where the chains are so applying the events looks up no account twice.
func (c *Chains) checkParties(events []Event) error {
	c.parties = resize(c.parties, 2*len(events))
	for i := range events {
		ev := &events[i]
		for j, id := range [2]ledger.Uint128{ev.DebitID, ev.CreditID} {
			at, ok := c.index[id]
			if !ok {
				return fmt.Errorf("%w: event %d (id %v): account %v has no chain", ErrInput, i, ev.ID, id)
			}
			c.parties[2*i+j] = at
		}
	}
	return nil
}

// root computes the block's Merkle root over its leaves in the reused
// scratch space.
func (c *Chains) root(b *Block) Hash {
	c.leaves = resize(c.leaves, len(b.Genesis)+len(b.Events))
	for i, g := range b.Genesis {
		c.leaves[i] = leafHash(b.Alg, g.Hash)
	}
	ng := len(b.Genesis)
	if len(c.leaves) < parallelMin {
		for i := range b.Events {
			c.leaves[ng+i] = leafHash(b.Alg, b.Events[i].M)
		}
		return reduceRoot(b.Alg, c.leaves)
	}
	parallelFor(len(b.Events), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			c.leaves[ng+i] = leafHash(b.Alg, b.Events[i].M)
		}
	})
	c.treeScratch = resize(c.treeScratch, len(c.leaves)/2+1)
	return reduceRootParallel(b.Alg, c.leaves, c.treeScratch)
}
