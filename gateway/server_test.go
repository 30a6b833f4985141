package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/conto-ledger/conto/engine"
	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/transactor"
	"github.com/conto-ledger/conto/transactor/transactortest"
)

// End-to-end tests of the HTTP API (SPEC §3-§4): a real single node with two
// partitions, the gateway on a real 127.0.0.1 socket, and net/http as the
// client.

const (
	maxU64       = "18446744073709551615"                    // 2^64-1
	maxU128      = "340282366920938463463374607431768211455" // 2^128-1
	maxU128Minus = "340282366920938463463374607431768211454" // 2^128-2
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// env is a running node and a gateway in front of it.
type env struct {
	node   *transactor.Node
	eng    *engine.Engine
	base   string
	client *http.Client
	nextID uint64
}

// openNode starts a real single node with n partitions and waits until every
// partition leads.
func openNode(t *testing.T, n int) *transactor.Node {
	t.Helper()
	return transactortest.StartNode(t, n)
}

// startServer serves cfg on a fresh 127.0.0.1 port until the test ends and
// returns its base URL.
func startServer(t *testing.T, cfg Config, client *http.Client) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(cfg)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Shutdown")
		}
	})
	return "http://" + ln.Addr().String()
}

func newEnv(t *testing.T) *env {
	t.Helper()
	node := openNode(t, 2)
	e := &env{node: node, eng: engine.New(node), client: &http.Client{Timeout: 10 * time.Second}, nextID: 1000}
	e.base = startServer(t, Config{Engine: e.eng, Node: node, Logger: quiet}, e.client)
	return e
}

// ids returns k ids never used before in this env, all on partition p.
func (e *env) ids(p, k int) []uint64 {
	var out []uint64
	for len(out) < k {
		e.nextID++
		if e.node.Map().OfID(e.nextID, 0) == p {
			out = append(out, e.nextID)
		}
	}
	return out
}

func (e *env) id(p int) uint64 { return e.ids(p, 1)[0] }

// keyOn returns a key with the prefix that lives on partition p.
func (e *env) keyOn(p int, prefix string) string {
	for i := 0; ; i++ {
		k := fmt.Sprintf("%s-%d", prefix, i)
		if e.node.Map().OfKey([]byte(k)) == p {
			return k
		}
	}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) do(t *testing.T, method, url, ctype string, body io.Reader, hdr map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *env) get(t *testing.T, path string) reply {
	t.Helper()
	return e.do(t, "GET", e.base+path, "", nil, nil)
}

func (e *env) post(t *testing.T, path, ctype string, body []byte) reply {
	t.Helper()
	return e.do(t, "POST", e.base+path, ctype, bytes.NewReader(body), nil)
}

func (e *env) postJSON(t *testing.T, path, body string) reply {
	t.Helper()
	return e.post(t, path, "application/json", []byte(body))
}

// canon decodes JSON for comparison, keeping numbers exact.
func canon(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return v
}

// decodeExact decodes body into v and checks that body has exactly v's
// fields, with v's JSON types (no field missing, extra or differently cased).
func decodeExact(t *testing.T, body []byte, v any) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		t.Fatalf("decode %s into %T: %v", body, v, err)
	}
	re, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(canon(t, body), canon(t, re)) {
		t.Fatalf("body %s has not exactly the fields of %T (%s)", body, v, re)
	}
}

func wantJSONType(t *testing.T, r reply) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want application/json (body %s)", ct, r.body)
	}
}

// wantJSON checks a 200-class answer against a JSON value written out.
func wantJSON(t *testing.T, r reply, status int, want string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	wantJSONType(t, r)
	if !reflect.DeepEqual(canon(t, r.body), canon(t, []byte(want))) {
		t.Fatalf("body\n%s\nwant\n%s", r.body, want)
	}
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// wantError checks SPEC §3's error shape.
func wantError(t *testing.T, r reply, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d (%s): %s", r.status, status, code, r.body)
	}
	wantJSONType(t, r)
	var v struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	decodeExact(t, r.body, &v)
	if v.Error.Code != code || v.Error.Message == "" || !snakeCase.MatchString(v.Error.Code) {
		t.Fatalf("error %+v, want code %q and a message", v.Error, code)
	}
}

type resultWire struct {
	Status    string `json:"status"`
	Timestamp string `json:"timestamp"`
}

type accountWire struct {
	ID             string   `json:"id"`
	DebitsPending  string   `json:"debits_pending"`
	DebitsPosted   string   `json:"debits_posted"`
	CreditsPending string   `json:"credits_pending"`
	CreditsPosted  string   `json:"credits_posted"`
	UserData128    string   `json:"user_data_128"`
	UserData64     string   `json:"user_data_64"`
	UserData32     uint32   `json:"user_data_32"`
	Ledger         uint32   `json:"ledger"`
	Code           uint16   `json:"code"`
	Flags          []string `json:"flags"`
	Timestamp      string   `json:"timestamp"`
	Version        string   `json:"version"`
}

type transferWire struct {
	ID              string   `json:"id"`
	DebitAccountID  string   `json:"debit_account_id"`
	CreditAccountID string   `json:"credit_account_id"`
	Amount          string   `json:"amount"`
	PendingID       string   `json:"pending_id"`
	UserData128     string   `json:"user_data_128"`
	UserData64      string   `json:"user_data_64"`
	UserData32      uint32   `json:"user_data_32"`
	Timeout         uint32   `json:"timeout"`
	Ledger          uint32   `json:"ledger"`
	Code            uint16   `json:"code"`
	Flags           []string `json:"flags"`
	Timestamp       string   `json:"timestamp"`
}

type balanceWire struct {
	Timestamp      string `json:"timestamp"`
	DebitsPending  string `json:"debits_pending"`
	DebitsPosted   string `json:"debits_posted"`
	CreditsPending string `json:"credits_pending"`
	CreditsPosted  string `json:"credits_posted"`
}

var decimal = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)

func u64Of(t *testing.T, s string) uint64 {
	t.Helper()
	if !decimal.MatchString(s) {
		t.Fatalf("%q is not a decimal string", s)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return v
}

// wantResults checks a JSON create answer: one result per event, in order,
// with these statuses. Created and exists carry a timestamp, the rest 0.
func wantResults(t *testing.T, r reply, statuses ...string) []resultWire {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d, want 200: %s", r.status, r.body)
	}
	wantJSONType(t, r)
	var rs []resultWire
	decodeExact(t, r.body, &rs)
	if len(rs) != len(statuses) {
		t.Fatalf("%d results, want %d: %s", len(rs), len(statuses), r.body)
	}
	for i, res := range rs {
		ts := u64Of(t, res.Timestamp)
		if res.Status != statuses[i] {
			t.Fatalf("result %d: status %q, want %q (all: %s)", i, res.Status, statuses[i], r.body)
		}
		if (res.Status == "created" || res.Status == "exists") != (ts != 0) {
			t.Fatalf("result %d: %s with timestamp %s", i, res.Status, res.Timestamp)
		}
	}
	return rs
}

func (e *env) account(t *testing.T, id uint64, query string) accountWire {
	t.Helper()
	r := e.get(t, fmt.Sprintf("/v1/accounts/%d%s", id, query))
	if r.status != 200 {
		t.Fatalf("GET account %d%s: status %d: %s", id, query, r.status, r.body)
	}
	wantJSONType(t, r)
	var a accountWire
	decodeExact(t, r.body, &a)
	u64Of(t, a.Version)
	return a
}

func (e *env) transfer(t *testing.T, id uint64) transferWire {
	t.Helper()
	r := e.get(t, fmt.Sprintf("/v1/transfers/%d", id))
	if r.status != 200 {
		t.Fatalf("GET transfer %d: status %d: %s", id, r.status, r.body)
	}
	wantJSONType(t, r)
	var tr transferWire
	decodeExact(t, r.body, &tr)
	return tr
}

func (e *env) wantNoAccount(t *testing.T, ids ...uint64) {
	t.Helper()
	for _, id := range ids {
		wantError(t, e.get(t, fmt.Sprintf("/v1/accounts/%d", id)), 404, "not_found")
	}
}

func (e *env) wantNoTransfer(t *testing.T, ids ...uint64) {
	t.Helper()
	for _, id := range ids {
		wantError(t, e.get(t, fmt.Sprintf("/v1/transfers/%d", id)), 404, "not_found")
	}
}

func (e *env) wantNoKey(t *testing.T, key string) {
	t.Helper()
	wantError(t, e.get(t, "/v1/kv/"+key), 404, "not_found")
}

// createAccounts creates plain accounts (ledger 1, code 1) and checks that
// they are created.
func (e *env) createAccounts(t *testing.T, flags string, ids ...uint64) []resultWire {
	t.Helper()
	var parts []string
	st := make([]string, len(ids))
	for i, id := range ids {
		parts = append(parts, fmt.Sprintf(`{"id":"%d","ledger":1,"code":1,"flags":%s}`, id, flags))
		st[i] = "created"
	}
	return wantResults(t, e.postJSON(t, "/v1/accounts", "["+strings.Join(parts, ",")+"]"), st...)
}

