package transactor

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/conto-ledger/conto/engine/ledger"
)

const testAccounts = 20

func accountsBatch() ledger.Batch {
	accts := make([]ledger.Account, testAccounts)
	for i := range accts {
		accts[i] = ledger.Account{ID: ledger.U128(uint64(i + 1)), Ledger: 1, Code: 1}
	}
	return ledger.Batch{Kind: ledger.KindAccounts, Accounts: accts}
}

// workload generates transfer batches with increasing ids and remembers
// which ids were acknowledged as created.
type workload struct {
	rng    *rand.Rand
	nextID uint64
	acked  map[uint64]bool
}

func newWorkload() *workload {
	return &workload{rng: rand.New(rand.NewPCG(7, 9)), nextID: 1000, acked: map[uint64]bool{}}
}

func (w *workload) batch(n int) ledger.Batch {
	ts := make([]ledger.Transfer, n)
	for i := range ts {
		dr := w.rng.Uint64N(testAccounts) + 1
		cr := dr%testAccounts + 1
		ts[i] = ledger.Transfer{ID: ledger.U128(w.nextID), DebitAccountID: ledger.U128(dr),
			CreditAccountID: ledger.U128(cr), Amount: 1 + w.rng.Uint64N(100), Ledger: 1, Code: 1}
		w.nextID++
	}
	return ledger.Batch{Kind: ledger.KindTransfers, Transfers: ts}
}

// record notes the created transfers of a committed batch. A retried batch
// answers exists for what committed the first time; that counts too.
func (w *workload) record(t *testing.T, b ledger.Batch, resp *Response) {
	t.Helper()
	for i, r := range resp.Results {
		st := ledger.TransferStatus(r.Status)
		if st != ledger.TransferCreated && st != ledger.TransferExists {
			t.Fatalf("transfer %s: %v", b.Transfers[i].ID, st)
		}
		w.acked[b.Transfers[i].ID.Lo] = true
	}
}

// check verifies, on every live node, that every acknowledged transfer is
// there exactly once (ids are unique keys, and the count matches) and that
// conservation holds.
func (w *workload) check(t *testing.T, c *testCluster) {
	t.Helper()
	for _, nd := range c.live() {
		st := nd.p.Store()
		for id := range w.acked {
			if _, ok := st.Transfer(ledger.U128(id)); !ok {
				t.Fatalf("%s lost acknowledged transfer %d", nd.id, id)
			}
		}
		var dp, cp uint64
		for id := uint64(1); id <= testAccounts; id++ {
			a, _ := st.Account(ledger.U128(id))
			dp += a.DebitsPosted
			cp += a.CreditsPosted
		}
		if dp != cp {
			t.Fatalf("%s: conservation broken: debits %d credits %d", nd.id, dp, cp)
		}
	}
}

func TestClusterCommitsAndReplicasAreIdentical(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	w := newWorkload()
	resp := c.submit(accountsBatch())
	if resp.Results[0].Status != 0 || resp.Version == 0 {
		t.Fatalf("accounts batch: %+v", resp)
	}
	for i := 0; i < 20; i++ {
		b := w.batch(50)
		w.record(t, b, c.submit(b))
	}
	v := c.waitConverged()
	w.check(t, c)
	// Versions are Raft log indexes, and every node says so.
	for _, nd := range c.live() {
		a, _ := nd.p.Store().Account(ledger.U128(1))
		if a.Version == 0 || a.Version > v {
			t.Fatalf("%s: account version %d outside (0, %d]", nd.id, a.Version, v)
		}
	}
}

func TestFollowerRefusesWritesAndNamesTheLeader(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.submit(accountsBatch())
	leader := c.waitLeader()
	for _, nd := range c.live() {
		if nd == leader {
			continue
		}
		b := newWorkload().batch(1)
		_, err := nd.p.Submit(context.Background(), &b)
		var nl *NotLeaderError
		if !errors.As(err, &nl) {
			t.Fatalf("submit on follower %s: %v, want NotLeaderError", nd.id, err)
		}
		// It names the leader (re-read: an election may have moved it).
		if now := c.waitLeader(); nl.LeaderID != now.id && nl.LeaderID != leader.id || nl.Leader == "" {
			t.Fatalf("follower %s names %q at %q; the leader is %s", nd.id, nl.LeaderID, nl.Leader, now.id)
		}
		if err := nd.p.VerifyLeader(); err == nil {
			t.Fatalf("follower %s passes VerifyLeader", nd.id)
		}
	}
	if err := leader.p.VerifyLeader(); err != nil {
		t.Fatalf("leader fails VerifyLeader: %v", err)
	}
}

func TestLeaderLossThenRestartCatchesUp(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	w := newWorkload()
	c.submit(accountsBatch())
	for i := 0; i < 10; i++ {
		b := w.batch(20)
		w.record(t, b, c.submit(b))
	}
	old := c.waitLeader()
	idx := indexOf(c, old)
	c.stop(idx)
	// Writes resume on a new leader.
	for i := 0; i < 10; i++ {
		b := w.batch(20)
		w.record(t, b, c.submit(b))
	}
	if c.waitLeader() == old {
		t.Fatal("the stopped node is still the leader")
	}
	// The old leader restarts from its data directory and catches up.
	c.start(idx, false)
	c.waitConverged()
	w.check(t, c)
	if got := len(w.acked); got != 400 {
		t.Fatalf("acknowledged %d transfers, want 400", got)
	}
}

