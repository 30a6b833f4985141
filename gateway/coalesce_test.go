package gateway

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/conto-ledger/conto/engine"
)

// A request whose linked chain spans partitions is rejected alone: merged
// into one batch with good requests (a 50 ms window makes them coalesce), it
// must not fail them.
func TestBadRequestDoesNotFailCoalescedOnes(t *testing.T) {
	node := openNode(t, 2)
	e := &env{node: node, eng: engine.New(node), client: &http.Client{Timeout: 10 * time.Second}, nextID: 5000}
	e.base = startServer(t, Config{Engine: e.eng, Node: node, Logger: quiet, BatchWindow: 50 * time.Millisecond}, e.client)
	const good = 8
	bodies := make([]string, good+1)
	for i := 0; i < good; i++ {
		bodies[i] = fmt.Sprintf(`[{"id":"%d","ledger":1,"code":1}]`, e.id(0))
	}
	bodies[good] = fmt.Sprintf(`[{"id":"%d","ledger":1,"code":1,"flags":["linked"]},{"id":"%d","ledger":1,"code":1}]`, e.id(0), e.id(1))
	replies := make([]reply, len(bodies))
	var wg sync.WaitGroup
	for i := range bodies {
		wg.Add(1)
		go func() { defer wg.Done(); replies[i] = e.postJSON(t, "/v1/accounts", bodies[i]) }()
	}
	wg.Wait()
	for i := 0; i < good; i++ {
		if replies[i].status != 200 {
			t.Fatalf("good request %d: %d %s", i, replies[i].status, replies[i].body)
		}
	}
	wantError(t, replies[good], 422, "spans_partitions")
}
