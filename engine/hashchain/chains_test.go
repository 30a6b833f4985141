package hashchain

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/conto-ledger/conto/engine/ledger"
	"pgregory.net/rapid"
)

func TestApplyDeterministic(t *testing.T) {
	inputs := history(1, 30, 6, 40, SHA256, SHA256, BLAKE2b256)
	a, ca := run(t, inputs)
	b, cb := run(t, inputs)
	for i := range a {
		if err := CompareBlocks(a[i], b[i]); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a[i].AppendEncode(nil), b[i].AppendEncode(nil)) {
			t.Fatalf("block %d encodes differently", i)
		}
		if i > 0 && a[i].Prev != a[i-1].System {
			t.Fatalf("block %d does not chain to block %d", i, i-1)
		}
		if a[i].Root != MerkleRoot(a[i].Alg, a[i].Leaves()) || a[i].System != SystemHash(a[i].Alg, a[i].Prev, a[i].Version, a[i].Time, a[i].Root) {
			t.Fatalf("block %d: root or system hash not as documented", i)
		}
	}
	ha, oa, va, sa := state(ca)
	hb, ob, vb, sb := state(cb)
	if !maps.Equal(ha, hb) || !slices.Equal(oa, ob) || va != vb || sa != sb {
		t.Fatal("chains differ after the same history")
	}
	if a[0].Prev != (Hash{}) {
		t.Fatal("first block's prev is not zero")
	}
}

// mutation changes one thing in a history's batch b and says what
// CompareBlocks must then name.
type mutation struct {
	name string
	// apply mutates in and returns the expected What (exact, or a prefix
	// when it ends with "*").
	apply func(t *rapid.T, in *BatchInput) string
}

var mutations = []mutation{
	{"transfer record byte", func(t *rapid.T, in *BatchInput) string {
		i := drawEvent(t, in, EventTransfer)
		ev := &in.Events[i]
		off := int(ev.Slot)*ledger.RecordSize + rapid.IntRange(0, ledger.RecordSize-1).Draw(t, "byte")
		in.Records[off] ^= 1 << rapid.IntRange(0, 7).Draw(t, "bit")
		return eventName(i, ev) + ": intermediate hash"
	}},
	{"account record byte", func(t *rapid.T, in *BatchInput) string {
		i := rapid.IntRange(0, len(in.Accounts)-1).Draw(t, "account")
		// Bytes [0,16) are the id: changing it orphans the account's
		// events, which Apply rejects (TestApplyRejectsInconsistentInput).
		in.Accounts[i][rapid.IntRange(16, ledger.RecordSize-1).Draw(t, "byte")] ^= 0x80
		return fmt.Sprintf("genesis entry %d (id %v): hash", i, getU128(in.Accounts[i]))
	}},
	// A party's balances (flags included) enter its commitment, so m
	// changes, and CompareBlocks names m before the balances.
	{"balance", func(t *rapid.T, in *BatchInput) string {
		i := rapid.IntRange(0, len(in.Events)-1).Draw(t, "event")
		ev := &in.Events[i]
		b := &ev.Debit
		if rapid.Bool().Draw(t, "credit") {
			b = &ev.Credit
		}
		fields := []*uint64{&b.DebitsPending, &b.DebitsPosted, &b.CreditsPending, &b.CreditsPosted}
		*fields[rapid.IntRange(0, 3).Draw(t, "field")]++
		return eventName(i, ev) + ": intermediate hash"
	}},
	{"flags", func(t *rapid.T, in *BatchInput) string {
		i := rapid.IntRange(0, len(in.Events)-1).Draw(t, "event")
		ev := &in.Events[i]
		b := &ev.Debit
		if rapid.Bool().Draw(t, "credit") {
			b = &ev.Credit
		}
		b.Flags ^= 1 << rapid.IntRange(0, 15).Draw(t, "bit")
		return eventName(i, ev) + ": intermediate hash"
	}},
	{"event order", func(t *rapid.T, in *BatchInput) string {
		i := rapid.IntRange(0, len(in.Events)-2).Draw(t, "event")
		in.Events[i], in.Events[i+1] = in.Events[i+1], in.Events[i]
		// The stored block has the original event at i; the slots differ
		// or, for an expiry moved, the kind.
		return "*"
	}},
	{"deleted event", func(t *rapid.T, in *BatchInput) string {
		i := rapid.IntRange(0, len(in.Events)-1).Draw(t, "event")
		in.Events = slices.Delete(in.Events, i, i+1)
		if i == len(in.Events) {
			return "events: count"
		}
		return "*"
	}},
}

