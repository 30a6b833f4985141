package valuesplit

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
)

func testRecord(i int, e Epoch) Record {
	r := Record{Owner: "alice", Name: fmt.Sprintf("item %d", i), Size: 10, Block: uint64(i), Created: time.Unix(1, 0).UTC(), Epoch: e}
	r.Item[0], r.Item[1], r.Item[15] = byte(i), byte(i>>8), 1
	r.Handle[0], r.Handle[1], r.Handle[31] = byte(i), byte(i>>8), byte(e)
	return r
}

func mapping(n int, from, to Epoch, skip func(int) bool) Mapping {
	m := Mapping{Cluster: "a", From: from, To: to}
	for i := range n {
		if skip != nil && skip(i) {
			continue
		}
		m.Pairs = append(m.Pairs, HandlePair{Old: testRecord(i, from).Handle, New: testRecord(i, to).Handle})
	}
	sortPairs(m.Pairs)
	return m
}

// TestRekeyResumesAfterCrash: a re-key interrupted after writing part of
// the new index (the epoch switch never happened) leaves the store
// readable at the old epoch and is finished by retrying the same mapping.
func TestRekeyResumesAfterCrash(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBodyStore(dir, "a")
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := range n {
		if err := s.Put(testRecord(i, 1), []byte(fmt.Sprintf("body %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	full := mapping(n, 1, 2, nil)
	half := mapping(n, 1, 2, func(i int) bool { return i%2 == 1 })
	// The crash: the next epoch's table (here from a partial mapping) is
	// written, but the switch never happened.
	entries, dropped := s.idx.rekeyed(&half)
	if len(entries) != n/2 || len(dropped) != n/2 {
		t.Fatalf("partial mapping: %d entries, %d dropped", len(entries), len(dropped))
	}
	if err := writeTable(s.tablePath(2), 2, entries); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = OpenBodyStore(dir, "a"); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Epoch() != 1 {
		t.Fatalf("epoch after crash %d, want 1", s.Epoch())
	}
	for i := range n {
		if r, err := s.Get(testRecord(i, 1).Item); err != nil || r.Epoch != 1 || r.Handle != testRecord(i, 1).Handle {
			t.Fatalf("record %d after the crash: %+v %v", i, r, err)
		}
	}
	res, err := s.Rekey(full)
	if err != nil || res.Rekeyed != n || len(res.Dropped) != 0 {
		t.Fatalf("resumed rekey: %+v %v", res, err)
	}
	for i := range n {
		r, err := s.ByHandle(testRecord(i, 2).Handle)
		if err != nil || r.Item != testRecord(i, 2).Item || r.Epoch != 2 {
			t.Fatalf("record %d: %+v %v", i, r, err)
		}
		if _, err := s.ByHandle(testRecord(i, 1).Handle); !errors.Is(err, ErrNotFound) {
			t.Fatalf("old handle %d still indexed: %v", i, err)
		}
	}
	if res, err := s.Rekey(full); err != nil || !res.AlreadyApplied {
		t.Fatalf("retry after success: %+v %v", res, err)
	}
	// A mapping lacking items drops them with their bodies.
	res, err = s.Rekey(mapping(n, 2, 3, func(i int) bool { return i == 7 }))
	if err != nil || len(res.Dropped) != 1 || res.Dropped[0] != testRecord(7, 3).Item {
		t.Fatalf("drop: %+v %v", res, err)
	}
	if _, err := s.Body(testRecord(7, 3).Item); !errors.Is(err, ErrNotFound) {
		t.Fatalf("dropped body kept: %v", err)
	}
	// Mappings for another cluster, or out of order, are refused.
	other := mapping(n, 3, 4, nil)
	other.Cluster = "b"
	if _, err := s.Rekey(other); !errors.Is(err, ErrInvalid) {
		t.Fatalf("other cluster's mapping: %v", err)
	}
	unsorted := mapping(3, 3, 4, nil)
	unsorted.Pairs[0], unsorted.Pairs[1] = unsorted.Pairs[1], unsorted.Pairs[0]
	if _, err := s.Rekey(unsorted); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unsorted mapping: %v", err)
	}
}

func TestBodyStoreBelongsToOneCluster(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBodyStore(dir, "a")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := OpenBodyStore(dir, "b"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("opened as another cluster: %v", err)
	}
}

func TestEpochKeyHandles(t *testing.T) {
	k1, _ := newEpochKey([32]byte{1})
	k2, _ := newEpochKey([32]byte{2})
	item := ItemID{9, 9, 9}
	h := k1.handle("a", item)
	if got, ok := k1.resolve("a", h); !ok || got != item {
		t.Fatal("own handle does not resolve")
	}
	if _, ok := k1.resolve("b", h); ok {
		t.Fatal("handle resolves for another cluster")
	}
	if _, ok := k2.resolve("a", h); ok {
		t.Fatal("handle resolves under another epoch key")
	}
	if k1.handle("a", item) != h || k2.handle("a", item) == h {
		t.Fatal("handles are not deterministic per epoch")
	}
}

func TestOrphanBodyRemovedAtOpen(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBodyStore(dir, "a")
	if err != nil {
		t.Fatal(err)
	}
	kept := testRecord(1, 1)
	if err := s.Put(kept, []byte("body")); err != nil {
		t.Fatal(err)
	}
	orphan := testRecord(2, 1).Item
	if err := os.WriteFile(s.bodyPath(orphan), []byte("crashed before its record"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = OpenBodyStore(dir, "a"); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(s.bodyPath(orphan)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("orphan body kept: %v", err)
	}
	if b, err := s.Body(kept.Item); err != nil || string(b) != "body" {
		t.Fatalf("kept body: %q %v", b, err)
	}
}

// A crash inside acceptOffer, after the offered body moved into place and
// before its record was written, must not lose the body: the reopen's
// orphan sweep keeps it (its offer is still pending) and the retry finishes.
func TestAcceptOfferSurvivesACrashBetweenMoveAndRecord(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBodyStore(dir, "a")
	if err != nil {
		t.Fatal(err)
	}
	rec := testRecord(7, 0)
	var id OpID
	id[0] = 9
	body := []byte("the only copy of this item's body")
	if err := s.putOffer(Offer{Transfer: id, Item: rec.Item, Name: rec.Name, Body: body}); err != nil {
		t.Fatal(err)
	}
	// The first half of acceptOffer, then the crash.
	if err := os.Rename(s.offerPath(id), s.bodyPath(rec.Item)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = OpenBodyStore(dir, "a"); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(s.bodyPath(rec.Item)); err != nil {
		t.Fatalf("the reopen swept the moved body away: %v", err)
	}
	if err := s.acceptOffer(id, rec); err != nil {
		t.Fatalf("retrying acceptOffer: %v", err)
	}
	got, err := os.ReadFile(s.bodyPath(rec.Item))
	if err != nil || string(got) != string(body) {
		t.Fatalf("body after the retry: %q, %v", got, err)
	}
}
