package gateway

import (
	"regexp"
	"strconv"
	"testing"
)

// TestMetricsContent checks that requests, batches and Raft state show up
// in /metrics with bounded labels.
func TestMetricsContent(t *testing.T) {
	e := newEnv(t)
	accts := e.ids(0, 2)
	e.createAccounts(t, "[]", accts...)
	e.postJSON(t, "/v1/transfers", "["+transfer1(e.id(0), accts[0], accts[1], 5)+"]")
	e.get(t, "/v1/accounts/"+itoa(accts[0]))
	e.get(t, "/v1/accounts/not-a-number")
	body := string(e.get(t, "/metrics").body)
	for _, want := range []string{
		`conto_http_requests_total\{code="200",route="POST /v1/transfers"\} 1`,
		`conto_http_requests_total\{code="200",route="GET /v1/accounts/\{id\}"\} 1`,
		`conto_http_requests_total\{code="400",route="GET /v1/accounts/\{id\}"\} 1`,
		`conto_batch_events_count\{kind="transfers"\} 1`,
		`conto_commit_seconds_count\{kind="accounts"\} 1`,
		`conto_raft_leader\{partition="0"\} 1`,
		`conto_raft_apply_lag\{partition="1"\} \d`,
		`conto_store_applied_version\{partition="0"\} [1-9]`,
	} {
		if !regexp.MustCompile(`(?m)^` + want).MatchString(body) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