func drawEvent(t *rapid.T, in *BatchInput, kind uint8) int {
	var idx []int
	for i := range in.Events {
		if in.Events[i].Kind == kind {
			idx = append(idx, i)
		}
	}
	return rapid.SampledFrom(idx).Draw(t, "event")
}

// Changing any one byte of a record, any balance or flag, the order of
// events, or deleting an event gives a different block, and CompareBlocks
// names it; the blocks before are unchanged and the next one no longer
// chains.
func TestApplyDetectsTampering(t *testing.T) {
	inputs := history(2, 12, 4, 15, SHA256, BLAKE2b256)
	stored, _ := run(t, inputs)
	rapid.Check(t, func(rt *rapid.T) {
		m := rapid.SampledFrom(mutations).Draw(rt, "mutation")
		b := 0 // only the first batch creates accounts
		if m.name != "account record byte" {
			b = rapid.IntRange(0, len(inputs)-1).Draw(rt, "batch")
		}
		changed := slices.Clone(inputs)
		changed[b] = clone(inputs[b])
		want := m.apply(rt, changed[b])
		got, _ := run(rt, changed)
		for i := range b {
			if err := CompareBlocks(stored[i], got[i]); err != nil {
				rt.Fatalf("block %d before the change differs: %v", i, err)
			}
		}
		var mm *Mismatch
		if err := CompareBlocks(stored[b], got[b]); !errors.As(err, &mm) {
			rt.Fatalf("%s: CompareBlocks = %v, want a *Mismatch", m.name, err)
		}
		if mm.Version != inputs[b].Version {
			rt.Fatalf("mismatch names version %d, want %d", mm.Version, inputs[b].Version)
		}
		if prefix, ok := strings.CutSuffix(want, "*"); !ok && mm.What != want || ok && !strings.HasPrefix(mm.What, prefix) {
			rt.Fatalf("%s: CompareBlocks names %q, want %q", m.name, mm.What, want)
		}
		if mm.Want == mm.Got {
			rt.Fatalf("mismatch with equal values: %v", mm)
		}
		// Every change, balances and flags included, reaches m, so the
		// root and the system hash: the next block's link breaks.
		if b+1 < len(got) {
			if err := CompareBlocks(stored[b+1], got[b+1]); err == nil || !strings.Contains(err.Error(), "prev system hash") {
				rt.Fatalf("next block after the change: %v, want a prev system hash mismatch", err)
			}
		}
	})
}

func TestCompareBlocksOrder(t *testing.T) {
	stored, _ := run(t, history(3, 5, 2, 6, SHA256))
	blk := stored[1]
	ev3 := eventName(3, &blk.Events[3])
	if blk.Events[3].Link != nil {
		t.Fatal("event 3 has a link: the cases below add one")
	}
	for _, tc := range []struct {
		what string
		mut  func(b *Block)
	}{
		{"header: alg", func(b *Block) { b.Alg = BLAKE2b256; b.Root[0]++ }},
		{"header: version", func(b *Block) { b.Version++ }},
		{"header: time", func(b *Block) { b.Time++ }},
		{"header: stamp", func(b *Block) { b.Stamp.Nonce[0]++ }},
		{"header: prev system hash", func(b *Block) { b.Prev[0]++ }},
		{"genesis entries: count", func(b *Block) { b.Genesis = append(b.Genesis, GenesisEntry{}) }},
		{"events: count", func(b *Block) { b.Events = b.Events[:len(b.Events)-1] }},
		{"root", func(b *Block) { b.Root[5]++; b.System[0]++ }},
		{"system hash", func(b *Block) { b.System[31]++ }},
		{eventName(2, &blk.Events[2]) + ": link", func(b *Block) { b.Events[2].Link = &Link{} }},
		{"transfer slot 0 (id " + blk.Events[0].ID.String() + "): kind", func(b *Block) { b.Events[0].Kind = EventTransfer }},
		// Within an event: the heads before, then the link, m, balances.
		{ev3 + ": debit head before", func(b *Block) { b.Events[3].DebitPrev[31] ^= 1; b.Events[3].Link = &Link{} }},
		{ev3 + ": debit head before", func(b *Block) { b.Events[3].DebitPrevAlg = BLAKE2b256; b.Events[3].CreditPrev[0]++ }},
		{ev3 + ": credit head before", func(b *Block) { b.Events[3].CreditPrev[0] ^= 0x80; b.Events[3].Link = &Link{} }},
		{ev3 + ": credit head before", func(b *Block) { b.Events[3].CreditPrevAlg = 0 }},
		{ev3 + ": link", func(b *Block) { b.Events[3].Link = &Link{}; b.Events[3].M[0]++ }},
		{ev3 + ": intermediate hash", func(b *Block) { b.Events[3].M[0]++; b.Events[3].Debit.DebitsPosted++ }},
		{ev3 + ": debit balances", func(b *Block) { b.Events[3].Debit.Flags ^= 0x100; b.Events[3].Credit.Flags++ }},
		{ev3 + ": credit balances", func(b *Block) { b.Events[3].Credit.Flags ^= 1 }},
		{ev3 + ": credit balances", func(b *Block) { b.Events[3].Credit.CreditsPending++ }},
	} {
		b := *blk
		b.Genesis = slices.Clone(blk.Genesis)
		b.Events = slices.Clone(blk.Events)
		tc.mut(&b)
		var mm *Mismatch
		if err := CompareBlocks(&b, blk); !errors.As(err, &mm) || mm.What != tc.what || mm.Want == mm.Got {
			t.Errorf("CompareBlocks = %v, want %q", err, tc.what)
		}
	}
	if err := CompareBlocks(blk, nil); err == nil {
		t.Error("CompareBlocks with nil succeeded")
	}
	if err := CompareBlocks(blk, blk); err != nil {
		t.Error(err)
	}
}

