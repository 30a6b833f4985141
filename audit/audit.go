// Package audit is the untrusting client behind "conto verify --url": it
// reads a server's chain blocks, recomputes every hash from the records they
// carry, holds the result to the server's signed checkpoints, and then
// checks the server's other answers (accounts, transfers, account chains,
// proofs) against what it recomputed. A server that lies in any answer is
// caught by a mismatch somewhere; the first one is reported, named.
package audit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/conto-ledger/conto/engine/hashchain"
	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/gateway/client"
	"github.com/conto-ledger/conto/gateway/wire"
)

// Options configures a verification.
type Options struct {
	URL    string
	APIKey string
	// Trusted are the public keys checkpoints may be signed with. Empty:
	// the key of the first checkpoint is trusted, and reported.
	Trusted [][32]byte
	// Progress, if set, receives a line now and then.
	Progress func(string)
	// PageSize is the blocks or records read per request (default 100).
	PageSize int
	// Partitions, if set, is how many partitions the cluster has: a
	// partition the server leaves out of its checkpoints is then an error,
	// not a partition silently unaudited.
	Partitions int
}

// Report sums up a verification that passed.
type Report struct {
	Blocks, Events, Accounts, Transfers, Checkpoints int
	// TrustedOnFirstUse: no key was pinned, so the server's key was taken.
	TrustedOnFirstUse bool
	Key               [32]byte
}

// Verify checks the server at o.URL.
func Verify(ctx context.Context, o Options) (*Report, error) {
	if o.PageSize <= 0 {
		o.PageSize = 100
	}
	opts := []client.Option{client.WithJSON(), client.WithHTTPClient(&http.Client{Timeout: time.Minute})}
	if o.APIKey != "" {
		opts = append(opts, client.WithAPIKey(o.APIKey))
	}
	a := &auditor{o: o, pinned: len(o.Trusted) > 0, c: client.New(o.URL, opts...), rep: &Report{},
		accounts: map[ledger.Uint128]*accountState{}, transfers: map[ledger.Uint128][]byte{}, through: map[int]uint64{},
		ms: map[ledger.Uint128]hashchain.Hash{}}
	if o.Progress == nil {
		a.o.Progress = func(string) {}
	}
	return a.rep, a.run(ctx)
}

type auditor struct {
	o         Options
	pinned    bool // keys were given: stamps must be signed by them too
	c         *client.Client
	rep       *Report
	accounts  map[ledger.Uint128]*accountState
	transfers map[ledger.Uint128][]byte // 128-byte records as recomputed
	through   map[int]uint64            // last version verified, by partition
	ms        map[ledger.Uint128]hashchain.Hash
}

// accountState is what the audit recomputed for one account.
type accountState struct {
	partition int
	genesis   ledger.Account
	heads     []hashchain.Hash          // after each record, genesis first
	records   []hashchain.AccountRecord // every record, as the blocks recompute them
	balances  hashchain.Balances
}

func (a *auditor) run(ctx context.Context) error {
	cps, err := a.checkpoints(ctx)
	if err != nil {
		return err
	}
	for _, cp := range cps {
		if err := a.partition(ctx, cp); err != nil {
			return fmt.Errorf("partition %d: %w", cp.Partition, err)
		}
	}
	if err := a.accountAnswers(ctx); err != nil {
		return err
	}
	return a.transferAnswers(ctx)
}

