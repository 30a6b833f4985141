package bench

import (
	"math/rand/v2"
	"sync/atomic"

	"github.com/conto-ledger/conto/engine/ledger"
)

// generator makes transfer batches. Each client has its own (seeded)
// random source; ids come from one counter (sequential) or the source
// (random 128-bit).
type generator struct {
	cfg    *Config
	nextID atomic.Uint64
}

// clientGen is one client's view: its random source, distribution, and the
// pending transfers it created and will post or void.
type clientGen struct {
	g       *generator
	rng     *rand.Rand
	zipf    *rand.Zipf
	pending []ledger.Transfer
}

func (g *generator) client(n int) *clientGen {
	rng := rand.New(rand.NewPCG(g.cfg.Seed, uint64(n)+1))
	c := &clientGen{g: g, rng: rng}
	if g.cfg.Distribution == "zipf" {
		c.zipf = rand.NewZipf(rng, 1.1, 1, uint64(g.cfg.Accounts-1))
	}
	return c
}

// account picks an account id in 1..Accounts.
func (c *clientGen) account() uint64 {
	if c.zipf != nil {
		return c.zipf.Uint64() + 1
	}
	return c.rng.Uint64N(uint64(c.g.cfg.Accounts)) + 1
}

func (c *clientGen) pair() (dr, cr uint64) {
	a := uint64(c.g.cfg.Accounts)
	if c.g.cfg.Distribution == "hot" { // every credit to account 1
		return c.rng.Uint64N(a-1) + 2, 1
	}
	dr = c.account()
	for cr = c.account(); cr == dr; cr = c.account() {
	}
	return dr, cr
}

func (c *clientGen) id() ledger.Uint128 {
	if c.g.cfg.IDOrder == "random" {
		return ledger.Uint128{Lo: c.rng.Uint64(), Hi: c.rng.Uint64() | 1<<40}
	}
	return ledger.U128(c.g.nextID.Add(1))
}

// batch makes n events: first posts or voids of this client's earlier
// pending transfers (alternately), then new transfers, a PendingPercent
// share of them pending.
func (c *clientGen) batch(n int) []ledger.Transfer {
	ts := make([]ledger.Transfer, 0, n)
	for len(c.pending) > 0 && len(ts) < n/2 {
		p := c.pending[0]
		c.pending = c.pending[1:]
		t := ledger.Transfer{ID: c.id(), PendingID: p.ID, Flags: ledger.TransferPostPendingTransfer, Amount: ledger.AmountMax}
		if c.rng.IntN(2) == 0 {
			t.Flags, t.Amount = ledger.TransferVoidPendingTransfer, 0
		}
		ts = append(ts, t)
	}
	for len(ts) < n {
		if c.g.cfg.Distribution == "tpcb" && n-len(ts) >= 2 {
			ts = append(ts, c.tpcb()...)
			continue
		}
		dr, cr := c.pair()
		t := ledger.Transfer{ID: c.id(), DebitAccountID: ledger.U128(dr), CreditAccountID: ledger.U128(cr),
			Amount: 1 + c.rng.Uint64N(1000), Ledger: 1, Code: 1}
		if c.g.cfg.PendingPercent > 0 && c.rng.IntN(100) < c.g.cfg.PendingPercent {
			t.Flags = ledger.TransferPending
		}
		if n-len(ts) >= 2 && c.g.cfg.LinkedPercent > 0 && c.rng.IntN(100) < c.g.cfg.LinkedPercent {
			// A linked pair: the money moves on, both or neither.
			second := t
			second.ID, second.DebitAccountID = c.id(), t.CreditAccountID
			for second.CreditAccountID = ledger.U128(c.account()); second.CreditAccountID == second.DebitAccountID; {
				second.CreditAccountID = ledger.U128(c.account())
			}
			t.Flags |= ledger.TransferLinked
			ts = append(ts, t, second)
			continue
		}
		ts = append(ts, t)
	}
	return ts
}

// tpcb makes one TPC-B-like transaction as a linked chain: a customer's
// deposit moves through its teller to the teller's branch. Accounts
// 1..branches are branches, the next 10 per branch tellers, the rest
// customers, so branches are hot as in TPC-B.
func (c *clientGen) tpcb() []ledger.Transfer {
	a := uint64(c.g.cfg.Accounts)
	branches := max(1, a/1000)
	tellers := 10 * branches
	branch := c.rng.Uint64N(branches) + 1
	teller := branches + (branch-1)*10 + c.rng.Uint64N(10) + 1
	customer := branches + tellers + 1 + c.rng.Uint64N(a-branches-tellers)
	amount := 1 + c.rng.Uint64N(1000)
	return []ledger.Transfer{
		{ID: c.id(), DebitAccountID: ledger.U128(customer), CreditAccountID: ledger.U128(teller), Amount: amount,
			Ledger: 1, Code: 1, Flags: ledger.TransferLinked},
		{ID: c.id(), DebitAccountID: ledger.U128(teller), CreditAccountID: ledger.U128(branch), Amount: amount, Ledger: 1, Code: 2},
	}
}

// created remembers the pending transfers of a committed batch for later.
func (c *clientGen) created(ts []ledger.Transfer, res []ledger.Result) {
	for i := range ts {
		if ts[i].Flags&ledger.TransferPending != 0 && ok(res[i]) {
			c.pending = append(c.pending, ts[i])
		}
	}
}

// ok reports a transfer that is in the ledger: created now, or by an
// earlier attempt whose answer was lost (the client retried).
func ok(r ledger.Result) bool {
	st := ledger.TransferStatus(r.Status)
	return st == ledger.TransferCreated || st == ledger.TransferExists
}
