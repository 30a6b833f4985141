package valuesplit

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/conto-ledger/conto/engine/valuesplit/chain"
)

// nullBook discards entries: bulk-loading a million blocks through a
// synced book would take the benchmark's whole budget.
type nullBook struct{}

func (nullBook) Record(context.Context, BookEntry) error              { return nil }
func (nullBook) Entries(context.Context, func(BookEntry) error) error { return nil }

const rotateN = 1_000_000

// BenchmarkRotate1M rotates the handles of a million items held by one
// cluster: the center computes the mapping (two handles per item), the
// cluster's body store re-keys every record and its handle index.
// Reported per rotation: center-ms and rekey-ms.
func BenchmarkRotate1M(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	key, _ := NewMasterKey(nil)
	c, _, err := OpenCenter(CenterConfig{Dir: filepath.Join(dir, "center"), MasterKey: key, Book: nullBook{}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.Clusters().Add("a", "", "", time.Now())
	store, err := OpenBodyStore(filepath.Join(dir, "store"), "a")
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	bulkLoad(b, c, store)
	b.ResetTimer()
	var centerTime, rekeyTime time.Duration
	for b.Loop() {
		t0 := time.Now()
		rot, err := c.Rotate(ctx)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		res, err := store.Rekey(rot.Mappings["a"])
		if err != nil || res.Rekeyed != rotateN {
			b.Fatalf("rekey: %d %v", res.Rekeyed, err)
		}
		centerTime += t1.Sub(t0)
		rekeyTime += time.Since(t1)
		if err := c.AckEpoch(ctx, "a", rot.To); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(centerTime.Milliseconds())/float64(b.N), "center-ms/op")
	b.ReportMetric(float64(rekeyTime.Milliseconds())/float64(b.N), "rekey-ms/op")
}

// bulkLoad appends rotateN blocks (no fsync) and the matching store
// records, skipping the per-item crypto and syncs the benchmark does not
// measure.
func bulkLoad(b *testing.B, c *Center, store *BodyStore) {
	b.Helper()
	c.chain.Close()
	ch, _, err := chain.Open(filepath.Join(c.cfg.Dir, ChainDir), chain.Options{HashKey: c.hashKey, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	c.chain = ch
	k := c.ep.keys[c.ep.state.Current]
	m := k.newMAC()
	if err := store.adopt(1); err != nil {
		b.Fatal(err)
	}
	wb := store.db.NewWriteBatch()
	var table []indexEntry
	d := chain.Draft{Kind: chain.KindRegister, Cluster: "a", User: "alice", Name: "item", Payload: make([]byte, 90), Time: time.Now()}
	now := time.Now().UTC()
	for i := range rotateN {
		rand.Read(d.Item[:])
		if _, err := ch.Append(context.Background(), d); err != nil {
			b.Fatal(err)
		}
		rec := Record{Item: d.Item, Owner: "alice", Name: "item", Size: 1024, Block: uint64(i + 1), Created: now,
			Epoch: 1, Handle: k.handleWith(m, "a", d.Item)}
		v, _ := json.Marshal(&rec)
		wb.Set(recordKey(rec.Item), v)
		table = append(table, indexEntry{rec.Item, rec.Handle})
	}
	if err := wb.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := writeTable(store.tablePath(1), 1, table); err != nil {
		b.Fatal(err)
	}
	if err := store.loadIndex(1); err != nil {
		b.Fatal(err)
	}
	// Let compaction catch up with the bulk load: a store that grew over
	// days is not in the middle of compacting itself when a rotation comes.
	if err := store.db.Flatten(2); err != nil {
		b.Fatal(err)
	}
}
