package valuesplit_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	vs "github.com/conto-ledger/conto/engine/valuesplit"
	"github.com/conto-ledger/conto/engine/valuesplit/chain"
)

// benchWorld is newWorld for benchmarks.
func benchWorld(b *testing.B) (*vs.Center, *vs.Cluster) {
	b.Helper()
	dir := b.TempDir()
	key, _ := vs.NewMasterKey(nil)
	book, err := vs.OpenFileBook(filepath.Join(dir, "book.log"))
	if err != nil {
		b.Fatal(err)
	}
	c, _, err := vs.OpenCenter(vs.CenterConfig{Dir: filepath.Join(dir, "center"), MasterKey: key, Book: book})
	if err != nil {
		b.Fatal(err)
	}
	c.Clusters().Add("a", "", "", time.Now())
	c.AddUser(bg, "alice", "alice@example.com")
	cl, err := vs.OpenCluster(vs.ClusterConfig{ID: "a", Dir: filepath.Join(dir, "cluster"), Center: c})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.Close(); c.Close(); book.Close() })
	return c, cl
}

var sizes = []struct {
	name string
	n    int
}{{"1KiB", 1 << 10}, {"1MiB", 1 << 20}}

// BenchmarkSplitJoin is the CPU cost alone: encrypt + split, join +
// decrypt, no I/O.
func BenchmarkSplitJoin(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			data := randomBytes(b, sz.n)
			id := newID(b)
			b.SetBytes(int64(sz.n))
			for b.Loop() {
				p, err := vs.SplitItem(id, data, vs.SplitSpec{RandomOffset: true}, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := vs.JoinItem(id, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRegister is a whole registration: encrypt and split at the
// cluster, seal and append a block at the center (account book first,
// each fsynced), store the body (fsynced) and its record (Badger, synced).
func BenchmarkRegister(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			_, cl := benchWorld(b)
			data := randomBytes(b, sz.n)
			b.SetBytes(int64(sz.n))
			for b.Loop() {
				if _, err := cl.Put(bg, "alice", "bench", data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCenterRegister is the center's share of a registration: seal
// and a durable chain append (book first).
func BenchmarkCenterRegister(b *testing.B) {
	c, _ := benchWorld(b)
	p, _ := vs.SplitItem(newID(b), []byte("x"), vs.SplitSpec{}, nil)
	head := vs.Head{Head: p.Head, Key: p.Key, Window: p.Window}
	for b.Loop() {
		id, _ := chain.NewItemID(nil)
		op, _ := chain.NewOpID(nil)
		if _, err := c.Register(bg, vs.RegisterRequest{Op: op, Cluster: "a", User: "alice", Epoch: 1, Item: id, Name: "n", Head: head}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAcquire is a whole acquisition: resolve the handle, re-verify
// and unseal the block at the center, read the body, join and decrypt.
func BenchmarkAcquire(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			_, cl := benchWorld(b)
			data := randomBytes(b, sz.n)
			ids := make([]vs.ItemID, 64)
			for i := range ids {
				info, err := cl.Put(bg, "alice", fmt.Sprint("bench", i), data)
				if err != nil {
					b.Fatal(err)
				}
				ids[i] = info.ID
			}
			b.SetBytes(int64(sz.n))
			i := 0
			for b.Loop() {
				if _, _, err := cl.Get(bg, "alice", ids[i%len(ids)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
