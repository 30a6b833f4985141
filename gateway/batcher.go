package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/conto-ledger/conto/engine"
	"github.com/conto-ledger/conto/engine/ledger"
)

var (
	// errStopping: the server is shutting down; the request was not applied.
	errStopping = errors.New("server is shutting down")
	// errUnknownAfterTimeout: the request timed out while its batch was
	// being committed.
	errUnknownAfterTimeout = fmt.Errorf("%w: timed out while committing", engine.ErrUnknownOutcome)
)

// batcher coalesces concurrent requests of one kind into batches, as group
// commit does: a batch takes a free commit slot first, then everything
// queued meanwhile (up to a count of events), so batches grow with the load
// and an idle server adds no delay. An optional time window (the seed's
// buffering threshold) makes a batch wait for more requests. A request's events stay contiguous and in order, so its linked
// chains are never split, and each request gets exactly its own results.
// A request whose last event is linked (a chain left open) always ends its
// batch, so the open chain fails as it would alone, instead of swallowing
// the next request's events.
type batcher[E any] struct {
	commit    func(ctx context.Context, events []E) ([]ledger.Result, error)
	observe   func(events, requests int, d time.Duration) // optional
	linked    func(*E) bool
	maxEvents int
	window    time.Duration
	queue     chan *pending[E]
	inFlight  chan struct{} // bounds the merged batches being committed
	settled   chan struct{} // a batch finished committing (capacity 1)
	stop      chan struct{}
	wg        sync.WaitGroup
	// closing makes "enqueue" and "stop" exclusive, so no request is queued
	// after the queue was drained at shutdown.
	closing sync.RWMutex
	closed  bool
}

// pending is one request waiting in the batcher.
type pending[E any] struct {
	events []E
	done   chan outcome
}

type outcome struct {
	results []ledger.Result
	err     error
}

const (
	batcherQueue = 4096 // requests waiting; beyond it callers block (back-pressure)
	// batcherInFlight bounds the merged batches being committed at once. A
	// batch that is not full waits until no other is in flight (see run),
	// so only full batches overlap.
	batcherInFlight = 2
)

func newBatcher[E any](commit func(context.Context, []E) ([]ledger.Result, error), linked func(*E) bool,
	maxEvents int, window time.Duration) *batcher[E] {
	b := &batcher[E]{commit: commit, linked: linked, maxEvents: maxEvents, window: window,
		queue: make(chan *pending[E], batcherQueue), inFlight: make(chan struct{}, batcherInFlight),
		settled: make(chan struct{}, 1), stop: make(chan struct{})}
	b.wg.Add(1)
	go b.run()
	return b
}

// submit queues a request's events and waits for their results. If ctx
// ends while the merged batch is in flight, the outcome is unknown.
func (b *batcher[E]) submit(ctx context.Context, events []E) ([]ledger.Result, error) {
	p := &pending[E]{events: events, done: make(chan outcome, 1)}
	if err := b.enqueue(ctx, p); err != nil {
		return nil, err // never queued: nothing applied
	}
	select {
	case o := <-p.done:
		return o.results, o.err
	case <-ctx.Done():
		return nil, errUnknownAfterTimeout
	}
}

func (b *batcher[E]) enqueue(ctx context.Context, p *pending[E]) error {
	b.closing.RLock()
	defer b.closing.RUnlock()
	if b.closed {
		return errStopping
	}
	select {
	case b.queue <- p:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run collects requests into batches and dispatches them.
func (b *batcher[E]) run() {
	defer b.wg.Done()
	var carry *pending[E] // a request that did not fit the last batch
	for {
		first := carry
		if first == nil {
			select {
			case first = <-b.queue:
			case <-b.stop:
				b.refuseQueued()
				return
			}
		}
		// Wait for a commit slot first: requests arriving meanwhile join
		// this batch. A batch that cannot be full yet also waits for the
		// one in flight: measured on one node (bench/RESULTS.md), one
		// growing batch at a time beats two small ones, while full batches
		// gain from overlapping one's fsync with the other's apply.
		b.inFlight <- struct{}{}
		if len(first.events) < b.maxEvents {
			b.awaitAlone()
		}
		var group []*pending[E]
		group, carry = b.collect(first)
		b.wg.Add(1)
		go b.dispatch(group)
	}
}

// refuseQueued answers the requests still queued at shutdown: nothing of
// theirs was applied.
func (b *batcher[E]) refuseQueued() {
	for {
		select {
		case p := <-b.queue:
			p.done <- outcome{err: errStopping}
		default:
			return
		}
	}
}

// collect gathers requests after first until the batch is full, the window
// has passed, or a request ends with an open chain. A request that does not
// fit is returned as carry, for the next batch.
func (b *batcher[E]) collect(first *pending[E]) (group []*pending[E], carry *pending[E]) {
	group = []*pending[E]{first}
	n := len(first.events)
	if b.endsOpen(first) {
		return group, nil
	}
	var deadline <-chan time.Time // nil: take only what is queued now
	if b.window > 0 {
		timer := time.NewTimer(b.window)
		defer timer.Stop()
		deadline = timer.C
	}
	for n < b.maxEvents {
		var p *pending[E]
		select {
		case p = <-b.queue:
		case <-deadline:
			return group, nil
		default:
			if deadline == nil {
				return group, nil
			}
			select {
			case p = <-b.queue:
			case <-deadline:
				return group, nil
			}
		}
		if n+len(p.events) > b.maxEvents {
			return group, p
		}
		group = append(group, p)
		n += len(p.events)
		if b.endsOpen(p) {
			return group, nil
		}
	}
	return group, nil
}

// awaitAlone waits until the caller's slot is the only one taken. A stale
// signal in settled only costs one more look at the count.
func (b *batcher[E]) awaitAlone() {
	for len(b.inFlight) > 1 {
		<-b.settled
	}
}

func (b *batcher[E]) endsOpen(p *pending[E]) bool {
	return len(p.events) > 0 && b.linked(&p.events[len(p.events)-1])
}

// dispatch commits one merged batch and hands each request its results.
func (b *batcher[E]) dispatch(group []*pending[E]) {
	defer b.wg.Done()
	defer func() {
		<-b.inFlight
		select {
		case b.settled <- struct{}{}:
		default:
		}
	}()
	var events []E
	if len(group) == 1 {
		events = group[0].events
	} else {
		for _, p := range group {
			events = append(events, p.events...)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	results, err := b.commit(ctx, events)
	if b.observe != nil {
		b.observe(len(events), len(group), time.Since(start))
	}
	off := 0
	for _, p := range group {
		if err != nil {
			p.done <- outcome{err: err}
			continue
		}
		p.done <- outcome{results: results[off : off+len(p.events)]}
		off += len(p.events)
	}
}

// close stops collecting and waits for batches in flight.
func (b *batcher[E]) close() {
	b.closing.Lock()
	b.closed = true
	b.closing.Unlock()
	close(b.stop)
	b.wg.Wait()
}
