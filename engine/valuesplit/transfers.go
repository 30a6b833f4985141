package valuesplit

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/conto-ledger/conto/engine/valuesplit/internal/journal"
)

// TransfersFile journals the center's pending transfers.
const TransfersFile = "transfers.log"

// Transfer limits.
const (
	DefaultTransferTTL = 24 * time.Hour
	MaxTransferTTL     = 30 * 24 * time.Hour
	MaxPending         = 100_000
)

// TransferState is where a transfer stands at the center.
type TransferState string

// Transfer states.
const (
	TransferPending   TransferState = "pending"
	TransferCompleted TransferState = "completed"
	TransferCancelled TransferState = "cancelled"
	TransferExpired   TransferState = "expired" // or unknown: the center keeps no record
)

// pendingTransfer is a prepared transfer (journaled as JSON).
type pendingTransfer struct {
	ID          OpID      `json:"id"`
	Item        ItemID    `json:"item"`
	FromCluster string    `json:"from_cluster"`
	FromUser    string    `json:"from_user"`
	ToCluster   string    `json:"to_cluster"`
	ToUser      string    `json:"to_user"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`
	Cancelled   bool      `json:"cancelled,omitempty"`
}

// transfers holds the prepared transfers until they expire. Completion is
// not journaled: the transfer block (whose OpID is the transfer id) is the
// record of it.
type transfers struct {
	j      *journal.Journal
	byID   map[OpID]*pendingTransfer
	byItem map[ItemID]*pendingTransfer // the latest transfer of each item
}

func openTransfers(dir string, now time.Time) (*transfers, journal.Stats, error) {
	t := &transfers{byID: map[OpID]*pendingTransfer{}, byItem: map[ItemID]*pendingTransfer{}}
	records := 0
	j, st, err := journal.Open(filepath.Join(dir, TransfersFile), 1<<10, func(b []byte) error {
		var p pendingTransfer
		if err := json.Unmarshal(b, &p); err != nil {
			return fmt.Errorf("decode pending transfer: %w", err)
		}
		t.byID[p.ID] = &p
		t.byItem[p.Item] = &p
		records++
		return nil
	})
	if err != nil {
		return nil, st, fmt.Errorf("open pending transfers: %w", err)
	}
	t.j = j
	t.dropExpired(now)
	if records > len(t.byID) {
		if err := t.compact(); err != nil {
			j.Close()
			return nil, st, err
		}
	}
	return t, st, nil
}

func (t *transfers) dropExpired(now time.Time) {
	for id, p := range t.byID {
		if now.After(p.Expires) {
			delete(t.byID, id)
			if t.byItem[p.Item] == p {
				delete(t.byItem, p.Item)
			}
		}
	}
}

func (t *transfers) compact() error {
	recs := make([][]byte, 0, len(t.byID))
	for _, p := range t.byID {
		b, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("encode pending transfer: %w", err)
		}
		recs = append(recs, b)
	}
	if err := t.j.Rewrite(recs); err != nil {
		return fmt.Errorf("compact pending transfers: %w", err)
	}
	return nil
}

func (t *transfers) save(p *pendingTransfer) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode pending transfer: %w", err)
	}
	if err := t.j.Append(b); err != nil {
		return fmt.Errorf("save transfer %s: %w", p.ID, err)
	}
	t.byID[p.ID] = p
	t.byItem[p.Item] = p
	return nil
}

// lockOn returns the transfer that locks item: not completed (done says
// whether a transfer id has its block), not cancelled, not expired.
func (t *transfers) lockOn(item ItemID, now time.Time, done func(OpID) bool) *pendingTransfer {
	p := t.byItem[item]
	if p == nil || p.Cancelled || now.After(p.Expires) || done(p.ID) {
		return nil
	}
	return p
}
