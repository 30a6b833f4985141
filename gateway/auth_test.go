package gateway

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAPIKeys(t *testing.T) {
	dir := t.TempDir()
	key, err := NewAPIKey(dir, "frontend")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewAPIKey(dir, "batch")
	if fi, _ := os.Stat(filepath.Join(dir, KeysFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, KeysFile)); string(b) == "" || contains(string(b), key) {
		t.Fatal("the key file must hold hashes, never keys")
	}
	hashes, err := LoadKeyHashes(dir)
	if err != nil || len(hashes) != 2 {
		t.Fatalf("load: %d hashes, %v", len(hashes), err)
	}

	e := newEnv(t)
	client := &http.Client{Timeout: 10 * time.Second}
	base := startServer(t, Config{Engine: e.eng, Node: e.node, Logger: quiet, APIKeys: hashes}, client)
	get := func(path, auth string) int {
		req, _ := http.NewRequest("GET", base+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	cases := []struct {
		path, auth string
		want       int
	}{
		{"/v1/accounts/1", "", 401},
		{"/v1/accounts/1", "Bearer conto_wrong", 401},
		{"/v1/accounts/1", key, 401}, // no "Bearer "
		{"/v1/accounts/1", "Bearer " + key, 404},
		{"/v1/accounts/1", "Bearer " + other, 404},
		{"/metrics", "", 401},
		{"/metrics", "Bearer " + key, 200},
		{"/healthz", "", 200},
		{"/readyz", "", 200},
	}
	for _, c := range cases {
		if got := get(c.path, c.auth); got != c.want {
			t.Errorf("GET %s with %q: %d, want %d", c.path, c.auth, got, c.want)
		}
	}
	os.WriteFile(filepath.Join(dir, KeysFile), []byte("broken line here\n"), 0o600)
	if _, err := LoadKeyHashes(dir); err == nil {
		t.Fatal("a malformed key file loaded")
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
