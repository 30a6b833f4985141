package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/engine/store"
)

// ErrTxnSpansPartitions rejects a transaction whose accounts and keys are not
// all in one partition; nothing is applied. Cross-partition commit is a
// later issue.
var ErrTxnSpansPartitions = errors.New("transaction spans partitions")

// Txn commits an optimistic transaction (SPEC §4) in the partition that owns
// everything it touches.
func (e *Engine) Txn(ctx context.Context, txn *store.Txn) (*store.TxnResult, error) {
	if err := txn.Validate(); err != nil {
		return nil, err
	}
	p, err := e.txnPartition(txn)
	if err != nil {
		return nil, err
	}
	return e.parts[p].SubmitTxn(ctx, txn)
}

// Get reads a key as of a version from the partition that owns it.
func (e *Engine) Get(key string, asOf uint64) ([]byte, uint64, bool, error) {
	return e.parts[e.pmap.OfKey([]byte(key))].Store().Get(key, asOf)
}

// txnPartition finds the one partition a transaction touches.
func (e *Engine) txnPartition(txn *store.Txn) (int, error) {
	owner := -1
	var err error
	claim := func(p int, what string) {
		if err == nil && owner >= 0 && p != owner {
			err = fmt.Errorf("%s is in partition %d, the rest in %d: %w", what, p, owner, ErrTxnSpansPartitions)
		}
		if owner < 0 {
			owner = p
		}
	}
	id := func(u ledger.Uint128, what string) {
		if !u.IsZero() {
			claim(e.pmap.OfID(u.Lo, u.Hi), fmt.Sprintf("%s %s", what, u))
		}
	}
	for _, c := range txn.AccountChecks {
		id(c.ID, "account")
	}
	for _, t := range txn.Transfers {
		id(t.DebitAccountID, "account")
		id(t.CreditAccountID, "account")
	}
	for _, c := range txn.KeyChecks {
		claim(e.pmap.OfKey([]byte(c.Key)), fmt.Sprintf("key %q", c.Key))
	}
	for _, p := range txn.Puts {
		claim(e.pmap.OfKey([]byte(p.Key)), fmt.Sprintf("key %q", p.Key))
	}
	return max(owner, 0), err
}
