package valuesplit

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/conto-ledger/conto/engine/valuesplit/chain"
	"github.com/conto-ledger/conto/engine/valuesplit/notify"
)

// ClusterConfig configures a cluster server.
type ClusterConfig struct {
	// ID is the cluster's id at the center (required).
	ID string
	// Dir holds the body store (required).
	Dir string
	// Center is the center server (required).
	Center CenterAPI
	// Peers finds another cluster for cross-cluster transfers (optional:
	// without it only transfers within this cluster work).
	Peers func(clusterID string) (Peer, error)
	// Notifier tells recipients about transfers (optional). Wrap it in
	// notify.Retrying for retries.
	Notifier notify.Notifier
	// DownloadLink turns a download token into the URL put in the
	// recipient's notice (optional; the notice shows the token otherwise).
	DownloadLink func(token string) string
	// Split chooses head size and window (zero: 30 bytes from the start).
	Split SplitSpec
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Rand is the randomness source (default crypto/rand).
	Rand io.Reader
}

// Cluster is the cluster server's core (claims 1, 21): it encrypts and
// splits items, keeps their bodies, and serves registration, acquisition,
// listing, transfers and handle rotation on top of a CenterAPI. Safe for
// concurrent use.
type Cluster struct {
	cfg   ClusterConfig
	store *BodyStore
	// rekeyMu keeps a re-key from running between the center's answer and
	// the store write of the same operation (the answer's handle would be
	// of the old epoch): operations hold it shared, re-keys exclusively.
	rekeyMu sync.RWMutex
}

