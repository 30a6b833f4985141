package store

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/dgraph-io/badger/v4"
)

// Snapshot streams every version of every key up to the last applied version
// to w (Badger's backup format) and returns that version. It first waits for
// the writer, so the stream holds every batch applied before the call. Raft
// snapshots are these streams; restoring one gives a store with the same
// history.
func (s *Store) Snapshot(w io.Writer) (uint64, error) {
	v, err := s.drain()
	if err != nil {
		return 0, err
	}
	if v == 0 {
		// Nothing applied yet: the empty stream. (Badger treats a stream at
		// ts 0 as unmanaged and panics.)
		return 0, nil
	}
	stream := s.db.NewStreamAt(v)
	stream.LogPrefix = "conto.snapshot"
	if _, err := stream.Backup(w, 0); err != nil {
		return 0, fmt.Errorf("store: snapshot at %d: %w", v, err)
	}
	return v, nil
}

// Restore replaces the store's whole content with a snapshot from r and
// reloads the in-memory state from it.
func (s *Store) Restore(r io.Reader) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if _, err := s.drain(); err != nil {
		return err
	}
	if err := s.db.DropAll(); err != nil {
		return s.failWith(fmt.Errorf("%w: restore: drop: %v", ErrFailed, err))
	}
	if err := s.db.Load(r, 256); err != nil {
		return s.failWith(fmt.Errorf("%w: restore: load: %v", ErrFailed, err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		s.broken = fmt.Errorf("%w: restore: %v", ErrFailed, err)
		return s.broken
	}
	return nil
}

// failWith marks the store broken and returns err.
func (s *Store) failWith(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.broken = err
	s.visibleCond.Broadcast()
	return err
}

// Digest is a SHA-256 over every version of every key and value, in key
// order, as of Version (every batch applied when it was taken). Two stores
// that applied the same batches have equal digests at equal versions;
// replicas compare them to prove they hold the same bytes.
type Digest struct {
	Version uint64
	Sum     [32]byte
}

// Digest computes the store's digest.
func (s *Store) Digest() (Digest, error) {
	v, err := s.drain()
	if err != nil {
		return Digest{}, err
	}
	txn := s.db.NewTransactionAt(v, false)
	defer txn.Discard()
	opts := badger.DefaultIteratorOptions
	opts.AllVersions = true
	it := txn.NewIterator(opts)
	defer it.Close()
	h := sha256.New()
	var n [8]byte
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		writeField(h, item.Key(), n[:])
		binary.LittleEndian.PutUint64(n[:], item.Version())
		h.Write(n[:])
		if err := item.Value(func(v []byte) error { writeField(h, v, n[:]); return nil }); err != nil {
			return Digest{}, fmt.Errorf("store: digest: %w", err)
		}
	}
	d := Digest{Version: v}
	copy(d.Sum[:], h.Sum(nil))
	return d, nil
}

func writeField(w io.Writer, b, scratch []byte) {
	binary.LittleEndian.PutUint64(scratch, uint64(len(b)))
	w.Write(scratch)
	w.Write(b)
}
