// Package engine is conto's data service: it routes events to partitions,
// serves reads (current and as of a version or time) and runs optimistic
// transactions, on top of the per-partition transactors.
//
// The ledger rules live in engine/ledger and their versioned storage in
// engine/store; this package ties them to the transactor and the partition
// map. It is filled in by the transactor and gateway issues.
package engine
