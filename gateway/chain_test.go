package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/conto-ledger/conto/engine"
	"github.com/conto-ledger/conto/engine/hashchain"
	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/gateway/wire"
	"github.com/conto-ledger/conto/transactor"
)

// End-to-end tests of the hash-chain API: account chains, chain blocks,
// signed checkpoints, transfer proofs and corrections, on a real node behind
// the gateway (see server_test.go).

// chainLedger is a small ledger on partition 0: h has history, and every
// transfer but ts[2] touches h.
type chainLedger struct {
	h, a, b uint64
	ts      []uint64 // transfers, in the order they committed
}

// hRecord is what h's chain should hold after each of its transfers.
type hRecord struct {
	transfer     int // index in chainLedger.ts
	side         string
	counterparty uint64
	balances     [4]uint64 // debits pending, debits posted, credits pending, credits posted
}

func newChainLedger(t *testing.T, e *env) (*chainLedger, []hRecord) {
	t.Helper()
	l := &chainLedger{h: e.id(0)}
	ab := e.ids(0, 2)
	l.a, l.b = ab[0], ab[1]
	// h alone, then a and b: two blocks with genesis entries.
	e.createAccounts(t, `["history"]`, l.h)
	e.createAccounts(t, "[]", l.a, l.b)
	l.ts = e.ids(0, 6)
	ts := l.ts
	// One batch per request: ts[1..3] share a block, ts[2] is not h's.
	for _, body := range []string{
		"[" + transfer1(ts[0], l.a, l.h, 100) + "]",
		"[" + transfer1(ts[1], l.h, l.b, 30) + "," + transfer1(ts[2], l.a, l.b, 7) + "," + transfer1(ts[3], l.b, l.h, 5) + "]",
		fmt.Sprintf(`[{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","amount":"20","ledger":1,"code":1,"flags":["pending"]}]`,
			ts[4], l.h, l.a),
		fmt.Sprintf(`[{"id":"%d","pending_id":"%d","amount":"%s","flags":["post_pending_transfer"]}]`, ts[5], ts[4], maxU64),
	} {
		n := strings.Count(body, `"id"`)
		wantResults(t, e.postJSON(t, "/v1/transfers", body), repeat("created", n)...)
	}
	want := []hRecord{
		{0, "credit", l.a, [4]uint64{0, 0, 0, 100}},
		{1, "debit", l.b, [4]uint64{0, 30, 0, 100}},
		{3, "credit", l.b, [4]uint64{0, 30, 0, 105}},
		{4, "debit", l.a, [4]uint64{20, 30, 0, 105}},
		{5, "debit", l.a, [4]uint64{0, 50, 0, 105}},
	}
	return l, want
}

// chainPage reads one page of an account's chain.
func (e *env) chainPage(t *testing.T, id uint64, query string) wire.AccountChain {
	t.Helper()
	r := e.get(t, fmt.Sprintf("/v1/accounts/%d/chain%s", id, query))
	if r.status != 200 {
		t.Fatalf("GET chain of %d%s: status %d: %s", id, query, r.status, r.body)
	}
	wantJSONType(t, r)
	var c wire.AccountChain
	decodeExact(t, r.body, &c)
	if c.AccountID != wire.U128(ledger.U128(id)) {
		t.Fatalf("chain of %d answered account_id %v", id, ledger.Uint128(c.AccountID))
	}
	return c
}

// fullChain reads an account's whole chain in one page.
func (e *env) fullChain(t *testing.T, id uint64) []wire.ChainRecord {
	t.Helper()
	c := e.chainPage(t, id, "?limit=1000")
	if c.From != 0 || c.Next != nil {
		t.Fatalf("chain of %d with limit=1000: from %d, next %v", id, c.From, c.Next)
	}
	return c.Records
}

// toHashchain converts served records for VerifyAccountRecords.
func toHashchain(t *testing.T, recs []wire.ChainRecord) []hashchain.AccountRecord {
	t.Helper()
	out := make([]hashchain.AccountRecord, len(recs))
	for i := range recs {
		r, err := recs[i].ToHashchain()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		out[i] = r
	}
	return out
}

// recordOf returns the record of transfer tid in recs.
func recordOf(t *testing.T, recs []wire.ChainRecord, tid uint64) *wire.ChainRecord {
	t.Helper()
	for i := range recs {
		if recs[i].TransferID != nil && *recs[i].TransferID == wire.U128(ledger.U128(tid)) {
			return &recs[i]
		}
	}
	t.Fatalf("no record of transfer %d in the chain", tid)
	return nil
}

// sameJSON checks that two values marshal to the same JSON.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(canon(t, g), canon(t, w)) {
		t.Fatalf("%s:\n%s\nwant\n%s", what, g, w)
	}
}

func u128(id uint64) wire.U128 { return wire.U128(ledger.U128(id)) }

// blocksPage reads one page of a partition's chain blocks.
func (e *env) blocksPage(t *testing.T, query string) wire.ChainBlocks {
	t.Helper()
	r := e.get(t, "/v1/chain/blocks"+query)
	if r.status != 200 {
		t.Fatalf("GET /v1/chain/blocks%s: status %d: %s", query, r.status, r.body)
	}
	wantJSONType(t, r)
	var out wire.ChainBlocks
	decodeExact(t, r.body, &out)
	return out
}

// allBlocks reads every chain block of partition p, one per page, checking
// the paging.
func (e *env) allBlocks(t *testing.T, p int) []wire.ChainBlock {
	t.Helper()
	var out []wire.ChainBlock
	from := uint64(0)
	for {
		page := e.blocksPage(t, fmt.Sprintf("?partition=%d&from=%d&limit=1", p, from))
		if len(page.Blocks) > 1 {
			t.Fatalf("limit=1 answered %d blocks", len(page.Blocks))
		}
		if len(page.Blocks) == 1 {
			v := uint64(page.Blocks[0].Version)
			if v < from {
				t.Fatalf("page from %d starts at version %d", from, v)
			}
			if len(out) > 0 && v <= uint64(out[len(out)-1].Version) {
				t.Fatalf("version %d after version %d", v, out[len(out)-1].Version)
			}
			out = append(out, page.Blocks[0])
		}
		if page.Next == nil {
			break
		}
		if len(page.Blocks) == 0 || uint64(*page.Next) <= uint64(page.Blocks[0].Version) {
			t.Fatalf("page from %d (%d blocks) names next %d", from, len(page.Blocks), *page.Next)
		}
		from = uint64(*page.Next)
	}
	return out
}

// checkpoints reads GET /v1/checkpoints/latest or POST /v1/checkpoints and
// checks every checkpoint's signature and key.
func (e *env) checkpoints(t *testing.T, post bool) []wire.Checkpoint {
	t.Helper()
	var r reply
	if post {
		r = e.post(t, "/v1/checkpoints", "", nil)
	} else {
		r = e.get(t, "/v1/checkpoints/latest")
	}
	if r.status != 200 {
		t.Fatalf("checkpoints (post %v): status %d: %s", post, r.status, r.body)
	}
	wantJSONType(t, r)
	var cps []wire.Checkpoint
	decodeExact(t, r.body, &cps)
	for i := range cps {
		cp, err := cps[i].ToHashchain()
		if err != nil {
			t.Fatalf("checkpoint %d: %v", i, err)
		}
		if err := cp.Verify(); err != nil {
			t.Fatalf("checkpoint %d: %v", i, err)
		}
		if !bytes.Equal(cp.PublicKey[:], e.node.PublicKey()) {
			t.Fatalf("checkpoint %d signed by %x, the node's key is %x", i, cp.PublicKey, []byte(e.node.PublicKey()))
		}
		if i > 0 && cps[i].Partition <= cps[i-1].Partition {
			t.Fatalf("checkpoints not one per partition in order: %s", r.body)
		}
	}
	return cps
}

