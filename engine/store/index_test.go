package store

import (
	"testing"

	"github.com/conto-ledger/conto/engine/ledger"
)

// Small batches over many accounts must not checkpoint every indexEvery
// versions (each checkpoint writes two keys per changed account), yet the
// index must stay complete: as-of reads are right before and after a
// restart that replays the deltas since the last checkpoint.
func TestCheckpointWaitsForDensityAndReadsStayRight(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	const accounts = 400
	accts := make([]ledger.Account, accounts)
	for i := range accts {
		accts[i] = acct(uint64(i+1), 0)
	}
	mustApply(t, s, accountsBatch(1, second, accts...))
	// 3*indexEvery batches of one transfer each: far fewer changes than
	// indexDensity per changed account.
	v := uint64(2)
	for ; v < 2+3*indexEvery; v++ {
		dr, cr := (v*7)%accounts+1, (v*13+1)%accounts+1
		if dr == cr {
			cr = cr%accounts + 1
		}
		wantStatuses(t, mustApply(t, s, transfersBatch(v, v*second, xfer(v, dr, cr, v))), 0)
	}
	last := v - 1
	if s.index.through != 0 {
		t.Fatalf("checkpoint taken at version %d; want none before %d changes per changed account", s.index.through, indexDensity)
	}
	want := map[ledger.Uint128]ledger.Account{}
	for i := uint64(1); i <= accounts; i++ {
		a, ok := s.Account(ledger.U128(i))
		if !ok {
			t.Fatalf("account %d missing", i)
		}
		want[a.ID] = a
	}
	mid := last / 2
	midWant := map[ledger.Uint128]ledger.Account{}
	for id := range want {
		a, _, err := s.AccountAt(id, mid)
		if err != nil {
			t.Fatal(err)
		}
		midWant[id] = a
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	defer s.Close()
	for id, w := range want {
		got, _, err := s.AccountAt(id, last)
		if err != nil || got != w {
			t.Fatalf("account %v after restart = %+v, %v; want %+v", id, got, err, w)
		}
		got, _, err = s.AccountAt(id, mid)
		if err != nil || got != midWant[id] {
			t.Fatalf("account %v at version %d after restart = %+v, %v; want %+v", id, mid, got, err, midWant[id])
		}
	}
}

// Dense changes (every batch touching the same few accounts) still
// checkpoint every indexEvery versions, and a lag of maxIndexLag versions
// forces one whatever the density.
func TestCheckpointDueRules(t *testing.T) {
	cases := []struct {
		name          string
		lag           uint64
		pairs, change int
		want          bool
	}{
		{"too soon", indexEvery - 1, 1 << 19, 2, false},
		{"dense enough", indexEvery, indexDensity * 10, 10, true},
		{"too sparse", indexEvery, indexDensity*10 - 1, 10, false},
		{"lag bound", maxIndexLag, 1, 1000, true},
		{"memory bound", 1, maxRecentPairs, 1, true},
	}
	for _, c := range cases {
		s := &Store{}
		s.index = versionIndex{through: 100, every: indexEvery, density: indexDensity,
			pairs: c.pairs, touched: make([]int32, c.change)}
		if got := s.indexDue(100 + c.lag); got != c.want {
			t.Errorf("%s: due = %v, want %v", c.name, got, c.want)
		}
	}
}
