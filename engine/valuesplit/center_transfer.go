package valuesplit

import (
	"context"
	"fmt"
	"time"

	"github.com/conto-ledger/conto/engine/valuesplit/chain"
)

// PrepareTransfer starts a transfer (Fig. 9 steps S307–S310, Fig. 10 steps
// S407–S409): it checks that User at Cluster owns the item behind Handle,
// that the recipient and both clusters are enabled and that the item has
// no other pending transfer, then records the transfer, which locks the
// item until it completes, is cancelled or expires. A retry with the same
// ID returns the first answer.
func (c *Center) PrepareTransfer(ctx context.Context, req PrepareTransferRequest) (PrepareTransferResult, error) {
	if req.ToCluster == "" {
		req.ToCluster = req.Cluster
	}
	ttl, err := c.checkPrepare(&req)
	if err != nil {
		return PrepareTransferResult{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.open(); err != nil {
		return PrepareTransferResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return PrepareTransferResult{}, err
	}
	if p := c.xfers.byID[req.ID]; p != nil {
		return c.samePrepare(p, &req)
	}
	b, err := c.owned(req.Cluster, req.User, req.Epoch, req.Handle, true)
	if err != nil {
		return PrepareTransferResult{}, err
	}
	if err := c.clusters.Check(req.ToCluster); err != nil {
		return PrepareTransferResult{}, fmt.Errorf("recipient cluster: %w", err)
	}
	if err := c.users.Check(req.ToUser); err != nil {
		return PrepareTransferResult{}, fmt.Errorf("recipient: %w", err)
	}
	if p := c.locked(b.Item); p != nil {
		return PrepareTransferResult{}, fmt.Errorf("%w: item %s, transfer %s until %s", ErrLocked, b.Item, p.ID, p.Expires.Format(time.RFC3339))
	}
	if len(c.xfers.byID) >= MaxPending {
		c.xfers.dropExpired(c.now())
		if len(c.xfers.byID) >= MaxPending {
			return PrepareTransferResult{}, fmt.Errorf("%w: %d transfers pending, limit %d", ErrInvalid, len(c.xfers.byID), MaxPending)
		}
	}
	now := c.now()
	p := &pendingTransfer{
		ID: req.ID, Item: b.Item, FromCluster: req.Cluster, FromUser: req.User,
		ToCluster: req.ToCluster, ToUser: req.ToUser, Created: now, Expires: now.Add(ttl),
	}
	if err := c.xfers.save(p); err != nil {
		return PrepareTransferResult{}, err
	}
	return c.prepareResult(p)
}

func (c *Center) checkPrepare(req *PrepareTransferRequest) (time.Duration, error) {
	if req.ID.IsZero() {
		return 0, fmt.Errorf("%w: transfer needs an id", ErrInvalid)
	}
	for _, f := range []struct{ what, id string }{
		{"cluster id", req.Cluster}, {"user id", req.User}, {"recipient cluster id", req.ToCluster}, {"recipient user id", req.ToUser},
	} {
		if err := CheckID(f.what, f.id); err != nil {
			return 0, err
		}
	}
	if req.ToUser == req.User && req.ToCluster == req.Cluster {
		return 0, fmt.Errorf("%w: a transfer to the owner at the same cluster changes nothing", ErrInvalid)
	}
	ttl := req.TTL
	if ttl == 0 {
		ttl = c.cfg.TransferTTL
	}
	if ttl < time.Second || ttl > MaxTransferTTL {
		return 0, fmt.Errorf("%w: transfer TTL %v outside 1s..%v", ErrInvalid, ttl, MaxTransferTTL)
	}
	return ttl, nil
}

// samePrepare answers a retried PrepareTransfer.
func (c *Center) samePrepare(p *pendingTransfer, req *PrepareTransferRequest) (PrepareTransferResult, error) {
	if p.FromCluster != req.Cluster || p.FromUser != req.User || p.ToCluster != req.ToCluster || p.ToUser != req.ToUser {
		return PrepareTransferResult{}, fmt.Errorf("%w: transfer %s exists with other parties", ErrConflict, p.ID)
	}
	return c.prepareResult(p)
}

func (c *Center) prepareResult(p *pendingTransfer) (PrepareTransferResult, error) {
	u, err := c.users.Get(p.ToUser)
	if err != nil {
		return PrepareTransferResult{}, err
	}
	return PrepareTransferResult{
		ID: p.ID, Item: p.Item, ToUser: p.ToUser, ToCluster: p.ToCluster, ToEmail: u.Email, Expires: p.Expires,
	}, nil
}

// CompleteTransfer writes the transfer block when the recipient downloads
// (Fig. 9 steps S313–S315, Fig. 10 step S413): the item's head is
// re-sealed under the block's own time and the block names the recipient
// and their cluster as owner. Ownership changes are always new blocks;
// nothing is rewritten. A retry returns the first answer.
func (c *Center) CompleteTransfer(ctx context.Context, req CompleteTransferRequest) (CompleteTransferResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.open(); err != nil {
		return CompleteTransferResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return CompleteTransferResult{}, err
	}
	k, err := c.keyFor(req.Epoch, false)
	if err != nil {
		return CompleteTransferResult{}, err
	}
	if c.chain.HasOp(req.ID) {
		b, err := c.chain.ByOp(req.ID)
		if err != nil {
			return CompleteTransferResult{}, err
		}
		return c.completedResult(b, &req, k)
	}
	p := c.xfers.byID[req.ID]
	if p == nil || p.Cancelled || p.ToCluster != req.Cluster || p.ToUser != req.User {
		return CompleteTransferResult{}, fmt.Errorf("%w: transfer %s to user %s at cluster %s", ErrNotFound, req.ID, req.User, req.Cluster)
	}
	if c.now().After(p.Expires) {
		return CompleteTransferResult{}, fmt.Errorf("%w: transfer %s expired at %s", ErrExpired, p.ID, p.Expires.Format(time.RFC3339))
	}
	if err := c.parties(p.FromCluster, p.FromUser); err != nil {
		return CompleteTransferResult{}, fmt.Errorf("sender: %w", err)
	}
	if err := c.parties(p.ToCluster, p.ToUser); err != nil {
		return CompleteTransferResult{}, fmt.Errorf("recipient: %w", err)
	}
	b, err := c.live(p.Item)
	if err != nil {
		return CompleteTransferResult{}, err
	}
	if b.Cluster != p.FromCluster || b.User != p.FromUser {
		return CompleteTransferResult{}, fmt.Errorf("%w: item %s no longer belongs to %s at %s", ErrConflict, p.Item, p.FromUser, p.FromCluster)
	}
	nb, err := c.appendTransfer(ctx, b, p)
	if err != nil {
		return CompleteTransferResult{}, err
	}
	return completeResult(nb, c.ep.state.Current, k), nil
}

// appendTransfer writes the ownership-change block for p.
func (c *Center) appendTransfer(ctx context.Context, b chain.Block, p *pendingTransfer) (chain.Block, error) {
	h, err := openHead(c.seal, b.Item, b.Name, b.Time, b.Payload)
	if err != nil {
		return chain.Block{}, fmt.Errorf("block %d: %w", b.Index, err)
	}
	d := chain.Draft{
		Kind: chain.KindTransfer, Item: b.Item, Op: p.ID, FileID: b.FileID, Time: c.now(),
		Cluster: p.ToCluster, User: p.ToUser, Name: b.Name,
	}
	if d.Payload, err = sealHead(c.seal, c.cfg.Rand, b.Item, b.Name, d.Time, h); err != nil {
		return chain.Block{}, err
	}
	nb, err := c.chain.Append(ctx, d)
	if err != nil {
		return nb, fmt.Errorf("transfer item %s: %w", b.Item, err)
	}
	return nb, nil
}

// completedResult answers a CompleteTransfer whose block exists.
func (c *Center) completedResult(b chain.Block, req *CompleteTransferRequest, k *epochKey) (CompleteTransferResult, error) {
	if b.Kind != chain.KindTransfer || b.Cluster != req.Cluster || b.User != req.User {
		return CompleteTransferResult{}, fmt.Errorf("%w: transfer %s to user %s at cluster %s", ErrNotFound, req.ID, req.User, req.Cluster)
	}
	return completeResult(b, c.ep.state.Current, k), nil
}

func completeResult(b chain.Block, e Epoch, k *epochKey) CompleteTransferResult {
	return CompleteTransferResult{
		Item: b.Item, Block: b.Index, Name: b.Name, FileID: b.FileID, Time: b.Time,
		Epoch: e, Handle: k.handle(b.Cluster, b.Item),
	}
}

// CancelTransfer releases a pending transfer: the sender (or the
// recipient, declining) at their cluster may cancel until it completes.
func (c *Center) CancelTransfer(ctx context.Context, cluster, user string, id OpID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.open(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p := c.xfers.byID[id]
	if p == nil || !(p.FromCluster == cluster && p.FromUser == user || p.ToCluster == cluster && p.ToUser == user) {
		return fmt.Errorf("%w: transfer %s", ErrNotFound, id)
	}
	if c.chain.HasOp(id) {
		return fmt.Errorf("%w: transfer %s already completed", ErrConflict, id)
	}
	if p.Cancelled {
		return nil
	}
	q := *p
	q.Cancelled = true
	return c.xfers.save(&q)
}

// TransferStatus tells either cluster of a transfer where it stands. An id
// the center has no record of reports TransferExpired.
func (c *Center) TransferStatus(ctx context.Context, cluster string, id OpID) (TransferStatus, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := c.open(); err != nil {
		return TransferStatus{}, err
	}
	if err := ctx.Err(); err != nil {
		return TransferStatus{}, err
	}
	p := c.xfers.byID[id]
	b, berr := c.chain.ByOp(id)
	done := berr == nil && b.Kind == chain.KindTransfer
	if p == nil {
		if done && b.Cluster == cluster {
			return TransferStatus{ID: id, State: TransferCompleted, Item: b.Item, ToCluster: b.Cluster, ToUser: b.User, Block: b.Index}, nil
		}
		return TransferStatus{ID: id, State: TransferExpired}, nil
	}
	if cluster != p.FromCluster && cluster != p.ToCluster {
		return TransferStatus{}, fmt.Errorf("%w: transfer %s", ErrNotFound, id)
	}
	st := TransferStatus{ID: id, Item: p.Item, FromCluster: p.FromCluster, ToCluster: p.ToCluster, ToUser: p.ToUser, Expires: p.Expires}
	switch {
	case done:
		st.State, st.Block = TransferCompleted, b.Index
	case p.Cancelled:
		st.State = TransferCancelled
	case c.now().After(p.Expires):
		st.State = TransferExpired
	default:
		st.State = TransferPending
	}
	return st, nil
}
