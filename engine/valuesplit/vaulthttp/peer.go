package vaulthttp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	vs "github.com/conto-ledger/conto/engine/valuesplit"
)

// PathPeerOffer is the cluster endpoint other clusters deliver a
// cross-cluster transfer's body to. It is authenticated with the peer key
// the clusters share. The body is the item's body (ciphertext, raw bytes);
// the rest of the offer travels base64url-encoded JSON in OfferHeader.
const (
	PathPeerOffer = "/v1/peer/offer"
	OfferHeader   = "Conto-Offer"
	maxOfferMeta  = 16 << 10
)

// OfferTimeout bounds one offer (a 64 MiB body on a slow link).
const OfferTimeout = 5 * time.Minute

// PeerClient is valuesplit.Peer over HTTP: it offers a body to the cluster
// at URL.
type PeerClient struct {
	url string
	key string
	hc  *http.Client
}

var _ vs.Peer = (*PeerClient)(nil)

// NewPeerClient returns a client for the cluster at url, authenticating
// with the shared peer key.
func NewPeerClient(url, peerKey string, hc *http.Client) (*PeerClient, error) {
	u, err := CheckClusterURL(url)
	if err != nil {
		return nil, err
	}
	if err := CheckSecret(peerKey); err != nil {
		return nil, fmt.Errorf("peer key: %w", err)
	}
	if hc == nil {
		hc = newHTTPClient()
	}
	return &PeerClient{url: u, key: peerKey, hc: hc}, nil
}

// Offer implements valuesplit.Peer.
func (p *PeerClient) Offer(ctx context.Context, o vs.Offer) (vs.Ticket, error) {
	body := o.Body
	o.Body = nil
	meta, err := json.Marshal(o)
	if err != nil {
		return vs.Ticket{}, fmt.Errorf("%w: encode offer: %v", vs.ErrInvalid, err)
	}
	hdr := http.Header{}
	hdr.Set(OfferHeader, base64.RawURLEncoding.EncodeToString(meta))
	var tk vs.Ticket
	err = do(ctx, p.hc, http.MethodPost, p.url+PathPeerOffer, p.key, "application/octet-stream", hdr,
		bytes.NewReader(body), &tk, OfferTimeout, maxAnswer)
	return tk, err
}

// decodeOfferMeta reads the offer header.
func decodeOfferMeta(h string) (vs.Offer, error) {
	var o vs.Offer
	if h == "" || len(h) > maxOfferMeta {
		return o, fmt.Errorf("%w: missing or oversized %s header", vs.ErrInvalid, OfferHeader)
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return o, fmt.Errorf("%w: %s header is not base64url", vs.ErrInvalid, OfferHeader)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return o, fmt.Errorf("%w: %s header: %v", vs.ErrInvalid, OfferHeader, err)
	}
	if len(o.Body) != 0 {
		return o, fmt.Errorf("%w: the body goes in the request body, not the header", vs.ErrInvalid)
	}
	return o, nil
}

// Directory finds clusters: the center answers it (CenterClient).
type Directory interface {
	LookupCluster(ctx context.Context, id, url string) (ClusterEntry, error)
}

// Peers returns a valuesplit.ClusterConfig.Peers function: it asks the
// directory where a cluster is and offers there with the shared peer key.
// Answers are cached for a minute.
func Peers(dir Directory, peerKey string, hc *http.Client) func(clusterID string) (vs.Peer, error) {
	if hc == nil {
		hc = newHTTPClient()
	}
	var mu sync.Mutex
	type cached struct {
		url string
		at  time.Time
	}
	cache := map[string]cached{}
	return func(id string) (vs.Peer, error) {
		if peerKey == "" {
			return nil, fmt.Errorf("%w: no peer key configured for cross-cluster transfers", vs.ErrInvalid)
		}
		mu.Lock()
		c, ok := cache[id]
		mu.Unlock()
		if !ok || time.Since(c.at) > time.Minute {
			ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
			e, err := dir.LookupCluster(ctx, id, "")
			cancel()
			if err != nil {
				return nil, err
			}
			if !e.Enabled {
				return nil, fmt.Errorf("%w: cluster %s", vs.ErrDisabled, id)
			}
			c = cached{url: e.URL, at: time.Now()}
			mu.Lock()
			cache[id] = c
			mu.Unlock()
		}
		return NewPeerClient(c.url, peerKey, hc)
	}
}

// DownloadLink returns a valuesplit.ClusterConfig.DownloadLink function
// for a cluster reached at publicURL.
func DownloadLink(publicURL string) func(token string) string {
	return func(token string) string { return downloadURL(publicURL, token) }
}

func downloadURL(base, token string) string { return base + PathDownloads + token }
