module github.com/conto-ledger/conto

go 1.26.8
