package transactor

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/conto-ledger/conto/engine/hashchain"
	"github.com/conto-ledger/conto/partition"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// NodeConfig configures a node: every partition's Raft group on one
// process, sharing one Raft address.
type NodeConfig struct {
	Dir string // data directory
	// NodeID names this node in every partition's Raft configuration. Empty
	// means the id stored in Dir, or a new random one on first start.
	NodeID string
	// RaftAddr is where the node listens for Raft traffic and how its peers
	// reach it, e.g. "127.0.0.1:7071".
	RaftAddr   string
	Partitions int
	// Bootstrap forms a new cluster of this node alone if Dir holds no
	// Raft state. Leave it off on nodes that join an existing cluster.
	Bootstrap bool
	Logger    *slog.Logger
	RaftLog   io.Writer
	// Forward makes followers forward writes to each partition's leader.
	Forward bool
	// ChainAlg and CheckpointEvery configure the hash chains of every
	// partition (see Config); zero means the default.
	ChainAlg        hashchain.Alg
	CheckpointEvery uint64
	// Tune adjusts each partition's Config (tests and benchmarks).
	Tune func(*Config)
}

// Node is one conto process's share of the cluster: a Raft group per
// partition, all reached through one TCP mux.
type Node struct {
	cfg   NodeConfig
	id    string
	mux   *Mux
	pmap  partition.Map
	parts []*Partition
	// key signs this node's stamps and checkpoints; it lives in Dir/node.key
	// and its public half in Dir/node.key.pub.
	key ed25519.PrivateKey
}

// OpenNode opens the node's data directory, checks that its partition map
// has not changed, and starts every partition.
func OpenNode(cfg NodeConfig) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	pmap, err := partition.New(cfg.Partitions)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	if err := pmap.Persist(cfg.Dir); err != nil {
		return nil, err
	}
	id, err := nodeID(cfg.Dir, cfg.NodeID)
	if err != nil {
		return nil, err
	}
	key, err := hashchain.LoadOrCreateKey(filepath.Join(cfg.Dir, "node.key"))
	if err != nil {
		return nil, err
	}
	mux, err := Listen(cfg.RaftAddr, cfg.Logger)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, id: id, mux: mux, pmap: pmap, key: key}
	if err := n.openPartitions(); err != nil {
		n.Close()
		return nil, err
	}
	mux.Handle(prefaceForward, n.serveForward)
	mux.Handle(prefaceJoin, n.serveJoin)
	mux.Handle(prefaceReadIndex, n.serveReadIndex)
	return n, nil
}

func (n *Node) openPartitions() error {
	raftLog := n.cfg.RaftLog
	if raftLog == nil {
		raftLog = io.Discard
	}
	for i := 0; i < n.pmap.Partitions; i++ {
		hl := hclog.New(&hclog.LoggerOptions{Name: fmt.Sprintf("raft-net-p%d", i), Level: hclog.Warn, Output: raftLog})
		trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream: n.mux.Layer(uint8(i)), MaxPool: 4, Timeout: 10 * time.Second, Logger: hl,
		})
		cfg := Config{Partition: i, NodeID: n.id, Dir: filepath.Join(n.cfg.Dir, fmt.Sprintf("p%03d", i)),
			Transport: trans, Bootstrap: n.cfg.Bootstrap, Forward: n.cfg.Forward, Logger: n.cfg.Logger, RaftLog: raftLog,
			ChainKey: n.key, ChainAlg: n.cfg.ChainAlg, CheckpointEvery: n.cfg.CheckpointEvery}
		if n.cfg.Tune != nil {
			n.cfg.Tune(&cfg)
		}
		p, err := OpenPartition(cfg)
		if err != nil {
			trans.Close()
			return err
		}
		n.parts = append(n.parts, p)
	}
	return nil
}

// nodeID returns the node's id: the configured one (which must match what
// Dir recorded), else the recorded one, else a new random one, recorded.
func nodeID(dir, want string) (string, error) {
	path := filepath.Join(dir, "node-id")
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		have := strings.TrimSpace(string(b))
		if want != "" && want != have {
			return "", fmt.Errorf("data directory %s belongs to node %q, not %q", dir, have, want)
		}
		return have, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", err
	}
	if want == "" {
		var r [6]byte
		if _, err := rand.Read(r[:]); err != nil {
			return "", err
		}
		want = "node-" + hex.EncodeToString(r[:])
	}
	if err := os.WriteFile(path, []byte(want+"\n"), 0o644); err != nil {
		return "", err
	}
	return want, nil
}

// ID is the node's Raft server id.
func (n *Node) ID() string { return n.id }

// Addr is the node's Raft address.
func (n *Node) Addr() string { return n.mux.Addr().String() }

// Map is the partition map.
func (n *Node) Map() partition.Map { return n.pmap }

// Partition returns partition i.
func (n *Node) Partition(i int) *Partition { return n.parts[i] }

// Partitions returns every partition, by number.
func (n *Node) Partitions() []*Partition { return n.parts }

// AddVoter adds a node to every partition this node leads, and reports the
// partitions it does not lead (their leaders must add it).
func (n *Node) AddVoter(id, addr string) error {
	var errs []error
	for _, p := range n.parts {
		if !p.IsLeader() {
			errs = append(errs, p.notLeader())
			continue
		}
		f := p.Raft().AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, 10*time.Second)
		if err := f.Error(); err != nil {
			errs = append(errs, fmt.Errorf("partition %d: add %s: %w", p.cfg.Partition, id, err))
		}
	}
	return errors.Join(errs...)
}

// Close stops every partition and the mux.
func (n *Node) Close() error {
	var err error
	for _, p := range n.parts {
		err = errors.Join(err, p.Close())
	}
	if n.mux != nil {
		err = errors.Join(err, n.mux.Close())
	}
	return err
}

// PublicKey is the key this node's checkpoints and stamps verify with.
func (n *Node) PublicKey() ed25519.PublicKey { return n.key.Public().(ed25519.PublicKey) }
