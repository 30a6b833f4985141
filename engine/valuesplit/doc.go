// Package valuesplit is the core of conto's split storage of valuable items
// (DESIGN.md "Split storage of valuable data", SPEC.md §7, seed 000). It
// holds the two roles as libraries — Cluster, facing users, and Center, on
// the closed network — and the pieces they share; the HTTP servers and
// commands are built on this API.
//
// # What each side holds
//
// A cluster encrypts an item with a fresh random AES-256-GCM key (random
// nonce, associated data = the item id), cuts a head of 1..30 bytes out of
// the ciphertext (the first bytes, or a window anywhere: SplitSpec) and
// keeps the rest, the body. The head, the data key and the window go to
// the center, which seals them under its master key (associated data: item
// id, file name, transaction time) into one block of its block chain; the
// cluster forgets them and stores the body under the handle the center
// returns. The stored data key is masked with a digest of the whole
// ciphertext (DataKey), so neither side can decrypt even part of an item:
// the center has no body, the cluster no head and no key.
//
// Handles rotate (Center.Rotate): each epoch has its own random key, and a
// handle is only meaningful to the center in its epoch. The cluster
// re-keys its store in lockstep (BodyStore.Rekey) and acknowledges; the
// center then refuses the old mapping to anyone. A copy of the cluster's
// store taken before a rotation holds bodies whose handles name nothing.
//
// # Seed to code
//
//	claim 1, 12, 21, 23   Cluster.Put, Center.Register, Center.Acquire, Center.Rotate, BodyStore.Rekey
//	claim 2, 13           chain.Chain.Append and the valid flag (package chain)
//	claim 3, 14           payload sealing: the item id, name and time are associated data
//	claim 6, 17           MaxHeadSize = 30
//	claim 7, 18           the rotation schedule is the caller's (≤ 24 h); Center.Rotate does one
//	claim 9               Monitor.Check, Center.Freeze, chain.Chain.Freeze
//	claim 10              Center.Repair with an AccountBook, chain.Chain.Repair
//	claim 11, 20, 22, 24  SplitSpec.Offset / RandomOffset: a head window anywhere
//	Fig. 8                Cluster.Get
//	Figs. 9–11            Cluster.Transfer, Cluster.Offer, Cluster.Download, Center.*Transfer
//	Figs. 17A/B           UserRegistry, ClusterRegistry (valid flags)
//	Fig. 18               Record, BodyStore
//	Figs. 19–22           freeze, branch while frozen, repair (package chain)
//
// # Transfers
//
// A transfer is prepared at the center, which locks the item until the
// transfer completes, is cancelled or expires (Center.PrepareTransfer). The
// cluster that will hand the item over issues a one-time download ticket
// and notifies the recipient: the sender's own cluster within a cluster,
// the recipient's cluster across clusters — the sender's cluster offers it
// the body first (Peer.Offer). The download completes the transfer at the
// center with a new block naming the new owner and cluster (ownership
// changes never rewrite blocks) and returns the item's bytes. The sender's
// cluster learns the outcome with Cluster.Settle.
//
// # On disk
//
// A center's directory:
//
//	chain/          the block chain (package chain documents its format)
//	users.log       user registry: journal of JSON entries (internal/journal)
//	clusters.log    cluster registry: same
//	epochs.state    handle epoch keys and cluster acknowledgements: JSON sealed with
//	                AES-256-GCM under a key derived from the master key, replaced atomically
//	transfers.log   pending transfers: journal of JSON entries
//
// The account book is separate (FileBook: a journal of JSON BookEntry
// lines; keep it on another disk or machine). The master key is not in the
// directory (LoadOrCreateMasterKey keeps it in a file of its own).
//
// A cluster's directory:
//
//	meta/              Badger, synchronous writes: records, the handle delta, tickets, offers
//	bodies/<item>      one file per body (fsynced, written by rename)
//	offers/<transfer>  bodies offered by other clusters, until downloaded or expired
//	handles-<epoch>.tbl  the epoch's handle table (see handleindex.go)
//
// # Errors and limits
//
// Errors wrap the sentinels in errors.go so callers map them with
// errors.Is. Items are at most MaxItemSize (64 MiB), heads 1..MaxHeadSize
// (30) bytes; ids, names, e-mail addresses, registries, pending transfers,
// mappings and journal records all have limits (the Max constants).
//
// Center, Cluster and BodyStore are safe for concurrent use. Nothing here
// keeps global state: every clock, randomness source and path comes from
// the configuration.
package valuesplit
