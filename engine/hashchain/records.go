package hashchain

import (
	"fmt"

	"github.com/conto-ledger/conto/engine/ledger"
)

// RecordKind is the kind of an AccountRecord. Transfer and expiry share their
// values with the event kinds.
type RecordKind uint8

// The kinds of account record.
const (
	RecordTransfer  RecordKind = RecordKind(EventTransfer)
	RecordExpiry    RecordKind = RecordKind(EventExpiry)
	RecordGenesis   RecordKind = 3
	RecordMigration RecordKind = 4
)

// String names the kind.
func (k RecordKind) String() string {
	switch k {
	case RecordTransfer:
		return "transfer"
	case RecordExpiry:
		return "expiry"
	case RecordGenesis:
		return "genesis"
	case RecordMigration:
		return "migration"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseRecordKind returns the kind String names ("genesis", "transfer",
// "expiry" or "migration"), for records read back from an API answer.
func ParseRecordKind(s string) (RecordKind, error) {
	for _, k := range []RecordKind{RecordGenesis, RecordTransfer, RecordExpiry, RecordMigration} {
		if s == k.String() {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown chain record kind %q (valid: genesis, transfer, expiry, migration): %w", s, ErrFormat)
}

// AccountRecord is one step of one account's chain, as the API shows it and
// VerifyAccountRecords checks it. A private view zeroes CounterHead and
// CounterSalt: the account then sees only its counterparty's commitment,
// which is all it needs to recompute m.
type AccountRecord struct {
	Kind    RecordKind
	Version uint64
	// Slot is the slot the salts used: the transfer's slot, or for an
	// expiry 0xFFFFFFFF minus its event index (see Chains.Apply). A
	// migration record carries the slot of the event that caused it.
	Slot       uint32
	TransferID ledger.Uint128 // the event's ID (expiry: the pending transfer)
	Timestamp  uint64         // the event's Timestamp
	Alg        Alg
	Prev       Hash // the head before this record (zero for genesis)
	M          Hash // the event's intermediate hash (transfer and expiry)
	Balances   Balances
	Head       Hash // the head after this record
	Debit      bool // this account was the debit side
	Salt       Hash // own salt: Commitment(Alg, Prev, &Balances, Salt) is what m covers
	Counter    Hash // the counterparty's commitment, as m covers it
	CounterID  ledger.Uint128
	// CounterBalances are the counterparty's balances after the event,
	// which its commitment covers; with CounterHead and CounterSalt they
	// open it (zero in a private view).
	CounterBalances Balances
	// CounterHead and CounterSalt open Counter (the counterparty's head
	// before the event and its salt); zero in a private view.
	CounterHead Hash
	CounterSalt Hash
	Link        *Link
	// Record is the transfer's 128-byte record, for a transfer record: with
	// it the verifier recomputes m. Apply's records point into
	// BatchInput.Records.
	Record []byte
}

// VerifyAccountRecords checks that records, account id's chain steps in
// order, re-derive each head from the one before. prev is the trusted head
// before records[0] (the zero Head when records[0] is the account's genesis
// record, whose hash needs the creating batch's stamp and the account record:
// see GenesisHash). For each record it checks that Prev is the previous head,
// that a migration changes algorithm and a transfer or expiry does not, and
// recomputes Head (MigrationHead or NextHead). For a transfer with its Record,
// and for every expiry, it recomputes m from the record, the account's own
// commitment (Prev and Salt) and the counterparty's commitment; when
// CounterHead or CounterSalt is shown (a public view) it also checks that
// they open Counter. The first failure is a *Mismatch.
func VerifyAccountRecords(id ledger.Uint128, prev Head, records []AccountRecord) error {
	cur := prev
	for i := range records {
		r := &records[i]
		if what, want, got := checkRecord(id, cur, r, i == 0); what != "" {
			return &Mismatch{Version: r.Version, What: fmt.Sprintf("account %v record %d (%s): %s", id, i, r.name(), what),
				Want: want, Got: got}
		}
		cur = Head{Hash: r.Head, Alg: r.Alg}
	}
	return nil
}

// name describes a record for a Mismatch.
func (r *AccountRecord) name() string {
	switch r.Kind {
	case RecordTransfer:
		return fmt.Sprintf("transfer slot %d, id %v", r.Slot, r.TransferID)
	case RecordExpiry:
		return fmt.Sprintf("expiry of %v", r.TransferID)
	case RecordGenesis:
		return "genesis"
	}
	return r.Kind.String()
}

// checkRecord checks one record against the head before it and returns the
// first field that does not hold, with its expected and actual values.
func checkRecord(id ledger.Uint128, cur Head, r *AccountRecord, first bool) (what, want, got string) {
	if !r.Alg.Valid() {
		return "alg", "sha256 or blake2b-256", r.Alg.String()
	}
	if r.Kind == RecordGenesis {
		if !first || cur != (Head{}) {
			return "kind", "a genesis record only first, with no head before", "genesis"
		}
		return "", "", ""
	}
	if cur == (Head{}) {
		return "prev", "a known head to start from", "none"
	}
	if r.Prev != cur.Hash {
		return "prev", cur.Hash.String(), r.Prev.String()
	}
	switch r.Kind {
	case RecordMigration:
		return checkMigration(cur, r)
	case RecordTransfer, RecordExpiry:
		return checkEventRecord(id, cur, r)
	}
	return "kind", "genesis, transfer, expiry or migration", r.Kind.String()
}

func checkMigration(cur Head, r *AccountRecord) (what, want, got string) {
	if r.Alg == cur.Alg {
		return "alg", "a change of algorithm", r.Alg.String()
	}
	if h := MigrationHead(r.Alg, cur.Alg, r.Prev, r.Version); h != r.Head {
		return "head", h.String(), r.Head.String()
	}
	return "", "", ""
}

func checkEventRecord(id ledger.Uint128, cur Head, r *AccountRecord) (what, want, got string) {
	if r.Alg != cur.Alg {
		return "alg (without a migration record)", cur.Alg.String(), r.Alg.String()
	}
	if !r.CounterHead.IsZero() || !r.CounterSalt.IsZero() {
		if c := Commitment(r.Alg, r.CounterHead, &r.CounterBalances, r.CounterSalt); c != r.Counter {
			return "counterparty commitment", c.String(), r.Counter.String()
		}
	}
	if r.Kind == RecordExpiry || r.Record != nil {
		if m := r.intermediate(id); m != r.M {
			return "intermediate hash", m.String(), r.M.String()
		}
	}
	if h := NextHead(r.Alg, r.Prev, r.M, &r.Balances); h != r.Head {
		return "head", h.String(), r.Head.String()
	}
	return "", "", ""
}

// intermediate recomputes the record's m as account id sees it: its own
// commitment from Prev and Salt, the counterparty's as given.
func (r *AccountRecord) intermediate(id ledger.Uint128) Hash {
	ev := Event{Kind: uint8(r.Kind), ID: r.TransferID, Timestamp: r.Timestamp, Link: r.Link}
	if r.Kind == RecordTransfer {
		ev.Slot = r.Slot // an expiry's event slot is 0; r.Slot is its salt slot
	}
	own := Commitment(r.Alg, r.Prev, &r.Balances, r.Salt)
	if r.Debit {
		ev.DebitID, ev.CreditID = id, r.CounterID
		return IntermediateHash(r.Alg, &ev, r.Record, own, r.Counter)
	}
	ev.DebitID, ev.CreditID = r.CounterID, id
	return IntermediateHash(r.Alg, &ev, r.Record, r.Counter, own)
}
