package hashchain

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/conto-ledger/conto/engine/ledger"
	"pgregory.net/rapid"
)

// drawHistory draws a random history: accounts, batches (each of a drawn
// algorithm, so chains migrate both ways), transfers per batch, and through
// the world, expiries, corrections (links) and accounts created in later
// batches.
func drawHistory(t *rapid.T) []*BatchInput {
	batches := rapid.IntRange(1, 6).Draw(t, "batches")
	algs := rapid.SliceOfN(rapid.SampledFrom([]Alg{SHA256, BLAKE2b256}), batches, batches).Draw(t, "algs")
	return history(rapid.Uint64().Draw(t, "seed"), rapid.IntRange(2, 8).Draw(t, "accounts"), batches,
		rapid.IntRange(0, 12).Draw(t, "per batch"), algs...)
}

// keep copies a record ApplyRecords reports, which it reuses and whose
// Record and Link point into the batch input.
func keep(r *AccountRecord) AccountRecord {
	c := *r
	c.Record = slices.Clone(r.Record)
	if r.Link != nil {
		l := *r.Link
		c.Link = &l
	}
	return c
}

// storedBatch is one batch as it was chained and as it is read back.
type storedBatch struct {
	in      *BatchInput                        // the input, as Apply left it
	records map[ledger.Uint128][]AccountRecord // what ApplyRecords reported, per account
	block   *Block                             // the block, encoded and decoded
	trs     []byte                             // the batch's transfer block, as stored
}

// chainStored applies inputs with ApplyRecords and round-trips each block
// through its encoding, as a node stores it and reads it back.
func chainStored(t fataler, inputs []*BatchInput) ([]storedBatch, *Chains) {
	t.Helper()
	c := NewChains(1)
	var out []storedBatch
	for _, in := range inputs {
		sb := storedBatch{in: clone(in), records: map[ledger.Uint128][]AccountRecord{}, trs: slices.Clone(in.Records)}
		blk, err := c.ApplyRecords(sb.in, func(id ledger.Uint128, r *AccountRecord) {
			sb.records[id] = append(sb.records[id], keep(r))
		})
		if err != nil {
			t.Fatal(err)
		}
		enc := blk.AppendEncode(nil)
		if sb.block, err = DecodeBlock(enc); err != nil {
			t.Fatal(err)
		}
		if err := CompareBlocks(sb.block, blk); err != nil {
			t.Fatal(err)
		}
		out = append(out, sb)
	}
	return out, c
}

// recordDiff describes how two records differ, field by field.
func recordDiff(got, want *AccountRecord) string {
	g, w := reflect.ValueOf(*got), reflect.ValueOf(*want)
	var diff []string
	for i := range g.NumField() {
		if !reflect.DeepEqual(g.Field(i).Interface(), w.Field(i).Interface()) {
			diff = append(diff, fmt.Sprintf("%s: got %v, want %v", g.Type().Field(i).Name, g.Field(i), w.Field(i)))
		}
	}
	return fmt.Sprint(diff)
}

// What AccountRecordsOf rebuilds from a stored block is exactly what
// ApplyRecords reported for each account when the block was made: genesis,
// migration, transfer and expiry records, links and the Record contents.
func TestAccountRecordsOfIsApplyRecords(t *testing.T) {
	seen := map[string]int{}
	rapid.Check(t, func(rt *rapid.T) {
		batches, c := chainStored(rt, drawHistory(rt))
		all := map[ledger.Uint128][]AccountRecord{} // every account's records over the history
		for k, sb := range batches {
			for id := range c.All() {
				got := AccountRecordsOf(sb.block, sb.trs, id)
				want := sb.records[id]
				if len(got) != len(want) {
					rt.Fatalf("version %d, account %v: %d records, ApplyRecords reported %d:\n got %+v\nwant %+v",
						sb.block.Version, id, len(got), len(want), got, want)
				}
				for i := range got {
					if !reflect.DeepEqual(got[i], want[i]) {
						rt.Fatalf("version %d, account %v, record %d (%v): %s", sb.block.Version, id, i, want[i].Kind,
							recordDiff(&got[i], &want[i]))
					}
					r := &got[i]
					seen[r.Kind.String()]++
					if r.Kind == RecordMigration {
						seen["migration to "+r.Alg.String()]++
					}
					if r.Link != nil {
						seen["link"]++
					}
					// A transfer record's Record is the stored transfer block's.
					if r.Kind == RecordTransfer && &r.Record[0] != &sb.trs[int(r.Slot)*ledger.RecordSize] {
						rt.Fatalf("version %d, account %v, record %d: Record does not point into the transfer block",
							sb.block.Version, id, i)
					}
					if r.Kind == RecordGenesis && k > 0 {
						seen["genesis in a later batch"]++
					}
				}
				all[id] = append(all[id], got...)
			}
		}
		// Read back block by block, every chain verifies from its genesis.
		for id, rs := range all {
			if err := VerifyAccountRecords(id, Head{}, rs); err != nil {
				rt.Fatal(err)
			}
			h, _ := c.Head(id)
			if last := rs[len(rs)-1]; last.Head != h.Hash || last.Alg != h.Alg {
				rt.Fatalf("account %v: the last stored record's head is not the chain's", id)
			}
		}
	})
	for _, what := range []string{"genesis", "transfer", "expiry", "migration to blake2b-256", "migration to sha256",
		"link", "genesis in a later batch"} {
		if seen[what] == 0 {
			t.Errorf("no %s record was generated: %v", what, seen)
		}
	}
}