// checkpoints reads and checks the latest signed checkpoints.
func (a *auditor) checkpoints(ctx context.Context) ([]hashchain.Checkpoint, error) {
	// A fresh checkpoint anchors everything up to now; without one (the
	// server refuses to sign) the latest is used, and blocks after it are
	// not audited.
	raw, err := a.c.SignCheckpoints(ctx)
	var refused *client.APIError
	if errors.As(err, &refused) && refused.Status < 500 {
		raw, err = a.c.LatestCheckpoints(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	var out []hashchain.Checkpoint
	for i := range raw {
		cp, err := raw[i].ToHashchain()
		if err != nil {
			return nil, fmt.Errorf("checkpoint of partition %d: %w", raw[i].Partition, err)
		}
		if err := cp.Verify(); err != nil {
			return nil, fmt.Errorf("checkpoint of partition %d at version %d: %w", cp.Partition, cp.Version, err)
		}
		if err := a.trust(cp.PublicKey); err != nil {
			return nil, fmt.Errorf("checkpoint of partition %d at version %d: %w", cp.Partition, cp.Version, err)
		}
		out = append(out, cp)
	}
	if len(out) == 0 {
		return nil, errors.New("the server has no signed checkpoint")
	}
	if a.o.Partitions > 0 {
		seen := map[uint32]bool{}
		for _, cp := range out {
			seen[cp.Partition] = true
		}
		for p := 0; p < a.o.Partitions; p++ {
			if !seen[uint32(p)] {
				return nil, fmt.Errorf("partition %d has no signed checkpoint (the cluster has %d partitions)", p, a.o.Partitions)
			}
		}
	}
	return out, nil
}

func (a *auditor) trust(key [32]byte) error {
	if len(a.o.Trusted) == 0 {
		a.o.Trusted = [][32]byte{key}
		a.rep.TrustedOnFirstUse, a.rep.Key = true, key
		return nil
	}
	for _, k := range a.o.Trusted {
		if k == key {
			return nil
		}
	}
	return fmt.Errorf("signed by untrusted key %x", key)
}

// trusted reports whether key is one of the pinned keys.
func (a *auditor) trusted(key [32]byte) bool {
	for _, k := range a.o.Trusted {
		if k == key {
			return true
		}
	}
	return false
}

func copyLink(l *hashchain.Link) *hashchain.Link {
	if l == nil {
		return nil
	}
	c := *l
	return &c
}

// partition recomputes every chain block of one partition, holding the
// system hash to the signed checkpoint at its version. Blocks after the
// checkpoint are recomputed too (a busy server goes on committing), and the
// other answers are then checked as of the last block verified.
func (a *auditor) partition(ctx context.Context, cp hashchain.Checkpoint) error {
	chains := hashchain.NewChains(cp.Partition)
	from := uint64(1)
	held := false
	for {
		page, err := a.c.ChainBlocks(ctx, int(cp.Partition), from, a.o.PageSize)
		if err != nil {
			return fmt.Errorf("read chain blocks from version %d: %w", from, err)
		}
		for i := range page.Blocks {
			wb := &page.Blocks[i]
			if prev := a.through[int(cp.Partition)]; uint64(wb.Version) <= prev {
				return fmt.Errorf("chain block version %d served after version %d", wb.Version, prev)
			}
			if !held && uint64(wb.Version) > cp.Version {
				return fmt.Errorf("the signed checkpoint is at version %d, which no chain block served has", cp.Version)
			}
			if held { // what follows the checkpoint is anchored by no signature
				return nil
			}
			sys, err := a.block(chains, int(cp.Partition), wb)
			if err != nil {
				return err
			}
			a.through[int(cp.Partition)] = uint64(wb.Version)
			if uint64(wb.Version) == cp.Version {
				if sys != cp.System {
					return fmt.Errorf("version %d: recomputed system hash %s, the signed checkpoint says %s", cp.Version, sys, cp.System)
				}
				held = true
				a.rep.Checkpoints++
			}
			a.o.Progress(fmt.Sprintf("partition %d: version %d", cp.Partition, wb.Version))
		}
		if page.Next == nil {
			if !held {
				return fmt.Errorf("the signed checkpoint is at version %d, but the chain blocks served end at version %d", cp.Version, a.through[int(cp.Partition)])
			}
			return nil
		}
		if uint64(*page.Next) <= from {
			return fmt.Errorf("chain blocks page from %d names next page %d", from, *page.Next)
		}
		from = uint64(*page.Next)
	}
}

// block recomputes one served chain block from the records it carries and
// compares it with what was served.
func (a *auditor) block(chains *hashchain.Chains, partition int, wb *wire.ChainBlock) (hashchain.Hash, error) {
	served, in, err := wb.ToHashchain()
	if err != nil {
		return hashchain.Hash{}, fmt.Errorf("version %d: %w", wb.Version, err)
	}
	if !served.Stamp.IsZero() {
		if err := served.Stamp.Verify(uint32(partition), served.Time); err != nil {
			return hashchain.Hash{}, fmt.Errorf("version %d: stamp: %w", served.Version, err)
		}
		if a.pinned && !a.trusted(served.Stamp.PublicKey) {
			return hashchain.Hash{}, fmt.Errorf("version %d: stamp signed by untrusted key %x", served.Version, served.Stamp.PublicKey)
		}
	}
	for i := range in.Events {
		if l := in.Events[i].Link; l != nil {
			if m, ok := a.ms[l.ID]; !ok || m != l.M {
				return hashchain.Hash{}, fmt.Errorf("version %d: event %d corrects transfer %v naming hash %s; its hash is %s", served.Version, i, l.ID, l.M, m)
			}
		}
	}
	born := map[ledger.Uint128]ledger.Account{}
	for i := range wb.Genesis {
		acc := wb.Genesis[i].Account.ToLedger()
		born[acc.ID] = acc
	}
	var missing error
	got, err := chains.ApplyRecords(in, func(id ledger.Uint128, r *hashchain.AccountRecord) {
		if r.Kind == hashchain.RecordGenesis {
			a.accounts[id] = &accountState{partition: partition, genesis: born[id]}
		}
		st := a.accounts[id]
		if st == nil {
			missing = fmt.Errorf("version %d: a record of account %v, which no block created", served.Version, id)
			return
		}
		if r.Kind != hashchain.RecordMigration {
			st.heads = append(st.heads, r.Head)
		}
		c := *r
		c.Record, c.Link = append([]byte(nil), r.Record...), copyLink(r.Link)
		st.records = append(st.records, c)
		if r.Kind == hashchain.RecordTransfer || r.Kind == hashchain.RecordExpiry {
			st.balances = r.Balances
		}
	})
	if err != nil {
		return hashchain.Hash{}, fmt.Errorf("version %d: %w", served.Version, err)
	}
	if missing != nil {
		return hashchain.Hash{}, missing
	}
	if err := hashchain.CompareBlocks(served, got); err != nil {
		return hashchain.Hash{}, err
	}
	for i := range got.Events {
		ev := &got.Events[i]
		if ev.Kind == hashchain.EventTransfer {
			a.transfers[ev.ID] = in.Records[int(ev.Slot)*ledger.RecordSize : int(ev.Slot+1)*ledger.RecordSize]
			a.ms[ev.ID] = ev.M
			a.rep.Transfers++
		}
	}
	a.rep.Blocks++
	a.rep.Events += len(got.Events)
	return got.System, nil
}

// accountAnswers checks every account's own answer and its chain against
// what the blocks recomputed.
func (a *auditor) accountAnswers(ctx context.Context) error {
	for id, st := range a.accounts {
		through := a.through[st.partition]
		got, err := a.c.AccountAt(ctx, id, through)
		if err != nil {
			return fmt.Errorf("account %v: %w", id, err)
		}
		want := st.genesis
		want.DebitsPending, want.DebitsPosted = st.balances.DebitsPending, st.balances.DebitsPosted
		want.CreditsPending, want.CreditsPosted = st.balances.CreditsPending, st.balances.CreditsPosted
		want.Flags = ledger.AccountFlags(st.balances.Flags)
		if len(st.heads) == 1 {
			want.Flags = st.genesis.Flags
		}
		got.Version, want.Version = 0, 0
		if got != want {
			return fmt.Errorf("account %v: GET /v1/accounts answers %+v; the chain blocks give %+v", id, got, want)
		}
		if err := a.accountChain(ctx, id, st); err != nil {
			return err
		}
		a.rep.Accounts++
	}
	return nil
}

// accountChain reads an account's whole chain and checks it record by
// record, and its heads against the recomputed ones.
func (a *auditor) accountChain(ctx context.Context, id ledger.Uint128, st *accountState) error {
	var recs []hashchain.AccountRecord
	from := 0
	for {
		page, err := a.c.AccountChain(ctx, id, from, a.o.PageSize)
		if err != nil {
			return fmt.Errorf("account %v: chain: %w", id, err)
		}
		for i := range page.Records {
			r, err := page.Records[i].ToHashchain()
			if err != nil {
				return fmt.Errorf("account %v: chain record %d: %w", id, from+i, err)
			}
			recs = append(recs, r)
		}
		if page.Next == nil {
			break
		}
		if *page.Next <= from {
			return fmt.Errorf("account %v: chain page from %d names next page %d", id, from, *page.Next)
		}
		from = *page.Next
	}
	if err := hashchain.VerifyAccountRecords(id, hashchain.Head{}, recs); err != nil {
		return fmt.Errorf("account %v: chain: %w", id, err)
	}
	var served []hashchain.AccountRecord
	for i := range recs {
		if recs[i].Version <= a.through[st.partition] {
			served = append(served, recs[i])
		}
	}
	if len(served) != len(st.records) {
		return fmt.Errorf("account %v: chain has %d records, the blocks %d", id, len(served), len(st.records))
	}
	for i := range served {
		if what := recordDiff(&served[i], &st.records[i]); what != "" {
			return fmt.Errorf("account %v: chain record %d: %s differs from what the blocks give", id, i, what)
		}
	}
	return nil
}

// maxProofs bounds the proofs checked (each is a request).
const maxProofs = 1000

// transferAnswers checks every transfer's own answer, and the proofs of up
// to maxProofs of them.
func (a *auditor) transferAnswers(ctx context.Context) error {
	proofs := 0
	for id, rec := range a.transfers {
		if proofs < maxProofs {
			if err := a.proof(ctx, id); err != nil {
				return err
			}
			proofs++
		}
		t, err := a.c.Transfer(ctx, id)
		if err != nil {
			return fmt.Errorf("transfer %v: %w", id, err)
		}
		got := make([]byte, ledger.RecordSize)
		ledger.EncodeTransfer(got, &t)
		if string(got) != string(rec) {
			want, _ := ledger.DecodeTransfer(rec)
			return fmt.Errorf("transfer %v: GET /v1/transfers answers %+v; the chain blocks give %+v", id, t, want)
		}
	}
	return nil
}

// proof checks a transfer's proof: its leaf is the intermediate hash the
// audit recomputed, the audit path leads to the block's root, and the system
// hash folded from the block along the system path is the one the proof's
// checkpoint signs, with a trusted key.
func (a *auditor) proof(ctx context.Context, id ledger.Uint128) error {
	p, err := a.c.TransferProof(ctx, id)
	if err != nil {
		return fmt.Errorf("transfer %v: proof: %w", id, err)
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("transfer %v: proof: %s", id, fmt.Sprintf(format, args...))
	}
	t := p.Transfer.ToLedger()
	rec := make([]byte, ledger.RecordSize)
	ledger.EncodeTransfer(rec, &t)
	if string(rec) != string(a.transfers[id]) {
		return fail("its transfer %+v is not the one in the chain blocks", t)
	}
	if p.Leaf != a.ms[id] {
		return fail("leaf %s, the chain blocks give %s", p.Leaf, a.ms[id])
	}
	alg, err := hashchain.ParseAlg(p.Block.Alg)
	if err != nil {
		return fail("%v", err)
	}
	if !hashchain.VerifyInclusion(alg, p.Leaf, p.LeafIndex, p.TreeSize, p.AuditPath, p.Block.Root) {
		return fail("the audit path does not lead to the block's root")
	}
	if p.Block.Version != p.Version || p.Checkpoint.Partition != p.Partition {
		return fail("block version %d for version %d, checkpoint of partition %d for partition %d",
			p.Block.Version, p.Version, p.Checkpoint.Partition, p.Partition)
	}
	ev := hashchain.Event{Kind: hashchain.EventTransfer, Slot: p.Slot, ID: t.ID, Timestamp: t.Timestamp,
		DebitID: t.DebitAccountID, CreditID: t.CreditAccountID}
	if p.Corrects != nil {
		ev.Link = &hashchain.Link{ID: ledger.Uint128(p.Corrects.TransferID), M: p.Corrects.M}
	}
	if m := hashchain.IntermediateHash(alg, &ev, rec, p.DebitCommitment, p.CreditCommitment); m != p.Leaf {
		return fail("its transfer, slot, commitments and link hash to %s, not its leaf %s", m, p.Leaf)
	}
	sys, err := fold(p.Prev, append([]wire.SystemLink{p.Block}, p.SystemPath...))
	if err != nil {
		return fail("%v", err)
	}
	cp, err := p.Checkpoint.ToHashchain()
	if err != nil {
		return fail("%v", err)
	}
	if err := cp.Verify(); err != nil {
		return fail("checkpoint: %v", err)
	}
	if err := a.trust(cp.PublicKey); err != nil {
		return fail("checkpoint: %v", err)
	}
	if sys != cp.System {
		return fail("the system path folds to %s, the checkpoint signs %s", sys, cp.System)
	}
	return nil
}

// fold chains system hashes from prev along links.
func fold(prev hashchain.Hash, links []wire.SystemLink) (hashchain.Hash, error) {
	for _, l := range links {
		alg, err := hashchain.ParseAlg(l.Alg)
		if err != nil {
			return prev, err
		}
		prev = hashchain.SystemHash(alg, prev, uint64(l.Version), uint64(l.Time), l.Root)
	}
	return prev, nil
}

// recordDiff names the first field in which a served chain record differs
// from the recomputed one (a private view's hidden fields are not compared).
func recordDiff(got, want *hashchain.AccountRecord) string {
	switch {
	case got.Kind != want.Kind:
		return "kind"
	case got.Version != want.Version, got.Slot != want.Slot, got.Timestamp != want.Timestamp:
		return "version, slot or time"
	case got.TransferID != want.TransferID, got.CounterID != want.CounterID, got.Debit != want.Debit:
		return "transfer, counterparty or side"
	case got.Alg != want.Alg, got.Prev != want.Prev, got.Head != want.Head, got.M != want.M:
		return "hashes"
	case got.Balances != want.Balances:
		return "balances"
	case got.Salt != want.Salt, got.Counter != want.Counter:
		return "salt or counterparty commitment"
	case !got.CounterHead.IsZero() && (got.CounterHead != want.CounterHead || got.CounterSalt != want.CounterSalt || got.CounterBalances != want.CounterBalances):
		return "counterparty's opening"
	case (got.Link == nil) != (want.Link == nil), got.Link != nil && *got.Link != *want.Link:
		return "correction link"
	case got.Record != nil && string(got.Record) != string(want.Record):
		return "transfer record"
	}
	return ""
}