func TestApplyRejectsInconsistentInput(t *testing.T) {
	base := history(4, 6, 2, 8, SHA256)
	cases := map[string]func(in *BatchInput){
		"unknown alg":             func(in *BatchInput) { in.Alg = 0 },
		"old version":             func(in *BatchInput) { in.Version = base[0].Version },
		"short transfer block":    func(in *BatchInput) { in.Records = in.Records[:len(in.Records)-1] },
		"short account record":    func(in *BatchInput) { in.Accounts = append(in.Accounts, make([]byte, 100)) },
		"unknown kind":            func(in *BatchInput) { in.Events[3].Kind = 3 },
		"slot out of range":       func(in *BatchInput) { in.Events[3].Slot = 8 },
		"slot twice":              func(in *BatchInput) { in.Events[4].Slot = in.Events[3].Slot },
		"expiry with a slot":      func(in *BatchInput) { in.Events[0].Slot = 1 },
		"same account both sides": func(in *BatchInput) { in.Events[2].CreditID = in.Events[2].DebitID },
		"account without chain":   func(in *BatchInput) { in.Events[5].DebitID = ledger.U128(1) },
		"account created twice":   func(in *BatchInput) { in.Accounts = append(in.Accounts, base[0].Accounts[2]) },
		"duplicate in one batch": func(in *BatchInput) {
			a := slices.Clone(base[0].Accounts[0])
			a[0] ^= 0x55
			in.Accounts = append(in.Accounts, a, a)
		},
		// Genesis heads are added before the parties are checked: they
		// must be taken back.
		"new account, then an orphan event": func(in *BatchInput) {
			a := slices.Clone(base[0].Accounts[0])
			a[0] ^= 0x55
			in.Accounts = append(in.Accounts, a)
			in.Events[len(in.Events)-1].CreditID = ledger.U128(1)
		},
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			_, c := run(t, base[:1])
			heads, order, v, s := state(c)
			in := clone(base[1])
			mut(in)
			events := slices.Clone(in.Events)
			blk, err := c.Apply(in)
			if err == nil || blk != nil || !errors.Is(err, ErrInput) {
				t.Fatalf("Apply = %v, %v; want an ErrInput", blk, err)
			}
			h2, o2, v2, s2 := state(c)
			if !maps.Equal(heads, h2) || !slices.Equal(order, o2) || v != v2 || s != s2 {
				t.Fatal("failed Apply changed the chains")
			}
			if !slices.EqualFunc(events, in.Events, func(a, b Event) bool {
				return a.M == b.M && a.DebitPrev == b.DebitPrev && a.CreditPrev == b.CreditPrev &&
					a.DebitPrevAlg == b.DebitPrevAlg && a.CreditPrevAlg == b.CreditPrevAlg
			}) {
				t.Fatal("failed Apply filled in M or the heads before")
			}
			// And the chains still take the right batch.
			if _, err := c.Apply(clone(base[1])); err != nil {
				t.Fatalf("after the failure, the good batch fails: %v", err)
			}
		})
	}
}

