package hashchain

import (
	"bytes"
	"math/rand/v2"
	"slices"

	"github.com/conto-ledger/conto/engine/ledger"
)

// world generates plausible batch inputs: accounts created in the first
// batch, then transfers between them, an expiry per later batch and now and
// then a correction, with balances that move like a ledger's and account
// flags that now and then close or re-open an account.
type world struct {
	rng       *rand.Rand
	flagRng   *rand.Rand // a stream of its own, so flags leave the rest of a history as it was
	partition uint32
	key       []byte // ed25519 private key
	accounts  []ledger.Uint128
	balances  map[ledger.Uint128]Balances
	version   uint64
	time      uint64
	nextID    uint64
	transfers []ledger.Uint128
}

func newWorld(seed uint64) *world {
	return &world{rng: rand.New(rand.NewPCG(seed, 0x5eed)), flagRng: rand.New(rand.NewPCG(seed, 0xf1a9)),
		partition: 1, key: testKey(9),
		balances: map[ledger.Uint128]Balances{}, time: 1_700_000_000_000_000_000, nextID: 1000}
}

func (w *world) id() ledger.Uint128 {
	w.nextID++
	return ledger.Uint128{Lo: w.nextID, Hi: w.nextID % 3}
}

// batch returns the next batch: it creates newAccounts accounts and carries
// about n transfers; every batch but the first opens with an expiry.
func (w *world) batch(alg Alg, newAccounts, n int) *BatchInput {
	w.version += 1 + uint64(w.rng.IntN(3))
	w.time += 1_000_000
	in := &BatchInput{Alg: alg, Version: w.version, Time: w.time}
	var err error
	in.Stamp, err = NewStamp(w.key, w.partition, w.time, bytes.NewReader(pat(byte(w.version), 32)))
	if err != nil {
		panic(err)
	}
	for range newAccounts {
		id := w.id()
		flags := accountFlags[w.flagRng.IntN(len(accountFlags))]
		rec := make([]byte, ledger.RecordSize)
		ledger.EncodeAccount(rec, &ledger.Account{ID: id, Ledger: 1, Code: 1, Flags: flags, Timestamp: w.tick()})
		in.Accounts = append(in.Accounts, rec)
		w.accounts = append(w.accounts, id)
		w.balances[id] = Balances{Flags: uint16(flags)}
	}
	if len(w.transfers) > 0 {
		d, c := w.pair()
		in.Events = append(in.Events, Event{Kind: EventExpiry, ID: w.transfers[w.rng.IntN(len(w.transfers))],
			Timestamp: w.tick(), DebitID: d, CreditID: c, Debit: w.move(d, 0, true), Credit: w.move(c, 0, false)})
	}
	for slot := range n {
		in.Events = append(in.Events, w.transfer(in, uint32(slot)))
	}
	return in
}

func (w *world) tick() uint64 {
	w.time++
	return w.time
}

func (w *world) pair() (ledger.Uint128, ledger.Uint128) {
	i := w.rng.IntN(len(w.accounts))
	j := (i + 1 + w.rng.IntN(len(w.accounts)-1)) % len(w.accounts)
	return w.accounts[i], w.accounts[j]
}

// accountFlags are the flags accounts are created with.
var accountFlags = []ledger.AccountFlags{0, ledger.AccountHistory, ledger.AccountDebitsMustNotExceedCredits,
	ledger.AccountCreditsMustNotExceedDebits | ledger.AccountHistory}

func (w *world) move(id ledger.Uint128, amount uint64, debit bool) Balances {
	b := w.balances[id]
	if w.flagRng.IntN(8) == 0 {
		b.Flags ^= uint16(ledger.AccountClosed) // a closing transfer, or its void
	}
	if debit {
		b.DebitsPosted += amount
		b.DebitsPending = uint64(w.rng.IntN(5))
	} else {
		b.CreditsPosted += amount
		b.CreditsPending = uint64(w.rng.IntN(5))
	}
	w.balances[id] = b
	return b
}

func (w *world) transfer(in *BatchInput, slot uint32) Event {
	d, c := w.pair()
	t := ledger.Transfer{ID: w.id(), DebitAccountID: d, CreditAccountID: c, Amount: 1 + uint64(w.rng.IntN(1000)),
		Ledger: 1, Code: 1, Timestamp: w.tick()}
	rec := make([]byte, ledger.RecordSize)
	ledger.EncodeTransfer(rec, &t)
	in.Records = append(in.Records, rec...)
	ev := Event{Kind: EventTransfer, Slot: slot, ID: t.ID, Timestamp: t.Timestamp, DebitID: d, CreditID: c,
		Debit: w.move(d, t.Amount, true), Credit: w.move(c, t.Amount, false)}
	if len(w.transfers) > 0 && w.rng.IntN(10) == 0 {
		ev.Link = &Link{ID: w.transfers[w.rng.IntN(len(w.transfers))], M: Sum(SHA256, 0xEE, rec)}
	}
	w.transfers = append(w.transfers, t.ID)
	return ev
}

// history generates batches: the first creates accounts, the rest move
// money; algs gives each batch's algorithm (cycled).
func history(seed uint64, accounts, batches, perBatch int, algs ...Alg) []*BatchInput {
	w := newWorld(seed)
	out := []*BatchInput{w.batch(algs[0], accounts, perBatch)}
	for i := 1; i < batches; i++ {
		out = append(out, w.batch(algs[i%len(algs)], w.rng.IntN(3), perBatch))
	}
	return out
}

// clone deep-copies an input, so a test can apply it twice or mutate it.
func clone(in *BatchInput) *BatchInput {
	out := *in
	out.Accounts = make([][]byte, len(in.Accounts))
	for i, a := range in.Accounts {
		out.Accounts[i] = slices.Clone(a)
	}
	out.Records = slices.Clone(in.Records)
	out.Events = slices.Clone(in.Events)
	for i := range out.Events {
		if l := out.Events[i].Link; l != nil {
			c := *l
			out.Events[i].Link = &c
		}
	}
	return &out
}

// fataler is what run needs of a *testing.T or a *rapid.T.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

// run applies clones of inputs to a new Chains and returns the blocks.
func run(t fataler, inputs []*BatchInput) ([]*Block, *Chains) {
	t.Helper()
	c := NewChains(1)
	var blocks []*Block
	for _, in := range inputs {
		b, err := c.Apply(clone(in))
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b)
	}
	return blocks, c
}

// state captures everything a Chains holds, to check that a failed Apply
// changed nothing.
func state(c *Chains) (map[ledger.Uint128]Head, []ledger.Uint128, uint64, Hash) {
	heads := map[ledger.Uint128]Head{}
	var order []ledger.Uint128
	for id, h := range c.All() {
		heads[id] = h
		order = append(order, id)
	}
	v, s := c.System()
	return heads, order, v, s
}
