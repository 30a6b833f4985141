package transactor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/hashicorp/raft"
)

const (
	benchAccounts  = 10000
	benchInFlight  = 8 // batches proposed and not yet committed
	benchBatchSize = ledger.MaxBatchEvents
)

// BenchmarkSingleNodeDurable commits 8189-transfer batches on one node:
// real raft-wal log (fsynced on every append), real Badger store, the
// transport a real TCP mux. Several batches are in flight so Raft folds
// them into one append (group commit).
func BenchmarkSingleNodeDurable(b *testing.B) { benchCluster(b, 1, false) }

// BenchmarkSingleNodeDurableNoChains is the same without hash chains: the
// difference is what chaining costs.
func BenchmarkSingleNodeDurableNoChains(b *testing.B) { benchCluster(b, 1, true) }

// BenchmarkThreeNodesLoopback is the same on three nodes in this process,
// replicating over TCP on 127.0.0.1: every batch is fsynced on a quorum and
// applied on all three (which share the machine's two cores).
func BenchmarkThreeNodesLoopback(b *testing.B) { benchCluster(b, 3, false) }

func benchCluster(b *testing.B, n int, noChains bool) {
	nodes := openBenchNodes(b, n, noChains)
	leader := waitNodeLeader(b, nodes)
	seedAccounts(b, leader)
	rng := rand.New(rand.NewPCG(3, 4))
	var (
		mu     sync.Mutex // ids are assigned and proposed in one order
		nextID uint64     = 1
		sem               = make(chan struct{}, benchInFlight)
		wg     sync.WaitGroup
		failed atomic.Value
	)
	batches := make([][]ledger.Transfer, benchInFlight*2)
	for i := range batches {
		batches[i] = make([]ledger.Transfer, benchBatchSize)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sem <- struct{}{}
		ts := batches[i%len(batches)]
		mu.Lock()
		for j := range ts {
			dr := rng.Uint64N(benchAccounts) + 1
			cr := dr%benchAccounts + 1
			ts[j] = ledger.Transfer{ID: ledger.U128(nextID), DebitAccountID: ledger.U128(dr),
				CreditAccountID: ledger.U128(cr), Amount: 1, Ledger: 1, Code: 1}
			nextID++
		}
		batch := ledger.Batch{Kind: ledger.KindTransfers, Transfers: ts}
		pr, err := leader.Propose(context.Background(), &batch)
		mu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			resp, err := pr.Wait()
			if err == nil && resp.Results[0].Status != 0 {
				err = fmt.Errorf("status %v", ledger.TransferStatus(resp.Results[0].Status))
			}
			if err != nil {
				failed.Store(err)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N*benchBatchSize)/b.Elapsed().Seconds(), "transfers/s")
}

func openBenchNodes(b *testing.B, n int, noChains bool) []*Node {
	b.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var nodes []*Node
	for i := 0; i < n; i++ {
		nd, err := OpenNode(NodeConfig{Dir: filepath.Join(b.TempDir(), fmt.Sprint(i)), NodeID: fmt.Sprintf("n%d", i),
			RaftAddr: freeAddr(b), Partitions: 1, Bootstrap: i == 0, Logger: quiet,
			Tune: func(c *Config) {
				c.HeartbeatTimeout, c.ElectionTimeout = 500*time.Millisecond, 500*time.Millisecond
				c.NoChains = noChains
			}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { nd.Close() })
		nodes = append(nodes, nd)
	}
	leader := waitNodeLeader(b, nodes)
	for _, nd := range nodes[1:] {
		if err := leader.Raft().AddVoter(raft.ServerID(nd.ID()), raft.ServerAddress(nd.Addr()), 0, 10*time.Second).Error(); err != nil {
			b.Fatal(err)
		}
	}
	return nodes
}

func waitNodeLeader(b *testing.B, nodes []*Node) *Partition {
	b.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		for _, nd := range nodes {
			if p := nd.Partition(0); p.IsLeader() {
				return p
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Fatal("no leader")
	return nil
}

func seedAccounts(b *testing.B, leader *Partition) {
	b.Helper()
	for first := 1; first <= benchAccounts; first += ledger.MaxBatchEvents {
		n := min(ledger.MaxBatchEvents, benchAccounts-first+1)
		accts := make([]ledger.Account, n)
		for i := range accts {
			accts[i] = ledger.Account{ID: ledger.U128(uint64(first + i)), Ledger: 1, Code: 1}
		}
		if _, err := leader.Submit(context.Background(), &ledger.Batch{Kind: ledger.KindAccounts, Accounts: accts}); err != nil {
			b.Fatal(err)
		}
	}
}

// freeAddr returns a free TCP address on 127.0.0.1.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