func (e *env) proof(t *testing.T, tid uint64) wire.TransferProof {
	t.Helper()
	r := e.get(t, fmt.Sprintf("/v1/transfers/%d/proof", tid))
	if r.status != 200 {
		t.Fatalf("proof of %d: status %d: %s", tid, r.status, r.body)
	}
	wantJSONType(t, r)
	var p wire.TransferProof
	decodeExact(t, r.body, &p)
	return p
}

// checkProof checks a proof on its own and against the two parties'
// chains: inclusion, m recomputed, the system hash folded to a checkpoint
// that verifies.
func (e *env) checkProof(t *testing.T, p *wire.TransferProof, debit, credit []wire.ChainRecord) {
	t.Helper()
	alg, err := hashchain.ParseAlg(p.Block.Alg)
	if err != nil {
		t.Fatal(err)
	}
	tid := ledger.Uint128(p.Transfer.ID)
	sameJSON(t, "proof's transfer", p.Transfer, e.transfer(t, tid.Lo))
	if uint64(p.Block.Version) != uint64(p.Version) {
		t.Fatalf("proof of version %d with a block of version %d", p.Version, p.Block.Version)
	}
	if want := e.node.Map().OfID(ledger.Uint128(p.Transfer.DebitAccountID).Lo, 0); int(p.Partition) != want {
		t.Fatalf("proof in partition %d, the accounts are in %d", p.Partition, want)
	}
	// Inclusion of m in the block's root, and not at another index.
	if !hashchain.VerifyInclusion(alg, p.Leaf, p.LeafIndex, p.TreeSize, p.AuditPath, p.Block.Root) {
		t.Fatalf("leaf %v at %d of %d does not verify against root %v", p.Leaf, p.LeafIndex, p.TreeSize, p.Block.Root)
	}
	if p.TreeSize > 1 && hashchain.VerifyInclusion(alg, p.Leaf, (p.LeafIndex+1)%p.TreeSize, p.TreeSize, p.AuditPath, p.Block.Root) {
		t.Fatal("the proof also verifies at another index")
	}
	// m is both parties' record of the transfer.
	dr, cr := recordOf(t, debit, tid.Lo), recordOf(t, credit, tid.Lo)
	if *dr.M != p.Leaf || *cr.M != p.Leaf {
		t.Fatalf("proof's leaf %v, the debit chain's m %v, the credit chain's %v", p.Leaf, *dr.M, *cr.M)
	}
	if dr.Side != "debit" || cr.Side != "credit" || uint64(dr.Version) != uint64(p.Version) {
		t.Fatalf("records %+v and %+v of the proof at version %d", dr, cr, p.Version)
	}
	db, cb := dr.Balances.ToHashchain(), cr.Balances.ToHashchain()
	if c := hashchain.Commitment(alg, dr.Prev, &db, *dr.Salt); c != p.DebitCommitment || *cr.Counter != c {
		t.Fatalf("debit commitment %v, the debit chain opens %v, the credit chain shows %v", p.DebitCommitment, c, *cr.Counter)
	}
	if c := hashchain.Commitment(alg, cr.Prev, &cb, *cr.Salt); c != p.CreditCommitment || *dr.Counter != c {
		t.Fatalf("credit commitment %v, the credit chain opens %v, the debit chain shows %v", p.CreditCommitment, c, *dr.Counter)
	}
	// Recompute m from the transfer and the two commitments. The proof
	// does not carry the event's slot, which m covers: it comes from the
	// debit party's chain record.
	tr := p.Transfer.ToLedger()
	rec := make([]byte, ledger.RecordSize)
	ledger.EncodeTransfer(rec, &tr)
	ev := hashchain.Event{Kind: hashchain.EventTransfer, Slot: dr.Slot, ID: tid, Timestamp: tr.Timestamp,
		DebitID: tr.DebitAccountID, CreditID: tr.CreditAccountID}
	if p.Corrects != nil {
		ev.Link = &hashchain.Link{ID: ledger.Uint128(p.Corrects.TransferID), M: p.Corrects.M}
	}
	if m := hashchain.IntermediateHash(alg, &ev, rec, p.DebitCommitment, p.CreditCommitment); m != p.Leaf {
		t.Fatalf("m recomputed from the transfer %v, the proof's leaf %v", m, p.Leaf)
	}
	// Fold the system hash to the checkpoint.
	cp, err := p.Checkpoint.ToHashchain()
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.Verify(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cp.PublicKey[:], e.node.PublicKey()) || cp.Partition != p.Partition {
		t.Fatalf("checkpoint %+v for a proof in partition %d", cp, p.Partition)
	}
	s := p.Prev
	v := uint64(0)
	for i, link := range append([]wire.SystemLink{p.Block}, p.SystemPath...) {
		la, err := hashchain.ParseAlg(link.Alg)
		if err != nil {
			t.Fatal(err)
		}
		if uint64(link.Version) <= v {
			t.Fatalf("system path link %d at version %d after version %d", i, link.Version, v)
		}
		if len(link.Stamp) > 0 { // left out in a private view (its nonce derives the salts)
			st, err := hashchain.DecodeStamp(link.Stamp)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Verify(p.Partition, uint64(link.Time)); err != nil {
				t.Fatalf("system path link %d (version %d): %v", i, link.Version, err)
			}
		}
		v = uint64(link.Version)
		s = hashchain.SystemHash(la, s, v, uint64(link.Time), link.Root)
	}
	if v != cp.Version || s != cp.System {
		t.Fatalf("system hash folded to %v at version %d; the checkpoint has %v at version %d", s, v, cp.System, cp.Version)
	}
}

// recomputeBlocks re-applies a partition's served chain blocks, in order,
// through fresh chains, and checks that each recomputes to what was served,
// is stamped by the node and chains to the one before.
func (e *env) recomputeBlocks(t *testing.T, p int, blocks []wire.ChainBlock) *hashchain.Chains {
	t.Helper()
	chains := hashchain.NewChains(uint32(p))
	var prev hashchain.Hash
	for i := range blocks {
		wb := &blocks[i]
		if wb.Partition != uint32(p) || wb.Prev != prev {
			t.Fatalf("partition %d block %d (version %d): partition %d, alg %s, prev %v, want prev %v",
				p, i, wb.Version, wb.Partition, wb.Alg, wb.Prev, prev)
		}
		prev = wb.System
		served, in, err := wb.ToHashchain()
		if err != nil {
			t.Fatal(err)
		}
		if err := served.Stamp.Verify(uint32(p), served.Time); err != nil {
			t.Fatalf("block %d: %v", wb.Version, err)
		}
		if !bytes.Equal(served.Stamp.PublicKey[:], e.node.PublicKey()) {
			t.Fatalf("block %d stamped by another key", wb.Version)
		}
		got, err := chains.Apply(in)
		if err != nil {
			t.Fatalf("block %d: %v", wb.Version, err)
		}
		if err := hashchain.CompareBlocks(served, got); err != nil {
			t.Fatalf("block %d: %v", wb.Version, err)
		}
		if hashchain.SystemHash(served.Alg, served.Prev, served.Version, served.Time, served.Root) != served.System {
			t.Fatalf("block %d: system hash is not over its header", wb.Version)
		}
	}
	return chains
}

