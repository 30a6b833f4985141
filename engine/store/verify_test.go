package store

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/conto-ledger/conto/engine/hashchain"
	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/dgraph-io/badger/v4"
)

// chainedLedger builds a store whose history exercises every kind of chain
// record: stamped account batches (one with a history account and one with a
// limit flag), transfers, a pending transfer posted, one that expires, a
// correction and a migration to BLAKE2b-256. It returns the store's
// directory, closed, and the node key that stamped it.
func chainedLedger(t *testing.T, every uint64) (string, ed25519.PrivateKey) {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	dir := t.TempDir()
	s := openStoreEvery(t, dir, every)
	seal := func(b *ledger.Batch, alg hashchain.Alg) *ledger.Batch {
		st, err := hashchain.NewStamp(key, 0, b.Time, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		b.Seal.Alg = uint8(alg)
		st.Encode(b.Seal.Stamp[:])
		return b
	}
	limited := acct(4, ledger.AccountDebitsMustNotExceedCredits)
	mustApply(t, s, seal(accountsBatch(1, 1*second, acct(1, 0), acct(2, ledger.AccountHistory), acct(3, 0), limited), hashchain.SHA256))
	mustApply(t, s, seal(transfersBatch(2, 2*second, xfer(10, 1, 2, 100), xfer(11, 2, 3, 30), xfer(12, 3, 4, 7)), hashchain.SHA256))
	p := xfer(13, 1, 3, 5)
	p.Flags, p.Timeout = ledger.TransferPending, 1
	q := xfer(14, 2, 1, 9)
	q.Flags = ledger.TransferPending
	mustApply(t, s, seal(transfersBatch(3, 3*second, p, q), hashchain.SHA256))
	post := ledger.Transfer{ID: ledger.U128(15), PendingID: ledger.U128(14), Amount: 4, Flags: ledger.TransferPostPendingTransfer}
	wantStatuses(t, mustApply(t, s, seal(transfersBatch(4, 4*second, post), hashchain.SHA256)), 0)
	// Transfer 13 expires at 4s: this batch expires it first.
	b := seal(transfersBatch(5, 6*second, xfer(16, 4, 1, 2)), hashchain.SHA256)
	b.Corrections = []ledger.Correction{{Index: 0, Corrects: ledger.U128(12)}}
	wantStatuses(t, mustApply(t, s, b), 0)
	// A new algorithm: every chain migrates as it next moves.
	mustApply(t, s, seal(transfersBatch(6, 7*second, xfer(17, 1, 2, 1), xfer(18, 3, 2, 1)), hashchain.BLAKE2b256))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, key
}

func openForTamper(t *testing.T, dir string) *badger.DB {
	t.Helper()
	db, err := badger.OpenManaged(badgerOptions(Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func pub(key ed25519.PrivateKey) [32]byte {
	var k [32]byte
	copy(k[:], key.Public().(ed25519.PublicKey))
	return k
}

func TestVerifyPassesOnAnHonestStore(t *testing.T) {
	for _, every := range []uint64{1, 0} { // heads stored at every version, and at the default interval
		dir, key := chainedLedger(t, every)
		rep, err := Verify(VerifyOptions{Dir: dir, Trusted: [][32]byte{pub(key)}})
		if err != nil {
			t.Fatalf("every %d: %v", every, err)
		}
		if rep.Blocks != 6 || rep.Accounts != 4 || rep.Events != 10 {
			t.Fatalf("every %d: report %+v; want 6 blocks, 4 accounts, 10 events (9 transfers and an expiry)", every, rep)
		}
	}
}

// readValue returns the value of key at version.
func readValue(t *testing.T, db *badger.DB, key []byte, version uint64) []byte {
	t.Helper()
	txn := db.NewTransactionAt(version, false)
	defer txn.Discard()
	item, err := txn.Get(key)
	if err != nil {
		t.Fatalf("read %q@%d: %v", key, version, err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// write sets (or with nil deletes) key at version, as tampering with the
// files would.
func write(t *testing.T, db *badger.DB, key []byte, version uint64, val []byte) {
	t.Helper()
	wb := db.NewManagedWriteBatch()
	var err error
	if val == nil {
		err = wb.DeleteAt(key, version)
	} else {
		err = wb.SetEntryAt(badger.NewEntry(key, val), version)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := wb.Flush(); err != nil {
		t.Fatal(err)
	}
}

// Every single-byte change of a stored transfer block, delta block or chain
// block, at every offset, makes verification fail, and the failure names
// the version. The value is put back after each change.
func TestVerifyCatchesEveryByteFlip(t *testing.T) {
	dir, key := chainedLedger(t, 0)
	db := openForTamper(t, dir)
	o := VerifyOptions{Dir: dir, Trusted: [][32]byte{pub(key)}}
	if _, err := verifyDB(db, o); err != nil {
		t.Fatalf("before tampering: %v", err)
	}
	for _, k := range []struct {
		name    string
		key     []byte
		version uint64
	}{
		{"transfer block 2", u64Key(prefixBlock, 2), 2},
		{"transfer block 5 (correction)", u64Key(prefixBlock, 5), 5},
		{"delta block 1 (created accounts)", u64Key(prefixDelta, 1), 1},
		{"delta block 3 (history entries)", u64Key(prefixDelta, 3), 3},
		{"delta block 5 (expiry)", u64Key(prefixDelta, 5), 5},
		{"chain block 1", u64Key(prefixChain, 1), 1},
		{"chain block 5", u64Key(prefixChain, 5), 5},
		{"chain block 6 (migration)", u64Key(prefixChain, 6), 6},
	} {
		orig := readValue(t, db, k.key, k.version)
		for off := range orig {
			bad := append([]byte(nil), orig...)
			bad[off] ^= 0x01
			write(t, db, k.key, k.version, bad)
			_, err := verifyDB(db, o)
			if err == nil {
				t.Fatalf("%s: flipping byte %d of %d went unnoticed", k.name, off, len(orig))
			}
		}
		write(t, db, k.key, k.version, orig)
	}
	if _, err := verifyDB(db, o); err != nil {
		t.Fatalf("after putting everything back: %v", err)
	}
}

// Named tamperings: each must fail and name what was changed.
func TestVerifyNamesTheTampering(t *testing.T) {
	dir, key := chainedLedger(t, 1)
	db := openForTamper(t, dir)
	trusted := [][32]byte{pub(key)}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	s6 := func() hashchain.Hash {
		blk, err := hashchain.DecodeBlock(readValue(t, db, u64Key(prefixChain, 6), 6))
		if err != nil {
			t.Fatal(err)
		}
		return blk.System
	}()
	amount := func(v []byte) []byte { v[48]++; return v } // transfer 0's amount
	swap := func(v []byte) []byte {
		out := append([]byte(nil), v[128:256]...)
		return append(append(out, v[:128]...), v[256:]...)
	}
	cases := []struct {
		name    string
		key     []byte
		version uint64
		change  func([]byte) []byte // nil: delete
		want    string
	}{
		{name: "amount of a transfer", key: u64Key(prefixBlock, 2), version: 2, change: amount, want: "version 2"},
		{name: "two transfers reordered", key: u64Key(prefixBlock, 2), version: 2, change: swap, want: "slot 0 holds transfer 11"},
		{name: "transfer block deleted", key: u64Key(prefixBlock, 2), version: 2, want: "version 2"},
		{name: "chain block deleted", key: u64Key(prefixChain, 3), version: 3, want: "version 3: the batch has no chain block"},
		{name: "delta block deleted", key: u64Key(prefixDelta, 2), version: 2, want: "version 2"},
		{name: "stored head", key: idKey(prefixHead, ledger.U128(1)), version: 6,
			change: func(v []byte) []byte { v[5]++; return v }, want: "stored head of account 1"},
		{name: "balance of an account", key: u64Key(prefixDelta, 2), version: 2,
			change: func(v []byte) []byte { v[len(v)-40]++; return v }, want: "version 2: account"},
	}
	for _, c := range cases {
		orig := readValue(t, db, c.key, c.version)
		var bad []byte
		if c.change != nil {
			bad = c.change(append([]byte(nil), orig...))
		}
		write(t, db, c.key, c.version, bad)
		_, err := verifyDB(db, VerifyOptions{Dir: dir, Trusted: trusted})
		write(t, db, c.key, c.version, orig)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: verify = %v; want an error naming %q", c.name, err, c.want)
		}
	}
	good := hashchain.SignCheckpoint(key, 0, 6, hashchain.BLAKE2b256, s6, 1)
	forgedSig := good
	forgedSig.Signature[3] ^= 1
	otherKey := hashchain.SignCheckpoint(other, 0, 6, hashchain.BLAKE2b256, s6, 1)
	wrongHash := hashchain.SignCheckpoint(key, 0, 6, hashchain.BLAKE2b256, hashchain.Hash{1}, 1)
	noVersion := hashchain.SignCheckpoint(key, 0, 7, hashchain.BLAKE2b256, s6, 1)
	for _, c := range []struct {
		name string
		cp   hashchain.Checkpoint
		want error
		text string
	}{
		{"a flipped signature", forgedSig, hashchain.ErrSignature, "checkpoint at version 6"},
		{"another key", otherKey, nil, "untrusted key"},
		{"a system hash that is not the store's", wrongHash, nil, "signs system hash"},
		{"a version with no batch", noVersion, nil, "no chain block has that version"},
	} {
		_, err := verifyDB(db, VerifyOptions{Dir: dir, Trusted: trusted, Checkpoints: []hashchain.Checkpoint{c.cp}})
		if err == nil || !strings.Contains(err.Error(), c.text) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("checkpoint with %s: verify = %v; want %q", c.name, err, c.text)
		}
	}
	if rep, err := verifyDB(db, VerifyOptions{Dir: dir, Trusted: trusted, Checkpoints: []hashchain.Checkpoint{good}}); err != nil || rep.Checkpoints != 1 {
		t.Fatalf("the honest checkpoint: %+v, %v", rep, err)
	}
}

// A store reopened replays the chain blocks after its last head checkpoint
// (here versions 5 and 6) and goes on chaining from there.
func TestChainsSurviveRestart(t *testing.T) {
	dir, _ := chainedLedger(t, 4) // heads stored at versions 4 and 8 only
	s := openStoreEvery(t, dir, 4)
	mustApply(t, s, transfersBatch(7, 8*second, xfer(19, 1, 3, 1)))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(VerifyOptions{Dir: dir}); err != nil {
		t.Fatalf("after restart and one more batch: %v", err)
	}
}

// A chain block missing at the store's last version (meta ahead of the
// chains, as a torn write before meta moved last could leave) refuses to
// open instead of chaining on from the wrong place.
func TestOpenRefusesMetaAheadOfTheChains(t *testing.T) {
	dir, _ := chainedLedger(t, 1)
	db := openForTamper(t, dir)
	write(t, db, u64Key(prefixChain, 6), 6, nil)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), indexEvery: 1})
	if err == nil {
		s.Close()
		t.Fatal("a store whose last chain block is gone opened")
	}
	if !errors.Is(err, ErrChain) {
		t.Fatalf("open: %v, want ErrChain", err)
	}
}

// Meta stays the last write of a batch after the chain stage adds its keys.
func TestMetaIsWrittenLast(t *testing.T) {
	job := &writeJob{}
	job.add([]byte{prefixBlock, 1}, nil)
	job.add(metaKey, []byte("meta"))
	job.add(u64Key(prefixChain, 1), nil)
	job.add(idKey(prefixHead, ledger.U128(1)), nil)
	metaLast(job)
	if len(job.kvs) != 4 || string(job.kvs[3].key) != string(metaKey) {
		t.Fatalf("writes in order %q", job.kvs)
	}
}

// Deleting the newest batch whole (its transfer, delta and chain blocks,
// meta untouched) is caught: the store's version has no chain block.
func TestVerifyCatchesADeletedTail(t *testing.T) {
	dir, key := chainedLedger(t, 0)
	db := openForTamper(t, dir)
	for _, p := range []byte{prefixBlock, prefixDelta, prefixChain} {
		write(t, db, u64Key(p, 6), 6, nil)
	}
	_, err := verifyDB(db, VerifyOptions{Dir: dir, Trusted: [][32]byte{pub(key)}})
	if err == nil || !strings.Contains(err.Error(), "deleted from its end") {
		t.Fatalf("verify after deleting the last batch: %v", err)
	}
}
