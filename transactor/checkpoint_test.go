package transactor

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/conto-ledger/conto/engine/ledger"
)

// After a restart the partition knows its system hash before any new batch:
// a checkpoint can be signed on request at once, at the last version.
func TestCheckpointOnRequestRightAfterRestart(t *testing.T) {
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func() *Node {
		n, err := OpenNode(NodeConfig{Dir: dir, NodeID: "n0", RaftAddr: freeAddr(t), Partitions: 1, Bootstrap: true, Logger: quiet,
			Tune: func(c *Config) { c.HeartbeatTimeout, c.ElectionTimeout = 200*time.Millisecond, 200*time.Millisecond }})
		if err != nil {
			t.Fatal(err)
		}
		waitReady(t, n)
		return n
	}
	n := open()
	b := ledger.Batch{Kind: ledger.KindAccounts, Accounts: []ledger.Account{{ID: ledger.U128(1), Ledger: 1, Code: 1}}}
	resp, err := n.Partition(0).Submit(context.Background(), &b)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = open()
	defer n.Close()
	cp, err := n.Partition(0).Checkpoint(true)
	if err != nil || cp.Version < resp.Version {
		t.Fatalf("checkpoint on request after a restart: %+v, %v; want version ≥ %d", cp, err, resp.Version)
	}
	if err := cp.Verify(); err != nil {
		t.Fatal(err)
	}
}