// A node restored from stored heads and system hash carries on exactly as
// the node that never stopped.
func TestRestoreCarriesOn(t *testing.T) {
	inputs := history(5, 20, 5, 20, SHA256, BLAKE2b256)
	want, _ := run(t, inputs)
	_, mid := run(t, inputs[:3])
	c := NewChains(1)
	for id, h := range mid.All() {
		c.SetHead(id, h)
	}
	c.SetSystem(mid.System())
	if c.Len() != mid.Len() {
		t.Fatalf("restored %d chains of %d", c.Len(), mid.Len())
	}
	for i := 3; i < len(inputs); i++ {
		got, err := c.Apply(clone(inputs[i]))
		if err != nil {
			t.Fatal(err)
		}
		if err := CompareBlocks(want[i], got); err != nil {
			t.Fatal(err)
		}
	}
	// SetHead on an existing chain replaces its head.
	id := getU128(inputs[0].Accounts[0])
	c.SetHead(id, Head{Hash: patHash(1), Alg: SHA256})
	if h, ok := c.Head(id); !ok || h.Hash != patHash(1) || c.Len() != mid.Len() {
		t.Fatal("SetHead on an existing chain")
	}
	if _, ok := c.Head(ledger.U128(1)); ok {
		t.Fatal("Head of an unknown account")
	}
}

// collect applies inputs with ApplyRecords and returns every account's
// records (deep enough copies) and the blocks.
func collect(t fataler, inputs []*BatchInput) (map[ledger.Uint128][]AccountRecord, []*Block, *Chains) {
	t.Helper()
	c := NewChains(1)
	recs := map[ledger.Uint128][]AccountRecord{}
	var blocks []*Block
	for _, in := range inputs {
		b, err := c.ApplyRecords(clone(in), func(id ledger.Uint128, r *AccountRecord) {
			recs[id] = append(recs[id], *r)
		})
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b)
	}
	return recs, blocks, c
}

func TestApplyRecordsIsApply(t *testing.T) {
	inputs := history(6, 10, 4, 12, BLAKE2b256, SHA256)
	plain, cp := run(t, inputs)
	recs, withRecs, cr := collect(t, inputs)
	for i := range plain {
		if err := CompareBlocks(plain[i], withRecs[i]); err != nil {
			t.Fatal(err)
		}
	}
	for id, rs := range recs {
		if err := VerifyAccountRecords(id, Head{}, rs); err != nil {
			t.Fatal(err)
		}
		h, _ := cp.Head(id)
		h2, _ := cr.Head(id)
		if last := rs[len(rs)-1]; last.Head != h.Hash || last.Alg != h.Alg || h != h2 {
			t.Fatalf("account %v: last record's head is not the chain's head", id)
		}
	}
}

func TestMigration(t *testing.T) {
	inputs := history(7, 8, 4, 10, SHA256, SHA256, BLAKE2b256, BLAKE2b256)
	recs, blocks, c := collect(t, inputs)
	migrated := 0
	for id, rs := range recs {
		if err := VerifyAccountRecords(id, Head{}, rs); err != nil {
			t.Fatal(err)
		}
		n := 0
		for i, r := range rs {
			if r.Kind == RecordMigration {
				n++
				// A chain migrates at its first event in a BLAKE2b batch.
				if r.Version < inputs[2].Version || rs[i-1].Alg != SHA256 || r.Alg != BLAKE2b256 {
					t.Fatalf("account %v: migration record %+v", id, r)
				}
			}
		}
		if n > 1 {
			t.Fatalf("account %v migrated %d times", id, n)
		}
		migrated += n
		if h, _ := c.Head(id); h.Alg != BLAKE2b256 && n == 1 {
			t.Fatalf("account %v migrated but its head is %v", id, h.Alg)
		}
	}
	if migrated == 0 {
		t.Fatal("no chain migrated")
	}
	// Batch 3 mixes algorithms: some parties of its later events had
	// already migrated in it (BLAKE2b heads), others still had SHA-256 heads.
	seen := map[ledger.Uint128]bool{}
	mixed := false
	for _, ev := range blocks[2].Events {
		if seen[ev.DebitID] != seen[ev.CreditID] {
			mixed = true
		}
		seen[ev.DebitID], seen[ev.CreditID] = true, true
	}
	if !mixed {
		t.Fatal("the history has no event between a migrated and an unmigrated chain")
	}
	// Tampering with a migration is caught.
	for id, rs := range recs {
		i := slices.IndexFunc(rs, func(r AccountRecord) bool { return r.Kind == RecordMigration })
		if i < 0 {
			continue
		}
		bad := slices.Clone(rs)
		bad[i].Version++
		expectMismatch(t, VerifyAccountRecords(id, Head{}, bad), "migration): head")
		bad = slices.Delete(slices.Clone(rs), i, i+1)
		expectMismatch(t, VerifyAccountRecords(id, Head{}, bad), ": prev")
		bad = slices.Clone(rs)
		bad[i].Alg = SHA256
		expectMismatch(t, VerifyAccountRecords(id, Head{}, bad), "migration): alg")
		break
	}
}