// The shapes of the chain API's answers, as raw JSON objects.
func rawRecords(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	var v struct {
		Records []map[string]any `json:"records"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	return v.Records
}

func TestChain(t *testing.T) {
	e := newEnv(t)

	t.Run("no_checkpoint_before_any_batch", func(t *testing.T) {
		wantError(t, e.get(t, "/v1/checkpoints/latest"), 404, "not_found")
		wantError(t, e.post(t, "/v1/checkpoints", "", nil), 404, "not_found")
		if page := e.blocksPage(t, "?partition=1"); len(page.Blocks) != 0 || page.Next != nil {
			t.Fatalf("blocks before any batch: %+v", page)
		}
	})

	l, want := newChainLedger(t, e)
	ts := l.ts

	t.Run("account_chain", func(t *testing.T) {
		recs := e.fullChain(t, l.h)
		if len(recs) != 1+len(want) {
			t.Fatalf("chain of h has %d records, want genesis and %d transfers", len(recs), len(want))
		}
		g := recs[0]
		if g.Kind != "genesis" || !g.Prev.IsZero() || g.Head.IsZero() || g.TransferID != nil || g.M != nil || g.Alg != "sha256" ||
			g.Balances.ToHashchain() != (hashchain.Balances{}) {
			t.Fatalf("first record %+v, want h's genesis", g)
		}
		acct := e.account(t, l.h, "")
		for i, w := range want {
			r := recs[i+1]
			tid := ts[w.transfer]
			if r.Kind != "transfer" || r.TransferID == nil || *r.TransferID != u128(tid) || r.Side != w.side ||
				r.CounterpartyID == nil || *r.CounterpartyID != u128(w.counterparty) || r.Alg != "sha256" {
				t.Fatalf("record %d: %+v, want %s side of transfer %d with %d", i+1, r, w.side, tid, w.counterparty)
			}
			b := r.Balances
			if got := [4]uint64{uint64(b.DebitsPending), uint64(b.DebitsPosted), uint64(b.CreditsPending), uint64(b.CreditsPosted)}; got != w.balances {
				t.Fatalf("record %d (transfer %d): balances %v, want %v", i+1, tid, got, w.balances)
			}
			if b.Flags != wire.AccountFlags(ledger.AccountHistory) {
				t.Fatalf("record %d: flags %v, want history", i+1, b.Flags)
			}
			if r.M == nil || r.Salt == nil || r.Counter == nil || r.CounterHead == nil || r.CounterSalt == nil ||
				r.CounterBalances == nil || r.Corrects != nil {
				t.Fatalf("record %d: hashes missing or a link: %+v", i+1, r)
			}
			if r.Transfer == nil {
				t.Fatalf("record %d has no transfer record", i+1)
			}
			got := e.transfer(t, tid)
			sameJSON(t, fmt.Sprintf("record %d's transfer", i+1), r.Transfer, got)
			if r.Timestamp != wire.U64(u64Of(t, got.Timestamp)) {
				t.Fatalf("record %d at timestamp %d, the transfer's is %s", i+1, r.Timestamp, got.Timestamp)
			}
		}
		// Links and versions.
		for i := 1; i < len(recs); i++ {
			if recs[i].Prev != recs[i-1].Head {
				t.Fatalf("record %d: prev %v, record %d's head %v", i, recs[i].Prev, i-1, recs[i-1].Head)
			}
			if recs[i].Head == recs[i-1].Head {
				t.Fatalf("record %d does not move the head", i)
			}
			if recs[i].Version < recs[i-1].Version {
				t.Fatalf("record %d at version %d after version %d", i, recs[i].Version, recs[i-1].Version)
			}
		}
		// ts[1] and ts[3] share a batch, in slot order (ts[2] between).
		if recs[2].Version != recs[3].Version || recs[3].Slot != recs[2].Slot+2 || recs[1].Version == recs[2].Version {
			t.Fatalf("records 1..3 at versions %d, %d, %d with slots %d, %d, %d", recs[1].Version, recs[2].Version,
				recs[3].Version, recs[1].Slot, recs[2].Slot, recs[3].Slot)
		}
		// The last record is the account as it is.
		last := recs[len(recs)-1]
		if fmt.Sprint(last.Version) != acct.Version || fmt.Sprint(last.Balances.DebitsPosted) != acct.DebitsPosted ||
			fmt.Sprint(last.Balances.CreditsPosted) != acct.CreditsPosted || fmt.Sprint(last.Balances.DebitsPending) != acct.DebitsPending {
			t.Fatalf("last record %+v, account %+v", last, acct)
		}

		// Each side's record of a transfer matches the other's: the same m,
		// and the counterparty's head and salt as its own chain has them.
		chains := map[ledger.Uint128][]wire.ChainRecord{ledger.U128(l.h): recs,
			ledger.U128(l.a): e.fullChain(t, l.a), ledger.U128(l.b): e.fullChain(t, l.b)}
		for id, rs := range chains {
			for i := range rs {
				r := &rs[i]
				if r.Kind != "transfer" {
					continue
				}
				o := recordOf(t, chains[ledger.Uint128(*r.CounterpartyID)], ledger.Uint128(*r.TransferID).Lo)
				if *o.M != *r.M || *o.CounterHead != r.Prev || *o.CounterSalt != *r.Salt || *r.CounterHead != o.Prev ||
					*r.CounterSalt != *o.Salt || o.CounterBalances == nil || *o.CounterBalances != r.Balances ||
					o.Side == r.Side || ledger.Uint128(*o.CounterpartyID) != id {
					t.Fatalf("account %v record %d and its counterparty's disagree:\n%+v\n%+v", id, i, r, o)
				}
			}
		}

		t.Run("verify", func(t *testing.T) {
			for id, rs := range chains {
				hr := toHashchain(t, rs)
				if err := hashchain.VerifyAccountRecords(id, hashchain.Head{}, hr); err != nil {
					t.Fatalf("account %v: %v", id, err)
				}
				// A tampered record fails.
				if len(hr) > 2 {
					hr[2].Balances.CreditsPosted++
					if err := hashchain.VerifyAccountRecords(id, hashchain.Head{}, hr); err == nil {
						t.Fatalf("account %v: tampered balances verify", id)
					}
				}
			}
		})

		t.Run("paging", func(t *testing.T) {
			n := len(recs)
			for from := 0; from <= n; from++ {
				page := e.chainPage(t, l.h, fmt.Sprintf("?from=%d&limit=1", from))
				if page.From != from {
					t.Fatalf("page from %d answered from %d", from, page.From)
				}
				switch {
				case from == n:
					if len(page.Records) != 0 || page.Next != nil {
						t.Fatalf("page past the end: %+v", page)
					}
				case len(page.Records) != 1 || !reflect.DeepEqual(page.Records[0], recs[from]):
					t.Fatalf("page from %d: %+v, want record %+v", from, page.Records, recs[from])
				case from < n-1 && (page.Next == nil || *page.Next != from+1):
					t.Fatalf("page from %d names next %v, want %d", from, page.Next, from+1)
				case from == n-1 && page.Next != nil:
					t.Fatalf("last page names next %d", *page.Next)
				}
			}
			// Following next with limit=2 gives the whole chain again.
			var got []wire.ChainRecord
			for from, pages := 0, 0; ; pages++ {
				page := e.chainPage(t, l.h, fmt.Sprintf("?from=%d&limit=2", from))
				got = append(got, page.Records...)
				if page.Next == nil {
					if pages != (n-1)/2 {
						t.Fatalf("%d pages of 2 for %d records", pages+1, n)
					}
					break
				}
				from = *page.Next
			}
			if !reflect.DeepEqual(got, recs) {
				t.Fatalf("pages of 2 give\n%+v\nwant\n%+v", got, recs)
			}
			// Exactly the rest: no next. No query: the default limit.
			if page := e.chainPage(t, l.h, fmt.Sprintf("?from=1&limit=%d", n-1)); page.Next != nil || !reflect.DeepEqual(page.Records, recs[1:]) {
				t.Fatalf("the rest in one page: %+v", page)
			}
			if page := e.chainPage(t, l.h, ""); page.Next != nil || page.From != 0 || !reflect.DeepEqual(page.Records, recs) {
				t.Fatalf("default page: %+v", page)
			}
		})

		t.Run("errors", func(t *testing.T) {
			for _, q := range []string{"limit=0", "limit=1001", "limit=-1", "limit=abc", "limit=", "from=-1", "from=abc", "from=1.5"} {
				wantError(t, e.get(t, fmt.Sprintf("/v1/accounts/%d/chain?%s", l.h, q)), 400, "invalid_query")
			}
			if page := e.chainPage(t, l.h, "?limit=1000"); len(page.Records) != len(recs) {
				t.Fatalf("limit=1000: %d records", len(page.Records))
			}
			wantError(t, e.get(t, fmt.Sprintf("/v1/accounts/%d/chain", e.id(0))), 404, "not_found")
			wantError(t, e.get(t, fmt.Sprintf("/v1/accounts/%d/chain", e.id(1))), 404, "not_found")
			for _, bad := range []string{"abc", "-1", "1.5", "340282366920938463463374607431768211456"} {
				wantError(t, e.get(t, "/v1/accounts/"+bad+"/chain"), 400, "invalid_id")
			}
			// Far past the end: nothing, and no next.
			if page := e.chainPage(t, l.h, "?from=2147483648"); page.From != 2147483648 || len(page.Records) != 0 || page.Next != nil {
				t.Fatalf("from=2^31: %+v", page)
			}
		})

		t.Run("from_beyond_int", func(t *testing.T) {
			for _, from := range []string{"9223372036854775808", maxU64} {
				r := e.get(t, fmt.Sprintf("/v1/accounts/%d/chain?from=%s", l.h, from))
				if r.status == 400 {
					wantError(t, r, 400, "invalid_query")
					continue
				}
				if r.status != 200 {
					t.Fatalf("from=%s: %d %s", from, r.status, r.body)
				}
				var v struct {
					From    json.Number       `json:"from"`
					Records []json.RawMessage `json:"records"`
					Next    *json.Number      `json:"next"`
				}
				d := json.NewDecoder(bytes.NewReader(r.body))
				d.UseNumber()
				if err := d.Decode(&v); err != nil {
					t.Fatal(err)
				}
				if v.From.String() != from || len(v.Records) != 0 || v.Next != nil {
					t.Fatalf("from=%s answered %s", from, r.body)
				}
			}
		})
	})

	t.Run("checkpoints", func(t *testing.T) {
		// Only partition 0 has batches so far.
		blocks := e.allBlocks(t, 0)
		if len(blocks) == 0 {
			t.Fatal("partition 0 has no chain blocks")
		}
		last := blocks[len(blocks)-1]
		latest := e.checkpoints(t, false)
		if len(latest) != 1 || latest[0].Partition != 0 || latest[0].Version > last.Version {
			t.Fatalf("latest checkpoints before signing: %+v", latest)
		}
		signed := e.checkpoints(t, true)
		if len(signed) != 1 || signed[0].Partition != 0 || signed[0].Version != last.Version || signed[0].System != last.System ||
			signed[0].Alg != last.Alg {
			t.Fatalf("signed %+v; the last block is version %d with system %v", signed, last.Version, last.System)
		}
		if got := e.checkpoints(t, false); !reflect.DeepEqual(got, signed) {
			t.Fatalf("latest after signing %+v, want %+v", got, signed)
		}
		// Signing again with nothing new gives the same checkpoint.
		if again := e.checkpoints(t, true); !reflect.DeepEqual(again, signed) {
			t.Fatalf("signing again gave %+v, want %+v", again, signed)
		}

		// A batch on partition 1, and one more on partition 0.
		p1 := e.id(1)
		e.createAccounts(t, "[]", p1)
		e.createAccounts(t, "[]", e.id(0))
		latest = e.checkpoints(t, false)
		if len(latest) != 2 || !reflect.DeepEqual(latest[0], signed[0]) || latest[1].Partition != 1 {
			t.Fatalf("latest after new batches: %+v", latest)
		}
		now := e.checkpoints(t, true)
		if len(now) != 2 || now[0].Version <= signed[0].Version {
			t.Fatalf("signed after new batches: %+v", now)
		}
		for i, cp := range now {
			bs := e.allBlocks(t, i)
			last := bs[len(bs)-1]
			if cp.Partition != uint32(i) || cp.Version != last.Version || cp.System != last.System {
				t.Fatalf("partition %d: checkpoint %+v, last block version %d system %v", i, cp, last.Version, last.System)
			}
			if uint64(cp.Time) == 0 || time.Since(time.Unix(0, int64(cp.Time))) > time.Minute {
				t.Fatalf("checkpoint time %d", cp.Time)
			}
		}
		if a := e.account(t, p1, ""); fmt.Sprint(now[1].Version) != a.Version {
			t.Fatalf("partition 1 checkpoint at version %d, its only account created at %s", now[1].Version, a.Version)
		}
		if got := e.checkpoints(t, false); !reflect.DeepEqual(got, now) {
			t.Fatalf("latest %+v, want %+v", got, now)
		}
		// A tampered checkpoint does not verify.
		cp, err := now[0].ToHashchain()
		if err != nil {
			t.Fatal(err)
		}
		cp.System[0] ^= 1
		if cp.Verify() == nil {
			t.Fatal("a tampered checkpoint verifies")
		}
		wantError(t, e.do(t, "DELETE", e.base+"/v1/checkpoints/latest", "", nil, nil), 404, "not_found")
	})

	t.Run("proof", func(t *testing.T) {
		chains := map[uint64][]wire.ChainRecord{l.h: e.fullChain(t, l.h), l.a: e.fullChain(t, l.a), l.b: e.fullChain(t, l.b)}
		for i, tid := range ts {
			p := e.proof(t, tid)
			tr := p.Transfer.ToLedger()
			e.checkProof(t, &p, chains[tr.DebitAccountID.Lo], chains[tr.CreditAccountID.Lo])
			if p.Corrects != nil {
				t.Fatalf("proof of %d names a correction", tid)
			}
			// The block's leaves, as the chain blocks serve them.
			page := e.blocksPage(t, fmt.Sprintf("?partition=%d&from=%d&limit=1", p.Partition, p.Version))
			if len(page.Blocks) != 1 || page.Blocks[0].Version != p.Version {
				t.Fatalf("no block of version %d: %+v", p.Version, page)
			}
			blk, _, err := page.Blocks[0].ToHashchain()
			if err != nil {
				t.Fatal(err)
			}
			leaves := blk.Leaves()
			if p.TreeSize != len(leaves) || leaves[p.LeafIndex] != p.Leaf || blk.Root != p.Block.Root || blk.Prev != p.Prev ||
				hashchain.MerkleRoot(blk.Alg, leaves) != blk.Root {
				t.Fatalf("proof %d (leaf %d of %d) against block %+v", i, p.LeafIndex, p.TreeSize, page.Blocks[0])
			}
			if !slices.Equal(p.AuditPath, hashchain.InclusionProof(blk.Alg, leaves, p.LeafIndex)) {
				t.Fatalf("proof %d: audit path differs from the block's", i)
			}
		}
		// ts[1..3] share a block: leaves 0, 1, 2 of 3.
		for i, tid := range ts[1:4] {
			if p := e.proof(t, tid); p.LeafIndex != i || p.TreeSize != 3 {
				t.Fatalf("transfer %d: leaf %d of %d, want %d of 3", tid, p.LeafIndex, p.TreeSize, i)
			}
		}
		// On partition 1, in a block that also created accounts.
		xy := e.ids(1, 2)
		e.createAccounts(t, "[]", xy...)
		tx := e.id(1)
		wantResults(t, e.postJSON(t, "/v1/transfers", "["+transfer1(tx, xy[0], xy[1], 9)+"]"), "created")
		p := e.proof(t, tx)
		if p.Partition != 1 || p.LeafIndex != 0 || p.TreeSize != 1 {
			t.Fatalf("proof on partition 1: %+v", p)
		}
		e.checkProof(t, &p, e.fullChain(t, xy[0]), e.fullChain(t, xy[1]))
		// After a new checkpoint, an old proof still folds to one.
		e.checkpoints(t, true)
		old := e.proof(t, ts[0])
		e.checkProof(t, &old, chains[l.a], chains[l.h])

		wantError(t, e.get(t, fmt.Sprintf("/v1/transfers/%d/proof", e.id(0))), 404, "not_found")
		wantError(t, e.get(t, fmt.Sprintf("/v1/transfers/%d/proof", l.h)), 404, "not_found") // an account id
		wantError(t, e.get(t, "/v1/transfers/abc/proof"), 400, "invalid_id")
		wantError(t, e.get(t, "/v1/transfers/-1/proof"), 400, "invalid_id")
	})

	t.Run("blocks", func(t *testing.T) {
		cps := e.checkpoints(t, true)
		seen := map[ledger.Uint128]bool{}
		for p := 0; p < 2; p++ {
			blocks := e.allBlocks(t, p)
			if len(blocks) == 0 {
				t.Fatalf("partition %d: no blocks", p)
			}
			// One page of everything is the same.
			all := e.blocksPage(t, fmt.Sprintf("?partition=%d&limit=1000", p))
			if all.Next != nil || !reflect.DeepEqual(all.Blocks, blocks) {
				t.Fatalf("partition %d: one page of 1000 differs from pages of 1", p)
			}
			chains := e.recomputeBlocks(t, p, blocks)
			for i := range blocks {
				wb := &blocks[i]
				if wb.Alg != "sha256" {
					t.Fatalf("block %d: alg %s", wb.Version, wb.Alg)
				}
				for j := range wb.Genesis {
					seen[ledger.Uint128(wb.Genesis[j].Account.ID)] = true
					// The genesis hash is the account's first head.
					id := ledger.Uint128(wb.Genesis[j].Account.ID)
					if id == ledger.U128(l.h) {
						if recs := e.fullChain(t, l.h); recs[0].Head != wb.Genesis[j].Hash || recs[0].Version != wb.Version {
							t.Fatalf("h's genesis record %+v; block %d has hash %v", recs[0], wb.Version, wb.Genesis[j].Hash)
						}
						if wb.Genesis[j].Account.Flags != wire.AccountFlags(ledger.AccountHistory) {
							t.Fatalf("h's genesis account %+v", wb.Genesis[j].Account)
						}
					}
				}
				for j := range wb.Events {
					ev := &wb.Events[j]
					seen[ledger.Uint128(ev.ID)] = true
					if ev.Kind == "transfer" {
						sameJSON(t, "block transfer", wb.Transfers[ev.Slot], e.transfer(t, ledger.Uint128(ev.ID).Lo))
					}
				}
			}
			cp := cps[p]
			last := blocks[len(blocks)-1]
			if cp.Version != last.Version || cp.System != last.System {
				t.Fatalf("partition %d: checkpoint %+v, recomputed %v at %d", p, cp, last.System, last.Version)
			}
			if _, s := chains.System(); s != cp.System {
				t.Fatalf("partition %d: recomputed system %v, checkpoint %v", p, s, cp.System)
			}
			// Past the end: nothing, no next.
			if page := e.blocksPage(t, fmt.Sprintf("?partition=%d&from=%d", p, uint64(last.Version)+1)); len(page.Blocks) != 0 || page.Next != nil {
				t.Fatalf("page past the end: %+v", page)
			}
			// From the middle, and with a from between versions.
			mid := blocks[len(blocks)/2]
			if page := e.blocksPage(t, fmt.Sprintf("?partition=%d&from=%d&limit=1000", p, mid.Version)); !reflect.DeepEqual(page.Blocks, blocks[len(blocks)/2:]) {
				t.Fatalf("partition %d: blocks from version %d differ", p, mid.Version)
			}
			if p == 0 {
				// The heads recomputed are the accounts' chains' heads.
				for _, id := range []uint64{l.h, l.a, l.b} {
					h, ok := chains.Head(ledger.U128(id))
					recs := e.fullChain(t, id)
					if !ok || h.Hash != recs[len(recs)-1].Head {
						t.Fatalf("account %d: recomputed head %v, its chain ends at %v", id, h.Hash, recs[len(recs)-1].Head)
					}
				}
				// A block whose transfer was tampered with does not recompute.
				for i := range blocks {
					if len(blocks[i].Transfers) == 0 {
						continue
					}
					bad := blocks[i]
					bad.Transfers = slices.Clone(bad.Transfers)
					bad.Transfers[0].Amount++
					served, in, err := bad.ToHashchain()
					if err != nil {
						t.Fatal(err)
					}
					// Replay the partition up to the block, then the tampered one.
					c := hashchain.NewChains(0)
					for j := 0; j < i; j++ {
						_, in, _ := blocks[j].ToHashchain()
						if _, err := c.Apply(in); err != nil {
							t.Fatal(err)
						}
					}
					got, err := c.Apply(in)
					if err != nil {
						t.Fatal(err)
					}
					if hashchain.CompareBlocks(served, got) == nil {
						t.Fatalf("block %d with a tampered transfer recomputes", bad.Version)
					}
					break
				}
			}
		}
		for _, id := range append([]uint64{l.h, l.a, l.b}, ts...) {
			if !seen[ledger.U128(id)] {
				t.Fatalf("%d is in no block", id)
			}
		}
		// No partition: partition 0.
		if page := e.blocksPage(t, "?limit=1"); len(page.Blocks) != 1 || page.Blocks[0].Partition != 0 {
			t.Fatalf("default partition: %+v", page)
		}
		for _, q := range []string{"partition=2", "partition=-1", "partition=abc", "limit=0", "limit=1001", "from=abc", "from=-1"} {
			wantError(t, e.get(t, "/v1/chain/blocks?"+q), 400, "invalid_query")
		}
	})

	t.Run("corrections", func(t *testing.T) {
		xy := e.ids(0, 2)
		x, y := xy[0], xy[1]
		e.createAccounts(t, "[]", x, y)
		ids := e.ids(0, 6)
		t1, t2 := ids[0], ids[1]
		wantResults(t, e.postJSON(t, "/v1/transfers", "["+transfer1(t1, x, y, 10)+"]"), "created")
		m1 := *recordOf(t, e.fullChain(t, x), t1).M
		if p := e.proof(t, t1); p.Leaf != m1 || p.Corrects != nil {
			t.Fatalf("T1's proof %+v, its chain's m %v", p, m1)
		}
		// T2 gives back 4 of T1's 10.
		wantResults(t, e.post(t, fmt.Sprintf("/v1/transfers/%d/corrections", t1), "application/json",
			[]byte(transfer1(t2, y, x, 4))), "created")
		if got := e.transfer(t, t2); got.Amount != "4" || got.DebitAccountID != fmt.Sprint(y) {
			t.Fatalf("T2 %+v", got)
		}
		cy, cx := e.fullChain(t, y), e.fullChain(t, x)
		for _, c := range []struct {
			name string
			recs []wire.ChainRecord
			side string
		}{{"debit", cy, "debit"}, {"credit", cx, "credit"}} {
			r := recordOf(t, c.recs, t2)
			if r.Side != c.side || r.Corrects == nil || r.Corrects.TransferID != u128(t1) || r.Corrects.M != m1 {
				t.Fatalf("T2's %s record %+v, want it to correct %d with m %v", c.name, r, t1, m1)
			}
			if r1 := recordOf(t, c.recs, t1); r1.Corrects != nil || *r1.M != m1 {
				t.Fatalf("T1's record changed: %+v", r1)
			}
		}
		chains := map[ledger.Uint128][]wire.ChainRecord{ledger.U128(x): cx, ledger.U128(y): cy}
		for id, rs := range chains {
			hr := toHashchain(t, rs)
			if err := hashchain.VerifyAccountRecords(id, hashchain.Head{}, hr); err != nil {
				t.Fatalf("account %v: %v", id, err)
			}
			// m covers the link.
			for i := range hr {
				if hr[i].Link != nil {
					hr[i].Link.M[0] ^= 1
					if hashchain.VerifyAccountRecords(id, hashchain.Head{}, hr) == nil {
						t.Fatalf("account %v: a tampered link verifies", id)
					}
					hr[i].Link.M[0] ^= 1
				}
			}
		}
		// T2's proof names the link, and m recomputes over it.
		p := e.proof(t, t2)
		if p.Corrects == nil || p.Corrects.TransferID != u128(t1) || p.Corrects.M != m1 {
			t.Fatalf("T2's proof names %+v, want %d with m %v", p.Corrects, t1, m1)
		}
		e.checkProof(t, &p, cy, cx)
		// The chain block has the link too.
		page := e.blocksPage(t, fmt.Sprintf("?partition=0&from=%d&limit=1", p.Version))
		if ev := page.Blocks[0].Events; len(ev) != 1 || ev[0].Corrects == nil || ev[0].Corrects.M != m1 || ev[0].Corrects.TransferID != u128(t1) {
			t.Fatalf("T2's block events %+v", ev)
		}

		// Failures create nothing.
		pq := e.ids(1, 2) // T1 is on partition 0; a correcting transfer on 1 cannot name it
		e.createAccounts(t, "[]", pq...)
		for _, c := range []struct {
			name, path, ctype, body string
			status                  int
			code                    string
		}{
			{"unknown transfer", fmt.Sprintf("/v1/transfers/%d/corrections", e.id(0)), "application/json", transfer1(ids[2], y, x, 1), 404, "not_found"},
			{"target in another partition", fmt.Sprintf("/v1/transfers/%d/corrections", t1), "application/json",
				transfer1(ids[2], pq[0], pq[1], 1), 404, "not_found"},
			{"binary", fmt.Sprintf("/v1/transfers/%d/corrections", t1), octet, transfer1(ids[2], y, x, 1), 415, "unsupported_media_type"},
			{"text", fmt.Sprintf("/v1/transfers/%d/corrections", t1), "text/plain", transfer1(ids[2], y, x, 1), 415, "unsupported_media_type"},
			{"array", fmt.Sprintf("/v1/transfers/%d/corrections", t1), "application/json", "[" + transfer1(ids[2], y, x, 1) + "]", 400, "malformed_json"},
			{"unknown field", fmt.Sprintf("/v1/transfers/%d/corrections", t1), "application/json",
				strings.TrimSuffix(transfer1(ids[2], y, x, 1), "}") + `,"memo":1}`, 400, "unknown_field"},
			{"trailing data", fmt.Sprintf("/v1/transfers/%d/corrections", t1), "application/json", transfer1(ids[2], y, x, 1) + "{}", 400, "malformed_json"},
			{"bad id", "/v1/transfers/abc/corrections", "application/json", transfer1(ids[2], y, x, 1), 400, "invalid_id"},
		} {
			t.Run(c.name, func(t *testing.T) {
				wantError(t, e.post(t, c.path, c.ctype, []byte(c.body)), c.status, c.code)
				e.wantNoTransfer(t, ids[2])
			})
		}
		// A correction the ledger refuses answers its status, and links
		// nothing.
		wantResults(t, e.postJSON(t, fmt.Sprintf("/v1/transfers/%d/corrections", t1), transfer1(ids[3], y, e.id(0), 1)),
			"credit_account_not_found")
		e.wantNoTransfer(t, ids[3])
		wantResults(t, e.postJSON(t, fmt.Sprintf("/v1/transfers/%d/corrections", t1), transfer1(t2, y, x, 4)), "exists")
		if n := len(e.fullChain(t, x)); n != 3 {
			t.Fatalf("x's chain has %d records after refused corrections, want 3", n)
		}
		// A correction of a correction.
		wantResults(t, e.postJSON(t, fmt.Sprintf("/v1/transfers/%d/corrections", t2), transfer1(ids[4], x, y, 1)), "created")
		m2 := *recordOf(t, cy, t2).M
		if r := recordOf(t, e.fullChain(t, x), ids[4]); r.Corrects == nil || r.Corrects.TransferID != u128(t2) || r.Corrects.M != m2 {
			t.Fatalf("correction of T2: %+v", r)
		}
	})

	t.Run("expiry", func(t *testing.T) {
		uw := e.ids(1, 2)
		u, w := uw[0], uw[1]
		e.createAccounts(t, `["history"]`, u, w)
		ids := e.ids(1, 3)
		pt, ct, cx := ids[0], ids[1], ids[2]
		wantResults(t, e.postJSON(t, "/v1/transfers", fmt.Sprintf(
			`[{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","amount":"5","timeout":1,"ledger":1,"code":1,"flags":["pending"]},%s]`,
			pt, u, w, transfer1(ct, u, w, 3))), "created", "created")
		// Past the pending transfer's timeout, the expiry poll expires it
		// (see TestChainCorrectionAfterExpiry for an expiry in the
		// correction's own batch).
		time.Sleep(1500 * time.Millisecond)
		wantResults(t, e.postJSON(t, fmt.Sprintf("/v1/transfers/%d/corrections", ct), transfer1(cx, w, u, 1)), "created")
		cu, cw := e.fullChain(t, u), e.fullChain(t, w)
		var kinds []string
		for _, r := range cu {
			kinds = append(kinds, r.Kind)
		}
		if want := []string{"genesis", "transfer", "transfer", "expiry", "transfer"}; !slices.Equal(kinds, want) {
			t.Fatalf("u's chain is %v, want %v", kinds, want)
		}
		mct := *cu[2].M
		exp, cor := cu[3], cu[4]
		if *exp.TransferID != u128(pt) || exp.Side != "debit" || exp.Transfer != nil || exp.Corrects != nil ||
			exp.Slot != ^uint32(0) || exp.Balances.DebitsPending != 0 || exp.Balances.DebitsPosted != 3 || exp.Version > cor.Version {
			t.Fatalf("expiry record %+v (correction at version %d)", exp, cor.Version)
		}
		if *cor.TransferID != u128(cx) || cor.Side != "credit" || cor.Corrects == nil || cor.Corrects.TransferID != u128(ct) ||
			cor.Corrects.M != mct || cor.Slot != 0 {
			t.Fatalf("correction record %+v, want it to correct %d with m %v", cor, ct, mct)
		}
		if r := recordOf(t, cw, pt); r.Kind != "transfer" || cw[3].Kind != "expiry" || cw[3].Corrects != nil || *cw[3].M != *exp.M {
			t.Fatalf("w's chain %+v", cw)
		}
		for id, rs := range map[uint64][]wire.ChainRecord{u: cu, w: cw} {
			if err := hashchain.VerifyAccountRecords(ledger.U128(id), hashchain.Head{}, toHashchain(t, rs)); err != nil {
				t.Fatalf("account %d: %v", id, err)
			}
		}
		if got := e.transfer(t, pt); !slices.Equal(got.Flags, []string{"pending"}) {
			t.Fatalf("the expired pending transfer %+v", got)
		}
		p := e.proof(t, cx)
		if p.Partition != 1 || p.Corrects == nil || p.Corrects.M != mct || p.Corrects.TransferID != u128(ct) {
			t.Fatalf("proof of the correction %+v", p)
		}
		e.checkProof(t, &p, cw, cu)
		page := e.blocksPage(t, fmt.Sprintf("?partition=1&from=%d&limit=1", exp.Version))
		if ev := page.Blocks[0].Events; len(ev) == 0 || ev[0].Kind != "expiry" || ev[0].Corrects != nil || ev[0].Slot != 0 ||
			ev[0].ID != u128(pt) || ev[0].M != *exp.M {
			t.Fatalf("the expiry's block events %+v", ev)
		}

		e.recomputeBlocks(t, 1, e.allBlocks(t, 1))
		for _, id := range []uint64{u, w} {
			if err := hashchain.VerifyAccountRecords(ledger.U128(id), hashchain.Head{}, toHashchain(t, e.fullChain(t, id))); err != nil {
				t.Fatalf("account %d: %v", id, err)
			}
		}
	})

	t.Run("txn", func(t *testing.T) {
		uw := e.ids(1, 2)
		u, w := uw[0], uw[1]
		e.createAccounts(t, "[]", u, w)
		tx := e.id(1)
		r := e.postJSON(t, "/v1/txn", fmt.Sprintf(`{"puts":[{"key":%q,"value":"eA=="}],"transfers":[%s]}`,
			e.keyOn(1, "chain"), transfer1(tx, u, w, 2)))
		if r.status != 200 {
			t.Fatalf("txn: %d %s", r.status, r.body)
		}
		cu, cw := e.fullChain(t, u), e.fullChain(t, w)
		rec := recordOf(t, cu, tx)
		if rec.Balances.DebitsPosted != 2 || rec.Corrects != nil || len(cu) != 2 {
			t.Fatalf("the txn transfer's record %+v", rec)
		}
		for id, rs := range map[uint64][]wire.ChainRecord{u: cu, w: cw} {
			if err := hashchain.VerifyAccountRecords(ledger.U128(id), hashchain.Head{}, toHashchain(t, rs)); err != nil {
				t.Fatalf("account %d: %v", id, err)
			}
		}
		page := e.blocksPage(t, fmt.Sprintf("?partition=1&from=%d&limit=1", rec.Version))
		if len(page.Blocks) != 1 || page.Blocks[0].Version != rec.Version || len(page.Blocks[0].Events) != 1 {
			t.Fatalf("the txn's block: %+v", page)
		}
		t.Run("stamped", func(t *testing.T) {
			st, err := hashchain.DecodeStamp(page.Blocks[0].Stamp)
			if err != nil {
				t.Fatal(err)
			}
			if st.IsZero() {
				t.Fatalf("the txn's block (version %d) has a zero stamp", rec.Version)
			}
			if err := st.Verify(1, uint64(page.Blocks[0].Time)); err != nil {
				t.Fatal(err)
			}
			// Then its proof and the partition's blocks check throughout.
			p := e.proof(t, tx)
			e.checkProof(t, &p, cu, cw)
			e.checkpoints(t, true)
			e.recomputeBlocks(t, 1, e.allBlocks(t, 1))
		})
	})

	t.Run("private", func(t *testing.T) {
		client := &http.Client{Timeout: 10 * time.Second}
		priv := &env{node: e.node, eng: e.eng, client: client}
		priv.base = startServer(t, Config{Engine: e.eng, Node: e.node, Logger: quiet, PrivateChains: true}, client)

		pub := e.fullChain(t, l.h)
		r := priv.get(t, fmt.Sprintf("/v1/accounts/%d/chain?limit=1000", l.h))
		if r.status != 200 {
			t.Fatalf("private chain: %d %s", r.status, r.body)
		}
		var got wire.AccountChain
		decodeExact(t, r.body, &got)
		for i, raw := range rawRecords(t, r.body) {
			_, head := raw["counterparty_head"]
			_, salt := raw["counterparty_salt"]
			_, bal := raw["counterparty_balances"]
			_, commit := raw["counterparty_commitment"]
			if head || salt || bal || (raw["kind"] == "transfer") != commit {
				t.Fatalf("private record %d: %v", i, raw)
			}
		}
		for i, raw := range rawRecords(t, e.get(t, fmt.Sprintf("/v1/accounts/%d/chain", l.h)).body) {
			_, head := raw["counterparty_head"]
			_, salt := raw["counterparty_salt"]
			_, bal := raw["counterparty_balances"]
			if isTransfer := raw["kind"] == "transfer"; isTransfer != head || isTransfer != salt || isTransfer != bal {
				t.Fatalf("public record %d: %v", i, raw)
			}
		}
		// Apart from those, the same records.
		want := slices.Clone(pub)
		for i := range want {
			want[i].CounterHead, want[i].CounterSalt, want[i].CounterBalances = nil, nil, nil
		}
		if !reflect.DeepEqual(got.Records, want) {
			t.Fatalf("private records\n%+v\nwant\n%+v", got.Records, want)
		}
		if err := hashchain.VerifyAccountRecords(ledger.U128(l.h), hashchain.Head{}, toHashchain(t, got.Records)); err != nil {
			t.Fatalf("private records: %v", err)
		}
		wantError(t, priv.get(t, "/v1/chain/blocks"), 403, "private_chains")
		wantError(t, priv.get(t, "/v1/chain/blocks?partition=1&limit=1"), 403, "private_chains")
		// The rest of the chain API still answers.
		if cps := priv.checkpoints(t, false); len(cps) != 2 {
			t.Fatalf("private view checkpoints: %+v", cps)
		}
		p := priv.proof(t, ts[1])
		if len(p.Block.Stamp) != 0 {
			t.Fatal("a private view's proof shows the batch's stamp (its nonce derives every salt)")
		}
		for _, l := range p.SystemPath {
			if len(l.Stamp) != 0 {
				t.Fatal("a private view's system path shows a stamp")
			}
		}
		e.checkProof(t, &p, e.fullChain(t, l.h), e.fullChain(t, l.b))
	})
}

