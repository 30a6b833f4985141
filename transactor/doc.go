// Package transactor commits batches: per partition one Raft group whose
// leader stamps each batch with its time and appends it as one fsynced log
// entry, and whose state machine applies committed batches serially onto the
// ledger store.
package transactor
