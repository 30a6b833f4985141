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

	"github.com/conto-ledger/conto/engine/hashchain"
	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/engine/store"
	"github.com/hashicorp/raft"
)

// testCluster runs Raft groups of one partition on in-memory transports,
// each node with its real raft-wal log and Badger store in a temp dir.
type testCluster struct {
	t     *testing.T
	nodes []*testNode
	cfg   func(*Config) // tuning applied to every node
}

type testNode struct {
	id    string
	dir   string
	addr  raft.ServerAddress
	trans *raft.InmemTransport
	p     *Partition
}

const waitLimit = 20 * time.Second

func newTestCluster(t *testing.T, n int, tune func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, cfg: tune}
	base := t.TempDir()
	for i := 0; i < n; i++ {
		c.nodes = append(c.nodes, &testNode{id: fmt.Sprintf("n%d", i), dir: filepath.Join(base, fmt.Sprintf("n%d", i)),
			addr: raft.ServerAddress(fmt.Sprintf("n%d-addr", i))})
	}
	for i := range c.nodes {
		c.start(i, i == 0)
	}
	t.Cleanup(c.closeAll)
	leader := c.waitLeader()
	for _, nd := range c.nodes[1:] {
		if err := leader.p.Raft().AddVoter(raft.ServerID(nd.id), nd.addr, 0, 5*time.Second).Error(); err != nil {
			t.Fatalf("add voter %s: %v", nd.id, err)
		}
	}
	return c
}

// start opens node i (again), with a fresh transport connected to the
// running nodes.
func (c *testCluster) start(i int, bootstrap bool) {
	c.t.Helper()
	nd := c.nodes[i]
	_, nd.trans = raft.NewInmemTransport(nd.addr)
	for _, other := range c.nodes {
		if other != nd && other.p != nil {
			nd.trans.Connect(other.addr, other.trans)
			other.trans.Connect(nd.addr, nd.trans)
		}
	}
	cfg := Config{NodeID: nd.id, Dir: nd.dir, Transport: nd.trans, Bootstrap: bootstrap,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Short enough for quick tests, long enough that a loaded CI machine
		// (race detector, packages in parallel) does not trigger elections.
		HeartbeatTimeout: 400 * time.Millisecond, ElectionTimeout: 400 * time.Millisecond,
		ExpiryPoll: 20 * time.Millisecond, ApplyTimeout: 5 * time.Second}
	if c.cfg != nil {
		c.cfg(&cfg)
	}
	p, err := OpenPartition(cfg)
	if err != nil {
		c.t.Fatalf("open %s: %v", nd.id, err)
	}
	nd.p = p
}

func (c *testCluster) stop(i int) {
	c.t.Helper()
	nd := c.nodes[i]
	if err := nd.p.Close(); err != nil {
		c.t.Logf("close %s: %v", nd.id, err)
	}
	nd.p = nil
}

func (c *testCluster) closeAll() {
	for _, nd := range c.nodes {
		if nd.p != nil {
			nd.p.Close()
			nd.p = nil
		}
	}
}

func (c *testCluster) live() []*testNode {
	var out []*testNode
	for _, nd := range c.nodes {
		if nd.p != nil {
			out = append(out, nd)
		}
	}
	return out
}

// waitLeader waits for a ready leader among the live nodes.
func (c *testCluster) waitLeader() *testNode {
	c.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		for _, nd := range c.live() {
			if nd.p.IsLeader() {
				return nd
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatal("no leader elected")
	return nil
}

// submit commits a batch on the current leader, retrying on leadership
// changes (with the same ids, as a client would).
func (c *testCluster) submit(b ledger.Batch) *Response {
	c.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		leader := c.waitLeader()
		bb := b
		resp, err := leader.p.Submit(context.Background(), &bb)
		var nl *NotLeaderError
		switch {
		case err == nil:
			return resp
		case errors.As(err, &nl), errors.Is(err, ErrUnknownOutcome):
			time.Sleep(50 * time.Millisecond)
			continue
		default:
			c.t.Fatalf("submit: %v", err)
		}
	}
	c.t.Fatal("submit did not succeed in time")
	return nil
}

// waitConverged waits until every live node has applied the same version
// and checks that their stores then hold byte-identical data.
func (c *testCluster) waitConverged() uint64 {
	c.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		c.waitLeader()
		var digests []store.Digest
		for _, nd := range c.live() {
			d, err := nd.p.Store().Digest()
			if err != nil {
				c.t.Fatalf("%s digest: %v", nd.id, err)
			}
			digests = append(digests, d)
		}
		if sameVersion(digests) && digests[0].Version > 0 {
			for i, d := range digests {
				if d.Sum != digests[0].Sum {
					c.t.Fatalf("%s holds different data than %s at version %d", c.live()[i].id, c.live()[0].id, d.Version)
				}
			}
			c.sameChains()
			return digests[0].Version
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, nd := range c.live() {
		c.t.Logf("%s: last applied %d", nd.id, nd.p.Store().LastApplied())
	}
	c.t.Fatal("nodes did not converge")
	return 0
}

func sameVersion(ds []store.Digest) bool {
	for _, d := range ds {
		if d.Version != ds[0].Version {
			return false
		}
	}
	return true
}

// sameChains checks that every live node computed the same hash chains: the
// digests cover the chain blocks, and this names the system hash itself.
func (c *testCluster) sameChains() {
	c.t.Helper()
	var first hashchain.Hash
	for i, nd := range c.live() {
		v, sys, err := nd.p.Store().LastSystemHash()
		if err != nil || v == 0 {
			c.t.Fatalf("%s: last system hash at version %d: %v", nd.id, v, err)
		}
		if i == 0 {
			first = sys
		} else if sys != first {
			c.t.Fatalf("%s has system hash %s at version %d, %s has %s", nd.id, sys, v, c.live()[0].id, first)
		}
	}
}
