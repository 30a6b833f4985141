package hashchain

import "github.com/conto-ledger/conto/engine/ledger"

// applier runs one consistent batch through the chains. It holds what every
// event needs, so the per-event code allocates nothing.
type applier struct {
	c    *Chains
	in   *BatchInput
	each func(ledger.Uint128, *AccountRecord) // nil: no records wanted
	rec  *AccountRecord                       // reused for every record reported
}

// side is one party of an event, as the event sees it.
type side struct {
	id     ledger.Uint128
	at     int32 // position in the chains
	head   Hash  // after any migration, before the event
	salt   Hash
	commit Hash
}

// genesisRecords reports the genesis record of every account created.
func (a *applier) genesisRecords(gen []GenesisEntry) {
	for _, g := range gen {
		*a.rec = AccountRecord{Kind: RecordGenesis, Version: a.in.Version, Alg: a.in.Alg, Head: g.Hash}
		a.each(g.ID, a.rec)
	}
}

// event chains in.Events[i].
func (a *applier) event(i int) {
	in := a.in
	ev := &in.Events[i]
	slot := saltSlot(ev, i)
	ev.DebitPrev, ev.DebitPrevAlg = a.c.heads[a.c.parties[2*i]].Hash, a.c.heads[a.c.parties[2*i]].Alg
	ev.CreditPrev, ev.CreditPrevAlg = a.c.heads[a.c.parties[2*i+1]].Hash, a.c.heads[a.c.parties[2*i+1]].Alg
	d := a.party(ev, ev.DebitID, a.c.parties[2*i], slot)
	c := a.party(ev, ev.CreditID, a.c.parties[2*i+1], slot)
	d.salt = Salt(in.Alg, in.Stamp.Nonce, in.Version, slot, true)
	c.salt = Salt(in.Alg, in.Stamp.Nonce, in.Version, slot, false)
	d.commit = Commitment(in.Alg, d.head, &ev.Debit, d.salt)
	c.commit = Commitment(in.Alg, c.head, &ev.Credit, c.salt)
	record := transferRecord(in, ev)
	ev.M = IntermediateHash(in.Alg, ev, record, d.commit, c.commit)
	dh := NextHead(in.Alg, d.head, ev.M, &ev.Debit)
	ch := NextHead(in.Alg, c.head, ev.M, &ev.Credit)
	a.c.heads[d.at] = Head{Hash: dh, Alg: in.Alg}
	a.c.heads[c.at] = Head{Hash: ch, Alg: in.Alg}
	if a.each != nil {
		a.report(ev, slot, record, &d, &c, dh, &ev.Debit, true)
		a.report(ev, slot, record, &c, &d, ch, &ev.Credit, false)
	}
}

// saltSlot is the slot salts use for in.Events[i]: the transfer's slot, or
// for an expiry 0xFFFFFFFF - i, so no two events of a batch share salts.
func saltSlot(ev *Event, i int) uint32 {
	if ev.Kind == EventExpiry {
		return ^uint32(0) - uint32(i)
	}
	return ev.Slot
}

// transferRecord returns the 128-byte transfer record of ev, or nil for an
// expiry.
func transferRecord(in *BatchInput, ev *Event) []byte {
	if ev.Kind != EventTransfer {
		return nil
	}
	off := int(ev.Slot) * ledger.RecordSize
	return in.Records[off : off+ledger.RecordSize : off+ledger.RecordSize]
}

// party returns one side of ev, whose chain is at position at, migrating
// the chain to the batch's algorithm if needed.
func (a *applier) party(ev *Event, id ledger.Uint128, at int32, slot uint32) side {
	h := a.c.heads[at]
	if h.Alg != a.in.Alg {
		next := MigrationHead(a.in.Alg, h.Alg, h.Hash, a.in.Version)
		a.c.heads[at] = Head{Hash: next, Alg: a.in.Alg}
		if a.each != nil {
			*a.rec = AccountRecord{Kind: RecordMigration, Version: a.in.Version, Slot: slot, TransferID: ev.ID,
				Timestamp: ev.Timestamp, Alg: a.in.Alg, Prev: h.Hash, Head: next}
			a.each(id, a.rec)
		}
		h.Hash = next
	}
	return side{id: id, at: at, head: h.Hash}
}

// report reports own's record of ev; other is the counterparty.
func (a *applier) report(ev *Event, slot uint32, record []byte, own, other *side, head Hash, b *Balances, debit bool) {
	*a.rec = AccountRecord{Kind: RecordKind(ev.Kind), Version: a.in.Version, Slot: slot, TransferID: ev.ID,
		Timestamp: ev.Timestamp, Alg: a.in.Alg, Prev: own.head, M: ev.M, Balances: *b, Head: head,
		Debit: debit, Salt: own.salt, Counter: other.commit, CounterID: other.id, CounterBalances: *otherBalances(ev, debit),
		CounterHead: other.head, CounterSalt: other.salt, Link: ev.Link, Record: record}
	a.each(own.id, a.rec)
}

// otherBalances returns the counterparty's balances after ev, for the
// debit side's record (debit) or the credit side's.
func otherBalances(ev *Event, debit bool) *Balances {
	if debit {
		return &ev.Credit
	}
	return &ev.Debit
}
