package chain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var testKey = [32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}

type memBook struct {
	entries map[uint64]Block // last block recorded per position
	fail    error
}

func (m *memBook) record(_ context.Context, b Block) error {
	if m.fail != nil {
		return m.fail
	}
	if m.entries == nil {
		m.entries = map[uint64]Block{}
	}
	m.entries[b.Index] = b
	return nil
}

func (m *memBook) rebuild(_ context.Context, i uint64, _ *Block) (Draft, error) {
	b, ok := m.entries[i]
	if !ok {
		return Draft{}, fmt.Errorf("%w: block %d not in book", ErrLost, i)
	}
	return b.Draft, nil
}

func openTest(t *testing.T, dir string, book *memBook) (*Chain, Recovery) {
	t.Helper()
	c, rec, err := Open(dir, Options{HashKey: testKey, Record: book.record})
	if err != nil {
		t.Fatalf("open chain: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, rec
}

func draft(i int) Draft {
	d := Draft{
		Kind: KindRegister, Time: time.Unix(1700000000+int64(i), 123).UTC(),
		Cluster: "cluster-a", User: fmt.Sprintf("user%d", i%3), Name: fmt.Sprintf("item %d ✓", i),
		Payload: bytes.Repeat([]byte{byte(i)}, 40+i%50),
	}
	d.Item[0], d.Item[1] = byte(i), byte(i>>8)
	d.Item[15] = 0xAA
	d.Op[0], d.Op[1], d.Op[15] = byte(i), byte(i>>8), 0x55
	d.FileID = FileID{byte(i), 1, 2, 3}
	return d
}

func appendN(t *testing.T, c *Chain, from, n int) []Block {
	t.Helper()
	var out []Block
	for i := from; i < from+n; i++ {
		b, err := c.Append(context.Background(), draft(i))
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		out = append(out, b)
	}
	return out
}

func mustVerify(t *testing.T, c *Chain) Report {
	t.Helper()
	r, err := c.Verify(context.Background())
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return r
}

func TestAppendReopenLookup(t *testing.T) {
	dir := t.TempDir()
	book := &memBook{}
	c, _ := openTest(t, dir, book)
	blocks := appendN(t, c, 1, 5)
	for i, b := range blocks {
		if b.Index != uint64(i+1) || b.Parent != uint64(i) {
			t.Fatalf("block %d: index %d parent %d", i, b.Index, b.Parent)
		}
	}
	if r := mustVerify(t, c); !r.OK() || r.Blocks != 6 || r.Valid != 5 {
		t.Fatalf("verify: %+v", r)
	}
	c.Close()
	c, rec := openTest(t, dir, book)
	if rec.TornBytes != 0 || c.Len() != 6 {
		t.Fatalf("reopen: %+v len %d", rec, c.Len())
	}
	for i := 1; i <= 5; i++ {
		d := draft(i)
		b, err := c.Latest(d.Item)
		if err != nil || b.Index != uint64(i) || b.Name != d.Name || !bytes.Equal(b.Payload, d.Payload) || !b.Time.Equal(d.Time) {
			t.Fatalf("latest %d: %+v %v", i, b, err)
		}
		if b.Valid != (i == 5) {
			t.Fatalf("block %d valid=%v; only the tail holds the flag", i, b.Valid)
		}
		if ob, err := c.ByOp(d.Op); err != nil || ob.Index != uint64(i) {
			t.Fatalf("by op %d: %v", i, err)
		}
	}
	// An ownership change is a new block; Latest follows it.
	d := draft(2)
	d.Kind, d.User, d.Op = KindTransfer, "bob", OpID{9}
	tb, err := c.Append(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Latest(d.Item); got.Index != tb.Index || got.User != "bob" {
		t.Fatalf("latest after transfer: %+v", got)
	}
	if old, _ := c.Block(5); old.Valid {
		t.Fatal("previous tail kept the valid flag")
	}
	if _, err := c.Latest(ItemID{0xFF}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown item: %v", err)
	}
}

func TestAppendLimits(t *testing.T) {
	c, _ := openTest(t, t.TempDir(), &memBook{})
	bad := []func(*Draft){
		func(d *Draft) { d.Name = string(bytes.Repeat([]byte("n"), MaxNameLen+1)) },
		func(d *Draft) { d.Cluster = string(bytes.Repeat([]byte("c"), MaxClusterLen+1)) },
		func(d *Draft) { d.User = string(bytes.Repeat([]byte("u"), MaxUserLen+1)) },
		func(d *Draft) { d.Payload = make([]byte, MaxPayloadLen+1) },
		func(d *Draft) { d.Name = "\xff\xfe" },
		func(d *Draft) { d.Kind = KindGenesis },
		func(d *Draft) { d.Kind = 99 },
		func(d *Draft) { d.Time = time.Time{} },
		func(d *Draft) { d.Item = ItemID{} },
	}
	for i, mut := range bad {
		d := draft(1)
		mut(&d)
		if _, err := c.Append(context.Background(), d); !errors.Is(err, ErrInvalid) {
			t.Errorf("case %d: got %v, want ErrInvalid", i, err)
		}
	}
	if c.Len() != 1 {
		t.Fatalf("rejected drafts changed the chain: len %d", c.Len())
	}
}

func TestBookFailureWritesNothing(t *testing.T) {
	book := &memBook{}
	c, _ := openTest(t, t.TempDir(), book)
	book.fail = errors.New("book down")
	if _, err := c.Append(context.Background(), draft(1)); err == nil {
		t.Fatal("append succeeded without the account book")
	}
	if c.Len() != 1 {
		t.Fatalf("len %d after failed append", c.Len())
	}
	book.fail = nil
	appendN(t, c, 1, 1)
	if r := mustVerify(t, c); !r.OK() {
		t.Fatalf("verify: %v", r.FirstBad)
	}
}

func TestTornTail(t *testing.T) {
	for _, tc := range []struct {
		name string
		tail []byte
	}{
		{"partial record", []byte("half a block")},
		{"zero record", make([]byte, RecordSize)},
		{"zero record and a partial one", make([]byte, RecordSize+77)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			book := &memBook{}
			c, _ := openTest(t, dir, book)
			appendN(t, c, 1, 3)
			c.Close()
			f, err := os.OpenFile(filepath.Join(dir, BlocksFile), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(tc.tail)
			f.Close()
			c, rec := openTest(t, dir, book)
			if rec.TornBytes != int64(len(tc.tail)) {
				t.Fatalf("torn bytes %d, want %d", rec.TornBytes, len(tc.tail))
			}
			if c.Len() != 4 {
				t.Fatalf("len %d, want 4", c.Len())
			}
			if r := mustVerify(t, c); !r.OK() {
				t.Fatalf("verify after torn tail: %v", r.FirstBad)
			}
			appendN(t, c, 4, 1)
			if r := mustVerify(t, c); !r.OK() || r.Blocks != 5 {
				t.Fatalf("verify after append: %+v", r)
			}
		})
	}
}

// TestTamperEveryByte changes every byte of every block on disk, one at a
// time, and checks Verify names exactly that block.
func TestTamperEveryByte(t *testing.T) {
	dir := t.TempDir()
	c, _ := openTest(t, dir, &memBook{})
	appendN(t, c, 1, 3)
	path := filepath.Join(dir, BlocksFile)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	one := make([]byte, 1)
	for blk := int64(0); blk < int64(c.Len()); blk++ {
		for off := int64(0); off < RecordSize; off++ {
			pos := blk*RecordSize + off
			f.ReadAt(one, pos)
			orig := one[0]
			for _, flip := range []byte{0x01, 0x80} {
				f.WriteAt([]byte{orig ^ flip}, pos)
				r := mustVerify(t, c)
				if r.FirstBad == nil || r.FirstBad.Index != uint64(blk) || r.FirstUnfrozenBad == nil {
					t.Fatalf("byte %d of block %d flipped by %#x: verify says %v", off, blk, flip, r.FirstBad)
				}
				if _, err := c.Block(uint64(blk)); !errors.Is(err, ErrTampered) {
					t.Fatalf("byte %d of block %d: Block() = %v, want ErrTampered", off, blk, err)
				}
			}
			f.WriteAt([]byte{orig}, pos)
		}
	}
	if r := mustVerify(t, c); !r.OK() {
		t.Fatalf("restored chain fails: %v", r.FirstBad)
	}
}

// TestRecordSwapDetected replaces a block with a valid-looking copy of
// another position's block: the position check catches it.
func TestRecordSwapDetected(t *testing.T) {
	dir := t.TempDir()
	c, _ := openTest(t, dir, &memBook{})
	appendN(t, c, 1, 3)
	path := filepath.Join(dir, BlocksFile)
	raw, _ := os.ReadFile(path)
	copy(raw[2*RecordSize:3*RecordSize], raw[1*RecordSize:2*RecordSize])
	os.WriteFile(path, raw, 0o600)
	r := mustVerify(t, c)
	if r.FirstBad == nil || r.FirstBad.Index != 2 {
		t.Fatalf("swap not named: %v", r.FirstBad)
	}
}

func TestFreezeBranchRepair(t *testing.T) {
	dir := t.TempDir()
	book := &memBook{}
	c, _ := openTest(t, dir, book)
	appendN(t, c, 1, 6) // blocks 1..6
	// Tamper block 3's name on disk (content, not hash).
	path := filepath.Join(dir, BlocksFile)
	f, _ := os.OpenFile(path, os.O_RDWR, 0)
	f.WriteAt([]byte("X"), 3*RecordSize+offName+1)
	f.Close()
	r := mustVerify(t, c)
	if r.FirstUnfrozenBad == nil || r.FirstUnfrozenBad.Index != 3 {
		t.Fatalf("tamper not found: %+v", r)
	}
	fr, err := c.Freeze(3)
	if err != nil || fr != (Range{3, 7}) {
		t.Fatalf("freeze: %v %v", fr, err)
	}
	if v, ok := c.Valid(); !ok || v != 2 {
		t.Fatalf("valid after freeze: %d %v", v, ok)
	}
	// Freezing what is frozen changes nothing.
	if fr, err := c.Freeze(5); err != nil || len(c.Frozen()) != 1 || fr != (Range{5, 7}) {
		t.Fatalf("second freeze: %v %v %v", fr, err, c.Frozen())
	}
	r = mustVerify(t, c)
	if r.FirstBad == nil || !r.FirstBad.Frozen || r.FirstUnfrozenBad != nil || r.Frozen != 4 {
		t.Fatalf("verify after freeze: %+v", r)
	}
	// Registrations during the freeze branch from block 2.
	br := appendN(t, c, 7, 2)
	if br[0].Parent != 2 || br[0].Index != 7 || br[1].Parent != 7 {
		t.Fatalf("branch blocks: %+v / %+v", br[0], br[1])
	}
	if r := mustVerify(t, c); r.FirstUnfrozenBad != nil {
		t.Fatalf("branch fails verify: %v", r.FirstUnfrozenBad)
	}
	// A frozen item's latest block reports Frozen.
	if b, _ := c.Latest(draft(4).Item); !b.Frozen {
		t.Fatal("block 4 not reported frozen")
	}
	// Reopening keeps the freeze.
	c.Close()
	c, _ = openTest(t, dir, book)
	if got := c.Frozen(); len(got) != 1 || got[0] != (Range{3, 7}) {
		t.Fatalf("frozen after reopen: %v", got)
	}
	res, err := c.Repair(context.Background(), book.rebuild)
	if err != nil {
		t.Fatalf("repair: %v", err)
	}
	if res.From != 3 || len(res.Rebuilt) != 4 || len(res.Relinked) != 2 || len(res.Lost) != 0 || res.Evidence == "" {
		t.Fatalf("repair result: %+v", res)
	}
	if r := mustVerify(t, c); !r.OK() || r.Frozen != 0 || r.Valid != 8 {
		t.Fatalf("verify after repair: %+v", r)
	}
	for i := 1; i <= 8; i++ {
		b, err := c.Latest(draft(i).Item)
		if err != nil || b.Index != uint64(i) || b.Parent != uint64(i-1) || b.Name != draft(i).Name {
			t.Fatalf("item %d after repair: %+v %v", i, b, err)
		}
	}
	if _, err := os.Stat(res.Evidence); err != nil {
		t.Fatalf("evidence: %v", err)
	}
	c.Close()
	c, rec := openTest(t, dir, book)
	if len(c.Frozen()) != 0 || rec.StaleFreezes != 0 {
		t.Fatalf("after reopen: frozen %v, %+v", c.Frozen(), rec)
	}
	if r := mustVerify(t, c); !r.OK() {
		t.Fatalf("verify after reopen: %v", r.FirstBad)
	}
}

func TestFreezeGenesisBranchRoot(t *testing.T) {
	dir := t.TempDir()
	book := &memBook{}
	c, _ := openTest(t, dir, book)
	appendN(t, c, 1, 2)
	f, _ := os.OpenFile(filepath.Join(dir, BlocksFile), os.O_RDWR, 0)
	f.WriteAt([]byte{0x77}, offNonce)
	f.Close()
	r := mustVerify(t, c)
	if r.FirstUnfrozenBad == nil || r.FirstUnfrozenBad.Index != 0 {
		t.Fatalf("genesis tamper: %+v", r)
	}
	if _, err := c.Freeze(0); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Valid(); ok {
		t.Fatal("a valid block while everything is frozen")
	}
	b := appendN(t, c, 3, 1)[0]
	if b.Parent != NoBlock || !b.Prev.IsZero() {
		t.Fatalf("branch root: %+v", b)
	}
	if r := mustVerify(t, c); r.FirstUnfrozenBad != nil {
		t.Fatalf("branch root fails verify: %v", r.FirstUnfrozenBad)
	}
	res, err := c.Repair(context.Background(), book.rebuild)
	if err != nil || len(res.Lost) != 0 || len(res.Rebuilt) != 3 || len(res.Relinked) != 1 {
		t.Fatalf("repair: %+v %v", res, err)
	}
	if r := mustVerify(t, c); !r.OK() {
		t.Fatalf("verify: %v", r.FirstBad)
	}
	if g, _ := c.Block(0); g.Kind != KindGenesis {
		t.Fatalf("block 0 is %s", g.Kind)
	}
}

func TestRepairLostBlockBecomesVoid(t *testing.T) {
	dir := t.TempDir()
	book := &memBook{}
	c, _ := openTest(t, dir, book)
	appendN(t, c, 1, 3)
	f, _ := os.OpenFile(filepath.Join(dir, BlocksFile), os.O_RDWR, 0)
	f.WriteAt([]byte{0x42}, 2*RecordSize+offItem)
	f.Close()
	delete(book.entries, 2)
	c.Freeze(2)
	res, err := c.Repair(context.Background(), book.rebuild)
	if err != nil || len(res.Lost) != 1 || res.Lost[0].Index != 2 {
		t.Fatalf("repair: %+v %v", res, err)
	}
	if b, _ := c.Block(2); b.Kind != KindVoid {
		t.Fatalf("block 2 is %s, want void", b.Kind)
	}
	if r := mustVerify(t, c); !r.OK() {
		t.Fatalf("verify: %v", r.FirstBad)
	}
	if _, err := c.Latest(draft(3).Item); err != nil {
		t.Fatalf("item 3 lost: %v", err)
	}
}

func TestRepairRefusesUnfrozenTamper(t *testing.T) {
	dir := t.TempDir()
	book := &memBook{}
	c, _ := openTest(t, dir, book)
	appendN(t, c, 1, 2)
	c.Freeze(2)
	appendN(t, c, 3, 1) // branch block 3
	f, _ := os.OpenFile(filepath.Join(dir, BlocksFile), os.O_RDWR, 0)
	f.WriteAt([]byte{0x42}, 3*RecordSize+offName+2)
	f.Close()
	if _, err := c.Repair(context.Background(), book.rebuild); !errors.Is(err, ErrLiveTampered) {
		t.Fatalf("repair over a tampered branch block: %v", err)
	}
	if len(c.Frozen()) != 1 {
		t.Fatal("failed repair changed the freeze")
	}
}

// TestStaleFreezeIgnored: a frozen range pins the bytes it froze; when the
// block at its start changes (Repair rewrote it, then crashed before
// clearing the flags), the range no longer applies.
func TestStaleFreezeIgnored(t *testing.T) {
	dir := t.TempDir()
	book := &memBook{}
	c, _ := openTest(t, dir, book)
	appendN(t, c, 1, 3)
	c.Freeze(2)
	flags, _ := os.ReadFile(filepath.Join(dir, FlagsFile))
	if _, err := c.Repair(context.Background(), book.rebuild); err != nil {
		t.Fatal(err)
	}
	c.Close()
	os.WriteFile(filepath.Join(dir, FlagsFile), flags, 0o600) // the crash
	c, rec := openTest(t, dir, book)
	if rec.StaleFreezes != 1 || len(c.Frozen()) != 0 {
		t.Fatalf("stale freeze applied: %+v %v", rec, c.Frozen())
	}
}

func TestOwners(t *testing.T) {
	c, _ := openTest(t, t.TempDir(), &memBook{})
	appendN(t, c, 1, 4)
	seen := map[ItemID]Owner{}
	c.Owners(func(o Owner) bool { seen[o.Item] = o; return true })
	if len(seen) != 4 || seen[draft(2).Item].User != draft(2).User || seen[draft(2).Item].Cluster != "cluster-a" {
		t.Fatalf("owners: %+v", seen)
	}
}

func TestItemIDText(t *testing.T) {
	id, err := NewItemID(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseItemID(id.String())
	if err != nil || got != id {
		t.Fatalf("round trip: %v %v", got, err)
	}
	for _, bad := range []string{"", "zz", id.String() + "00", "g" + id.String()[1:]} {
		if _, err := ParseItemID(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseItemID(%q) = %v", bad, err)
		}
	}
}
