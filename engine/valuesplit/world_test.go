package valuesplit_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	vs "github.com/conto-ledger/conto/engine/valuesplit"
)

// clock is a settable clock for expiry tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// mailbox is a Notifier that keeps messages.
type mailbox struct {
	mu   sync.Mutex
	msgs []mail
}

type mail struct{ To, Subject, Body string }

func (m *mailbox) Send(_ context.Context, to, subject, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, mail{to, subject, body})
	return nil
}

func (m *mailbox) to(addr string) []mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []mail
	for _, x := range m.msgs {
		if x.To == addr {
			out = append(out, x)
		}
	}
	return out
}

// world is a center, its account book and some clusters in one process.
type world struct {
	t        *testing.T
	dir      string
	key      vs.MasterKey
	clock    *clock
	book     *vs.FileBook
	center   *vs.Center
	cfg      vs.CenterConfig
	mu       sync.Mutex
	clusters map[string]*vs.Cluster
	mail     *mailbox
}

func newWorld(t *testing.T, tweak ...func(*vs.CenterConfig)) *world {
	t.Helper()
	dir := t.TempDir()
	key, err := vs.NewMasterKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	book, err := vs.OpenFileBook(filepath.Join(dir, "book.log"))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, dir: dir, key: key, clock: &clock{now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)},
		book: book, clusters: map[string]*vs.Cluster{}, mail: &mailbox{}}
	w.cfg = vs.CenterConfig{Dir: filepath.Join(dir, "center"), MasterKey: key, Book: book, Now: w.clock.Now}
	for _, f := range tweak {
		f(&w.cfg)
	}
	w.openCenter()
	t.Cleanup(func() {
		for _, c := range w.clusters {
			c.Close()
		}
		w.center.Close()
		book.Close()
	})
	return w
}

func (w *world) openCenter() {
	w.t.Helper()
	c, _, err := vs.OpenCenter(w.cfg)
	if err != nil {
		w.t.Fatalf("open center: %v", err)
	}
	w.center = c
}

// reopenCenter closes and reopens the center; clusters keep using the new
// one through the world's centerAPI indirection.
func (w *world) reopenCenter() {
	w.t.Helper()
	if err := w.center.Close(); err != nil {
		w.t.Fatal(err)
	}
	w.openCenter()
}

// api forwards to whatever center the world has now.
type api struct{ w *world }

func (a api) c() *vs.Center                               { return a.w.center }
func (a api) Epoch(ctx context.Context) (vs.Epoch, error) { return a.c().Epoch(ctx) }
func (a api) AddUser(ctx context.Context, id, e string) (vs.User, error) {
	return a.c().AddUser(ctx, id, e)
}
func (a api) Register(ctx context.Context, r vs.RegisterRequest) (vs.RegisterResult, error) {
	return a.c().Register(ctx, r)
}
func (a api) Acquire(ctx context.Context, r vs.AcquireRequest) (vs.AcquireResult, error) {
	return a.c().Acquire(ctx, r)
}
func (a api) PrepareTransfer(ctx context.Context, r vs.PrepareTransferRequest) (vs.PrepareTransferResult, error) {
	return a.c().PrepareTransfer(ctx, r)
}
func (a api) CompleteTransfer(ctx context.Context, r vs.CompleteTransferRequest) (vs.CompleteTransferResult, error) {
	return a.c().CompleteTransfer(ctx, r)
}
func (a api) CancelTransfer(ctx context.Context, cl, u string, id vs.OpID) error {
	return a.c().CancelTransfer(ctx, cl, u, id)
}
func (a api) TransferStatus(ctx context.Context, cl string, id vs.OpID) (vs.TransferStatus, error) {
	return a.c().TransferStatus(ctx, cl, id)
}
func (a api) Mapping(ctx context.Context, cl string, from vs.Epoch) (vs.Mapping, error) {
	return a.c().Mapping(ctx, cl, from)
}
func (a api) AckEpoch(ctx context.Context, cl string, e vs.Epoch) error {
	return a.c().AckEpoch(ctx, cl, e)
}

var _ vs.CenterAPI = (*vs.Center)(nil)
var _ vs.Peer = (*vs.Cluster)(nil)

// cluster registers (once) and opens cluster id with its store in dir.
func (w *world) clusterAt(id, dir string) *vs.Cluster {
	w.t.Helper()
	if _, err := w.center.Clusters().Get(id); err != nil {
		if _, err := w.center.Clusters().Add(id, "https://"+id+".example", "admin-"+id+"@example.com", w.clock.Now()); err != nil {
			w.t.Fatal(err)
		}
	}
	c, err := vs.OpenCluster(vs.ClusterConfig{
		ID: id, Dir: dir, Center: api{w}, Notifier: w.mail, Now: w.clock.Now,
		DownloadLink: func(tok string) string { return "https://" + id + ".example/dl/" + tok },
		Peers: func(other string) (vs.Peer, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			p, ok := w.clusters[other]
			if !ok {
				return nil, fmt.Errorf("no cluster %s", other)
			}
			return p, nil
		},
	})
	if err != nil {
		w.t.Fatalf("open cluster %s: %v", id, err)
	}
	return c
}

func (w *world) cluster(id string) *vs.Cluster {
	w.t.Helper()
	c := w.clusterAt(id, filepath.Join(w.dir, "cluster-"+id))
	w.mu.Lock()
	w.clusters[id] = c
	w.mu.Unlock()
	return c
}

func (w *world) user(id string) {
	w.t.Helper()
	if _, err := w.center.AddUser(context.Background(), id, id+"@example.com"); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) put(c *vs.Cluster, user, name string, data []byte) vs.ItemInfo {
	w.t.Helper()
	info, err := c.Put(context.Background(), user, name, data)
	if err != nil {
		w.t.Fatalf("put %s for %s: %v", name, user, err)
	}
	return info
}

func (w *world) get(c *vs.Cluster, user string, id vs.ItemID) []byte {
	w.t.Helper()
	b, _, err := c.Get(context.Background(), user, id)
	if err != nil {
		w.t.Fatalf("get %s for %s at %s: %v", id, user, c.ID(), err)
	}
	return b
}
