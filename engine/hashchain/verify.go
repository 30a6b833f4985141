package hashchain

import (
	"errors"
	"fmt"
	"strconv"
)

// Mismatch is the first difference verification found: at which batch
// version, in what, and the value that was expected (recomputed) against the
// one found (stored or shown).
type Mismatch struct {
	Version uint64
	What    string // e.g. "transfer slot 5 (id 123): intermediate hash"
	Want    string
	Got     string
}

// Error describes the mismatch.
func (m *Mismatch) Error() string {
	return fmt.Sprintf("hash chain mismatch at version %d: %s: want %s, got %s", m.Version, m.What, m.Want, m.Got)
}

// CompareBlocks compares a stored block with the one its batch recomputes to
// and returns the first difference as a *Mismatch (Want recomputed, Got
// stored), or nil if they are equal. The order is fixed, so the same
// tampering always gets the same report: header (alg, version, time, stamp,
// prev), genesis entries (id, hash, then their count), events (what the
// caller supplied, heads before, link, m, balances; then their count), root,
// system hash.
func CompareBlocks(stored, recomputed *Block) error {
	if stored == nil || recomputed == nil {
		return errors.New("compare blocks: nil block")
	}
	what, want, got := diffHeader(recomputed, stored)
	if what == "" {
		what, want, got = diffGenesis(recomputed.Genesis, stored.Genesis)
	}
	if what == "" {
		what, want, got = diffEvents(recomputed.Events, stored.Events)
	}
	if what == "" {
		what, want, got = diffHash("root", recomputed.Root, stored.Root)
	}
	if what == "" {
		what, want, got = diffHash("system hash", recomputed.System, stored.System)
	}
	if what == "" {
		return nil
	}
	return &Mismatch{Version: stored.Version, What: what, Want: want, Got: got}
}

func diffHeader(want, got *Block) (string, string, string) {
	switch {
	case want.Alg != got.Alg:
		return "header: alg", want.Alg.String(), got.Alg.String()
	case want.Version != got.Version:
		return "header: version", u64s(want.Version), u64s(got.Version)
	case want.Time != got.Time:
		return "header: time", u64s(want.Time), u64s(got.Time)
	case want.Stamp != got.Stamp:
		return "header: stamp", stampString(&want.Stamp), stampString(&got.Stamp)
	}
	return diffHash("header: prev system hash", want.Prev, got.Prev)
}

func stampString(s *Stamp) string {
	var b [StampSize]byte
	s.Encode(b[:])
	return fmt.Sprintf("%x", b)
}

func diffGenesis(want, got []GenesisEntry) (string, string, string) {
	for i := range min(len(want), len(got)) {
		w, g := want[i], got[i]
		if w.ID != g.ID {
			return fmt.Sprintf("genesis entry %d: id", i), w.ID.String(), g.ID.String()
		}
		if w.Hash != g.Hash {
			return fmt.Sprintf("genesis entry %d (id %v): hash", i, g.ID), w.Hash.String(), g.Hash.String()
		}
	}
	if len(want) != len(got) {
		return "genesis entries: count", strconv.Itoa(len(want)), strconv.Itoa(len(got))
	}
	return "", "", ""
}

func diffEvents(want, got []Event) (string, string, string) {
	for i := range min(len(want), len(got)) {
		if field, w, g := diffEvent(&want[i], &got[i]); field != "" {
			return eventName(i, &got[i]) + ": " + field, w, g
		}
	}
	if len(want) != len(got) {
		return "events: count", strconv.Itoa(len(want)), strconv.Itoa(len(got))
	}
	return "", "", ""
}

// eventName names event i of a block as a Mismatch reports it.
func eventName(i int, ev *Event) string {
	switch ev.Kind {
	case EventTransfer:
		return fmt.Sprintf("transfer slot %d (id %v)", ev.Slot, ev.ID)
	case EventExpiry:
		return fmt.Sprintf("expiry event %d (id %v)", i, ev.ID)
	}
	return fmt.Sprintf("event %d", i)
}

// diffEvent returns the first field in which two events differ.
func diffEvent(w, g *Event) (field, want, got string) {
	switch {
	case w.Kind != g.Kind:
		return "kind", u64s(uint64(w.Kind)), u64s(uint64(g.Kind))
	case w.Slot != g.Slot:
		return "slot", u64s(uint64(w.Slot)), u64s(uint64(g.Slot))
	case w.ID != g.ID:
		return "id", w.ID.String(), g.ID.String()
	case w.Timestamp != g.Timestamp:
		return "timestamp", u64s(w.Timestamp), u64s(g.Timestamp)
	case w.DebitID != g.DebitID:
		return "debit account", w.DebitID.String(), g.DebitID.String()
	case w.CreditID != g.CreditID:
		return "credit account", w.CreditID.String(), g.CreditID.String()
	case w.DebitPrev != g.DebitPrev || w.DebitPrevAlg != g.DebitPrevAlg:
		return "debit head before", w.DebitPrevAlg.String() + ":" + w.DebitPrev.String(), g.DebitPrevAlg.String() + ":" + g.DebitPrev.String()
	case w.CreditPrev != g.CreditPrev || w.CreditPrevAlg != g.CreditPrevAlg:
		return "credit head before", w.CreditPrevAlg.String() + ":" + w.CreditPrev.String(), g.CreditPrevAlg.String() + ":" + g.CreditPrev.String()
	case !linkEqual(w.Link, g.Link):
		return "link", linkString(w.Link), linkString(g.Link)
	case w.M != g.M:
		return "intermediate hash", w.M.String(), g.M.String()
	case w.Debit != g.Debit:
		return "debit balances", balancesString(&w.Debit), balancesString(&g.Debit)
	case w.Credit != g.Credit:
		return "credit balances", balancesString(&w.Credit), balancesString(&g.Credit)
	}
	return "", "", ""
}

func linkEqual(a, b *Link) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func linkString(l *Link) string {
	if l == nil {
		return "none"
	}
	return fmt.Sprintf("%v %v", l.ID, l.M)
}

func balancesString(b *Balances) string {
	return fmt.Sprintf("debits pending %d posted %d, credits pending %d posted %d, flags %d",
		b.DebitsPending, b.DebitsPosted, b.CreditsPending, b.CreditsPosted, b.Flags)
}

func diffHash(what string, want, got Hash) (string, string, string) {
	if want != got {
		return what, want.String(), got.String()
	}
	return "", "", ""
}

func u64s(v uint64) string { return strconv.FormatUint(v, 10) }
