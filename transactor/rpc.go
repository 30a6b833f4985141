package transactor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/engine/store"
	"github.com/hashicorp/raft"
)

// Node-to-node calls share the Raft mux. A connection carries one call:
//
//	'F' partition · u32 length · command      →  u32 length · encoded response
//	'J' 0         · u32 length · JSON request →  u32 length · JSON answer
//
// Forwarding lets any node accept writes: a follower sends the command to
// the partition's leader, which proposes it and answers. The leader never
// forwards again, so a call makes at most one hop.
const (
	prefaceForward = 'F'
	prefaceJoin    = 'J'
	maxFrame       = 64 << 20 // a batch is ~1 MiB; a transaction at most a few
	rpcTimeout     = 30 * time.Second
)

// ErrRejected is a forwarded batch's whole-batch rejection, with the
// leader's message.
var ErrRejected = errors.New("rejected by the leader")

func writeFrame(w io.Writer, b []byte) error {
	var n [4]byte
	le.PutUint32(n[:], uint32(len(b)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := le.Uint32(n[:])
	if size > maxFrame {
		return nil, fmt.Errorf("frame of %d bytes exceeds %d", size, maxFrame)
	}
	b := make([]byte, size)
	_, err := io.ReadFull(r, b)
	return b, err
}

// call dials addr, sends one framed request after the preface and reads
// the framed answer.
func call(ctx context.Context, addr string, preface [2]byte, req []byte) ([]byte, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	deadline := time.Now().Add(rpcTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)
	if _, err := conn.Write(preface[:]); err != nil {
		return nil, err
	}
	if err := writeFrame(conn, req); err != nil {
		return nil, err
	}
	return readFrame(conn)
}

// Response codes of a forwarded command.
const (
	fwdOK byte = iota
	fwdNotLeader
	fwdUnknown
	fwdRejected
)

// forward sends a command to the partition's leader.
func (p *Partition) forward(ctx context.Context, leader string, data []byte) (*Response, error) {
	ans, err := call(ctx, leader, [2]byte{prefaceForward, byte(p.cfg.Partition)}, data)
	if err != nil {
		// The leader may have received it: we cannot tell.
		return nil, fmt.Errorf("partition %d: forward to %s: %w (%v)", p.cfg.Partition, leader, ErrUnknownOutcome, err)
	}
	return decodeResponse(ans, p.cfg.Partition)
}

// serveForward proposes a forwarded command if this node leads the
// partition, and answers the outcome.
func (n *Node) serveForward(conn net.Conn, partition byte) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(rpcTimeout))
	data, err := readFrame(conn)
	if err != nil || int(partition) >= len(n.parts) {
		return
	}
	p := n.parts[partition]
	var resp *Response
	if p.raft.State() != raft.Leader {
		err = p.notLeader()
	} else {
		if len(data) >= headerSize { // the leader's clock stamps every batch
			le.PutUint64(data[8:], uint64(time.Now().UnixNano()))
			if err := p.reseal(data); err != nil {
				writeFrame(conn, encodeResponse(nil, err))
				return
			}
		}
		pr := &Proposal{p: p, f: p.raft.Apply(data, p.cfg.ApplyTimeout)}
		resp, err = pr.Wait()
	}
	writeFrame(conn, encodeResponse(resp, err))
}

