package transactor

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conto-ledger/conto/engine/hashchain"
	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/engine/store"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// Config configures one partition's Raft group.
type Config struct {
	Partition int    // partition number, for logs and errors
	NodeID    string // this node's Raft server id, stable across restarts
	// Dir holds the partition's data: raft/ (the log, fsynced on every
	// append), snapshots/ and store/ (Badger).
	Dir       string
	Transport raft.Transport
	// Bootstrap forms a single-node cluster when the directory holds no
	// Raft state yet. A node that joins an existing cluster leaves it off.
	Bootstrap bool
	// Forward sends writes this node cannot commit to the partition's
	// leader (over the Raft mux) instead of answering NotLeaderError.
	Forward bool
	Logger  *slog.Logger
	// RaftLog receives hashicorp/raft's own log at warning level and above;
	// nil discards it.
	RaftLog io.Writer

	// ChainKey signs the batches this node proposes as leader (the stamp
	// every genesis hash covers) and this node's checkpoints; nil leaves
	// batches unstamped and signs no checkpoints.
	ChainKey ed25519.PrivateKey
	// ChainAlg is the hash algorithm the leader stamps on new batches
	// (default SHA-256). Changing it migrates every chain as it next moves.
	ChainAlg hashchain.Alg
	// CheckpointEvery is the number of versions between signed checkpoints
	// (default 1024).
	CheckpointEvery uint64
	// NoChains turns the hash chains off (benchmarks of their cost only).
	NoChains bool

	// Tuning; zero means the default.
	HeartbeatTimeout  time.Duration // default 1s
	ElectionTimeout   time.Duration // default 1s
	SnapshotThreshold uint64        // entries between snapshots; default 4096
	TrailingLogs      uint64        // entries kept after a snapshot; default 1024
	SnapshotInterval  time.Duration // how often to check; default 2m
	ExpiryPoll        time.Duration // how often the leader checks timeouts; default 100ms
	ApplyTimeout      time.Duration // to enqueue a batch; default 10s
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.RaftLog == nil {
		c.RaftLog = io.Discard
	}
	setDefault(&c.HeartbeatTimeout, time.Second)
	setDefault(&c.ElectionTimeout, time.Second)
	setDefault(&c.SnapshotThreshold, 4096)
	setDefault(&c.TrailingLogs, 1024)
	setDefault(&c.SnapshotInterval, 2*time.Minute)
	setDefault(&c.ExpiryPoll, 100*time.Millisecond)
	setDefault(&c.ApplyTimeout, 10*time.Second)
	setDefault(&c.ChainAlg, hashchain.SHA256)
	setDefault(&c.CheckpointEvery, 1024)
}

func setDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// Errors of Submit.
var (
	// ErrUnknownOutcome: leadership was lost (or the node shut down) after
	// the batch was handed to Raft; it may or may not commit. Clients retry
	// with the same ids, which idempotency makes safe (SPEC §2).
	ErrUnknownOutcome = errors.New("outcome unknown: leadership lost while the batch was in flight; retry with the same ids")
	// ErrStopped: the partition is closed or broken.
	ErrStopped = errors.New("partition stopped")
)

// NotLeaderError says this node cannot commit for the partition; the batch
// was not appended anywhere, so it is safe to send it to Leader.
type NotLeaderError struct {
	Partition int
	LeaderID  string // empty while no leader is known
	Leader    string // its Raft address
}

func (e *NotLeaderError) Error() string {
	if e.Leader == "" {
		return fmt.Sprintf("partition %d: not the leader, and no leader is known", e.Partition)
	}
	return fmt.Sprintf("partition %d: not the leader; the leader is %s at %s", e.Partition, e.LeaderID, e.Leader)
}

// Partition is one partition's Raft group on this node and its store.
type Partition struct {
	cfg   Config
	raft  *raft.Raft
	store *store.Store
	wal   *wal.WAL
	// meta is raft-wal's metadata store. We own it because WAL.Close (v0.4.0)
	// never closes it, which would keep its file lock after a restart.
	meta *metadb.BoltMetaDB
	log  *slog.Logger
	// checkpoints signs and keeps this node's checkpoints of the chains.
	checkpoints *checkpointer

	ready  atomic.Bool // leader, and every earlier entry applied (barrier)
	broken atomic.Pointer[error]
	stop   chan struct{}
	wg     sync.WaitGroup
	closed sync.Once
}

