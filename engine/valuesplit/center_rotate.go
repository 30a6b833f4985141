package valuesplit

import (
	"context"
	"fmt"
	"hash"
	"runtime"
	"sync"
	"time"

	"github.com/conto-ledger/conto/engine/valuesplit/chain"
)

// Rotation is the outcome of Rotate: the new epoch and, per enabled
// cluster, the mapping that re-keys its store (claims 1, 7, 12: the block
// hash value updated at the interval and sent to the cluster).
type Rotation struct {
	From     Epoch              `json:"from"`
	To       Epoch              `json:"to"`
	At       time.Time          `json:"at"`
	Mappings map[string]Mapping `json:"mappings"`
}

// Rotate moves to a new handle epoch with a fresh random key and returns
// each enabled cluster's mapping from the epoch it is at to the new one.
// From now on only new-epoch handles resolve (plus the previous epoch's
// within the grace window), so a copy of a cluster's store taken before
// the rotation names nothing. A cluster applies its mapping
// (BodyStore.Rekey, via Cluster.ApplyRotation or Cluster.Sync) and
// acknowledges it (AckEpoch); after that the center refuses the old
// mapping to anyone.
//
// Rotate refuses while blocks are frozen: until repair, the account book
// and not the chain knows who owns the frozen items, and a mapping computed
// from the chain could drop their bodies.
func (c *Center) Rotate(ctx context.Context) (Rotation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.open(); err != nil {
		return Rotation{}, err
	}
	if len(c.chain.Frozen()) > 0 {
		return Rotation{}, fmt.Errorf("%w: repair the chain before rotating handles", ErrFrozen)
	}
	// Rotating would tell clusters to drop the bodies of items in blocks
	// cut from the chain's end: refuse until the chain is whole again.
	if p := c.truncation(); p != nil {
		return Rotation{}, fmt.Errorf("%w: %s", ErrTampered, p.Reason)
	}
	enabled := c.enabledClusters()
	from := c.ep.state.Current
	for _, id := range enabled {
		// After the rotation the cluster needs the keys of epochs
		// ack..from+1 to catch up.
		if from+2-c.ep.ack(id) > Epoch(c.cfg.MaxKeptEpochs) {
			return Rotation{}, fmt.Errorf("%w: cluster %s is at epoch %d, the center at %d", ErrLagging, id, c.ep.ack(id), from)
		}
	}
	var to Epoch
	err := c.ep.change(func() error {
		for _, info := range c.clusters.List() {
			// Pin every cluster's epoch before it changes: ack() defaults
			// to the current epoch for clusters that never acknowledged.
			c.ep.state.Acks[info.ID] = c.ep.ack(info.ID)
		}
		var err error
		if to, err = c.ep.rotate(c.now()); err != nil {
			return err
		}
		c.ep.prune(enabled)
		return nil
	})
	if err != nil {
		return Rotation{}, fmt.Errorf("rotate handles: %w", err)
	}
	fromOf := map[string]Epoch{}
	for _, id := range enabled {
		fromOf[id] = c.ep.ack(id)
	}
	rot := Rotation{From: from, To: to, At: c.ep.state.RotatedAt, Mappings: c.mappings(ctx, fromOf, to)}
	if err := ctx.Err(); err != nil {
		// The rotation stands; the clusters fetch their mappings with Sync.
		rot.Mappings = nil
		return rot, fmt.Errorf("rotated to epoch %d but computing the mappings stopped: %w", to, err)
	}
	return rot, nil
}

func (c *Center) enabledClusters() []string {
	var out []string
	for _, info := range c.clusters.List() {
		if info.Enabled {
			out = append(out, info.ID)
		}
	}
	return out
}

