package client

import (
	"context"
	"fmt"

	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/gateway/wire"
)

// AccountChain reads records [from, from+limit) of an account's hash chain.
func (c *Client) AccountChain(ctx context.Context, id ledger.Uint128, from, limit int) (*wire.AccountChain, error) {
	var out wire.AccountChain
	err := c.doJSON(ctx, "GET", fmt.Sprintf("/v1/accounts/%s/chain?from=%d&limit=%d", id, from, limit), nil, &out)
	return &out, err
}

// ChainBlocks reads up to limit chain blocks of a partition from version from.
func (c *Client) ChainBlocks(ctx context.Context, partition int, from uint64, limit int) (*wire.ChainBlocks, error) {
	var out wire.ChainBlocks
	err := c.doJSON(ctx, "GET", fmt.Sprintf("/v1/chain/blocks?partition=%d&from=%d&limit=%d", partition, from, limit), nil, &out)
	return &out, err
}

// LatestCheckpoints reads each partition's newest signed checkpoint.
func (c *Client) LatestCheckpoints(ctx context.Context) ([]wire.Checkpoint, error) {
	var out []wire.Checkpoint
	err := c.doJSON(ctx, "GET", "/v1/checkpoints/latest", nil, &out)
	return out, err
}

// SignCheckpoints asks the server to sign a checkpoint of every partition now.
func (c *Client) SignCheckpoints(ctx context.Context) ([]wire.Checkpoint, error) {
	var out []wire.Checkpoint
	err := c.doJSON(ctx, "POST", "/v1/checkpoints", nil, &out)
	return out, err
}

// TransferProof reads a transfer's inclusion proof.
func (c *Client) TransferProof(ctx context.Context, id ledger.Uint128) (*wire.TransferProof, error) {
	var out wire.TransferProof
	err := c.doJSON(ctx, "GET", "/v1/transfers/"+id.String()+"/proof", nil, &out)
	return &out, err
}
