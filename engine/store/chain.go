package store

import (
	"errors"
	"fmt"

	"github.com/conto-ledger/conto/engine/hashchain"
	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/dgraph-io/badger/v4"
)

// Hash chains (engine/hashchain) are computed here, off the Apply path:
// Apply copies what the chains need from the batch's effects into the write
// job (chainWork), and the writer goroutine folds it into the accounts'
// chains, then writes the batch's chain block ('H' version) in the same
// Badger batch as the rest, so a batch and its chain block are visible
// together or not at all. At index checkpoints the writer also stores the
// head of every account whose chain moved since the last one ('h' id), so
// a restart replays at most the chain blocks after the checkpoint.
//
// A batch is acknowledged once its Raft entry is durable, before the writer
// has chained it; the chains are a deterministic function of the log, so a
// crash in between recomputes them identically on replay.

// chainWork is one batch's input to the chains, built by Apply.
type chainWork struct {
	in          hashchain.BatchInput
	corrections []correctionRef
}

// correctionRef is a correction whose corrected transfer's intermediate
// hash the writer looks up (it is in an earlier, already written batch).
type correctionRef struct {
	event     int
	id        ledger.Uint128
	timestamp uint64
}

// ErrChain reports a chain block that does not match what its batch
// recomputes to, or a batch the chains cannot take.
var ErrChain = errors.New("hash chain")

// encodeChain builds the batch's chain input. block is the batch's encoded
// transfer block (nil without transfers). The caller holds applyMu.
func (s *Store) encodeChain(b *ledger.Batch, results []ledger.Result, eff *ledger.Effects, job *writeJob, block []byte) {
	if s.opts.NoChains {
		return
	}
	if alg := hashchain.Alg(b.Seal.Alg); alg.Valid() {
		s.chainAlg = alg
	}
	w := &chainWork{in: hashchain.BatchInput{Alg: s.chainAlg, Version: eff.Version, Time: b.Time, Records: block}}
	if st, err := hashchain.DecodeStamp(b.Seal.Stamp[:]); err == nil {
		w.in.Stamp = st
	}
	for _, ai := range eff.Changed {
		a := s.state.AccountAt(ai)
		if eff.FirstTimestamp != 0 && a.Timestamp >= eff.FirstTimestamp {
			rec := job.arena.alloc(ledger.RecordSize)
			ledger.EncodeAccount(rec, a)
			w.in.Accounts = append(w.in.Accounts, rec)
		}
	}
	w.in.Events = job.arena.events(len(eff.Touches) / 2)
	for i := 0; i+1 < len(eff.Touches); i += 2 {
		w.in.Events = append(w.in.Events, s.chainEvent(&eff.Touches[i], &eff.Touches[i+1]))
	}
	w.corrections = s.correctionRefs(b, results, eff)
	job.chain = w
}

// chainEvent turns a transfer's or an expiry's two touches (debit side
// first, as the ledger records them) into a chain event.
func (s *Store) chainEvent(d, c *ledger.Touch) hashchain.Event {
	ev := hashchain.Event{Kind: hashchain.EventTransfer, ID: d.TransferID, Timestamp: d.Balance.Timestamp,
		DebitID: s.state.AccountAt(d.Account).ID, CreditID: s.state.AccountAt(c.Account).ID,
		Debit: balances(&d.Balance, d.Flags), Credit: balances(&c.Balance, c.Flags)}
	if d.Slot >= 0 {
		ev.Slot = uint32(d.Slot)
	} else {
		ev.Kind = hashchain.EventExpiry
	}
	return ev
}

func balances(b *ledger.Balance, flags ledger.AccountFlags) hashchain.Balances {
	return hashchain.Balances{DebitsPending: b.DebitsPending, DebitsPosted: b.DebitsPosted,
		CreditsPending: b.CreditsPending, CreditsPosted: b.CreditsPosted, Flags: uint16(flags)}
}

