package hashchain

import (
	"math/rand/v2"
	"testing"

	"github.com/conto-ledger/conto/engine/ledger"
)

// benchBatch returns Chains holding 10,000 accounts and a full batch of
// 8189 transfers among them.
func benchBatch(alg Alg) (*Chains, *BatchInput) {
	const accounts, events = 10_000, ledger.MaxBatchEvents
	rng := rand.New(rand.NewPCG(1, 2))
	c := NewChains(1)
	for i := range accounts {
		c.SetHead(ledger.U128(uint64(i+1)), Head{Hash: Sum(alg, 0xEE, le64(uint64(i))), Alg: alg})
	}
	in := &BatchInput{Alg: alg, Time: 1, Records: make([]byte, events*ledger.RecordSize), Events: make([]Event, events)}
	for i := range in.Events {
		d := uint64(1 + rng.IntN(accounts))
		cr := 1 + (d+uint64(rng.IntN(accounts-1)))%accounts
		t := ledger.Transfer{ID: ledger.U128(uint64(1e6 + i)), DebitAccountID: ledger.U128(d),
			CreditAccountID: ledger.U128(cr), Amount: 10, Ledger: 1, Code: 1, Timestamp: uint64(1000 + i)}
		ledger.EncodeTransfer(in.Records[i*ledger.RecordSize:], &t)
		in.Events[i] = Event{Kind: EventTransfer, Slot: uint32(i), ID: t.ID, Timestamp: t.Timestamp,
			DebitID: t.DebitAccountID, CreditID: t.CreditAccountID,
			Debit: Balances{DebitsPosted: uint64(i)}, Credit: Balances{CreditsPosted: uint64(i)}}
	}
	return c, in
}

// BenchmarkApply8189 chains a full batch (8189 transfers among 10,000
// accounts) per iteration; ns/event is the figure to watch.
func BenchmarkApply8189(b *testing.B) {
	for _, alg := range []Alg{SHA256, BLAKE2b256} {
		b.Run(alg.String(), func(b *testing.B) {
			c, in := benchBatch(alg)
			b.ReportAllocs()
			for b.Loop() {
				in.Version++
				if _, err := c.Apply(in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(in.Events)), "ns/event")
		})
	}
}

// BenchmarkHash measures each chain hash on its own, per algorithm.
func BenchmarkHash(b *testing.B) {
	st, tr := fixedStamp(), fixedTransfer()
	ev := fixedEvent(EventTransfer, false)
	h := patHash(1)
	for _, alg := range []Alg{SHA256, BLAKE2b256} {
		for _, c := range []struct {
			name string
			fn   func()
		}{
			{"salt", func() { h = Salt(alg, st.Nonce, 1, 2, true) }},
			{"commitment", func() { h = Commitment(alg, h, &fixedBalances, h) }},
			{"intermediate", func() { h = IntermediateHash(alg, ev, tr, h, h) }},
			{"head", func() { h = NextHead(alg, h, h, &fixedBalances) }},
			{"merkle-node", func() { h = nodeHash(alg, h, h) }},
		} {
			b.Run(alg.String()+"/"+c.name, func(b *testing.B) {
				for b.Loop() {
					c.fn()
				}
			})
		}
	}
}