func account1(id uint64) string { return fmt.Sprintf(`{"id":"%d","ledger":1,"code":1}`, id) }

func transfer1(id, dr, cr, amount uint64) string {
	return fmt.Sprintf(`{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","amount":"%d","ledger":1,"code":1}`,
		id, dr, cr, amount)
}

func jsonArray(n int, item func(i int) string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(item(i))
	}
	b.WriteByte(']')
	return b.String()
}

func encodeAccounts(as []ledger.Account) []byte {
	b := make([]byte, len(as)*ledger.RecordSize)
	for i := range as {
		ledger.EncodeAccount(b[i*ledger.RecordSize:], &as[i])
	}
	return b
}

func encodeTransfers(ts []ledger.Transfer) []byte {
	b := make([]byte, len(ts)*ledger.RecordSize)
	for i := range ts {
		ledger.EncodeTransfer(b[i*ledger.RecordSize:], &ts[i])
	}
	return b
}

const octet = "application/octet-stream"

// wantBinaryResults decodes a binary create answer and checks its statuses.
func wantBinaryResults(t *testing.T, r reply, statuses ...uint32) []ledger.Result {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d, want 200: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != octet {
		t.Fatalf("Content-Type %q, want %s", ct, octet)
	}
	if len(r.body) != len(statuses)*ledger.ResultSize {
		t.Fatalf("answer of %d bytes, want %d×%d", len(r.body), len(statuses), ledger.ResultSize)
	}
	rs, err := ledger.DecodeResults(r.body)
	if err != nil {
		t.Fatal(err)
	}
	for i, res := range rs {
		if res.Status != statuses[i] {
			t.Fatalf("result %d: status %d, want %d", i, res.Status, statuses[i])
		}
		if res.Status == 0 && res.Timestamp == 0 {
			t.Fatalf("result %d: created with timestamp 0", i)
		}
	}
	return rs
}

func rfc3339(ns uint64) string { return time.Unix(0, int64(ns)).UTC().Format(time.RFC3339Nano) }

