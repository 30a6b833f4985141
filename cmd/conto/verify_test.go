package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// runConto runs the built binary and returns its exit code and output.
func runConto(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return 0, out.String()
}

// A real server is verified through its API while it runs, then its data
// directory offline after it stops; a changed byte on disk (a transfer's
// amount, a signed checkpoint) makes the offline verification fail, naming
// what is wrong, and putting it back makes it pass again.
func TestVerifyCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds conto and starts a server")
	}
	bin := buildConto(t)
	base := t.TempDir()
	p := &proc{name: "n0", data: filepath.Join(base, "data"), http: freeAddr(t), raft: freeAddr(t)}
	p.args = []string{"--data", p.data, "--http", p.http, "--raft", p.raft, "--checkpoint-every", "2"}
	p.start(t, bin)
	defer p.kill()
	waitReady(t, p)
	if code, body, err := postJSON(p.http, "/v1/accounts", []map[string]any{
		{"id": "1", "ledger": 1, "code": 1}, {"id": "2", "ledger": 1, "code": 1, "flags": []string{"history"}}}); err != nil || code != 200 {
		t.Fatalf("accounts: %d %s %v", code, body, err)
	}
	for i := 0; i < 5; i++ {
		if code, body, err := postJSON(p.http, "/v1/transfers", []map[string]any{
			{"id": fmt.Sprint(100 + i), "debit_account_id": "1", "credit_account_id": "2", "amount": fmt.Sprint(10 + i), "ledger": 1, "code": 1}}); err != nil || code != 200 {
			t.Fatalf("transfer: %d %s %v", code, body, err)
		}
	}
	if code, body, err := postJSON(p.http, "/v1/checkpoints", nil); err != nil || code != 200 {
		t.Fatalf("checkpoint: %d %s %v", code, body, err)
	}
	if code, out := runConto(t, bin, "verify", "--url", "http://"+p.http); code != 0 || !strings.Contains(out, "ok:") {
		t.Fatalf("verify --url: exit %d\n%s", code, out)
	}
	p.stop()
	if code, out := runConto(t, bin, "verify", "--data", p.data); code != 0 || !strings.Contains(out, "partition 0: ok") {
		t.Fatalf("verify --data: exit %d\n%s", code, out)
	}

	// A signed checkpoint changed on disk.
	cpFile := filepath.Join(p.data, "p000", "checkpoints")
	orig, err := os.ReadFile(cpFile)
	if err != nil || len(orig) == 0 {
		t.Fatalf("checkpoints file: %d bytes, %v", len(orig), err)
	}
	bad := append([]byte(nil), orig...)
	bad[30] ^= 1 // inside the first record's system hash
	os.WriteFile(cpFile, bad, 0o644)
	if code, out := runConto(t, bin, "verify", "--data", p.data); code != 1 || !strings.Contains(out, "checkpoint") {
		t.Fatalf("verify --data with a forged checkpoint: exit %d\n%s", code, out)
	}
	os.WriteFile(cpFile, orig, 0o644)

	// A transfer's amount changed in the store.
	storeDir := filepath.Join(p.data, "p000", "store")
	key, version, val := firstTransferBlock(t, storeDir)
	val[48]++ // the first transfer's amount (SPEC §3 layout)
	putValue(t, storeDir, key, version, val)
	code, out := runConto(t, bin, "verify", "--data", p.data)
	if code != 1 || !strings.Contains(out, fmt.Sprintf("version %d", version)) {
		t.Fatalf("verify --data with a changed amount: exit %d\n%s", code, out)
	}
	val[48]--
	putValue(t, storeDir, key, version, val)
	if code, out := runConto(t, bin, "verify", "--data", p.data); code != 0 {
		t.Fatalf("verify --data after putting it back: exit %d\n%s", code, out)
	}
	if code, _ := runConto(t, bin, "verify"); code != 2 {
		t.Fatalf("verify without --data or --url: exit %d, want 2", code)
	}
}

func openBadger(t *testing.T, dir string) *badger.DB {
	t.Helper()
	db, err := badger.OpenManaged(badger.DefaultOptions(dir).WithLogger(nil).
		WithNumVersionsToKeep(1 << 30).WithValueThreshold(1 << 10))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// firstTransferBlock returns the store's first transfer block ('B' key).
func firstTransferBlock(t *testing.T, dir string) ([]byte, uint64, []byte) {
	t.Helper()
	db := openBadger(t, dir)
	defer db.Close()
	txn := db.NewTransactionAt(^uint64(0)-1, false)
	defer txn.Discard()
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte{'B'}
	it := txn.NewIterator(opts)
	defer it.Close()
	it.Rewind()
	if !it.Valid() {
		t.Fatal("no transfer block in the store")
	}
	key := it.Item().KeyCopy(nil)
	val, err := it.Item().ValueCopy(nil)
	if err != nil {
		t.Fatal(err)
	}
	return key, binary.BigEndian.Uint64(key[1:]), val
}

func putValue(t *testing.T, dir string, key []byte, version uint64, val []byte) {
	t.Helper()
	db := openBadger(t, dir)
	defer db.Close()
	wb := db.NewManagedWriteBatch()
	if err := wb.SetEntryAt(badger.NewEntry(key, val), version); err != nil {
		t.Fatal(err)
	}
	if err := wb.Flush(); err != nil {
		t.Fatal(err)
	}
}
