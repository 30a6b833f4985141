package hashchain

import "github.com/conto-ledger/conto/engine/ledger"

// Reading chains back from stored blocks. Every event keeps both parties'
// heads before it, so one block (with its batch's transfer records) gives
// each party's records of that batch without replaying anything.

// partyBefore returns a party's head as m's commitment covers it: the
// stored head before the event, migrated to the block's algorithm if it was
// of another.
func partyBefore(b *Block, prev Hash, alg Alg) Hash {
	if alg != b.Alg {
		return MigrationHead(b.Alg, alg, prev, b.Version)
	}
	return prev
}

// EventCommitments returns the debit and credit commitments that event i's
// m covers.
func EventCommitments(b *Block, i int) (debit, credit Hash) {
	ev := &b.Events[i]
	slot := saltSlot(ev, i)
	dh := partyBefore(b, ev.DebitPrev, ev.DebitPrevAlg)
	ch := partyBefore(b, ev.CreditPrev, ev.CreditPrevAlg)
	debit = Commitment(b.Alg, dh, &ev.Debit, Salt(b.Alg, b.Stamp.Nonce, b.Version, slot, true))
	credit = Commitment(b.Alg, ch, &ev.Credit, Salt(b.Alg, b.Stamp.Nonce, b.Version, slot, false))
	return debit, credit
}

// AccountRecordsOf returns account id's records in block b, in chain order:
// its genesis record if b created it, then per event that names it a
// migration record if its chain changed algorithm, and the event's record.
// records is the batch's transfer block; a transfer record's Record points
// into it. The records are what ApplyRecords reported when the batch was
// chained.
func AccountRecordsOf(b *Block, records []byte, id ledger.Uint128) []AccountRecord {
	var out []AccountRecord
	for _, g := range b.Genesis {
		if g.ID == id {
			out = append(out, AccountRecord{Kind: RecordGenesis, Version: b.Version, Alg: b.Alg, Head: g.Hash})
		}
	}
	for i := range b.Events {
		ev := &b.Events[i]
		if ev.DebitID != id && ev.CreditID != id {
			continue
		}
		out = appendEventRecords(out, b, records, i, ev.DebitID == id)
	}
	return out
}

// appendEventRecords appends one party's migration (if any) and event
// records of event i.
func appendEventRecords(out []AccountRecord, b *Block, records []byte, i int, debit bool) []AccountRecord {
	ev := &b.Events[i]
	slot := saltSlot(ev, i)
	ownPrev, ownAlg, otherPrev, otherAlg, bal, other := ev.CreditPrev, ev.CreditPrevAlg, ev.DebitPrev, ev.DebitPrevAlg, ev.Credit, ev.DebitID
	if debit {
		ownPrev, ownAlg, otherPrev, otherAlg, bal, other = ev.DebitPrev, ev.DebitPrevAlg, ev.CreditPrev, ev.CreditPrevAlg, ev.Debit, ev.CreditID
	}
	counterBal := otherBalances(ev, debit)
	own := partyBefore(b, ownPrev, ownAlg)
	if ownAlg != b.Alg {
		out = append(out, AccountRecord{Kind: RecordMigration, Version: b.Version, Slot: slot, TransferID: ev.ID,
			Timestamp: ev.Timestamp, Alg: b.Alg, Prev: ownPrev, Head: own})
	}
	counterHead := partyBefore(b, otherPrev, otherAlg)
	ownSalt := Salt(b.Alg, b.Stamp.Nonce, b.Version, slot, debit)
	counterSalt := Salt(b.Alg, b.Stamp.Nonce, b.Version, slot, !debit)
	var rec []byte
	if off := int(ev.Slot) * ledger.RecordSize; ev.Kind == EventTransfer && off+ledger.RecordSize <= len(records) {
		rec = records[off : off+ledger.RecordSize : off+ledger.RecordSize]
	}
	return append(out, AccountRecord{Kind: RecordKind(ev.Kind), Version: b.Version, Slot: slot, TransferID: ev.ID,
		Timestamp: ev.Timestamp, Alg: b.Alg, Prev: own, M: ev.M, Balances: bal, Head: NextHead(b.Alg, own, ev.M, &bal),
		Debit: debit, Salt: ownSalt, Counter: Commitment(b.Alg, counterHead, counterBal, counterSalt), CounterID: other, CounterBalances: *counterBal,
		CounterHead: counterHead, CounterSalt: counterSalt, Link: ev.Link, Record: rec})
}
