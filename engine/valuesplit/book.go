package valuesplit

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/conto-ledger/conto/engine/valuesplit/chain"
	"github.com/conto-ledger/conto/engine/valuesplit/internal/journal"
)

// BookEntry is one line of the account book: a block as it was written —
// every registration, ownership change and repaired block — with its
// sealed payload and that payload's hash. Repair rebuilds a frozen block
// from the last entry recorded for its position.
type BookEntry struct {
	Index       uint64     `json:"index"` // the block's position in the chain
	Kind        chain.Kind `json:"kind"`
	Item        ItemID     `json:"item"`
	Op          OpID       `json:"op"`
	FileID      FileID     `json:"file_id"`
	Time        time.Time  `json:"time"`
	Cluster     string     `json:"cluster"`
	User        string     `json:"user"`
	Name        string     `json:"name"`
	BlockHash   chain.Hash `json:"block_hash"`
	PayloadHash [32]byte   `json:"payload_hash"` // SHA-256 of Payload
	Payload     []byte     `json:"payload"`      // the sealed head + data key + window
}

// EntryFromBlock returns the book entry for block b.
func EntryFromBlock(b chain.Block) BookEntry {
	return BookEntry{
		Index: b.Index, Kind: b.Kind, Item: b.Item, Op: b.Op, FileID: b.FileID, Time: b.Time,
		Cluster: b.Cluster, User: b.User, Name: b.Name, BlockHash: b.Hash,
		PayloadHash: sha256.Sum256(b.Payload), Payload: append([]byte(nil), b.Payload...),
	}
}

// draft returns the block content the entry records.
func (e *BookEntry) draft() chain.Draft {
	return chain.Draft{
		Kind: e.Kind, Item: e.Item, Op: e.Op, FileID: e.FileID, Time: e.Time,
		Cluster: e.Cluster, User: e.User, Name: e.Name, Payload: append([]byte(nil), e.Payload...),
	}
}

// AccountBook is the account book database managed independently of the
// block chain (claim 10): the center records every block in it before
// writing the block, and the repair bot rebuilds frozen blocks from it.
// DESIGN.md names the engine's ledger as the production book; FileBook is
// a self-contained implementation.
type AccountBook interface {
	// Record durably appends an entry. The center calls it before the
	// block reaches the chain, so the book may hold entries for blocks that
	// were never written (a failed append); the last entry recorded for a
	// position is the one that counts.
	Record(ctx context.Context, e BookEntry) error
	// Entries calls fn for every entry in the order recorded, stopping at
	// fn's first error (returned as is).
	Entries(ctx context.Context, fn func(BookEntry) error) error
}

// FileBook is an AccountBook in a journal file of JSON entries. Keep it on
// a different disk or machine than the chain for it to be independent.
type FileBook struct {
	path string
	j    *journal.Journal
}

const maxBookRecord = 4 << 10

// OpenFileBook opens (creating) the account book file at path.
func OpenFileBook(path string) (*FileBook, error) {
	j, _, err := journal.Open(path, maxBookRecord, func([]byte) error { return nil })
	if err != nil {
		return nil, fmt.Errorf("open account book: %w", err)
	}
	return &FileBook{path: path, j: j}, nil
}

// Record appends e and fsyncs.
func (b *FileBook) Record(ctx context.Context, e BookEntry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	raw, err := json.Marshal(&e)
	if err != nil {
		return fmt.Errorf("encode book entry: %w", err)
	}
	if err := b.j.Append(raw); err != nil {
		return fmt.Errorf("record book entry for block %d: %w", e.Index, err)
	}
	return nil
}

// errStop carries fn's error out of the journal scan unwrapped.
type errStop struct{ err error }

func (e errStop) Error() string { return e.err.Error() }

// Entries reads the file from disk and calls fn for every entry.
func (b *FileBook) Entries(ctx context.Context, fn func(BookEntry) error) error {
	_, err := journal.Scan(b.path, maxBookRecord, func(raw []byte) error {
		if err := ctx.Err(); err != nil {
			return errStop{err}
		}
		var e BookEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("decode book entry: %w", err)
		}
		if err := fn(e); err != nil {
			return errStop{err}
		}
		return nil
	})
	var stop errStop
	if errors.As(err, &stop) {
		return stop.err
	}
	if err != nil {
		return fmt.Errorf("read account book: %w", err)
	}
	return nil
}

// Close closes the file.
func (b *FileBook) Close() error { return b.j.Close() }
