package wire

import (
	"encoding/hex"
	"fmt"

	"github.com/conto-ledger/conto/engine/hashchain"
	"github.com/conto-ledger/conto/engine/ledger"
)

// The hash-chain API's JSON (docs/api.md, "Hash chains"). Hashes are
// lowercase hex; integers follow SPEC's rules (u64 as decimal strings).

// ChainBalances is an account's balances (and flags) after a chain event.
type ChainBalances struct {
	DebitsPending  U64          `json:"debits_pending"`
	DebitsPosted   U64          `json:"debits_posted"`
	CreditsPending U64          `json:"credits_pending"`
	CreditsPosted  U64          `json:"credits_posted"`
	Flags          AccountFlags `json:"flags"`
}

// FromBalances converts chain balances.
func FromBalances(b *hashchain.Balances) ChainBalances {
	return ChainBalances{U64(b.DebitsPending), U64(b.DebitsPosted), U64(b.CreditsPending), U64(b.CreditsPosted), AccountFlags(b.Flags)}
}

// ToHashchain converts back.
func (b *ChainBalances) ToHashchain() hashchain.Balances {
	return hashchain.Balances{DebitsPending: uint64(b.DebitsPending), DebitsPosted: uint64(b.DebitsPosted),
		CreditsPending: uint64(b.CreditsPending), CreditsPosted: uint64(b.CreditsPosted), Flags: uint16(b.Flags)}
}

// ChainLink names the transfer a correction corrects and its intermediate hash.
type ChainLink struct {
	TransferID U128           `json:"transfer_id"`
	M          hashchain.Hash `json:"m"`
}

func fromLink(l *hashchain.Link) *ChainLink {
	if l == nil {
		return nil
	}
	return &ChainLink{U128(l.ID), l.M}
}

func (l *ChainLink) toHashchain() *hashchain.Link {
	if l == nil {
		return nil
	}
	return &hashchain.Link{ID: ledger.Uint128(l.TransferID), M: l.M}
}

// ChainRecord is one step of an account's chain
// (GET /v1/accounts/{id}/chain).
type ChainRecord struct {
	Kind      string         `json:"kind"` // genesis, transfer, expiry, migration
	Version   U64            `json:"version"`
	Slot      uint32         `json:"slot"`
	Timestamp U64            `json:"timestamp"`
	Alg       string         `json:"alg"`
	Prev      hashchain.Hash `json:"prev"`
	Head      hashchain.Hash `json:"head"`
	Balances  ChainBalances  `json:"balances"`
	// Transfer and expiry records.
	TransferID     *U128           `json:"transfer_id,omitempty"`
	Side           string          `json:"side,omitempty"` // debit or credit
	M              *hashchain.Hash `json:"m,omitempty"`
	Salt           *hashchain.Hash `json:"salt,omitempty"`
	CounterpartyID *U128           `json:"counterparty_id,omitempty"`
	Counter        *hashchain.Hash `json:"counterparty_commitment,omitempty"`
	// CounterHead, CounterSalt and CounterBalances open the counterparty's
	// commitment; a server in private chain view leaves them out.
	CounterHead     *hashchain.Hash `json:"counterparty_head,omitempty"`
	CounterSalt     *hashchain.Hash `json:"counterparty_salt,omitempty"`
	CounterBalances *ChainBalances  `json:"counterparty_balances,omitempty"`
	Corrects        *ChainLink      `json:"corrects,omitempty"`
	// Transfer is the transfer's record, which m covers.
	Transfer *Transfer `json:"transfer,omitempty"`
}

// AccountChain is a page of an account's chain.
type AccountChain struct {
	AccountID U128          `json:"account_id"`
	From      int           `json:"from"` // index of Records[0] in the chain
	Records   []ChainRecord `json:"records"`
	Next      *int          `json:"next,omitempty"` // the next page's from; absent at the end
}

func hp(h hashchain.Hash) *hashchain.Hash { return &h }