// encodeResponse: code u8 · version u64 · n u32 · n × (timestamp u64,
// status u32) · txn (status u8 [0: none] · n u32 · n × conflict) · message.
func encodeResponse(resp *Response, err error) []byte {
	b := make([]byte, 1, 64)
	var nl *NotLeaderError
	switch {
	case errors.As(err, &nl):
		b[0] = fwdNotLeader
		return append(b, nl.Leader+"\x00"+nl.LeaderID...)
	case errors.Is(err, ErrUnknownOutcome):
		b[0] = fwdUnknown
		return append(b, err.Error()...)
	case err != nil && resp == nil:
		b[0] = fwdUnknown
		return append(b, err.Error()...)
	case err != nil:
		b[0] = fwdRejected
		return append(b, err.Error()...)
	}
	b = le.AppendUint64(b, resp.Version)
	b = le.AppendUint32(b, uint32(len(resp.Results)))
	for _, r := range resp.Results {
		b = le.AppendUint64(b, r.Timestamp)
		b = le.AppendUint32(b, r.Status)
	}
	if resp.Txn == nil {
		return append(b, 0)
	}
	t := resp.Txn
	b = append(b, byte(t.Status))
	b = le.AppendUint64(b, t.Version)
	b = le.AppendUint32(b, uint32(len(t.Conflicts)))
	for _, c := range t.Conflicts {
		b = le.AppendUint64(b, c.AccountID.Lo)
		b = le.AppendUint64(b, c.AccountID.Hi)
		b = appendKey(b, c.Key)
		if c.IsKey {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		b = le.AppendUint64(b, c.Expected)
		b = le.AppendUint64(b, c.Actual)
	}
	b = le.AppendUint32(b, uint32(len(t.Results)))
	for _, r := range t.Results {
		b = le.AppendUint64(b, r.Timestamp)
		b = le.AppendUint32(b, r.Status)
	}
	return b
}

func decodeResponse(b []byte, partition int) (*Response, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("partition %d: empty answer: %w", partition, ErrUnknownOutcome)
	}
	switch b[0] {
	case fwdNotLeader:
		addr, id, _ := cut(string(b[1:]))
		return nil, &NotLeaderError{Partition: partition, Leader: addr, LeaderID: id}
	case fwdUnknown:
		return nil, fmt.Errorf("partition %d: %w (%s)", partition, ErrUnknownOutcome, b[1:])
	case fwdRejected:
		return nil, fmt.Errorf("partition %d: %w: %s", partition, ErrRejected, b[1:])
	}
	r := &txnReader{b: b[1:]}
	resp := &Response{Version: r.u64()}
	resp.Results = readResults(r)
	if st := r.take(1)[0]; st != 0 {
		t := &store.TxnResult{Status: store.TxnStatus(st), Version: r.u64()}
		for n := r.count(43); n > 0 && r.err == nil; n-- {
			c := store.Conflict{AccountID: ledger.Uint128{Lo: r.u64(), Hi: r.u64()}, Key: r.key()}
			c.IsKey = r.take(1)[0] == 1
			c.Expected, c.Actual = r.u64(), r.u64()
			t.Conflicts = append(t.Conflicts, c)
		}
		t.Results = readResults(r)
		resp.Txn = t
	}
	if r.err != nil {
		return nil, fmt.Errorf("partition %d: bad answer: %v: %w", partition, r.err, ErrUnknownOutcome)
	}
	return resp, nil
}

func readResults(r *txnReader) []ledger.Result {
	n := r.count(12)
	out := make([]ledger.Result, 0, n)
	for ; n > 0 && r.err == nil; n-- {
		out = append(out, ledger.Result{Timestamp: r.u64(), Status: r.u32()})
	}
	return out
}

