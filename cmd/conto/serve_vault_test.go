package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	vs "github.com/conto-ledger/conto/engine/valuesplit"
	contoclient "github.com/conto-ledger/conto/gateway/client"
)

// conto serve runs the split-storage module in its own process by default
// (SPEC §7): the cluster API on the node's HTTP port, the center beside it
// with the engine's ledger as its account book.
func TestServeRunsTheVault(t *testing.T) {
	if testing.Short() {
		t.Skip("builds conto and starts a server")
	}
	bin := buildConto(t)
	base := t.TempDir()
	p := &proc{name: "n0", data: filepath.Join(base, "data"), http: freeAddr(t), raft: freeAddr(t)}
	p.args = []string{"--data", p.data, "--http", p.http, "--raft", p.raft}
	p.start(t, bin)
	defer p.kill()
	waitReady(t, p)
	var admin string
	for deadline := time.Now().Add(10 * time.Second); admin == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		out, _ := os.ReadFile(filepath.Join(base, "n0.log"))
		if m := regexp.MustCompile(`vault admin token \(shown once[^)]*\): (\S+)`).FindSubmatch(out); m != nil {
			admin = string(m[1])
		}
	}
	if admin == "" {
		t.Fatal("no vault admin token printed on first start")
	}
	do := func(method, path, token string, body []byte) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+p.http+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, body := do("POST", "/v1/users", admin, []byte(`{"user_id":"alice","email":"alice@example.com"}`))
	var user struct{ Token string }
	if code != 201 || json.Unmarshal(body, &user) != nil || user.Token == "" {
		t.Fatalf("POST /v1/users: %d %s", code, body)
	}
	item := bytes.Repeat([]byte("valuable "), 5000)
	code, body = do("POST", "/v1/values?name=note", user.Token, item)
	var reg struct {
		ValueID string `json:"value_id"`
	}
	if code != 201 || json.Unmarshal(body, &reg) != nil || reg.ValueID == "" {
		t.Fatalf("POST /v1/values: %d %s", code, body)
	}
	get := func() {
		t.Helper()
		if code, got := do("GET", "/v1/values/"+reg.ValueID, user.Token, nil); code != 200 || !bytes.Equal(got, item) {
			t.Fatalf("GET /v1/values/%s: %d, %d bytes (want %d identical)", reg.ValueID, code, len(got), len(item))
		}
	}
	get()
	tokenFile := filepath.Join(base, "admin.token")
	os.WriteFile(tokenFile, []byte(admin+"\n"), 0o600)
	for _, cmd := range []string{"rotate", "check"} {
		if code, out := runConto(t, bin, "vault", cmd, "--url", "http://"+p.http, "--admin-token-file", tokenFile); code != 0 {
			t.Fatalf("conto vault %s: exit %d\n%s", cmd, code, out)
		}
	}
	get()
	// The valid flag (Figs. 17A/B): a disabled user can no longer acquire.
	if code, out := runConto(t, bin, "vault", "disable", "--url", "http://"+p.http, "--admin-token-file", tokenFile, "--user", "alice"); code != 0 {
		t.Fatalf("conto vault disable: exit %d\n%s", code, out)
	}
	if code, _ := do("GET", "/v1/values/"+reg.ValueID, user.Token, nil); code != 403 {
		t.Fatalf("a disabled user acquired: %d, want 403", code)
	}
	if code, out := runConto(t, bin, "vault", "enable", "--url", "http://"+p.http, "--admin-token-file", tokenFile, "--user", "alice"); code != 0 {
		t.Fatalf("conto vault enable: exit %d\n%s", code, out)
	}
	get()
	// The registration is in the engine's ledger, the independent account book.
	if code, body := do("GET", "/v1/kv/"+fmt.Sprintf("vault%%2Fbook%%2F%016x", 0), "", nil); code != 200 {
		t.Fatalf("the account book's first entry in the ledger: %d %s", code, body)
	}
	// conto vault center --ledger keeps its book through the same API.
	mk, _ := vs.NewMasterKey(nil)
	book, err := vs.NewLedgerBook(clientKV{contoclient.New("http://" + p.http)}, "vault/other-center", mk)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := book.Record(context.Background(), vs.BookEntry{Index: uint64(i), Name: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	if err := book.Entries(context.Background(), func(e vs.BookEntry) error {
		if e.Index != uint64(n) {
			return fmt.Errorf("entry %d has index %d", n, e.Index)
		}
		n++
		return nil
	}); err != nil || n != 3 {
		t.Fatalf("the book over HTTP: %d entries, %v", n, err)
	}
	// The vault's metrics are beside the ledger's.
	for path, want := range map[string]string{"/vault/metrics": "conto_vault", "/vault/center/metrics": "conto_vault_rotations_total"} {
		if code, body := do("GET", path, "", nil); code != 200 || !bytes.Contains(body, []byte(want)) {
			t.Fatalf("GET %s: %d, %d bytes without %q", path, code, len(body), want)
		}
	}
	// The ledger's API is unchanged beside it.
	if code, body, err := postJSON(p.http, "/v1/accounts", []map[string]any{{"id": "1", "ledger": 1, "code": 1}}); err != nil || code != 200 {
		t.Fatalf("accounts: %d %s %v", code, body, err)
	}
}
