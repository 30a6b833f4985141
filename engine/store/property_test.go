package store

import (
	"testing"

	"github.com/conto-ledger/conto/engine/ledger"
	"pgregory.net/rapid"
)

// genBatches draws a ledger history: one accounts batch, then transfer
// batches over a small id space so that duplicates, two-phase transfers,
// linked chains, balance limits and expiries all happen.
func genBatches(t *rapid.T) []*ledger.Batch {
	nAccounts := rapid.IntRange(2, 6).Draw(t, "accounts")
	var accts []ledger.Account
	for i := 1; i <= nAccounts; i++ {
		flags := rapid.SampledFrom([]ledger.AccountFlags{0, ledger.AccountHistory,
			ledger.AccountDebitsMustNotExceedCredits, ledger.AccountCreditsMustNotExceedDebits | ledger.AccountHistory}).Draw(t, "flags")
		accts = append(accts, ledger.Account{ID: ledger.U128(uint64(i)), Ledger: 1, Code: 1, Flags: flags})
	}
	batches := []*ledger.Batch{{Kind: ledger.KindAccounts, Version: 1, Time: second, Accounts: accts}}
	now, version := second, uint64(1)
	for b := rapid.IntRange(1, 8).Draw(t, "batches"); b > 0; b-- {
		version += rapid.Uint64Range(1, 3).Draw(t, "gap")
		now += rapid.Uint64Range(0, 3*second).Draw(t, "advance")
		n := rapid.IntRange(0, 12).Draw(t, "events")
		if n == 0 {
			batches = append(batches, &ledger.Batch{Kind: ledger.KindExpire, Version: version, Time: now})
			continue
		}
		ts := make([]ledger.Transfer, n)
		for i := range ts {
			ts[i] = genTransfer(t, uint64(nAccounts))
		}
		batches = append(batches, &ledger.Batch{Kind: ledger.KindTransfers, Version: version, Time: now, Transfers: ts})
	}
	return batches
}

func genTransfer(t *rapid.T, nAccounts uint64) ledger.Transfer {
	x := ledger.Transfer{
		ID:              ledger.U128(rapid.Uint64Range(1, 30).Draw(t, "id")),
		DebitAccountID:  ledger.U128(rapid.Uint64Range(1, nAccounts).Draw(t, "dr")),
		CreditAccountID: ledger.U128(rapid.Uint64Range(1, nAccounts).Draw(t, "cr")),
		Amount:          rapid.Uint64Range(0, 50).Draw(t, "amount"),
		Ledger:          1,
		Code:            1,
	}
	switch rapid.IntRange(0, 5).Draw(t, "shape") {
	case 1:
		x.Flags = ledger.TransferPending
		x.Timeout = uint32(rapid.IntRange(0, 3).Draw(t, "timeout"))
	case 2, 3:
		x.Flags = rapid.SampledFrom([]ledger.TransferFlags{ledger.TransferPostPendingTransfer, ledger.TransferVoidPendingTransfer}).Draw(t, "phase")
		x.PendingID = ledger.U128(rapid.Uint64Range(1, 30).Draw(t, "pending"))
		x.DebitAccountID, x.CreditAccountID, x.Ledger, x.Code = ledger.Uint128{}, ledger.Uint128{}, 0, 0
		if x.Flags == ledger.TransferVoidPendingTransfer {
			x.Amount = 0
		} else if rapid.Bool().Draw(t, "full") {
			x.Amount = ledger.AmountMax
		}
	case 4:
		x.Flags = ledger.TransferBalancingDebit
	}
	if rapid.IntRange(0, 4).Draw(t, "link") == 0 {
		x.Flags |= ledger.TransferLinked
	}
	return x
}

// TestPropertyStores checks, over random histories, that two fresh stores
// given the same batches hold byte-identical data; that every account read
// as of every version equals the balances it had right after that version;
// that conservation holds at every version; and that a restart changes
// nothing.
func TestPropertyStores(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		batches := genBatches(rt)
		// Small intervals put index checkpoints between, on and after batches.
		every := rapid.Uint64Range(1, 70).Draw(rt, "indexEvery")
		dirA, dirB := t.TempDir(), t.TempDir()
		a, b := openStoreEvery(t, dirA, every), openStoreEvery(t, dirB, every)
		defer b.Close()
		seen := map[uint64][]ledger.Account{} // version → every account then
		for _, batch := range batches {
			resA := make([]ledger.Result, len(batch.Accounts)+len(batch.Transfers))
			resB := make([]ledger.Result, len(resA))
			if err := a.Apply(batch, resA); err != nil {
				rt.Fatalf("apply %d: %v", batch.Version, err)
			}
			if err := b.Apply(batch, resB); err != nil {
				rt.Fatalf("apply %d on b: %v", batch.Version, err)
			}
			for i := range resA {
				if resA[i] != resB[i] {
					rt.Fatalf("version %d event %d: results differ %v vs %v", batch.Version, i, resA[i], resB[i])
				}
			}
			seen[batch.Version] = allAccounts(a)
			checkConservation(rt, seen[batch.Version])
		}
		da, _ := a.Digest()
		db, _ := b.Digest()
		if da != db {
			rt.Fatal("two stores given the same batches differ")
		}
		for v, accts := range seen {
			for _, want := range accts {
				got, ok, err := a.AccountAt(want.ID, v)
				if err != nil || !ok || got != want {
					rt.Fatalf("account %s as of %d: %+v (found %v, err %v), want %+v", want.ID, v, got, ok, err, want)
				}
			}
		}
		a.Close()
		a = openStoreEvery(t, dirA, every)
		defer a.Close()
		if d, _ := a.Digest(); d != da {
			rt.Fatal("restart changed the data")
		}
		for _, want := range seen[batches[len(batches)-1].Version] {
			if got, _ := a.Account(want.ID); got != want {
				rt.Fatalf("account %s after restart %+v, want %+v", want.ID, got, want)
			}
		}
	})
}

func allAccounts(s *Store) []ledger.Account {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []ledger.Account
	s.state.Accounts(func(a *ledger.Account) bool { out = append(out, *a); return true })
	return out
}

func checkConservation(t *rapid.T, accts []ledger.Account) {
	var dp, dpo, cp, cpo uint64
	for _, a := range accts {
		dp += a.DebitsPending
		dpo += a.DebitsPosted
		cp += a.CreditsPending
		cpo += a.CreditsPosted
	}
	if dp != cp || dpo != cpo {
		t.Fatalf("conservation broken: pending %d/%d posted %d/%d", dp, cp, dpo, cpo)
	}
}