// Every account not in a block has no records in it, and an account a
// block creates without moving has its genesis record only.
func TestAccountRecordsOfOthers(t *testing.T) {
	batches, _ := chainStored(t, history(16, 5, 3, 1, SHA256, BLAKE2b256))
	for _, sb := range batches {
		if got := AccountRecordsOf(sb.block, sb.trs, ledger.U128(1)); len(got) != 0 {
			t.Fatalf("records of an unknown account: %+v", got)
		}
	}
	b := batches[0].block
	if len(b.Genesis) != 5 || len(b.Events) != 1 {
		t.Fatalf("first block: %d accounts, %d events", len(b.Genesis), len(b.Events))
	}
	idle := 0
	for _, g := range b.Genesis {
		rs := AccountRecordsOf(b, batches[0].trs, g.ID)
		if want := (AccountRecord{Kind: RecordGenesis, Version: b.Version, Alg: b.Alg, Head: g.Hash}); !reflect.DeepEqual(rs[0], want) {
			t.Fatalf("account %v: first record %+v", g.ID, rs[0])
		}
		if len(rs) == 1 {
			idle++
		}
	}
	if idle == 0 {
		t.Fatal("no account of the first block was idle: the case went untested")
	}
}

// EventCommitments gives the commitments the event's m covers: m
// recomputes from them, and they are the ones ApplyRecords reported (own
// commitment of each side, and each side's counterparty commitment).
func TestEventCommitments(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		batches, _ := chainStored(rt, drawHistory(rt))
		for _, sb := range batches {
			b := sb.block
			for i := range b.Events {
				ev := &b.Events[i]
				d, c := EventCommitments(b, i)
				var rec []byte
				if ev.Kind == EventTransfer {
					rec = sb.trs[int(ev.Slot)*ledger.RecordSize:][:ledger.RecordSize]
				}
				if m := IntermediateHash(b.Alg, ev, rec, d, c); m != ev.M {
					rt.Fatalf("version %d event %d: m over EventCommitments is %v, stored %v", b.Version, i, m, ev.M)
				}
				dr := findRecord(sb.records[ev.DebitID], b.Version, ev.M)
				cr := findRecord(sb.records[ev.CreditID], b.Version, ev.M)
				if dr == nil || cr == nil || !dr.Debit || cr.Debit {
					rt.Fatalf("version %d event %d: records of the parties not found", b.Version, i)
				}
				if own := Commitment(dr.Alg, dr.Prev, &dr.Balances, dr.Salt); own != d || cr.Counter != d {
					rt.Fatalf("version %d event %d: debit commitment %v, applied %v (credit side saw %v)", b.Version, i, d, own, cr.Counter)
				}
				if own := Commitment(cr.Alg, cr.Prev, &cr.Balances, cr.Salt); own != c || dr.Counter != c {
					rt.Fatalf("version %d event %d: credit commitment %v, applied %v (debit side saw %v)", b.Version, i, c, own, dr.Counter)
				}
				if d == c {
					rt.Fatalf("version %d event %d: both commitments %v", b.Version, i, d)
				}
			}
		}
	})
}

