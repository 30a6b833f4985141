package bench

import (
	"context"
	"fmt"
	"sync"

	"github.com/conto-ledger/conto/engine/ledger"
)

// model is the generator's own ledger: the balances every acknowledged
// transfer should have produced, and the ids acknowledged. --validate
// compares the target with it.
type model struct {
	mu       sync.Mutex
	balances map[ledger.Uint128]*balance
	pending  map[ledger.Uint128]ledger.Transfer
	acked    []ledger.Uint128
	failed   int // events answered with another status
}

type balance struct{ dp, dpo, cp, cpo uint64 }

func newModel(accounts int) *model {
	m := &model{balances: make(map[ledger.Uint128]*balance, accounts), pending: map[ledger.Uint128]ledger.Transfer{}}
	for i := 1; i <= accounts; i++ {
		m.balances[ledger.U128(uint64(i))] = &balance{}
	}
	return m
}

// seed starts the model from the target's balances, so a run against a
// server that already holds these accounts validates what it added.
func (m *model) seed(ctx context.Context, t Target) error {
	ids := make([]ledger.Uint128, 0, len(m.balances))
	for i := 1; i <= len(m.balances); i++ {
		ids = append(ids, ledger.U128(uint64(i)))
	}
	for start := 0; start < len(ids); start += ledger.MaxBatchEvents {
		accts, err := t.LookupAccounts(ctx, ids[start:min(start+ledger.MaxBatchEvents, len(ids))])
		if err != nil {
			return fmt.Errorf("read starting balances: %w", err)
		}
		for _, a := range accts {
			*m.balances[a.ID] = balance{a.DebitsPending, a.DebitsPosted, a.CreditsPending, a.CreditsPosted}
		}
	}
	return nil
}

// apply records a committed batch's outcome.
func (m *model) apply(ts []ledger.Transfer, res []ledger.Result) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range ts {
		if !ok(res[i]) {
			m.failed++
			continue
		}
		t := &ts[i]
		m.acked = append(m.acked, t.ID)
		switch {
		case t.Flags&ledger.TransferPending != 0:
			m.balances[t.DebitAccountID].dp += t.Amount
			m.balances[t.CreditAccountID].cp += t.Amount
			m.pending[t.ID] = *t
		case t.Flags&(ledger.TransferPostPendingTransfer|ledger.TransferVoidPendingTransfer) != 0:
			p := m.pending[t.PendingID]
			delete(m.pending, t.PendingID)
			d, c := m.balances[p.DebitAccountID], m.balances[p.CreditAccountID]
			d.dp -= p.Amount
			c.cp -= p.Amount
			if t.Flags&ledger.TransferPostPendingTransfer != 0 {
				d.dpo += p.Amount
				c.cpo += p.Amount
			}
		default:
			m.balances[t.DebitAccountID].dpo += t.Amount
			m.balances[t.CreditAccountID].cpo += t.Amount
		}
	}
}

// validate checks the target against the model: every acknowledged
// transfer present (once: ids are unique, and balances count each once),
// every balance equal, conservation. The error names the first difference.
func (m *model) validate(ctx context.Context, t Target) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for start := 0; start < len(m.acked); start += ledger.MaxBatchEvents {
		ids := m.acked[start:min(start+ledger.MaxBatchEvents, len(m.acked))]
		found, err := t.LookupTransfers(ctx, ids)
		if err != nil {
			return fmt.Errorf("look up transfers: %w", err)
		}
		if len(found) != len(ids) {
			have := make(map[ledger.Uint128]bool, len(found))
			for _, f := range found {
				have[f.ID] = true
			}
			for _, id := range ids {
				if !have[id] {
					return fmt.Errorf("transfer %s was acknowledged but is missing", id)
				}
			}
		}
	}
	ids := make([]ledger.Uint128, 0, len(m.balances))
	for i := 1; i <= len(m.balances); i++ {
		ids = append(ids, ledger.U128(uint64(i)))
	}
	var sum balance
	for start := 0; start < len(ids); start += ledger.MaxBatchEvents {
		chunk := ids[start:min(start+ledger.MaxBatchEvents, len(ids))]
		accts, err := t.LookupAccounts(ctx, chunk)
		if err != nil {
			return fmt.Errorf("look up accounts: %w", err)
		}
		if len(accts) != len(chunk) {
			return fmt.Errorf("%d of %d accounts found", len(accts), len(chunk))
		}
		for _, a := range accts {
			want := m.balances[a.ID]
			got := balance{a.DebitsPending, a.DebitsPosted, a.CreditsPending, a.CreditsPosted}
			if got != *want {
				return fmt.Errorf("account %s: balances %+v, the model says %+v", a.ID, got, *want)
			}
			sum.dp, sum.dpo, sum.cp, sum.cpo = sum.dp+got.dp, sum.dpo+got.dpo, sum.cp+got.cp, sum.cpo+got.cpo
		}
	}
	if sum.dp != sum.cp || sum.dpo != sum.cpo {
		return fmt.Errorf("conservation broken: pending %d/%d, posted %d/%d", sum.dp, sum.cp, sum.dpo, sum.cpo)
	}
	return nil
}
