package store

import (
	"errors"
	"fmt"
	"slices"

	"github.com/conto-ledger/conto/engine/hashchain"
	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/dgraph-io/badger/v4"
)

// ErrChainsOff: the store runs without hash chains.
var ErrChainsOff = errors.New("store: hash chains are off")

// ChainBlockRecords is a chain block with the records it covers: the
// batch's transfers (slot order) and the accounts it created (Genesis order,
// as created).
type ChainBlockRecords struct {
	Block     *hashchain.Block
	Transfers []ledger.Transfer
	Accounts  []ledger.Account
}

// chainRead opens a read transaction at the visible version, for chain
// reads; it fails when chains are off.
func (s *Store) chainRead() (*badger.Txn, uint64, error) {
	if s.opts.NoChains {
		return nil, 0, ErrChainsOff
	}
	v, err := s.drain()
	if err != nil {
		return nil, 0, err
	}
	return s.db.NewTransactionAt(v, false), v, nil
}

// ChainBlocks returns up to limit chain blocks from version `from` on, with
// their records, and the version to continue from (0 at the end).
func (s *Store) ChainBlocks(from uint64, limit int) ([]ChainBlockRecords, uint64, error) {
	txn, _, err := s.chainRead()
	if err != nil {
		return nil, 0, err
	}
	defer txn.Discard()
	var out []ChainBlockRecords
	var next uint64
	errStop := errors.New("page full")
	err = forEachChainBlock(txn, from, func(b *hashchain.Block) error {
		if len(out) == limit {
			next = b.Version
			return errStop
		}
		in, err := chainInput(txn, b)
		if err != nil {
			return err
		}
		rec := ChainBlockRecords{Block: b}
		if len(in.Records) > 0 {
			if rec.Transfers, err = ledger.DecodeTransfers(in.Records); err != nil {
				return fmt.Errorf("%w: version %d: %v", ErrChain, b.Version, err)
			}
		}
		for _, raw := range in.Accounts {
			a, err := ledger.DecodeAccount(raw)
			if err != nil {
				return fmt.Errorf("%w: version %d: %v", ErrChain, b.Version, err)
			}
			rec.Accounts = append(rec.Accounts, a)
		}
		out = append(out, rec)
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, 0, err
	}
	return out, next, nil
}

// AccountChain returns records [from, from+limit) of an account's chain
// (genesis first), whether more follow, and whether the account exists.
func (s *Store) AccountChain(id ledger.Uint128, from, limit int) ([]hashchain.AccountRecord, bool, bool, error) {
	if s.opts.NoChains {
		return nil, false, false, ErrChainsOff
	}
	vw, err := s.viewOf(id, ^uint64(0))
	if err != nil || !vw.exists {
		return nil, false, false, err
	}
	defer vw.txn.Discard()
	var versions []uint64
	err = accountVersions(vw.txn, id, vw.recent, vw.visible, func(v uint64) (bool, error) {
		versions = append(versions, v)
		return true, nil
	})
	if err != nil {
		return nil, false, true, err
	}
	slices.Reverse(versions)
	w := chainWalk{id: id, from: from, limit: limit}
	for _, v := range versions {
		blk, err := readChainBlock(vw.txn, v)
		if err != nil {
			return nil, false, true, fmt.Errorf("%w: %v", ErrChain, err)
		}
		var records []byte
		if item, err := vw.txn.Get(u64Key(prefixBlock, v)); err == nil {
			records, err = item.ValueCopy(nil)
			if err != nil {
				return nil, false, true, err
			}
		}
		if done := w.block(blk, records); done {
			return w.out, true, true, nil
		}
	}
	return w.out, false, true, nil
}

// chainWalk collects one page of an account's records.
type chainWalk struct {
	id          ledger.Uint128
	from, limit int
	n           int // records seen
	out         []hashchain.AccountRecord
}

// block adds the block's records of the account; it reports true once the
// page is full and a record beyond it exists.
func (w *chainWalk) block(b *hashchain.Block, records []byte) bool {
	for _, r := range hashchain.AccountRecordsOf(b, records, w.id) {
		if w.n >= w.from+w.limit {
			return true
		}
		if w.n >= w.from {
			w.out = append(w.out, r)
		}
		w.n++
	}
	return false
}

// TransferProof is what proves a transfer's place in its batch's root.
type TransferProof struct {
	Transfer                  ledger.Transfer
	Version                   uint64
	Block                     *hashchain.Block
	LeafIndex, TreeSize       int
	Slot                      uint32
	Leaf                      hashchain.Hash
	AuditPath                 []hashchain.Hash
	DebitCommit, CreditCommit hashchain.Hash
	Link                      *hashchain.Link
}

// TransferProof finds a transfer's chain event and its Merkle audit path.
func (s *Store) TransferProof(id ledger.Uint128) (*TransferProof, error) {
	t, ok := s.Transfer(id)
	if !ok {
		return nil, fmt.Errorf("store: no transfer %v", id)
	}
	txn, _, err := s.chainRead()
	if err != nil {
		return nil, err
	}
	defer txn.Discard()
	v, err := versionOfTimestamp(txn, t.Timestamp)
	if err != nil {
		return nil, fmt.Errorf("%w: transfer %v: %v", ErrChain, id, err)
	}
	blk, err := readChainBlock(txn, v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrChain, err)
	}
	for i := range blk.Events {
		ev := &blk.Events[i]
		if ev.Kind != hashchain.EventTransfer || ev.ID != id {
			continue
		}
		leaves := blk.Leaves()
		idx := len(blk.Genesis) + i
		dc, cc := hashchain.EventCommitments(blk, i)
		return &TransferProof{Transfer: t, Version: v, Block: blk, LeafIndex: idx, TreeSize: len(leaves), Slot: ev.Slot,
			Leaf: ev.M, AuditPath: hashchain.InclusionProof(blk.Alg, leaves, idx),
			DebitCommit: dc, CreditCommit: cc, Link: ev.Link}, nil
	}
	return nil, fmt.Errorf("%w: transfer %v is not in the chain block of version %d", ErrChain, id, v)
}

// SystemPath returns the chain blocks of versions from..to (headers are what
// matter: they fold the system hash forward to a checkpoint).
func (s *Store) SystemPath(from, to uint64) ([]hashchain.Block, error) {
	txn, _, err := s.chainRead()
	if err != nil {
		return nil, err
	}
	defer txn.Discard()
	var out []hashchain.Block
	errStop := errors.New("done")
	err = forEachChainBlock(txn, from, func(b *hashchain.Block) error {
		if b.Version > to {
			return errStop
		}
		b.Genesis, b.Events = nil, nil
		out = append(out, *b)
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	if to >= from && (len(out) == 0 || out[len(out)-1].Version != to) {
		return nil, fmt.Errorf("%w: no chain block at version %d yet", ErrChain, to)
	}
	return out, nil
}

// LastSystemHash returns the version and system hash of the newest chain
// block visible (0 and the zero hash before the first).
func (s *Store) LastSystemHash() (uint64, hashchain.Hash, error) {
	txn, v, err := s.chainRead()
	if err != nil {
		return 0, hashchain.Hash{}, err
	}
	defer txn.Discard()
	b, err := lastChainBlock(txn, v)
	if err != nil || b == nil {
		return 0, hashchain.Hash{}, err
	}
	return b.Version, b.System, nil
}
