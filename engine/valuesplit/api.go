package valuesplit

import (
	"context"
	"time"

	"github.com/conto-ledger/conto/engine/valuesplit/chain"
)

// CenterAPI is what a cluster server needs from the center server. *Center
// implements it in-process; the HTTP client the vault commands will add
// implements it across the closed network (claim 8). Every request names
// the calling cluster; the transport authenticates it.
type CenterAPI interface {
	// Epoch returns the center's current handle epoch.
	Epoch(ctx context.Context) (Epoch, error)
	// AddUser registers a user (the SPEC's POST /v1/users).
	AddUser(ctx context.Context, id, email string) (User, error)
	// Register stores an item's head in a new block (Figs. 7, 15).
	Register(ctx context.Context, req RegisterRequest) (RegisterResult, error)
	// Acquire returns the head of an item to its owner (Fig. 8).
	Acquire(ctx context.Context, req AcquireRequest) (AcquireResult, error)
	// PrepareTransfer starts a transfer and locks the item (Figs. 9, 10).
	PrepareTransfer(ctx context.Context, req PrepareTransferRequest) (PrepareTransferResult, error)
	// CompleteTransfer moves ownership to the recipient (Figs. 9, 11).
	CompleteTransfer(ctx context.Context, req CompleteTransferRequest) (CompleteTransferResult, error)
	// CancelTransfer releases a pending transfer's lock early.
	CancelTransfer(ctx context.Context, cluster, user string, id OpID) error
	// TransferStatus tells either party of a transfer where it stands.
	TransferStatus(ctx context.Context, cluster string, id OpID) (TransferStatus, error)
	// Mapping returns the handle mapping that brings a cluster's store
	// from epoch from to the current epoch.
	Mapping(ctx context.Context, cluster string, from Epoch) (Mapping, error)
	// AckEpoch records that a cluster's store is at epoch.
	AckEpoch(ctx context.Context, cluster string, epoch Epoch) error
}

// Peer is what one cluster server needs from another: a cross-cluster
// transfer delivers the item's body to the recipient's cluster (Figs. 10,
// 11). *Cluster implements it.
type Peer interface {
	Offer(ctx context.Context, o Offer) (Ticket, error)
}

// RegisterRequest asks the center to keep an item's head (claim 1's
// "partial data"). The cluster encrypted and split the item (SplitItem)
// and keeps the body; it forgets Head and Key once registered.
type RegisterRequest struct {
	Op      OpID   `json:"op"` // idempotency key: a retry returns the first answer
	Cluster string `json:"cluster"`
	User    string `json:"user"`
	Epoch   Epoch  `json:"epoch"` // the cluster's handle epoch
	Item    ItemID `json:"item"`  // chosen by the cluster at random
	Name    string `json:"name"`
	Head    Head   `json:"head"`
}

// RegisterResult is the center's answer: the block and the handle the
// cluster stores with the body (claim 1's block hash value).
type RegisterResult struct {
	Item      ItemID     `json:"item"`
	Block     uint64     `json:"block"`
	BlockHash chain.Hash `json:"block_hash"`
	FileID    FileID     `json:"file_id"`
	Time      time.Time  `json:"time"`
	Epoch     Epoch      `json:"epoch"`
	Handle    Handle     `json:"handle"`
}

// AcquireRequest asks for an item's head by its handle. The center accepts
// only handles: the item id alone, which a stolen store also holds, opens
// nothing.
type AcquireRequest struct {
	Cluster string `json:"cluster"`
	User    string `json:"user"` // must own the item
	Epoch   Epoch  `json:"epoch"`
	Handle  Handle `json:"handle"`
}

// AcquireResult is an item's head, unsealed, for the cluster to join with
// the body.
type AcquireResult struct {
	Item   ItemID    `json:"item"`
	Block  uint64    `json:"block"`
	Name   string    `json:"name"`
	FileID FileID    `json:"file_id"`
	Time   time.Time `json:"time"`
	Head   Head      `json:"head"`
}