// The heads before each event that Apply stores are each party's chain
// head just before it and before any migration: replaying the stored
// blocks alone, from their genesis entries, finds the same heads.
func TestEventHeadsBefore(t *testing.T) {
	batches, _ := chainStored(t, history(17, 6, 5, 10, SHA256, BLAKE2b256, BLAKE2b256, SHA256))
	heads := map[ledger.Uint128]Head{}
	migrations := 0
	for _, sb := range batches {
		b := sb.block
		for _, g := range b.Genesis {
			heads[g.ID] = Head{Hash: g.Hash, Alg: b.Alg}
		}
		for i := range b.Events {
			ev := &b.Events[i]
			for _, p := range []struct {
				id   ledger.Uint128
				prev Head
				bal  *Balances
				side string
			}{
				{ev.DebitID, Head{ev.DebitPrev, ev.DebitPrevAlg}, &ev.Debit, "debit"},
				{ev.CreditID, Head{ev.CreditPrev, ev.CreditPrevAlg}, &ev.Credit, "credit"},
			} {
				if p.prev != heads[p.id] {
					t.Fatalf("version %d event %d: %s head before %v, the chain's is %v", b.Version, i, p.side, p.prev, heads[p.id])
				}
				h := p.prev.Hash
				if p.prev.Alg != b.Alg {
					h = MigrationHead(b.Alg, p.prev.Alg, h, b.Version)
					migrations++
				}
				heads[p.id] = Head{Hash: NextHead(b.Alg, h, ev.M, p.bal), Alg: b.Alg}
			}
		}
	}
	if migrations == 0 {
		t.Fatal("no migration in the history")
	}
}

// Each party's flags after the event, any bit of them, are part of its
// commitment, so of m, so of both parties' heads and the system hash.
func TestFlagsChangeMAndHead(t *testing.T) {
	// At the level of the hashes, for every bit of either side's flags.
	h, salt := patHash(0x11), patHash(0x31)
	for bit := range 16 {
		b := fixedBalances
		b.Flags ^= 1 << bit
		if Commitment(SHA256, h, &b, salt) == Commitment(SHA256, h, &fixedBalances, salt) {
			t.Errorf("flags bit %d: same commitment", bit)
		}
		if NextHead(SHA256, h, salt, &b) == NextHead(SHA256, h, salt, &fixedBalances) {
			t.Errorf("flags bit %d: same head", bit)
		}
	}
	// Through Apply.
	inputs := history(18, 6, 3, 8, SHA256, BLAKE2b256)
	stored, _ := chainStored(t, inputs)
	rapid.Check(t, func(rt *rapid.T) {
		b := rapid.IntRange(0, len(inputs)-1).Draw(rt, "batch")
		i := rapid.IntRange(0, len(inputs[b].Events)-1).Draw(rt, "event")
		debit := rapid.Bool().Draw(rt, "debit")
		bit := rapid.IntRange(0, 15).Draw(rt, "bit")
		changed := slices.Clone(inputs)
		changed[b] = clone(inputs[b])
		ev := &changed[b].Events[i]
		own, other := ev.CreditID, ev.DebitID
		if debit {
			ev.Debit.Flags ^= 1 << bit
			own, other = other, own
		} else {
			ev.Credit.Flags ^= 1 << bit
		}
		got, _ := chainStored(rt, changed)
		was, now := &stored[b].block.Events[i], &got[b].block.Events[i]
		if was.M == now.M {
			rt.Fatal("m did not change")
		}
		// Both parties' heads after the event changed: the own head over
		// the flags and m, the counterparty's over m.
		for _, id := range []ledger.Uint128{own, other} {
			before := findRecord(stored[b].records[id], inputs[b].Version, was.M)
			after := findRecord(got[b].records[id], inputs[b].Version, now.M)
			if before == nil || after == nil || before.Head == after.Head || before.Prev != after.Prev {
				rt.Fatalf("account %v: head after the event %v, was %v", id, after, before)
			}
			if err := VerifyAccountRecords(id, Head{Hash: after.Prev, Alg: after.Alg}, []AccountRecord{*after}); err != nil {
				rt.Fatalf("the changed record does not verify: %v", err)
			}
		}
		if stored[b].block.System == got[b].block.System {
			rt.Fatal("the system hash did not change")
		}
		// The stored record, shown with the changed flags, no longer
		// verifies.
		rec := *findRecord(stored[b].records[own], inputs[b].Version, was.M)
		rec.Balances.Flags ^= 1 << bit
		var mm *Mismatch
		if err := VerifyAccountRecords(own, Head{Hash: rec.Prev, Alg: rec.Alg}, []AccountRecord{rec}); !errors.As(err, &mm) ||
			!strings.HasSuffix(mm.What, ": intermediate hash") {
			rt.Fatalf("stored record with flags bit %d changed: %v, want an intermediate hash mismatch", bit, err)
		}
	})
}