// FromAccountRecord converts a chain record; private leaves out what opens
// the counterparty's commitment.
func FromAccountRecord(r *hashchain.AccountRecord, private bool) ChainRecord {
	c := ChainRecord{Kind: r.Kind.String(), Version: U64(r.Version), Slot: r.Slot, Timestamp: U64(r.Timestamp),
		Alg: r.Alg.String(), Prev: r.Prev, Head: r.Head, Balances: FromBalances(&r.Balances)}
	if r.Kind != hashchain.RecordTransfer && r.Kind != hashchain.RecordExpiry {
		return c
	}
	id, counter := U128(r.TransferID), U128(r.CounterID)
	c.TransferID, c.CounterpartyID = &id, &counter
	c.Side = "credit"
	if r.Debit {
		c.Side = "debit"
	}
	c.M, c.Salt, c.Counter = hp(r.M), hp(r.Salt), hp(r.Counter)
	if !private {
		cb := FromBalances(&r.CounterBalances)
		c.CounterHead, c.CounterSalt, c.CounterBalances = hp(r.CounterHead), hp(r.CounterSalt), &cb
	}
	c.Corrects = fromLink(r.Link)
	if len(r.Record) == ledger.RecordSize {
		if t, err := ledger.DecodeTransfer(r.Record); err == nil {
			w := FromTransfer(&t)
			c.Transfer = &w
		}
	}
	return c
}

// ToHashchain converts a chain record back, for verification. The
// transfer's record is re-encoded from its JSON.
func (c *ChainRecord) ToHashchain() (hashchain.AccountRecord, error) {
	kind, err := hashchain.ParseRecordKind(c.Kind)
	if err != nil {
		return hashchain.AccountRecord{}, err
	}
	alg, err := hashchain.ParseAlg(c.Alg)
	if err != nil {
		return hashchain.AccountRecord{}, err
	}
	r := hashchain.AccountRecord{Kind: kind, Version: uint64(c.Version), Slot: c.Slot, Timestamp: uint64(c.Timestamp),
		Alg: alg, Prev: c.Prev, Head: c.Head, Balances: c.Balances.ToHashchain(), Debit: c.Side == "debit", Link: c.Corrects.toHashchain()}
	deref := func(h *hashchain.Hash) hashchain.Hash {
		if h == nil {
			return hashchain.Hash{}
		}
		return *h
	}
	r.M, r.Salt, r.Counter, r.CounterHead, r.CounterSalt = deref(c.M), deref(c.Salt), deref(c.Counter), deref(c.CounterHead), deref(c.CounterSalt)
	if c.TransferID != nil {
		r.TransferID = ledger.Uint128(*c.TransferID)
	}
	if c.CounterpartyID != nil {
		r.CounterID = ledger.Uint128(*c.CounterpartyID)
	}
	if c.CounterBalances != nil {
		r.CounterBalances = c.CounterBalances.ToHashchain()
	}
	if c.Transfer != nil {
		t := c.Transfer.ToLedger()
		r.Record = make([]byte, ledger.RecordSize)
		ledger.EncodeTransfer(r.Record, &t)
	}
	return r, nil
}

// Hex is bytes written as lowercase hex.
type Hex []byte

// MarshalText writes hex.
func (h Hex) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

// UnmarshalText reads hex.
func (h *Hex) UnmarshalText(b []byte) error {
	v, err := hex.DecodeString(string(b))
	if err != nil {
		return fmt.Errorf("not hex: %w", err)
	}
	*h = v
	return nil
}

// Checkpoint is a signed checkpoint of a partition's system hash.
type Checkpoint struct {
	Partition uint32         `json:"partition"`
	Version   U64            `json:"version"`
	Alg       string         `json:"alg"`
	System    hashchain.Hash `json:"system"`
	Time      U64            `json:"time"`
	PublicKey Hex            `json:"public_key"`
	Signature Hex            `json:"signature"`
}

// FromCheckpoint converts a checkpoint.
func FromCheckpoint(c *hashchain.Checkpoint) Checkpoint {
	return Checkpoint{Partition: c.Partition, Version: U64(c.Version), Alg: c.Alg.String(), System: c.System,
		Time: U64(c.Time), PublicKey: c.PublicKey[:], Signature: c.Signature[:]}
}

