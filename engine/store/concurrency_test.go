package store

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/conto-ledger/conto/engine/ledger"
)

// TestReadsDuringApply runs readers against a store while batches are
// applied and written in the background. Every read as of a version must
// equal what that version applied (read-your-writes through the writer
// pipeline), and conservation must hold in every as-of read.
func TestReadsDuringApply(t *testing.T) {
	s := openStoreEvery(t, t.TempDir(), 3) // checkpoints interleave with writes
	defer s.Close()
	mustApply(t, s, accountsBatch(1, second, acct(1, 0), acct(2, 0), acct(3, ledger.AccountHistory)))
	var (
		latest atomic.Uint64 // last version whose Apply returned
		stop   atomic.Bool
		wg     sync.WaitGroup
		errs   = make(chan string, 4)
	)
	latest.Store(1)
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				v := latest.Load()
				var sum [2]uint64
				for id := uint64(1); id <= 3; id++ {
					a, ok, err := s.AccountAt(ledger.U128(id), v)
					if err != nil || !ok {
						errs <- "as-of read failed"
						return
					}
					sum[0] += a.DebitsPosted
					sum[1] += a.CreditsPosted
				}
				// Batch v (v ≥ 2) moved 1 unit per batch: version v has
				// v-1 units posted in total.
				if sum[0] != sum[1] || sum[0] != v-1 {
					errs <- "as-of read does not match its version"
					return
				}
				if _, err := s.AccountTransfers(ledger.U128(3), Filter{Reversed: true, Limit: 5}); err != nil {
					errs <- "statement failed: " + err.Error()
					return
				}
			}
		}()
	}
	for v := uint64(2); v <= 200; v++ {
		dr, cr := v%3+1, (v+1)%3+1
		mustApply(t, s, transfersBatch(v, v*second, xfer(100+v, dr, cr, 1)))
		latest.Store(v)
		if a, ok, _ := s.AccountAt(ledger.U128(cr), v); !ok || a.Version != v {
			t.Fatalf("right after applying %d, account %d reads version %d", v, cr, a.Version)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}