func TestGateway(t *testing.T) {
	e := newEnv(t)

	t.Run("health", func(t *testing.T) {
		wantJSON(t, e.get(t, "/healthz"), 200, `{"status":"ok"}`)
		wantJSON(t, e.get(t, "/readyz"), 200, `{"status":"ready"}`)
		wantError(t, e.get(t, "/v1/nothing"), 404, "not_found")
		wantError(t, e.get(t, "/nothing"), 404, "not_found")
		wantError(t, e.do(t, "DELETE", e.base+"/v1/accounts/1", "", nil, nil), 404, "not_found")
	})

	t.Run("request_id", func(t *testing.T) {
		r := e.do(t, "GET", e.base+"/healthz", "", nil, map[string]string{"X-Request-Id": "req-42.abc"})
		if got := r.header.Get("X-Request-Id"); got != "req-42.abc" {
			t.Fatalf("X-Request-Id %q, want it echoed", got)
		}
		// Echoed on errors too.
		r = e.do(t, "POST", e.base+"/v1/accounts", "application/json", strings.NewReader("{"),
			map[string]string{"X-Request-Id": "bad-1"})
		wantError(t, r, 400, "malformed_json")
		if got := r.header.Get("X-Request-Id"); got != "bad-1" {
			t.Fatalf("X-Request-Id %q on an error, want it echoed", got)
		}
		a, b := e.get(t, "/healthz").header.Get("X-Request-Id"), e.get(t, "/readyz").header.Get("X-Request-Id")
		if a == "" || b == "" || a == b {
			t.Fatalf("generated X-Request-Ids %q and %q, want two distinct non-empty ids", a, b)
		}
	})

	t.Run("accounts_json", func(t *testing.T) {
		ab := e.ids(0, 2)
		a, b, c := ab[0], ab[1], e.id(1)
		body := fmt.Sprintf(`[
			{"id":"%d","user_data_128":"%s","user_data_64":"%s","user_data_32":4294967295,"ledger":7,"code":3,
			 "flags":["history","debits_must_not_exceed_credits"]},
			{"id":"%d","ledger":7,"code":3},
			{"id":"%d","ledger":8,"code":65535,"flags":[]},
			{"id":"0","ledger":1,"code":1},
			{"id":"%d","user_data_128":"%s","user_data_64":"%s","user_data_32":4294967295,"ledger":7,"code":3,
			 "flags":["debits_must_not_exceed_credits","history"]},
			{"id":"%d","ledger":7,"code":4},
			{"id":"%s","ledger":1,"code":1},
			{"id":"%d","ledger":0,"code":1}
		]`, a, maxU128, maxU64, b, c, a, maxU128, maxU64, b, maxU128, e.id(0))
		rs := wantResults(t, e.postJSON(t, "/v1/accounts", body), "created", "created", "created",
			"id_must_not_be_zero", "exists", "exists_with_different_code", "id_must_not_be_int_max", "ledger_must_not_be_zero")
		if u64Of(t, rs[1].Timestamp) <= u64Of(t, rs[0].Timestamp) {
			t.Fatalf("timestamps of one partition not increasing: %v", rs)
		}
		if rs[4].Timestamp != rs[0].Timestamp {
			t.Fatalf("exists answered timestamp %s, want the existing account's %s", rs[4].Timestamp, rs[0].Timestamp)
		}
		got := e.account(t, a, "")
		want := accountWire{ID: strconv.FormatUint(a, 10), DebitsPending: "0", DebitsPosted: "0", CreditsPending: "0",
			CreditsPosted: "0", UserData128: maxU128, UserData64: maxU64, UserData32: 4294967295, Ledger: 7, Code: 3,
			Flags: []string{"debits_must_not_exceed_credits", "history"}, Timestamp: rs[0].Timestamp, Version: got.Version}
		if !reflect.DeepEqual(got, want) || got.Version == "0" {
			t.Fatalf("account\n%+v\nwant\n%+v", got, want)
		}
		got = e.account(t, c, "")
		want = accountWire{ID: strconv.FormatUint(c, 10), DebitsPending: "0", DebitsPosted: "0", CreditsPending: "0",
			CreditsPosted: "0", UserData128: "0", UserData64: "0", Ledger: 8, Code: 65535, Flags: []string{},
			Timestamp: rs[2].Timestamp, Version: got.Version}
		if !reflect.DeepEqual(got, want) || got.Version == "0" {
			t.Fatalf("account\n%+v\nwant\n%+v", got, want)
		}
		if got := e.account(t, b, ""); got.Code != 3 || got.Timestamp != rs[1].Timestamp {
			t.Fatalf("account b %+v", got)
		}
		e.wantNoAccount(t, e.id(0))
		// Also answered as JSON with a charset parameter and without a
		// Content-Type at all.
		d := e.id(0)
		wantResults(t, e.post(t, "/v1/accounts", "application/json; charset=utf-8", []byte("["+account1(d)+"]")), "created")
		wantResults(t, e.post(t, "/v1/accounts", "", []byte("["+account1(d)+"]")), "exists")
	})

	t.Run("transfers_json", func(t *testing.T) {
		acc := e.ids(1, 2)
		d, c := acc[0], acc[1]
		wantResults(t, e.postJSON(t, "/v1/accounts", fmt.Sprintf(
			`[{"id":"%d","ledger":7,"code":1},{"id":"%d","ledger":7,"code":1}]`, d, c)), "created", "created")
		tid := e.ids(1, 8)
		other := e.id(0)
		missing := e.id(1)
		body := fmt.Sprintf(`[
			{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","amount":"100","user_data_128":"%s",
			 "user_data_64":"%s","user_data_32":7,"ledger":7,"code":9},
			{"id":%d,"debit_account_id":%d,"credit_account_id":%d,"amount":30,"ledger":7,"code":9,"flags":0},
			{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","amount":"50","timeout":3600,"ledger":7,"code":9,
			 "flags":["pending"]},
			{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","amount":"1","ledger":9,"code":9},
			{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","amount":"1","ledger":7,"code":9},
			{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","amount":"1","ledger":7,"code":9},
			{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","amount":"100","user_data_128":"%s",
			 "user_data_64":"%s","user_data_32":7,"ledger":7,"code":9}
		]`, tid[0], d, c, maxU128, maxU64,
			tid[1], c, d,
			tid[2], d, c,
			tid[3], d, c,
			tid[4], d, missing,
			tid[5], d, other,
			tid[0], d, c, maxU128, maxU64)
		rs := wantResults(t, e.postJSON(t, "/v1/transfers", body), "created", "created", "created",
			"transfer_must_have_the_same_ledger_as_accounts", "credit_account_not_found", "accounts_in_different_partitions", "exists")
		if rs[6].Timestamp != rs[0].Timestamp {
			t.Fatalf("exists answered timestamp %s, want %s", rs[6].Timestamp, rs[0].Timestamp)
		}
		// A transient failure marks the id for ever.
		wantResults(t, e.postJSON(t, "/v1/transfers", "["+fmt.Sprintf(
			`{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","amount":"1","ledger":7,"code":9}`,
			tid[4], d, c)+"]"), "id_already_failed")
		// Post the pending transfer in full, leaving accounts, ledger and
		// code to the pending transfer.
		post := wantResults(t, e.postJSON(t, "/v1/transfers", fmt.Sprintf(
			`[{"id":"%d","pending_id":"%d","amount":"%s","flags":["post_pending_transfer"]}]`, tid[6], tid[2], maxU64)), "created")

		got := e.transfer(t, tid[0])
		want := transferWire{ID: strconv.FormatUint(tid[0], 10), DebitAccountID: strconv.FormatUint(d, 10),
			CreditAccountID: strconv.FormatUint(c, 10), Amount: "100", PendingID: "0", UserData128: maxU128, UserData64: maxU64,
			UserData32: 7, Ledger: 7, Code: 9, Flags: []string{}, Timestamp: rs[0].Timestamp}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("transfer\n%+v\nwant\n%+v", got, want)
		}
		got = e.transfer(t, tid[2])
		want = transferWire{ID: strconv.FormatUint(tid[2], 10), DebitAccountID: strconv.FormatUint(d, 10),
			CreditAccountID: strconv.FormatUint(c, 10), Amount: "50", PendingID: "0", UserData128: "0", UserData64: "0",
			Timeout: 3600, Ledger: 7, Code: 9, Flags: []string{"pending"}, Timestamp: rs[2].Timestamp}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("pending transfer\n%+v\nwant\n%+v", got, want)
		}
		got = e.transfer(t, tid[6])
		want = transferWire{ID: strconv.FormatUint(tid[6], 10), DebitAccountID: strconv.FormatUint(d, 10),
			CreditAccountID: strconv.FormatUint(c, 10), Amount: "50", PendingID: strconv.FormatUint(tid[2], 10),
			UserData128: "0", UserData64: "0", Ledger: 7, Code: 9, Flags: []string{"post_pending_transfer"},
			Timestamp: post[0].Timestamp}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("post\n%+v\nwant\n%+v", got, want)
		}
		e.wantNoTransfer(t, tid[3], tid[4], tid[5], tid[7])

		ad, ac := e.account(t, d, ""), e.account(t, c, "")
		if ad.DebitsPosted != "150" || ad.CreditsPosted != "30" || ad.DebitsPending != "0" || ad.CreditsPending != "0" ||
			ac.CreditsPosted != "150" || ac.DebitsPosted != "30" || ac.DebitsPending != "0" || ac.CreditsPending != "0" {
			t.Fatalf("balances after the transfers: %+v %+v", ad, ac)
		}
	})

	t.Run("binary", func(t *testing.T) {
		a0, a1 := e.ids(0, 2), e.ids(1, 1)
		accts := []ledger.Account{
			{ID: ledger.U128(a0[0]), UserData64: 5, Ledger: 2, Code: 2, Flags: ledger.AccountHistory},
			{ID: ledger.U128(a0[1]), Ledger: 2, Code: 2},
			{ID: ledger.U128(a1[0]), UserData128: ledger.MaxUint128, Ledger: 2, Code: 2},
			{ID: ledger.U128(a0[0]), UserData64: 5, Ledger: 2, Code: 2, Flags: ledger.AccountHistory},
			{ID: ledger.U128(e.id(0)), Ledger: 2, Code: 2, Reserved: 1},
			{ID: ledger.U128(e.id(0)), Ledger: 2, Code: 2, Version: 3},
		}
		rs := wantBinaryResults(t, e.post(t, "/v1/accounts", octet, encodeAccounts(accts)),
			uint32(ledger.AccountCreated), uint32(ledger.AccountCreated), uint32(ledger.AccountCreated),
			uint32(ledger.AccountExists), uint32(ledger.AccountReservedField), uint32(ledger.AccountReservedField))
		if rs[0].Timestamp == 0 || rs[1].Timestamp <= rs[0].Timestamp || rs[2].Timestamp == 0 || rs[3].Timestamp != rs[0].Timestamp ||
			rs[4].Timestamp != 0 {
			t.Fatalf("binary results %+v", rs)
		}
		got := e.account(t, a0[0], "")
		want := accountWire{ID: strconv.FormatUint(a0[0], 10), DebitsPending: "0", DebitsPosted: "0", CreditsPending: "0",
			CreditsPosted: "0", UserData128: "0", UserData64: "5", Ledger: 2, Code: 2, Flags: []string{"history"},
			Timestamp: strconv.FormatUint(rs[0].Timestamp, 10), Version: got.Version}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("account\n%+v\nwant\n%+v", got, want)
		}
		if got := e.account(t, a1[0], ""); got.UserData128 != maxU128 {
			t.Fatalf("account %+v", got)
		}
		e.wantNoAccount(t, uint64(accts[4].ID.Lo), uint64(accts[5].ID.Lo))

		tid := e.ids(0, 3)
		ts := []ledger.Transfer{
			{ID: ledger.U128(tid[0]), DebitAccountID: ledger.U128(a0[1]), CreditAccountID: ledger.U128(a0[0]), Amount: 12,
				UserData32: 9, Ledger: 2, Code: 4},
			{ID: ledger.U128(tid[1]), DebitAccountID: ledger.U128(a0[0]), CreditAccountID: ledger.U128(a0[0]), Amount: 1, Ledger: 2, Code: 4},
			{ID: ledger.U128(tid[2]), DebitAccountID: ledger.U128(a0[0]), CreditAccountID: ledger.U128(a0[1]), Amount: 2, Ledger: 2, Code: 4,
				Flags: ledger.TransferPending},
			{ID: ledger.U128(tid[0]), DebitAccountID: ledger.U128(a0[1]), CreditAccountID: ledger.U128(a0[0]), Amount: 13,
				UserData32: 9, Ledger: 2, Code: 4},
		}
		trs := wantBinaryResults(t, e.post(t, "/v1/transfers", octet, encodeTransfers(ts)),
			uint32(ledger.TransferCreated), uint32(ledger.TransferAccountsMustBeDifferent), uint32(ledger.TransferCreated),
			uint32(ledger.TransferExistsWithDifferentAmount))
		gt := e.transfer(t, tid[0])
		wantT := transferWire{ID: strconv.FormatUint(tid[0], 10), DebitAccountID: strconv.FormatUint(a0[1], 10),
			CreditAccountID: strconv.FormatUint(a0[0], 10), Amount: "12", PendingID: "0", UserData128: "0", UserData64: "0",
			UserData32: 9, Ledger: 2, Code: 4, Flags: []string{}, Timestamp: strconv.FormatUint(trs[0].Timestamp, 10)}
		if !reflect.DeepEqual(gt, wantT) {
			t.Fatalf("transfer\n%+v\nwant\n%+v", gt, wantT)
		}
		if got := e.account(t, a0[0], ""); got.CreditsPosted != "12" || got.DebitsPending != "2" {
			t.Fatalf("account after binary transfers %+v", got)
		}
		e.wantNoTransfer(t, tid[1])

		// The largest batch: 8189 records.
		many := make([]ledger.Account, ledger.MaxBatchEvents)
		statuses := make([]uint32, len(many))
		for i := range many {
			e.nextID++
			many[i] = ledger.Account{ID: ledger.U128(e.nextID), Ledger: 3, Code: 1}
		}
		wantBinaryResults(t, e.post(t, "/v1/accounts", octet, encodeAccounts(many)), statuses...)
		if got := e.account(t, uint64(many[len(many)-1].ID.Lo), ""); got.Ledger != 3 {
			t.Fatalf("last account of the largest batch %+v", got)
		}
	})

	t.Run("lookup", func(t *testing.T) {
		a, b, c := e.id(0), e.id(1), e.id(0)
		e.createAccounts(t, "[]", a, b, c)
		missing := e.id(1)
		r := e.postJSON(t, "/v1/accounts/lookup", fmt.Sprintf(`{"ids":["%d","%d",%d,"%d","%d"]}`, c, missing, a, b, a))
		if r.status != 200 {
			t.Fatalf("lookup: %d %s", r.status, r.body)
		}
		var got []accountWire
		decodeExact(t, r.body, &got)
		var ids []string
		for _, x := range got {
			ids = append(ids, x.ID)
		}
		if want := []string{fmt.Sprint(c), fmt.Sprint(a), fmt.Sprint(b), fmt.Sprint(a)}; !reflect.DeepEqual(ids, want) {
			t.Fatalf("lookup answered %v, want %v", ids, want)
		}
		if one := e.account(t, a, ""); !reflect.DeepEqual(got[1], one) {
			t.Fatalf("lookup %+v, GET %+v", got[1], one)
		}
		wantJSON(t, e.postJSON(t, "/v1/accounts/lookup", `{"ids":[]}`), 200, `[]`)
		wantJSON(t, e.postJSON(t, "/v1/accounts/lookup", fmt.Sprintf(`{"ids":["%d"]}`, missing)), 200, `[]`)

		tid := e.ids(0, 2)
		wantResults(t, e.postJSON(t, "/v1/transfers", "["+transfer1(tid[0], a, c, 3)+","+transfer1(tid[1], c, a, 4)+"]"),
			"created", "created")
		tb := e.ids(1, 1)
		bb := e.id(1)
		e.createAccounts(t, "[]", bb)
		wantResults(t, e.postJSON(t, "/v1/transfers", "["+transfer1(tb[0], b, bb, 5)+"]"), "created")
		r = e.postJSON(t, "/v1/transfers/lookup", fmt.Sprintf(`{"ids":["%d","%d","%d",%d]}`, tb[0], e.id(0), tid[1], tid[0]))
		if r.status != 200 {
			t.Fatalf("lookup: %d %s", r.status, r.body)
		}
		var gt []transferWire
		decodeExact(t, r.body, &gt)
		ids = nil
		for _, x := range gt {
			ids = append(ids, x.ID)
		}
		if want := []string{fmt.Sprint(tb[0]), fmt.Sprint(tid[1]), fmt.Sprint(tid[0])}; !reflect.DeepEqual(ids, want) {
			t.Fatalf("transfer lookup answered %v, want %v", ids, want)
		}
		if one := e.transfer(t, tid[1]); !reflect.DeepEqual(gt[1], one) {
			t.Fatalf("lookup %+v, GET %+v", gt[1], one)
		}
		wantJSON(t, e.postJSON(t, "/v1/transfers/lookup", `{"ids":[]}`), 200, `[]`)

		wantError(t, e.postJSON(t, "/v1/accounts/lookup", `{"ids":[`), 400, "malformed_json")
		wantError(t, e.postJSON(t, "/v1/accounts/lookup", `{"ids":[],"more":1}`), 400, "unknown_field")
		wantError(t, e.postJSON(t, "/v1/transfers/lookup", `{"ids":["1"]} {}`), 400, "malformed_json")
		wantError(t, e.postJSON(t, "/v1/transfers/lookup", `{"ids":[1.5]}`), 400, "malformed_json")
		wantError(t, e.postJSON(t, "/v1/accounts/lookup", `{"ids":["-1"]}`), 400, "malformed_json")
		wantError(t, e.postJSON(t, "/v1/accounts/lookup", jsonArrayObj(ledger.MaxBatchEvents+1)), 400, "too_many_ids")
	})

	t.Run("as_of", func(t *testing.T) {
		xy := e.ids(0, 2)
		x, y := xy[0], xy[1]
		created := e.createAccounts(t, `["history"]`, x, y)
		before := e.account(t, x, "")
		v1 := u64Of(t, before.Version)
		tid := e.id(0)
		tr := wantResults(t, e.postJSON(t, "/v1/transfers", "["+transfer1(tid, x, y, 25)+"]"), "created")
		after := e.account(t, x, "")
		v2 := u64Of(t, after.Version)
		if v2 <= v1 || after.DebitsPosted != "25" || before.DebitsPosted != "0" {
			t.Fatalf("versions %d then %d; accounts %+v then %+v", v1, v2, before, after)
		}
		for _, c := range []struct {
			query string
			want  accountWire
		}{
			{fmt.Sprintf("?as_of_version=%d", v1), before},
			{fmt.Sprintf("?as_of_version=%d", v2-1), before},
			{fmt.Sprintf("?as_of_version=%d", v2), after},
			{"?as_of_version=" + maxU64, after},
			{"?as_of_time=" + rfc3339(u64Of(t, tr[0].Timestamp)-1), before},
			{"?as_of_time=" + rfc3339(u64Of(t, created[1].Timestamp)), before},
			{"?as_of_time=" + rfc3339(u64Of(t, tr[0].Timestamp)), after},
			{"?as_of_time=" + url.QueryEscape(time.Unix(0, int64(u64Of(t, tr[0].Timestamp)-1)).In(time.FixedZone("", 2*3600)).Format(time.RFC3339Nano)), before},
			{"?as_of_time=2200-01-01T00:00:00Z", after},
		} {
			if got := e.account(t, x, c.query); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("GET %s\n%+v\nwant\n%+v", c.query, got, c.want)
			}
		}
		// Before the account existed.
		wantError(t, e.get(t, fmt.Sprintf("/v1/accounts/%d?as_of_version=%d", x, v1-1)), 404, "not_found")
		wantError(t, e.get(t, fmt.Sprintf("/v1/accounts/%d?as_of_time=%s", x, rfc3339(u64Of(t, created[0].Timestamp)-1))), 404, "not_found")
		wantError(t, e.get(t, fmt.Sprintf("/v1/accounts/%d?as_of_time=1971-01-01T00:00:00Z", x)), 404, "not_found")
	})

	t.Run("statement", func(t *testing.T) {
		acc := e.ids(1, 4)
		a, b, c, d := acc[0], acc[1], acc[2], acc[3]
		wantResults(t, e.postJSON(t, "/v1/accounts", fmt.Sprintf(`[{"id":"%d","ledger":1,"code":1,"flags":["history"]},%s,%s,%s]`,
			a, account1(b), account1(c), account1(d))), "created", "created", "created", "created")
		tid := e.ids(1, 5)
		rs := wantResults(t, e.postJSON(t, "/v1/transfers", "["+strings.Join([]string{
			transfer1(tid[0], a, b, 10),
			transfer1(tid[1], b, a, 5),
			transfer1(tid[2], c, b, 1), // not a's
			transfer1(tid[3], a, c, 7),
			fmt.Sprintf(`{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","amount":"4","ledger":1,"code":1,"flags":["pending"]}`,
				tid[4], d, a),
		}, ",")+"]"), "created", "created", "created", "created", "created")
		ts := func(i int) string { return rs[i].Timestamp }
		statement := func(query string, want ...int) {
			t.Helper()
			r := e.get(t, fmt.Sprintf("/v1/accounts/%d/transfers%s", a, query))
			if r.status != 200 {
				t.Fatalf("statement %s: %d %s", query, r.status, r.body)
			}
			wantJSONType(t, r)
			var got []transferWire
			decodeExact(t, r.body, &got)
			var gotIDs, wantIDs []string
			for _, x := range got {
				gotIDs = append(gotIDs, x.ID)
			}
			for _, i := range want {
				wantIDs = append(wantIDs, fmt.Sprint(tid[i]))
			}
			if !reflect.DeepEqual(gotIDs, wantIDs) {
				t.Fatalf("statement %s: %v, want %v", query, gotIDs, wantIDs)
			}
		}
		statement("", 0, 1, 3, 4)
		statement("?debits=true", 0, 3)
		statement("?credits=true", 1, 4)
		statement("?debits=true&credits=true", 0, 1, 3, 4)
		statement("?debits", 0, 3)
		statement("?debits=1&credits=0", 0, 3)
		statement("?reversed=true", 4, 3, 1, 0)
		statement("?reversed=false", 0, 1, 3, 4)
		statement("?limit=2", 0, 1)
		statement("?limit=1&reversed=true", 4)
		statement("?limit=8189", 0, 1, 3, 4)
		statement("?timestamp_min="+ts(1), 1, 3, 4)
		statement("?timestamp_max="+ts(1), 0, 1)
		statement("?timestamp_min="+ts(1)+"&timestamp_max="+ts(3), 1, 3)
		statement("?timestamp_min=" + ts(2) + "&timestamp_max=" + ts(2))
		statement("?timestamp_min="+ts(1)+"&debits=true&reversed=true&limit=5", 3)
		// The whole of a statement entry.
		r := e.get(t, fmt.Sprintf("/v1/accounts/%d/transfers?limit=1", a))
		var got []transferWire
		decodeExact(t, r.body, &got)
		if len(got) != 1 || !reflect.DeepEqual(got[0], e.transfer(t, tid[0])) {
			t.Fatalf("statement entry %+v", got)
		}
		wantJSON(t, e.get(t, fmt.Sprintf("/v1/accounts/%d/transfers", e.id(1))), 200, `[]`)

		// Balances of the history account after each change.
		r = e.get(t, fmt.Sprintf("/v1/accounts/%d/balances", a))
		wantJSON(t, r, 200, fmt.Sprintf(`[
			{"timestamp":"%s","debits_pending":"0","debits_posted":"10","credits_pending":"0","credits_posted":"0"},
			{"timestamp":"%s","debits_pending":"0","debits_posted":"10","credits_pending":"0","credits_posted":"5"},
			{"timestamp":"%s","debits_pending":"0","debits_posted":"17","credits_pending":"0","credits_posted":"5"},
			{"timestamp":"%s","debits_pending":"0","debits_posted":"17","credits_pending":"4","credits_posted":"5"}]`,
			ts(0), ts(1), ts(3), ts(4)))
		var bal []balanceWire
		decodeExact(t, r.body, &bal)
		r = e.get(t, fmt.Sprintf("/v1/accounts/%d/balances?reversed=true&limit=2&debits=true", a))
		wantJSON(t, r, 200, fmt.Sprintf(`[
			{"timestamp":"%s","debits_pending":"0","debits_posted":"17","credits_pending":"0","credits_posted":"5"},
			{"timestamp":"%s","debits_pending":"0","debits_posted":"10","credits_pending":"0","credits_posted":"0"}]`,
			ts(3), ts(0)))
		wantJSON(t, e.get(t, fmt.Sprintf("/v1/accounts/%d/balances?timestamp_min=%s&timestamp_max=%s", a, ts(1), ts(1))), 200,
			fmt.Sprintf(`[{"timestamp":"%s","debits_pending":"0","debits_posted":"10","credits_pending":"0","credits_posted":"5"}]`, ts(1)))
		// Accounts without history have no balances.
		wantJSON(t, e.get(t, fmt.Sprintf("/v1/accounts/%d/balances", b)), 200, `[]`)

		// The default limit is 100.
		pq := e.ids(0, 2)
		e.createAccounts(t, "[]", pq...)
		many := e.ids(0, 101)
		wantResults(t, e.postJSON(t, "/v1/transfers", jsonArray(len(many), func(i int) string {
			return transfer1(many[i], pq[0], pq[1], 1)
		})), repeat("created", len(many))...)
		count := func(query string) int {
			r := e.get(t, fmt.Sprintf("/v1/accounts/%d/transfers%s", pq[0], query))
			var got []transferWire
			if r.status != 200 {
				t.Fatalf("statement: %d %s", r.status, r.body)
			}
			decodeExact(t, r.body, &got)
			return len(got)
		}
		if n := count(""); n != 100 {
			t.Fatalf("default statement has %d entries, want 100", n)
		}
		if n := count("?limit=8189"); n != 101 {
			t.Fatalf("statement with limit=8189 has %d entries, want 101", n)
		}
	})

	t.Run("txn", func(t *testing.T) {
		pq := e.ids(0, 2)
		p, q := pq[0], pq[1]
		e.createAccounts(t, "[]", p, q)
		key := e.keyOn(0, "cfg")
		vp := e.account(t, p, "").Version
		tid := e.ids(0, 4)
		hello := base64.StdEncoding.EncodeToString([]byte("hello"))
		r := e.postJSON(t, "/v1/txn", fmt.Sprintf(`{
			"checks":[{"account_id":"%d","version":"%s"},{"key":"%s","version":"0"}],
			"puts":[{"key":"%s","value":"%s"}],
			"transfers":[%s]}`, p, vp, key, key, hello, transfer1(tid[0], p, q, 5)))
		if r.status != 200 {
			t.Fatalf("txn: %d %s", r.status, r.body)
		}
		var committed struct {
			Status    string       `json:"status"`
			Version   string       `json:"version"`
			Transfers []resultWire `json:"transfers"`
		}
		decodeExact(t, r.body, &committed)
		v := u64Of(t, committed.Version)
		if committed.Status != "committed" || v <= u64Of(t, vp) || len(committed.Transfers) != 1 ||
			committed.Transfers[0].Status != "created" || u64Of(t, committed.Transfers[0].Timestamp) == 0 {
			t.Fatalf("txn answered %s", r.body)
		}
		wantJSON(t, e.get(t, "/v1/kv/"+key), 200, fmt.Sprintf(`{"key":"%s","value":"%s","version":"%d"}`, key, hello, v))
		if got := e.account(t, p, ""); got.DebitsPosted != "5" || got.Version != committed.Version {
			t.Fatalf("account after the txn %+v, want debits_posted 5 at version %d", got, v)
		}
		if got := e.transfer(t, tid[0]); got.Timestamp != committed.Transfers[0].Timestamp {
			t.Fatalf("txn transfer %+v", got)
		}

		// The same checks again conflict, and nothing applies.
		other := e.keyOn(0, "other")
		r = e.postJSON(t, "/v1/txn", fmt.Sprintf(`{
			"checks":[{"account_id":"%d","version":"%s"},{"key":"%s","version":"0"}],
			"puts":[{"key":"%s","value":"%s"}],
			"transfers":[%s]}`, p, vp, key, other, hello, transfer1(tid[1], p, q, 5)))
		wantJSON(t, r, 409, fmt.Sprintf(`{"status":"conflict","conflicts":[
			{"account_id":"%d","expected_version":"%s","actual_version":"%d"},
			{"key":"%s","expected_version":"0","actual_version":"%d"}]}`, p, vp, v, key, v))
		e.wantNoKey(t, other)
		e.wantNoTransfer(t, tid[1])

		// A failing transfer aborts the whole txn.
		missing := e.id(0)
		r = e.postJSON(t, "/v1/txn", fmt.Sprintf(`{
			"checks":[{"account_id":"%d","version":"%d"}],
			"puts":[{"key":"%s","value":"%s"}],
			"transfers":[%s,%s]}`, p, v, other, hello, transfer1(tid[2], p, q, 5), transfer1(tid[3], p, missing, 5)))
		wantJSON(t, r, 422, `{"status":"failed","transfers":[
			{"status":"linked_event_failed","timestamp":"0"},{"status":"credit_account_not_found","timestamp":"0"}]}`)
		e.wantNoKey(t, other)
		e.wantNoTransfer(t, tid[2], tid[3])
		if got := e.account(t, p, ""); got.DebitsPosted != "5" || got.Version != committed.Version {
			t.Fatalf("a failed txn changed the account: %+v", got)
		}

		// A second value for the key; time travel over the key.
		world := base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xff})
		r = e.postJSON(t, "/v1/txn", fmt.Sprintf(`{"checks":[{"key":"%s","version":%d}],"puts":[{"key":"%s","value":"%s"}]}`,
			key, v, key, world))
		if r.status != 200 {
			t.Fatalf("txn: %d %s", r.status, r.body)
		}
		decodeExact(t, r.body, &committed)
		v2 := u64Of(t, committed.Version)
		if committed.Status != "committed" || v2 <= v || len(committed.Transfers) != 0 {
			t.Fatalf("put-only txn answered %s", r.body)
		}
		wantJSON(t, e.get(t, "/v1/kv/"+key), 200, fmt.Sprintf(`{"key":"%s","value":"%s","version":"%d"}`, key, world, v2))
		wantJSON(t, e.get(t, fmt.Sprintf("/v1/kv/%s?as_of_version=%d", key, v2)), 200,
			fmt.Sprintf(`{"key":"%s","value":"%s","version":"%d"}`, key, world, v2))
		wantJSON(t, e.get(t, fmt.Sprintf("/v1/kv/%s?as_of_version=%d", key, v2-1)), 200,
			fmt.Sprintf(`{"key":"%s","value":"%s","version":"%d"}`, key, hello, v))
		wantJSON(t, e.get(t, fmt.Sprintf("/v1/kv/%s?as_of_version=%d", key, v)), 200,
			fmt.Sprintf(`{"key":"%s","value":"%s","version":"%d"}`, key, hello, v))
		wantError(t, e.get(t, fmt.Sprintf("/v1/kv/%s?as_of_version=%d", key, v-1)), 404, "not_found")
		wantError(t, e.get(t, fmt.Sprintf("/v1/kv/%s?as_of_version=abc", key)), 400, "invalid_query")
		wantError(t, e.get(t, fmt.Sprintf("/v1/kv/%s?as_of_version=-1", key)), 400, "invalid_query")
		e.wantNoKey(t, "never-written")

		// A key with a slash, and an empty value.
		r = e.postJSON(t, "/v1/txn", `{"puts":[{"key":"dir/sub key","value":""}]}`)
		if r.status != 200 {
			t.Fatalf("txn: %d %s", r.status, r.body)
		}
		decodeExact(t, r.body, &committed)
		wantJSON(t, e.get(t, "/v1/kv/dir/sub%20key"), 200, fmt.Sprintf(`{"key":"dir/sub key","value":"","version":"%s"}`, committed.Version))

		// Whole-request errors apply nothing.
		fresh := e.keyOn(0, "fresh")
		put := fmt.Sprintf(`{"key":"%s","value":"%s"}`, fresh, hello)
		for _, c := range []struct {
			name, ctype, body string
			status            int
			code              string
		}{
			{"both account_id and key", "application/json",
				fmt.Sprintf(`{"checks":[{"account_id":"%d","key":"%s","version":"0"}],"puts":[%s]}`, p, key, put), 400, "invalid_request"},
			{"neither account_id nor key", "application/json", fmt.Sprintf(`{"checks":[{"version":"0"}],"puts":[%s]}`, put), 400, "invalid_request"},
			{"value not base64", "application/json", fmt.Sprintf(`{"puts":[%s,{"key":"k2","value":"not base64!"}]}`, put), 400, "invalid_request"},
			{"empty key", "application/json", fmt.Sprintf(`{"puts":[%s,{"key":"","value":""}]}`, put), 400, "invalid_request"},
			{"key too long", "application/json", fmt.Sprintf(`{"puts":[%s,{"key":"%s","value":""}]}`, put, strings.Repeat("k", 257)), 400, "invalid_request"},
			{"value too big", "application/json", fmt.Sprintf(`{"puts":[%s,{"key":"big","value":"%s"}]}`, put,
				base64.StdEncoding.EncodeToString(make([]byte, 64<<10+1))), 400, "invalid_request"},
			{"empty txn", "application/json", `{}`, 400, "invalid_request"},
			{"unknown field", "application/json", fmt.Sprintf(`{"puts":[%s],"extra":true}`, put), 400, "unknown_field"},
			{"unknown field in a check", "application/json", fmt.Sprintf(`{"checks":[{"key":"%s","version":"0","x":1}],"puts":[%s]}`, key, put), 400, "unknown_field"},
			{"malformed", "application/json", fmt.Sprintf(`{"puts":[%s]`, put), 400, "malformed_json"},
			{"trailing data", "application/json", fmt.Sprintf(`{"puts":[%s]}{}`, put), 400, "malformed_json"},
			{"version as float", "application/json", fmt.Sprintf(`{"checks":[{"key":"%s","version":1.0}],"puts":[%s]}`, other, put), 400, "malformed_json"},
			{"version negative", "application/json", fmt.Sprintf(`{"checks":[{"key":"%s","version":-1}],"puts":[%s]}`, other, put), 400, "malformed_json"},
			{"binary", octet, fmt.Sprintf(`{"puts":[%s]}`, put), 415, "unsupported_media_type"},
			{"text/plain", "text/plain", fmt.Sprintf(`{"puts":[%s]}`, put), 415, "unsupported_media_type"},
			{"spans partitions", "application/json", fmt.Sprintf(`{"checks":[{"account_id":"%d","version":"%d"}],"puts":[%s]}`,
				e.id(1), 0, put), 422, "spans_partitions"},
		} {
			wantError(t, e.post(t, "/v1/txn", c.ctype, []byte(c.body)), c.status, c.code)
			e.wantNoKey(t, fresh)
		}
		// The same put alone commits: the rejections were not about it.
		r = e.postJSON(t, "/v1/txn", fmt.Sprintf(`{"puts":[%s]}`, put))
		if r.status != 200 {
			t.Fatalf("txn: %d %s", r.status, r.body)
		}
		wantError(t, e.get(t, "/v1/kv/"+strings.Repeat("k", 257)), 400, "invalid_key")
		wantError(t, e.get(t, "/v1/kv/%ff"), 400, "invalid_key")
	})

	t.Run("flags_and_numbers", func(t *testing.T) {
		a, b := e.id(0), e.id(0)
		wantResults(t, e.postJSON(t, "/v1/accounts", fmt.Sprintf(`[
			{"id":"%d","ledger":1,"code":1,"flags":["history","debits_must_not_exceed_credits"]},
			{"id":%d,"ledger":1,"code":1,"flags":10},
			{"id":"%d","ledger":1,"code":1,"flags":16},
			{"id":"%d","ledger":1,"code":1,"flags":["debits_must_not_exceed_credits","credits_must_not_exceed_debits"]}
		]`, a, b, e.id(0), e.id(0))), "created", "created", "reserved_flag", "flags_are_mutually_exclusive")
		fa, fb := e.account(t, a, ""), e.account(t, b, "")
		if want := []string{"debits_must_not_exceed_credits", "history"}; !reflect.DeepEqual(fa.Flags, want) || !reflect.DeepEqual(fb.Flags, want) {
			t.Fatalf("flags %v and %v, want %v", fa.Flags, fb.Flags, want)
		}
		// Every account flag name, and integers for u128 and u64.
		big := maxU128Minus
		wantResults(t, e.postJSON(t, "/v1/accounts", fmt.Sprintf(`[
			{"id":%s,"user_data_128":%s,"user_data_64":%s,"user_data_32":1,"ledger":1,"code":1,
			 "flags":["linked","credits_must_not_exceed_debits","history","closed"]}]`, big, maxU128, maxU64)),
			"linked_event_chain_open")
		wantResults(t, e.postJSON(t, "/v1/accounts", fmt.Sprintf(`[
			{"id":%s,"user_data_128":%s,"user_data_64":%s,"user_data_32":1,"ledger":1,"code":1,
			 "flags":["credits_must_not_exceed_debits","history","closed"]}]`, big, maxU128, maxU64)),
			"created")
		r := e.get(t, "/v1/accounts/"+big)
		var got accountWire
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", big, r.status, r.body)
		}
		decodeExact(t, r.body, &got)
		if got.ID != big || got.UserData128 != maxU128 || got.UserData64 != maxU64 ||
			!reflect.DeepEqual(got.Flags, []string{"credits_must_not_exceed_debits", "history", "closed"}) {
			t.Fatalf("account %+v", got)
		}
		// Transfers: flags by name and by integer, amounts as string and integer.
		c := e.id(0)
		e.createAccounts(t, "[]", c)
		tid := e.ids(0, 6)
		wantResults(t, e.postJSON(t, "/v1/transfers", fmt.Sprintf(`[
			{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","amount":7,"ledger":1,"code":1,"flags":2},
			{"id":%d,"debit_account_id":%d,"credit_account_id":"%d","amount":"7","ledger":1,"code":1,"flags":["pending"]},
			{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","amount":"7","ledger":1,"code":1,"flags":256},
			{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","amount":"7","ledger":1,"code":1,"flags":["linked","pending"]},
			{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","amount":"7","ledger":1,"code":1,"flags":["pending"]},
			{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","amount":"7","ledger":1,"code":1,"flags":3}
		]`, tid[0], c, a, tid[1], c, a, tid[2], c, a, tid[3], c, a, tid[4], c, a, tid[5], c, a)),
			"created", "created", "reserved_flag", "created", "created", "linked_event_chain_open")
		e.wantNoTransfer(t, tid[2], tid[5])
		for i, want := range map[int][]string{0: {"pending"}, 1: {"pending"}, 3: {"linked", "pending"}, 4: {"pending"}} {
			if got := e.transfer(t, tid[i]); !reflect.DeepEqual(got.Flags, want) || got.Amount != "7" {
				t.Fatalf("transfer %d: %+v, want flags %v", i, got, want)
			}
		}
		// Every transfer flag name is known (the events fail, not the request).
		wantResults(t, e.postJSON(t, "/v1/transfers", fmt.Sprintf(`[
			{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","amount":"1","ledger":1,"code":1,
			 "flags":["post_pending_transfer","void_pending_transfer","balancing_debit","balancing_credit","closing_debit","closing_credit"]}]`,
			e.id(0), c, a)), "flags_are_mutually_exclusive")
	})

	t.Run("whole_request_errors", func(t *testing.T) {
		// Every rejected request would otherwise create its first event:
		// after the rejection, that object must not exist.
		dc := e.ids(0, 2)
		e.createAccounts(t, "[]", dc...)
		type acase struct {
			name   string
			status int
			code   string
			body   func(first uint64) string
			ctype  string
		}
		withFirst := func(first uint64, rest string) string {
			return "[" + account1(first) + "," + rest + "]"
		}
		for _, c := range []acase{
			{"malformed", 400, "malformed_json", func(f uint64) string { return "[" + account1(f) + "," }, ""},
			{"not an array", 400, "malformed_json", func(f uint64) string { return account1(f) }, ""},
			{"unknown field", 400, "unknown_field", func(f uint64) string {
				return withFirst(f, fmt.Sprintf(`{"id":"%d","ledger":1,"code":1,"colour":"red"}`, e.id(0)))
			}, ""},
			{"misspelt field", 400, "unknown_field", func(f uint64) string {
				return "[" + fmt.Sprintf(`{"id":"%d","ledger":1,"code":1,"flagz":[]}`, f) + "]"
			}, ""},
			{"trailing array", 400, "malformed_json", func(f uint64) string { return "[" + account1(f) + "] []" }, ""},
			{"trailing garbage", 400, "malformed_json", func(f uint64) string { return "[" + account1(f) + "]x" }, ""},
			{"u64 as float", 400, "malformed_json", func(f uint64) string {
				return withFirst(f, fmt.Sprintf(`{"id":"%d","ledger":1,"code":1,"user_data_64":1.0}`, e.id(0)))
			}, ""},
			{"u64 with exponent", 400, "malformed_json", func(f uint64) string {
				return withFirst(f, fmt.Sprintf(`{"id":"%d","ledger":1,"code":1,"user_data_64":1e3}`, e.id(0)))
			}, ""},
			{"u64 as float string", 400, "malformed_json", func(f uint64) string {
				return withFirst(f, fmt.Sprintf(`{"id":"%d","ledger":1,"code":1,"user_data_64":"1.5"}`, e.id(0)))
			}, ""},
			{"u64 negative", 400, "malformed_json", func(f uint64) string {
				return withFirst(f, fmt.Sprintf(`{"id":"%d","ledger":1,"code":1,"user_data_64":-1}`, e.id(0)))
			}, ""},
			{"u64 negative string", 400, "malformed_json", func(f uint64) string {
				return withFirst(f, fmt.Sprintf(`{"id":"%d","ledger":1,"code":1,"user_data_64":"-1"}`, e.id(0)))
			}, ""},
			{"u64 overflow", 400, "malformed_json", func(f uint64) string {
				return withFirst(f, fmt.Sprintf(`{"id":"%d","ledger":1,"code":1,"user_data_64":18446744073709551616}`, e.id(0)))
			}, ""},
			{"u128 as float", 400, "malformed_json", func(f uint64) string {
				return withFirst(f, fmt.Sprintf(`{"id":%d.0,"ledger":1,"code":1}`, e.id(0)))
			}, ""},
			{"u128 negative", 400, "malformed_json", func(f uint64) string {
				return withFirst(f, fmt.Sprintf(`{"id":-%d,"ledger":1,"code":1}`, e.id(0)))
			}, ""},
			{"u128 overflow", 400, "malformed_json", func(f uint64) string {
				return withFirst(f, `{"id":"340282366920938463463374607431768211456","ledger":1,"code":1}`)
			}, ""},
			{"u128 empty string", 400, "malformed_json", func(f uint64) string {
				return withFirst(f, `{"id":"","ledger":1,"code":1}`)
			}, ""},
			{"unknown flag name", 400, "malformed_json", func(f uint64) string {
				return withFirst(f, fmt.Sprintf(`{"id":"%d","ledger":1,"code":1,"flags":["history","nope"]}`, e.id(0)))
			}, ""},
			{"flags out of range", 400, "malformed_json", func(f uint64) string {
				return withFirst(f, fmt.Sprintf(`{"id":"%d","ledger":1,"code":1,"flags":65536}`, e.id(0)))
			}, ""},
			{"flags negative", 400, "malformed_json", func(f uint64) string {
				return withFirst(f, fmt.Sprintf(`{"id":"%d","ledger":1,"code":1,"flags":-1}`, e.id(0)))
			}, ""},
			{"u32 as float", 400, "malformed_json", func(f uint64) string {
				return withFirst(f, fmt.Sprintf(`{"id":"%d","ledger":1.5,"code":1}`, e.id(0)))
			}, ""},
			{"8190 events", 400, "too_many_events", func(f uint64) string {
				return jsonArray(ledger.MaxBatchEvents+1, func(i int) string {
					if i == 0 {
						return account1(f)
					}
					return account1(e.id(0))
				})
			}, ""},
			{"text/plain", 415, "unsupported_media_type", func(f uint64) string { return "[" + account1(f) + "]" }, "text/plain"},
			{"form", 415, "unsupported_media_type", func(f uint64) string { return "[" + account1(f) + "]" }, "application/x-www-form-urlencoded"},
		} {
			first := e.id(0)
			ctype := c.ctype
			if ctype == "" {
				ctype = "application/json"
			}
			t.Run("accounts "+c.name, func(t *testing.T) {
				wantError(t, e.post(t, "/v1/accounts", ctype, []byte(c.body(first))), c.status, c.code)
				e.wantNoAccount(t, first)
			})
		}
		wantError(t, e.postJSON(t, "/v1/accounts", "[]"), 400, "empty_batch")
		wantError(t, e.postJSON(t, "/v1/accounts", "null"), 400, "empty_batch")
		wantError(t, e.postJSON(t, "/v1/accounts", ""), 400, "malformed_json")
		wantError(t, e.postJSON(t, "/v1/transfers", "[]"), 400, "empty_batch")

		tr1 := func(id uint64) string { return transfer1(id, dc[0], dc[1], 1) }
		for _, c := range []acase{
			{"malformed", 400, "malformed_json", func(f uint64) string { return "[" + tr1(f) }, ""},
			{"unknown field", 400, "unknown_field", func(f uint64) string {
				return "[" + tr1(f) + `,{"id":"1","debit_account_id":"1","credit_account_id":"2","ledger":1,"code":1,"memo":"x"}]`
			}, ""},
			{"trailing data", 400, "malformed_json", func(f uint64) string { return "[" + tr1(f) + "]]" }, ""},
			{"amount as float", 400, "malformed_json", func(f uint64) string {
				return "[" + tr1(f) + "," + fmt.Sprintf(`{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","amount":2.5,"ledger":1,"code":1}]`,
					e.id(0), dc[0], dc[1])
			}, ""},
			{"amount negative", 400, "malformed_json", func(f uint64) string {
				return "[" + tr1(f) + "," + fmt.Sprintf(`{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","amount":-2,"ledger":1,"code":1}]`,
					e.id(0), dc[0], dc[1])
			}, ""},
			{"unknown flag name", 400, "malformed_json", func(f uint64) string {
				return "[" + tr1(f) + "," + fmt.Sprintf(`{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","ledger":1,"code":1,"flags":["history"]}]`,
					e.id(0), dc[0], dc[1])
			}, ""},
			{"flags not names", 400, "malformed_json", func(f uint64) string {
				return "[" + tr1(f) + "," + fmt.Sprintf(`{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","ledger":1,"code":1,"flags":"pending"}]`,
					e.id(0), dc[0], dc[1])
			}, ""},
			{"8190 events", 400, "too_many_events", func(f uint64) string {
				return jsonArray(ledger.MaxBatchEvents+1, func(i int) string {
					if i == 0 {
						return tr1(f)
					}
					return tr1(e.id(0))
				})
			}, ""},
			{"text/plain", 415, "unsupported_media_type", func(f uint64) string { return "[" + tr1(f) + "]" }, "text/plain"},
		} {
			first := e.id(0)
			ctype := c.ctype
			if ctype == "" {
				ctype = "application/json"
			}
			t.Run("transfers "+c.name, func(t *testing.T) {
				wantError(t, e.post(t, "/v1/transfers", ctype, []byte(c.body(first))), c.status, c.code)
				e.wantNoTransfer(t, first)
			})
		}
		// The probes are fine on their own.
		wantResults(t, e.postJSON(t, "/v1/transfers", "["+tr1(e.id(0))+"]"), "created")
	})

	t.Run("binary_errors", func(t *testing.T) {
		dc := e.ids(1, 2)
		e.createAccounts(t, "[]", dc...)
		accts := func(n int) ([]byte, uint64) {
			as := make([]ledger.Account, n)
			for i := range as {
				as[i] = ledger.Account{ID: ledger.U128(e.id(1)), Ledger: 1, Code: 1}
			}
			return encodeAccounts(as), uint64(as[0].ID.Lo)
		}
		transfers := func(n int) ([]byte, uint64) {
			ts := make([]ledger.Transfer, n)
			for i := range ts {
				ts[i] = ledger.Transfer{ID: ledger.U128(e.id(1)), DebitAccountID: ledger.U128(dc[0]),
					CreditAccountID: ledger.U128(dc[1]), Amount: 1, Ledger: 1, Code: 1}
			}
			return encodeTransfers(ts), uint64(ts[0].ID.Lo)
		}
		for _, c := range []struct {
			name  string
			bad   func(b []byte) []byte
			n     int
			code  string
			ctype string
		}{
			{"one byte more", func(b []byte) []byte { return append(b, 0) }, 2, "bad_binary_length", octet},
			{"one byte less", func(b []byte) []byte { return b[:len(b)-1] }, 2, "bad_binary_length", octet},
			{"reserved tail of record 1", func(b []byte) []byte { b[128+127] = 1; return b }, 2, "reserved_bytes", octet},
			{"first reserved byte of record 0", nil, 1, "reserved_bytes", octet},
			{"8190 records", func(b []byte) []byte { return b }, ledger.MaxBatchEvents + 1, "too_many_events", octet},
			{"with parameters", func(b []byte) []byte { return b[:len(b)-1] }, 1, "bad_binary_length", "Application/Octet-Stream; x=y"},
			{"reserved tail, media type with parameters", func(b []byte) []byte { b[110] = 1; return b }, 1, "reserved_bytes",
				"application/octet-stream; charset=binary"},
		} {
			t.Run("accounts "+c.name, func(t *testing.T) {
				b, first := accts(c.n)
				if c.bad == nil {
					b[104] = 0x80
				} else {
					b = c.bad(b)
				}
				wantError(t, e.post(t, "/v1/accounts", c.ctype, b), 400, c.code)
				e.wantNoAccount(t, first)
			})
		}
		for _, c := range []struct {
			name string
			bad  func(b []byte) []byte
			n    int
			code string
		}{
			{"one byte more", func(b []byte) []byte { return append(b, 0) }, 1, "bad_binary_length"},
			{"reserved tail of record 1", func(b []byte) []byte { b[128+120] = 1; return b }, 2, "reserved_bytes"},
			{"last reserved byte", func(b []byte) []byte { b[127] = 1; return b }, 1, "reserved_bytes"},
			{"8190 records", func(b []byte) []byte { return b }, ledger.MaxBatchEvents + 1, "too_many_events"},
		} {
			t.Run("transfers "+c.name, func(t *testing.T) {
				b, first := transfers(c.n)
				wantError(t, e.post(t, "/v1/transfers", octet, c.bad(b)), 400, c.code)
				e.wantNoTransfer(t, first)
			})
		}
		wantError(t, e.post(t, "/v1/accounts", octet, nil), 400, "empty_batch")
		wantError(t, e.post(t, "/v1/transfers", octet, nil), 400, "empty_batch")
		// A valid binary batch still goes through, whatever the media
		// type's case and parameters.
		b, first := accts(1)
		wantBinaryResults(t, e.post(t, "/v1/accounts", "Application/Octet-Stream; x=y", b), 0)
		e.account(t, first, "")
	})

	t.Run("body_limit", func(t *testing.T) {
		// A dedicated server with a 64 KiB limit, on the same node. The
		// requests go over raw connections that send the head and part (or
		// all) of the body in one write and then read the answer: see
		// TestBodyOverLimitFullySent for a client that keeps writing.
		client := &http.Client{Timeout: 10 * time.Second}
		small := &env{node: e.node, eng: e.eng, client: client}
		small.base = startServer(t, Config{Engine: e.eng, Node: e.node, Logger: quiet, MaxBodySize: 64 << 10}, client)
		addr := strings.TrimPrefix(small.base, "http://")
		firsts := e.ids(0, 3)
		big := func(first uint64) []byte {
			return []byte(jsonArray(3000, func(i int) string {
				if i == 0 {
					return account1(first)
				}
				return account1(e.id(0))
			}))
		}
		b := big(firsts[0])
		if len(b) <= 64<<10 {
			t.Fatalf("body of %d bytes is not over the limit", len(b))
		}
		// With a Content-Length over the limit.
		r := rawRequest(t, addr, fmt.Sprintf("POST /v1/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
			"Content-Length: %d\r\n\r\n", len(b)), b[:32<<10])
		wantError(t, r, 413, "body_too_large")
		// Chunked, without a Content-Length: the whole body is sent.
		b = big(firsts[1])
		r = rawRequest(t, addr, "POST /v1/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
			"Transfer-Encoding: chunked\r\n\r\n", []byte(fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(b), b)))
		wantError(t, r, 413, "body_too_large")
		// Binary.
		as := make([]ledger.Account, 600)
		for i := range as {
			as[i] = ledger.Account{ID: ledger.U128(e.id(0)), Ledger: 1, Code: 1}
		}
		as[0].ID = ledger.U128(firsts[2])
		b = encodeAccounts(as)
		r = rawRequest(t, addr, fmt.Sprintf("POST /v1/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"+
			"Content-Length: %d\r\n\r\n", octet, len(b)), b[:32<<10])
		wantError(t, r, 413, "body_too_large")
		e.wantNoAccount(t, firsts...)
		// Under the limit, the same server answers.
		wantResults(t, small.postJSON(t, "/v1/accounts", "["+account1(firsts[0])+"]"), "created")
		wantJSON(t, small.get(t, "/healthz"), 200, `{"status":"ok"}`)
	})

	t.Run("bad_paths_and_queries", func(t *testing.T) {
		a := e.id(0)
		e.createAccounts(t, `["history"]`, a)
		for _, bad := range []string{"abc", "-1", "1.5", "0x10", "1e3", "+1", "340282366920938463463374607431768211456", "%201"} {
			wantError(t, e.get(t, "/v1/accounts/"+bad), 400, "invalid_id")
			wantError(t, e.get(t, "/v1/transfers/"+bad), 400, "invalid_id")
			wantError(t, e.get(t, "/v1/accounts/"+bad+"/transfers"), 400, "invalid_id")
			wantError(t, e.get(t, "/v1/accounts/"+bad+"/balances"), 400, "invalid_id")
		}
		for _, q := range []string{"limit=0", "limit=8190", "limit=abc", "limit=-1", "foo=1", "limit=5&foo=1", "debits=maybe",
			"reversed=yes", "timestamp_min=-1", "timestamp_max=1.5", "timestamp_min=" + maxU64 + "0"} {
			for _, what := range []string{"transfers", "balances"} {
				wantError(t, e.get(t, fmt.Sprintf("/v1/accounts/%d/%s?%s", a, what, q)), 400, "invalid_query")
			}
		}
		wantError(t, e.get(t, fmt.Sprintf("/v1/accounts/%d/transfers?timestamp_min=5&timestamp_max=4", a)), 400, "invalid_request")
		for _, q := range []string{"as_of_version=abc", "as_of_version=-1", "as_of_version=1.0", "as_of_version=",
			"as_of_time=yesterday", "as_of_time=2024-01-01", "as_of_time=1969-12-31T23:59:59Z"} {
			wantError(t, e.get(t, fmt.Sprintf("/v1/accounts/%d?%s", a, q)), 400, "invalid_query")
		}
	})
}

