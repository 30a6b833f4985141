// Package vaulthttp is the network side of the split storage of valuable
// data (engine/valuesplit, SPEC §7): the center server's HTTP API for
// clusters (a shared key per cluster, stored hashed, compared in constant
// time; never open) and for operators (an admin token), the client that
// implements valuesplit.CenterAPI over it, the cluster server's user-facing
// API, and the authenticated peer endpoint through which one cluster offers
// an item's body to another.
package vaulthttp
