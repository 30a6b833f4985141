package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conto-ledger/conto/gateway"
)

func TestParseServe(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "conto.json")
	os.WriteFile(cfgFile, []byte(`{"data":"/from/file","partitions":4,"batch_window":2000000}`), 0o644)
	withKey := filepath.Join(dir, "with-key")
	if _, err := gateway.NewAPIKey(withKey, "k"); err != nil {
		t.Fatal(err)
	}
	chainCfg := filepath.Join(dir, "chain.json")
	os.WriteFile(chainCfg, []byte(`{"chain_alg":"blake2b-256","checkpoint_every":7,"chain_view":"private","handoff":"direct","vault_rotate_every":3600000000000}`), 0o644)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"partitons":4}`), 0o644)
	cases := []struct {
		args []string
		err  string
		want func(serveConfig) bool
	}{
		{nil, "", func(c serveConfig) bool {
			return c.Data == "./conto-data" && c.HTTP == "127.0.0.1:7070" && c.Partitions == 1 && c.BatchEvents == 8189
		}},
		{[]string{"--config", cfgFile, "--partitions", "2"}, "", func(c serveConfig) bool {
			return c.Data == "/from/file" && c.Partitions == 2 && c.BatchWindow == 2*time.Millisecond
		}},
		{[]string{"--config", chainCfg}, "", func(c serveConfig) bool {
			return c.ChainAlg == "blake2b-256" && c.CheckpointEvery == 7 && c.ChainView == "private" && c.Handoff == "direct" &&
				c.VaultRotateEvery == time.Hour && c.Vault
		}},
		{[]string{"--chain-alg", "md5"}, "chain-alg", nil},
		{[]string{"--chain-view", "secret"}, "chain-view", nil},
		{[]string{"--handoff", "pigeon"}, "handoff", nil},
		{[]string{"--vault-rotate-every", "48h"}, "vault-rotate-every", nil},
		{[]string{"--http", "0.0.0.0:7070"}, "without authentication", nil},
		{[]string{"--http", "0.0.0.0:7070", "--insecure"}, "", func(c serveConfig) bool { return c.Insecure }},
		{[]string{"--http", "0.0.0.0:7070", "--data", withKey}, "", func(c serveConfig) bool { return !c.Insecure }},
		{[]string{"--http", "[::1]:7070"}, "", func(c serveConfig) bool { return true }},
		{[]string{"--partitions", "300"}, "partitions", nil},
		{[]string{"--batch-events", "9000"}, "batch-events", nil},
		{[]string{"--raft", "nope"}, "--raft", nil},
		{[]string{"--config", bad}, "unknown field", nil},
		{[]string{"extra"}, "unexpected argument", nil},
	}
	for _, c := range cases {
		got, err := parseServe(c.args, io.Discard)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%v: err %v, want one containing %q", c.args, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%v: %v", c.args, err)
		case c.want != nil && err == nil && !c.want(got):
			t.Errorf("%v: config %+v", c.args, got)
		}
	}
}