func expectMismatch(t *testing.T, err error, what string) {
	t.Helper()
	var mm *Mismatch
	if !errors.As(err, &mm) || !strings.Contains(mm.What, what) {
		t.Fatalf("got %v, want a mismatch in %q", err, what)
	}
}

func TestCorrectionLinkChangesM(t *testing.T) {
	in := history(8, 4, 1, 3, SHA256)[0]
	ms := map[string]Hash{}
	var unlinked Hash // event 0's m, the same whatever event 1 links
	for name, link := range map[string]*Link{
		"none":  nil,
		"link":  {ID: ledger.U128(5), M: patHash(1)},
		"id":    {ID: ledger.U128(6), M: patHash(1)},
		"m":     {ID: ledger.U128(5), M: patHash(2)},
		"zero":  {},
		"other": {ID: ledger.Uint128{Hi: 5}, M: patHash(1)},
	} {
		x := clone(in)
		x.Events[1].Link = link
		b, err := NewChains(1).Apply(x)
		if err != nil {
			t.Fatal(err)
		}
		for other, m := range ms {
			if m == b.Events[1].M {
				t.Errorf("links %s and %s give the same m", name, other)
			}
		}
		ms[name] = b.Events[1].M
		if unlinked.IsZero() {
			unlinked = b.Events[0].M
		} else if b.Events[0].M != unlinked {
			t.Fatal("a link on event 1 changed event 0's m")
		}
		back, err := DecodeBlock(b.AppendEncode(nil))
		if err != nil || CompareBlocks(b, back) != nil {
			t.Fatalf("link %s does not survive the codec: %v", name, err)
		}
	}
}