// rawRequest writes head and body in one write on a new connection and
// reads the answer.
func rawRequest(t *testing.T, addr, head string, body []byte) reply {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(append([]byte(head), body...)); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the answer's body: %v", err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func jsonArrayObj(n int) string {
	return `{"ids":` + jsonArray(n, func(i int) string { return strconv.Itoa(i + 1) }) + `}`
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// TestMetrics checks GET /metrics (SPEC §3: Prometheus text format).
func TestMetrics(t *testing.T) {
	e := newEnv(t)
	r := e.get(t, "/metrics")
	if r.status != 200 {
		t.Fatalf("GET /metrics: %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q, want text/plain (Prometheus text format)", ct)
	}
	if !regexp.MustCompile(`(?m)^# (HELP|TYPE) `).Match(r.body) {
		t.Fatalf("body is not Prometheus text format: %.200s", r.body)
	}
}

// TestBodyOverLimitFullySent sends over-limit bodies the way ordinary
// clients do: the whole body, then the answer is read.
func TestBodyOverLimitFullySent(t *testing.T) {
	e := newEnv(t)
	client := &http.Client{Timeout: 10 * time.Second}
	base := startServer(t, Config{Engine: e.eng, Node: e.node, Logger: quiet, MaxBodySize: 64 << 10}, client)
	for _, size := range []int{100 << 10, 8 << 20} {
		for i := 0; i < 10; i++ {
			first := e.id(0)
			body := []byte("[" + account1(first) + strings.Repeat(" ", size) + "]")
			resp, err := client.Post(base+"/v1/accounts", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatalf("body of %d bytes, attempt %d: %v", len(body), i, err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, reply{status: resp.StatusCode, header: resp.Header, body: b}, 413, "body_too_large")
			e.wantNoAccount(t, first)
		}
	}
}

// TestKVKeysWithSlashes reads keys that SPEC §4 allows (UTF-8, 1..256
// bytes) but that contain slashes at the ends or in a row.
func TestKVKeysWithSlashes(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ key, path string }{
		{"x/", "x%2F"}, {"/y", "%2Fy"}, {"a//b", "a%2F%2Fb"}, {"c/./d", "c%2F.%2Fd"},
	} {
		val := base64.StdEncoding.EncodeToString([]byte(c.key))
		r := e.postJSON(t, "/v1/txn", fmt.Sprintf(`{"puts":[{"key":%q,"value":"%s"}]}`, c.key, val))
		if r.status != 200 {
			t.Fatalf("put %q: %d %s", c.key, r.status, r.body)
		}
		var res struct {
			Status    string       `json:"status"`
			Version   string       `json:"version"`
			Transfers []resultWire `json:"transfers"`
		}
		decodeExact(t, r.body, &res)
		want := fmt.Sprintf(`{"key":%q,"value":"%s","version":"%s"}`, c.key, val, res.Version)
		wantJSON(t, e.get(t, "/v1/kv/"+c.path), 200, want)
	}
	// A key must not answer for another one.
	r := e.postJSON(t, "/v1/txn", `{"puts":[{"key":"x","value":"eA=="}]}`)
	if r.status != 200 {
		t.Fatalf("put x: %d %s", r.status, r.body)
	}
	if r := e.get(t, "/v1/kv/x%2F"); r.status == 200 && strings.Contains(string(r.body), `"key":"x"`) {
		t.Fatalf("GET /v1/kv/x%%2F answered key x: %s", r.body)
	}
}
