package store

import (
	"errors"
	"fmt"
	"slices"

	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/dgraph-io/badger/v4"
)

// Query limits (SPEC §3).
const (
	DefaultQueryLimit = 100
	MaxQueryLimit     = ledger.MaxBatchEvents
)

// ErrBadFilter rejects a statement query whose filter makes no sense.
var ErrBadFilter = errors.New("bad filter")

// Filter selects entries of an account's statement (SPEC §3,
// GET /v1/accounts/{id}/transfers and /balances).
type Filter struct {
	TimestampMin uint64 // inclusive; 0: no lower bound
	TimestampMax uint64 // inclusive; 0: no upper bound
	Limit        int    // 1..MaxQueryLimit; 0 means DefaultQueryLimit
	// Debits and Credits select the side the account was on; neither set
	// means both.
	Debits, Credits bool
	Reversed        bool // newest first
}

func (f *Filter) normalise() error {
	if f.Limit == 0 {
		f.Limit = DefaultQueryLimit
	}
	if f.Limit < 0 || f.Limit > MaxQueryLimit {
		return fmt.Errorf("limit %d is not in 1..%d: %w", f.Limit, MaxQueryLimit, ErrBadFilter)
	}
	if f.TimestampMax == 0 {
		f.TimestampMax = ^uint64(0)
	}
	if f.TimestampMin > f.TimestampMax {
		return fmt.Errorf("timestamp_min %d is after timestamp_max %d: %w", f.TimestampMin, f.TimestampMax, ErrBadFilter)
	}
	if !f.Debits && !f.Credits {
		f.Debits, f.Credits = true, true
	}
	return nil
}

func (f *Filter) matches(e *statementEntry) bool {
	if e.Timestamp < f.TimestampMin || e.Timestamp > f.TimestampMax {
		return false
	}
	if e.Debit {
		return f.Debits
	}
	return f.Credits
}

// Account returns the current state of an account from memory.
func (s *Store) Account(id ledger.Uint128) (ledger.Account, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state.Account(id)
}

// Transfer returns a transfer by id from memory.
func (s *Store) Transfer(id ledger.Uint128) (ledger.Transfer, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state.Transfer(id)
}

// Pending returns the life cycle of a pending transfer.
func (s *Store) Pending(id ledger.Uint128) (ledger.PendingInfo, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state.Pending(id)
}

// NextExpiry is the engine time of the next pending expiry (0: none).
func (s *Store) NextExpiry() uint64 {
	s.mu.Lock() // NextExpiry drops stale heap entries
	defer s.mu.Unlock()
	return s.state.NextExpiry()
}

// readTxn opens a read-only Badger transaction that sees every batch
// applied so far, waiting for the writer to finish them.
func (s *Store) readTxn() (*badger.Txn, error) {
	v, err := s.drain()
	if err != nil {
		return nil, err
	}
	return s.db.NewTransactionAt(v, false), nil
}

// view is a consistent read of one account's history: a Badger transaction
// at the visible version and the account's in-memory recent versions, taken
// together under the read lock.
type view struct {
	txn     *badger.Txn
	visible uint64
	recent  []uint64
	exists  bool
	base    ledger.Account // the account now: its unchanging fields
}

