package chain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/conto-ledger/conto/engine/valuesplit/internal/fsutil"
)

// RebuildFunc returns the content block index should have had. old is the
// block as it is on disk when it still matches its hash (nil when it does
// not: its content cannot be trusted). Returning an error wrapping ErrLost
// makes Repair write a void block in its place; any other error aborts the
// repair before anything changes.
type RebuildFunc func(ctx context.Context, index uint64, old *Block) (Draft, error)

// LostBlock is a block Repair could not rebuild.
type LostBlock struct {
	Index  uint64 `json:"index"`
	Reason string `json:"reason"`
}

// RepairResult reports what Repair did.
type RepairResult struct {
	From     uint64      `json:"from"`     // first rewritten block
	Rebuilt  []uint64    `json:"rebuilt"`  // frozen blocks rebuilt by rebuild
	Relinked []uint64    `json:"relinked"` // unfrozen branch blocks re-linked after them
	Lost     []LostBlock `json:"lost"`     // frozen blocks replaced by void blocks
	Evidence string      `json:"evidence"` // the chain file as it was, kept for forensics
}

// Repair rebuilds the frozen blocks (claim 10, Figs. 19 and 22) and merges
// the branch registered meanwhile.
//
// Let k be the first frozen block. Blocks before k are kept byte for byte.
// From k to the end, every block keeps its position (so block numbers
// handed out stay true) and is written anew: a frozen block with the
// content rebuild returns (the center takes it from the independent account
// book), an unfrozen block — a branch block, linked to the last good block
// while the others were frozen — with its own content. Each is linked to
// the block before it, so the result is again one line in time order: the
// original history, then what was registered during the freeze. Nonces and
// hashes are new. Genesis, if frozen, is replaced by a new genesis.
//
// The new file is written beside the old one and renamed over it; the old
// file is kept (hard link) as evidence, and the frozen flags are cleared.
// Every rewritten block passes through Options.Record first, so the account
// book learns the new hashes before the chain uses them.
func (c *Chain) Repair(ctx context.Context, rebuild RebuildFunc) (RepairResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var res RepairResult
	if err := c.writable(); err != nil {
		return res, err
	}
	if len(c.frozen) == 0 {
		return res, nil
	}
	k := c.frozen[0].From
	for _, r := range c.frozen {
		k = min(k, r.From)
	}
	res.From = k
	recs, err := c.rebuildFrom(ctx, k, rebuild, &res)
	if err != nil {
		return RepairResult{}, err
	}
	evidence, err := c.swapFile(k, recs)
	if err != nil {
		return RepairResult{}, err
	}
	res.Evidence = evidence
	return res, nil
}

// rebuildFrom builds the new records for blocks [k, n) and records them in
// the account book. Nothing on the chain changes.
func (c *Chain) rebuildFrom(ctx context.Context, k uint64, rebuild RebuildFunc, res *RepairResult) ([]byte, error) {
	n := uint64(len(c.metas))
	out := make([]byte, 0, (n-k)*RecordSize)
	rec := make([]byte, RecordSize)
	prevIdx, prevHash := NoBlock, Hash{}
	if k > 0 {
		prevIdx, prevHash = k-1, c.metas[k-1].hash
	}
	for i := k; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, err := c.contentFor(ctx, i, rebuild, res)
		if err != nil {
			return nil, err
		}
		b := Block{Draft: d, Index: i, Parent: prevIdx, Prev: prevHash}
		if _, err := io.ReadFull(c.opts.Rand, b.Nonce[:]); err != nil {
			return nil, fmt.Errorf("block nonce: %w", err)
		}
		encode(rec, &b, &c.opts.HashKey)
		if c.opts.Record != nil && b.Kind != KindGenesis {
			if err := c.opts.Record(ctx, b); err != nil {
				return nil, fmt.Errorf("record repaired block %d in the account book: %w", i, err)
			}
		}
		out = append(out, rec...)
		prevIdx, prevHash = i, b.Hash
	}
	return out, nil
}

