package valuesplit_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	vs "github.com/conto-ledger/conto/engine/valuesplit"
	"github.com/conto-ledger/conto/engine/valuesplit/chain"
)

var bg = context.Background()

func TestPutGetRoundTrip(t *testing.T) {
	w := newWorld(t)
	a := w.cluster("a")
	w.user("alice")
	for _, n := range []int{0, 1, 29, 30, 31, 1 << 10, 1 << 20} {
		data := randomBytes(t, n)
		info := w.put(a, "alice", "item", data)
		if info.Size != int64(n) || info.Block == 0 {
			t.Fatalf("put %d: %+v", n, info)
		}
		if got := w.get(a, "alice", info.ID); !bytes.Equal(got, data) {
			t.Fatalf("size %d: bytes differ", n)
		}
		// The cluster holds no head: its body is the ciphertext minus it.
		body, err := a.Store().Body(info.ID)
		if err != nil || len(body) != vs.CiphertextSize(n)-min(vs.DefaultHeadSize, vs.CiphertextSize(n)-vs.MinBodySize) {
			t.Fatalf("size %d: body %d bytes (%v)", n, len(body), err)
		}
	}
	list, err := a.List(bg, "alice")
	if err != nil || len(list) != 7 {
		t.Fatalf("list: %d %v", len(list), err)
	}
	// Everything survives a restart of the center.
	w.reopenCenter()
	for _, it := range list {
		w.get(a, "alice", it.ID)
	}
	if r, err := w.center.Verify(bg); err != nil || !r.OK() {
		t.Fatalf("verify: %+v %v", r, err)
	}
}

func TestOnlyOwnerGets(t *testing.T) {
	w := newWorld(t)
	a, b := w.cluster("a"), w.cluster("b")
	w.user("alice")
	w.user("mallory")
	info := w.put(a, "alice", "secret", []byte("alice's money"))
	if _, _, err := a.Get(bg, "mallory", info.ID); !errors.Is(err, vs.ErrNotFound) {
		t.Fatalf("another user: %v", err)
	}
	if _, _, err := b.Get(bg, "alice", info.ID); !errors.Is(err, vs.ErrNotFound) {
		t.Fatalf("another cluster: %v", err)
	}
	// A handle presented by another cluster does not resolve.
	rec, _ := a.Store().Get(info.ID)
	if _, err := w.center.Acquire(bg, vs.AcquireRequest{Cluster: "b", User: "alice", Epoch: rec.Epoch, Handle: rec.Handle}); !errors.Is(err, vs.ErrUnknownHandle) {
		t.Fatalf("handle from another cluster: %v", err)
	}
	// A forged handle does not resolve.
	h := rec.Handle
	h[20] ^= 1
	if _, err := w.center.Acquire(bg, vs.AcquireRequest{Cluster: "a", User: "alice", Epoch: rec.Epoch, Handle: h}); !errors.Is(err, vs.ErrUnknownHandle) {
		t.Fatalf("forged handle: %v", err)
	}
}

func TestRegisterIdempotent(t *testing.T) {
	w := newWorld(t)
	w.cluster("a")
	w.user("alice")
	id := newID(t)
	op, _ := chain.NewOpID(nil)
	p, _ := vs.SplitItem(id, []byte("hello"), vs.SplitSpec{}, nil)
	req := vs.RegisterRequest{Op: op, Cluster: "a", User: "alice", Epoch: 1, Item: id, Name: "n",
		Head: vs.Head{Head: p.Head, Key: p.Key, Window: p.Window}}
	r1, err := w.center.Register(bg, req)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := w.center.Register(bg, req)
	if err != nil || r2 != r1 {
		t.Fatalf("retry: %+v %v, first %+v", r2, err, r1)
	}
	req.Op[0] ^= 1
	if _, err := w.center.Register(bg, req); !errors.Is(err, vs.ErrExists) {
		t.Fatalf("second registration of the item: %v", err)
	}
	if n := w.center.Chain().Len(); n != 2 {
		t.Fatalf("chain has %d blocks, want genesis + 1", n)
	}
}