// OpenPartition opens (or creates) a partition in cfg.Dir and starts its
// Raft group.
func OpenPartition(cfg Config) (*Partition, error) {
	cfg.defaults()
	p := &Partition{cfg: cfg, stop: make(chan struct{}),
		log: cfg.Logger.With("partition", cfg.Partition)}
	if err := p.open(); err != nil {
		if p.raft != nil {
			_ = p.raft.Shutdown().Error()
		}
		p.closeStores()
		return nil, fmt.Errorf("transactor: partition %d in %s: %w", cfg.Partition, cfg.Dir, err)
	}
	p.wg.Add(2)
	go p.watchLeadership()
	go p.expiryLoop()
	return p, nil
}

func (p *Partition) open() error {
	raftDir, snapDir, storeDir := filepath.Join(p.cfg.Dir, "raft"), filepath.Join(p.cfg.Dir, "snapshots"), filepath.Join(p.cfg.Dir, "store")
	for _, d := range []string{raftDir, snapDir, storeDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	var err error
	if p.checkpoints, err = openCheckpointer(filepath.Join(p.cfg.Dir, "checkpoints"), p.cfg.ChainKey,
		uint32(p.cfg.Partition), p.cfg.CheckpointEvery); err != nil {
		return err
	}
	if p.store, err = store.Open(store.Options{Dir: storeDir, Logger: p.log, Partition: uint32(p.cfg.Partition),
		NoChains: p.cfg.NoChains, OnSystemHash: p.checkpoints.observe}); err != nil {
		return err
	}
	p.meta = &metadb.BoltMetaDB{}
	if p.wal, err = wal.Open(raftDir, wal.WithMetaStore(p.meta)); err != nil {
		return fmt.Errorf("open raft log: %w", err)
	}
	hl := hclog.New(&hclog.LoggerOptions{Name: fmt.Sprintf("raft-p%d", p.cfg.Partition), Level: hclog.Warn, Output: p.cfg.RaftLog})
	snaps, err := raft.NewFileSnapshotStoreWithLogger(snapDir, 2, hl)
	if err != nil {
		return fmt.Errorf("open snapshot store: %w", err)
	}
	// The cache serves recent entries to followers without reading the log.
	logs, err := raft.NewLogCache(256, p.wal)
	if err != nil {
		return err
	}
	rc := p.raftConfig(hl)
	if p.raft, err = raft.NewRaft(rc, newFSM(p.store, p.fail), logs, p.wal, snaps, p.cfg.Transport); err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	if !p.cfg.Bootstrap {
		return nil
	}
	has, err := raft.HasExistingState(logs, p.wal, snaps)
	if err != nil || has {
		return err
	}
	cluster := raft.Configuration{Servers: []raft.Server{{ID: raft.ServerID(p.cfg.NodeID), Address: p.cfg.Transport.LocalAddr()}}}
	if err := p.raft.BootstrapCluster(cluster).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("bootstrap: %w", err)
	}
	return nil
}

func (p *Partition) raftConfig(hl hclog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(p.cfg.NodeID)
	rc.Logger = hl
	rc.HeartbeatTimeout = p.cfg.HeartbeatTimeout
	rc.ElectionTimeout = p.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = min(p.cfg.HeartbeatTimeout, rc.LeaderLeaseTimeout)
	// The store is durable by itself: do not reload the last snapshot on
	// start, replay the log after it; the FSM skips what the store holds.
	rc.NoSnapshotRestoreOnStart = true
	// Group commit: the leader folds up to MaxAppendEntries queued batches
	// into one log append, one fsync.
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = 256
	rc.SnapshotThreshold = p.cfg.SnapshotThreshold
	rc.TrailingLogs = p.cfg.TrailingLogs
	rc.SnapshotInterval = p.cfg.SnapshotInterval
	return rc
}

// fail stops a partition whose state machine broke. Raft keeps the log; a
// restart of the node reloads the store and replays it.
func (p *Partition) fail(err error) {
	if p.broken.CompareAndSwap(nil, &err) {
		p.log.Error("state machine failed; the partition stops until the node restarts", "err", err)
		go p.raft.Shutdown()
	}
}

// Submit commits a batch through Raft and returns its results: Propose,
// then Wait. A whole-batch rejection returns the Response and its Err; see
// NotLeaderError and ErrUnknownOutcome for the rest.
func (p *Partition) Submit(ctx context.Context, b *ledger.Batch) (*Response, error) {
	pr, err := p.Propose(ctx, b)
	if err != nil {
		return nil, err
	}
	return p.waitOrForward(ctx, pr)
}

