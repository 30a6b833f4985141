// Package journal is the append-only record file behind the valuesplit
// module's small state (user and cluster registries, frozen-block flags,
// pending transfers, the file account book).
//
// A journal file is a sequence of records, each framed as
//
//	length   uint32 big-endian  (payload bytes, 1..MaxRecord)
//	crc32c   uint32 big-endian  (Castagnoli CRC of the payload)
//	payload  length bytes
//
// Appends are written in one call and fsynced before Append returns. A crash
// can only leave a damaged record at the end of the file (a short frame, or
// a full frame whose checksum does not match because the write was torn):
// Open drops such a tail, truncates the file to the last whole record and
// reports how many bytes it dropped. Damage anywhere else is not a crash
// artefact, so Open refuses the file instead of guessing.
package journal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/conto-ledger/conto/engine/valuesplit/internal/fsutil"
)

const frameHeader = 8

// ErrCorrupt reports a damaged record before the end of a journal.
var ErrCorrupt = errors.New("journal corrupt")

// ErrClosed reports a call on a closed journal.
var ErrClosed = errors.New("journal closed")

// ErrBroken reports a journal whose last write or sync failed: what reached
// the disk is unknown, so the journal refuses further writes until reopened.
var ErrBroken = errors.New("journal broken by an earlier write error; reopen it")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Stats describes what Open found.
type Stats struct {
	Records   int   // whole records replayed
	TornBytes int64 // bytes dropped from a damaged tail (0 if none)
}

// Journal is an open journal file. It is safe for concurrent use.
type Journal struct {
	mu        sync.Mutex
	path      string
	maxRecord int
	f         *os.File
	size      int64
	broken    bool
}

// Open opens (creating if needed) the journal at path, calls replay for
// every whole record in order, drops a torn tail and returns the journal
// ready for appends. maxRecord bounds a record's payload; a frame claiming
// more is damage. replay's error stops Open and is returned wrapped.
func Open(path string, maxRecord int, replay func([]byte) error) (*Journal, Stats, error) {
	if maxRecord <= 0 || maxRecord > 1<<30 {
		return nil, Stats{}, fmt.Errorf("journal %s: record limit %d out of range 1..2^30", path, maxRecord)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, Stats{}, fmt.Errorf("open journal %s: %w", path, err)
	}
	st, good, err := scan(f, path, maxRecord, replay)
	if err != nil {
		f.Close()
		return nil, st, err
	}
	if st.TornBytes > 0 {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, st, fmt.Errorf("journal %s: drop torn tail: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, st, fmt.Errorf("journal %s: sync after dropping torn tail: %w", path, err)
		}
	}
	if err := fsutil.SyncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, st, err
	}
	return &Journal{path: path, maxRecord: maxRecord, f: f, size: good}, st, nil
}

// Scan reads the journal at path without opening it for writing, calling fn
// for every whole record. A torn tail is skipped (and counted) but left on
// disk; the writer's next Open drops it. A missing file has no records.
func Scan(path string, maxRecord int, fn func([]byte) error) (Stats, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return Stats{}, nil
	}
	if err != nil {
		return Stats{}, fmt.Errorf("open journal %s: %w", path, err)
	}
	defer f.Close()
	st, _, err := scan(f, path, maxRecord, fn)
	return st, err
}

// scan reads frames from the start of f. It returns the offset just past
// the last whole record.
func scan(f *os.File, path string, maxRecord int, fn func([]byte) error) (Stats, int64, error) {
	var st Stats
	info, err := f.Stat()
	if err != nil {
		return st, 0, fmt.Errorf("stat journal %s: %w", path, err)
	}
	total := info.Size()
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, total), 1<<16)
	var off int64
	var hdr [frameHeader]byte
	buf := make([]byte, 0, 256)
	for off < total {
		n, bad := readFrame(r, hdr[:], &buf, maxRecord, total-off)
		if bad != "" {
			if off+n >= total && tailIsTorn(f, off, total, bad) {
				// The damage reaches the end of the file: a torn write.
				st.TornBytes = total - off
				return st, off, nil
			}
			return st, off, fmt.Errorf("%w: %s at offset %d: %s", ErrCorrupt, path, off, bad)
		}
		if err := fn(buf); err != nil {
			return st, off, fmt.Errorf("journal %s: record at offset %d: %w", path, off, err)
		}
		st.Records++
		off += n
	}
	return st, off, nil
}

