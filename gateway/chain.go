package gateway

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/conto-ledger/conto/engine"
	"github.com/conto-ledger/conto/engine/hashchain"
	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/engine/store"
	"github.com/conto-ledger/conto/gateway/wire"
	"github.com/conto-ledger/conto/transactor"
	"github.com/valyala/fasthttp"
)

// The hash-chain API (docs/api.md, "Hash chains"): account chains, chain
// blocks, transfer proofs and signed checkpoints.

const (
	defaultChainLimit = 100
	maxChainLimit     = 1000 // records or blocks per page
	maxChainRecord    = 1 << 62
)

// pageArgs reads ?from and ?limit.
func pageArgs(ctx *fasthttp.RequestCtx) (from uint64, limit int, ok bool) {
	args := ctx.QueryArgs()
	limit = defaultChainLimit
	if args.Has("from") {
		v, err := strconv.ParseUint(string(args.Peek("from")), 10, 64)
		if err != nil {
			writeError(ctx, 400, "invalid_query", "from must be a decimal u64")
			return 0, 0, false
		}
		from = v
	}
	if args.Has("limit") {
		v, err := strconv.Atoi(string(args.Peek("limit")))
		if err != nil || v < 1 || v > maxChainLimit {
			writeError(ctx, 400, "invalid_query", fmt.Sprintf("limit must be 1..%d", maxChainLimit))
			return 0, 0, false
		}
		limit = v
	}
	return from, limit, true
}

// accountChain serves GET /v1/accounts/{id}/chain.
func (s *Server) accountChain(ctx *fasthttp.RequestCtx, idText string) {
	id, ok := parseID(ctx, idText)
	if !ok {
		return
	}
	from, limit, ok := pageArgs(ctx)
	if !ok {
		return
	}
	p, ok := s.readPartition(ctx, id)
	if !ok {
		return
	}
	if from > maxChainRecord {
		writeError(ctx, 400, "invalid_query", fmt.Sprintf("from must be at most %d", maxChainRecord))
		return
	}
	recs, more, found, err := p.Store().AccountChain(id, int(from), limit)
	if err != nil {
		s.chainError(ctx, err)
		return
	}
	if !found {
		writeError(ctx, 404, "not_found", "no account "+id.String())
		return
	}
	out := wire.AccountChain{AccountID: wire.U128(id), From: int(from), Records: make([]wire.ChainRecord, len(recs))}
	for i := range recs {
		out.Records[i] = wire.FromAccountRecord(&recs[i], s.cfg.PrivateChains)
	}
	if more {
		next := int(from) + len(recs)
		out.Next = &next
	}
	writeJSON(ctx, 200, out)
}

// chainBlocks serves GET /v1/chain/blocks?partition=P&from=V&limit=N.
func (s *Server) chainBlocks(ctx *fasthttp.RequestCtx) {
	if s.cfg.PrivateChains {
		writeError(ctx, 403, "private_chains", "chain blocks are not served in private chain view (--chain-view private): they would open every commitment; audit the data directory with conto verify --data")
		return
	}
	from, limit, ok := pageArgs(ctx)
	if !ok {
		return
	}
	p, ok := s.partitionArg(ctx)
	if !ok || !s.barrier(ctx, p) {
		return
	}
	blocks, next, err := p.Store().ChainBlocks(from, limit)
	if err != nil {
		s.chainError(ctx, err)
		return
	}
	out := wire.ChainBlocks{Blocks: make([]wire.ChainBlock, len(blocks))}
	for i := range blocks {
		out.Blocks[i] = chainBlockJSON(p.Number(), &blocks[i])
	}
	if next != 0 {
		n := wire.U64(next)
		out.Next = &n
	}
	writeJSON(ctx, 200, out)
}