// ToHashchain converts back (the signature is not checked here).
func (c *Checkpoint) ToHashchain() (hashchain.Checkpoint, error) {
	alg, err := hashchain.ParseAlg(c.Alg)
	if err != nil {
		return hashchain.Checkpoint{}, err
	}
	out := hashchain.Checkpoint{Partition: c.Partition, Version: uint64(c.Version), Alg: alg, System: c.System, Time: uint64(c.Time)}
	if len(c.PublicKey) != len(out.PublicKey) || len(c.Signature) != len(out.Signature) {
		return out, fmt.Errorf("checkpoint: public key of %d bytes, signature of %d", len(c.PublicKey), len(c.Signature))
	}
	copy(out.PublicKey[:], c.PublicKey)
	copy(out.Signature[:], c.Signature)
	return out, nil
}

// ChainEvent is one event of a chain block.
type ChainEvent struct {
	Kind            string         `json:"kind"` // transfer or expiry
	Slot            uint32         `json:"slot"`
	ID              U128           `json:"id"`
	Timestamp       U64            `json:"timestamp"`
	DebitAccountID  U128           `json:"debit_account_id"`
	CreditAccountID U128           `json:"credit_account_id"`
	M               hashchain.Hash `json:"m"`
	DebitPrev       hashchain.Hash `json:"debit_prev"`
	DebitPrevAlg    string         `json:"debit_prev_alg"`
	CreditPrev      hashchain.Hash `json:"credit_prev"`
	CreditPrevAlg   string         `json:"credit_prev_alg"`
	Debit           ChainBalances  `json:"debit"`
	Credit          ChainBalances  `json:"credit"`
	Corrects        *ChainLink     `json:"corrects,omitempty"`
}

// ChainGenesis is an account created by a chain block, and its genesis hash.
type ChainGenesis struct {
	Account Account        `json:"account"`
	Hash    hashchain.Hash `json:"hash"`
}

// ChainBlock is one batch's chain block with the records it covers
// (GET /v1/chain/blocks).
type ChainBlock struct {
	Partition uint32         `json:"partition"`
	Version   U64            `json:"version"`
	Alg       string         `json:"alg"`
	Time      U64            `json:"time"`
	Stamp     Hex            `json:"stamp"` // 128 bytes: public key, nonce, signature
	Prev      hashchain.Hash `json:"prev"`
	System    hashchain.Hash `json:"system"`
	Root      hashchain.Hash `json:"root"`
	Genesis   []ChainGenesis `json:"genesis"`
	Events    []ChainEvent   `json:"events"`
	Transfers []Transfer     `json:"transfers"`
}

// ChainBlocks is a page of chain blocks.
type ChainBlocks struct {
	Blocks []ChainBlock `json:"blocks"`
	Next   *U64         `json:"next,omitempty"` // the next page's from version
}

// SystemLink is one step of a system-hash path: what a block adds to the
// system hash of the one before.
type SystemLink struct {
	Version U64            `json:"version"`
	Alg     string         `json:"alg"`
	Time    U64            `json:"time"`
	Stamp   Hex            `json:"stamp,omitempty"` // left out in a private view
	Root    hashchain.Hash `json:"root"`
}

// TransferProof proves a transfer is in its batch's Merkle root, and the
// batch in a signed checkpoint (GET /v1/transfers/{id}/proof).
type TransferProof struct {
	Transfer  Transfer       `json:"transfer"`
	Partition uint32         `json:"partition"`
	Version   U64            `json:"version"`
	LeafIndex int            `json:"leaf_index"`
	TreeSize  int            `json:"tree_size"`
	Leaf      hashchain.Hash `json:"leaf"` // the transfer's intermediate hash
	Slot      uint32         `json:"slot"` // the transfer\'s slot in its batch, which m covers
	// The commitments m covers besides the record: with them a client
	// recomputes m from the transfer.
	DebitCommitment  hashchain.Hash   `json:"debit_commitment"`
	CreditCommitment hashchain.Hash   `json:"credit_commitment"`
	Corrects         *ChainLink       `json:"corrects,omitempty"`
	AuditPath        []hashchain.Hash `json:"audit_path"`
	Block            SystemLink       `json:"block"`
	Prev             hashchain.Hash   `json:"prev"` // the system hash before the block
	SystemPath       []SystemLink     `json:"system_path"`
	Checkpoint       Checkpoint       `json:"checkpoint"`
}

