package valuesplit_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vs "github.com/conto-ledger/conto/engine/valuesplit"
)

func TestTransferWithinCluster(t *testing.T) {
	w := newWorld(t)
	a := w.cluster("a")
	w.user("alice")
	w.user("bob")
	d := []byte("ten coins")
	info := w.put(a, "alice", "coins", d)
	tk, err := a.Transfer(bg, vs.TransferStart{Item: info.ID, From: "alice", To: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if tk.Cluster != "a" || tk.Token == "" || tk.NotifyError != "" {
		t.Fatalf("ticket: %+v", tk)
	}
	// Bob is told, with the link.
	msgs := w.mail.to("bob@example.com")
	if len(msgs) != 1 || !strings.Contains(msgs[0].Body, "https://a.example/dl/"+tk.Token) {
		t.Fatalf("notice: %+v", msgs)
	}
	// Locked while pending: no acquire, no second transfer.
	if _, _, err := a.Get(bg, "alice", info.ID); !errors.Is(err, vs.ErrLocked) {
		t.Fatalf("get while pending: %v", err)
	}
	if _, err := a.Transfer(bg, vs.TransferStart{Item: info.ID, From: "alice", To: "bob"}); !errors.Is(err, vs.ErrLocked) {
		t.Fatalf("second transfer while pending: %v", err)
	}
	if l, _ := a.List(bg, "alice"); len(l) != 1 || !l[0].Locked {
		t.Fatalf("listing: %+v", l)
	}
	// The center holds the lock too, whatever a cluster does.
	rec, _ := a.Store().Get(info.ID)
	if _, err := w.center.Acquire(bg, vs.AcquireRequest{Cluster: "a", User: "alice", Epoch: rec.Epoch, Handle: rec.Handle}); !errors.Is(err, vs.ErrLocked) {
		t.Fatalf("center acquire while pending: %v", err)
	}
	// Only the recipient can redeem the token.
	if _, _, err := a.Download(bg, "alice", tk.Token); !errors.Is(err, vs.ErrNotFound) {
		t.Fatalf("sender redeems: %v", err)
	}
	if _, _, err := a.Download(bg, "bob", tk.Token+"x"); !errors.Is(err, vs.ErrNotFound) {
		t.Fatalf("wrong token: %v", err)
	}
	got, gi, err := a.Download(bg, "bob", tk.Token)
	if err != nil || !bytes.Equal(got, d) || gi.Owner != "bob" {
		t.Fatalf("download: %v %+v", err, gi)
	}
	// One time only; ownership moved; the lock is gone.
	if _, _, err := a.Download(bg, "bob", tk.Token); !errors.Is(err, vs.ErrNotFound) {
		t.Fatalf("second download: %v", err)
	}
	if _, _, err := a.Get(bg, "alice", info.ID); !errors.Is(err, vs.ErrNotFound) {
		t.Fatalf("old owner: %v", err)
	}
	if got := w.get(a, "bob", info.ID); !bytes.Equal(got, d) {
		t.Fatal("bob's bytes differ")
	}
	st, err := w.center.Lookup(info.ID)
	if err != nil || st.User != "bob" || st.Cluster != "a" || st.Locked {
		t.Fatalf("center view: %+v %v", st, err)
	}
	// The ownership change is a new block; the registration is untouched.
	reg, _ := w.center.Chain().Block(info.Block)
	if reg.User != "alice" || st.Block <= info.Block {
		t.Fatalf("registration block %+v, latest %d", reg, st.Block)
	}
	if r, _ := w.center.Verify(bg); !r.OK() {
		t.Fatalf("verify: %v", r.FirstBad)
	}
}

func TestTransferExpiryReleasesLock(t *testing.T) {
	w := newWorld(t)
	a := w.cluster("a")
	w.user("alice")
	w.user("bob")
	d := []byte("expiring")
	info := w.put(a, "alice", "x", d)
	tk, err := a.Transfer(bg, vs.TransferStart{Item: info.ID, From: "alice", To: "bob", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(2 * time.Minute)
	if _, _, err := a.Download(bg, "bob", tk.Token); !errors.Is(err, vs.ErrExpired) {
		t.Fatalf("download after expiry: %v", err)
	}
	if got := w.get(a, "alice", info.ID); !bytes.Equal(got, d) {
		t.Fatal("owner cannot get the item after expiry")
	}
	// The center agrees, and a new transfer can start.
	if _, err := a.Transfer(bg, vs.TransferStart{Item: info.ID, From: "alice", To: "bob"}); err != nil {
		t.Fatalf("new transfer after expiry: %v", err)
	}
}

func TestTransferCancelAndSettle(t *testing.T) {
	w := newWorld(t)
	a := w.cluster("a")
	w.user("alice")
	w.user("bob")
	info := w.put(a, "alice", "x", []byte("v"))
	tk, err := a.Transfer(bg, vs.TransferStart{Item: info.ID, From: "alice", To: "bob", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.CancelTransfer(bg, "alice", info.ID); err != nil {
		t.Fatal(err)
	}
	w.get(a, "alice", info.ID)
	if _, _, err := a.Download(bg, "bob", tk.Token); !errors.Is(err, vs.ErrNotFound) {
		t.Fatalf("download of a cancelled transfer: %v", err)
	}
	// Settle releases a lock the center let expire.
	if _, err := a.Transfer(bg, vs.TransferStart{Item: info.ID, From: "alice", To: "bob", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Hour)
	res, err := a.Settle(bg)
	if err != nil || res.Released != 1 || res.Expired != 1 {
		t.Fatalf("settle: %+v %v", res, err)
	}
}

func TestTransferAcrossClusters(t *testing.T) {
	w := newWorld(t)
	a, b := w.cluster("a"), w.cluster("b")
	w.user("alice")
	w.user("carol")
	d := randomBytes(t, 5000)
	info := w.put(a, "alice", "bond", d)
	tk, err := a.Transfer(bg, vs.TransferStart{Item: info.ID, From: "alice", To: "carol", ToCluster: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if tk.Cluster != "b" {
		t.Fatalf("ticket at %s, want b", tk.Cluster)
	}
	if msgs := w.mail.to("carol@example.com"); len(msgs) != 1 || !strings.Contains(msgs[0].Body, "https://b.example/dl/") {
		t.Fatalf("notice: %+v", msgs)
	}
	// b holds only the offered ciphertext and cannot serve it yet.
	if _, _, err := b.Get(bg, "carol", info.ID); !errors.Is(err, vs.ErrNotFound) {
		t.Fatalf("recipient cluster serves before completion: %v", err)
	}
	if _, _, err := a.Get(bg, "alice", info.ID); !errors.Is(err, vs.ErrLocked) {
		t.Fatalf("sender while pending: %v", err)
	}
	got, _, err := b.Download(bg, "carol", tk.Token)
	if err != nil || !bytes.Equal(got, d) {
		t.Fatalf("download: %v", err)
	}
	st, _ := w.center.Lookup(info.ID)
	if st.Cluster != "b" || st.User != "carol" {
		t.Fatalf("center: %+v", st)
	}
	if got := w.get(b, "carol", info.ID); !bytes.Equal(got, d) {
		t.Fatal("carol's bytes differ")
	}
	// a learns the item moved and deletes its copy.
	res, err := a.Settle(bg)
	if err != nil || res.MovedAway != 1 {
		t.Fatalf("settle: %+v %v", res, err)
	}
	if _, err := a.Store().Get(info.ID); !errors.Is(err, vs.ErrNotFound) {
		t.Fatalf("a kept the record: %v", err)
	}
	// carol can pass it on within b.
	w.user("dave")
	tk2, err := b.Transfer(bg, vs.TransferStart{Item: info.ID, From: "carol", To: "dave"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := b.Download(bg, "dave", tk2.Token); err != nil || !bytes.Equal(got, d) {
		t.Fatalf("second hop: %v", err)
	}
}

func TestTransferRefusals(t *testing.T) {
	w := newWorld(t)
	a, _ := w.cluster("a"), w.cluster("b")
	w.user("alice")
	w.user("bob")
	info := w.put(a, "alice", "x", []byte("v"))
	if _, err := a.Transfer(bg, vs.TransferStart{Item: info.ID, From: "bob", To: "alice"}); !errors.Is(err, vs.ErrNotFound) {
		t.Fatalf("non-owner transfers: %v", err)
	}
	if _, err := a.Transfer(bg, vs.TransferStart{Item: info.ID, From: "alice", To: "ghost"}); !errors.Is(err, vs.ErrNotFound) {
		t.Fatalf("unknown recipient: %v", err)
	}
	if err := w.center.Clusters().Disable("b"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Transfer(bg, vs.TransferStart{Item: info.ID, From: "alice", To: "bob", ToCluster: "b"}); !errors.Is(err, vs.ErrDisabled) {
		t.Fatalf("transfer to a disabled cluster: %v", err)
	}
	// The failed attempts left no lock behind.
	w.get(a, "alice", info.ID)
}

func TestTransferSurvivesRestart(t *testing.T) {
	w := newWorld(t)
	a := w.cluster("a")
	w.user("alice")
	w.user("bob")
	d := []byte("durable")
	info := w.put(a, "alice", "x", d)
	tk, err := a.Transfer(bg, vs.TransferStart{Item: info.ID, From: "alice", To: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	w.reopenCenter()
	a.Close()
	a = w.cluster("a")
	if _, _, err := a.Get(bg, "alice", info.ID); !errors.Is(err, vs.ErrLocked) {
		t.Fatalf("lock lost in restart: %v", err)
	}
	if got, _, err := a.Download(bg, "bob", tk.Token); err != nil || !bytes.Equal(got, d) {
		t.Fatalf("download after restart: %v", err)
	}
}

// The center completed a cross-cluster transfer but the recipient's cluster
// never took ownership (it failed right after), and then the ticket
// expired. The offered body may now be the item's only copy (the sender's
// cluster deletes its own once the transfer completed): expiry must keep it.
func TestExpiredTicketKeepsTheBodyOfACompletedTransfer(t *testing.T) {
	w := newWorld(t)
	a, b := w.cluster("a"), w.cluster("b")
	w.user("alice")
	w.user("carol")
	info := w.put(a, "alice", "bond", randomBytes(t, 3000))
	tk, err := a.Transfer(bg, vs.TransferStart{Item: info.ID, From: "alice", To: "carol", ToCluster: "b", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	e, err := w.center.Epoch(bg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.center.CompleteTransfer(bg, vs.CompleteTransferRequest{ID: tk.Transfer, Cluster: "b", User: "carol", Epoch: e}); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(2 * time.Minute)
	if _, err := b.Settle(bg); err != nil {
		t.Fatal(err)
	}
	offers, err := os.ReadDir(filepath.Join(w.dir, "cluster-b", "offers"))
	if err != nil || len(offers) != 1 {
		t.Fatalf("b's offered bodies after the ticket expired: %d, %v; want the completed transfer's body kept", len(offers), err)
	}
}