// A stored block whose head before an event (hash or algorithm, of either
// party) was tampered with still decodes, but CompareBlocks with the
// recomputed block names the head, and the account records read back from
// it no longer verify, for either party.
func TestCompareBlocksReportsHeadBeforeTampering(t *testing.T) {
	inputs := history(19, 6, 4, 8, SHA256, BLAKE2b256)
	batches, _ := chainStored(t, inputs)
	rapid.Check(t, func(rt *rapid.T) {
		b := rapid.IntRange(0, len(batches)-1).Draw(rt, "batch")
		blk := batches[b].block
		i := rapid.IntRange(0, len(blk.Events)-1).Draw(rt, "event")
		ev := &blk.Events[i]
		debit := rapid.Bool().Draw(rt, "debit")
		field, algAt, headAt, side := ev.CreditPrevAlg.String()+":"+ev.CreditPrev.String(), 3, 208, "credit"
		if debit {
			field, algAt, headAt, side = ev.DebitPrevAlg.String()+":"+ev.DebitPrev.String(), 2, 176, "debit"
		}
		enc := blk.AppendEncode(nil)
		p := enc[blockHeaderSize+genesisSize*len(blk.Genesis)+eventSize*i:][:eventSize]
		if rapid.Bool().Draw(rt, "alg") {
			p[algAt] ^= byte(SHA256 ^ BLAKE2b256) // the other valid algorithm
		} else {
			p[headAt+rapid.IntRange(0, 31).Draw(rt, "byte")] ^= 1 << rapid.IntRange(0, 7).Draw(rt, "bit")
		}
		tampered, err := DecodeBlock(enc)
		if err != nil {
			rt.Fatalf("tampered block does not decode: %v", err)
		}
		var mm *Mismatch
		if err := CompareBlocks(tampered, blk); !errors.As(err, &mm) {
			rt.Fatalf("CompareBlocks = %v, want a *Mismatch", err)
		}
		if want := eventName(i, ev) + ": " + side + " head before"; mm.What != want || mm.Version != blk.Version ||
			mm.Want != field || mm.Got == mm.Want {
			rt.Fatalf("CompareBlocks names %+v, want %q with %s", mm, want, field)
		}
		// Both parties' records, read back from the stored blocks up to
		// the tampered one, fail to verify; read back from the untampered
		// blocks, they verify.
		for _, id := range []ledger.Uint128{ev.DebitID, ev.CreditID} {
			var good, bad []AccountRecord
			for k := range b + 1 {
				good = append(good, AccountRecordsOf(batches[k].block, batches[k].trs, id)...)
				from := batches[k].block
				if k == b {
					from = tampered
				}
				bad = append(bad, AccountRecordsOf(from, batches[k].trs, id)...)
			}
			if err := VerifyAccountRecords(id, Head{}, good); err != nil {
				rt.Fatal(err)
			}
			if err := VerifyAccountRecords(id, Head{}, bad); !errors.As(err, &mm) {
				rt.Fatalf("account %v: records of the tampered block verify (%v)", id, err)
			}
		}
	})
}

// The stored heads before are part of the block's bytes: the codec
// round-trips them and every event stores the two parties' own.
func TestBlockStoresHeadsBefore(t *testing.T) {
	batches, _ := chainStored(t, history(20, 4, 3, 6, SHA256, BLAKE2b256))
	for _, sb := range batches {
		for i := range sb.block.Events {
			ev := &sb.block.Events[i]
			if ev.DebitPrev.IsZero() || ev.CreditPrev.IsZero() || !ev.DebitPrevAlg.Valid() || !ev.CreditPrevAlg.Valid() ||
				ev.DebitPrev == ev.CreditPrev {
				t.Fatalf("version %d event %d: heads before %v:%v and %v:%v", sb.block.Version, i,
					ev.DebitPrevAlg, ev.DebitPrev, ev.CreditPrevAlg, ev.CreditPrev)
			}
			// Apply filled them in the input too (the block's Events is
			// in.Events).
			in := &sb.in.Events[i]
			if in.DebitPrev != ev.DebitPrev || in.CreditPrev != ev.CreditPrev ||
				in.DebitPrevAlg != ev.DebitPrevAlg || in.CreditPrevAlg != ev.CreditPrevAlg {
				t.Fatalf("version %d event %d: input and stored block differ", sb.block.Version, i)
			}
		}
	}
}