// PrepareTransferRequest starts a transfer of the item behind Handle from
// User at Cluster to ToUser at ToCluster (Cluster itself for a transfer
// within one cluster).
type PrepareTransferRequest struct {
	ID        OpID          `json:"id"` // the transfer id, chosen by the cluster
	Cluster   string        `json:"cluster"`
	User      string        `json:"user"`
	Epoch     Epoch         `json:"epoch"`
	Handle    Handle        `json:"handle"`
	ToUser    string        `json:"to_user"`
	ToCluster string        `json:"to_cluster"`
	TTL       time.Duration `json:"ttl"` // 0: the center's default
}

// PrepareTransferResult confirms a pending transfer and gives what the
// clusters need to notify the recipient.
type PrepareTransferResult struct {
	ID        OpID      `json:"id"`
	Item      ItemID    `json:"item"`
	ToUser    string    `json:"to_user"`
	ToCluster string    `json:"to_cluster"`
	ToEmail   string    `json:"to_email"`
	Expires   time.Time `json:"expires"`
}

// CompleteTransferRequest is sent by the recipient's cluster when the
// recipient downloads: the center writes the transfer block.
type CompleteTransferRequest struct {
	ID      OpID   `json:"id"`
	Cluster string `json:"cluster"` // the recipient's cluster
	User    string `json:"user"`    // the recipient
	Epoch   Epoch  `json:"epoch"`
}

// CompleteTransferResult is the new owner's block and handle.
type CompleteTransferResult struct {
	Item   ItemID    `json:"item"`
	Block  uint64    `json:"block"`
	Name   string    `json:"name"`
	FileID FileID    `json:"file_id"`
	Time   time.Time `json:"time"`
	Epoch  Epoch     `json:"epoch"`
	Handle Handle    `json:"handle"` // for the recipient's cluster
}

// TransferStatus is where a transfer stands.
type TransferStatus struct {
	ID          OpID          `json:"id"`
	State       TransferState `json:"state"`
	Item        ItemID        `json:"item"`
	FromCluster string        `json:"from_cluster"`
	ToCluster   string        `json:"to_cluster"`
	ToUser      string        `json:"to_user"`
	Expires     time.Time     `json:"expires"`
	Block       uint64        `json:"block,omitempty"` // the transfer block, once completed
}

// Offer carries an item's body from the sender's cluster to the
// recipient's (Fig. 10 step S419's body, sent ahead so the recipient's
// cluster can serve the whole item). The body is ciphertext: the
// recipient's cluster can do nothing with it until the center completes
// the transfer and hands it the head.
type Offer struct {
	Transfer    OpID      `json:"transfer"`
	Item        ItemID    `json:"item"`
	Name        string    `json:"name"`
	Size        int64     `json:"size"` // plaintext bytes
	FileID      FileID    `json:"file_id"`
	Created     time.Time `json:"created"`
	FromCluster string    `json:"from_cluster"`
	FromUser    string    `json:"from_user"`
	ToUser      string    `json:"to_user"`
	ToEmail     string    `json:"to_email"`
	Expires     time.Time `json:"expires"`
	Body        []byte    `json:"body"`
}

// Ticket is a one-time download right for a transfer's recipient. Token is
// secret: it goes to the recipient (in the download URL) and is stored
// only hashed.
type Ticket struct {
	Transfer OpID      `json:"transfer"`
	Item     ItemID    `json:"item"`
	Cluster  string    `json:"cluster"` // the cluster to download from
	Token    string    `json:"token"`
	Expires  time.Time `json:"expires_at"`
	// NotifyError is set when the recipient's notice could not be sent;
	// the ticket is valid anyway.
	NotifyError string `json:"notify_error,omitempty"`
}

// ItemInfo describes an item to its owner (the SPEC's item listing).
type ItemInfo struct {
	ID      ItemID    `json:"value_id"`
	Name    string    `json:"name"`
	Size    int64     `json:"size"`
	Block   uint64    `json:"block"`
	Created time.Time `json:"created_at"`
	Owner   string    `json:"-"`
	Locked  bool      `json:"locked,omitempty"`
}
