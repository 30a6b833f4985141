package valuesplit_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	vs "github.com/conto-ledger/conto/engine/valuesplit"
)

// copyDir copies a directory tree (the thief's copy of a cluster store).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRotationRetiresOldHandles(t *testing.T) {
	w := newWorld(t)
	a := w.cluster("a")
	w.user("alice")
	data := map[vs.ItemID][]byte{}
	for i := range 5 {
		d := randomBytes(t, 100+i)
		data[w.put(a, "alice", "item", d).ID] = d
	}
	old := map[vs.ItemID]vs.Handle{}
	for id := range data {
		rec, _ := a.Store().Get(id)
		old[id] = rec.Handle
	}
	rot, err := w.center.Rotate(bg)
	if err != nil {
		t.Fatal(err)
	}
	if rot.From != 1 || rot.To != 2 || len(rot.Mappings["a"].Pairs) != 5 {
		t.Fatalf("rotation: from %d to %d, %d pairs", rot.From, rot.To, len(rot.Mappings["a"].Pairs))
	}
	for id, h := range old {
		if _, err := w.center.Resolve("a", 1, h); !errors.Is(err, vs.ErrStaleEpoch) {
			t.Fatalf("old epoch still accepted: %v", err)
		}
		if _, err := w.center.Resolve("a", 2, h); !errors.Is(err, vs.ErrUnknownHandle) {
			t.Fatalf("old handle resolves in the new epoch: %v", err)
		}
		nh, ok := func() (vs.Handle, bool) { m := rot.Mappings["a"]; return m.Lookup(h) }()
		if got, err := w.center.Resolve("a", 2, nh); !ok || err != nil || got != id {
			t.Fatalf("new handle: %v %v", got, err)
		}
	}
	// The cluster re-keys in lockstep; re-applying is harmless; a mapping
	// from another epoch is refused.
	m := rot.Mappings["a"]
	res, err := a.ApplyRotation(bg, m)
	if err != nil || res.Rekeyed != 5 || len(res.Dropped) != 0 {
		t.Fatalf("apply: %+v %v", res, err)
	}
	if res, err := a.Store().Rekey(m); err != nil || !res.AlreadyApplied {
		t.Fatalf("re-apply: %+v %v", res, err)
	}
	stale := m
	stale.From, stale.To = 0, 5
	if _, err := a.Store().Rekey(stale); !errors.Is(err, vs.ErrStaleEpoch) {
		t.Fatalf("stale mapping: %v", err)
	}
	for id, d := range data {
		if got := w.get(a, "alice", id); !bytes.Equal(got, d) {
			t.Fatal("bytes differ after rotation")
		}
		if r, _ := a.Store().ByHandle(old[id]); r.Item == id {
			t.Fatal("old handle still indexes the body")
		}
	}
}

