package valuesplit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/conto-ledger/conto/engine/valuesplit/chain"
)

// TransferStart asks to transfer an item.
type TransferStart struct {
	Item      ItemID
	From      string        // the owner
	To        string        // the recipient
	ToCluster string        // the recipient's cluster; empty: this one
	TTL       time.Duration // 0: the center's default
}

// Transfer starts a transfer (Figs. 9, 10). Within the cluster: the center
// records the pending transfer, the item is locked, and a one-time
// download ticket is issued here. Across clusters: the body is offered to
// the recipient's cluster, which issues the ticket; the center moves the
// head to that cluster when the recipient downloads. Either way the
// recipient is notified (if a Notifier is configured) and the item stays
// locked until the download or the expiry.
func (c *Cluster) Transfer(ctx context.Context, t TransferStart) (Ticket, error) {
	if t.ToCluster == "" {
		t.ToCluster = c.cfg.ID
	}
	if err := CheckID("recipient", t.To); err != nil {
		return Ticket{}, err
	}
	if err := CheckID("recipient cluster", t.ToCluster); err != nil {
		return Ticket{}, err
	}
	if t.ToCluster != c.cfg.ID && c.cfg.Peers == nil {
		return Ticket{}, fmt.Errorf("%w: cluster %s has no peers configured", ErrInvalid, c.cfg.ID)
	}
	if _, err := c.owned(ctx, t.From, t.Item); err != nil {
		return Ticket{}, err
	}
	id, err := chain.NewOpID(c.cfg.Rand)
	if err != nil {
		return Ticket{}, err
	}
	prep, rec, err := c.prepare(ctx, id, &t)
	if err != nil {
		return Ticket{}, err
	}
	var tk Ticket
	if t.ToCluster == c.cfg.ID {
		tk, err = c.issueTicket(ctx, ticket{Transfer: id, Item: t.Item, ToUser: t.To, Expires: prep.Expires}, prep.ToEmail, rec.Name, t.From)
	} else {
		tk, err = c.offer(ctx, &rec, &prep, t.From)
	}
	if err != nil {
		return Ticket{}, errors.Join(err, c.release(ctx, t.From, t.Item, id))
	}
	return tk, nil
}

// prepare records the transfer at the center and locks the item here.
func (c *Cluster) prepare(ctx context.Context, id OpID, t *TransferStart) (PrepareTransferResult, Record, error) {
	var prep PrepareTransferResult
	var rec Record
	err := c.withEpoch(ctx, func(Epoch) error {
		r, err := c.store.Get(t.Item)
		if err != nil {
			return err
		}
		prep, err = c.cfg.Center.PrepareTransfer(ctx, PrepareTransferRequest{
			ID: id, Cluster: c.cfg.ID, User: t.From, Epoch: r.Epoch, Handle: r.Handle,
			ToUser: t.To, ToCluster: t.ToCluster, TTL: t.TTL,
		})
		if err != nil {
			return err
		}
		rec, err = c.store.Update(t.Item, func(r *Record) error {
			r.Lock = &Lock{Transfer: id, ToUser: t.To, ToCluster: t.ToCluster, Expires: prep.Expires}
			return nil
		})
		return err
	})
	return prep, rec, err
}

// offer sends the body to the recipient's cluster.
func (c *Cluster) offer(ctx context.Context, rec *Record, prep *PrepareTransferResult, from string) (Ticket, error) {
	peer, err := c.cfg.Peers(prep.ToCluster)
	if err != nil {
		return Ticket{}, fmt.Errorf("reach cluster %s: %w", prep.ToCluster, err)
	}
	body, err := c.store.Body(rec.Item)
	if err != nil {
		return Ticket{}, err
	}
	return peer.Offer(ctx, Offer{
		Transfer: prep.ID, Item: rec.Item, Name: rec.Name, Size: rec.Size, FileID: rec.FileID,
		Created: rec.Created, FromCluster: c.cfg.ID, FromUser: from, ToUser: prep.ToUser,
		ToEmail: prep.ToEmail, Expires: prep.Expires, Body: body,
	})
}

// release cancels a transfer at the center and unlocks the item here.
func (c *Cluster) release(ctx context.Context, user string, item ItemID, id OpID) error {
	err := c.cfg.Center.CancelTransfer(ctx, c.cfg.ID, user, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("cancel transfer %s: %w", id, err)
	}
	_, err = c.store.Update(item, func(r *Record) error {
		if r.Lock != nil && r.Lock.Transfer == id {
			r.Lock = nil
		}
		return nil
	})
	return err
}

// CancelTransfer cancels the owner's pending transfer of item.
func (c *Cluster) CancelTransfer(ctx context.Context, user string, item ItemID) error {
	rec, err := c.store.Get(item)
	if err != nil {
		return err
	}
	if rec.Owner != user || rec.Lock == nil {
		return fmt.Errorf("%w: pending transfer of item %s", ErrNotFound, item)
	}
	return c.release(ctx, user, item, rec.Lock.Transfer)
}

