package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestGatewayProcessOverSharedMemory runs conto serve (the data service)
// and conto gateway (the HTTP front) as two processes joined by shared-
// memory rings, kills the data service with SIGKILL mid-stream, restarts
// it, and checks that the front answered every request it could not serve
// with a 503 (never a hang, never a false success), reconnected, and that
// every acknowledged transfer is there.
func TestGatewayProcessOverSharedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds conto and starts processes")
	}
	bin := buildConto(t)
	base := t.TempDir()
	sock := filepath.Join(base, "engine.sock")
	engine := &proc{name: "engine", data: filepath.Join(base, "engine", "data"), http: freeAddr(t), raft: freeAddr(t)}
	os.MkdirAll(filepath.Dir(engine.data), 0o755)
	engine.args = []string{"--data", engine.data, "--http", engine.http, "--raft", engine.raft, "--engine-socket", sock}
	engine.start(t, bin)
	defer engine.stop()
	waitReady(t, engine)

	front := &proc{name: "front", data: filepath.Join(base, "front", "data"), http: freeAddr(t)}
	os.MkdirAll(filepath.Dir(front.data), 0o755)
	front.cmd = nil
	frontArgs := []string{"--engine", "unix:" + sock, "--http", front.http}
	startFront := func() {
		front.args = frontArgs
		front.cmd = exec.Command(bin, append([]string{"gateway"}, front.args...)...)
		logf, _ := os.Create(filepath.Join(base, "front.log"))
		front.cmd.Stdout, front.cmd.Stderr = logf, logf
		if err := front.cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	startFront()
	defer front.stop()
	waitReady(t, front) // /readyz is served by the engine through the front

	if code, body, err := postJSON(front.http, "/v1/accounts", []map[string]any{
		{"id": "1", "ledger": 1, "code": 1}, {"id": "2", "ledger": 1, "code": 1}}); err != nil || code != 200 {
		t.Fatalf("accounts through the front: %d %s %v", code, body, err)
	}
	acked := map[int]bool{}
	sendOne := func(id int) int {
		code, body, err := postJSON(front.http, "/v1/transfers", []map[string]any{{"id": strconv.Itoa(id),
			"debit_account_id": "1", "credit_account_id": "2", "amount": "1", "ledger": 1, "code": 1}})
		if err != nil {
			t.Fatalf("transfer %d: the front failed to answer: %v", id, err)
		}
		if code == 200 {
			var res []struct{ Status string }
			json.Unmarshal(body, &res)
			if len(res) != 1 || (res[0].Status != "created" && res[0].Status != "exists") {
				t.Fatalf("transfer %d: %s", id, body)
			}
			acked[id] = true
		} else if code != 503 {
			t.Fatalf("transfer %d: %d %s", id, code, body)
		}
		return code
	}
	for id := 100; id < 200; id++ {
		if sendOne(id) != 200 {
			t.Fatalf("transfer %d failed before any fault", id)
		}
	}
	engine.kill() // SIGKILL the data service
	saw503 := false
	for id := 200; id < 210; id++ {
		if sendOne(id) == 503 {
			saw503 = true
		}
	}
	if !saw503 {
		t.Fatal("the front did not report the missing data service")
	}
	engine.start(t, bin)
	waitReady(t, engine)
	deadline := time.Now().Add(30 * time.Second)
	for id := 200; id < 260; id++ { // retried ids answer exists if they had committed
		for sendOne(id) != 200 {
			if time.Now().After(deadline) {
				t.Fatalf("the front did not reconnect (transfer %d)", id)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var ids []string
	for id := range acked {
		ids = append(ids, strconv.Itoa(id))
	}
	code, body, _ := postJSON(front.http, "/v1/transfers/lookup", map[string]any{"ids": ids})
	var found []json.RawMessage
	json.Unmarshal(body, &found)
	if code != 200 || len(found) != len(acked) {
		t.Fatalf("%d of %d acknowledged transfers found (%d)", len(found), len(acked), code)
	}
	var a struct {
		CreditsPosted string `json:"credits_posted"`
	}
	r, _ := client.Get("http://" + front.http + "/v1/accounts/2")
	json.NewDecoder(r.Body).Decode(&a)
	r.Body.Close()
	if a.CreditsPosted != fmt.Sprint(len(acked)) {
		t.Fatalf("credits_posted %s, acknowledged transfers of 1: %d", a.CreditsPosted, len(acked))
	}
}
