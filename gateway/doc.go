// Package gateway is conto's HTTP front: the fasthttp server for the API of
// SPEC §3-§4, its JSON and binary codecs, request coalescing into batches,
// authentication, limits and metrics. gateway/client is the Go client.
package gateway
