package valuesplit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vs "github.com/conto-ledger/conto/engine/valuesplit"
	"github.com/conto-ledger/conto/engine/valuesplit/chain"
	"github.com/conto-ledger/conto/engine/valuesplit/notify"
	"github.com/conto-ledger/conto/engine/valuesplit/smtptest"
)

func startSink(t *testing.T) *smtptest.Sink {
	t.Helper()
	s, err := smtptest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newMonitor(t *testing.T, w *world, sink *smtptest.Sink) *vs.Monitor {
	t.Helper()
	m, err := vs.NewMonitor(vs.MonitorConfig{
		Center:   w.center,
		Notifier: &notify.SMTP{Addr: sink.Addr(), From: "vault@example.com", Timeout: 5 * time.Second},
		Retry:    notify.RetryPolicy{Attempts: 3, Backoff: time.Millisecond, MaxBackoff: time.Millisecond},
		Admins:   []string{"ops@example.com"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// tamper flips one byte of block i in the center's chain file.
func tamper(t *testing.T, w *world, i uint64, off int64) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(w.center.Chain().Dir(), chain.BlocksFile), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	pos := int64(i)*chain.RecordSize + off
	f.ReadAt(b, pos)
	if _, err := f.WriteAt([]byte{b[0] ^ 0x20}, pos); err != nil {
		t.Fatal(err)
	}
}

type stored struct {
	c    *vs.Cluster
	user string
	info vs.ItemInfo
	data []byte
}

func checkAll(t *testing.T, w *world, items []stored) {
	t.Helper()
	for _, s := range items {
		got, _, err := s.c.Get(bg, s.user, s.info.ID)
		if err != nil || !bytes.Equal(got, s.data) {
			t.Fatalf("item %s of %s at %s: %v", s.info.Name, s.user, s.c.ID(), err)
		}
	}
}

// TestMonitorFreezeAlertRepair: a byte changed on disk is found, the block
// and every later one are frozen, alerts reach the SMTP sink, items in the
// frozen blocks are held, registrations and transfers branch meanwhile,
// and Repair rebuilds everything from the account book with no item lost.
func TestMonitorFreezeAlertRepair(t *testing.T) {
	w := newWorld(t)
	a, b := w.cluster("a"), w.cluster("b")
	for _, u := range []string{"alice", "bob", "carol"} {
		w.user(u)
	}
	var items []stored
	add := func(c *vs.Cluster, user, name string) stored {
		d := randomBytes(t, 300+len(items))
		s := stored{c, user, w.put(c, user, name, d), d}
		items = append(items, s)
		return s
	}
	early := add(a, "alice", "early")   // block 1
	add(a, "bob", "two")                // block 2
	victim := add(b, "carol", "victim") // block 3: tampered
	later := add(a, "alice", "later")   // block 4
	tk, err := a.Transfer(bg, vs.TransferStart{Item: later.info.ID, From: "alice", To: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Download(bg, "bob", tk.Token); err != nil { // block 5: transfer
		t.Fatal(err)
	}
	items[len(items)-1].user = "bob"
	n := w.center.Chain().Len()

	sink := startSink(t)
	m := newMonitor(t, w, sink)
	if rep, err := m.Check(bg); err != nil || rep.Tampered() || rep.Froze != nil {
		t.Fatalf("clean chain: %+v %v", rep, err)
	}

	tamper(t, w, victim.info.Block, 300) // inside the block's name/payload area
	rep, err := m.Check(bg)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Tampered() || rep.FirstBad.Index != victim.info.Block || rep.Froze == nil {
		t.Fatalf("report: %+v", rep)
	}
	if rep.Froze.Range != (chain.Range{From: victim.info.Block, To: n}) {
		t.Fatalf("frozen %v, want %d..%d", rep.Froze.Range, victim.info.Block, n)
	}
	if strings.Join(rep.Froze.Clusters, ",") != "a,b" {
		t.Fatalf("affected clusters %v", rep.Froze.Clusters)
	}
	// Alerts: the administrator, then both clusters' administrators.
	for _, to := range []string{"ops@example.com", "admin-a@example.com", "admin-b@example.com"} {
		msgs := sink.To(to)
		if len(msgs) != 1 || !strings.Contains(msgs[0].Data, "tampering found in block 3") {
			t.Fatalf("alert to %s: %+v", to, msgs)
		}
	}
	for _, a := range rep.Alerts {
		if a.Error != "" {
			t.Fatalf("alert %+v", a)
		}
	}
	// A second check reports but does not alert again.
	if rep2, err := m.Check(bg); err != nil || !rep2.Tampered() || rep2.Froze != nil || len(sink.Messages()) != 3 {
		t.Fatalf("second check: %+v %v, %d mails", rep2, err, len(sink.Messages()))
	}

	// Frozen items are held; items before the tampered block are served.
	for _, s := range items[2:] {
		if _, _, err := s.c.Get(bg, s.user, s.info.ID); !errors.Is(err, vs.ErrFrozen) {
			t.Fatalf("frozen item %s: %v", s.info.Name, err)
		}
	}
	w.get(a, "alice", early.info.ID)
	if _, err := w.center.Rotate(bg); !errors.Is(err, vs.ErrFrozen) {
		t.Fatalf("rotation while frozen: %v", err)
	}

	// Registrations branch from the last unfrozen block...
	fresh := add(b, "carol", "during freeze")
	blk, _ := w.center.Chain().Block(fresh.info.Block)
	if blk.Parent != victim.info.Block-1 || !blk.Valid {
		t.Fatalf("branch block: parent %d valid %v", blk.Parent, blk.Valid)
	}
	// ...and so does a transfer of an unaffected item.
	tk2, err := a.Transfer(bg, vs.TransferStart{Item: early.info.ID, From: "alice", To: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Download(bg, "carol", tk2.Token); err != nil {
		t.Fatal(err)
	}
	items[0].user = "carol"

	// The repair bot rebuilds from the account book; nothing is lost.
	res, err := w.center.Repair(bg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Lost) != 0 || res.FromBook != int(n-victim.info.Block) || len(res.Relinked) != 2 {
		t.Fatalf("repair: %+v", res)
	}
	if r, _ := w.center.Verify(bg); !r.OK() || r.Frozen != 0 {
		t.Fatalf("verify after repair: %+v", r)
	}
	checkAll(t, w, items)
	// Block numbers handed out stay true, and the chain is one line again.
	for _, s := range items {
		st, _ := w.center.Lookup(s.info.ID)
		if st.Frozen || st.User != s.user {
			t.Fatalf("item %s: %+v", s.info.Name, st)
		}
	}
	blk, _ = w.center.Chain().Block(fresh.info.Block)
	if blk.Parent != fresh.info.Block-1 {
		t.Fatalf("branch not merged: parent %d", blk.Parent)
	}
	if rep, err := m.Check(bg); err != nil || rep.Tampered() {
		t.Fatalf("check after repair: %+v %v", rep, err)
	}
	// All of it survives a restart, and rotation works again.
	w.reopenCenter()
	if r, _ := w.center.Verify(bg); !r.OK() {
		t.Fatalf("verify after restart: %v", r.FirstBad)
	}
	if _, err := w.center.Rotate(bg); err != nil {
		t.Fatal(err)
	}
	checkAll(t, w, items)
}

// TestFreezeSurvivesRestart: a frozen chain reopens frozen, with the
// affected items still held (their owners come from the account book).
func TestFreezeSurvivesRestart(t *testing.T) {
	w := newWorld(t)
	a := w.cluster("a")
	w.user("alice")
	one := w.put(a, "alice", "one", []byte("1"))
	two := w.put(a, "alice", "two", []byte("2"))
	tamper(t, w, two.Block, 120) // the item id: the block no longer says which item it held
	m := newMonitor(t, w, startSink(t))
	if rep, err := m.Check(bg); err != nil || rep.Froze == nil {
		t.Fatalf("check: %+v %v", rep, err)
	}
	w.reopenCenter()
	if _, _, err := a.Get(bg, "alice", two.ID); !errors.Is(err, vs.ErrFrozen) {
		t.Fatalf("tampered item after restart: %v", err)
	}
	w.get(a, "alice", one.ID)
	if _, err := w.center.Repair(bg); err != nil {
		t.Fatal(err)
	}
	w.get(a, "alice", two.ID)
}

// TestGenesisTamperRepair: with genesis tampered everything freezes; the
// next registration starts a branch linked to nothing; repair rebuilds.
func TestGenesisTamperRepair(t *testing.T) {
	w := newWorld(t)
	a := w.cluster("a")
	w.user("alice")
	d1 := []byte("first")
	i1 := w.put(a, "alice", "first", d1)
	tamper(t, w, 0, 30)
	sink := startSink(t)
	rep, err := newMonitor(t, w, sink).Check(bg)
	if err != nil || rep.FirstBad == nil || rep.FirstBad.Index != 0 {
		t.Fatalf("check: %+v %v", rep, err)
	}
	d2 := []byte("during")
	i2 := w.put(a, "alice", "during", d2)
	if b, _ := w.center.Chain().Block(i2.Block); b.Parent != chain.NoBlock {
		t.Fatalf("branch root parent %d", b.Parent)
	}
	res, err := w.center.Repair(bg)
	if err != nil || len(res.Lost) != 0 {
		t.Fatalf("repair: %+v %v", res, err)
	}
	if r, _ := w.center.Verify(bg); !r.OK() {
		t.Fatalf("verify: %v", r.FirstBad)
	}
	if !bytes.Equal(w.get(a, "alice", i1.ID), d1) || !bytes.Equal(w.get(a, "alice", i2.ID), d2) {
		t.Fatal("bytes differ")
	}
}

// hidingBook drops some entries from what it reports, as a damaged book.
type hidingBook struct {
	vs.AccountBook
	hide func(vs.BookEntry) bool
}

func (h hidingBook) Entries(ctx context.Context, fn func(vs.BookEntry) error) error {
	return h.AccountBook.Entries(ctx, func(e vs.BookEntry) error {
		if h.hide(e) {
			return nil
		}
		return fn(e)
	})
}

func TestRepairWithoutBookEntry(t *testing.T) {
	var hide vs.ItemID
	w := newWorld(t, func(c *vs.CenterConfig) {
		c.Book = hidingBook{c.Book, func(e vs.BookEntry) bool { return e.Item == hide }}
	})
	a := w.cluster("a")
	w.user("alice")
	lost := w.put(a, "alice", "lost", []byte("gone"))
	kept := w.put(a, "alice", "kept", []byte("fine"))
	hide = lost.ID
	tamper(t, w, lost.Block, 200)
	if _, err := w.center.Freeze(bg, lost.Block); err != nil {
		t.Fatal(err)
	}
	res, err := w.center.Repair(bg)
	if err != nil || len(res.Lost) != 1 || res.Lost[0].Index != lost.Block {
		t.Fatalf("repair: %+v %v", res, err)
	}
	if b, _ := w.center.Chain().Block(lost.Block); b.Kind != chain.KindVoid {
		t.Fatalf("lost block is %s", b.Kind)
	}
	w.get(a, "alice", kept.ID)
	if _, _, err := a.Get(bg, "alice", lost.ID); err == nil {
		t.Fatal("an item nothing could rebuild was served")
	}
}

// TestAlertRetriesAndReportsFailures: a transient SMTP failure is retried;
// a cluster that cannot be alerted is reported to the administrators.
func TestAlertRetriesAndReportsFailures(t *testing.T) {
	w := newWorld(t)
	a := w.cluster("a")
	w.user("alice")
	info := w.put(a, "alice", "x", []byte("v"))
	sink := startSink(t)
	m := newMonitor(t, w, sink)
	sink.FailNext(2, "451 try again later") // the admin's first two attempts
	tamper(t, w, info.Block, 400)
	rep, err := m.Check(bg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Alerts) != 2 || rep.Alerts[0].Attempts != 3 || rep.Alerts[0].Error != "" {
		t.Fatalf("alerts: %+v", rep.Alerts)
	}

	// Now a cluster whose mail is refused permanently.
	w2 := newWorld(t)
	a2 := w2.cluster("a")
	w2.user("alice")
	info2 := w2.put(a2, "alice", "x", []byte("v"))
	sink2 := startSink(t)
	m2 := newMonitor(t, w2, sink2)
	tamper(t, w2, info2.Block, 400)
	sink2.FailNext(0, "")
	refusing := notify.Func(func(ctx context.Context, to, s, b string) error {
		if strings.HasPrefix(to, "admin-") {
			return notify.Permanent(errors.New("550 mailbox unavailable"))
		}
		return (&notify.SMTP{Addr: sink2.Addr(), From: "vault@example.com"}).Send(ctx, to, s, b)
	})
	m2, err = vs.NewMonitor(vs.MonitorConfig{Center: w2.center, Notifier: refusing, Admins: []string{"ops@example.com"},
		Retry: notify.RetryPolicy{Attempts: 3, Backoff: time.Millisecond, MaxBackoff: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	rep2, err := m2.Check(bg)
	if err != nil {
		t.Fatal(err)
	}
	var failed int
	for _, al := range rep2.Alerts {
		if al.Error != "" {
			failed++
			if al.Attempts != 1 {
				t.Fatalf("permanent failure retried: %+v", al)
			}
		}
	}
	msgs := sink2.To("ops@example.com")
	if failed != 1 || len(msgs) != 2 || !strings.Contains(msgs[1].Data, "could not be alerted") {
		t.Fatalf("failure report: %d failed, %d mails to ops", failed, len(msgs))
	}
}

// Blocks cut from the end of the chain file leave no bad hash behind; the
// account book still records them. Verify names the cut, the monitor's
// check reports tampering, and rotation is refused, since it would tell the
// clusters to drop the bodies of the lost blocks' items.
func TestTruncatedChainIsDetected(t *testing.T) {
	w := newWorld(t)
	a := w.cluster("a")
	w.user("alice")
	for i := 0; i < 4; i++ {
		w.put(a, "alice", fmt.Sprint("item", i), randomBytes(t, 100+i))
	}
	n := w.center.Chain().Len()
	if err := w.center.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(w.dir, "center", vs.ChainDir, chain.BlocksFile)
	if err := os.Truncate(path, int64(n-2)*chain.RecordSize); err != nil {
		t.Fatal(err)
	}
	w.openCenter()
	rep, err := w.center.Verify(bg)
	if err != nil || rep.FirstBad == nil || rep.FirstBad.Index != n-2 || !strings.Contains(rep.FirstBad.Reason, "cut off") {
		t.Fatalf("verify after cutting 2 blocks: %+v, %v", rep.FirstBad, err)
	}
	sink := startSink(t)
	if mr, err := newMonitor(t, w, sink).Check(bg); err != nil || !mr.Tampered() {
		t.Fatalf("monitor after the cut: %+v, %v", mr, err)
	}
	if _, err := w.center.Rotate(bg); !errors.Is(err, vs.ErrTampered) {
		t.Fatalf("rotation after the cut: %v, want ErrTampered", err)
	}
}

// An alert whose retries all fail is sent again at every later check until
// it is delivered (Fig. 20: retried until delivered).
func TestUndeliveredAlertIsSentAgainLater(t *testing.T) {
	w := newWorld(t)
	a := w.cluster("a")
	w.user("alice")
	info := w.put(a, "alice", "x", []byte("v"))
	sink := startSink(t)
	m := newMonitor(t, w, sink)
	sink.FailNext(3, "451 try again later") // every attempt of the first check's first alert
	tamper(t, w, info.Block, 400)
	rep, err := m.Check(bg)
	if err != nil || len(rep.Alerts) == 0 || rep.Alerts[0].Error == "" {
		t.Fatalf("first check: %+v, %v; want the admin's alert undelivered", rep.Alerts, err)
	}
	if n := len(sink.To("ops@example.com")); n != 0 {
		t.Fatalf("%d alerts reached the admin during the outage", n)
	}
	rep, err = m.Check(bg)
	if err != nil || len(rep.Alerts) != 1 || rep.Alerts[0].Error != "" || rep.Alerts[0].To != "ops@example.com" {
		t.Fatalf("second check: %+v, %v; want the admin's alert sent again and delivered", rep.Alerts, err)
	}
	if msgs := sink.To("ops@example.com"); len(msgs) != 1 || !strings.Contains(msgs[0].Data, "tampering found") {
		t.Fatalf("the admin's mail after the retry: %d", len(msgs))
	}
	if rep, _ := m.Check(bg); len(rep.Alerts) != 0 {
		t.Fatalf("a delivered alert was sent again: %+v", rep.Alerts)
	}
}
