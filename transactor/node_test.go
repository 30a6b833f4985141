package transactor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/engine/store"
)

// TestNodesJoinAndForward runs three real nodes with two partitions over
// TCP on 127.0.0.1: two join through the first with Node.Join, and writes
// sent to any node commit through the partition's leader.
func TestNodesJoinAndForward(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	base := t.TempDir()
	open := func(i int) *Node {
		n, err := OpenNode(NodeConfig{Dir: filepath.Join(base, fmt.Sprint(i)), NodeID: fmt.Sprintf("n%d", i),
			RaftAddr: freeAddr(t), Partitions: 2, Bootstrap: i == 0, Forward: true, Logger: quiet,
			Tune: func(c *Config) { c.HeartbeatTimeout, c.ElectionTimeout = 200*time.Millisecond, 200*time.Millisecond }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	first := open(0)
	waitReady(t, first)
	nodes := []*Node{first, open(1), open(2)}
	for _, n := range nodes[1:] {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := n.Join(ctx, first.Addr()); err != nil {
			t.Fatalf("join %s: %v", n.ID(), err)
		}
		cancel()
	}
	for _, p := range first.Partitions() {
		if got := len(p.peers()); got != 3 {
			t.Fatalf("partition has %d voters after the joins, want 3", got)
		}
	}
	// Writes through every node, for accounts of both partitions.
	m := first.Map()
	var id uint64 = 1
	for i, n := range nodes {
		for part := 0; part < 2; part++ {
			for m.OfID(id, 0) != part {
				id++
			}
			b := ledger.Batch{Kind: ledger.KindAccounts, Accounts: []ledger.Account{{ID: ledger.U128(id), Ledger: 1, Code: 1}}}
			resp, err := n.Partition(part).Submit(context.Background(), &b)
			if err != nil || resp.Results[0].Status != 0 {
				t.Fatalf("node %d partition %d: %+v %v", i, part, resp, err)
			}
			id++
		}
	}
	// A transaction through a follower.
	follower := followerOf(t, nodes, 0)
	res, err := follower.Partition(0).SubmitTxn(context.Background(), &store.Txn{Puts: []store.Put{{Key: "via-follower", Value: []byte("ok")}}})
	if err != nil || res.Status != store.TxnCommitted {
		t.Fatalf("txn through a follower: %+v %v", res, err)
	}
	// A follower's read after ReadBarrier sees every acknowledged write.
	for i := 0; i < 20; i++ {
		id++
		b := ledger.Batch{Kind: ledger.KindAccounts, Accounts: []ledger.Account{{ID: ledger.U128(id), Ledger: 1, Code: 1}}}
		part := m.OfID(id, 0)
		if _, err := first.Partition(part).Submit(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		f := followerOf(t, nodes, part).Partition(part)
		if err := f.ReadBarrier(context.Background()); err != nil {
			t.Fatalf("read barrier: %v", err)
		}
		if _, ok := f.Store().Account(ledger.U128(id)); !ok {
			t.Fatalf("follower read after the barrier misses account %d", id)
		}
	}
	// Every batch's stamp verifies, those forwarded by a follower included:
	// the leader re-seals what it stamps with its own clock.
	for part, p := range first.Partitions() {
		blocks, _, err := p.Store().ChainBlocks(1, 1000)
		if err != nil {
			t.Fatal(err)
		}
		stamped := 0
		for _, b := range blocks {
			if b.Block.Stamp.IsZero() {
				continue
			}
			stamped++
			if err := b.Block.Stamp.Verify(uint32(part), b.Block.Time); err != nil {
				t.Fatalf("partition %d version %d: stamp: %v", part, b.Block.Version, err)
			}
		}
		if stamped < 3 {
			t.Fatalf("partition %d: %d stamped blocks, want every write's", part, stamped)
		}
	}
	// Joining an unknown partition set or garbage fails cleanly.
	if err := (&Node{id: "x", mux: first.mux}).Join(context.Background(), "127.0.0.1:1"); err == nil {
		t.Fatal("join to a closed port succeeded")
	}
}

func TestForwardingOffAnswersNotLeader(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	leader := c.waitLeader()
	for _, nd := range c.live() {
		if nd == leader {
			continue
		}
		b := accountsBatch()
		_, err := nd.p.Submit(context.Background(), &b)
		var nl *NotLeaderError
		if !errors.As(err, &nl) {
			t.Fatalf("follower without forwarding: %v", err)
		}
	}
}

func waitReady(t *testing.T, n *Node) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for _, p := range n.Partitions() {
		for !p.IsLeader() {
			if time.Now().After(deadline) {
				t.Fatal("node did not lead its partitions")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func followerOf(t *testing.T, nodes []*Node, part int) *Node {
	t.Helper()
	for _, n := range nodes {
		if !n.Partition(part).IsLeader() {
			return n
		}
	}
	t.Fatal("no follower")
	return nil
}
