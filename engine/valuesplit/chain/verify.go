package chain

import (
	"context"
	"fmt"
)

// Problem names a block that fails verification and why.
type Problem struct {
	Index  uint64 `json:"index"`
	Reason string `json:"reason"`
	Frozen bool   `json:"frozen"` // already frozen when verified
}

func (p *Problem) String() string {
	if p == nil {
		return "none"
	}
	s := fmt.Sprintf("block %d: %s", p.Index, p.Reason)
	if p.Frozen {
		s += " (frozen)"
	}
	return s
}

// Report is the outcome of Verify.
type Report struct {
	Blocks uint64 `json:"blocks"` // blocks verified
	Frozen uint64 `json:"frozen"` // of which frozen
	// Valid is the block holding the valid flag (NoBlock if every block is
	// frozen).
	Valid uint64 `json:"valid"`
	// FirstBad is the first block that fails, frozen or not.
	FirstBad *Problem `json:"first_bad,omitempty"`
	// FirstUnfrozenBad is the first failing block that is not frozen yet:
	// what a monitor must act on.
	FirstUnfrozenBad *Problem `json:"first_unfrozen_bad,omitempty"`
}

// OK reports whether every block verified.
func (r *Report) OK() bool { return r.FirstBad == nil }

// Verify re-reads every block from disk and checks it (Fig. 20's monitoring
// step): the record decodes, names its own position, matches its hash and
// the hash it had when written; its Prev is the stored hash of its Parent;
// and the unfrozen blocks form one unbroken line from genesis (or from a
// branch root) to the valid block, each linked to the unfrozen block before
// it. It does not hold the chain's lock while reading, so appends go on.
func (c *Chain) Verify(ctx context.Context) (Report, error) {
	f, n, err := c.snapshot()
	if err != nil {
		return Report{}, err
	}
	defer f.Close()
	c.mu.RLock()
	frozen := append([]Range(nil), c.frozen...)
	want := make([]Hash, n)
	for i := range want {
		want[i] = c.metas[i].hash
	}
	key := c.opts.HashKey
	c.mu.RUnlock()

	v := verifier{frozen: frozen, want: want, key: &key, stored: make([]Hash, 0, n), lastLive: NoBlock}
	err = scanFile(ctx, f, 0, n, v.check)
	if err != nil {
		return Report{}, fmt.Errorf("verify chain: %w", err)
	}
	v.report.Blocks = uint64(len(v.stored))
	v.report.Valid = v.lastLive
	return v.report, nil
}

type verifier struct {
	frozen   []Range
	want     []Hash // hashes the chain wrote or loaded
	key      *[32]byte
	stored   []Hash // hash fields as read from disk
	lastLive uint64 // last unfrozen block so far
	allFroze bool   // every block so far is frozen
	report   Report
}

func (v *verifier) isFrozen(i uint64) bool {
	for _, r := range v.frozen {
		if r.Contains(i) {
			return true
		}
	}
	return false
}

func (v *verifier) check(i uint64, rec []byte) error {
	frozen := v.isFrozen(i)
	if frozen {
		v.report.Frozen++
	}
	b, derr := decode(rec)
	v.stored = append(v.stored, b.Hash)
	reason := ""
	if derr != nil {
		reason = "malformed record: " + derr.Error()
	} else {
		reason = v.judge(i, &b, rec, frozen)
	}
	if !frozen {
		v.lastLive = i
	}
	if i == 0 {
		v.allFroze = frozen
	} else {
		v.allFroze = v.allFroze && frozen
	}
	if reason == "" {
		return nil
	}
	p := &Problem{Index: i, Reason: reason, Frozen: frozen}
	if v.report.FirstBad == nil {
		v.report.FirstBad = p
	}
	if !frozen && v.report.FirstUnfrozenBad == nil {
		v.report.FirstUnfrozenBad = p
	}
	return nil
}

// judge returns why a decoded block is bad, or "".
func (v *verifier) judge(i uint64, b *Block, rec []byte, frozen bool) string {
	if b.Index != i {
		return fmt.Sprintf("record names position %d", b.Index)
	}
	if mac(rec, v.key) != b.Hash {
		return "content does not match its hash"
	}
	if b.Hash != v.want[i] {
		return "block differs from the one written at this position"
	}
	if (i == 0) != (b.Kind == KindGenesis) {
		return fmt.Sprintf("a %s block at position %d", b.Kind, i)
	}
	if r := v.link(i, b); r != "" {
		return r
	}
	if !frozen && b.Parent != v.lastLive {
		// An unfrozen block must link to the unfrozen block before it:
		// anything else is a fork the chain never makes.
		return fmt.Sprintf("links to block %d, want the last unfrozen block %s", b.Parent, idx(v.lastLive))
	}
	return ""
}

// link checks the Parent/Prev pair.
func (v *verifier) link(i uint64, b *Block) string {
	if b.Parent == NoBlock {
		if !b.Prev.IsZero() {
			return "links to no block but has a previous hash"
		}
		if i != 0 && !v.allFroze {
			return "starts a branch while an unfrozen block exists"
		}
		return ""
	}
	if b.Parent >= i {
		return fmt.Sprintf("links forward to block %d", b.Parent)
	}
	if b.Prev != v.stored[b.Parent] {
		return fmt.Sprintf("previous hash does not match block %d", b.Parent)
	}
	return ""
}

func idx(i uint64) string {
	if i == NoBlock {
		return "(none)"
	}
	return fmt.Sprint(i)
}
