package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/partition"
	"github.com/conto-ledger/conto/transactor"
)

// Engine routes a request's events to the partitions that own them, commits
// each partition's share as one batch, and merges the results back into the
// request's order.
//
// Events of different partitions commit independently (in parallel). A
// linked chain must live in one partition: until cross-partition commits
// exist, a transfer whose accounts are in different partitions answers
// accounts_in_different_partitions, and a chain spanning partitions fails
// as a chain.
type Engine struct {
	parts []*transactor.Partition
	pmap  partition.Map
}

// New returns an engine over a node's partitions.
func New(node *transactor.Node) *Engine {
	return &Engine{parts: node.Partitions(), pmap: node.Map()}
}

// Request errors. ErrUnknownOutcome means at least one partition's share may
// or may not have committed: retry the whole request with the same ids, and
// idempotency makes that safe (SPEC §2).
var (
	ErrChainSpansPartitions = errors.New("a linked chain of accounts spans partitions")
	ErrUnknownOutcome       = transactor.ErrUnknownOutcome
)

// route is where one event goes: a partition, or a status decided here.
type route struct {
	partition int
	status    ledger.TransferStatus // non-zero: answered without committing
}

// CheckAccounts rejects accounts whose linked chains span partitions, the
// request-level error of CreateAccounts. A gateway checks each request
// before coalescing it, so one bad request cannot fail the others merged
// with it.
func (e *Engine) CheckAccounts(accts []ledger.Account) error {
	_, err := e.accountRoutes(accts)
	return err
}

func (e *Engine) accountRoutes(accts []ledger.Account) ([]route, error) {
	routes := make([]route, len(accts))
	for i := range accts {
		routes[i].partition = e.pmap.OfID(accts[i].ID.Lo, accts[i].ID.Hi)
	}
	err := sameChainPartition(len(accts), func(i int) bool { return accts[i].Flags&ledger.AccountLinked != 0 }, routes)
	return routes, err
}

// CreateAccounts creates accounts (1..8189), each in its id's partition.
func (e *Engine) CreateAccounts(ctx context.Context, accts []ledger.Account) ([]ledger.Result, error) {
	if err := ledger.CheckEvents(len(accts)); err != nil {
		return nil, err
	}
	routes, err := e.accountRoutes(accts)
	if err != nil {
		return nil, err
	}
	return e.commit(ctx, routes, func(p int, idx []int) *ledger.Batch {
		b := &ledger.Batch{Kind: ledger.KindAccounts, Accounts: make([]ledger.Account, len(idx))}
		for j, i := range idx {
			b.Accounts[j] = accts[i]
		}
		return b
	})
}

// CreateTransfers creates transfers (1..8189), each in its accounts'
// partition.
func (e *Engine) CreateTransfers(ctx context.Context, ts []ledger.Transfer) ([]ledger.Result, error) {
	if err := ledger.CheckEvents(len(ts)); err != nil {
		return nil, err
	}
	routes := make([]route, len(ts))
	for i := range ts {
		routes[i] = e.routeTransfer(&ts[i])
	}
	failTransferChains(ts, routes)
	return e.commit(ctx, routes, func(p int, idx []int) *ledger.Batch {
		b := &ledger.Batch{Kind: ledger.KindTransfers, Transfers: make([]ledger.Transfer, len(idx))}
		for j, i := range idx {
			b.Transfers[j] = ts[i]
		}
		return b
	})
}

// routeTransfer places a transfer with its debit account. A post or void
// that leaves the accounts zero goes where its pending transfer is.
func (e *Engine) routeTransfer(t *ledger.Transfer) route {
	if e.pmap.Partitions == 1 {
		return route{}
	}
	dr, cr := t.DebitAccountID, t.CreditAccountID
	if dr.IsZero() && cr.IsZero() && !t.PendingID.IsZero() {
		for i, p := range e.parts {
			if pt, ok := p.Store().Transfer(t.PendingID); ok {
				return route{partition: i, status: e.sameAccounts(pt.DebitAccountID, pt.CreditAccountID)}
			}
		}
		// Not known here: answer without committing, so the id is not
		// marked failed for ever by a routing guess.
		return route{status: ledger.TransferPendingTransferNotFound}
	}
	if dr.IsZero() {
		dr = cr
	}
	if cr.IsZero() {
		cr = dr
	}
	return route{partition: e.pmap.OfID(dr.Lo, dr.Hi), status: e.sameAccounts(dr, cr)}
}