// Mapping returns the mapping that brings cluster's store from epoch from
// to the current epoch. It is refused (ErrRefused) for an epoch before the
// one the cluster last acknowledged: only an old copy of its store would
// ask for that. A cluster that is already current gets an empty mapping
// with From == To.
func (c *Center) Mapping(ctx context.Context, cluster string, from Epoch) (Mapping, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := c.open(); err != nil {
		return Mapping{}, err
	}
	if err := c.clusters.Check(cluster); err != nil {
		return Mapping{}, err
	}
	cur := c.ep.state.Current
	switch {
	case from > cur:
		return Mapping{}, fmt.Errorf("%w: epoch %d is ahead of the center's %d", ErrInvalid, from, cur)
	case from < c.ep.ack(cluster):
		return Mapping{}, fmt.Errorf("%w: cluster %s acknowledged epoch %d; no mapping from epoch %d", ErrRefused, cluster, c.ep.ack(cluster), from)
	case from == cur:
		return Mapping{Cluster: cluster, From: cur, To: cur}, nil
	case c.ep.keys[from] == nil:
		return Mapping{}, fmt.Errorf("%w: the keys of epoch %d are gone", ErrLagging, from)
	}
	m := c.mappings(ctx, map[string]Epoch{cluster: from}, cur)[cluster]
	return m, ctx.Err()
}

// AckEpoch records that cluster's store is at the current epoch. From then
// on the center refuses mappings from older epochs for it, and forgets
// epoch keys no enabled cluster needs.
func (c *Center) AckEpoch(ctx context.Context, cluster string, e Epoch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.open(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.clusters.Check(cluster); err != nil {
		return err
	}
	if e != c.ep.state.Current {
		return &StaleEpochError{Got: e, Current: c.ep.state.Current}
	}
	if a, ok := c.ep.state.Acks[cluster]; ok && a == e {
		return nil
	}
	enabled := c.enabledClusters()
	return c.ep.change(func() error {
		c.ep.state.Acks[cluster] = e
		c.ep.prune(enabled)
		return nil
	})
}

// mappings computes the mappings of the clusters in fromOf (cluster →
// epoch its store is at) to epoch to. The chain's in-memory owners are
// split across the CPUs; each item costs two handles.
func (c *Center) mappings(ctx context.Context, fromOf map[string]Epoch, to Epoch) map[string]Mapping {
	for id, from := range fromOf {
		if c.ep.keys[from] == nil {
			delete(fromOf, id) // pruned: Mapping reports it as lagging
		}
	}
	var owners []chain.Owner
	c.chain.Owners(func(o chain.Owner) bool {
		if _, ok := fromOf[o.Cluster]; ok {
			owners = append(owners, o)
		}
		return true
	})
	pairs := make([]HandlePair, len(owners))
	workers := max(1, min(runtime.GOMAXPROCS(0), len(owners)/4096))
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*len(owners)/workers, (w+1)*len(owners)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.computePairs(ctx, owners[lo:hi], pairs[lo:hi], fromOf, to)
		}()
	}
	wg.Wait()
	out := make(map[string]Mapping, len(fromOf))
	for id, from := range fromOf {
		out[id] = Mapping{Cluster: id, From: from, To: to}
	}
	for i, o := range owners {
		m := out[o.Cluster]
		m.Pairs = append(m.Pairs, pairs[i])
		out[o.Cluster] = m
	}
	for id, m := range out {
		sortPairs(m.Pairs)
		out[id] = m
	}
	return out
}

func (c *Center) computePairs(ctx context.Context, owners []chain.Owner, out []HandlePair, fromOf map[string]Epoch, to Epoch) {
	newK := c.ep.keys[to]
	newM := newK.newMAC()
	oldMACs := map[Epoch]hash.Hash{}
	for i, o := range owners {
		if i%4096 == 0 && ctx.Err() != nil {
			return
		}
		from := fromOf[o.Cluster]
		oldK := c.ep.keys[from]
		m, ok := oldMACs[from]
		if !ok {
			m = oldK.newMAC()
			oldMACs[from] = m
		}
		out[i] = HandlePair{Old: oldK.handleWith(m, o.Cluster, o.Item), New: newK.handleWith(newM, o.Cluster, o.Item)}
	}
}