// A party sees its own salt and its counterparty's commitment only, and
// that is enough to recompute m and its head; an auditor with the batch
// nonce recomputes the salts and checks both sides; every m proves into the
// block's root, which the system hash and a checkpoint cover.
func TestCommitmentsAndPrivateView(t *testing.T) {
	inputs := history(9, 6, 3, 8, SHA256, BLAKE2b256)
	recs, blocks, _ := collect(t, inputs)
	byVersion := map[uint64]*Block{}
	for i, b := range blocks {
		byVersion[b.Version] = b
		byVersion[b.Version].Stamp = inputs[i].Stamp
	}
	key := testKey(9)
	checked := map[RecordKind]int{}
	for id, rs := range recs {
		private := slices.Clone(rs)
		for i := range private {
			private[i].CounterHead, private[i].CounterSalt, private[i].CounterBalances = Hash{}, Hash{}, Balances{}
		}
		if err := VerifyAccountRecords(id, Head{}, private); err != nil {
			t.Fatal(err)
		}
		for i, r := range rs {
			if r.Kind != RecordTransfer && r.Kind != RecordExpiry {
				continue
			}
			checked[r.Kind]++
			blk := byVersion[r.Version]
			// Salts use the transfer's slot, or 0xFFFFFFFF minus an
			// expiry's event index.
			at := slices.IndexFunc(blk.Events, func(ev Event) bool { return ev.M == r.M })
			if want := blk.Events[at].Slot; r.Kind == RecordExpiry && r.Slot != ^uint32(0)-uint32(at) ||
				r.Kind == RecordTransfer && r.Slot != want {
				t.Fatalf("account %v record %d: salt slot %d for event %d", id, i, r.Slot, at)
			}
			// The auditor's view: salts from the nonce, commitments opened.
			if r.Salt != Salt(r.Alg, blk.Stamp.Nonce, r.Version, r.Slot, r.Debit) ||
				r.CounterSalt != Salt(r.Alg, blk.Stamp.Nonce, r.Version, r.Slot, !r.Debit) ||
				r.Counter != Commitment(r.Alg, r.CounterHead, &r.CounterBalances, r.CounterSalt) {
				t.Fatalf("account %v record %d: salts or commitment do not recompute", id, i)
			}
			// The balances are the block's, for both sides.
			ev := &blk.Events[at]
			own, other := ev.Credit, ev.Debit
			if r.Debit {
				own, other = other, own
			}
			if r.Balances != own || r.CounterBalances != other {
				t.Fatalf("account %v record %d: balances %+v and %+v, the block has %+v and %+v",
					id, i, r.Balances, r.CounterBalances, own, other)
			}
			// The counterparty's record agrees: same m, its Prev is our
			// CounterHead, its balances our CounterBalances.
			cr := findRecord(recs[r.CounterID], r.Version, r.M)
			if cr == nil || cr.Prev != r.CounterHead || cr.Counter != Commitment(r.Alg, r.Prev, &r.Balances, r.Salt) ||
				cr.Balances != r.CounterBalances || cr.CounterBalances != r.Balances || cr.Debit == r.Debit {
				t.Fatalf("account %v record %d: counterparty record does not match", id, i)
			}
			// m is a leaf of the block, under its system hash.
			leaves := blk.Leaves()
			at = slices.Index(leaves, r.M)
			if !VerifyInclusion(blk.Alg, r.M, at, len(leaves), InclusionProof(blk.Alg, leaves, at), blk.Root) ||
				SystemHash(blk.Alg, blk.Prev, blk.Version, blk.Time, blk.Root) != blk.System {
				t.Fatalf("account %v record %d: m is not under the system hash", id, i)
			}
			cp := SignCheckpoint(key, 1, blk.Version, blk.Alg, blk.System, blk.Time)
			if cp.Verify() != nil {
				t.Fatal("checkpoint")
			}
		}
		// Tampering in the private view is caught.
		if i := slices.IndexFunc(private, func(r AccountRecord) bool { return r.Kind == RecordTransfer }); i >= 0 {
			bad := slices.Clone(private)
			bad[i].Counter[0] ^= 1
			expectMismatch(t, VerifyAccountRecords(id, Head{}, bad), "intermediate hash")
			bad = slices.Clone(private)
			bad[i].Salt[0] ^= 1
			expectMismatch(t, VerifyAccountRecords(id, Head{}, bad), "intermediate hash")
			bad = slices.Clone(private)
			bad[i].Record = slices.Clone(bad[i].Record)
			bad[i].Record[50] ^= 1
			expectMismatch(t, VerifyAccountRecords(id, Head{}, bad), "intermediate hash")
			// The own balances and flags are in the own commitment, so in m.
			bad = slices.Clone(private)
			bad[i].Balances.CreditsPosted++
			expectMismatch(t, VerifyAccountRecords(id, Head{}, bad), "intermediate hash")
			bad = slices.Clone(private)
			bad[i].Balances.Flags ^= uint16(ledger.AccountClosed)
			expectMismatch(t, VerifyAccountRecords(id, Head{}, bad), "intermediate hash")
			// Without the transfer's record m is not recomputed; the head
			// still covers the balances.
			bad = slices.Clone(private)
			bad[i].Record = nil
			if err := VerifyAccountRecords(id, Head{}, bad); err != nil {
				t.Fatal(err)
			}
			bad[i].Balances.Flags ^= 1
			expectMismatch(t, VerifyAccountRecords(id, Head{}, bad), ": head")
			public := slices.Clone(rs)
			public[i].CounterHead[0] ^= 1
			expectMismatch(t, VerifyAccountRecords(id, Head{}, public), "counterparty commitment")
			public = slices.Clone(rs)
			public[i].CounterBalances.Flags ^= 1 << 15
			expectMismatch(t, VerifyAccountRecords(id, Head{}, public), "counterparty commitment")
			public = slices.Clone(rs)
			public[i].CounterBalances.DebitsPending++
			expectMismatch(t, VerifyAccountRecords(id, Head{}, public), "counterparty commitment")
		}
	}
	if checked[RecordTransfer] == 0 || checked[RecordExpiry] == 0 {
		t.Fatalf("checked %v: want transfers and expiries", checked)
	}
}

