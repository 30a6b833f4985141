package client_test

import (
	"context"
	"fmt"
	"os"

	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/conto-ledger/conto/gateway/client"
)

// A payment front-end creates two accounts, moves 250 between them and reads
// the balances. The ids are idempotency keys: on an unknown outcome the
// client retries with the same ids, and nothing is applied twice.
func Example() {
	base := startConto(exampleTB{}) // a real node on 127.0.0.1
	c := client.New(base)
	ctx := context.Background()

	res, err := c.CreateAccounts(ctx, []ledger.Account{
		{ID: ledger.U128(1), Ledger: 1, Code: 10},
		{ID: ledger.U128(2), Ledger: 1, Code: 10},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(ledger.AccountStatus(res[0].Status), ledger.AccountStatus(res[1].Status))

	res, err = c.CreateTransfers(ctx, []ledger.Transfer{{
		ID: ledger.U128(100), DebitAccountID: ledger.U128(1), CreditAccountID: ledger.U128(2),
		Amount: 250, Ledger: 1, Code: 1,
	}})
	if err != nil {
		panic(err)
	}
	fmt.Println(ledger.TransferStatus(res[0].Status))

	a, _ := c.Account(ctx, ledger.U128(1))
	b, _ := c.Account(ctx, ledger.U128(2))
	fmt.Println("debits", a.DebitsPosted, "credits", b.CreditsPosted)
	// Output:
	// created created
	// created
	// debits 250 credits 250
}

// exampleTB lets the example use startConto; its directory is left to the
// OS's temp cleaning.
type exampleTB struct{}

func (exampleTB) Helper()           {}
func (exampleTB) Fatal(args ...any) { fmt.Fprintln(os.Stderr, args...); os.Exit(1) }
func (exampleTB) TempDir() string   { d, _ := os.MkdirTemp("", "conto-example-"); return d }
func (exampleTB) Cleanup(func())    {}
