package store

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/dgraph-io/badger/v4"
)

// Limits of optimistic transactions and of the key-value space (SPEC §4).
const (
	MaxKeyLen    = 256
	MaxValueLen  = 64 << 10
	MaxTxnChecks = ledger.MaxBatchEvents
	MaxTxnPuts   = 1024
)

// ErrBadTxn rejects a transaction that breaks a limit; nothing is applied.
var ErrBadTxn = errors.New("bad transaction")

// Txn is an optimistic transaction: it commits all of it, at one version,
// if every checked object's current version equals the given one (0: must
// not exist), else nothing.
type Txn struct {
	AccountChecks []AccountCheck
	KeyChecks     []KeyCheck
	Puts          []Put
	Transfers     []ledger.Transfer
	// Seal is the leader's stamp for the hash chains (see ledger.Batch).
	Seal ledger.Seal
}

// AccountCheck expects an account's current version.
type AccountCheck struct {
	ID      ledger.Uint128
	Version uint64
}

// KeyCheck expects a key's current version.
type KeyCheck struct {
	Key     string
	Version uint64
}

// Put writes a key's value.
type Put struct {
	Key   string
	Value []byte
}

// TxnStatus is a transaction's outcome.
type TxnStatus uint8

// Transaction outcomes.
const (
	TxnCommitted TxnStatus = iota + 1
	TxnConflict            // a version check failed: nothing applied
	TxnFailed              // a transfer failed: nothing applied
)

func (s TxnStatus) String() string {
	switch s {
	case TxnCommitted:
		return "committed"
	case TxnConflict:
		return "conflict"
	case TxnFailed:
		return "failed"
	}
	return "unknown"
}

// Conflict is one failed version check: Key is set for key checks, else
// AccountID.
type Conflict struct {
	AccountID ledger.Uint128
	Key       string
	IsKey     bool
	Expected  uint64
	Actual    uint64
}

// TxnResult is what applying a transaction answers.
type TxnResult struct {
	Status    TxnStatus
	Version   uint64
	Conflicts []Conflict
	Results   []ledger.Result // one per transfer
}

// Validate checks a transaction against the limits.
func (t *Txn) Validate() error {
	switch {
	case len(t.AccountChecks)+len(t.KeyChecks) > MaxTxnChecks:
		return fmt.Errorf("%w: more than %d checks", ErrBadTxn, MaxTxnChecks)
	case len(t.Puts) > MaxTxnPuts:
		return fmt.Errorf("%w: more than %d puts", ErrBadTxn, MaxTxnPuts)
	case len(t.Transfers) > ledger.MaxBatchEvents:
		return fmt.Errorf("%w: more than %d transfers", ErrBadTxn, ledger.MaxBatchEvents)
	case len(t.AccountChecks)+len(t.KeyChecks)+len(t.Puts)+len(t.Transfers) == 0:
		return fmt.Errorf("%w: empty", ErrBadTxn)
	}
	for _, c := range t.KeyChecks {
		if err := ValidateKey(c.Key); err != nil {
			return err
		}
	}
	for _, p := range t.Puts {
		if err := ValidateKey(p.Key); err != nil {
			return err
		}
		if len(p.Value) > MaxValueLen {
			return fmt.Errorf("%w: value of %q is %d bytes, more than %d", ErrBadTxn, p.Key, len(p.Value), MaxValueLen)
		}
	}
	return nil
}

// ValidateKey checks a key: UTF-8, 1..256 bytes.
func ValidateKey(k string) error {
	if len(k) == 0 || len(k) > MaxKeyLen || !utf8.ValidString(k) {
		return fmt.Errorf("%w: key must be UTF-8 of 1..%d bytes", ErrBadTxn, MaxKeyLen)
	}
	return nil
}

// ApplyTxn applies a transaction as the batch of version v at time t. The
// checks read the state as of v-1 (memory), so every node decides the same.
func (s *Store) ApplyTxn(v, t uint64, txn *Txn) (*TxnResult, error) {
	if err := txn.Validate(); err != nil {
		return nil, err
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if err := s.checkUsable(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	conflicts := s.conflicts(txn)
	s.mu.RUnlock()
	if len(conflicts) > 0 {
		// Nothing changes; the version is simply not used.
		return &TxnResult{Status: TxnConflict, Version: v, Conflicts: conflicts}, nil
	}
	b := &ledger.Batch{Kind: ledger.KindTransfers, Version: v, Time: t, Transfers: txn.Transfers, Atomic: true, Seal: txn.Seal}
	if len(txn.Transfers) == 0 {
		b.Kind = ledger.KindExpire // puts only: the batch just carries the version
	}
	res := &TxnResult{Status: TxnCommitted, Version: v, Results: make([]ledger.Result, len(txn.Transfers))}
	var puts []kv
	err := s.applyWith(b, res.Results, func() []kv {
		for _, r := range res.Results {
			if r.Status != 0 {
				res.Status = TxnFailed
				return nil
			}
		}
		for _, p := range txn.Puts {
			s.kv[p.Key] = v
			puts = append(puts, kv{key: append([]byte{prefixKV}, p.Key...), value: p.Value})
		}
		return puts
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// conflicts lists the failed version checks. Callers hold mu.
func (s *Store) conflicts(txn *Txn) []Conflict {
	var out []Conflict
	for _, c := range txn.AccountChecks {
		var have uint64
		if a, ok := s.state.Account(c.ID); ok {
			have = a.Version
		}
		if have != c.Version {
			out = append(out, Conflict{AccountID: c.ID, Expected: c.Version, Actual: have})
		}
	}
	for _, c := range txn.KeyChecks {
		if have := s.kv[c.Key]; have != c.Version {
			out = append(out, Conflict{Key: c.Key, IsKey: true, Expected: c.Version, Actual: have})
		}
	}
	return out
}

// Get reads a key as of a version (its value and the version that wrote
// it); versions above the last applied one read the current value.
func (s *Store) Get(key string, asOf uint64) ([]byte, uint64, bool, error) {
	if err := ValidateKey(key); err != nil {
		return nil, 0, false, err
	}
	s.mu.RLock()
	target := min(asOf, s.applied)
	s.mu.RUnlock()
	if _, err := s.waitVisible(target); err != nil {
		return nil, 0, false, err
	}
	txn := s.db.NewTransactionAt(target, false)
	defer txn.Discard()
	item, err := txn.Get(append([]byte{prefixKV}, key...))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, fmt.Errorf("store: get %q at %d: %w", key, asOf, err)
	}
	val, err := item.ValueCopy(nil)
	if err != nil {
		return nil, 0, false, fmt.Errorf("store: get %q at %d: %w", key, asOf, err)
	}
	return val, item.Version(), true, nil
}
