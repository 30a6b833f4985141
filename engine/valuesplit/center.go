package valuesplit

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conto-ledger/conto/engine/valuesplit/chain"
)

// Files and directories inside a center's data directory.
const (
	ChainDir     = "chain"        // the block chain (package chain)
	UsersFile    = "users.log"    // user registry journal
	ClustersFile = "clusters.log" // cluster registry journal
)

// CenterConfig configures a center server.
type CenterConfig struct {
	// Dir is the data directory (created if missing).
	Dir string
	// MasterKey is the center's secret (required; see MasterKey).
	MasterKey MasterKey
	// Book is the independent account book (required).
	Book AccountBook
	// Grace lets handles of the previous epoch resolve for this long after
	// a rotation, for clusters that have not re-keyed yet (default 0: a
	// rotation retires old handles at once).
	Grace time.Duration
	// TransferTTL is the default lifetime of a pending transfer (default
	// DefaultTransferTTL, at most MaxTransferTTL).
	TransferTTL time.Duration
	// MaxKeptEpochs bounds how many epochs behind an enabled cluster may
	// fall before Rotate refuses (default 30).
	MaxKeptEpochs int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Rand is the randomness source (default crypto/rand).
	Rand io.Reader
}

func (cfg *CenterConfig) fill() error {
	if cfg.Dir == "" {
		return fmt.Errorf("%w: center needs a data directory", ErrInvalid)
	}
	if cfg.MasterKey == (MasterKey{}) {
		return fmt.Errorf("%w: center master key is all zero", ErrInvalid)
	}
	if cfg.Book == nil {
		return fmt.Errorf("%w: center needs an account book", ErrInvalid)
	}
	if cfg.Grace < 0 || cfg.Grace > 7*24*time.Hour {
		return fmt.Errorf("%w: grace %v outside 0..168h", ErrInvalid, cfg.Grace)
	}
	if cfg.TransferTTL == 0 {
		cfg.TransferTTL = DefaultTransferTTL
	}
	if cfg.TransferTTL < 0 || cfg.TransferTTL > MaxTransferTTL {
		return fmt.Errorf("%w: transfer TTL %v outside 0..%v", ErrInvalid, cfg.TransferTTL, MaxTransferTTL)
	}
	if cfg.MaxKeptEpochs == 0 {
		cfg.MaxKeptEpochs = 30
	}
	if cfg.MaxKeptEpochs < 2 || cfg.MaxKeptEpochs > 10_000 {
		return fmt.Errorf("%w: max kept epochs %d outside 2..10000", ErrInvalid, cfg.MaxKeptEpochs)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	return nil
}

// CenterRecovery reports what OpenCenter repaired after a crash.
type CenterRecovery struct {
	Chain chain.Recovery
	// TornBytes is what the registry and transfer journals dropped.
	TornBytes int64
}

// Center is the center server's core (claims 1, 23): the block chain of
// item heads, the user and cluster registries, the handle epochs, pending
// transfers, and the monitor's freeze and the repair bot's repair. It is
// safe for concurrent use: reads (Acquire, Lookup, Resolve) run in
// parallel; writes are serialised.
type Center struct {
	cfg      CenterConfig
	hashKey  [32]byte // block hash key, derived from the master key
	mu       sync.RWMutex
	closed   bool
	chain    *chain.Chain
	seal     cipher.AEAD
	users    *UserRegistry
	clusters *ClusterRegistry
	ep       *epochs
	xfers    *transfers
	// affected holds the items the account book places in frozen blocks:
	// a tampered block's own content cannot say which item it held, and
	// that item must not be served from an older block meanwhile.
	affected    map[ItemID]struct{}
	affectedErr error // the book could not be read: treat every item as affected
	// bookEnd is one past the highest block index the account book
	// records (read at open, then kept up by every record): a chain that
	// ends before it lost blocks from its end, which its own hashes cannot
	// show. Atomic: the chain's Record hook runs under c.mu.
	bookEnd atomic.Uint64
}

// OpenCenter opens (or creates) a center.
func OpenCenter(cfg CenterConfig) (*Center, CenterRecovery, error) {
	var rec CenterRecovery
	if err := cfg.fill(); err != nil {
		return nil, rec, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, rec, fmt.Errorf("create center directory: %w", err)
	}
	c := &Center{cfg: cfg, affected: map[ItemID]struct{}{}}
	var closers []func() error
	fail := func(err error) (*Center, CenterRecovery, error) {
		for _, f := range closers {
			f()
		}
		return nil, rec, err
	}
	if err := c.openKeys(); err != nil {
		return fail(err)
	}
	ch, crec, err := chain.Open(filepath.Join(cfg.Dir, ChainDir), c.chainOptions())
	rec.Chain = crec
	if err != nil {
		return fail(fmt.Errorf("open block chain: %w", err))
	}
	c.chain = ch
	closers = append(closers, ch.Close)
	users, st, err := openUsers(filepath.Join(cfg.Dir, UsersFile))
	if err != nil {
		return fail(err)
	}
	c.users, rec.TornBytes = users, st.TornBytes
	closers = append(closers, users.r.close)
	clusters, st, err := openClusters(filepath.Join(cfg.Dir, ClustersFile))
	if err != nil {
		return fail(err)
	}
	c.clusters, rec.TornBytes = clusters, rec.TornBytes+st.TornBytes
	closers = append(closers, clusters.r.close)
	xf, st, err := openTransfers(cfg.Dir, c.now())
	if err != nil {
		return fail(err)
	}
	c.xfers, rec.TornBytes = xf, rec.TornBytes+st.TornBytes
	closers = append(closers, xf.j.Close)
	if len(ch.Frozen()) > 0 {
		c.refreshAffected(context.Background())
	}
	if err := c.readBookEnd(context.Background()); err != nil {
		return fail(err)
	}
	return c, rec, nil
}

// readBookEnd finds one past the highest block index the book records.
func (c *Center) readBookEnd(ctx context.Context) error {
	var end uint64
	err := c.cfg.Book.Entries(ctx, func(e BookEntry) error {
		end = max(end, e.Index+1)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the account book: %w", err)
	}
	c.bookEnd.Store(end)
	return nil
}

// truncation reports blocks the account book records beyond the chain's
// end: blocks cut from the end of the chain file.
func (c *Center) truncation() *chain.Problem {
	n, end := c.chain.Len(), c.bookEnd.Load()
	if end <= n {
		return nil
	}
	return &chain.Problem{Index: n, Frozen: true, // nothing left to freeze: repair rebuilds them
		Reason: fmt.Sprintf("blocks %d..%d are in the account book but missing from the chain: its end was cut off", n, end-1)}
}

// openKeys derives the sealing keys and loads the epoch state.
func (c *Center) openKeys() error {
	pk, err := c.cfg.MasterKey.derive(labelPayload)
	if err != nil {
		return err
	}
	if c.seal, err = gcm(pk[:]); err != nil {
		return err
	}
	ek, err := c.cfg.MasterKey.derive(labelEpochs)
	if err != nil {
		return err
	}
	eaead, err := gcm(ek[:])
	if err != nil {
		return err
	}
	if c.hashKey, err = c.cfg.MasterKey.derive(labelChain); err != nil {
		return err
	}
	c.ep, err = openEpochs(c.cfg.Dir, eaead, c.cfg.Rand, c.now())
	return err
}

func (c *Center) chainOptions() chain.Options {
	return chain.Options{
		HashKey: c.hashKey,
		Now:     c.now,
		Rand:    c.cfg.Rand,
		Record: func(ctx context.Context, b chain.Block) error {
			if err := c.cfg.Book.Record(ctx, EntryFromBlock(b)); err != nil {
				return err
			}
			for end := c.bookEnd.Load(); b.Index+1 > end && !c.bookEnd.CompareAndSwap(end, b.Index+1); end = c.bookEnd.Load() {
			}
			return nil
		},
	}
}

func (c *Center) now() time.Time { return c.cfg.Now().UTC() }

// Close closes the center's files. The account book is the caller's.
func (c *Center) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return errors.Join(c.chain.Close(), c.users.r.close(), c.clusters.r.close(), c.xfers.j.Close())
}

func (c *Center) open() error {
	if c.closed {
		return ErrClosed
	}
	return nil
}

// Users returns the user registry.
func (c *Center) Users() *UserRegistry { return c.users }

// Clusters returns the cluster registry.
func (c *Center) Clusters() *ClusterRegistry { return c.clusters }

// Chain returns the block chain, for read-only use (listing, Scan).
// Append, Freeze and Repair must go through the Center.
func (c *Center) Chain() *chain.Chain { return c.chain }

// Epoch returns the current handle epoch.
func (c *Center) Epoch(ctx context.Context) (Epoch, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := c.open(); err != nil {
		return 0, err
	}
	return c.ep.state.Current, ctx.Err()
}

// AddUser registers a user with the center (users are global: any cluster
// may serve them).
func (c *Center) AddUser(ctx context.Context, id, email string) (User, error) {
	if err := ctx.Err(); err != nil {
		return User{}, err
	}
	return c.users.Add(id, email, c.now())
}

// keyFor returns the handle key for a request's epoch: the current one,
// or the previous one within the grace window when grace is allowed.
func (c *Center) keyFor(e Epoch, grace bool) (*epochKey, error) {
	st := &c.ep.state
	if e == st.Current {
		return c.ep.keys[e], nil
	}
	if grace && c.cfg.Grace > 0 && e+1 == st.Current && c.now().Sub(st.RotatedAt) <= c.cfg.Grace {
		if k := c.ep.keys[e]; k != nil {
			return k, nil
		}
	}
	return nil, &StaleEpochError{Got: e, Current: st.Current}
}

// parties checks that a cluster and a user exist and are enabled.
func (c *Center) parties(cluster, user string) error {
	if err := c.clusters.Check(cluster); err != nil {
		return err
	}
	return c.users.Check(user)
}

// resolve maps a handle presented by cluster to its item.
func (c *Center) resolve(cluster string, e Epoch, h Handle, grace bool) (ItemID, error) {
	k, err := c.keyFor(e, grace)
	if err != nil {
		return ItemID{}, err
	}
	item, ok := k.resolve(cluster, h)
	if !ok {
		return ItemID{}, fmt.Errorf("%w: cluster %s, epoch %d", ErrUnknownHandle, cluster, e)
	}
	return item, nil
}

// Resolve returns the item a handle names for cluster in epoch e (only the
// current epoch, or the previous one within the grace window).
func (c *Center) Resolve(cluster string, e Epoch, h Handle) (ItemID, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := c.open(); err != nil {
		return ItemID{}, err
	}
	return c.resolve(cluster, e, h, true)
}

// live returns an item's latest block if it may be served: not frozen, not
// named by a frozen block in the account book. Frozenness is decided
// before the block is read, so a tampered frozen block reports ErrFrozen.
func (c *Center) live(item ItemID) (chain.Block, error) {
	if c.isAffected(item) {
		return chain.Block{}, fmt.Errorf("%w: item %s", ErrFrozen, item)
	}
	i, ok := c.chain.LatestIndex(item)
	if !ok {
		return chain.Block{}, fmt.Errorf("%w: item %s", ErrNotFound, item)
	}
	if c.chain.IsFrozen(i) {
		return chain.Block{}, fmt.Errorf("%w: item %s (block %d)", ErrFrozen, item, i)
	}
	return c.chain.Block(i)
}

func (c *Center) isAffected(item ItemID) bool {
	if len(c.affected) == 0 && c.affectedErr == nil {
		return false
	}
	if c.affectedErr != nil {
		return true
	}
	_, ok := c.affected[item]
	return ok
}

// locked returns the transfer holding item, if any.
func (c *Center) locked(item ItemID) *pendingTransfer {
	return c.xfers.lockOn(item, c.now(), c.chain.HasOp)
}

// Register stores an item's head in a new block (claims 1–3, Figs. 7, 15):
// it seals the head, data key and window under the master key with the
// item id, name and transaction time as associated data, appends the
// block (the account book first) and returns the block and the handle.
// A retry with the same Op returns the first answer.
func (c *Center) Register(ctx context.Context, req RegisterRequest) (RegisterResult, error) {
	if err := checkRegister(&req); err != nil {
		return RegisterResult{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.open(); err != nil {
		return RegisterResult{}, err
	}
	if err := c.parties(req.Cluster, req.User); err != nil {
		return RegisterResult{}, err
	}
	k, err := c.keyFor(req.Epoch, false)
	if err != nil {
		return RegisterResult{}, err
	}
	if b, err := c.chain.ByOp(req.Op); err == nil {
		if b.Kind != chain.KindRegister || b.Item != req.Item || b.Cluster != req.Cluster {
			return RegisterResult{}, fmt.Errorf("%w: operation %s already wrote block %d for another request", ErrConflict, req.Op, b.Index)
		}
		return registerResult(b, c.ep.state.Current, k), nil
	}
	if _, err := c.chain.Latest(req.Item); err == nil || !errors.Is(err, ErrNotFound) || c.isAffected(req.Item) {
		// A frozen block may hold the item without saying so: the book
		// named it (isAffected), so the id stays taken.
		return RegisterResult{}, fmt.Errorf("%w: item %s", ErrExists, req.Item)
	}
	b, err := c.appendItem(ctx, chain.KindRegister, &req, k)
	if err != nil {
		return RegisterResult{}, err
	}
	return registerResult(b, c.ep.state.Current, k), nil
}

func checkRegister(req *RegisterRequest) error {
	if req.Op.IsZero() || req.Item.IsZero() {
		return fmt.Errorf("%w: registration needs an operation id and an item id", ErrInvalid)
	}
	if err := CheckID("cluster id", req.Cluster); err != nil {
		return err
	}
	if err := CheckID("user id", req.User); err != nil {
		return err
	}
	if err := CheckName(req.Name); err != nil {
		return err
	}
	h := &req.Head
	if len(h.Head) < 1 || len(h.Head) > MaxHeadSize || len(h.Head) != int(h.Window.Len) {
		return fmt.Errorf("%w: head is %d bytes, window says %d (1..%d)", ErrInvalid, len(h.Head), h.Window.Len, MaxHeadSize)
	}
	return nil
}

// appendItem seals a registration's head and appends its block.
func (c *Center) appendItem(ctx context.Context, kind chain.Kind, req *RegisterRequest, k *epochKey) (chain.Block, error) {
	d := chain.Draft{Kind: kind, Item: req.Item, Op: req.Op, Time: c.now(), Cluster: req.Cluster, User: req.User, Name: req.Name}
	if _, err := io.ReadFull(c.cfg.Rand, d.FileID[:]); err != nil {
		return chain.Block{}, fmt.Errorf("file id: %w", err)
	}
	var err error
	if d.Payload, err = sealHead(c.seal, c.cfg.Rand, req.Item, req.Name, d.Time, req.Head); err != nil {
		return chain.Block{}, err
	}
	b, err := c.chain.Append(ctx, d)
	if err != nil {
		return b, fmt.Errorf("register item %s: %w", req.Item, err)
	}
	return b, nil
}

func registerResult(b chain.Block, e Epoch, k *epochKey) RegisterResult {
	return RegisterResult{
		Item: b.Item, Block: b.Index, BlockHash: b.Hash, FileID: b.FileID, Time: b.Time,
		Epoch: e, Handle: k.handle(b.Cluster, b.Item),
	}
}

// Acquire returns an item's head to its owner (Fig. 8, steps S208–S210):
// it resolves the handle, checks the cluster, user and item, re-reads and
// re-verifies the item's block from disk and unseals its payload.
func (c *Center) Acquire(ctx context.Context, req AcquireRequest) (AcquireResult, error) {
	if err := ctx.Err(); err != nil {
		return AcquireResult{}, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := c.open(); err != nil {
		return AcquireResult{}, err
	}
	b, err := c.owned(req.Cluster, req.User, req.Epoch, req.Handle, true)
	if err != nil {
		return AcquireResult{}, err
	}
	if p := c.locked(b.Item); p != nil {
		return AcquireResult{}, fmt.Errorf("%w: item %s, transfer %s until %s", ErrLocked, b.Item, p.ID, p.Expires.Format(time.RFC3339))
	}
	h, err := openHead(c.seal, b.Item, b.Name, b.Time, b.Payload)
	if err != nil {
		return AcquireResult{}, fmt.Errorf("block %d: %w", b.Index, err)
	}
	return AcquireResult{Item: b.Item, Block: b.Index, Name: b.Name, FileID: b.FileID, Time: b.Time, Head: h}, nil
}

// owned resolves a handle and returns the item's block if user at cluster
// owns it. Someone else's item is reported as not found.
func (c *Center) owned(cluster, user string, e Epoch, h Handle, grace bool) (chain.Block, error) {
	if err := c.parties(cluster, user); err != nil {
		return chain.Block{}, err
	}
	item, err := c.resolve(cluster, e, h, grace)
	if err != nil {
		return chain.Block{}, err
	}
	b, err := c.live(item)
	if err != nil {
		return b, err
	}
	if b.Cluster != cluster || b.User != user {
		return chain.Block{}, fmt.Errorf("%w: item %s for user %s at cluster %s", ErrNotFound, item, user, cluster)
	}
	return b, nil
}

// ItemStatus is an item's current state at the center.
type ItemStatus struct {
	Item    ItemID    `json:"item"`
	Block   uint64    `json:"block"`
	Cluster string    `json:"cluster"`
	User    string    `json:"user"`
	Name    string    `json:"name"`
	FileID  FileID    `json:"file_id"`
	Time    time.Time `json:"time"`
	Frozen  bool      `json:"frozen"`
	Locked  bool      `json:"locked"`
}

// Lookup returns an item's latest owner (an operator view: no handle).
func (c *Center) Lookup(item ItemID) (ItemStatus, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := c.open(); err != nil {
		return ItemStatus{}, err
	}
	b, err := c.chain.Latest(item)
	if err != nil {
		return ItemStatus{}, err
	}
	return ItemStatus{
		Item: item, Block: b.Index, Cluster: b.Cluster, User: b.User, Name: b.Name, FileID: b.FileID,
		Time: b.Time, Frozen: b.Frozen || c.isAffected(item), Locked: c.locked(item) != nil,
	}, nil
}