func findRecord(rs []AccountRecord, version uint64, m Hash) *AccountRecord {
	for i := range rs {
		if rs[i].Version == version && rs[i].M == m {
			return &rs[i]
		}
	}
	return nil
}

func TestVerifyAccountRecordsStart(t *testing.T) {
	inputs := history(10, 4, 3, 6, SHA256)
	recs, _, _ := collect(t, inputs)
	for _, a := range inputs[0].Accounts {
		id := getU128(a)
		rs := recs[id]
		if len(rs) < 4 {
			continue
		}
		// From a trusted head in the middle.
		start := Head{Hash: rs[1].Head, Alg: rs[1].Alg}
		if err := VerifyAccountRecords(id, start, rs[2:]); err != nil {
			t.Fatal(err)
		}
		expectMismatch(t, VerifyAccountRecords(id, Head{}, rs[2:]), ": prev")
		expectMismatch(t, VerifyAccountRecords(id, start, rs[3:]), ": prev")
		expectMismatch(t, VerifyAccountRecords(id, start, rs), "genesis): kind")
		// Records of another account do not verify as this one's.
		for _, b := range inputs[0].Accounts {
			other := getU128(b)
			if ors := recs[other]; other != id && len(ors) > 1 && ors[1].Kind == RecordTransfer {
				expectMismatch(t, VerifyAccountRecords(id, Head{}, append([]AccountRecord{rs[0]}, ors[1:]...)), ": prev")
				break
			}
		}
		return
	}
	t.Fatal("no account with four records")
}

// Apply allocates per batch, never per event: the block and its genesis
// slice, and for a big batch the goroutines of the parallel waves (a few
// per wave, and waves shrink geometrically), whatever the batch's size.
func TestApplyAllocations(t *testing.T) {
	for _, tc := range []struct{ events, max int }{{100, 2}, {1000, 48}, {4000, 48}} {
		inputs := history(11, 50, 1, tc.events, SHA256)
		c := NewChains(1)
		if _, err := c.Apply(clone(inputs[0])); err != nil {
			t.Fatal(err)
		}
		in := clone(inputs[0])
		in.Accounts = nil
		allocs := testing.AllocsPerRun(5, func() {
			in.Version++
			if _, err := c.Apply(in); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > float64(tc.max) {
			t.Fatalf("Apply of %d events: %v allocations, want at most %d", len(in.Events), allocs, tc.max)
		}
	}
}

func TestRecordKindNames(t *testing.T) {
	for _, k := range []RecordKind{RecordGenesis, RecordTransfer, RecordExpiry, RecordMigration} {
		if got, err := ParseRecordKind(k.String()); err != nil || got != k {
			t.Errorf("ParseRecordKind(%q) = %v, %v", k.String(), got, err)
		}
	}
	if _, err := ParseRecordKind("kind(9)"); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "kind(9)") {
		t.Errorf("ParseRecordKind of an unknown kind: %v", err)
	}
	if RecordKind(EventTransfer) != RecordTransfer || RecordKind(EventExpiry) != RecordExpiry {
		t.Error("record kinds of events differ from the event kinds")
	}
}

// Big batches are hashed wave by wave on two goroutines; the blocks must be
// byte-identical to hashing event by event (ApplyRecords is serial), across
// migrations, expiries and links, with few and with many accounts.
func TestParallelApplyIsSerial(t *testing.T) {
	for _, accounts := range []int{12, 400, 5000} {
		inputs := history(uint64(accounts), accounts, 4, 3*parallelMin, SHA256, BLAKE2b256)
		plain, _ := run(t, inputs)
		_, serial, _ := collect(t, inputs)
		for i := range plain {
			if len(plain[i].Events) < parallelMin && i > 0 {
				t.Fatalf("batch %d has %d events: the parallel path is not exercised", i, len(plain[i].Events))
			}
			if err := CompareBlocks(serial[i], plain[i]); err != nil {
				t.Fatalf("%d accounts, batch %d: %v", accounts, i, err)
			}
			if !bytes.Equal(plain[i].AppendEncode(nil), serial[i].AppendEncode(nil)) {
				t.Fatalf("%d accounts, batch %d: encodings differ", accounts, i)
			}
		}
	}
}