const badLength = "record length"

// tailIsTorn decides whether damage that claims the rest of the file is a
// torn write. A frame that is merely cut short is; a frame with an
// impossible length is only when every byte from it to the end is zero (the
// file grew but the data never landed). Garbage there is tampering or media
// damage, which must not be silently dropped.
func tailIsTorn(f *os.File, off, total int64, bad string) bool {
	if len(bad) < len(badLength) || bad[:len(badLength)] != badLength {
		return true
	}
	buf := make([]byte, 1<<16)
	for off < total {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), total-off)], off)
		for _, b := range buf[:n] {
			if b != 0 {
				return false
			}
		}
		if err != nil && n == 0 {
			return false
		}
		off += int64(n)
	}
	return true
}

// readFrame reads one frame into *buf. It returns the frame's length on
// disk and, if the frame is damaged, why (with the length it claims, so the
// caller can tell a torn tail from damage in the middle).
func readFrame(r io.Reader, hdr []byte, buf *[]byte, maxRecord int, left int64) (int64, string) {
	if left < frameHeader {
		return left, "short frame header"
	}
	if _, err := io.ReadFull(r, hdr); err != nil {
		return left, "unreadable frame header"
	}
	n := binary.BigEndian.Uint32(hdr[0:4])
	sum := binary.BigEndian.Uint32(hdr[4:8])
	if n == 0 || int64(n) > int64(maxRecord) {
		// A length we cannot trust: everything after it is suspect.
		return left, fmt.Sprintf("%s %d outside 1..%d", badLength, n, maxRecord)
	}
	size := frameHeader + int64(n)
	if size > left {
		return left, "record runs past the end of the file"
	}
	if cap(*buf) < int(n) {
		*buf = make([]byte, n)
	}
	*buf = (*buf)[:n]
	if _, err := io.ReadFull(r, *buf); err != nil {
		return left, "unreadable record"
	}
	if crc32.Checksum(*buf, castagnoli) != sum {
		return size, "checksum mismatch"
	}
	return size, ""
}

// Append writes the records in one write and fsyncs. On error the journal
// is broken: what reached the disk is unknown until the next Open.
func (j *Journal) Append(recs ...[]byte) error {
	frame, err := frames(recs, j.maxRecord)
	if err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return ErrClosed
	}
	if j.broken {
		return fmt.Errorf("journal %s: %w", j.path, ErrBroken)
	}
	if _, err := j.f.WriteAt(frame, j.size); err != nil {
		j.broken = true
		return fmt.Errorf("journal %s: append: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		j.broken = true
		return fmt.Errorf("journal %s: sync: %w", j.path, err)
	}
	j.size += int64(len(frame))
	return nil
}

// Rewrite atomically replaces the whole journal with recs (compaction).
func (j *Journal) Rewrite(recs [][]byte) error {
	frame, err := frames(recs, j.maxRecord)
	if err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return ErrClosed
	}
	if err := fsutil.WriteFileAtomic(j.path, frame, 0o600); err != nil {
		j.broken = true
		return fmt.Errorf("journal %s: rewrite: %w", j.path, err)
	}
	f, err := os.OpenFile(j.path, os.O_RDWR, 0o600)
	if err != nil {
		j.broken = true
		return fmt.Errorf("journal %s: reopen after rewrite: %w", j.path, err)
	}
	j.f.Close()
	j.f, j.size, j.broken = f, int64(len(frame)), false
	return nil
}

// Size returns the journal's length in bytes.
func (j *Journal) Size() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.size
}

// Close closes the file. Further calls fail with ErrClosed.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

func frames(recs [][]byte, maxRecord int) ([]byte, error) {
	total := 0
	for i, r := range recs {
		if len(r) == 0 || len(r) > maxRecord {
			return nil, fmt.Errorf("record %d is %d bytes, want 1..%d", i, len(r), maxRecord)
		}
		total += frameHeader + len(r)
	}
	out := make([]byte, 0, total)
	for _, r := range recs {
		out = binary.BigEndian.AppendUint32(out, uint32(len(r)))
		out = binary.BigEndian.AppendUint32(out, crc32.Checksum(r, castagnoli))
		out = append(out, r...)
	}
	return out, nil
}
