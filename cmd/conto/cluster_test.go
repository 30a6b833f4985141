package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/conto-ledger/conto/partition"
)

// The cluster test runs three real `conto serve` processes on 127.0.0.1,
// loads them over HTTP, kills the leader with SIGKILL, keeps writing,
// restarts it, and checks every node has every acknowledged transfer
// exactly once and conservation holds.

type proc struct {
	name, data, http, raft string
	args                   []string
	cmd                    *exec.Cmd
}

func buildConto(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "conto")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (p *proc) start(t *testing.T, bin string) {
	t.Helper()
	p.cmd = exec.Command(bin, append([]string{"serve"}, p.args...)...)
	logf, err := os.Create(filepath.Join(filepath.Dir(p.data), p.name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

func (p *proc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		p.cmd = nil
	}
}

func (p *proc) stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			p.cmd.Process.Kill()
		}
		p.cmd = nil
	}
}

var client = &http.Client{Timeout: 15 * time.Second}

func waitReady(t *testing.T, p *proc) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := client.Get("http://" + p.http + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, _ := os.ReadFile(filepath.Join(filepath.Dir(p.data), p.name+".log"))
	t.Fatalf("%s not ready; log:\n%s", p.name, out)
}

func postJSON(addr, path string, body any) (int, []byte, error) {
	b, _ := json.Marshal(body)
	r, err := client.Post("http://"+addr+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	defer r.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(r.Body)
	return r.StatusCode, buf.Bytes(), nil
}

func TestThreeProcessClusterKillLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("builds conto and starts three processes")
	}
	bin := buildConto(t)
	base := t.TempDir()
	procs := make([]*proc, 3)
	for i := range procs {
		p := &proc{name: fmt.Sprintf("n%d", i), data: filepath.Join(base, fmt.Sprintf("n%d", i), "data"),
			http: freeAddr(t), raft: freeAddr(t)}
		os.MkdirAll(filepath.Dir(p.data), 0o755)
		p.args = []string{"--data", p.data, "--http", p.http, "--raft", p.raft, "--partitions", "2", "--node-id", p.name}
		if i > 0 {
			p.args = append(p.args, "--join", procs[0].raft)
		}
		procs[i] = p
	}
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	procs[0].start(t, bin)
	waitReady(t, procs[0])
	for _, p := range procs[1:] {
		p.start(t, bin)
	}
	for _, p := range procs {
		waitReady(t, p)
	}

	// Accounts 1..40; transfers pair accounts of the same partition.
	const nAccounts = 40
	var accts []map[string]any
	for id := 1; id <= nAccounts; id++ {
		accts = append(accts, map[string]any{"id": strconv.Itoa(id), "ledger": 1, "code": 1})
	}
	if code, body, err := postJSON(procs[0].http, "/v1/accounts", accts); err != nil || code != 200 {
		t.Fatalf("accounts: %d %s %v", code, body, err)
	}
	pmap, _ := partition.New(2)
	var byPart [2][]int
	for id := 1; id <= nAccounts; id++ {
		p := pmap.OfID(uint64(id), 0)
		byPart[p] = append(byPart[p], id)
	}

	// A sender streams batches round-robin over the nodes, retrying a batch
	// with the same ids on the next node until its outcome is known, while
	// the leader is killed and later restarted under it.
	var (
		mu      sync.Mutex
		acked   = map[int]int{} // transfer id → amount
		batches atomic.Int64
		done    = make(chan error, 1)
	)
	go func() {
		nextID := 1000
		for b := 0; b < 60; b++ {
			var ts []map[string]any
			first := nextID
			for j := 0; j < 10; j++ {
				ids := byPart[nextID%2]
				dr, cr := ids[nextID%len(ids)], ids[(nextID+1)%len(ids)]
				ts = append(ts, map[string]any{"id": strconv.Itoa(nextID), "debit_account_id": strconv.Itoa(dr),
					"credit_account_id": strconv.Itoa(cr), "amount": strconv.Itoa(nextID%9 + 1), "ledger": 1, "code": 1})
				nextID++
			}
			deadline := time.Now().Add(60 * time.Second)
			for attempt := 0; ; attempt++ {
				code, body, err := postJSON(procs[(b+attempt)%len(procs)].http, "/v1/transfers", ts)
				if err == nil && code == 200 {
					var res []struct{ Status string }
					json.Unmarshal(body, &res)
					mu.Lock()
					for j, r := range res {
						if r.Status != "created" && r.Status != "exists" {
							mu.Unlock()
							done <- fmt.Errorf("transfer %d: %s", first+j, r.Status)
							return
						}
						acked[first+j] = (first+j)%9 + 1
					}
					mu.Unlock()
					break
				}
				if time.Now().After(deadline) {
					done <- fmt.Errorf("batch at %d not acknowledged: %d %s %v", first, code, body, err)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
			batches.Add(1)
		}
		done <- nil
	}()
	waitBatches := func(n int64) {
		deadline := time.Now().Add(90 * time.Second)
		for batches.Load() < n {
			select {
			case err := <-done:
				t.Fatalf("sender stopped early: %v", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("only %d batches acknowledged in time", batches.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitBatches(20)
	procs[0].kill() // SIGKILL the bootstrap node, the first leader, mid-stream
	waitBatches(40)
	procs[0].start(t, bin) // same flags: its data directory brings it back
	waitReady(t, procs[0])
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		checkNode(t, p, acked, nAccounts)
	}
}

// checkNode reads through one node (reads are linearizable, so a restarted
// node waits until it has caught up) and checks every acknowledged
// transfer and conservation.
func checkNode(t *testing.T, p *proc, acked map[int]int, nAccounts int) {
	t.Helper()
	var ids []string
	for id := range acked {
		ids = append(ids, strconv.Itoa(id))
	}
	code, body, err := postJSON(p.http, "/v1/transfers/lookup", map[string]any{"ids": ids})
	if err != nil || code != 200 {
		t.Fatalf("%s lookup: %d %v", p.name, code, err)
	}
	var found []struct{ ID, Amount string }
	json.Unmarshal(body, &found)
	if len(found) != len(acked) {
		t.Fatalf("%s has %d of %d acknowledged transfers", p.name, len(found), len(acked))
	}
	for _, f := range found {
		id, _ := strconv.Atoi(f.ID)
		if strconv.Itoa(acked[id]) != f.Amount {
			t.Fatalf("%s: transfer %s amount %s, want %d", p.name, f.ID, f.Amount, acked[id])
		}
	}
	var all []string
	for id := 1; id <= nAccounts; id++ {
		all = append(all, strconv.Itoa(id))
	}
	_, body, _ = postJSON(p.http, "/v1/accounts/lookup", map[string]any{"ids": all})
	var accts []struct {
		DebitsPosted  string `json:"debits_posted"`
		CreditsPosted string `json:"credits_posted"`
	}
	json.Unmarshal(body, &accts)
	var dr, cr, want uint64
	for _, a := range accts {
		d, _ := strconv.ParseUint(a.DebitsPosted, 10, 64)
		c, _ := strconv.ParseUint(a.CreditsPosted, 10, 64)
		dr, cr = dr+d, cr+c
	}
	for _, amount := range acked {
		want += uint64(amount)
	}
	// Every batch was acknowledged in the end (retries reuse the ids), so
	// the balances hold each acknowledged amount exactly once.
	if len(accts) != nAccounts || dr != cr || dr != want {
		t.Fatalf("%s: debits %d credits %d, acknowledged amounts %d", p.name, dr, cr, want)
	}
}
