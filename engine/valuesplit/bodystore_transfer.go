package valuesplit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/conto-ledger/conto/engine/valuesplit/internal/fsutil"
)

// ticket is a pending download (stored under the hash of its token).
type ticket struct {
	Transfer OpID      `json:"transfer"`
	Item     ItemID    `json:"item"`
	ToUser   string    `json:"to_user"`
	Expires  time.Time `json:"expires"`
	Offer    bool      `json:"offer"` // the body is an incoming offer
}

func ticketKey(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return append([]byte(kTicket), h[:]...)
}

func (s *BodyStore) putTicket(token string, t ticket) error {
	v, err := json.Marshal(&t)
	if err != nil {
		return fmt.Errorf("encode ticket: %w", err)
	}
	return s.update(func(txn *badger.Txn) error { return txn.Set(ticketKey(token), v) })
}

func (s *BodyStore) getTicket(token string) (ticket, error) {
	var t ticket
	err := s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(ticketKey(token))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("%w: download token", ErrNotFound)
		}
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error { return json.Unmarshal(v, &t) })
	})
	return t, err
}

func (s *BodyStore) deleteTicket(token string) error {
	return s.update(func(txn *badger.Txn) error { return txn.Delete(ticketKey(token)) })
}

// expiredTickets deletes tickets past their expiry and returns them.
func (s *BodyStore) expiredTickets(now time.Time) ([]ticket, error) {
	var out []ticket
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(kTicket), PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var t ticket
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &t) }); err != nil {
				return err
			}
			if now.After(t.Expires) {
				out = append(out, t)
				keys = append(keys, it.Item().KeyCopy(nil))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := s.update(func(txn *badger.Txn) error { return txn.Delete(k) }); err != nil {
			return out, err
		}
	}
	return out, nil
}

func offerKey(id OpID) []byte { return append([]byte(kOffer), id[:]...) }

func (s *BodyStore) offerPath(id OpID) string {
	return filepath.Join(s.dir, offerDir, hex.EncodeToString(id[:]))
}

// putOffer stores an incoming offer: its body file, then its metadata.
func (s *BodyStore) putOffer(o Offer) error {
	if err := fsutil.WriteFileAtomic(s.offerPath(o.Transfer), o.Body, 0o600); err != nil {
		return fmt.Errorf("store offered body: %w", err)
	}
	o.Body = nil
	v, err := json.Marshal(&o)
	if err != nil {
		return fmt.Errorf("encode offer: %w", err)
	}
	return s.update(func(txn *badger.Txn) error { return txn.Set(offerKey(o.Transfer), v) })
}

// getOffer returns an offer's metadata (Body nil).
func (s *BodyStore) getOffer(id OpID) (Offer, error) {
	var o Offer
	err := s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(offerKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("%w: offer %s", ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error { return json.Unmarshal(v, &o) })
	})
	return o, err
}

// acceptOffer turns an offer into an item: the body file moves into
// place, then the record is written and the offer removed in one
// transaction. Repeating it after a crash is harmless.
func (s *BodyStore) acceptOffer(id OpID, rec Record) error {
	if err := checkRecord(&rec); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.adoptEpoch(rec.Epoch); err != nil {
		return err
	}
	err := os.Rename(s.offerPath(id), s.bodyPath(rec.Item))
	if errors.Is(err, os.ErrNotExist) {
		// Moved by an earlier attempt that crashed before the record.
		_, err = os.Stat(s.bodyPath(rec.Item))
	}
	if err != nil {
		return fmt.Errorf("move offered body into place: %w", err)
	}
	if err := fsutil.SyncDir(filepath.Join(s.dir, bodyDir)); err != nil {
		return err
	}
	var old *Record
	if r, err := s.getLocked(rec.Item); err == nil {
		old = &r
	}
	err = s.update(func(txn *badger.Txn) error {
		if err := txn.Delete(offerKey(id)); err != nil {
			return err
		}
		return s.setRecord(txn, &rec, old)
	})
	if err != nil {
		return fmt.Errorf("record accepted offer %s: %w", id, err)
	}
	s.idx.set(rec.Item, rec.Handle)
	return nil
}

// deleteOffer removes an offer and its body.
func (s *BodyStore) deleteOffer(id OpID) error {
	if err := s.update(func(txn *badger.Txn) error { return txn.Delete(offerKey(id)) }); err != nil {
		return err
	}
	if err := os.Remove(s.offerPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove offered body: %w", err)
	}
	return nil
}

// offerBody reads an offer's body.
func (s *BodyStore) offerBody(id OpID) ([]byte, error) {
	b, err := os.ReadFile(s.offerPath(id))
	if err != nil {
		return nil, fmt.Errorf("read offered body: %w", err)
	}
	return b, nil
}

// offeredItems returns the items of the offers still pending.
func (s *BodyStore) offeredItems() (map[ItemID]bool, error) {
	out := map[ItemID]bool{}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(kOffer), PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var o Offer
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &o) }); err != nil {
				return fmt.Errorf("read offer: %w", err)
			}
			out[o.Item] = true
		}
		return nil
	})
	return out, err
}
