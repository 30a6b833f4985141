package store

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/dgraph-io/badger/v4"
)

// readMeta returns the newest meta record, if any batch was ever applied.
func (s *Store) readMeta() (meta, bool, error) {
	txn := s.db.NewTransactionAt(math.MaxUint64, false)
	defer txn.Discard()
	item, err := txn.Get(metaKey)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return meta{}, false, nil
	}
	if err != nil {
		return meta{}, false, err
	}
	var m meta
	err = item.Value(func(v []byte) (err error) { m, err = decodeMeta(v); return err })
	if err == nil && m.Version != item.Version() {
		err = fmt.Errorf("meta says version %d but is stored at %d", m.Version, item.Version())
	}
	return m, err == nil, err
}

// load rebuilds the in-memory ledger from Badger as of the last complete
// batch. Anything written at a later version belongs to a batch cut short by
// a crash and is ignored; re-applying that batch rewrites it identically.
func (s *Store) load() error {
	st := ledger.NewState(s.opts.AccountHint, s.opts.TransferHint)
	m, ok, err := s.readMeta()
	if err != nil {
		return fmt.Errorf("read meta: %w", err)
	}
	index := versionIndex{every: s.opts.indexEvery, density: s.opts.indexDensity}
	keys := map[string]uint64{}
	if ok {
		if err := loadState(s.db, m, st, &index); err != nil {
			return err
		}
		if err := loadKeys(s.db, m, keys); err != nil {
			return err
		}
	}
	s.state, s.applied, s.visible, s.index, s.kv = st, m.Version, m.Version, index, keys
	if err := s.loadChains(m); err != nil {
		return err
	}
	// Whoever signs checkpoints learns the system hash the store holds
	// (after a restart or a snapshot restore, before the next batch).
	v, sys := s.chains.System()
	if v > 0 && v != m.Version {
		// Every batch writes its chain block with meta: a store whose meta
		// is ahead lost chain blocks, and chaining on would diverge.
		return fmt.Errorf("%w: the store is at version %d but its last chain block is %d", ErrChain, m.Version, v)
	}
	if v > 0 && s.opts.OnSystemHash != nil {
		s.opts.OnSystemHash(v, s.chainAlg, sys)
	}
	return nil
}

func loadState(db *badger.DB, m meta, st *ledger.State, index *versionIndex) error {
	txn := db.NewTransactionAt(m.Version, false)
	defer txn.Discard()
	accounts, recent, err := loadAccounts(txn, m)
	if err != nil {
		return err
	}
	// Creation order is timestamp order; restore it so the State is the one
	// that applying the same batches would have built.
	slices.SortFunc(accounts, func(a, b ledger.Account) int { return cmpU64(a.Timestamp, b.Timestamp) })
	for _, a := range accounts {
		st.RestoreAccount(a)
	}
	index.through = m.IndexedThrough
	for _, a := range accounts {
		i, _ := st.AccountIndex(a.ID)
		for _, v := range recent[a.ID] {
			index.add(i, v)
		}
	}
	err = scan(txn, prefixBlock, func(k, v []byte, _ uint64) error {
		ts, err := ledger.DecodeTransfers(v)
		for _, t := range ts {
			st.RestoreTransfer(t)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("load transfers: %w", err)
	}
	err = scan(txn, prefixPending, func(k, v []byte, _ uint64) error {
		p, err := decodePending(v)
		st.RestorePending(idFromKey(k), p)
		return err
	})
	if err != nil {
		return fmt.Errorf("load pending transfers: %w", err)
	}
	err = scan(txn, prefixFailed, func(k, v []byte, _ uint64) error {
		if len(v) != 4 {
			return fmt.Errorf("failed-id value of %d bytes", len(v))
		}
		st.RestoreFailed(idFromKey(k), ledger.TransferStatus(le.Uint32(v)))
		return nil
	})
	if err != nil {
		return fmt.Errorf("load failed ids: %w", err)
	}
	st.RestoreClock(m.Version, m.LastTimestamp)
	return nil
}

// loadAccounts reads every account's record as of the last index
// checkpoint, then replays the delta blocks after it, which also gives the
// versions the in-memory index must hold again.
func loadAccounts(txn *badger.Txn, m meta) ([]ledger.Account, map[ledger.Uint128][]uint64, error) {
	byID := map[ledger.Uint128]ledger.Account{}
	err := scan(txn, prefixAccount, func(k, v []byte, _ uint64) error {
		a, err := ledger.DecodeAccount(v)
		if err == nil && (len(k) != 17 || a.ID != idFromKey(k)) {
			err = fmt.Errorf("account key %x holds account %s", k, a.ID)
		}
		byID[a.ID] = a
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("load accounts: %w", err)
	}
	recent := map[ledger.Uint128][]uint64{}
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte{prefixDelta}
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Seek(u64Key(prefixDelta, m.IndexedThrough+1)); it.Valid(); it.Next() {
		v := be.Uint64(it.Item().Key()[1:])
		err := it.Item().Value(func(block []byte) error {
			n, err := deltaRows(block)
			if err != nil {
				return err
			}
			history := func(id ledger.Uint128) bool { a := byID[id]; return hasHistory(&a) }
			for i := 0; i < n; i++ {
				row, err := deltaRowAt(block, i, history)
				if err != nil {
					return err
				}
				base, ok := byID[row.id]
				if !ok && !row.full {
					return fmt.Errorf("account %s changes before it exists", row.id)
				}
				if byID[row.id], err = row.account(base, v); err != nil {
					return err
				}
				recent[row.id] = append(recent[row.id], v)
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("load delta block %d: %w", v, err)
		}
	}
	accounts := make([]ledger.Account, 0, len(byID))
	for _, a := range byID {
		accounts = append(accounts, a)
	}
	return accounts, recent, nil
}

// loadKeys reads the version of every key of the key-value space.
func loadKeys(db *badger.DB, m meta, keys map[string]uint64) error {
	txn := db.NewTransactionAt(m.Version, false)
	defer txn.Discard()
	opts := badger.DefaultIteratorOptions
	opts.Prefix, opts.PrefetchValues = []byte{prefixKV}, false
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		keys[string(it.Item().Key()[1:])] = it.Item().Version()
	}
	return nil
}

// scan calls fn with the newest visible version of every key under prefix.
func scan(txn *badger.Txn, prefix byte, fn func(k, v []byte, version uint64) error) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte{prefix}
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()
		err := item.Value(func(v []byte) error { return fn(k, v, item.Version()) })
		if err != nil {
			return fmt.Errorf("key %x@%d: %w", k, item.Version(), err)
		}
	}
	return nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