// ToHashchain turns a served chain block into the block as served and the
// batch input that recomputes it (hashes zeroed): what an untrusting client
// feeds to hashchain.Chains.Apply and compares with CompareBlocks.
func (wb *ChainBlock) ToHashchain() (*hashchain.Block, *hashchain.BatchInput, error) {
	alg, err := hashchain.ParseAlg(wb.Alg)
	if err != nil {
		return nil, nil, err
	}
	stamp, err := hashchain.DecodeStamp(wb.Stamp)
	if err != nil {
		return nil, nil, fmt.Errorf("stamp: %w", err)
	}
	b := &hashchain.Block{Alg: alg, Version: uint64(wb.Version), Time: uint64(wb.Time), Stamp: stamp,
		Prev: wb.Prev, System: wb.System, Root: wb.Root}
	in := &hashchain.BatchInput{Alg: alg, Version: b.Version, Time: b.Time, Stamp: stamp}
	for i := range wb.Genesis {
		acc := wb.Genesis[i].Account.ToLedger()
		rec := make([]byte, ledger.RecordSize)
		ledger.EncodeAccount(rec, &acc)
		in.Accounts = append(in.Accounts, rec)
		b.Genesis = append(b.Genesis, hashchain.GenesisEntry{ID: acc.ID, Hash: wb.Genesis[i].Hash})
	}
	in.Records = make([]byte, len(wb.Transfers)*ledger.RecordSize)
	for i := range wb.Transfers {
		t := wb.Transfers[i].ToLedger()
		ledger.EncodeTransfer(in.Records[i*ledger.RecordSize:], &t)
	}
	for i := range wb.Events {
		ev, err := eventToHashchain(&wb.Events[i])
		if err != nil {
			return nil, nil, fmt.Errorf("event %d: %w", i, err)
		}
		b.Events = append(b.Events, ev)
		ev.M, ev.DebitPrev, ev.CreditPrev = hashchain.Hash{}, hashchain.Hash{}, hashchain.Hash{}
		in.Events = append(in.Events, ev)
	}
	return b, in, nil
}

func eventToHashchain(we *ChainEvent) (hashchain.Event, error) {
	ev := hashchain.Event{Slot: we.Slot, ID: ledger.Uint128(we.ID), Timestamp: uint64(we.Timestamp),
		DebitID: ledger.Uint128(we.DebitAccountID), CreditID: ledger.Uint128(we.CreditAccountID), M: we.M,
		DebitPrev: we.DebitPrev, CreditPrev: we.CreditPrev, Debit: we.Debit.ToHashchain(), Credit: we.Credit.ToHashchain()}
	var err error
	if ev.DebitPrevAlg, err = hashchain.ParseAlg(we.DebitPrevAlg); err != nil {
		return ev, fmt.Errorf("debit_prev_alg: %w", err)
	}
	if ev.CreditPrevAlg, err = hashchain.ParseAlg(we.CreditPrevAlg); err != nil {
		return ev, fmt.Errorf("credit_prev_alg: %w", err)
	}
	switch we.Kind {
	case "transfer":
		ev.Kind = hashchain.EventTransfer
	case "expiry":
		ev.Kind = hashchain.EventExpiry
	default:
		return ev, fmt.Errorf("unknown event kind %q", we.Kind)
	}
	if we.Corrects != nil {
		ev.Link = &hashchain.Link{ID: ledger.Uint128(we.Corrects.TransferID), M: we.Corrects.M}
	}
	return ev, nil
}