// MaxOfferBody bounds an offered body.
const MaxOfferBody = MaxItemSize + Overhead

// Offer receives a cross-cluster transfer's body (the Peer side). The
// cluster checks with the center that the transfer is pending, names this
// cluster and the given recipient, keeps the body aside and issues the
// recipient's download ticket.
func (c *Cluster) Offer(ctx context.Context, o Offer) (Ticket, error) {
	if err := checkOffer(&o); err != nil {
		return Ticket{}, err
	}
	st, err := c.cfg.Center.TransferStatus(ctx, c.cfg.ID, o.Transfer)
	if err != nil {
		return Ticket{}, fmt.Errorf("check offered transfer: %w", err)
	}
	if st.State != TransferPending || st.ToCluster != c.cfg.ID || st.ToUser != o.ToUser || st.Item != o.Item {
		return Ticket{}, fmt.Errorf("%w: no pending transfer %s of item %s to %s here", ErrNotFound, o.Transfer, o.Item, o.ToUser)
	}
	o.Expires = st.Expires
	if err := c.store.putOffer(o); err != nil {
		return Ticket{}, err
	}
	return c.issueTicket(ctx, ticket{Transfer: o.Transfer, Item: o.Item, ToUser: o.ToUser, Expires: o.Expires, Offer: true}, o.ToEmail, o.Name, o.FromUser)
}

func checkOffer(o *Offer) error {
	if o.Transfer.IsZero() || o.Item.IsZero() {
		return fmt.Errorf("%w: offer needs a transfer id and an item id", ErrInvalid)
	}
	if err := CheckID("recipient", o.ToUser); err != nil {
		return err
	}
	if err := CheckName(o.Name); err != nil {
		return err
	}
	if len(o.Body) < MinBodySize || len(o.Body) > MaxOfferBody || o.Size < 0 || o.Size > MaxItemSize {
		return fmt.Errorf("%w: offered body is %d bytes for a %d-byte item", ErrInvalid, len(o.Body), o.Size)
	}
	return nil
}

// issueTicket stores a download ticket and notifies the recipient. A
// failed notice does not undo the ticket: the sender also gets it.
func (c *Cluster) issueTicket(ctx context.Context, t ticket, email, name, from string) (Ticket, error) {
	token, err := newToken(c.cfg.Rand)
	if err != nil {
		return Ticket{}, err
	}
	if err := c.store.putTicket(token, t); err != nil {
		return Ticket{}, fmt.Errorf("store download ticket: %w", err)
	}
	tk := Ticket{Transfer: t.Transfer, Item: t.Item, Cluster: c.cfg.ID, Token: token, Expires: t.Expires}
	if c.cfg.Notifier != nil && email != "" {
		link := "download token: " + token
		if c.cfg.DownloadLink != nil {
			link = c.cfg.DownloadLink(token)
		}
		subject := fmt.Sprintf("%s sent you %s", from, name)
		body := fmt.Sprintf("%s transferred %q to you.\n\n%s\n\nThe link works once and expires at %s.\n",
			from, name, link, t.Expires.Format(time.RFC3339))
		if err := c.cfg.Notifier.Send(ctx, email, subject, body); err != nil {
			tk.NotifyError = err.Error()
		}
	}
	return tk, nil
}

// Download redeems a download ticket (Fig. 9 steps S312–S317, Fig. 11
// S419–S420): the center writes the transfer block, this cluster records
// the recipient as owner (taking in the offered body for a cross-cluster
// transfer) and returns the item's bytes. The ticket is then spent.
// Retrying after a failure is safe.
func (c *Cluster) Download(ctx context.Context, user, token string) ([]byte, ItemInfo, error) {
	if len(token) > 128 {
		return nil, ItemInfo{}, fmt.Errorf("%w: download token", ErrNotFound)
	}
	t, err := c.store.getTicket(token)
	if err != nil {
		return nil, ItemInfo{}, err
	}
	if t.ToUser != user {
		return nil, ItemInfo{}, fmt.Errorf("%w: download token", ErrNotFound)
	}
	if c.now().After(t.Expires) {
		return nil, ItemInfo{}, errors.Join(fmt.Errorf("%w: download token expired at %s", ErrExpired, t.Expires.Format(time.RFC3339)), c.dropTicket(ctx, token, t))
	}
	err = c.withEpoch(ctx, func(e Epoch) error {
		res, err := c.cfg.Center.CompleteTransfer(ctx, CompleteTransferRequest{ID: t.Transfer, Cluster: c.cfg.ID, User: user, Epoch: e})
		if err != nil {
			return err
		}
		return c.takeOwnership(&t, user, &res)
	})
	if err != nil {
		return nil, ItemInfo{}, err
	}
	if err := c.store.deleteTicket(token); err != nil {
		return nil, ItemInfo{}, fmt.Errorf("spend download ticket: %w", err)
	}
	return c.Get(ctx, user, t.Item)
}