// correctionRefs maps the batch's corrections (by event index) to the
// chain events of the correcting transfers that were created; a correcting
// transfer that failed links nothing.
func (s *Store) correctionRefs(b *ledger.Batch, results []ledger.Result, eff *ledger.Effects) []correctionRef {
	if len(b.Corrections) == 0 || b.Kind != ledger.KindTransfers {
		return nil
	}
	// Event k of the chain input is the k-th created transfer: expiries
	// come first (the batch expires before it applies its events).
	expiries := 0
	for i := 0; i+1 < len(eff.Touches); i += 2 {
		if eff.Touches[i].Slot < 0 {
			expiries++
		}
	}
	var refs []correctionRef
	slot, next := 0, 0
	for i := range b.Transfers {
		if results[i].Status != 0 {
			continue
		}
		for next < len(b.Corrections) && int(b.Corrections[next].Index) < i {
			next++
		}
		if next < len(b.Corrections) && int(b.Corrections[next].Index) == i {
			id := b.Corrections[next].Corrects
			if t, ok := s.state.Transfer(id); ok {
				refs = append(refs, correctionRef{event: expiries + slot, id: id, timestamp: t.Timestamp})
			}
		}
		slot++
	}
	return refs
}

// chainBlock runs in the writer: it resolves the job's corrections, folds
// the batch into the chains and adds the chain block (and, at a
// checkpoint, the moved heads) to the job.
func (s *Store) chainBlock(job *writeJob) (*hashchain.Block, error) {
	w := job.chain
	if len(w.corrections) > 0 && s.lastChained > 0 {
		// A corrected transfer may be in a batch still queued for the
		// writer: let it catch up (corrections are rare).
		if _, err := s.waitVisible(s.lastChained); err != nil {
			return nil, err
		}
	}
	s.lastChained = job.version
	for _, ref := range w.corrections {
		m, err := s.intermediateHashOf(ref.id, ref.timestamp)
		if err != nil {
			return nil, fmt.Errorf("%w: version %d: correction of %v: %v", ErrChain, job.version, ref.id, err)
		}
		w.in.Events[ref.event].Link = &hashchain.Link{ID: ref.id, M: m}
	}
	blk, err := s.chains.Apply(&w.in)
	if err != nil {
		return nil, fmt.Errorf("%w: version %d: %v", ErrChain, job.version, err)
	}
	for _, g := range blk.Genesis {
		s.headsMoved[g.ID] = struct{}{}
	}
	for i := range blk.Events {
		s.headsMoved[blk.Events[i].DebitID] = struct{}{}
		s.headsMoved[blk.Events[i].CreditID] = struct{}{}
	}
	job.add(u64Key(prefixChain, job.version), blk.AppendEncode(job.arena.allocBig(blk.EncodedSize())[:0]))
	if job.checkpoint {
		for id := range s.headsMoved {
			h, _ := s.chains.Head(id)
			job.add(idKey(prefixHead, id), encodeHead(h))
		}
		clear(s.headsMoved)
	}
	metaLast(job)
	return blk, nil
}

// metaLast moves the meta key back to the end of the job's writes: Badger
// may split a big write batch into several transactions, and meta written
// last is what makes a torn batch invisible (load trusts meta).
func metaLast(job *writeJob) {
	for i := range job.kvs {
		if len(job.kvs[i].key) == 1 && job.kvs[i].key[0] == prefixMeta {
			m := job.kvs[i]
			job.kvs = append(append(job.kvs[:i], job.kvs[i+1:]...), m)
			return
		}
	}
}

func encodeHead(h hashchain.Head) []byte {
	v := make([]byte, 33)
	v[0] = byte(h.Alg)
	copy(v[1:], h.Hash[:])
	return v
}

func decodeHead(v []byte) (hashchain.Head, error) {
	if len(v) != 33 || !hashchain.Alg(v[0]).Valid() {
		return hashchain.Head{}, fmt.Errorf("%w: head value of %d bytes", ErrChain, len(v))
	}
	var h hashchain.Head
	h.Alg = hashchain.Alg(v[0])
	copy(h.Hash[:], v[1:])
	return h, nil
}

