package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/conto-ledger/conto/engine/valuesplit/smtptest"
	"github.com/conto-ledger/conto/engine/valuesplit/vaulthttp"
)

// The vault process test runs one center and two clusters as separate
// `conto vault` processes on 127.0.0.1 and drives them over HTTP and with
// the operator commands: register and acquire, a cross-cluster transfer, a
// rotation, and tampering with a block on the center's disk — found by
// conto vault check (exit 1, naming the block, an alert mailed to a test
// SMTP sink), undone by conto vault repair, after which every item still
// comes back byte for byte.

type vaultProc struct {
	name string
	args []string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *vaultProc) start(t *testing.T, bin string) {
	t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		cmd.Wait()
		f.Close()
		close(done)
	}(p.cmd, p.done)
}

// stop ends the process with SIGTERM (SIGKILL after 10 s).
func (p *vaultProc) stop() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

func (p *vaultProc) logText() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// waitHTTP polls url until it answers 200 (at most 30 s).
func waitHTTP(t *testing.T, p *vaultProc, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("%s exited; log:\n%s", p.name, p.logText())
		default:
		}
		if r, err := client.Get(url); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not ready at %s; log:\n%s", p.name, url, p.logText())
}

func vaultReq(t *testing.T, method, url, token string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if method == http.MethodPost && len(body) > 0 && body[0] == '{' {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func writeKey(t *testing.T, path string) string {
	t.Helper()
	s, err := vaulthttp.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVaultProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds conto and starts three servers")
	}
	bin := buildConto(t)
	began := time.Now()
	dir := t.TempDir()
	sink, err := smtptest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()

	centerAdmin := filepath.Join(dir, "center-admin.token")
	writeKey(t, centerAdmin)
	writeKey(t, filepath.Join(dir, "c1.key"))
	writeKey(t, filepath.Join(dir, "c2.key"))
	writeKey(t, filepath.Join(dir, "peer.key"))
	centerAddr := freeAddr(t)
	centerURL := "http://" + centerAddr
	center := &vaultProc{name: "center", log: filepath.Join(dir, "center.log"), args: []string{"vault", "center",
		"--data", filepath.Join(dir, "center"), "--listen", centerAddr,
		"--cluster-key", "c1=" + filepath.Join(dir, "c1.key"), "--cluster-key", "c2=" + filepath.Join(dir, "c2.key"),
		"--admin-token-file", centerAdmin, "--smtp", sink.Addr(), "--alert-to", "admin@example.com",
		"--rotate-every", "0", "--check-every", "1h"}}
	procs := []*vaultProc{center}
	t.Cleanup(func() {
		for _, p := range procs {
			p.stop()
		}
		if t.Failed() {
			for _, p := range procs {
				t.Logf("--- %s log:\n%s", p.name, p.logText())
			}
		}
	})
	center.start(t, bin)
	waitHTTP(t, center, centerURL+"/healthz")

	type clusterInfo struct {
		proc       *vaultProc
		url, admin string
	}
	clusters := map[string]*clusterInfo{}
	for _, name := range []string{"c1", "c2"} {
		addr := freeAddr(t)
		ci := &clusterInfo{url: "http://" + addr, admin: filepath.Join(dir, name+"-admin.token")}
		ci.proc = &vaultProc{name: name, log: filepath.Join(dir, name+".log"), args: []string{"vault", "cluster",
			"--data", filepath.Join(dir, name), "--center", centerURL, "--name", name,
			"--key-file", filepath.Join(dir, name+".key"), "--http", addr, "--admin-token-file", ci.admin,
			"--peer-key-file", filepath.Join(dir, "peer.key"), "--admin-email", "ops-" + name + "@example.com",
			"--sync-every", "1s"}}
		if name == "c2" { // the other way to cut heads: 17 bytes at a random offset
			ci.proc.args = append(ci.proc.args, "--head-size", "17", "--head-at", "random")
		}
		procs = append(procs, ci.proc)
		ci.proc.start(t, bin)
		clusters[name] = ci
	}
	for _, ci := range clusters {
		waitHTTP(t, ci.proc, ci.url+"/readyz")
	}
	c1, c2 := clusters["c1"], clusters["c2"]

	// Users: alice at c1, bob at c2 (the admin token file was created by
	// the cluster on first start).
	addUser := func(ci *clusterInfo, id string) string {
		tok, err := vaulthttp.ReadSecretFile(ci.admin)
		if err != nil {
			t.Fatal(err)
		}
		st, b := vaultReq(t, "POST", ci.url+"/v1/users", tok, []byte(fmt.Sprintf(`{"user_id":%q,"email":"%s@example.com"}`, id, id)))
		var res struct{ Token string }
		if st != http.StatusCreated || json.Unmarshal(b, &res) != nil || res.Token == "" {
			t.Fatalf("create %s: %d %s", id, st, b)
		}
		return res.Token
	}
	alice, bob := addUser(c1, "alice"), addUser(c2, "bob")

	// Register → acquire.
	type item struct {
		id    string
		data  []byte
		owner string
		at    *clusterInfo
	}
	var items []*item
	for i, n := range []int{20, 70_000, 1 << 20} {
		d := make([]byte, n)
		for j := range d {
			d[j] = byte(j*7 + i)
		}
		st, b := vaultReq(t, "POST", fmt.Sprintf("%s/v1/values?name=item-%d", c1.url, i), alice, d)
		var res struct {
			ID string `json:"value_id"`
		}
		if st != http.StatusCreated || json.Unmarshal(b, &res) != nil {
			t.Fatalf("register item %d: %d %s", i, st, b)
		}
		items = append(items, &item{id: res.ID, data: d, owner: alice, at: c1})
	}
	acquireAll := func(when string) {
		t.Helper()
		for _, it := range items {
			st, b := vaultReq(t, "GET", it.at.url+"/v1/values/"+it.id, it.owner, nil)
			if st != http.StatusOK || !bytes.Equal(b, it.data) {
				t.Fatalf("%s: acquire %s: %d, %d bytes (want %d)", when, it.id, st, len(b), len(it.data))
			}
		}
	}
	acquireAll("after registering")

	// Cross-cluster transfer: item 1 from alice at c1 to bob at c2.
	moved := items[1]
	st, b := vaultReq(t, "POST", c1.url+"/v1/values/"+moved.id+"/transfer", alice,
		[]byte(fmt.Sprintf(`{"to_user":"bob","to_cluster":%q}`, c2.url)))
	var tk struct {
		URL     string `json:"download_url"`
		Expires string `json:"expires_at"`
	}
	if st != http.StatusOK || json.Unmarshal(b, &tk) != nil || !strings.HasPrefix(tk.URL, c2.url+"/") || tk.Expires == "" {
		t.Fatalf("transfer: %d %s", st, b)
	}
	if st, b := vaultReq(t, "GET", tk.URL, bob, nil); st != http.StatusOK || !bytes.Equal(b, moved.data) {
		t.Fatalf("bob's download on c2: %d, %d bytes", st, len(b))
	}
	moved.owner, moved.at = bob, c2
	if st, _ := vaultReq(t, "GET", c1.url+"/v1/values/"+moved.id, alice, nil); st != http.StatusNotFound {
		t.Fatalf("alice after the transfer: %d, want 404", st)
	}
	acquireAll("after the transfer")

	// A thief copies c1's store (stopped for a consistent copy) before the
	// rotation.
	c1.proc.stop()
	stolen := filepath.Join(dir, "stolen-c1")
	copyTree(t, filepath.Join(dir, "c1"), stolen)
	c1.proc.start(t, bin)
	waitHTTP(t, c1.proc, c1.url+"/readyz")

	// Rotation by the operator command.
	if code, out := runConto(t, bin, "vault", "rotate", "--url", centerURL, "--admin-token-file", centerAdmin, "--timeout", "30s"); code != 0 || !strings.Contains(out, "to 2") {
		t.Fatalf("conto vault rotate: exit %d\n%s", code, out)
	}
	acquireAll("after rotation") // c1 re-keyed (and acknowledged) to serve these

	// The stolen copy, run as c1 with c1's own key: its handles are of the
	// old epoch and the center refuses it the old mapping, so it cannot
	// turn its bodies back into any item.
	thiefAddr := freeAddr(t)
	thief := &vaultProc{name: "thief", log: filepath.Join(dir, "thief.log"), args: []string{"vault", "cluster",
		"--data", stolen, "--center", centerURL, "--name", "c1", "--key-file", filepath.Join(dir, "c1.key"),
		"--http", thiefAddr, "--peer-key-file", filepath.Join(dir, "peer.key"), "--sync-every", "1s"}}
	thief.start(t, bin)
	select {
	case <-thief.done: // refused at start: the expected outcome
	case <-time.After(15 * time.Second):
		for _, it := range items {
			if st, b := vaultReq(t, "GET", "http://"+thiefAddr+"/v1/values/"+it.id, alice, nil); st == http.StatusOK || bytes.Equal(b, it.data) {
				t.Fatalf("the stolen pre-rotation store served item %s after the rotation", it.id)
			}
		}
		thief.stop()
	}
	if log, _ := os.ReadFile(thief.log); len(log) > 0 {
		t.Logf("the thief's cluster process said:\n%s", log)
	}
	acquireAll("after the thief tried")
	if code, out := runConto(t, bin, "vault", "check", "--url", centerURL, "--admin-token-file", centerAdmin, "--timeout", "30s"); code != 0 {
		t.Fatalf("conto vault check on a clean chain: exit %d\n%s", code, out)
	}

	// Tamper: stop the center, alter one byte of block 1 (item 0's
	// registration) on disk, restart it.
	center.stop()
	blocks := findFile(t, filepath.Join(dir, "center"), "blocks.dat")
	flip(t, blocks, 1*512+100)
	center.start(t, bin)
	waitHTTP(t, center, centerURL+"/healthz")
	code, out := runConto(t, bin, "vault", "check", "--url", centerURL, "--admin-token-file", centerAdmin, "--timeout", "30s")
	if code != 1 || !strings.Contains(out, "block 1") {
		t.Fatalf("conto vault check after tampering: exit %d, want 1 naming block 1\n%s", code, out)
	}
	t.Logf("conto vault check after tampering: exit %d\n%s", code, out)
	if msg := waitForMail(t, sink, "admin@example.com", "block 1", 20*time.Second); msg == "" {
		t.Fatalf("no alert naming block 1 reached admin@example.com; mail: %v", sink.Messages())
	}

	// Repair, check again, and every item is still there.
	code, out = runConto(t, bin, "vault", "repair", "--url", centerURL, "--admin-token-file", centerAdmin, "--timeout", "30s")
	if code != 0 {
		t.Fatalf("conto vault repair: exit %d\n%s", code, out)
	}
	t.Logf("conto vault repair:\n%s", out)
	if code, out := runConto(t, bin, "vault", "check", "--url", centerURL, "--admin-token-file", centerAdmin, "--timeout", "30s"); code != 0 {
		t.Fatalf("conto vault check after repair: exit %d\n%s", code, out)
	}
	acquireAll("after repair")
	if d := time.Since(began); d > 60*time.Second {
		t.Errorf("the vault process test took %v (budget 60s)", d)
	}
}

func findFile(t *testing.T, root, name string) string {
	t.Helper()
	var found string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == name {
			found = p
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no %s under %s", name, root)
	}
	return found
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// Bad flags: one line on stderr, exit 2.
func TestVaultFlags(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	writeKey(t, key)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	for _, args := range [][]string{
		{"vault"},
		{"vault", "frob"},
		{"vault", "center", "--bogus"},
		{"vault", "center", "--data", dir},
		{"vault", "center", "--data", dir, "--cluster-key", "c1"},
		{"vault", "center", "--data", dir, "--cluster-key", "c1=" + short},
		{"vault", "center", "--data", dir, "--cluster-key", "c1=" + filepath.Join(dir, "missing")},
		{"vault", "center", "--data", dir, "--cluster-key", "c1=" + key, "--rotate-every", "48h"},
		{"vault", "center", "--data", dir, "--cluster-key", "c1=" + key, "--smtp", "localhost:25"},
		{"vault", "center", "--data", dir, "--cluster-key", "c1=" + key, "--listen", "nowhere"},
		{"vault", "center", "--data", dir, "--cluster-key", "c1=" + key, "extra"},
		{"vault", "cluster", "--data", dir},
		{"vault", "cluster", "--center", "ftp://x", "--name", "c1", "--key-file", key},
		{"vault", "cluster", "--center", "http://127.0.0.1:1", "--name", "c 1", "--key-file", key},
		{"vault", "cluster", "--center", "http://127.0.0.1:1", "--name", "c1", "--key-file", key, "--peer-key-file", key},
		{"vault", "cluster", "--center", "http://127.0.0.1:1", "--name", "c1", "--key-file", key, "--head-size", "31"},
		{"vault", "cluster", "--center", "http://127.0.0.1:1", "--name", "c1", "--key-file", key, "--head-size", "0"},
		{"vault", "cluster", "--center", "http://127.0.0.1:1", "--name", "c1", "--key-file", key, "--head-at", "end"},
		{"vault", "disable", "--url", "http://127.0.0.1:1", "--admin-token-file", key},
		{"vault", "enable", "--url", "http://127.0.0.1:1", "--admin-token-file", key, "--user", "a", "--cluster", "c"},
		{"vault", "rotate"},
		{"vault", "check", "--url", "http://127.0.0.1:1"},
		{"vault", "repair", "--url", "http://127.0.0.1:1", "--admin-token-file", filepath.Join(dir, "missing")},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, errOut.String())
			continue
		}
		if len(args) > 1 && strings.Count(strings.TrimRight(errOut.String(), "\n"), "\n") != 0 {
			t.Errorf("%v: stderr is not one line: %q", args, errOut.String())
		}
	}
	var out bytes.Buffer
	if code := run([]string{"vault", "center", "-h"}, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "--rotate-every") && !strings.Contains(out.String(), "-rotate-every") {
		t.Errorf("vault center -h: exit %d\n%s", code, out.String())
	}
	// An unreachable center: exit 1, not 2.
	var errOut bytes.Buffer
	if code := run([]string{"vault", "check", "--url", "http://127.0.0.1:1", "--admin-token-file", key, "--timeout", "3s"}, io.Discard, &errOut); code != 1 {
		t.Errorf("unreachable center: exit %d, want 1 (%s)", code, errOut.String())
	}
}

// waitForMail waits until a message to addr containing text arrives.
func waitForMail(t *testing.T, sink *smtptest.Sink, addr, text string, d time.Duration) string {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, m := range sink.To(addr) {
			if strings.Contains(m.Data, text) {
				return m.Data
			}
		}
	}
	return ""
}

// copyTree copies a directory tree (regular files only).
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", from, err)
	}
}