func TestCatchUpFromSnapshot(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotThreshold, cfg.TrailingLogs, cfg.SnapshotInterval = 5, 2, 50*time.Millisecond
	})
	w := newWorkload()
	c.submit(accountsBatch())
	leader := c.waitLeader()
	lagging := (indexOf(c, leader) + 1) % 3
	c.waitConverged()
	laggingLast, _ := c.nodes[lagging].p.wal.LastIndex()
	c.stop(lagging)
	for i := 0; i < 40; i++ {
		b := w.batch(10)
		w.record(t, b, c.submit(b))
	}
	// Wait until every live node has snapshotted and dropped the early log:
	// whichever leads when the lagging node returns can then only catch it
	// up with a snapshot.
	deadline := time.Now().Add(waitLimit)
	for compacted := false; !compacted; {
		compacted = true
		for _, nd := range c.live() {
			if first, err := nd.p.wal.FirstIndex(); err != nil || first <= laggingLast+1 {
				compacted = false
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the live nodes did not compact their logs")
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.start(lagging, false)
	c.waitConverged()
	w.check(t, c)
	// It could only have caught up by installing the leader's snapshot.
	if got := c.nodes[lagging].p.Raft().Stats()["last_snapshot_index"]; got == "0" {
		t.Fatalf("lagging node caught up without a snapshot (last_snapshot_index %s)", got)
	}
}

func TestNetworkPartitionedLeaderCannotCommit(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	w := newWorkload()
	c.submit(accountsBatch())
	old := c.waitLeader()
	// Cut the leader off from both followers.
	old.trans.DisconnectAll()
	for _, nd := range c.live() {
		if nd != old {
			nd.trans.Disconnect(old.addr)
		}
	}
	b := w.batch(5)
	_, err := old.p.Submit(context.Background(), &b)
	var nl *NotLeaderError
	if err == nil {
		t.Fatal("an isolated leader acknowledged a write")
	}
	if !errors.Is(err, ErrUnknownOutcome) && !errors.As(err, &nl) {
		t.Fatalf("isolated leader: %v, want unknown outcome or not leader", err)
	}
	// The majority elects a new leader and commits; the same ids are retried.
	deadline := time.Now().Add(waitLimit)
	var resp *Response
	for resp == nil && time.Now().Before(deadline) {
		for _, nd := range c.live() {
			if nd != old && nd.p.IsLeader() {
				bb := b
				if r, err := nd.p.Submit(context.Background(), &bb); err == nil {
					resp = r
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp == nil {
		t.Fatal("the majority did not commit")
	}
	w.record(t, b, resp)
	// Heal: the old leader rejoins, discards what it could not commit.
	for _, nd := range c.live() {
		if nd != old {
			nd.trans.Connect(old.addr, old.trans)
			old.trans.Connect(nd.addr, nd.trans)
		}
	}
	c.waitConverged()
	w.check(t, c)
}

func TestPendingExpiresWithoutTraffic(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	c.submit(accountsBatch())
	p := ledger.Transfer{ID: ledger.U128(1), DebitAccountID: ledger.U128(1), CreditAccountID: ledger.U128(2),
		Amount: 5, Ledger: 1, Code: 1, Flags: ledger.TransferPending, Timeout: 1}
	resp := c.submit(ledger.Batch{Kind: ledger.KindTransfers, Transfers: []ledger.Transfer{p}})
	if resp.Results[0].Status != 0 {
		t.Fatalf("pending: %v", ledger.TransferStatus(resp.Results[0].Status))
	}
	st := c.nodes[0].p.Store()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, _ := st.Pending(ledger.U128(1))
		a, _ := st.Account(ledger.U128(1))
		if info.State == ledger.PendingExpired && a.DebitsPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pending transfer not expired after its timeout: %+v, account %+v", info, a)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRestartSingleNodeKeepsEverything(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	w := newWorkload()
	c.submit(accountsBatch())
	for i := 0; i < 5; i++ {
		b := w.batch(100)
		w.record(t, b, c.submit(b))
	}
	before, _ := c.nodes[0].p.Store().Digest()
	c.stop(0)
	c.start(0, true)
	c.waitLeader()
	after, _ := c.nodes[0].p.Store().Digest()
	if before.Sum != after.Sum || before.Version != after.Version {
		t.Fatal("restart changed the data")
	}
	// Re-submitting an acknowledged batch applies nothing twice.
	b := w.batch(0)
	b.Transfers = []ledger.Transfer{{ID: ledger.U128(1000), DebitAccountID: ledger.U128(1), CreditAccountID: ledger.U128(2), Amount: 1, Ledger: 1, Code: 1}}
	resp := c.submit(b)
	if st := ledger.TransferStatus(resp.Results[0].Status); st != ledger.TransferExists && st != ledger.TransferExistsWithDifferentAmount && st != ledger.TransferExistsWithDifferentDebitAccountID && st != ledger.TransferExistsWithDifferentCreditAccountID {
		t.Fatalf("re-submitted id answers %v", st)
	}
	w.check(t, c)
}

func indexOf(c *testCluster, nd *testNode) int {
	for i := range c.nodes {
		if c.nodes[i] == nd {
			return i
		}
	}
	return -1
}