func cut(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// joinRequest asks a cluster member to add a node as a voter of the listed
// partitions (all of them when empty).
type joinRequest struct {
	ID         string `json:"id"`
	Addr       string `json:"addr"`
	Partitions []int  `json:"partitions,omitempty"`
}

type joinAnswer struct {
	Errors []string `json:"errors,omitempty"`
}

// Join asks the cluster member at addr (its Raft address) to add this node
// to every partition. Partitions the member does not lead are passed on to
// their leaders, one hop.
func (n *Node) Join(ctx context.Context, addr string) error {
	req, _ := json.Marshal(joinRequest{ID: n.id, Addr: n.Addr()})
	ans, err := call(ctx, addr, [2]byte{prefaceJoin, 0}, req)
	if err != nil {
		return fmt.Errorf("join via %s: %w", addr, err)
	}
	var a joinAnswer
	if err := json.Unmarshal(ans, &a); err != nil {
		return fmt.Errorf("join via %s: bad answer: %w", addr, err)
	}
	if len(a.Errors) > 0 {
		return fmt.Errorf("join via %s: %v", addr, a.Errors)
	}
	return nil
}

// serveJoin adds the asking node to the partitions this node leads and
// passes the others on to their leaders.
func (n *Node) serveJoin(conn net.Conn, hop byte) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(rpcTimeout))
	b, err := readFrame(conn)
	var req joinRequest
	if err != nil || json.Unmarshal(b, &req) != nil || req.ID == "" || req.Addr == "" {
		writeFrame(conn, []byte(`{"errors":["bad join request"]}`))
		return
	}
	parts := req.Partitions
	if len(parts) == 0 {
		for i := range n.parts {
			parts = append(parts, i)
		}
	}
	var a joinAnswer
	for _, i := range parts {
		if err := n.joinPartition(i, req, hop); err != nil {
			a.Errors = append(a.Errors, err.Error())
		}
	}
	out, _ := json.Marshal(a)
	writeFrame(conn, out)
}

func (n *Node) joinPartition(i int, req joinRequest, hop byte) error {
	if i < 0 || i >= len(n.parts) {
		return fmt.Errorf("no partition %d", i)
	}
	p := n.parts[i]
	if p.raft.State() == raft.Leader {
		f := p.raft.AddVoter(raft.ServerID(req.ID), raft.ServerAddress(req.Addr), 0, rpcTimeout)
		if err := f.Error(); err != nil {
			return fmt.Errorf("partition %d: add %s: %w", i, req.ID, err)
		}
		return nil
	}
	leader, _ := p.raft.LeaderWithID()
	if leader == "" || hop > 0 {
		return fmt.Errorf("partition %d: no leader to add %s", i, req.ID)
	}
	one, _ := json.Marshal(joinRequest{ID: req.ID, Addr: req.Addr, Partitions: []int{i}})
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	ans, err := call(ctx, string(leader), [2]byte{prefaceJoin, 1}, one)
	if err != nil {
		return fmt.Errorf("partition %d: pass join to %s: %w", i, leader, err)
	}
	var a joinAnswer
	if err := json.Unmarshal(ans, &a); err != nil || len(a.Errors) > 0 {
		return fmt.Errorf("partition %d: leader %s: %v %v", i, leader, a.Errors, err)
	}
	return nil
}

// prefaceReadIndex asks a partition's leader for its applied version
// ('I' partition → u32 length · u64 version, or empty if not the leader).
const prefaceReadIndex = 'I'

// ReadBarrier makes a following read of this node's store linearizable:
// on the leader, a quorum round trip confirms it still leads; on a
// follower, the leader's applied version is fetched (after the same
// confirmation) and the local store waited for until it has applied it.
func (p *Partition) ReadBarrier(ctx context.Context) error {
	if p.IsLeader() && p.raft.VerifyLeader().Error() == nil {
		return nil
	}
	leader, _ := p.raft.LeaderWithID()
	if leader == "" {
		return p.notLeader()
	}
	ans, err := call(ctx, string(leader), [2]byte{prefaceReadIndex, byte(p.cfg.Partition)}, nil)
	if err != nil || len(ans) != 8 {
		return p.notLeader()
	}
	return p.store.WaitApplied(ctx, le.Uint64(ans))
}

func (n *Node) serveReadIndex(conn net.Conn, partition byte) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(rpcTimeout))
	if _, err := readFrame(conn); err != nil || int(partition) >= len(n.parts) {
		return
	}
	p := n.parts[partition]
	if !p.IsLeader() || p.raft.VerifyLeader().Error() != nil {
		writeFrame(conn, nil)
		return
	}
	writeFrame(conn, le.AppendUint64(nil, p.store.Applied()))
}
