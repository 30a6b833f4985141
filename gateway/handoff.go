package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/conto-ledger/conto/engine"
	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/shm"
	"github.com/conto-ledger/conto/transactor"
)

// The batch hand-off: DESIGN's "batcher → ring (shm) → data-service
// worker". The HTTP side's batchers commit each coalesced batch by writing
// it to a shared-memory ring as one frame of 128-byte records; a worker on
// the engine side commits it and answers with the results (16 bytes per
// event) or the error, in a frame with the same id. One frame per batch, so
// the ring's cost is paid per batch, not per request.
//
// Batch frames start with byte 0, which no HTTP request does, so the same
// rings also carry whole HTTP requests from a separate front (ring.go).
//
//	request: 0 · kind u8 (1 accounts, 2 transfers) · count u32 · records
//	answer:  0 · code u8 · then for code 0 count×16-byte results, else:
//	         partition u32 · leader id u16-prefixed · leader u16-prefixed ·
//	         message (the rest)

const (
	frameBatch     = 0
	batchAccounts  = 1
	batchTransfers = 2
	handoffIO      = 30 * time.Second
)

// Answer codes: how a batch's error crosses the ring.
const (
	answerOK uint8 = iota
	answerUnknownOutcome
	answerNotLeader
	answerSpansPartitions
	answerTimeout
	answerStopped
	answerOther
)

// Handoff is the HTTP side of the ring: it commits batches through the
// engine side (ServeHandoff) and gives each caller its own results.
type Handoff struct {
	conn   *shm.Conn
	sendMu sync.Mutex
	mu     sync.Mutex // guards next, wait and gone
	next   uint64
	wait   map[uint64]chan []byte
	gone   bool
	done   chan struct{}
}

// NewHandoff starts reading answers on conn.
func NewHandoff(conn *shm.Conn) *Handoff {
	h := &Handoff{conn: conn, wait: map[uint64]chan []byte{}, done: make(chan struct{})}
	go h.readAnswers()
	return h
}

// Close closes the ring; batches in flight end with an unknown outcome.
func (h *Handoff) Close() error {
	err := h.conn.Close()
	<-h.done
	return err
}

func (h *Handoff) readAnswers() {
	defer close(h.done)
	var buf []byte
	for {
		id, frame, err := h.conn.Recv(buf, time.Hour)
		if errors.Is(err, shm.ErrTimeout) {
			continue
		}
		if err != nil {
			break
		}
		answer := append([]byte(nil), frame...)
		buf = frame
		h.mu.Lock()
		ch := h.wait[id]
		delete(h.wait, id)
		h.mu.Unlock()
		if ch != nil {
			ch <- answer
		}
	}
	h.mu.Lock()
	h.gone = true
	for id, ch := range h.wait {
		close(ch) // the engine side is gone: outcome unknown
		delete(h.wait, id)
	}
	h.mu.Unlock()
}

// CreateAccounts commits a batch of accounts through the ring.
func (h *Handoff) CreateAccounts(ctx context.Context, accts []ledger.Account) ([]ledger.Result, error) {
	frame := batchFrame(batchAccounts, len(accts))
	for i := range accts {
		ledger.EncodeAccount(frame[6+i*ledger.RecordSize:], &accts[i])
	}
	return h.commit(ctx, frame, len(accts))
}

// CreateTransfers commits a batch of transfers through the ring.
func (h *Handoff) CreateTransfers(ctx context.Context, ts []ledger.Transfer) ([]ledger.Result, error) {
	frame := batchFrame(batchTransfers, len(ts))
	for i := range ts {
		ledger.EncodeTransfer(frame[6+i*ledger.RecordSize:], &ts[i])
	}
	return h.commit(ctx, frame, len(ts))
}

func batchFrame(kind byte, n int) []byte {
	frame := make([]byte, 6+n*ledger.RecordSize)
	frame[0], frame[1] = frameBatch, kind
	binary.LittleEndian.PutUint32(frame[2:], uint32(n))
	return frame
}

// commit sends one batch frame and waits for its answer. Once the frame is
// sent, a lost answer is an unknown outcome, never a failure.
func (h *Handoff) commit(ctx context.Context, frame []byte, n int) ([]ledger.Result, error) {
	ch := make(chan []byte, 1)
	h.mu.Lock()
	if h.gone {
		h.mu.Unlock()
		return nil, fmt.Errorf("%w: the engine's ring is closed", errStopping)
	}
	h.next++
	id := h.next
	h.wait[id] = ch
	h.mu.Unlock()
	h.sendMu.Lock()
	err := h.conn.Send(id, frame, handoffIO)
	h.sendMu.Unlock()
	if err != nil {
		h.mu.Lock()
		delete(h.wait, id)
		h.mu.Unlock()
		return nil, fmt.Errorf("%w: hand the batch to the engine: %v", errStopping, err)
	}
	select {
	case answer, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("%w: the engine went away", engine.ErrUnknownOutcome)
		}
		return decodeAnswer(answer, n)
	case <-ctx.Done():
		h.mu.Lock()
		delete(h.wait, id)
		h.mu.Unlock()
		return nil, errUnknownAfterTimeout
	}
}