// contentFor returns the draft for block i of a repair.
func (c *Chain) contentFor(ctx context.Context, i uint64, rebuild RebuildFunc, res *RepairResult) (Draft, error) {
	old, err := c.blockLocked(i)
	authentic := err == nil
	if err != nil && !errors.Is(err, ErrTampered) {
		return Draft{}, err
	}
	if _, frozen := c.rangeOf(i); !frozen {
		if !authentic {
			return Draft{}, fmt.Errorf("%w: block %d: %v", ErrLiveTampered, i, err)
		}
		res.Relinked = append(res.Relinked, i)
		return old.Draft, nil
	}
	if i == 0 {
		res.Rebuilt = append(res.Rebuilt, i)
		return Draft{Kind: KindGenesis, Time: c.opts.Now().UTC()}, nil
	}
	var oldp *Block
	if authentic {
		oldp = &old
	}
	d, err := rebuild(ctx, i, oldp)
	if errors.Is(err, ErrLost) {
		res.Lost = append(res.Lost, LostBlock{Index: i, Reason: err.Error()})
		return Draft{Kind: KindVoid, Time: c.opts.Now().UTC()}, nil
	}
	if err != nil {
		return Draft{}, fmt.Errorf("rebuild block %d: %w", i, err)
	}
	if d.Kind != KindRegister && d.Kind != KindTransfer {
		return Draft{}, fmt.Errorf("%w: rebuilt block %d is a %s block", ErrInvalid, i, d.Kind)
	}
	if err := validateDraft(&d); err != nil {
		return Draft{}, fmt.Errorf("rebuilt block %d: %w", i, err)
	}
	res.Rebuilt = append(res.Rebuilt, i)
	return d, nil
}

// swapFile writes blocks [0, k) unchanged plus recs to a new file, keeps
// the old file as evidence, renames the new one into place, clears the
// frozen flags and reloads.
func (c *Chain) swapFile(k uint64, recs []byte) (string, error) {
	path := filepath.Join(c.dir, BlocksFile)
	tmp := filepath.Join(c.dir, repairFile)
	if err := c.writeRepair(tmp, k, recs); err != nil {
		os.Remove(tmp)
		return "", err
	}
	evidence := filepath.Join(c.dir, fmt.Sprintf("blocks.frozen-%d.dat", c.opts.Now().UnixNano()))
	if err := os.Link(path, evidence); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("keep the frozen chain as evidence: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("install the repaired chain: %w", err)
	}
	if err := fsutil.SyncDir(c.dir); err != nil {
		c.broken = true
		return "", err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		c.broken = true
		return "", fmt.Errorf("reopen the repaired chain: %w", err)
	}
	c.f.Close()
	c.f = f
	// A crash before this rewrite is harmless: the old ranges pin the old
	// bytes (see flags.go) and are ignored on the next Open.
	if err := c.flags.Rewrite(nil); err != nil {
		c.broken = true
		return "", fmt.Errorf("clear frozen flags: %w", err)
	}
	c.frozen = nil
	if err := c.load(); err != nil {
		c.broken = true
		return "", fmt.Errorf("reload the repaired chain: %w", err)
	}
	return evidence, nil
}

func (c *Chain) writeRepair(tmp string, k uint64, recs []byte) error {
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create repair file: %w", err)
	}
	defer f.Close()
	head := make([]byte, 1<<20)
	for off := int64(0); off < int64(k)*RecordSize; {
		n := min(int64(len(head)), int64(k)*RecordSize-off)
		if _, err := c.f.ReadAt(head[:n], off); err != nil {
			return fmt.Errorf("copy unfrozen blocks: %w", err)
		}
		if _, err := f.WriteAt(head[:n], off); err != nil {
			return fmt.Errorf("write repair file: %w", err)
		}
		off += n
	}
	if _, err := f.WriteAt(recs, int64(k)*RecordSize); err != nil {
		return fmt.Errorf("write repair file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync repair file: %w", err)
	}
	return nil
}