// OpenCluster opens a cluster over its body store.
func OpenCluster(cfg ClusterConfig) (*Cluster, error) {
	if err := CheckID("cluster id", cfg.ID); err != nil {
		return nil, err
	}
	if cfg.Center == nil || cfg.Dir == "" {
		return nil, fmt.Errorf("%w: cluster needs a center and a directory", ErrInvalid)
	}
	if cfg.Split.HeadSize < 0 || cfg.Split.HeadSize > MaxHeadSize || cfg.Split.Offset < 0 {
		return nil, fmt.Errorf("%w: split head size %d / offset %d", ErrInvalid, cfg.Split.HeadSize, cfg.Split.Offset)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	s, err := OpenBodyStore(cfg.Dir, cfg.ID)
	if err != nil {
		return nil, err
	}
	return &Cluster{cfg: cfg, store: s}, nil
}

// Close closes the body store.
func (c *Cluster) Close() error { return c.store.Close() }

// ID returns the cluster id.
func (c *Cluster) ID() string { return c.cfg.ID }

// Store returns the body store (for operators and tests).
func (c *Cluster) Store() *BodyStore { return c.store }

func (c *Cluster) now() time.Time { return c.cfg.Now().UTC() }

// withEpoch runs fn with the store's epoch, holding rekeyMu shared. If the
// center answers that the epoch is stale, it syncs handles and runs fn once
// more.
func (c *Cluster) withEpoch(ctx context.Context, fn func(Epoch) error) error {
	for attempt := 0; ; attempt++ {
		c.rekeyMu.RLock()
		err := fn(c.store.Epoch())
		c.rekeyMu.RUnlock()
		if !errors.Is(err, ErrStaleEpoch) || attempt == 2 {
			return err
		}
		if _, serr := c.Sync(ctx); serr != nil {
			return errors.Join(err, serr)
		}
	}
}

// Put registers a new item for user (Figs. 7, 12): it encrypts data under
// a fresh key, cuts the head out of the ciphertext, sends head, key and
// window to the center, and stores the body with the handle the center
// returns. The cluster keeps neither head nor key.
func (c *Cluster) Put(ctx context.Context, user, name string, data []byte) (ItemInfo, error) {
	if err := CheckID("user id", user); err != nil {
		return ItemInfo{}, err
	}
	if err := CheckName(name); err != nil {
		return ItemInfo{}, err
	}
	item, err := chain.NewItemID(c.cfg.Rand)
	if err != nil {
		return ItemInfo{}, err
	}
	op, err := chain.NewOpID(c.cfg.Rand)
	if err != nil {
		return ItemInfo{}, err
	}
	parts, err := SplitItem(item, data, c.cfg.Split, c.cfg.Rand)
	if err != nil {
		return ItemInfo{}, err
	}
	defer func() { clear(parts.Head); clear(parts.Key[:]) }()
	var info ItemInfo
	err = c.withEpoch(ctx, func(e Epoch) error {
		res, err := c.cfg.Center.Register(ctx, RegisterRequest{
			Op: op, Cluster: c.cfg.ID, User: user, Epoch: e, Item: item, Name: name,
			Head: Head{Head: parts.Head, Key: parts.Key, Window: parts.Window},
		})
		if err != nil {
			return err
		}
		rec := Record{
			Item: item, Owner: user, Name: name, Size: int64(len(data)), Block: res.Block,
			Created: res.Time, FileID: res.FileID, Epoch: res.Epoch, Handle: res.Handle,
		}
		if err := c.store.Put(rec, parts.Body); err != nil {
			return err
		}
		info = rec.Info(c.now())
		return nil
	})
	return info, err
}

// Get returns an item's bytes to its owner (Fig. 8): the center returns
// the head for the handle, the cluster joins it with the body and
// decrypts. Anyone but the owner gets ErrNotFound.
func (c *Cluster) Get(ctx context.Context, user string, item ItemID) ([]byte, ItemInfo, error) {
	rec, err := c.owned(ctx, user, item)
	if err != nil {
		return nil, ItemInfo{}, err
	}
	var res AcquireResult
	err = c.withEpoch(ctx, func(Epoch) error {
		r, err := c.store.Get(item)
		if err != nil {
			return err
		}
		rec = r
		res, err = c.cfg.Center.Acquire(ctx, AcquireRequest{Cluster: c.cfg.ID, User: user, Epoch: r.Epoch, Handle: r.Handle})
		return err
	})
	if err != nil {
		return nil, ItemInfo{}, err
	}
	body, err := c.store.Body(item)
	if err != nil {
		return nil, ItemInfo{}, err
	}
	plain, err := JoinItem(item, Parts{Head: res.Head.Head, Body: body, Window: res.Head.Window, Key: res.Head.Key})
	clear(res.Head.Key[:])
	if err != nil {
		return nil, ItemInfo{}, err
	}
	return plain, rec.Info(c.now()), nil
}

// owned returns item's record if user owns it and no transfer locks it.
func (c *Cluster) owned(ctx context.Context, user string, item ItemID) (Record, error) {
	rec, err := c.store.Get(item)
	if err != nil {
		return rec, err
	}
	if rec.Owner != user {
		return Record{}, fmt.Errorf("%w: item %s", ErrNotFound, item)
	}
	if rec.Lock == nil {
		return rec, nil
	}
	if rec, err = c.settle(ctx, item); err != nil {
		return rec, err
	}
	if rec.Owner != user {
		return Record{}, fmt.Errorf("%w: item %s", ErrNotFound, item)
	}
	if rec.Lock != nil {
		return rec, fmt.Errorf("%w: item %s until %s", ErrLocked, item, rec.Lock.Expires.Format(time.RFC3339))
	}
	return rec, nil
}

// List returns user's items.
func (c *Cluster) List(ctx context.Context, user string) ([]ItemInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	recs, err := c.store.List(user)
	if err != nil {
		return nil, err
	}
	out := make([]ItemInfo, len(recs))
	for i := range recs {
		out[i] = recs[i].Info(c.now())
	}
	return out, nil
}

// Sync brings the store to the center's epoch: it fetches the mapping
// from the store's epoch, re-keys and acknowledges. A new, empty store
// just adopts the center's epoch.
func (c *Cluster) Sync(ctx context.Context) (RekeyResult, error) {
	c.rekeyMu.Lock()
	defer c.rekeyMu.Unlock()
	for attempt := 0; ; attempt++ {
		res, err := c.syncOnce(ctx)
		if !errors.Is(err, ErrStaleEpoch) || attempt == 2 {
			return res, err
		}
	}
}

func (c *Cluster) syncOnce(ctx context.Context) (RekeyResult, error) {
	cur, err := c.cfg.Center.Epoch(ctx)
	if err != nil {
		return RekeyResult{}, fmt.Errorf("center epoch: %w", err)
	}
	have := c.store.Epoch()
	res := RekeyResult{From: have, To: cur, AlreadyApplied: have == cur}
	if have != cur {
		if err := c.store.adopt(cur); err == nil {
			res.AlreadyApplied = true
		} else if !errors.Is(err, ErrStaleEpoch) {
			return res, err
		} else {
			m, err := c.cfg.Center.Mapping(ctx, c.cfg.ID, have)
			if err != nil {
				return res, fmt.Errorf("handle mapping from epoch %d: %w", have, err)
			}
			if res, err = c.store.Rekey(m); err != nil {
				return res, err
			}
		}
	}
	return res, c.cfg.Center.AckEpoch(ctx, c.cfg.ID, c.store.Epoch())
}

// ApplyRotation applies a mapping the center pushed (Center.Rotate) and
// acknowledges it. A mapping that does not fit the store (it missed an
// earlier one, or the center's idea of its epoch is stale) falls back to
// Sync.
func (c *Cluster) ApplyRotation(ctx context.Context, m Mapping) (RekeyResult, error) {
	c.rekeyMu.Lock()
	res, err := c.store.Rekey(m)
	if err == nil {
		err = c.cfg.Center.AckEpoch(ctx, c.cfg.ID, c.store.Epoch())
	}
	c.rekeyMu.Unlock()
	if errors.Is(err, ErrStaleEpoch) {
		return c.Sync(ctx)
	}
	return res, err
}

func newToken(r io.Reader) (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("download token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
