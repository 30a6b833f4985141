package partition

import (
	"errors"
	"testing"
)

func TestPlacementIsStableAndSpread(t *testing.T) {
	m, err := New(4)
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int, 4)
	for id := uint64(1); id <= 4000; id++ {
		p := m.OfID(id, 0)
		if p != m.OfID(id, 0) {
			t.Fatal("placement is not deterministic")
		}
		counts[p]++
	}
	for p, c := range counts {
		if c < 800 || c > 1200 {
			t.Errorf("partition %d got %d of 4000 ids", p, c)
		}
	}
	// Golden value: placement must never change between releases.
	if got := m.OfID(1, 0); got != goldenPartitionOf1 {
		t.Errorf("id 1 is on partition %d, was %d: placement changed", got, goldenPartitionOf1)
	}
	if one, _ := New(1); one.OfID(12345, 678) != 0 || one.OfKey([]byte("k")) != 0 {
		t.Error("single partition map places outside partition 0")
	}
}

const goldenPartitionOf1 = 0

func TestPersistRefusesChange(t *testing.T) {
	dir := t.TempDir()
	m4, _ := New(4)
	if err := m4.Persist(dir); err != nil {
		t.Fatal(err)
	}
	if err := m4.Persist(dir); err != nil {
		t.Fatalf("same map again: %v", err)
	}
	m2, _ := New(2)
	if err := m2.Persist(dir); !errors.Is(err, ErrMismatch) {
		t.Fatalf("changed map: err %v, want ErrMismatch", err)
	}
	got, ok, err := Load(dir)
	if err != nil || !ok || got != m4 {
		t.Fatalf("load: %+v %v %v", got, ok, err)
	}
}

func TestNewRejectsBadCounts(t *testing.T) {
	for _, n := range []int{0, -1, MaxPartitions + 1} {
		if _, err := New(n); err == nil {
			t.Errorf("New(%d) accepted", n)
		}
	}
}