func chainBlockJSON(partition int, sb *store.ChainBlockRecords) wire.ChainBlock {
	b := sb.Block
	stamp := make([]byte, hashchain.StampSize)
	b.Stamp.Encode(stamp)
	out := wire.ChainBlock{Partition: uint32(partition), Version: wire.U64(b.Version), Alg: b.Alg.String(),
		Time: wire.U64(b.Time), Stamp: stamp, Prev: b.Prev, System: b.System, Root: b.Root,
		Genesis: make([]wire.ChainGenesis, len(b.Genesis)), Events: make([]wire.ChainEvent, len(b.Events)),
		Transfers: make([]wire.Transfer, len(sb.Transfers))}
	for i, g := range b.Genesis {
		out.Genesis[i] = wire.ChainGenesis{Account: wire.FromAccount(&sb.Accounts[i]), Hash: g.Hash}
	}
	for i := range b.Events {
		ev := &b.Events[i]
		kind := "transfer"
		if ev.Kind == hashchain.EventExpiry {
			kind = "expiry"
		}
		out.Events[i] = wire.ChainEvent{Kind: kind, Slot: ev.Slot, ID: wire.U128(ev.ID), Timestamp: wire.U64(ev.Timestamp),
			DebitAccountID: wire.U128(ev.DebitID), CreditAccountID: wire.U128(ev.CreditID), M: ev.M,
			DebitPrev: ev.DebitPrev, CreditPrev: ev.CreditPrev,
			DebitPrevAlg: ev.DebitPrevAlg.String(), CreditPrevAlg: ev.CreditPrevAlg.String(),
			Debit: wire.FromBalances(&ev.Debit), Credit: wire.FromBalances(&ev.Credit)}
		if ev.Link != nil {
			out.Events[i].Corrects = &wire.ChainLink{TransferID: wire.U128(ev.Link.ID), M: ev.Link.M}
		}
	}
	for i := range sb.Transfers {
		out.Transfers[i] = wire.FromTransfer(&sb.Transfers[i])
	}
	return out
}

// partitionArg reads ?partition (default 0).
func (s *Server) partitionArg(ctx *fasthttp.RequestCtx) (*transactor.Partition, bool) {
	n := 0
	if a := ctx.QueryArgs().Peek("partition"); a != nil {
		v, err := strconv.Atoi(string(a))
		if err != nil || v < 0 || v >= len(s.cfg.Node.Partitions()) {
			writeError(ctx, 400, "invalid_query", fmt.Sprintf("partition must be 0..%d", len(s.cfg.Node.Partitions())-1))
			return nil, false
		}
		n = v
	}
	return s.cfg.Node.Partition(n), true
}

// checkpoints serves GET /v1/checkpoints/latest (now=false) and
// POST /v1/checkpoints (now=true): one signed checkpoint per partition.
func (s *Server) checkpoints(ctx *fasthttp.RequestCtx, now bool) {
	var out []wire.Checkpoint
	for _, p := range s.cfg.Node.Partitions() {
		if now && !s.barrier(ctx, p) {
			return
		}
		cp, err := p.Checkpoint(now)
		if errors.Is(err, transactor.ErrNoCheckpoint) {
			continue
		}
		if err != nil {
			s.chainError(ctx, err)
			return
		}
		out = append(out, wire.FromCheckpoint(&cp))
	}
	if out == nil {
		writeError(ctx, 404, "not_found", "no signed checkpoint yet: nothing has been committed, or this node has no key")
		return
	}
	writeJSON(ctx, 200, out)
}

// transferProof serves GET /v1/transfers/{id}/proof.
func (s *Server) transferProof(ctx *fasthttp.RequestCtx, idText string) {
	id, ok := parseID(ctx, idText)
	if !ok {
		return
	}
	for _, p := range s.cfg.Node.Partitions() {
		if !s.barrier(ctx, p) {
			return
		}
		if _, found := p.Store().Transfer(id); !found {
			continue
		}
		s.proveIn(ctx, p, id)
		return
	}
	writeError(ctx, 404, "not_found", "no transfer "+id.String())
}