// waitOrForward waits for a proposal; if this node was not the leader (so
// nothing was appended) and forwarding is on, the leader commits it instead.
func (p *Partition) waitOrForward(ctx context.Context, pr *Proposal) (*Response, error) {
	resp, err := pr.Wait()
	var nl *NotLeaderError
	if p.cfg.Forward && errors.As(err, &nl) && nl.Leader != "" {
		return p.forward(ctx, nl.Leader, pr.data)
	}
	return resp, err
}

// Proposal is a batch handed to Raft, whose outcome Wait returns.
type Proposal struct {
	p    *Partition
	f    raft.ApplyFuture
	data []byte // the command, kept for forwarding
}

// Propose stamps the batch with the leader's clock (so every node applies
// the same time) and hands it to Raft without waiting for the commit.
// Proposals from one goroutine commit in the order they were made, so a
// caller that assigns ids and proposes under one lock keeps ids increasing.
// The context bounds only the wait to enqueue; once enqueued, Wait returns
// when the batch commits or its fate becomes unknown.
func (p *Partition) Propose(ctx context.Context, b *ledger.Batch) (*Proposal, error) {
	if e := p.broken.Load(); e != nil {
		return nil, fmt.Errorf("%w: %v", ErrStopped, *e)
	}
	b.Time = uint64(time.Now().UnixNano())
	if err := p.seal(b); err != nil {
		return nil, err
	}
	timeout := p.cfg.ApplyTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	data := encodeCommand(b)
	return &Proposal{p: p, f: p.raft.Apply(data, timeout), data: data}, nil
}

// SubmitTxn commits an optimistic transaction (SPEC §4) through Raft: the
// version checks run inside the state machine, so the decision is the same
// on every node and no write can slip between check and commit.
func (p *Partition) SubmitTxn(ctx context.Context, txn *store.Txn) (*store.TxnResult, error) {
	if err := txn.Validate(); err != nil {
		return nil, err
	}
	if e := p.broken.Load(); e != nil {
		return nil, fmt.Errorf("%w: %v", ErrStopped, *e)
	}
	timeout := p.cfg.ApplyTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	sealed := ledger.Batch{Time: uint64(time.Now().UnixNano())}
	if err := p.seal(&sealed); err != nil {
		return nil, err
	}
	txn.Seal = sealed.Seal
	data := encodeTxn(txn, sealed.Time)
	pr := &Proposal{p: p, f: p.raft.Apply(data, timeout), data: data}
	resp, err := p.waitOrForward(ctx, pr)
	if err != nil {
		return nil, err
	}
	return resp.Txn, nil
}

// Wait returns the proposal's outcome.
func (pr *Proposal) Wait() (*Response, error) {
	if err := pr.f.Error(); err != nil {
		return nil, pr.p.submitError(err)
	}
	resp, ok := pr.f.Response().(*Response)
	if !ok || resp == nil {
		return nil, fmt.Errorf("transactor: partition %d: no response for index %d", pr.p.cfg.Partition, pr.f.Index())
	}
	return resp, resp.Err
}

// submitError maps Raft's errors to what a client can act on.
func (p *Partition) submitError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return p.notLeader()
	case errors.Is(err, raft.ErrEnqueueTimeout):
		// Never handed to the leader loop: nothing was appended.
		return fmt.Errorf("partition %d: %w", p.cfg.Partition, err)
	default: // ErrLeadershipLost, ErrRaftShutdown, ErrAbortedByRestore, ...
		return fmt.Errorf("partition %d: %w (%v)", p.cfg.Partition, ErrUnknownOutcome, err)
	}
}

func (p *Partition) notLeader() *NotLeaderError {
	addr, id := p.raft.LeaderWithID()
	return &NotLeaderError{Partition: p.cfg.Partition, LeaderID: string(id), Leader: string(addr)}
}

// VerifyLeader confirms, with a quorum round trip, that this node is still
// the leader and has applied every entry of earlier terms, so that reading
// its state now is linearizable (NOTES.md: barrier on election, verify per
// read). Callers may share one verification among a group of reads.
func (p *Partition) VerifyLeader() error {
	if !p.ready.Load() {
		return p.notLeader()
	}
	if err := p.raft.VerifyLeader().Error(); err != nil {
		return p.notLeader()
	}
	return nil
}

// watchLeadership runs a barrier each time this node becomes leader, so
// reads and expiry start only once every earlier entry is applied.
func (p *Partition) watchLeadership() {
	defer p.wg.Done()
	for {
		select {
		case <-p.stop:
			return
		case leader := <-p.raft.LeaderCh():
			p.ready.Store(false)
			if !leader {
				continue
			}
			if err := p.raft.Barrier(p.cfg.ApplyTimeout).Error(); err != nil {
				p.log.Warn("barrier after election failed", "err", err)
				continue
			}
			p.ready.Store(p.raft.State() == raft.Leader)
		}
	}
}

