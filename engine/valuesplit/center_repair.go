package valuesplit

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"

	"github.com/conto-ledger/conto/engine/valuesplit/chain"
)

// Verify re-verifies every block of the chain (see chain.Chain.Verify).
func (c *Center) Verify(ctx context.Context) (chain.Report, error) {
	c.mu.RLock()
	closed := c.closed
	c.mu.RUnlock()
	if closed {
		return chain.Report{}, ErrClosed
	}
	rep, err := c.chain.Verify(ctx)
	if err == nil && rep.FirstBad == nil {
		rep.FirstBad = c.truncation()
	}
	return rep, err
}

// FreezeResult reports a Freeze and whom it affects.
type FreezeResult struct {
	Range chain.Range `json:"range"`
	// Items are the items the frozen blocks hold, per the account book
	// (and per the frozen blocks that still match their hashes).
	Items []ItemID `json:"items"`
	// Clusters are the clusters owning those items before or after the
	// frozen blocks: the ones the monitor alerts.
	Clusters []string `json:"clusters"`
	// BookError is set when the account book could not be read: the
	// center then treats every item as frozen until repair.
	BookError string `json:"book_error,omitempty"`
}

// Freeze freezes block from and every block after it (claim 9), and works
// out from the account book which items and clusters that affects. Until
// Repair, those items are neither acquired nor transferred, and new
// registrations branch from the last unfrozen block.
func (c *Center) Freeze(ctx context.Context, from uint64) (FreezeResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.open(); err != nil {
		return FreezeResult{}, err
	}
	r, err := c.chain.Freeze(from)
	if err != nil {
		return FreezeResult{}, err
	}
	res := c.refreshAffected(ctx)
	res.Range = r
	return res, nil
}

// refreshAffected recomputes the affected items and clusters of every
// frozen range from the account book and the frozen blocks.
func (c *Center) refreshAffected(ctx context.Context) FreezeResult {
	var res FreezeResult
	ranges := c.chain.Frozen()
	items := map[ItemID]struct{}{}
	clusters := map[string]struct{}{}
	inFrozen := func(i uint64) bool {
		return slices.ContainsFunc(ranges, func(r chain.Range) bool { return r.Contains(i) })
	}
	err := c.cfg.Book.Entries(ctx, func(e BookEntry) error {
		if inFrozen(e.Index) && (e.Kind == chain.KindRegister || e.Kind == chain.KindTransfer) {
			items[e.Item] = struct{}{}
			clusters[e.Cluster] = struct{}{}
		}
		return nil
	})
	c.chain.Owners(func(o chain.Owner) bool {
		if o.Frozen {
			items[o.Item] = struct{}{}
		}
		if _, ok := items[o.Item]; ok {
			// The owner per the chain: before a tampered transfer block,
			// the sender's cluster.
			clusters[o.Cluster] = struct{}{}
		}
		return true
	})
	c.affected, c.affectedErr = items, err
	if err != nil {
		res.BookError = err.Error()
	}
	for it := range items {
		res.Items = append(res.Items, it)
	}
	slices.SortFunc(res.Items, func(a, b ItemID) int { return slices.Compare(a[:], b[:]) })
	for cl := range clusters {
		res.Clusters = append(res.Clusters, cl)
	}
	slices.Sort(res.Clusters)
	return res
}

// RepairResult reports a Repair.
type RepairResult struct {
	chain.RepairResult
	// FromBook counts blocks rebuilt from the account book; the rest of
	// Rebuilt came from frozen blocks that still matched their hashes.
	FromBook int `json:"from_book"`
}

// Repair is the repair bot (claim 10, Figs. 19, 22): it rebuilds every
// frozen block from the last account-book entry recorded for its position
// — checking the entry's payload hash and that its sealed payload opens
// for the entry's item, name and time — or, without a usable entry, from
// the frozen block itself if it still matches its hash; it merges the
// branch registered during the freeze and clears the frozen flags (see
// chain.Chain.Repair). Blocks nothing can rebuild become void blocks and
// are reported as lost.
func (c *Center) Repair(ctx context.Context) (RepairResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.open(); err != nil {
		return RepairResult{}, err
	}
	ranges := c.chain.Frozen()
	if len(ranges) == 0 {
		return RepairResult{}, nil
	}
	entries, err := c.bookFor(ctx, ranges)
	if err != nil {
		return RepairResult{}, err
	}
	var res RepairResult
	cr, err := c.chain.Repair(ctx, func(ctx context.Context, i uint64, old *chain.Block) (chain.Draft, error) {
		if e, ok := entries[i]; ok {
			if err := c.checkEntry(&e); err == nil {
				res.FromBook++
				return e.draft(), nil
			}
		}
		if old != nil && (old.Kind == chain.KindRegister || old.Kind == chain.KindTransfer) {
			return old.Draft, nil
		}
		return chain.Draft{}, fmt.Errorf("%w: no usable account-book entry for block %d", chain.ErrLost, i)
	})
	if err != nil {
		return RepairResult{}, fmt.Errorf("repair chain: %w", err)
	}
	res.RepairResult = cr
	c.affected, c.affectedErr = map[ItemID]struct{}{}, nil
	return res, nil
}

// bookFor returns the last book entry for every position in ranges.
func (c *Center) bookFor(ctx context.Context, ranges []chain.Range) (map[uint64]BookEntry, error) {
	out := map[uint64]BookEntry{}
	err := c.cfg.Book.Entries(ctx, func(e BookEntry) error {
		if slices.ContainsFunc(ranges, func(r chain.Range) bool { return r.Contains(e.Index) }) {
			out[e.Index] = e
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read account book: %w", err)
	}
	return out, nil
}

// checkEntry verifies a book entry before a block is rebuilt from it.
func (c *Center) checkEntry(e *BookEntry) error {
	if e.Kind != chain.KindRegister && e.Kind != chain.KindTransfer {
		return fmt.Errorf("%w: book entry for block %d is a %s entry", ErrInvalid, e.Index, e.Kind)
	}
	if sha256.Sum256(e.Payload) != e.PayloadHash {
		return fmt.Errorf("%w: book entry for block %d: payload hash mismatch", ErrTampered, e.Index)
	}
	if _, err := openHead(c.seal, e.Item, e.Name, e.Time, e.Payload); err != nil {
		return fmt.Errorf("book entry for block %d: %w", e.Index, err)
	}
	if CheckID("cluster id", e.Cluster) != nil || CheckID("user id", e.User) != nil {
		return fmt.Errorf("%w: book entry for block %d names a bad owner", ErrInvalid, e.Index)
	}
	return nil
}
