package store

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/conto-ledger/conto/engine/hashchain"
	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/dgraph-io/badger/v4"
)

// VerifyOptions configures an offline verification of a store.
type VerifyOptions struct {
	Dir       string // the store's directory (Badger); nothing may have it open
	Partition uint32
	// Checkpoints are the node's signed checkpoints of this partition;
	// each must verify and match the recomputed system hash at its version.
	Checkpoints []hashchain.Checkpoint
	// Trusted, if set, are the only public keys a checkpoint or a stamp
	// may be signed with.
	Trusted [][32]byte
	// Progress, if set, is called now and then with the versions verified
	// and the last version.
	Progress func(done, last uint64)
}

// VerifyReport sums up a verification that passed.
type VerifyReport struct {
	Version     uint64 // the store's last version
	Blocks      int    // chain blocks recomputed
	Events      int    // transfers and expiries chained
	Accounts    int
	Checkpoints int
}

// Verify recomputes every hash chain, system hash and checkpoint of a store
// from its records, offline, and checks them against what is stored: the
// chain blocks and heads, the transfer and delta blocks, the accounts as
// they are now, conservation per ledger, and the signed checkpoints. The
// first problem found is returned, naming the version and the record.
func Verify(o VerifyOptions) (*VerifyReport, error) {
	opts := badgerOptions(Options{Dir: o.Dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).
		WithReadOnly(true).WithNumCompactors(0)
	db, err := badger.OpenManaged(opts)
	if err != nil {
		return nil, fmt.Errorf("open %s read-only (is a server using it?): %w", o.Dir, err)
	}
	defer db.Close()
	return verifyDB(db, o)
}

// verifyDB is Verify on an open Badger.
func verifyDB(db *badger.DB, o VerifyOptions) (*VerifyReport, error) {
	s := &Store{db: db, opts: Options{Dir: o.Dir, Partition: o.Partition}}
	m, ok, err := s.readMeta()
	if err != nil || !ok {
		return nil, fmt.Errorf("read meta of %s: %v (found %v)", o.Dir, err, ok)
	}
	txn := db.NewTransactionAt(m.Version, false)
	defer txn.Discard()
	v := &verifier{o: o, db: db, txn: txn, meta: m, chains: hashchain.NewChains(o.Partition),
		systems: map[uint64]hashchain.Hash{}, last: map[ledger.Uint128]hashchain.Balances{},
		created: map[ledger.Uint128]bool{}, born: map[ledger.Uint128]ledger.Account{}, report: &VerifyReport{Version: m.Version}}
	if err := v.run(); err != nil {
		return nil, err
	}
	return v.report, nil
}

// verifier holds one verification's running state.
type verifier struct {
	o       VerifyOptions
	db      *badger.DB
	txn     *badger.Txn
	state   *ledger.State // the accounts as they are now
	meta    meta
	chains  *hashchain.Chains
	systems map[uint64]hashchain.Hash             // recomputed system hash by version
	last    map[ledger.Uint128]hashchain.Balances // each account's balances after its last event
	created map[ledger.Uint128]bool
	born    map[ledger.Uint128]ledger.Account // each account's creation record
	heads   map[uint64][]storedHead           // 'h' values by the version that wrote them
	// lastBlock is the version of the last chain block recomputed.
	lastBlock uint64
	report    *VerifyReport
}

type storedHead struct {
	id   ledger.Uint128
	head hashchain.Head
}

func (v *verifier) run() error {
	v.state = ledger.NewState(0, 0)
	if err := loadState(v.db, v.meta, v.state, &versionIndex{}); err != nil {
		return fmt.Errorf("load the accounts: %w", err)
	}
	if err := v.readHeads(); err != nil {
		return err
	}
	if err := v.everyBatchIsChained(); err != nil {
		return err
	}
	err := forEachChainBlock(v.txn, 1, func(stored *hashchain.Block) error {
		if err := v.block(stored); err != nil {
			return err
		}
		if v.o.Progress != nil && v.report.Blocks%1024 == 0 {
			v.o.Progress(stored.Version, v.meta.Version)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if v.report.Blocks > 0 && v.lastBlock != v.meta.Version {
		return fmt.Errorf("version %d: the store's last batch has no chain block (the chain ends at version %d): blocks were deleted from its end",
			v.meta.Version, v.lastBlock)
	}
	if err := v.accountsNow(); err != nil {
		return err
	}
	return v.checkpoints()
}

// readHeads reads every stored head, every version of it.
func (v *verifier) readHeads() error {
	v.heads = map[uint64][]storedHead{}
	opts := badger.DefaultIteratorOptions
	opts.Prefix, opts.AllVersions = []byte{prefixHead}, true
	it := v.txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		id := idFromKey(item.Key())
		var h hashchain.Head
		err := item.Value(func(b []byte) (err error) { h, err = decodeHead(b); return err })
		if err != nil {
			return fmt.Errorf("version %d: stored head of account %v: %w", item.Version(), id, err)
		}
		v.heads[item.Version()] = append(v.heads[item.Version()], storedHead{id, h})
	}
	return nil
}

// everyBatchIsChained checks that every transfer block and delta block has
// its chain block: deleting a chain block must not go unnoticed.
func (v *verifier) everyBatchIsChained() error {
	for _, p := range []byte{prefixBlock, prefixDelta} {
		opts := badger.DefaultIteratorOptions
		opts.Prefix, opts.PrefetchValues = []byte{p}, false
		it := v.txn.NewIterator(opts)
		for it.Rewind(); it.Valid(); it.Next() {
			ver := be.Uint64(it.Item().Key()[1:])
			if _, err := v.txn.Get(u64Key(prefixChain, ver)); err != nil {
				it.Close()
				return fmt.Errorf("version %d: the batch has no chain block: %w", ver, err)
			}
		}
		it.Close()
	}
	return nil
}

// block recomputes one chain block and checks it against the stored one
// and against the batch's transfer and delta blocks.
func (v *verifier) block(stored *hashchain.Block) error {
	ver := stored.Version
	if ver > v.meta.Version {
		return fmt.Errorf("version %d: chain block after the store's last version %d", ver, v.meta.Version)
	}
	if err := v.trustedStamp(stored); err != nil {
		return err
	}
	in, err := chainInput(v.txn, stored)
	if err != nil {
		return fmt.Errorf("version %d: %w", ver, err)
	}
	if err := v.eventsMatchRecords(stored, in.Records); err != nil {
		return err
	}
	got, err := v.chains.Apply(in)
	if err != nil {
		return fmt.Errorf("version %d: %w", ver, err)
	}
	if err := hashchain.CompareBlocks(stored, got); err != nil {
		return err
	}
	for _, raw := range in.Accounts {
		a, err := ledger.DecodeAccount(raw)
		if err != nil {
			return fmt.Errorf("version %d: created account record: %w", ver, err)
		}
		v.born[a.ID] = a
	}
	if err := v.balancesMatchDelta(stored, in.Accounts); err != nil {
		return err
	}
	if err := v.linksMatch(stored); err != nil {
		return err
	}
	for _, sh := range v.heads[ver] {
		if h, ok := v.chains.Head(sh.id); !ok || h != sh.head {
			return fmt.Errorf("version %d: stored head of account %v is %x, recomputed %x", ver, sh.id, sh.head.Hash, h.Hash)
		}
	}
	v.systems[ver] = got.System
	v.lastBlock = ver
	v.report.Blocks++
	v.report.Events += len(got.Events)
	return nil
}

// trustedStamp checks a block's stamp, when it has one, and its key.
func (v *verifier) trustedStamp(b *hashchain.Block) error {
	if b.Stamp.IsZero() {
		return nil
	}
	if err := b.Stamp.Verify(v.o.Partition, b.Time); err != nil {
		return fmt.Errorf("version %d: stamp: %w", b.Version, err)
	}
	if !v.trusts(b.Stamp.PublicKey) {
		return fmt.Errorf("version %d: stamp signed by untrusted key %x", b.Version, b.Stamp.PublicKey)
	}
	return nil
}

func (v *verifier) trusts(key [32]byte) bool {
	if len(v.o.Trusted) == 0 {
		return true
	}
	for _, k := range v.o.Trusted {
		if k == key {
			return true
		}
	}
	return false
}

// eventsMatchRecords checks that the chain block lists every transfer of
// the transfer block once, in slot order, with its own ids.
func (v *verifier) eventsMatchRecords(b *hashchain.Block, records []byte) error {
	if len(records)%ledger.RecordSize != 0 {
		return fmt.Errorf("version %d: transfer block of %d bytes", b.Version, len(records))
	}
	n := len(records) / ledger.RecordSize
	slot := 0
	for i := range b.Events {
		ev := &b.Events[i]
		if ev.Kind != hashchain.EventTransfer {
			continue
		}
		if int(ev.Slot) != slot || slot >= n {
			return fmt.Errorf("version %d: chain event %d names transfer slot %d, expected slot %d of %d", b.Version, i, ev.Slot, slot, n)
		}
		t, err := ledger.DecodeTransfer(records[slot*ledger.RecordSize:])
		if err != nil {
			return fmt.Errorf("version %d: transfer slot %d: %w", b.Version, slot, err)
		}
		if t.ID != ev.ID || t.DebitAccountID != ev.DebitID || t.CreditAccountID != ev.CreditID {
			return fmt.Errorf("version %d: transfer slot %d holds transfer %v (%v → %v); its chain event names %v (%v → %v)",
				b.Version, slot, t.ID, t.DebitAccountID, t.CreditAccountID, ev.ID, ev.DebitID, ev.CreditID)
		}
		slot++
	}
	if slot != n {
		return fmt.Errorf("version %d: transfer block holds %d transfers, the chain block %d", b.Version, n, slot)
	}
	return nil
}

// balancesMatchDelta checks each account's balances after its last event
// in the batch against the batch's delta block, and that the delta block
// changes no account the chain block does not name.
func (v *verifier) balancesMatchDelta(b *hashchain.Block, created [][]byte) error {
	after := map[ledger.Uint128]hashchain.Balances{}
	for i, g := range b.Genesis {
		after[g.ID] = hashchain.Balances{Flags: le.Uint16(created[i][86:])}
		v.created[g.ID] = true
	}
	for i := range b.Events {
		ev := &b.Events[i]
		after[ev.DebitID], after[ev.CreditID] = ev.Debit, ev.Credit
	}
	item, err := v.txn.Get(u64Key(prefixDelta, b.Version))
	if errors.Is(err, badger.ErrKeyNotFound) {
		if len(after) > 0 {
			return fmt.Errorf("version %d: chain block changes %d accounts but the batch has no delta block", b.Version, len(after))
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("version %d: delta block: %w", b.Version, err)
	}
	block, err := item.ValueCopy(nil)
	if err != nil {
		return fmt.Errorf("version %d: delta block: %w", b.Version, err)
	}
	n, err := deltaRows(block)
	if err != nil {
		return fmt.Errorf("version %d: delta block: %w", b.Version, err)
	}
	for i := 0; i < n; i++ {
		id := rowID(block, i)
		want, ok := after[id]
		if !ok {
			return fmt.Errorf("version %d: delta block changes account %v, which no chain event names", b.Version, id)
		}
		row, err := deltaRowAt(block, i, v.hasHistory)
		if err != nil {
			return fmt.Errorf("version %d: delta block: %w", b.Version, err)
		}
		if !row.full && !allZero(row.body[34:compactSize]) {
			return fmt.Errorf("version %d: account %v: delta row padding is not zero", b.Version, id)
		}
		got := rowBalances(&row)
		if got != want {
			return fmt.Errorf("version %d: account %v: delta block balances %+v, chain block %+v", b.Version, id, got, want)
		}
		if err := v.entriesMatchEvents(b, id, &row); err != nil {
			return err
		}
		v.last[id] = got
		delete(after, id)
	}
	for id := range after {
		return fmt.Errorf("version %d: chain block changes account %v, which the delta block does not hold", b.Version, id)
	}
	return nil
}

// rowBalances reads the balances and flags of a delta row (whole record or
// compact).
func rowBalances(r *deltaRow) hashchain.Balances {
	body, flags := r.body, r.body[32:]
	if r.full {
		body, flags = body[16:], body[86:] // the record's layout (SPEC §3)
	}
	return hashchain.Balances{DebitsPending: le.Uint64(body), DebitsPosted: le.Uint64(body[8:]),
		CreditsPending: le.Uint64(body[16:]), CreditsPosted: le.Uint64(body[24:]), Flags: le.Uint16(flags)}
}

// linksMatch checks that every correction link names the intermediate
// hash its corrected transfer really has.
func (v *verifier) linksMatch(b *hashchain.Block) error {
	for i := range b.Events {
		l := b.Events[i].Link
		if l == nil {
			continue
		}
		t, err := v.transferByID(l.ID)
		if err != nil {
			return fmt.Errorf("version %d: event %d corrects %v: %w", b.Version, i, l.ID, err)
		}
		m, err := intermediateHashIn(v.txn, l.ID, t.Timestamp)
		if err != nil || m != l.M {
			return fmt.Errorf("version %d: event %d corrects %v naming hash %x; its hash is %x (%v)", b.Version, i, l.ID, l.M, m, err)
		}
	}
	return nil
}

// transferByID finds a transfer by scanning the transfer blocks (links
// are rare; verification is offline).
func (v *verifier) transferByID(id ledger.Uint128) (ledger.Transfer, error) {
	var found *ledger.Transfer
	err := scan(v.txn, prefixBlock, func(_, val []byte, _ uint64) error {
		ts, err := ledger.DecodeTransfers(val)
		for i := range ts {
			if ts[i].ID == id {
				found = &ts[i]
			}
		}
		return err
	})
	if err != nil {
		return ledger.Transfer{}, err
	}
	if found == nil {
		return ledger.Transfer{}, fmt.Errorf("no such transfer")
	}
	return *found, nil
}

// accountsNow checks the accounts as they are now: each one's balances
// equal those after its last chained event, every account has a chain,
// and every ledger conserves value.
func (v *verifier) accountsNow() error {
	st := v.state
	type sums struct{ dp, dpo, cp, cpo uint64 }
	byLedger := map[uint32]*sums{}
	for i := 0; i < st.AccountCount(); i++ {
		a := st.AccountAt(int32(i))
		if !v.created[a.ID] {
			return fmt.Errorf("account %v has no genesis in any chain block", a.ID)
		}
		got := hashchain.Balances{DebitsPending: a.DebitsPending, DebitsPosted: a.DebitsPosted,
			CreditsPending: a.CreditsPending, CreditsPosted: a.CreditsPosted, Flags: uint16(a.Flags)}
		if got != v.last[a.ID] {
			return fmt.Errorf("account %v: stored balances %+v, its chain ends at %+v", a.ID, got, v.last[a.ID])
		}
		if b := v.born[a.ID]; a.UserData128 != b.UserData128 || a.UserData64 != b.UserData64 || a.UserData32 != b.UserData32 ||
			a.Ledger != b.Ledger || a.Code != b.Code || a.Timestamp != b.Timestamp {
			return fmt.Errorf("account %v: stored record %+v differs from its creation record %+v (genesis)", a.ID, *a, b)
		}
		s := byLedger[a.Ledger]
		if s == nil {
			s = &sums{}
			byLedger[a.Ledger] = s
		}
		s.dp += a.DebitsPending
		s.dpo += a.DebitsPosted
		s.cp += a.CreditsPending
		s.cpo += a.CreditsPosted
	}
	for l, s := range byLedger {
		if s.dpo != s.cpo || s.dp != s.cp {
			return fmt.Errorf("ledger %d does not conserve value: debits posted %d, credits posted %d, debits pending %d, credits pending %d",
				l, s.dpo, s.cpo, s.dp, s.cp)
		}
	}
	v.report.Accounts = st.AccountCount()
	return nil
}

// checkpoints checks every signed checkpoint against the recomputed
// system hashes.
func (v *verifier) checkpoints() error {
	for _, cp := range v.o.Checkpoints {
		if err := cp.Verify(); err != nil {
			return fmt.Errorf("checkpoint at version %d: %w", cp.Version, err)
		}
		if !v.trusts(cp.PublicKey) {
			return fmt.Errorf("checkpoint at version %d: signed by untrusted key %x", cp.Version, cp.PublicKey)
		}
		if cp.Partition != v.o.Partition {
			return fmt.Errorf("checkpoint at version %d: names partition %d, not %d", cp.Version, cp.Partition, v.o.Partition)
		}
		s, ok := v.systems[cp.Version]
		if !ok {
			return fmt.Errorf("checkpoint at version %d: no chain block has that version", cp.Version)
		}
		if s != cp.System {
			return fmt.Errorf("checkpoint at version %d: signs system hash %x, recomputed %x", cp.Version, cp.System, s)
		}
		v.report.Checkpoints++
	}
	return nil
}

// hasHistory reports whether an account keeps balance history (fixed at
// its creation), which sizes its delta entries.
func (v *verifier) hasHistory(id ledger.Uint128) bool {
	a, ok := v.state.Account(id)
	return ok && hasHistory(&a)
}

// entriesMatchEvents checks an account's statement entries in a delta
// block against the chain events that touch it, one for one and in order:
// transfers always, expiries and balances for history accounts.
func (v *verifier) entriesMatchEvents(b *hashchain.Block, id ledger.Uint128, row *deltaRow) error {
	history := v.hasHistory(id)
	entries := decodeEntries(row.entries, history)
	if history {
		for k := range entries {
			if !allZero(row.entries[k*entryWithBalance+12 : k*entryWithBalance+16]) {
				return fmt.Errorf("version %d: account %v: history entry %d: reserved bytes not zero", b.Version, id, k)
			}
		}
	}
	k := 0
	for i := range b.Events {
		ev := &b.Events[i]
		if ev.DebitID != id && ev.CreditID != id || (ev.Kind == hashchain.EventExpiry && !history) {
			continue
		}
		if k >= len(entries) {
			return fmt.Errorf("version %d: account %v: delta block lists %d statement entries, the chain block more", b.Version, id, len(entries))
		}
		e := &entries[k]
		debit := ev.DebitID == id
		slot := int32(ev.Slot)
		if ev.Kind == hashchain.EventExpiry {
			slot = -1
		}
		if e.Slot != slot || e.Debit != debit || e.Timestamp != ev.Timestamp {
			return fmt.Errorf("version %d: account %v: statement entry %d (slot %d, time %d) differs from chain event %d (slot %d, time %d)",
				b.Version, id, k, e.Slot, e.Timestamp, i, slot, ev.Timestamp)
		}
		if history {
			want := ev.Credit
			if debit {
				want = ev.Debit
			}
			got := hashchain.Balances{DebitsPending: e.Balance.DebitsPending, DebitsPosted: e.Balance.DebitsPosted,
				CreditsPending: e.Balance.CreditsPending, CreditsPosted: e.Balance.CreditsPosted, Flags: want.Flags}
			if got != want {
				return fmt.Errorf("version %d: account %v: history entry %d balances %+v, chain event %d %+v", b.Version, id, k, got, i, want)
			}
		}
		k++
	}
	if k != len(entries) {
		return fmt.Errorf("version %d: account %v: delta block lists %d statement entries, the chain block %d", b.Version, id, len(entries), k)
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
