package ledger

import (
	"math/rand/v2"
	"testing"
)

// benchAccounts is the account count of the goal (10,000, uniform).
const benchAccounts = 10000

// newBenchState returns a State with benchAccounts accounts without limits.
func newBenchState(b *testing.B, transferHint int) *State {
	b.Helper()
	s := NewState(benchAccounts, transferHint)
	res := make([]Result, MaxBatchEvents)
	version := uint64(0)
	for first := 1; first <= benchAccounts; first += MaxBatchEvents {
		n := min(MaxBatchEvents, benchAccounts-first+1)
		accts := make([]Account, n)
		for i := range accts {
			accts[i] = Account{ID: U128(uint64(first + i)), Ledger: 1, Code: 1}
		}
		version++
		if _, err := s.Apply(&Batch{Kind: KindAccounts, Version: version, Time: 1, Accounts: accts}, res); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// benchTransferBatch fills ts with uniform random transfers whose ids start
// at firstID.
func benchTransferBatch(rng *rand.Rand, ts []Transfer, firstID uint64) {
	for i := range ts {
		dr := rng.Uint64N(benchAccounts) + 1
		cr := rng.Uint64N(benchAccounts-1) + 1
		if cr >= dr {
			cr++
		}
		ts[i] = Transfer{ID: U128(firstID + uint64(i)), DebitAccountID: U128(dr), CreditAccountID: U128(cr),
			Amount: 1 + rng.Uint64N(1000), Ledger: 1, Code: 1}
	}
}

// BenchmarkApplyTransfers measures the ledger rules alone: 8189-transfer
// batches over 10,000 accounts, uniform, on one goroutine, with increasing
// transfer ids (the fast path of transferTable).
func BenchmarkApplyTransfers(b *testing.B) { benchApply(b, false) }

// BenchmarkApplyTransfersRandomIDs is the same with random 128-bit transfer
// ids, which take transferTable's hash-map path.
func BenchmarkApplyTransfersRandomIDs(b *testing.B) { benchApply(b, true) }

func benchApply(b *testing.B, randomIDs bool) {
	s := newBenchState(b, b.N*MaxBatchEvents)
	rng := rand.New(rand.NewPCG(1, 2))
	batch := make([]Transfer, MaxBatchEvents)
	res := make([]Result, MaxBatchEvents)
	version := s.Version()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		benchTransferBatch(rng, batch, uint64(i)*MaxBatchEvents+1)
		if randomIDs {
			for j := range batch {
				batch[j].ID = Uint128{Lo: rng.Uint64(), Hi: rng.Uint64()}
			}
		}
		version++
		b.StartTimer()
		if _, err := s.Apply(&Batch{Kind: KindTransfers, Version: version, Time: uint64(i + 2), Transfers: batch}, res); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	for _, r := range res {
		if r.Status != 0 {
			b.Fatalf("status %v", TransferStatus(r.Status))
		}
	}
	b.ReportMetric(float64(b.N*MaxBatchEvents)/b.Elapsed().Seconds(), "transfers/s")
}