// TestClusterSyncsOnStaleEpoch: a cluster that missed the pushed mapping
// catches up on its own at the next request.
func TestClusterSyncsOnStaleEpoch(t *testing.T) {
	w := newWorld(t)
	a := w.cluster("a")
	w.user("alice")
	d := []byte("value before two rotations")
	info := w.put(a, "alice", "x", d)
	for range 2 {
		if _, err := w.center.Rotate(bg); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.get(a, "alice", info.ID); !bytes.Equal(got, d) {
		t.Fatal("bytes differ")
	}
	if e := a.Store().Epoch(); e != 3 {
		t.Fatalf("store epoch %d, want 3", e)
	}
	// Registration works too after another rotation.
	if _, err := w.center.Rotate(bg); err != nil {
		t.Fatal(err)
	}
	w.put(a, "alice", "y", []byte("after"))
}

// TestStolenStoreWorthless: a copy of the cluster's store taken before a
// rotation cannot be turned back into the items once the cluster has
// re-keyed, even by someone who can talk to the center as the cluster.
func TestStolenStoreWorthless(t *testing.T) {
	w := newWorld(t)
	a := w.cluster("a")
	w.user("alice")
	d := []byte("the crown jewels")
	info := w.put(a, "alice", "jewels", d)

	// The thief copies the store (the cluster is paused for a consistent copy).
	a.Close()
	stolen := filepath.Join(t.TempDir(), "stolen")
	copyDir(t, filepath.Join(w.dir, "cluster-a"), stolen)
	a = w.cluster("a")

	// Before the rotation, the copy would work: that is the window rotation closes.
	rot, err := w.center.Rotate(bg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ApplyRotation(bg, rot.Mappings["a"]); err != nil {
		t.Fatal(err)
	}
	if got := w.get(a, "alice", info.ID); !bytes.Equal(got, d) {
		t.Fatal("the real cluster lost the item")
	}

	thief := w.clusterAt("a", stolen)
	defer thief.Close()
	rec, err := thief.Store().Get(info.ID)
	if err != nil || rec.Epoch != 1 {
		t.Fatalf("stolen record: %+v %v", rec, err)
	}
	body, _ := thief.Store().Body(info.ID)
	// With only the stolen store: the body alone does not decrypt...
	if _, err := vs.Decrypt(info.ID, body, vs.DataKey{}); !errors.Is(err, vs.ErrDecrypt) {
		t.Fatal("stolen body decrypts")
	}
	// ...the old handle opens nothing in either epoch...
	for _, e := range []vs.Epoch{1, 2} {
		if _, err := w.center.Acquire(bg, vs.AcquireRequest{Cluster: "a", User: "alice", Epoch: e, Handle: rec.Handle}); err == nil {
			t.Fatalf("old handle acquired in epoch %d", e)
		}
	}
	// ...the center refuses to map it forward...
	if _, err := w.center.Mapping(bg, "a", 1); !errors.Is(err, vs.ErrRefused) {
		t.Fatalf("mapping for the old epoch: %v", err)
	}
	// ...and so the whole acquisition path fails.
	if _, _, err := thief.Get(bg, "alice", info.ID); err == nil {
		t.Fatal("the stolen store acquired the item")
	} else if !errors.Is(err, vs.ErrRefused) {
		t.Fatalf("stolen acquisition failed for the wrong reason: %v", err)
	}
}

func TestGraceWindow(t *testing.T) {
	w := newWorld(t, func(c *vs.CenterConfig) { c.Grace = time.Hour })
	a := w.cluster("a")
	w.user("alice")
	info := w.put(a, "alice", "x", []byte("v"))
	rec, _ := a.Store().Get(info.ID)
	if _, err := w.center.Rotate(bg); err != nil {
		t.Fatal(err)
	}
	if got, err := w.center.Resolve("a", 1, rec.Handle); err != nil || got != info.ID {
		t.Fatalf("within grace: %v", err)
	}
	w.clock.Advance(2 * time.Hour)
	if _, err := w.center.Resolve("a", 1, rec.Handle); !errors.Is(err, vs.ErrStaleEpoch) {
		t.Fatalf("after grace: %v", err)
	}
}

func TestRotationPersistsAndDropsMovedItems(t *testing.T) {
	w := newWorld(t)
	a, b := w.cluster("a"), w.cluster("b")
	w.user("alice")
	w.user("carol")
	keep := w.put(a, "alice", "keep", []byte("stays at a"))
	move := w.put(a, "alice", "move", []byte("goes to b"))
	tk, err := a.Transfer(bg, vs.TransferStart{Item: move.ID, From: "alice", To: "carol", ToCluster: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Download(bg, "carol", tk.Token); err != nil {
		t.Fatal(err)
	}
	// a has not settled: it still holds the moved item's body. The
	// rotation's mapping for a lacks it, so re-keying drops it.
	w.reopenCenter()
	rot, err := w.center.Rotate(bg)
	if err != nil {
		t.Fatal(err)
	}
	w.reopenCenter() // the new epoch survives a restart
	if e, _ := w.center.Epoch(bg); e != rot.To {
		t.Fatalf("epoch after restart %d, want %d", e, rot.To)
	}
	res, err := a.ApplyRotation(bg, rot.Mappings["a"])
	if err != nil || res.Rekeyed != 1 || len(res.Dropped) != 1 || res.Dropped[0] != move.ID {
		t.Fatalf("apply: %+v %v", res, err)
	}
	if _, err := b.ApplyRotation(bg, rot.Mappings["b"]); err != nil {
		t.Fatal(err)
	}
	w.get(a, "alice", keep.ID)
	w.get(b, "carol", move.ID)
}

func TestRotationRefusedWhileLagging(t *testing.T) {
	w := newWorld(t, func(c *vs.CenterConfig) { c.MaxKeptEpochs = 3 })
	w.cluster("a")
	w.user("alice")
	for i := range 2 {
		if _, err := w.center.Rotate(bg); err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
	}
	if _, err := w.center.Rotate(bg); !errors.Is(err, vs.ErrLagging) {
		t.Fatalf("rotation with a lagging cluster: %v", err)
	}
	if err := w.center.Clusters().Disable("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.center.Rotate(bg); err != nil {
		t.Fatalf("rotation once the lagging cluster is disabled: %v", err)
	}
}
