package valuesplit_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	vs "github.com/conto-ledger/conto/engine/valuesplit"
)

// TestConcurrentUseDuringRotation: users store and fetch items while the
// center rotates handles and the monitor verifies the chain. Every item
// comes back intact, whichever epoch it was stored in.
func TestConcurrentUseDuringRotation(t *testing.T) {
	w := newWorld(t)
	a := w.cluster("a")
	const workers, perWorker = 4, 12
	for i := range workers {
		w.user(fmt.Sprint("u", i))
	}
	type item struct {
		user string
		id   vs.ItemID
		data []byte
	}
	var mu sync.Mutex
	var items []item
	var wg sync.WaitGroup
	errs := make(chan error, workers+2)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprint("u", i)
			for j := range perWorker {
				d := []byte(fmt.Sprintf("worker %d item %d", i, j))
				info, err := a.Put(bg, user, "n", d)
				if err != nil {
					errs <- fmt.Errorf("put: %w", err)
					return
				}
				got, _, err := a.Get(bg, user, info.ID)
				if err != nil || !bytes.Equal(got, d) {
					errs <- fmt.Errorf("get right after put: %v", err)
					return
				}
				mu.Lock()
				items = append(items, item{user, info.ID, d})
				mu.Unlock()
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range 5 {
			rot, err := w.center.Rotate(bg)
			if err != nil {
				errs <- fmt.Errorf("rotate: %w", err)
				return
			}
			if _, err := a.ApplyRotation(bg, rot.Mappings["a"]); err != nil {
				errs <- fmt.Errorf("apply rotation: %w", err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range 10 {
			if r, err := w.center.Verify(bg); err != nil || !r.OK() {
				errs <- fmt.Errorf("verify: %+v %v", r, err)
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(items) != workers*perWorker {
		t.Fatalf("%d items stored", len(items))
	}
	for _, it := range items {
		if got := w.get(a, it.user, it.id); !bytes.Equal(got, it.data) {
			t.Fatal("bytes differ")
		}
	}
	if e, _ := w.center.Epoch(bg); e != 6 || a.Store().Epoch() != 6 {
		t.Fatalf("epochs: center %d, store %d", e, a.Store().Epoch())
	}
}