// viewOf waits until version upTo (capped at the last applied version) is
// visible, so a read never misses a batch that Apply already answered.
func (s *Store) viewOf(id ledger.Uint128, upTo uint64) (view, error) {
	s.mu.RLock()
	target := min(upTo, s.applied)
	s.mu.RUnlock()
	if _, err := s.waitVisible(target); err != nil {
		return view{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.usable(); err != nil {
		return view{}, err
	}
	v := view{visible: s.visible, txn: s.db.NewTransactionAt(s.visible, false)}
	if i, ok := s.state.AccountIndex(id); ok {
		v.exists = true
		v.recent = slices.Clone(s.index.versions(i))
		v.base = *s.state.AccountAt(i)
	}
	return v, nil
}

// readDelta finds the account's row in the delta block of version v and
// passes it to fn (valid only during fn).
func readDelta(txn *badger.Txn, vw *view, id ledger.Uint128, v uint64, fn func(r *deltaRow) error) error {
	item, err := txn.Get(u64Key(prefixDelta, v))
	if err != nil {
		return fmt.Errorf("delta block %d: %w", v, err)
	}
	return item.Value(func(block []byte) error {
		r, ok, err := deltaLookup(block, id, hasHistory(&vw.base))
		if err != nil {
			return fmt.Errorf("delta block %d: %w", v, err)
		}
		if !ok {
			return fmt.Errorf("delta block %d does not hold account %s", v, id)
		}
		return fn(&r)
	})
}

// AccountAt reads an account as of a version: its state after the last batch
// with version ≤ version that changed it. Versions above the last applied one
// read the current state.
func (s *Store) AccountAt(id ledger.Uint128, version uint64) (ledger.Account, bool, error) {
	vw, err := s.viewOf(id, version)
	if err != nil || !vw.exists {
		return ledger.Account{}, false, err
	}
	defer vw.txn.Discard()
	var (
		a     ledger.Account
		found bool
	)
	err = accountVersions(vw.txn, id, vw.recent, min(version, vw.visible), func(v uint64) (bool, error) {
		found = true
		return false, readDelta(vw.txn, &vw, id, v, func(r *deltaRow) (err error) {
			a, err = r.account(vw.base, v)
			return err
		})
	})
	if err != nil {
		return ledger.Account{}, false, fmt.Errorf("store: read account %s as of %d: %w", id, version, err)
	}
	return a, found, nil
}

// VersionAt maps engine time to a version: the last batch whose timestamps
// are all ≤ t. It answers false when no batch is that old.
func (s *Store) VersionAt(t uint64) (uint64, bool, error) {
	txn, err := s.readTxn()
	if err != nil {
		return 0, false, err
	}
	defer txn.Discard()
	opts := badger.DefaultIteratorOptions
	opts.Reverse, opts.PrefetchValues = true, false
	opts.Prefix = []byte{prefixTime}
	it := txn.NewIterator(opts)
	defer it.Close()
	it.Seek(u64Key(prefixTime, t))
	if !it.Valid() {
		return 0, false, nil
	}
	var v uint64
	err = it.Item().Value(func(b []byte) error {
		if len(b) != 8 {
			return fmt.Errorf("time index value of %d bytes", len(b))
		}
		v = be.Uint64(b)
		return nil
	})
	return v, err == nil, err
}

// AccountAtTime reads an account as of engine time t (ns since the epoch).
func (s *Store) AccountAtTime(id ledger.Uint128, t uint64) (ledger.Account, bool, error) {
	v, ok, err := s.VersionAt(t)
	if err != nil || !ok {
		return ledger.Account{}, false, err
	}
	return s.AccountAt(id, v)
}

// AccountTransfers returns the account's transfers selected by f, ordered by
// timestamp (the mini statement). The records come from the batches'
// transfer blocks.
func (s *Store) AccountTransfers(id ledger.Uint128, f Filter) ([]ledger.Transfer, error) {
	entries, err := s.statement(id, f, false)
	if err != nil {
		return nil, err
	}
	txn, err := s.readTxn()
	if err != nil {
		return nil, err
	}
	defer txn.Discard()
	out := make([]ledger.Transfer, 0, len(entries))
	for _, e := range entries {
		t, err := blockTransfer(txn, e.Version, e.Slot)
		if err != nil {
			return nil, fmt.Errorf("store: statement of %s: %w", id, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// blockTransfer reads the transfer in slot of version v's transfer block.
func blockTransfer(txn *badger.Txn, v uint64, slot int32) (ledger.Transfer, error) {
	item, err := txn.Get(u64Key(prefixBlock, v))
	if err != nil {
		return ledger.Transfer{}, fmt.Errorf("transfer block %d: %w", v, err)
	}
	var t ledger.Transfer
	err = item.Value(func(block []byte) error {
		off := int(slot) * ledger.RecordSize
		if slot < 0 || off+ledger.RecordSize > len(block) {
			return fmt.Errorf("transfer block %d has no slot %d", v, slot)
		}
		t, err = ledger.DecodeTransfer(block[off:])
		return err
	})
	return t, err
}

// AccountBalances returns the balances of a history account after each
// change selected by f. Accounts without the history flag have none.
func (s *Store) AccountBalances(id ledger.Uint128, f Filter) ([]ledger.Balance, error) {
	a, ok := s.Account(id)
	if !ok || a.Flags&ledger.AccountHistory == 0 {
		return []ledger.Balance{}, nil
	}
	entries, err := s.statement(id, f, true)
	if err != nil {
		return nil, err
	}
	out := make([]ledger.Balance, len(entries))
	for i := range entries {
		out[i] = entries[i].Balance
	}
	return out, nil
}

// statement walks the versions at which the account changed, newest first,
// and returns the entries f selects in the order f asks for. Transfers omit
// expiry entries; balances include them. Memory is bounded by f.Limit.
func (s *Store) statement(id ledger.Uint128, f Filter, withExpiries bool) ([]statementEntry, error) {
	if err := f.normalise(); err != nil {
		return nil, err
	}
	vw, err := s.viewOf(id, ^uint64(0))
	if err != nil || !vw.exists {
		return nil, err
	}
	defer vw.txn.Discard()
	// Newest first: keep the first Limit matches. Oldest first: keep the last
	// Limit matches seen on the way down, in a ring.
	var picked []statementEntry
	ring := newEntryRing(f.Limit)
	err = accountVersions(vw.txn, id, vw.recent, vw.visible, func(v uint64) (bool, error) {
		var entries []statementEntry
		err := readDelta(vw.txn, &vw, id, v, func(r *deltaRow) error {
			entries = decodeEntries(r.entries, hasHistory(&vw.base))
			for i := range entries {
				entries[i].Version = v
			}
			return nil
		})
		if err != nil {
			return false, err
		}
		for i := len(entries) - 1; i >= 0; i-- {
			e := &entries[i]
			if !f.matches(e) || (!withExpiries && e.Slot < 0) {
				continue
			}
			if !f.Reversed {
				ring.push(*e)
				continue
			}
			if picked = append(picked, *e); len(picked) == f.Limit {
				return false, nil
			}
		}
		// Every older version is older still.
		return len(entries) == 0 || entries[0].Timestamp >= f.TimestampMin, nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: statement of %s: %w", id, err)
	}
	if f.Reversed {
		return picked, nil
	}
	return ring.ascending(), nil
}

// entryRing keeps the last n entries pushed, which, walking down from the
// newest, are the n oldest.
type entryRing struct {
	buf  []statementEntry
	next int
	full bool
}

func newEntryRing(n int) *entryRing { return &entryRing{buf: make([]statementEntry, 0, n)} }

func (r *entryRing) push(e statementEntry) {
	if len(r.buf) < cap(r.buf) {
		r.buf = append(r.buf, e)
		return
	}
	r.buf[r.next] = e
	r.next = (r.next + 1) % len(r.buf)
	r.full = true
}

// ascending returns the kept entries oldest first. They were pushed newest
// first, so the oldest is the one pushed last.
func (r *entryRing) ascending() []statementEntry {
	out := make([]statementEntry, 0, len(r.buf))
	n := len(r.buf)
	last := n - 1
	if r.full {
		last = (r.next - 1 + n) % n
	}
	for i := 0; i < n; i++ {
		out = append(out, r.buf[(last-i+n)%n])
	}
	return out
}
