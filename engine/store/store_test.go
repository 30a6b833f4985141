package store

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/conto-ledger/conto/engine/ledger"
)

const second = uint64(1e9)

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	return openStoreEvery(t, dir, 0)
}

// openStoreEvery opens a store that checkpoints its account index every
// `every` versions (0: the default).
func openStoreEvery(t *testing.T, dir string, every uint64) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), indexEvery: every})
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	return s
}

func mustApply(t *testing.T, s *Store, b *ledger.Batch) []ledger.Result {
	t.Helper()
	res := make([]ledger.Result, len(b.Accounts)+len(b.Transfers))
	if err := s.Apply(b, res); err != nil {
		t.Fatalf("apply version %d: %v", b.Version, err)
	}
	return res
}

func accountsBatch(v, at uint64, accts ...ledger.Account) *ledger.Batch {
	return &ledger.Batch{Kind: ledger.KindAccounts, Version: v, Time: at, Accounts: accts}
}

func transfersBatch(v, at uint64, ts ...ledger.Transfer) *ledger.Batch {
	return &ledger.Batch{Kind: ledger.KindTransfers, Version: v, Time: at, Transfers: ts}
}

func acct(id uint64, flags ledger.AccountFlags) ledger.Account {
	return ledger.Account{ID: ledger.U128(id), Ledger: 1, Code: 1, Flags: flags}
}

func xfer(id, dr, cr, amount uint64) ledger.Transfer {
	return ledger.Transfer{ID: ledger.U128(id), DebitAccountID: ledger.U128(dr), CreditAccountID: ledger.U128(cr),
		Amount: amount, Ledger: 1, Code: 1}
}

func wantStatuses(t *testing.T, res []ledger.Result, want ...uint32) {
	t.Helper()
	for i := range want {
		if res[i].Status != want[i] {
			t.Fatalf("event %d: status %d, want %d (all: %v)", i, res[i].Status, want[i], res)
		}
	}
}

// history builds a small ledger across several versions:
// v1 accounts 1, 2 (history), 3; v3 transfer 10: 1→2 100;
// v5 transfers 11: 2→3 30, 12: 1→3 5 pending with timeout 1s;
// v7 post 13 of 12 (partial, 4).
func history(t *testing.T, s *Store) {
	t.Helper()
	mustApply(t, s, accountsBatch(1, 1*second, acct(1, 0), acct(2, ledger.AccountHistory), acct(3, 0)))
	mustApply(t, s, transfersBatch(3, 2*second, xfer(10, 1, 2, 100)))
	p := xfer(12, 1, 3, 5)
	p.Flags, p.Timeout = ledger.TransferPending, 10
	mustApply(t, s, transfersBatch(5, 3*second, xfer(11, 2, 3, 30), p))
	post := ledger.Transfer{ID: ledger.U128(13), PendingID: ledger.U128(12), Amount: 4, Flags: ledger.TransferPostPendingTransfer}
	res := mustApply(t, s, transfersBatch(7, 4*second, post))
	wantStatuses(t, res, 0)
}

func TestAccountAsOfVersion(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	history(t, s)
	cases := []struct {
		version                  uint64
		id                       uint64
		found                    bool
		debitsPosted, credPosted uint64
		debitsPending            uint64
	}{
		{0, 1, false, 0, 0, 0},
		{1, 1, true, 0, 0, 0},
		{2, 1, true, 0, 0, 0},
		{3, 1, true, 100, 0, 0},
		{4, 2, true, 0, 100, 0},
		{5, 1, true, 100, 0, 5},
		{5, 2, true, 30, 100, 0},
		{6, 3, true, 0, 30, 0},
		{7, 1, true, 104, 0, 0},
		{1000, 1, true, 104, 0, 0},
	}
	for _, c := range cases {
		a, ok, err := s.AccountAt(ledger.U128(c.id), c.version)
		if err != nil {
			t.Fatal(err)
		}
		if ok != c.found || a.DebitsPosted != c.debitsPosted || a.CreditsPosted != c.credPosted || a.DebitsPending != c.debitsPending {
			t.Errorf("account %d as of %d: found=%v %+v, want found=%v dp=%d cp=%d dpend=%d",
				c.id, c.version, ok, a, c.found, c.debitsPosted, c.credPosted, c.debitsPending)
		}
	}
	a, _, _ := s.AccountAt(ledger.U128(1), 5)
	if a.Version != 5 {
		t.Errorf("account 1 as of 5 has Version %d, want 5", a.Version)
	}
}

