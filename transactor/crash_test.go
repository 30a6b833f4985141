package transactor

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/conto-ledger/conto/engine/ledger"
)

// The crash test runs a real node in a child process (this test binary,
// re-executed), kills it with SIGKILL while it commits under load, reopens
// its data directory and checks that every batch the child acknowledged is
// there exactly once.

const (
	crashDirEnv   = "CONTO_CRASH_CHILD_DIR"
	crashStartEnv = "CONTO_CRASH_CHILD_FIRST_ID"
	crashAccounts = 50
	crashBatch    = 100
	crashRounds   = 3
	crashAcks     = 40 // acknowledged batches before the kill
)

// TestCrashChild is the child's body; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("runs only as the crash test's child process")
	}
	first, _ := strconv.ParseUint(os.Getenv(crashStartEnv), 10, 64)
	runCrashChild(dir, first)
}

// runCrashChild commits batches until killed, printing "ack FIRST LAST"
// after each batch is acknowledged.
func runCrashChild(dir string, firstID uint64) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := OpenNode(NodeConfig{Dir: dir, NodeID: "crash", RaftAddr: "127.0.0.1:0", Partitions: 1,
		Bootstrap: true, Logger: quiet, Tune: func(c *Config) {
			c.HeartbeatTimeout, c.ElectionTimeout = 200*time.Millisecond, 200*time.Millisecond
			c.SnapshotThreshold, c.TrailingLogs, c.SnapshotInterval = 16, 4, 100*time.Millisecond
		}})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	p := n.Partition(0)
	for !p.IsLeader() {
		time.Sleep(10 * time.Millisecond)
	}
	accts := make([]ledger.Account, crashAccounts)
	for i := range accts {
		accts[i] = ledger.Account{ID: ledger.U128(uint64(i + 1)), Ledger: 1, Code: 1}
	}
	if _, err := p.Submit(context.Background(), &ledger.Batch{Kind: ledger.KindAccounts, Accounts: accts}); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	out := bufio.NewWriter(os.Stdout)
	for id := firstID; ; id += crashBatch {
		ts := make([]ledger.Transfer, crashBatch)
		for i := range ts {
			dr := (id+uint64(i))%crashAccounts + 1
			ts[i] = ledger.Transfer{ID: ledger.U128(id + uint64(i)), DebitAccountID: ledger.U128(dr),
				CreditAccountID: ledger.U128(dr%crashAccounts + 1), Amount: id%7 + 1, Ledger: 1, Code: 1}
		}
		resp, err := p.Submit(context.Background(), &ledger.Batch{Kind: ledger.KindTransfers, Transfers: ts})
		if err != nil || resp.Results[0].Status != 0 {
			fmt.Fprintln(out, "error", err)
			out.Flush()
			os.Exit(1)
		}
		fmt.Fprintf(out, "ack %d %d\n", id, id+crashBatch-1)
		out.Flush()
	}
}

func TestCrashKill9UnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	acked := map[uint64]uint64{} // transfer id → amount
	for round := 0; round < crashRounds; round++ {
		first := uint64(round+1) * 1_000_000
		for id, amount := range runAndKill(t, dir, first) {
			acked[id] = amount
		}
		verifyCrashDir(t, dir, acked)
	}
}

// runAndKill starts a child on dir, waits for crashAcks acknowledged
// batches, SIGKILLs it, and returns the acknowledged transfers.
func runAndKill(t *testing.T, dir string, first uint64) map[uint64]uint64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashStartEnv+"="+strconv.FormatUint(first, 10))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	acked := map[uint64]uint64{}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timeout := time.After(30 * time.Second)
	for batches := 0; batches < crashAcks; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("child exited before it was killed")
			}
			var lo, hi uint64
			if _, err := fmt.Sscanf(line, "ack %d %d", &lo, &hi); err != nil {
				if strings.HasPrefix(line, "error") {
					cmd.Process.Kill()
					t.Fatalf("child: %s", line)
				}
				continue // the test framework's own output
			}
			for id := lo; id <= hi; id++ {
				acked[id] = lo%7 + 1
			}
			batches++
		case <-timeout:
			cmd.Process.Kill()
			t.Fatal("child did not acknowledge enough batches in time")
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL, mid-stream
		t.Fatal(err)
	}
	for range lines { // drain what was printed before the kill
	}
	return acked
}

// verifyCrashDir reopens the node's data and checks every acknowledged
// transfer is present with its amount, nothing was applied twice (balances
// equal the sum of the transfers present), and conservation holds.
func verifyCrashDir(t *testing.T, dir string, acked map[uint64]uint64) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := OpenNode(NodeConfig{Dir: dir, NodeID: "crash", RaftAddr: "127.0.0.1:0", Partitions: 1,
		Bootstrap: true, Logger: quiet})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer n.Close()
	p := n.Partition(0)
	deadline := time.Now().Add(waitLimit)
	for !p.IsLeader() { // leader again, and the log replayed (barrier)
		if time.Now().After(deadline) {
			t.Fatal("restarted node did not become leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := p.Store()
	for id, amount := range acked {
		tr, ok := st.Transfer(ledger.U128(id))
		if !ok || tr.Amount != amount {
			t.Fatalf("acknowledged transfer %d: found %v, amount %d, want %d", id, ok, tr.Amount, amount)
		}
	}
	var debits, credits uint64
	for id := uint64(1); id <= crashAccounts; id++ {
		a, _ := st.Account(ledger.U128(id))
		debits += a.DebitsPosted
		credits += a.CreditsPosted
	}
	if debits != credits {
		t.Fatalf("conservation broken after kill: debits %d credits %d", debits, credits)
	}
	// Every transfer present counted once: total posted equals the sum of
	// the amounts of the transfers the store holds (acknowledged ones, plus
	// any that committed while their acknowledgement was in flight).
	var sum uint64
	for round := uint64(1); round <= crashRounds; round++ {
		for id := round * 1_000_000; ; id++ {
			tr, ok := st.Transfer(ledger.U128(id))
			if !ok {
				break
			}
			sum += tr.Amount
		}
	}
	if sum != debits {
		t.Fatalf("balances (%d) differ from the transfers present (%d): something applied twice or lost", debits, sum)
	}
}