// expiryLoop proposes an expiry batch when the earliest pending timeout has
// passed, so reservations are released without client traffic.
func (p *Partition) expiryLoop() {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.ExpiryPoll)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		if !p.ready.Load() {
			continue
		}
		next := p.store.NextExpiry()
		if next == 0 || next > uint64(time.Now().UnixNano()) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.ApplyTimeout)
		if _, err := p.Submit(ctx, &ledger.Batch{Kind: ledger.KindExpire}); err != nil {
			p.log.Warn("expiry batch failed", "err", err)
		}
		cancel()
	}
}

// Store is the partition's ledger store, for reads. Current reads on a
// follower may lag the leader; see VerifyLeader.
func (p *Partition) Store() *store.Store { return p.store }

// Raft exposes the Raft group for membership changes and introspection.
func (p *Partition) Raft() *raft.Raft { return p.raft }

// IsLeader reports whether this node leads the partition and is ready.
func (p *Partition) IsLeader() bool { return p.ready.Load() }

// Close stops the partition: Raft first (no more applies), then the log and
// the store. A leader hands leadership over first so writes resume quickly.
func (p *Partition) Close() error {
	var err error
	p.closed.Do(func() {
		close(p.stop)
		if p.raft != nil {
			if p.raft.State() == raft.Leader && len(p.peers()) > 1 {
				_ = p.raft.LeadershipTransfer().Error()
			}
			err = p.raft.Shutdown().Error()
		}
		p.wg.Wait()
		err = errors.Join(err, p.closeStores())
	})
	return err
}

func (p *Partition) peers() []raft.Server {
	f := p.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	return f.Configuration().Servers
}

func (p *Partition) closeStores() error {
	var err error
	if p.wal != nil {
		err = p.wal.Close()
	}
	if p.meta != nil {
		err = errors.Join(err, p.meta.Close())
	}
	if p.store != nil {
		if e := p.store.Close(); e != nil && !errors.Is(e, store.ErrClosed) {
			err = errors.Join(err, e)
		}
	}
	if p.checkpoints != nil {
		err = errors.Join(err, p.checkpoints.close())
	}
	return err
}

// seal stamps a batch for the hash chains: the algorithm, and the leader's
// signed random stamp that the genesis hashes of its accounts cover.
func (p *Partition) seal(b *ledger.Batch) error {
	if p.cfg.NoChains {
		return nil
	}
	b.Seal.Alg = uint8(p.cfg.ChainAlg)
	if p.cfg.ChainKey == nil {
		return nil
	}
	st, err := hashchain.NewStamp(p.cfg.ChainKey, uint32(p.cfg.Partition), b.Time, rand.Reader)
	if err != nil {
		return fmt.Errorf("transactor: partition %d: stamp: %w", p.cfg.Partition, err)
	}
	st.Encode(b.Seal.Stamp[:])
	return nil
}

// reseal replaces a forwarded command's chain seal with this leader's: the
// follower signed its stamp over its own clock, which the leader has just
// replaced, and stamps are the leader's to sign. Format-1 commands carry
// no seal.
func (p *Partition) reseal(data []byte) error {
	if len(data) < sealedHeader || data[0] != commandMagic || data[1] != commandFormat {
		return nil
	}
	b := ledger.Batch{Time: le.Uint64(data[8:])}
	if err := p.seal(&b); err != nil {
		return err
	}
	data[3] = b.Seal.Alg
	copy(data[headerSize:sealedHeader], b.Seal.Stamp[:])
	return nil
}

// Checkpoint returns the newest signed checkpoint of the partition's
// chains; with now, it first signs one of the latest system hash.
func (p *Partition) Checkpoint(now bool) (hashchain.Checkpoint, error) {
	if now {
		// Everything applied so far is chained and written first: a
		// checkpoint on request covers every batch acknowledged before it.
		if _, _, err := p.store.LastSystemHash(); err != nil && !errors.Is(err, store.ErrChainsOff) {
			return hashchain.Checkpoint{}, err
		}
		return p.checkpoints.Sign()
	}
	return p.checkpoints.Latest()
}

// CheckpointCovering returns the oldest signed checkpoint at or after
// version v, signing one if none is yet.
func (p *Partition) CheckpointCovering(v uint64) (hashchain.Checkpoint, error) {
	return p.checkpoints.Covering(v)
}

// Number is the partition's number.
func (p *Partition) Number() int { return p.cfg.Partition }
