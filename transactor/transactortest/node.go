// Package transactortest starts real single-node clusters for the tests of
// the packages above the transactor (engine, gateway, its client): a real
// Raft log and Badger store in a temporary directory, on 127.0.0.1.
package transactortest

import (
	"io"
	"log/slog"
	"time"

	"github.com/conto-ledger/conto/transactor"
)

// TB is what StartNode needs of a test (an example can provide it too).
type TB interface {
	Helper()
	Fatal(args ...any)
	TempDir() string
	Cleanup(func())
}

// StartNode opens a bootstrapped node with the given partitions (writes
// forwarded, logs discarded), waits until it leads every partition, and
// closes it when the test ends.
func StartNode(tb TB, partitions int) *transactor.Node {
	tb.Helper()
	node, err := transactor.OpenNode(transactor.NodeConfig{Dir: tb.TempDir(), RaftAddr: "127.0.0.1:0",
		Partitions: partitions, Bootstrap: true, Forward: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Tune: func(c *transactor.Config) {
			c.HeartbeatTimeout, c.ElectionTimeout = 200*time.Millisecond, 200*time.Millisecond
		}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { node.Close() })
	deadline := time.Now().Add(20 * time.Second)
	for _, p := range node.Partitions() {
		for !p.IsLeader() {
			if time.Now().After(deadline) {
				tb.Fatal("the node did not elect itself in every partition")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return node
}