// intermediateHashOf finds a written transfer's intermediate hash: its
// timestamp gives its batch, whose chain block holds it.
func (s *Store) intermediateHashOf(id ledger.Uint128, timestamp uint64) (hashchain.Hash, error) {
	txn := s.db.NewTransactionAt(maxReadVersion, false)
	defer txn.Discard()
	return intermediateHashIn(txn, id, timestamp)
}

// intermediateHashIn is intermediateHashOf within a read transaction.
func intermediateHashIn(txn *badger.Txn, id ledger.Uint128, timestamp uint64) (hashchain.Hash, error) {
	v, err := versionOfTimestamp(txn, timestamp)
	if err != nil {
		return hashchain.Hash{}, err
	}
	blk, err := readChainBlock(txn, v)
	if err != nil {
		return hashchain.Hash{}, err
	}
	for i := range blk.Events {
		if ev := &blk.Events[i]; ev.Kind == hashchain.EventTransfer && ev.ID == id {
			return ev.M, nil
		}
	}
	return hashchain.Hash{}, fmt.Errorf("transfer %v is not in the chain block of version %d", id, v)
}

// maxReadVersion reads everything Badger holds; only the writer uses it,
// and everything it has written is complete.
const maxReadVersion = ^uint64(0) - 1

// versionOfTimestamp returns the version of the batch that assigned the
// timestamp: the first batch whose last timestamp is not before it.
func versionOfTimestamp(txn *badger.Txn, timestamp uint64) (uint64, error) {
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = []byte{prefixTime}
	it := txn.NewIterator(opts)
	defer it.Close()
	it.Seek(u64Key(prefixTime, timestamp))
	if !it.Valid() {
		return 0, fmt.Errorf("no batch assigned timestamp %d", timestamp)
	}
	var v uint64
	err := it.Item().Value(func(b []byte) error {
		if len(b) != 8 {
			return fmt.Errorf("time index value of %d bytes", len(b))
		}
		v = be.Uint64(b)
		return nil
	})
	return v, err
}

