package transactor

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/conto-ledger/conto/engine/hashchain"
)

// ErrNoCheckpoint: no checkpoint can be signed or found (the node has no
// key, no batch has been chained yet, or none covers a version).
var ErrNoCheckpoint = errors.New("no checkpoint")

// checkpointer signs this node's checkpoints of its partition's system
// hash, every `every` versions and on request, and keeps them in an
// append-only file of fixed-size records in the partition's directory.
// Checkpoints are node-local (each node signs with its own key), so they
// live outside the replicated store.
type checkpointer struct {
	key       ed25519.PrivateKey
	partition uint32
	every     uint64

	mu   sync.Mutex
	f    *os.File
	all  []hashchain.Checkpoint // in version order
	cur  hashchain.Checkpoint   // the latest system hash (unsigned)
	seen bool
}

// openCheckpointer reads the checkpoints file at path (creating it), keeps
// every record that verifies and drops a torn last record.
func openCheckpointer(path string, key ed25519.PrivateKey, partition uint32, every uint64) (*checkpointer, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	c := &checkpointer{key: key, partition: partition, every: every, f: f}
	all, good, err := ReadCheckpoints(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("checkpoints %s: %w", path, err)
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("checkpoints %s: %w", path, err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	c.all = all
	return c, nil
}

// ReadCheckpoints reads a checkpoints file: every whole record, and the
// offset after the last one (a torn record after it is not an error). A
// whole record that does not verify is.
func ReadCheckpoints(r io.Reader) ([]hashchain.Checkpoint, int64, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, 0, err
	}
	size := len(mustMarshal(hashchain.Checkpoint{}))
	var all []hashchain.Checkpoint
	off := 0
	for ; off+size <= len(data); off += size {
		var cp hashchain.Checkpoint
		if err := cp.UnmarshalBinary(data[off : off+size]); err != nil {
			return nil, 0, fmt.Errorf("record %d: %w", off/size, err)
		}
		if err := cp.Verify(); err != nil {
			return nil, 0, fmt.Errorf("record %d (version %d): %w", off/size, cp.Version, err)
		}
		all = append(all, cp)
	}
	return all, int64(off), nil
}

func mustMarshal(cp hashchain.Checkpoint) []byte {
	b, err := cp.MarshalBinary()
	if err != nil {
		panic(err) // fixed-size encoding of a value: cannot fail
	}
	return b
}

// observe is the store's OnSystemHash: it remembers the latest system hash
// and signs a checkpoint when `every` versions passed since the last.
func (c *checkpointer) observe(version uint64, alg hashchain.Alg, system hashchain.Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur = hashchain.Checkpoint{Partition: c.partition, Version: version, Alg: alg, System: system}
	c.seen = true
	if c.key == nil {
		return
	}
	if n := len(c.all); n == 0 || version >= c.all[n-1].Version+c.every {
		c.signLocked() // a failed append is retried at the next version
	}
}

// signLocked signs the latest system hash and appends it to the file.
func (c *checkpointer) signLocked() (hashchain.Checkpoint, error) {
	if c.key == nil || !c.seen {
		return hashchain.Checkpoint{}, ErrNoCheckpoint
	}
	if n := len(c.all); n > 0 && c.all[n-1].Version == c.cur.Version {
		return c.all[n-1], nil
	}
	cp := hashchain.SignCheckpoint(c.key, c.partition, c.cur.Version, c.cur.Alg, c.cur.System, uint64(time.Now().UnixNano()))
	end, err := c.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return cp, fmt.Errorf("checkpoints: %w", err)
	}
	if _, err := c.f.Write(mustMarshal(cp)); err != nil {
		// A partial record would misalign every later one: cut it off.
		c.f.Truncate(end)
		c.f.Seek(end, io.SeekStart)
		return cp, fmt.Errorf("checkpoints: append: %w", err)
	}
	if err := c.f.Sync(); err != nil {
		return cp, fmt.Errorf("checkpoints: sync: %w", err)
	}
	c.all = append(c.all, cp)
	return cp, nil
}

// Sign signs a checkpoint of the latest system hash now (or returns the
// one already signed at that version).
func (c *checkpointer) Sign() (hashchain.Checkpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.signLocked()
}

// Latest returns the newest signed checkpoint.
func (c *checkpointer) Latest() (hashchain.Checkpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.all) == 0 {
		return hashchain.Checkpoint{}, ErrNoCheckpoint
	}
	return c.all[len(c.all)-1], nil
}

// Covering returns the oldest signed checkpoint at or after version v,
// signing one now if none is.
func (c *checkpointer) Covering(v uint64) (hashchain.Checkpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := sort.Search(len(c.all), func(i int) bool { return c.all[i].Version >= v })
	if i < len(c.all) {
		return c.all[i], nil
	}
	if !c.seen || c.cur.Version < v {
		return hashchain.Checkpoint{}, fmt.Errorf("%w: version %d is not chained yet", ErrNoCheckpoint, v)
	}
	return c.signLocked()
}

func (c *checkpointer) close() error { return c.f.Close() }
