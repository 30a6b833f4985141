package chain

import (
	"encoding/binary"
	"fmt"
	"path/filepath"

	"github.com/conto-ledger/conto/engine/valuesplit/internal/journal"
)

// Range is a run of block indexes [From, To).
type Range struct {
	From, To uint64
}

// Contains reports whether i is in r.
func (r Range) Contains(i uint64) bool { return i >= r.From && i < r.To }

// The flags journal holds one record per Freeze:
//
//	from    uint64 big-endian
//	to      uint64 big-endian (exclusive: the chain's length when frozen)
//	digest  [32]byte SHA-256 of block from's record as it was when frozen
//
// The digest pins the range to the bytes it froze. Repair rewrites block
// from, so a range left behind by a crash in the middle of Repair no longer
// matches and is ignored instead of freezing the repaired blocks.
const flagRecordSize = 8 + 8 + 32

func (c *Chain) openFlags(rec *Recovery) error {
	var raw [][]byte
	j, st, err := journal.Open(filepath.Join(c.dir, FlagsFile), flagRecordSize, func(b []byte) error {
		if len(b) != flagRecordSize {
			return fmt.Errorf("frozen-range record is %d bytes, want %d", len(b), flagRecordSize)
		}
		raw = append(raw, append([]byte(nil), b...))
		return nil
	})
	if err != nil {
		return fmt.Errorf("open frozen flags: %w", err)
	}
	c.flags, rec.FlagsTornBytes = j, st.TornBytes
	buf := make([]byte, RecordSize)
	for _, b := range raw {
		r := Range{From: binary.BigEndian.Uint64(b[0:8]), To: binary.BigEndian.Uint64(b[8:16])}
		r.To = min(r.To, uint64(len(c.metas))) // blocks lost since cannot stay frozen
		if r.From >= r.To {
			rec.StaleFreezes++
			continue
		}
		if _, err := c.f.ReadAt(buf, int64(r.From)*RecordSize); err != nil {
			return fmt.Errorf("read block %d to check its frozen range: %w", r.From, err)
		}
		if digest(buf) != [32]byte(b[16:48]) {
			rec.StaleFreezes++
			continue
		}
		c.frozen = append(c.frozen, r)
	}
	return nil
}

// rangeOf returns a frozen range holding block i.
func (c *Chain) rangeOf(i uint64) (Range, bool) {
	for _, r := range c.frozen {
		if r.Contains(i) {
			return r, true
		}
	}
	return Range{}, false
}

// Frozen returns the frozen ranges (possibly overlapping), oldest first.
func (c *Chain) Frozen() []Range {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return append([]Range(nil), c.frozen...)
}

// IsFrozen reports whether block i is frozen.
func (c *Chain) IsFrozen(i uint64) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.rangeOf(i)
	return ok
}

// Freeze freezes block from and every block after it (claim 9, Fig. 21):
// they stop being connectable and, at the center, their items stop being
// served until Repair rebuilds them. The valid flag moves to the last block
// before from, so registrations meanwhile branch from it (Fig. 22). Blocks
// appended later are not frozen. Freezing what is already frozen changes
// nothing.
func (c *Chain) Freeze(from uint64) (Range, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.writable(); err != nil {
		return Range{}, err
	}
	n := uint64(len(c.metas))
	if from >= n {
		return Range{}, fmt.Errorf("%w: freeze from block %d, chain has %d", ErrInvalid, from, n)
	}
	r := Range{From: from, To: n}
	if c.covered(r) {
		return r, nil
	}
	buf := make([]byte, RecordSize)
	if _, err := c.f.ReadAt(buf, int64(from)*RecordSize); err != nil {
		return Range{}, fmt.Errorf("read block %d to freeze it: %w", from, err)
	}
	d := digest(buf)
	b := make([]byte, 0, flagRecordSize)
	b = binary.BigEndian.AppendUint64(b, r.From)
	b = binary.BigEndian.AppendUint64(b, r.To)
	b = append(b, d[:]...)
	if err := c.flags.Append(b); err != nil {
		return Range{}, fmt.Errorf("record frozen range %d..%d: %w", r.From, r.To-1, err)
	}
	c.frozen = append(c.frozen, r)
	return r, nil
}

// covered reports whether every block of r is already frozen.
func (c *Chain) covered(r Range) bool {
	for i := r.From; i < r.To; {
		fr, ok := c.rangeOf(i)
		if !ok {
			return false
		}
		i = fr.To
	}
	return true
}
