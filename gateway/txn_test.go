package gateway

import "testing"

// A check without a version is refused: silently reading it as "0" (must
// not exist) would turn a forgotten field into a different condition.
func TestTxnCheckNeedsAVersion(t *testing.T) {
	e := newEnv(t)
	key := e.keyOn(0, "needs-version")
	r := e.postJSON(t, "/v1/txn", `{"checks":[{"key":"`+key+`"}],"puts":[{"key":"`+key+`","value":"eA=="}]}`)
	wantError(t, r, 400, "invalid_request")
	e.wantNoKey(t, key)
}