// openTunedNode is transactortest.StartNode with the node's config and
// its partitions' tuning in the caller's hands; the caller closes it.
func openTunedNode(t *testing.T, cfg transactor.NodeConfig) *transactor.Node {
	t.Helper()
	cfg.Bootstrap, cfg.Forward, cfg.Logger = true, true, quiet
	tune := cfg.Tune
	cfg.Tune = func(c *transactor.Config) {
		c.HeartbeatTimeout, c.ElectionTimeout = 200*time.Millisecond, 200*time.Millisecond
		if tune != nil {
			tune(c)
		}
	}
	node, err := transactor.OpenNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, p := range node.Partitions() {
		for !p.IsLeader() {
			if time.Now().After(deadline) {
				node.Close()
				t.Fatal("the node did not elect itself in every partition")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return node
}

// TestChainCorrectionAfterExpiry: a correction whose batch first expires a
// pending transfer links the correcting transfer's event, not the expiry;
// then the node restarts with BLAKE2b-256, and every chain migrates as it
// next moves, which the account chains, the blocks, the proofs and the
// checkpoints must all show.
func TestChainCorrectionAfterExpiry(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// No expiry poll: only a client batch expires the pending transfer.
	noPoll := func(c *transactor.Config) { c.ExpiryPoll = time.Hour }
	node := openTunedNode(t, transactor.NodeConfig{Dir: dir, RaftAddr: addr, Partitions: 1, Tune: noPoll})
	closed := false
	t.Cleanup(func() {
		if !closed {
			node.Close()
		}
	})
	e := &env{node: node, eng: engine.New(node), client: &http.Client{Timeout: 10 * time.Second}, nextID: 1000}
	e.base = startServer(t, Config{Engine: e.eng, Node: node, Logger: quiet}, e.client)

	uw := e.ids(0, 2)
	u, w := uw[0], uw[1]
	e.createAccounts(t, "[]", u, w)
	ids := e.ids(0, 5)
	pt, ct, cx := ids[0], ids[1], ids[2]
	wantResults(t, e.postJSON(t, "/v1/transfers", fmt.Sprintf(
		`[{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","amount":"5","timeout":1,"ledger":1,"code":1,"flags":["pending"]},%s]`,
		pt, u, w, transfer1(ct, u, w, 3))), "created", "created")
	time.Sleep(1500 * time.Millisecond)
	wantResults(t, e.postJSON(t, fmt.Sprintf("/v1/transfers/%d/corrections", ct), transfer1(cx, w, u, 1)), "created")

	cu, cw := e.fullChain(t, u), e.fullChain(t, w)
	if len(cu) != 5 || cu[3].Kind != "expiry" || cu[4].Kind != "transfer" || cu[3].Version != cu[4].Version {
		t.Fatalf("u's chain %+v, want the expiry and the correction in one batch", cu)
	}
	mct := *cu[2].M
	if cu[3].Corrects != nil || cu[4].Corrects == nil || cu[4].Corrects.TransferID != u128(ct) || cu[4].Corrects.M != mct {
		t.Fatalf("expiry links %+v, correction links %+v; want only the correction to link %d (m %v)",
			cu[3].Corrects, cu[4].Corrects, ct, mct)
	}
	for id, rs := range map[uint64][]wire.ChainRecord{u: cu, w: cw} {
		if err := hashchain.VerifyAccountRecords(ledger.U128(id), hashchain.Head{}, toHashchain(t, rs)); err != nil {
			t.Fatalf("account %d: %v", id, err)
		}
	}
	p := e.proof(t, cx)
	if p.LeafIndex != 1 || p.TreeSize != 2 || p.Corrects == nil || p.Corrects.M != mct {
		t.Fatalf("proof of the correction: leaf %d of %d, corrects %+v", p.LeafIndex, p.TreeSize, p.Corrects)
	}
	e.checkProof(t, &p, cw, cu)
	e.recomputeBlocks(t, 0, e.allBlocks(t, 0))
	old := e.checkpoints(t, true)

	// Restart with BLAKE2b-256.
	node.Close()
	closed = true
	node2 := openTunedNode(t, transactor.NodeConfig{Dir: dir, RaftAddr: addr, Partitions: 1, Tune: noPoll,
		ChainAlg: hashchain.BLAKE2b256})
	t.Cleanup(func() { node2.Close() })
	e2 := &env{node: node2, eng: engine.New(node2), client: &http.Client{Timeout: 10 * time.Second}, nextID: e.nextID}
	e2.base = startServer(t, Config{Engine: e2.eng, Node: node2, Logger: quiet}, e2.client)
	if !bytes.Equal(node2.PublicKey(), node.PublicKey()) {
		t.Fatal("the restarted node has another key")
	}
	if got := e2.checkpoints(t, false); !reflect.DeepEqual(got, old) {
		t.Fatalf("checkpoints after the restart %+v, want %+v", got, old)
	}
	if got := e2.fullChain(t, u); !reflect.DeepEqual(got, cu) {
		t.Fatalf("u's chain changed across the restart")
	}
	t3 := ids[3]
	wantResults(t, e2.postJSON(t, "/v1/transfers", "["+transfer1(t3, u, w, 2)+"]"), "created")
	cu, cw = e2.fullChain(t, u), e2.fullChain(t, w)
	for _, rs := range [][]wire.ChainRecord{cu, cw} {
		n := len(rs)
		if n != 7 || rs[n-2].Kind != "migration" || rs[n-2].Alg != "blake2b-256" || rs[n-3].Alg != "sha256" ||
			rs[n-2].Prev != rs[n-3].Head || rs[n-1].Kind != "transfer" || rs[n-1].Alg != "blake2b-256" || rs[n-1].Prev != rs[n-2].Head {
			t.Fatalf("chain after the migration %+v", rs)
		}
	}
	for id, rs := range map[uint64][]wire.ChainRecord{u: cu, w: cw} {
		if err := hashchain.VerifyAccountRecords(ledger.U128(id), hashchain.Head{}, toHashchain(t, rs)); err != nil {
			t.Fatalf("account %d: %v", id, err)
		}
	}
	cps := e2.checkpoints(t, true)
	if len(cps) != 1 || cps[0].Alg != "blake2b-256" || cps[0].Version <= old[0].Version {
		t.Fatalf("checkpoints after the migration %+v", cps)
	}
	blocks := e2.allBlocks(t, 0)
	last := blocks[len(blocks)-1]
	if last.Alg != "blake2b-256" || len(last.Events) != 1 || last.Events[0].DebitPrevAlg != "sha256" || last.Events[0].CreditPrevAlg != "sha256" {
		t.Fatalf("the first BLAKE2b-256 block %+v", last)
	}
	for i := range blocks[:len(blocks)-1] {
		if blocks[i].Alg != "sha256" {
			t.Fatalf("block %d before the restart has alg %s", blocks[i].Version, blocks[i].Alg)
		}
	}
	chains := e2.recomputeBlocks(t, 0, blocks)
	if _, s := chains.System(); s != cps[0].System || last.Version != cps[0].Version {
		t.Fatalf("recomputed system %v, checkpoint %+v", s, cps[0])
	}
	for _, id := range []uint64{u, w} {
		h, _ := chains.Head(ledger.U128(id))
		recs := e2.fullChain(t, id)
		if h.Hash != recs[len(recs)-1].Head || h.Alg != hashchain.BLAKE2b256 {
			t.Fatalf("account %d: recomputed head %v, chain ends at %v", id, h, recs[len(recs)-1].Head)
		}
	}
	// Proofs of both algorithms fold to the new checkpoint.
	for _, tid := range []uint64{t3, cx, ct} {
		p := e2.proof(t, tid)
		tr := p.Transfer.ToLedger()
		chain := map[uint64][]wire.ChainRecord{u: cu, w: cw}
		e2.checkProof(t, &p, chain[tr.DebitAccountID.Lo], chain[tr.CreditAccountID.Lo])
	}
}
