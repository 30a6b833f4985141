package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/conto-ledger/conto/engine/ledger"
)

// startPostgres runs a real PostgreSQL server in a temporary directory on
// 127.0.0.1 and returns its URL. It skips the test, saying why, where no
// PostgreSQL is installed (CI installs it from Debian's packages).
func startPostgres(t *testing.T) string {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	if len(bins) == 0 {
		t.Skip("PostgreSQL is not installed (apt-get install postgresql): skipping the side-by-side run")
	}
	bin := bins[len(bins)-1]
	dir, err := os.MkdirTemp("", "conto-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// initdb refuses to run as root: run the server as the postgres user.
	asUser := func(name string, args ...string) *exec.Cmd {
		if os.Geteuid() == 0 {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(bin, name)}, args...)...)
		}
		return exec.Command(filepath.Join(bin, name), args...)
	}
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "postgres", dir).CombinedOutput(); err != nil {
			t.Skipf("cannot hand a directory to the postgres user: %v %s", err, out)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := asUser("initdb", "-D", data, "-A", "trust", "-U", "postgres").CombinedOutput(); err != nil {
		t.Skipf("initdb failed, skipping: %v\n%s", err, out)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=on", port, dir)
	if out, err := asUser("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "start").CombinedOutput(); err != nil {
		t.Skipf("PostgreSQL did not start, skipping: %v\n%s", err, out)
	}
	t.Cleanup(func() { asUser("pg_ctl", "-D", data, "-m", "fast", "-w", "stop").Run() })
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
}

func TestSameWorkloadOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	url := startPostgres(t)
	pg, err := OpenPostgres(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	cfg := smallConfig()
	cfg.Transfers, cfg.PendingPercent, cfg.Distribution = 2000, 20, "hot"
	r, err := Run(context.Background(), cfg, pg)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Validated || r.Failed != 0 || r.Transfers != 2000 {
		t.Fatalf("postgres run: %+v", r)
	}
	// A transfer id sent twice is answered exists the second time and
	// applied once: the same idempotency the workload expects of conto.
	tr := []ledger.Transfer{{ID: ledger.U128(42), DebitAccountID: ledger.U128(2), CreditAccountID: ledger.U128(3), Amount: 7, Ledger: 1, Code: 1}}
	for want, status := range []ledger.TransferStatus{ledger.TransferCreated, ledger.TransferExists} {
		res, err := pg.CreateTransfers(context.Background(), tr)
		if err != nil || ledger.TransferStatus(res[0].Status) != status {
			t.Fatalf("attempt %d: %v %v, want %v", want, res, err, status)
		}
	}
}