// takeOwnership records a completed transfer in the store.
func (c *Cluster) takeOwnership(t *ticket, user string, res *CompleteTransferResult) error {
	if !t.Offer {
		_, err := c.store.Update(t.Item, func(r *Record) error {
			r.Owner, r.Block, r.Handle, r.Epoch, r.Lock = user, res.Block, res.Handle, res.Epoch, nil
			return nil
		})
		return err
	}
	o, err := c.store.getOffer(t.Transfer)
	if errors.Is(err, ErrNotFound) {
		if r, gerr := c.store.Get(t.Item); gerr == nil && r.Owner == user {
			return nil // accepted by an earlier attempt
		}
	}
	if err != nil {
		return err
	}
	return c.store.acceptOffer(t.Transfer, Record{
		Item: t.Item, Owner: user, Name: o.Name, Size: o.Size, Block: res.Block, Created: o.Created,
		FileID: o.FileID, Epoch: res.Epoch, Handle: res.Handle,
	})
}

// dropTicket forgets an expired ticket and, for an offer, its body.
func (c *Cluster) dropTicket(ctx context.Context, token string, t ticket) error {
	err := c.store.deleteTicket(token)
	if t.Offer {
		err = errors.Join(err, c.dropOffer(ctx, t.Transfer))
	}
	return err
}

// dropOffer deletes an expired transfer's offered body, unless the center
// says the transfer completed (or cannot say): then this body may be the
// item's only one, since the sender's cluster deletes its copy once the
// transfer completed, so it is kept.
func (c *Cluster) dropOffer(ctx context.Context, id OpID) error {
	st, err := c.cfg.Center.TransferStatus(ctx, c.cfg.ID, id)
	if err != nil || st.State == TransferCompleted {
		return nil
	}
	return c.store.deleteOffer(id)
}

// SettleResult reports a Settle.
type SettleResult struct {
	Released  int // locks of transfers that expired or were cancelled
	MovedAway int // items transferred to another cluster, deleted here
	Completed int // transfers within the cluster finished at the center
	Expired   int // download tickets (and offered bodies) past expiry
}

// Settle reconciles pending transfers with the center: it releases locks
// of transfers that expired or were cancelled, deletes items that moved to
// another cluster, finishes transfers completed at the center, and drops
// expired tickets and offers. Run it periodically; Get and Transfer settle
// a locked item on their own.
func (c *Cluster) Settle(ctx context.Context) (SettleResult, error) {
	var res SettleResult
	items, err := c.store.lockedItems()
	if err != nil {
		return res, err
	}
	for _, item := range items {
		before, err := c.store.Get(item)
		if err != nil || before.Lock == nil {
			continue
		}
		after, err := c.settle(ctx, item)
		switch {
		case errors.Is(err, ErrNotFound):
			res.MovedAway++
		case err != nil:
			return res, err
		case after.Owner != before.Owner:
			res.Completed++
		case after.Lock == nil:
			res.Released++
		}
	}
	expired, err := c.store.expiredTickets(c.now())
	for _, t := range expired {
		if t.Offer {
			err = errors.Join(err, c.dropOffer(ctx, t.Transfer))
		}
	}
	res.Expired = len(expired)
	return res, err
}

// settle asks the center about item's pending transfer and applies the
// answer. It returns ErrNotFound if the item moved to another cluster.
func (c *Cluster) settle(ctx context.Context, item ItemID) (Record, error) {
	rec, err := c.store.Get(item)
	if err != nil || rec.Lock == nil {
		return rec, err
	}
	lock := *rec.Lock
	st, err := c.cfg.Center.TransferStatus(ctx, c.cfg.ID, lock.Transfer)
	if err != nil {
		return rec, fmt.Errorf("transfer %s status: %w", lock.Transfer, err)
	}
	switch {
	case st.State == TransferPending:
		return rec, nil
	case st.State == TransferCompleted && lock.ToCluster != c.cfg.ID:
		if err := c.store.Delete(item); err != nil {
			return rec, err
		}
		return Record{}, fmt.Errorf("%w: item %s moved to cluster %s", ErrNotFound, item, lock.ToCluster)
	}
	return c.store.Update(item, func(r *Record) error {
		if r.Lock == nil || r.Lock.Transfer != lock.Transfer {
			return nil
		}
		if st.State == TransferCompleted {
			r.Owner, r.Block = lock.ToUser, st.Block
		}
		r.Lock = nil
		return nil
	})
}
