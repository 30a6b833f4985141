package valuesplit_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/conto-ledger/conto/engine"
	vs "github.com/conto-ledger/conto/engine/valuesplit"
	"github.com/conto-ledger/conto/transactor/transactortest"
)

// The ledger book appends in dense slots through real optimistic
// transactions (a real node with two partitions), a second instance (a
// restarted center) continues after the last slot instead of overwriting,
// and Entries gives everything back in order.
func TestLedgerBookAppendsAndReads(t *testing.T) {
	eng := engine.New(transactortest.StartNode(t, 2))
	ctx := context.Background()
	mk, _ := vs.NewMasterKey(nil)
	newBook := func(prefix string, k vs.MasterKey) *vs.LedgerBook {
		b, err := vs.NewLedgerBook(vs.EngineKV{Engine: eng}, prefix, k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := newBook("vault/book", mk)
	for i := 0; i < 37; i++ {
		if err := first.Record(ctx, vs.BookEntry{Index: uint64(i), Name: fmt.Sprint("a", i), Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	second := newBook("vault/book", mk)
	for i := 37; i < 40; i++ {
		if err := second.Record(ctx, vs.BookEntry{Index: uint64(i), Name: fmt.Sprint("b", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var got []vs.BookEntry
	if err := first.Entries(ctx, func(e vs.BookEntry) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 40 {
		t.Fatalf("%d entries, want 40", len(got))
	}
	for i, e := range got {
		want := fmt.Sprint("a", i)
		if i >= 37 {
			want = fmt.Sprint("b", i)
		}
		if e.Index != uint64(i) || e.Name != want {
			t.Fatalf("entry %d: %+v, want index %d name %s", i, e, i, want)
		}
	}
	// Another book under another prefix is empty.
	n := 0
	newBook("vault/other", mk).Entries(ctx, func(vs.BookEntry) error { n++; return nil })
	if n != 0 {
		t.Fatalf("another prefix holds %d entries", n)
	}
	// Entries are sealed: the key-value space shows no name, and a client
	// without the master key can neither forge an entry nor stop the book.
	raw, _, ok, err := eng.Get("vault/book/0000000000000000", ^uint64(0))
	if err != nil || !ok || bytes.Contains(raw, []byte("a0")) {
		t.Fatalf("slot 0 as the ledger holds it: %q, %v, %v", raw, ok, err)
	}
	other, _ := vs.NewMasterKey(nil)
	forger := newBook("vault/book", other)
	if err := forger.Record(ctx, vs.BookEntry{Index: 2, Name: "forged", User: "mallory"}); err != nil {
		t.Fatal(err)
	}
	if _, err := (vs.EngineKV{Engine: eng}).PutNew(ctx, "vault/book/0000000000000029", []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	reader := newBook("vault/book", mk)
	n = 0
	if err := reader.Entries(ctx, func(e vs.BookEntry) error {
		if e.User == "mallory" {
			return fmt.Errorf("the forged entry was read as genuine")
		}
		n++
		return nil
	}); err != nil || n != 40 || reader.Forged() != 2 {
		t.Fatalf("after a forgery: %d genuine entries, %d skipped, %v; want 40 and 2", n, reader.Forged(), err)
	}
}

// With the engine's ledger as the account book, a tampered block is frozen
// and repaired from the ledger, and every item comes back identical.
func TestRepairFromTheLedgerBook(t *testing.T) {
	eng := engine.New(transactortest.StartNode(t, 1))
	w := newWorld(t, func(c *vs.CenterConfig) {
		b, err := vs.NewLedgerBook(vs.EngineKV{Engine: eng}, "vault/book", c.MasterKey)
		if err != nil {
			t.Fatal(err)
		}
		c.Book = b
	})
	a := w.cluster("a")
	w.user("alice")
	var items []stored
	for i := 0; i < 4; i++ {
		d := randomBytes(t, 500+i)
		items = append(items, stored{a, "alice", w.put(a, "alice", fmt.Sprint("item", i), d), d})
	}
	sink := startSink(t)
	m := newMonitor(t, w, sink)
	tamper(t, w, items[1].info.Block, 300)
	rep, err := m.Check(bg)
	if err != nil || !rep.Tampered() || rep.FirstBad.Index != items[1].info.Block {
		t.Fatalf("check: %+v %v", rep, err)
	}
	res, err := w.center.Repair(bg)
	if err != nil || len(res.Lost) != 0 || res.FromBook == 0 {
		t.Fatalf("repair from the ledger book: %+v %v", res, err)
	}
	if r, _ := w.center.Verify(bg); !r.OK() || r.Frozen != 0 {
		t.Fatalf("verify after repair: %+v", r)
	}
	checkAll(t, w, items)
}
