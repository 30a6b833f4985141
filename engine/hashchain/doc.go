// Package hashchain computes and verifies conto's tamper-evidence chains
// (DESIGN.md "Hash chains", seed 004).
//
// Every account has a chain head, born from a genesis hash over the leader's
// stamp and the account's creation record. Each transfer or expiry between a
// debit and a credit account gets one intermediate hash m, shared by both
// sides, over the event and a salted commitment of each side's head; each
// side's head then advances over its previous head, m and its balances after
// the event. Per committed batch, a system hash chains the partition over the
// RFC 6962 Merkle root of the batch's genesis hashes and m values, and
// ed25519 checkpoints sign system hashes so a client or an auditor can hold
// the server to its history.
//
// Every hash is domain-separated and names its algorithm:
//
//	Sum(alg, tag, fields...) = H_alg(tag || alg || fields...)
//
// with a tag byte per kind of hash (the Tag constants) and fields in the
// fixed little-endian layouts documented on each function. Those layouts are
// the file format auditors re-implement; the known-answer tests pin them.
// Because each input names its algorithm, a chain moves to a new algorithm
// with an explicit migration link (MigrationHead) instead of breaking.
//
// Heads and balances are never hashed into m directly: intermediate hashes
// cover commitments Commitment(head before, balances after, salt), with salts
// derived from the batch's secret nonce. So every balance a batch produces is
// under its Merkle root at once, and an API can show an account its
// counterparty's commitment while keeping the counterparty's head and
// balances private; an auditor holding the nonce recomputes every salt and
// checks both sides.
//
// The hash functions never fail: for inputs outside their domain (an invalid
// Alg, a record of the wrong size) they return the zero Hash, which no valid
// input produces except with negligible probability. Code that takes such
// inputs from outside validates them first, as Chains.Apply and the decoders
// do.
//
// The package is pure and deterministic apart from NewStamp's nonce and
// LoadOrCreateKey's file: Chains.Apply, fed the same inputs on any node,
// gives byte-identical blocks.
package hashchain