// decodeAnswer turns an answer frame back into results or the error.
func decodeAnswer(a []byte, n int) ([]ledger.Result, error) {
	if len(a) < 2 || a[0] != frameBatch {
		return nil, fmt.Errorf("%w: malformed answer from the engine", engine.ErrUnknownOutcome)
	}
	if a[1] == answerOK {
		if len(a) != 2+n*ledger.ResultSize {
			return nil, fmt.Errorf("%w: answer of %d bytes for %d events", engine.ErrUnknownOutcome, len(a), n)
		}
		res := make([]ledger.Result, n)
		for i := range res {
			r := a[2+i*ledger.ResultSize:]
			res[i] = ledger.Result{Timestamp: binary.LittleEndian.Uint64(r), Status: binary.LittleEndian.Uint32(r[8:])}
		}
		return res, nil
	}
	nl, msg, ok := decodeErrorBody(a[2:])
	if !ok {
		return nil, fmt.Errorf("%w: malformed error answer from the engine", engine.ErrUnknownOutcome)
	}
	switch a[1] {
	case answerUnknownOutcome:
		return nil, fmt.Errorf("%w: %s", engine.ErrUnknownOutcome, msg)
	case answerNotLeader:
		return nil, nl
	case answerSpansPartitions:
		return nil, fmt.Errorf("%s: %w", msg, engine.ErrChainSpansPartitions)
	case answerTimeout:
		return nil, fmt.Errorf("%s: %w", msg, context.DeadlineExceeded)
	case answerStopped:
		return nil, fmt.Errorf("%w: %s", errStopping, msg)
	}
	return nil, errors.New(msg)
}

func decodeErrorBody(b []byte) (*transactor.NotLeaderError, string, bool) {
	if len(b) < 4 {
		return nil, "", false
	}
	nl := &transactor.NotLeaderError{Partition: int(binary.LittleEndian.Uint32(b))}
	b = b[4:]
	var ok bool
	if nl.LeaderID, b, ok = takeString(b); !ok {
		return nil, "", false
	}
	if nl.Leader, b, ok = takeString(b); !ok {
		return nil, "", false
	}
	return nl, string(b), true
}

func takeString(b []byte) (string, []byte, bool) {
	if len(b) < 2 || len(b) < 2+int(binary.LittleEndian.Uint16(b)) {
		return "", nil, false
	}
	n := int(binary.LittleEndian.Uint16(b))
	return string(b[2 : 2+n]), b[2+n:], true
}

// serveBatch commits one batch frame with the engine and returns the
// answer frame.
func serveBatch(ctx context.Context, eng *engine.Engine, frame []byte) []byte {
	if len(frame) < 6 {
		return errorAnswer(answerOther, errors.New("malformed batch frame"))
	}
	n := int(binary.LittleEndian.Uint32(frame[2:]))
	recs := frame[6:]
	if n < 1 || n > ledger.MaxBatchEvents || len(recs) != n*ledger.RecordSize {
		return errorAnswer(answerOther, fmt.Errorf("batch frame of %d bytes for %d events", len(frame), n))
	}
	var (
		res []ledger.Result
		err error
	)
	switch frame[1] {
	case batchAccounts:
		var accts []ledger.Account
		if accts, err = ledger.DecodeAccounts(recs); err == nil {
			res, err = eng.CreateAccounts(ctx, accts)
		}
	case batchTransfers:
		var ts []ledger.Transfer
		if ts, err = ledger.DecodeTransfers(recs); err == nil {
			res, err = eng.CreateTransfers(ctx, ts)
		}
	default:
		err = fmt.Errorf("batch frame of kind %d", frame[1])
	}
	if err != nil {
		return errorAnswer(answerCode(err), err)
	}
	out := make([]byte, 2+len(res)*ledger.ResultSize)
	for i, r := range res {
		binary.LittleEndian.PutUint64(out[2+i*ledger.ResultSize:], r.Timestamp)
		binary.LittleEndian.PutUint32(out[2+i*ledger.ResultSize+8:], r.Status)
	}
	return out
}

func answerCode(err error) uint8 {
	var nl *transactor.NotLeaderError
	switch {
	case errors.Is(err, engine.ErrUnknownOutcome):
		return answerUnknownOutcome
	case errors.As(err, &nl):
		return answerNotLeader
	case errors.Is(err, engine.ErrChainSpansPartitions):
		return answerSpansPartitions
	case errors.Is(err, context.DeadlineExceeded):
		return answerTimeout
	case errors.Is(err, transactor.ErrStopped):
		return answerStopped
	}
	return answerOther
}

func errorAnswer(code uint8, err error) []byte {
	out := []byte{frameBatch, code, 0, 0, 0, 0}
	var nl *transactor.NotLeaderError
	if errors.As(err, &nl) {
		binary.LittleEndian.PutUint32(out[2:], uint32(nl.Partition))
		out = appendString(out, nl.LeaderID)
		out = appendString(out, nl.Leader)
	} else {
		out = appendString(appendString(out, ""), "")
	}
	return append(out, err.Error()...)
}

func appendString(b []byte, s string) []byte {
	if len(s) > 0xFFFF {
		s = s[:0xFFFF]
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// InProcessHandoff connects the HTTP side of one process to its own engine
// through shared-memory rings (conto serve's default): a unix socket in a
// temporary directory hands the rings over, exactly as to a separate
// front. It returns the HTTP side and a function that stops both.
func InProcessHandoff(eng *engine.Engine, serve func(*shm.Conn)) (*Handoff, func(), error) {
	dir, err := os.MkdirTemp("", "conto-ring-")
	if err != nil {
		return nil, nil, err
	}
	path := filepath.Join(dir, "engine.sock")
	ln, err := shm.Listen(path, RingCapacity)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	accepted := make(chan *shm.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	front, err := shm.Dial(path, 5*time.Second)
	ln.Close()
	os.RemoveAll(dir) // the rings are mapped; the socket file is no longer needed
	if err != nil {
		return nil, nil, err
	}
	back, ok := <-accepted
	if !ok {
		front.Close()
		return nil, nil, errors.New("gateway: the in-process ring was not accepted")
	}
	served := make(chan struct{})
	go func() { serve(back); close(served) }()
	h := NewHandoff(front)
	return h, func() { h.Close(); <-served }, nil
}