func TestAccountAsOfTime(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	history(t, s)
	// Batch at 2s assigned timestamp 2s exactly (one event).
	if _, ok, _ := s.AccountAtTime(ledger.U128(1), second-1); ok {
		t.Fatal("account found before it was created")
	}
	a, ok, err := s.AccountAtTime(ledger.U128(1), 2*second)
	if err != nil || !ok || a.DebitsPosted != 100 {
		t.Fatalf("as of 2s: %+v ok=%v err=%v, want debits_posted 100", a, ok, err)
	}
	a, _, _ = s.AccountAtTime(ledger.U128(1), 2*second+999)
	if a.DebitsPosted != 100 || a.DebitsPending != 0 {
		t.Fatalf("between batches: %+v", a)
	}
	a, _, _ = s.AccountAtTime(ledger.U128(1), 1<<62)
	if a.DebitsPosted != 104 {
		t.Fatalf("latest: %+v", a)
	}
}

func TestStatement(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	history(t, s)
	ids := func(ts []ledger.Transfer) []uint64 {
		out := []uint64{}
		for _, x := range ts {
			out = append(out, x.ID.Lo)
		}
		return out
	}
	cases := []struct {
		name string
		id   uint64
		f    Filter
		want []uint64
	}{
		{"all of 1", 1, Filter{}, []uint64{10, 12, 13}},
		{"reversed", 1, Filter{Reversed: true}, []uint64{13, 12, 10}},
		{"limit oldest", 1, Filter{Limit: 2}, []uint64{10, 12}},
		{"limit newest", 1, Filter{Limit: 2, Reversed: true}, []uint64{13, 12}},
		{"credits of 2", 2, Filter{Credits: true}, []uint64{10}},
		{"debits of 2", 2, Filter{Debits: true}, []uint64{11}},
		{"time window", 1, Filter{TimestampMin: 3 * second, TimestampMax: 3*second + 5}, []uint64{12}},
		{"unknown account", 99, Filter{}, []uint64{}},
	}
	for _, c := range cases {
		got, err := s.AccountTransfers(ledger.U128(c.id), c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if g := ids(got); !equalU64(g, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, g, c.want)
		}
	}
	if _, err := s.AccountTransfers(ledger.U128(1), Filter{Limit: MaxQueryLimit + 1}); !errors.Is(err, ErrBadFilter) {
		t.Errorf("limit too big: err %v, want ErrBadFilter", err)
	}
	if _, err := s.AccountTransfers(ledger.U128(1), Filter{TimestampMin: 5, TimestampMax: 4}); !errors.Is(err, ErrBadFilter) {
		t.Errorf("min after max: err %v, want ErrBadFilter", err)
	}
}