func (e *Engine) sameAccounts(dr, cr ledger.Uint128) ledger.TransferStatus {
	if e.pmap.OfID(dr.Lo, dr.Hi) != e.pmap.OfID(cr.Lo, cr.Hi) {
		return ledger.TransferAccountsInDifferentPartitions
	}
	return 0
}

// chains calls fn with the [start, end] of every linked chain (end is the
// last event of the chain, or the last event of the request if it is open).
func chains(n int, linked func(int) bool, fn func(start, end int)) {
	for i := 0; i < n; i++ {
		if !linked(i) {
			continue
		}
		start := i
		for i < n-1 && linked(i) {
			i++
		}
		fn(start, i)
	}
}

// sameChainPartition rejects an accounts request whose chain spans
// partitions (accounts have no status for it).
func sameChainPartition(n int, linked func(int) bool, routes []route) error {
	var err error
	chains(n, linked, func(start, end int) {
		for i := start + 1; i <= end && err == nil; i++ {
			if routes[i].partition != routes[start].partition {
				err = fmt.Errorf("events %d..%d: %w", start, end, ErrChainSpansPartitions)
			}
		}
	})
	return err
}

// failTransferChains fails, here, every linked chain of transfers that
// cannot commit in one partition: the first event that cannot (decided
// here, or in another partition than the chain's first event) reports its
// status, the others linked_event_failed, as a chain that failed would.
func failTransferChains(ts []ledger.Transfer, routes []route) {
	chains(len(ts), func(i int) bool { return ts[i].Flags&ledger.TransferLinked != 0 }, func(start, end int) {
		bad := -1
		for i := start; i <= end && bad < 0; i++ {
			if routes[i].status != 0 || routes[i].partition != routes[start].partition {
				bad = i
			}
		}
		if bad < 0 {
			return
		}
		if routes[bad].status == 0 {
			routes[bad].status = ledger.TransferAccountsInDifferentPartitions
		}
		for i := start; i <= end; i++ {
			if i != bad {
				routes[i].status = ledger.TransferLinkedEventFailed
			}
		}
	})
}

// commit submits each partition's share in parallel and merges the results.
func (e *Engine) commit(ctx context.Context, routes []route, build func(p int, idx []int) *ledger.Batch) ([]ledger.Result, error) {
	results := make([]ledger.Result, len(routes))
	shares := make([][]int, len(e.parts))
	for i, r := range routes {
		if r.status != 0 {
			results[i] = ledger.Result{Status: uint32(r.status)}
			continue
		}
		shares[r.partition] = append(shares[r.partition], i)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for p, idx := range shares {
		if len(idx) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := e.parts[p].Submit(ctx, build(p, idx))
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			for j, i := range idx {
				results[i] = resp.Results[j]
			}
		}()
	}
	wg.Wait()
	took := 0
	for _, idx := range shares {
		if len(idx) > 0 {
			took++
		}
	}
	return results, requestError(errs, took)
}

// requestError folds the partitions' errors into the request's. When more
// than one partition took part, any failure makes the request's outcome
// unknown: another share may have committed.
func requestError(errs []error, partitions int) error {
	if len(errs) == 0 {
		return nil
	}
	err := errors.Join(errs...)
	var nl *transactor.NotLeaderError
	if partitions > 1 && !errors.Is(err, ErrUnknownOutcome) {
		return fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
	}
	if len(errs) == 1 && errors.As(errs[0], &nl) {
		return nl
	}
	return err
}

// ErrCorrectionTarget: a correction names a transfer that does not exist in
// the correcting transfer's partition.
var ErrCorrectionTarget = errors.New("the corrected transfer does not exist in the correcting transfer's partition")

// CorrectTransfer creates transfer t as a correction of transfer corrects
// (seed 004, claim 41): nothing is rewritten; t's chain entry links the
// corrected transfer's intermediate hash. t commits alone, in one batch.
func (e *Engine) CorrectTransfer(ctx context.Context, t ledger.Transfer, corrects ledger.Uint128) (ledger.Result, error) {
	r := e.routeTransfer(&t)
	if r.status != 0 {
		return ledger.Result{Status: uint32(r.status)}, nil
	}
	p := e.parts[r.partition]
	if _, ok := p.Store().Transfer(corrects); !ok {
		return ledger.Result{}, fmt.Errorf("%w: transfer %v", ErrCorrectionTarget, corrects)
	}
	b := &ledger.Batch{Kind: ledger.KindTransfers, Transfers: []ledger.Transfer{t},
		Corrections: []ledger.Correction{{Index: 0, Corrects: corrects}}}
	resp, err := p.Submit(ctx, b)
	if err != nil {
		return ledger.Result{}, err
	}
	return resp.Results[0], nil
}
