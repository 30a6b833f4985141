// Package chain is the center server's block chain (seed 000, claims 1, 2,
// 9, 10, 13; Figs. 6, 13, 15, 16, 19–22): an append-only, durable, keyed
// hash chain with one block per registration or ownership change of a
// valuable item, a valid flag on the block the next one connects to, frozen
// flags for blocks found tampered, branching while frozen, and repair from
// an independent account book.
//
// # On disk
//
// A chain is a directory:
//
//	blocks.dat               block records, RecordSize (512) bytes each, block i at offset 512·i
//	flags.log                frozen ranges (a journal, see internal/journal and flags.go)
//	blocks.frozen-<ns>.dat   the chain as it was before each Repair (evidence; hard link)
//
// A block record is (big-endian):
//
//	  0  4  magic "CVB1"
//	  4  1  format version (1)
//	  5  1  kind: 1 genesis, 2 register, 3 transfer, 4 void
//	  6  2  zero
//	  8  8  index (the record's own position)
//	 16  8  parent index (2^64-1: links to nothing)
//	 24  8  transaction time, Unix nanoseconds
//	 32 32  previous hash (the parent's hash; zero for none)
//	 64 32  block hash = HMAC-SHA256(hash key, "conto-valuesplit-block-v1" ‖ bytes 0..63 ‖ bytes 96..511)
//	 96 16  nonce (random)
//	112 16  item id
//	128 16  operation id (idempotency key)
//	144  4  file id
//	148 65  cluster id (1 length byte + 64)
//	213 65  user id (1 + 64)
//	278 129 name (1 + 128, UTF-8)
//	407 97  sealed payload (1 + 96)
//	504  8  zero
//
// Unused room is zero and a record has exactly one encoding; the hash
// covers every byte but itself, so changing any byte of any block is seen
// by Verify. Records have a fixed size so that damage stays inside its
// block: no length field can be tampered into misframing the blocks after
// it. The hash is keyed (the center derives the key from its master key):
// an attacker who can write the file cannot recompute hashes after an edit.
//
// Appends write one record at the end of the file and fsync before
// returning. A crash can leave a partial last record (or an all-zero one);
// Open drops it and reports it in Recovery. That block was never
// acknowledged.
//
// # Flags
//
// Valid and Frozen are state, not content, so they are not in the record
// and not under the hash: setting them must not look like tampering. Valid
// is derived — the last block that is not frozen — and so is always on
// exactly one block while any block is unfrozen (claim 2: the new block is
// valid, the one it connected to stops being). Frozen ranges are journaled
// in flags.log, each pinned to a digest of the first block it froze.
//
// # Branching and repair
//
// Freeze(k) freezes block k and every block after it. The valid flag falls
// back to block k-1, so the next Append links there: the chain branches
// (Fig. 22) — the new blocks sit after the frozen ones in the file with
// Parent = k-1, then each links to the one before. If every block is frozen
// (genesis was tampered), the next block starts a branch linked to nothing.
// Verify accepts exactly this shape: the unfrozen blocks, in file order,
// form one linked line.
//
// Repair(rebuild) merges: blocks before k stay as they are; from k on,
// every position is written anew, linked to the previous one — frozen
// blocks with the content rebuild supplies (the center reads its account
// book), branch blocks with their own content. Positions do not change, so
// block numbers handed out remain true, and the result is one line again in
// time order: the original history, then the blocks registered during the
// freeze. Figure 19's "new block inserted between repaired blocks" is the
// branch block that keeps its position between rebuilt ones when freezes
// nest. A frozen block nothing can rebuild becomes a void block, reported.
package chain
