package store

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"

	"github.com/conto-ledger/conto/engine/ledger"
)

const benchAccounts = 10000

// BenchmarkStoreApply measures apply + persist: the ledger rules and one
// Badger write batch per 8189-transfer batch over 10,000 accounts, uniform,
// SyncWrites off (the Raft log is the durable copy).
func BenchmarkStoreApply(b *testing.B) { benchStoreApply(b, false) }

// BenchmarkStoreApplyNoChains is the same without hash chains: the
// difference is what chaining costs.
func BenchmarkStoreApplyNoChains(b *testing.B) { benchStoreApply(b, true) }

func benchStoreApply(b *testing.B, noChains bool) {
	s, err := Open(Options{Dir: b.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		AccountHint: benchAccounts, TransferHint: b.N * ledger.MaxBatchEvents, NoChains: noChains})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	res := make([]ledger.Result, ledger.MaxBatchEvents)
	version := uint64(0)
	for first := 1; first <= benchAccounts; first += ledger.MaxBatchEvents {
		n := min(ledger.MaxBatchEvents, benchAccounts-first+1)
		accts := make([]ledger.Account, n)
		for i := range accts {
			accts[i] = ledger.Account{ID: ledger.U128(uint64(first + i)), Ledger: 1, Code: 1}
		}
		version++
		if err := s.Apply(&ledger.Batch{Kind: ledger.KindAccounts, Version: version, Time: 1, Accounts: accts}, res); err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	batch := make([]ledger.Transfer, ledger.MaxBatchEvents)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for j := range batch {
			dr := rng.Uint64N(benchAccounts) + 1
			cr := rng.Uint64N(benchAccounts-1) + 1
			if cr >= dr {
				cr++
			}
			batch[j] = ledger.Transfer{ID: ledger.U128(uint64(i*ledger.MaxBatchEvents + j + 1)),
				DebitAccountID: ledger.U128(dr), CreditAccountID: ledger.U128(cr), Amount: 1, Ledger: 1, Code: 1}
		}
		version++
		b.StartTimer()
		if err := s.Apply(&ledger.Batch{Kind: ledger.KindTransfers, Version: version, Time: uint64(i + 2), Transfers: batch}, res); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.drain(); err != nil { // the last batches' writes count too
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*ledger.MaxBatchEvents)/b.Elapsed().Seconds(), "transfers/s")
}