func TestBalancesOfHistoryAccount(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	history(t, s)
	bs, err := s.AccountBalances(ledger.U128(2), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []ledger.Balance{
		{Timestamp: 2 * second, CreditsPosted: 100},
		{Timestamp: 3 * second, DebitsPosted: 30, CreditsPosted: 100},
	}
	if len(bs) != len(want) || bs[0] != want[0] || bs[1] != want[1] {
		t.Fatalf("balances %+v, want %+v", bs, want)
	}
	if bs, _ := s.AccountBalances(ledger.U128(1), Filter{}); len(bs) != 0 {
		t.Fatalf("account without history has balances %+v", bs)
	}
}

func TestRestartKeepsStateAndVersion(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	history(t, s)
	before, err := s.Digest()
	if err != nil {
		t.Fatal(err)
	}
	a1, _ := s.Account(ledger.U128(1))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	defer s.Close()
	if got := s.LastApplied(); got != 7 {
		t.Fatalf("last applied after restart %d, want 7", got)
	}
	after, _ := s.Digest()
	if before != after {
		t.Fatal("digest changed across restart")
	}
	if a, _ := s.Account(ledger.U128(1)); a != a1 {
		t.Fatalf("account 1 after restart %+v, want %+v", a, a1)
	}
	if p, ok := s.Pending(ledger.U128(12)); !ok || p.State != ledger.PendingPosted {
		t.Fatalf("pending 12 after restart %+v %v, want posted", p, ok)
	}
	// The engine resumes: idempotency survives, versions and timestamps go on.
	res := mustApply(t, s, transfersBatch(8, 1, xfer(10, 1, 2, 100), xfer(14, 1, 2, 1)))
	wantStatuses(t, res, uint32(ledger.TransferExists), 0)
	if res[1].Timestamp <= 4*second {
		t.Fatalf("timestamp after restart %d is not after the last one", res[1].Timestamp)
	}
	if err := s.Apply(transfersBatch(7, 1, xfer(15, 1, 2, 1)), make([]ledger.Result, 1)); !errors.Is(err, ledger.ErrVersionNotIncreasing) {
		t.Fatalf("old version after restart: %v", err)
	}
}

func TestRestartRestoresPendingExpiryAndFailedIDs(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustApply(t, s, accountsBatch(1, second, acct(1, 0), acct(2, 0)))
	p := xfer(5, 1, 2, 7)
	p.Flags, p.Timeout = ledger.TransferPending, 2
	res := mustApply(t, s, transfersBatch(2, 2*second, p, xfer(6, 1, 99, 1)))
	wantStatuses(t, res, 0, uint32(ledger.TransferCreditAccountNotFound))
	s.Close()

	s = openStore(t, dir)
	defer s.Close()
	if got := s.NextExpiry(); got != 2*second+2*second {
		t.Fatalf("next expiry after restart %d, want %d", got, 4*second)
	}
	res = mustApply(t, s, transfersBatch(3, 5*second, xfer(6, 1, 99, 1)))
	wantStatuses(t, res, uint32(ledger.TransferIDAlreadyFailed))
	if a, _ := s.Account(ledger.U128(1)); a.DebitsPending != 0 {
		t.Fatalf("expired reservation not released after restart: %+v", a)
	}
}

// A batch whose writes reached Badger but whose meta did not (a crash in
// the middle of persist) is invisible after restart, and re-applying it
// gives the same bytes as applying it once.
func TestTornBatchIsInvisibleAndReappliesIdentically(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	a := openStore(t, dirA)
	b := openStore(t, dirB)
	for _, s := range []*Store{a, b} {
		history(t, s)
	}
	next := transfersBatch(9, 9*second, xfer(20, 1, 2, 50), xfer(21, 3, 1, 2))
	mustApply(t, a, next)
	want, _ := a.Digest()
	a.Close()

	// Simulate the torn write on b: write everything but the meta.
	res := make([]ledger.Result, 2)
	eff, err := b.state.Apply(next, res)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.write(b.encode(eff, &arena{}, nil, false)); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b = openStore(t, dirB)
	defer b.Close()
	if got := b.LastApplied(); got != 7 {
		t.Fatalf("last applied %d after torn batch, want 7", got)
	}
	if acc, _ := b.Account(ledger.U128(1)); acc.DebitsPosted != 104 {
		t.Fatalf("torn batch visible in memory: %+v", acc)
	}
	mustApply(t, b, transfersBatch(9, 9*second, xfer(20, 1, 2, 50), xfer(21, 3, 1, 2)))
	if got, _ := b.Digest(); got != want {
		t.Fatal("re-applied torn batch differs from a clean apply")
	}
}

func TestSnapshotRestore(t *testing.T) {
	src := openStore(t, t.TempDir())
	defer src.Close()
	history(t, src)
	var buf bytes.Buffer
	v, err := src.Snapshot(&buf)
	if err != nil || v != 7 {
		t.Fatalf("snapshot: version %d err %v", v, err)
	}
	dst := openStore(t, t.TempDir())
	defer dst.Close()
	mustApply(t, dst, accountsBatch(1, 1, acct(77, 0))) // replaced by the restore
	if err := dst.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if dst.LastApplied() != 7 {
		t.Fatalf("restored version %d", dst.LastApplied())
	}
	d1, _ := src.Digest()
	d2, _ := dst.Digest()
	if d1 != d2 {
		t.Fatal("restored store differs from its source")
	}
	if _, ok := dst.Account(ledger.U128(77)); ok {
		t.Fatal("restore kept an account the snapshot does not have")
	}
	old, ok, _ := dst.AccountAt(ledger.U128(1), 3)
	if !ok || old.DebitsPosted != 100 {
		t.Fatalf("history lost in restore: %+v", old)
	}
	mustApply(t, src, transfersBatch(8, 0, xfer(30, 1, 2, 1)))
	mustApply(t, dst, transfersBatch(8, 0, xfer(30, 1, 2, 1)))
	d1, _ = src.Digest()
	d2, _ = dst.Digest()
	if d1 != d2 {
		t.Fatal("source and restored store diverge on the same next batch")
	}
}

func TestSnapshotOfEmptyStore(t *testing.T) {
	empty := openStore(t, t.TempDir())
	defer empty.Close()
	var buf bytes.Buffer
	if v, err := empty.Snapshot(&buf); err != nil || v != 0 {
		t.Fatalf("snapshot of an empty store: version %d, err %v", v, err)
	}
	dst := openStore(t, t.TempDir())
	defer dst.Close()
	history(t, dst)
	if err := dst.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if dst.LastApplied() != 0 {
		t.Fatalf("restoring an empty snapshot left version %d", dst.LastApplied())
	}
	if _, ok := dst.Account(ledger.U128(1)); ok {
		t.Fatal("restoring an empty snapshot kept accounts")
	}
}

func TestRejectedBatchChangesNothing(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	history(t, s)
	before, _ := s.Digest()
	err := s.Apply(transfersBatch(7, 0, xfer(40, 1, 2, 1)), make([]ledger.Result, 1))
	if !errors.Is(err, ledger.ErrVersionNotIncreasing) {
		t.Fatalf("err %v", err)
	}
	if err := s.Apply(transfersBatch(8, 0, make([]ledger.Transfer, ledger.MaxBatchEvents+1)...), make([]ledger.Result, ledger.MaxBatchEvents+1)); !errors.Is(err, ledger.ErrBatchTooBig) {
		t.Fatalf("err %v", err)
	}
	after, _ := s.Digest()
	if before != after || s.LastApplied() != 7 {
		t.Fatal("a rejected batch changed the store")
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