func (s *Server) proveIn(ctx *fasthttp.RequestCtx, p *transactor.Partition, id ledger.Uint128) {
	pr, err := p.Store().TransferProof(id)
	if err != nil {
		s.chainError(ctx, err)
		return
	}
	cp, err := p.CheckpointCovering(pr.Version)
	if err != nil {
		s.chainError(ctx, err)
		return
	}
	path, err := p.Store().SystemPath(pr.Version+1, cp.Version)
	if err != nil {
		s.chainError(ctx, err)
		return
	}
	out := wire.TransferProof{Transfer: wire.FromTransfer(&pr.Transfer), Partition: uint32(p.Number()),
		Version: wire.U64(pr.Version), LeafIndex: pr.LeafIndex, TreeSize: pr.TreeSize, Leaf: pr.Leaf,
		AuditPath: pr.AuditPath, Block: s.systemLink(pr.Block), Prev: pr.Block.Prev,
		DebitCommitment: pr.DebitCommit, CreditCommitment: pr.CreditCommit, Slot: pr.Slot,
		SystemPath: make([]wire.SystemLink, len(path)), Checkpoint: wire.FromCheckpoint(&cp)}
	if pr.Link != nil {
		out.Corrects = &wire.ChainLink{TransferID: wire.U128(pr.Link.ID), M: pr.Link.M}
	}
	for i := range path {
		out.SystemPath[i] = s.systemLink(&path[i])
	}
	writeJSON(ctx, 200, out)
}

// systemLink is what a block adds to the system hash. Its stamp is shown
// only in the public view: the stamp's nonce derives every salt of the
// batch.
func (s *Server) systemLink(b *hashchain.Block) wire.SystemLink {
	l := wire.SystemLink{Version: wire.U64(b.Version), Alg: b.Alg.String(), Time: wire.U64(b.Time), Root: b.Root}
	if !s.cfg.PrivateChains {
		l.Stamp = make([]byte, hashchain.StampSize)
		b.Stamp.Encode(l.Stamp)
	}
	return l
}

// chainError answers a chain read that failed.
func (s *Server) chainError(ctx *fasthttp.RequestCtx, err error) {
	switch {
	case errors.Is(err, store.ErrChainsOff):
		writeError(ctx, 409, "chains_off", "this server runs without hash chains")
	case errors.Is(err, transactor.ErrNoCheckpoint):
		writeError(ctx, 503, "no_checkpoint", err.Error())
	case errors.Is(err, store.ErrChain):
		s.cfg.Logger.Error("hash chain broken", "err", err)
		writeError(ctx, 500, "chain_broken", err.Error())
	default:
		s.batchError(ctx, err)
	}
}

// correctTransfer serves POST /v1/transfers/{id}/corrections: the body is
// one transfer (JSON object), created as a correction of transfer {id}.
// Its chain entry names {id}'s intermediate hash; nothing is rewritten.
func (s *Server) correctTransfer(ctx *fasthttp.RequestCtx, idText string) {
	corrected, ok := parseID(ctx, idText)
	if !ok {
		return
	}
	if binary, ok := mediaType(ctx); !ok {
		return
	} else if binary {
		writeError(ctx, 415, "unsupported_media_type", "a correction is one JSON transfer (application/json)")
		return
	}
	var in wire.Transfer
	if err := wire.DecodeStrict(ctx.PostBody(), &in); err != nil {
		jsonError(ctx, err)
		return
	}
	c, cancel := s.timeout()
	defer cancel()
	res, err := s.cfg.Engine.CorrectTransfer(c, in.ToLedger(), corrected)
	if errors.Is(err, engine.ErrCorrectionTarget) {
		writeError(ctx, 404, "not_found", err.Error())
		return
	}
	s.writeResults(ctx, false, []ledger.Result{res}, err, func(st uint32) string { return ledger.TransferStatus(st).String() })
}
