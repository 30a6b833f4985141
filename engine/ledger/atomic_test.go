package ledger

import "testing"

func TestAtomicBatchIsAllOrNothingAndLeavesNoTrace(t *testing.T) {
	s := NewState(0, 0)
	res := make([]Result, 4)
	limited := Account{ID: U128(1), Ledger: 1, Code: 1, Flags: AccountDebitsMustNotExceedCredits}
	if _, err := s.Apply(&Batch{Kind: KindAccounts, Version: 1, Time: 1, Accounts: []Account{limited, {ID: U128(2), Ledger: 1, Code: 1}}}, res); err != nil {
		t.Fatal(err)
	}
	fund := Transfer{ID: U128(10), DebitAccountID: U128(2), CreditAccountID: U128(1), Amount: 50, Ledger: 1, Code: 1}
	spend := Transfer{ID: U128(11), DebitAccountID: U128(1), CreditAccountID: U128(2), Amount: 80, Ledger: 1, Code: 1}
	// spend needs more than fund gives: exceeds_credits aborts the whole
	// batch, and the id it failed with is not marked failed.
	if _, err := s.Apply(&Batch{Kind: KindTransfers, Version: 2, Time: 2, Atomic: true, Transfers: []Transfer{fund, spend}}, res); err != nil {
		t.Fatal(err)
	}
	if TransferStatus(res[0].Status) != TransferLinkedEventFailed || TransferStatus(res[1].Status) != TransferExceedsCredits {
		t.Fatalf("atomic failure: %v %v", TransferStatus(res[0].Status), TransferStatus(res[1].Status))
	}
	if _, ok := s.Transfer(U128(10)); ok {
		t.Fatal("an aborted atomic batch applied a transfer")
	}
	if _, failed := s.Failed(U128(11)); failed {
		t.Fatal("an aborted atomic batch marked an id failed")
	}
	// The same ids commit once the transaction can succeed.
	spend.Amount = 30
	if _, err := s.Apply(&Batch{Kind: KindTransfers, Version: 3, Time: 3, Atomic: true, Transfers: []Transfer{fund, spend}}, res); err != nil {
		t.Fatal(err)
	}
	if res[0].Status != 0 || res[1].Status != 0 {
		t.Fatalf("atomic success: %v %v", TransferStatus(res[0].Status), TransferStatus(res[1].Status))
	}
	if a, _ := s.Account(U128(1)); a.CreditsPosted != 50 || a.DebitsPosted != 30 {
		t.Fatalf("account 1 after the transaction: %+v", a)
	}
}
