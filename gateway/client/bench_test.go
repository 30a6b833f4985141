package client_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/gateway/client"
)

// BenchmarkBinaryBatchesOverHTTP commits 8189-transfer binary batches
// through the client, HTTP and the gateway into a real durable node (10,000
// accounts, uniform, 4 batches in flight), to compare with the in-process
// transactor benchmark (transactor.BenchmarkSingleNodeDurable).
func BenchmarkBinaryBatchesOverHTTP(b *testing.B) {
	c := client.New(startConto(b))
	ctx := context.Background()
	const accounts = 10000
	for first := 1; first <= accounts; first += ledger.MaxBatchEvents {
		n := min(ledger.MaxBatchEvents, accounts-first+1)
		accts := make([]ledger.Account, n)
		for i := range accts {
			accts[i] = ledger.Account{ID: ledger.U128(uint64(first + i)), Ledger: 1, Code: 1}
		}
		if _, err := c.CreateAccounts(ctx, accts); err != nil {
			b.Fatal(err)
		}
	}
	var (
		next   atomic.Int64
		failed atomic.Value
		wg     sync.WaitGroup
	)
	b.ResetTimer()
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			ts := make([]ledger.Transfer, ledger.MaxBatchEvents)
			for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
				for j := range ts {
					dr := rng.Uint64N(accounts) + 1
					ts[j] = ledger.Transfer{ID: ledger.U128(uint64(i)*ledger.MaxBatchEvents + uint64(j) + 1),
						DebitAccountID: ledger.U128(dr), CreditAccountID: ledger.U128(dr%accounts + 1), Amount: 1, Ledger: 1, Code: 1}
				}
				res, err := c.CreateTransfers(ctx, ts)
				if err == nil && res[0].Status != 0 {
					err = &client.APIError{Code: ledger.TransferStatus(res[0].Status).String()}
				}
				if err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N*ledger.MaxBatchEvents)/b.Elapsed().Seconds(), "transfers/s")
}