func TestDisabledUserAndCluster(t *testing.T) {
	w := newWorld(t)
	a := w.cluster("a")
	w.user("alice")
	w.user("bob")
	info := w.put(a, "alice", "x", []byte("value"))

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.center.Users().Disable("alice"))
	if _, err := a.Put(bg, "alice", "y", []byte("v")); !errors.Is(err, vs.ErrDisabled) {
		t.Fatalf("disabled user registers: %v", err)
	}
	if _, _, err := a.Get(bg, "alice", info.ID); !errors.Is(err, vs.ErrDisabled) {
		t.Fatalf("disabled user acquires: %v", err)
	}
	if _, err := a.Transfer(bg, vs.TransferStart{Item: info.ID, From: "alice", To: "bob"}); !errors.Is(err, vs.ErrDisabled) {
		t.Fatalf("disabled user transfers: %v", err)
	}
	must(w.center.Users().Enable("alice"))
	w.get(a, "alice", info.ID)

	// Nothing can be transferred to a disabled user.
	must(w.center.Users().Disable("bob"))
	if _, err := a.Transfer(bg, vs.TransferStart{Item: info.ID, From: "alice", To: "bob"}); !errors.Is(err, vs.ErrDisabled) {
		t.Fatalf("transfer to a disabled user: %v", err)
	}
	must(w.center.Users().Enable("bob"))

	must(w.center.Clusters().Disable("a"))
	if _, err := a.Put(bg, "alice", "y", []byte("v")); !errors.Is(err, vs.ErrDisabled) {
		t.Fatalf("disabled cluster registers: %v", err)
	}
	if _, _, err := a.Get(bg, "alice", info.ID); !errors.Is(err, vs.ErrDisabled) {
		t.Fatalf("disabled cluster acquires: %v", err)
	}
	if _, err := a.Transfer(bg, vs.TransferStart{Item: info.ID, From: "alice", To: "bob"}); !errors.Is(err, vs.ErrDisabled) {
		t.Fatalf("disabled cluster transfers: %v", err)
	}
	// The flags persist.
	w.reopenCenter()
	if err := w.center.Clusters().Check("a"); !errors.Is(err, vs.ErrDisabled) {
		t.Fatalf("after restart: %v", err)
	}
	must(w.center.Clusters().Enable("a"))
	w.get(a, "alice", info.ID)
	if _, err := a.Put(bg, "nobody", "y", []byte("v")); !errors.Is(err, vs.ErrNotFound) {
		t.Fatalf("unknown user registers: %v", err)
	}
}

func TestInputLimits(t *testing.T) {
	w := newWorld(t)
	a := w.cluster("a")
	w.user("alice")
	for _, name := range []string{"", "line\nbreak", string(make([]byte, vs.MaxNameLen+1)), "\xff"} {
		if _, err := a.Put(bg, "alice", name, []byte("x")); !errors.Is(err, vs.ErrInvalid) {
			t.Errorf("name %q: %v", name, err)
		}
	}
	if _, err := a.Put(bg, "alice", "big", make([]byte, vs.MaxItemSize+1)); !errors.Is(err, vs.ErrTooLarge) {
		t.Errorf("oversized item: %v", err)
	}
	for _, id := range []string{"", "has space", "x/y", string(make([]byte, 65))} {
		if _, err := w.center.AddUser(bg, id, "a@b.c"); !errors.Is(err, vs.ErrInvalid) {
			t.Errorf("user id %q: %v", id, err)
		}
	}
	for _, mail := range []string{"", "no-at", "a@", "@b", "a@b\r\nRCPT TO:<x@y>", "a b@c"} {
		if _, err := w.center.AddUser(bg, "u1", mail); !errors.Is(err, vs.ErrInvalid) {
			t.Errorf("email %q: %v", mail, err)
		}
	}
	if _, err := w.center.AddUser(bg, "alice", "again@example.com"); !errors.Is(err, vs.ErrExists) {
		t.Errorf("duplicate user: %v", err)
	}
}

func TestMasterKeyFile(t *testing.T) {
	path := t.TempDir() + "/master.key"
	k1, created, err := vs.LoadOrCreateMasterKey(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	k2, created, err := vs.LoadOrCreateMasterKey(path)
	if err != nil || created || k2 != k1 {
		t.Fatalf("load: %v %v", created, err)
	}
}

func TestWrongMasterKeyRefused(t *testing.T) {
	w := newWorld(t)
	w.center.Close()
	cfg := w.cfg
	cfg.MasterKey[0] ^= 1
	if _, _, err := vs.OpenCenter(cfg); err == nil {
		t.Fatal("center opened with the wrong master key")
	}
	w.openCenter()
}