// readChainBlock reads and decodes the chain block of version v.
func readChainBlock(txn *badger.Txn, v uint64) (*hashchain.Block, error) {
	item, err := txn.Get(u64Key(prefixChain, v))
	if err != nil {
		return nil, fmt.Errorf("chain block of version %d: %w", v, err)
	}
	var blk *hashchain.Block
	err = item.Value(func(b []byte) error {
		var err error
		blk, err = hashchain.DecodeBlock(b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("chain block of version %d: %w", v, err)
	}
	return blk, nil
}

// loadChains restores the chains as of the last batch: the heads stored at
// the last index checkpoint, then every chain block after it, each
// recomputed from the batch's stored records and checked against what is
// stored. The caller holds whatever load holds; the writer is not running.
func (s *Store) loadChains(m meta) error {
	s.chains = hashchain.NewChains(s.opts.Partition)
	s.headsMoved = map[ledger.Uint128]struct{}{}
	s.chainAlg = hashchain.SHA256
	if s.opts.NoChains || m.Version == 0 {
		return nil
	}
	txn := s.db.NewTransactionAt(m.Version, false)
	defer txn.Discard()
	err := scan(txn, prefixHead, func(k, v []byte, _ uint64) error {
		h, err := decodeHead(v)
		s.chains.SetHead(idFromKey(k), h)
		return err
	})
	if err != nil {
		return fmt.Errorf("load chain heads: %w", err)
	}
	last, err := lastChainBlock(txn, m.IndexedThrough)
	if err != nil {
		return err
	}
	if last != nil {
		s.chains.SetSystem(last.Version, last.System)
		s.chainAlg = last.Alg
	}
	return forEachChainBlock(txn, m.IndexedThrough+1, func(stored *hashchain.Block) error {
		in, err := chainInput(txn, stored)
		if err != nil {
			return err
		}
		got, err := s.chains.Apply(in)
		if err != nil {
			return fmt.Errorf("%w: version %d: %v", ErrChain, stored.Version, err)
		}
		if err := hashchain.CompareBlocks(stored, got); err != nil {
			return fmt.Errorf("%w: %v", ErrChain, err)
		}
		for _, g := range got.Genesis {
			s.headsMoved[g.ID] = struct{}{}
		}
		for i := range got.Events {
			s.headsMoved[got.Events[i].DebitID] = struct{}{}
			s.headsMoved[got.Events[i].CreditID] = struct{}{}
		}
		s.chainAlg = stored.Alg
		return nil
	})
}

// lastChainBlock returns the chain block with the greatest version ≤ v, or
// nil if there is none.
func lastChainBlock(txn *badger.Txn, v uint64) (*hashchain.Block, error) {
	opts := badger.DefaultIteratorOptions
	opts.Reverse, opts.PrefetchValues = true, false
	opts.Prefix = []byte{prefixChain}
	it := txn.NewIterator(opts)
	defer it.Close()
	it.Seek(u64Key(prefixChain, v))
	if !it.Valid() {
		return nil, nil
	}
	return readChainBlock(txn, be.Uint64(it.Item().Key()[1:]))
}

// forEachChainBlock calls fn with every chain block from version `from` on,
// in version order.
func forEachChainBlock(txn *badger.Txn, from uint64, fn func(*hashchain.Block) error) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte{prefixChain}
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Seek(u64Key(prefixChain, from)); it.Valid(); it.Next() {
		v := be.Uint64(it.Item().Key()[1:])
		var blk *hashchain.Block
		err := it.Item().Value(func(b []byte) error {
			var err error
			blk, err = hashchain.DecodeBlock(b)
			return err
		})
		if err == nil && blk.Version != v {
			err = fmt.Errorf("holds version %d", blk.Version)
		}
		if err != nil {
			return fmt.Errorf("%w: chain block of version %d: %v", ErrChain, v, err)
		}
		if err := fn(blk); err != nil {
			return err
		}
	}
	return nil
}

// chainInput rebuilds a batch's chain input from what is stored: the
// transfer block, the created accounts' records from the delta block, and
// the events the chain block lists (their hashes are what Apply
// recomputes; corrections keep the stored link).
func chainInput(txn *badger.Txn, stored *hashchain.Block) (*hashchain.BatchInput, error) {
	in := &hashchain.BatchInput{Alg: stored.Alg, Version: stored.Version, Time: stored.Time, Stamp: stored.Stamp}
	v := stored.Version
	if item, err := txn.Get(u64Key(prefixBlock, v)); err == nil {
		if in.Records, err = item.ValueCopy(nil); err != nil {
			return nil, fmt.Errorf("transfer block of version %d: %w", v, err)
		}
	} else if !errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("transfer block of version %d: %w", v, err)
	}
	if len(stored.Genesis) > 0 {
		item, err := txn.Get(u64Key(prefixDelta, v))
		if err != nil {
			return nil, fmt.Errorf("%w: delta block of version %d: %v", ErrChain, v, err)
		}
		block, err := item.ValueCopy(nil)
		if err != nil {
			return nil, fmt.Errorf("delta block of version %d: %w", v, err)
		}
		for _, g := range stored.Genesis {
			row, ok, err := deltaLookup(block, g.ID, false)
			if err != nil || !ok || !row.full {
				return nil, fmt.Errorf("%w: version %d: account %v created without its record in the delta block", ErrChain, v, g.ID)
			}
			in.Accounts = append(in.Accounts, row.body)
		}
	}
	in.Events = make([]hashchain.Event, len(stored.Events))
	for i, ev := range stored.Events {
		ev.M = hashchain.Hash{}
		in.Events[i] = ev
	}
	return in, nil
}
