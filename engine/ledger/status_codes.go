// The status numbers and names below are copied from SPEC §2; they are the contract.

package ledger

// AccountStatus is the outcome of creating one account (SPEC §2). The order
// of the constants is the order in which the checks run.
type AccountStatus uint32

// Account statuses; the numbers are part of the external contract.
const (
	AccountCreated                        AccountStatus = 0
	AccountLinkedEventFailed              AccountStatus = 1
	AccountLinkedEventChainOpen           AccountStatus = 2
	AccountTimestampMustBeZero            AccountStatus = 3
	AccountReservedField                  AccountStatus = 4
	AccountReservedFlag                   AccountStatus = 5
	AccountIDMustNotBeZero                AccountStatus = 6
	AccountIDMustNotBeIntMax              AccountStatus = 7
	AccountExistsWithDifferentFlags       AccountStatus = 8
	AccountExistsWithDifferentUserData128 AccountStatus = 9
	AccountExistsWithDifferentUserData64  AccountStatus = 10
	AccountExistsWithDifferentUserData32  AccountStatus = 11
	AccountExistsWithDifferentLedger      AccountStatus = 12
	AccountExistsWithDifferentCode        AccountStatus = 13
	AccountExists                         AccountStatus = 14
	AccountFlagsAreMutuallyExclusive      AccountStatus = 15
	AccountDebitsPendingMustBeZero        AccountStatus = 16
	AccountDebitsPostedMustBeZero         AccountStatus = 17
	AccountCreditsPendingMustBeZero       AccountStatus = 18
	AccountCreditsPostedMustBeZero        AccountStatus = 19
	AccountLedgerMustNotBeZero            AccountStatus = 20
	AccountCodeMustNotBeZero              AccountStatus = 21
)

var accountStatusNames = [...]string{
	"created",
	"linked_event_failed",
	"linked_event_chain_open",
	"timestamp_must_be_zero",
	"reserved_field",
	"reserved_flag",
	"id_must_not_be_zero",
	"id_must_not_be_int_max",
	"exists_with_different_flags",
	"exists_with_different_user_data_128",
	"exists_with_different_user_data_64",
	"exists_with_different_user_data_32",
	"exists_with_different_ledger",
	"exists_with_different_code",
	"exists",
	"flags_are_mutually_exclusive",
	"debits_pending_must_be_zero",
	"debits_posted_must_be_zero",
	"credits_pending_must_be_zero",
	"credits_posted_must_be_zero",
	"ledger_must_not_be_zero",
	"code_must_not_be_zero",
}

// TransferStatus is the outcome of creating one transfer (SPEC §2). The order
// of the constants is the order in which the checks run.
type TransferStatus uint32

// Transfer statuses; the numbers are part of the external contract.
const (
	TransferCreated                                    TransferStatus = 0
	TransferLinkedEventFailed                          TransferStatus = 1
	TransferLinkedEventChainOpen                       TransferStatus = 2
	TransferTimestampMustBeZero                        TransferStatus = 3
	TransferReservedFlag                               TransferStatus = 4
	TransferIDMustNotBeZero                            TransferStatus = 5
	TransferIDMustNotBeIntMax                          TransferStatus = 6
	TransferExistsWithDifferentFlags                   TransferStatus = 7
	TransferExistsWithDifferentPendingID               TransferStatus = 8
	TransferExistsWithDifferentTimeout                 TransferStatus = 9
	TransferExistsWithDifferentDebitAccountID          TransferStatus = 10
	TransferExistsWithDifferentCreditAccountID         TransferStatus = 11
	TransferExistsWithDifferentAmount                  TransferStatus = 12
	TransferExistsWithDifferentUserData128             TransferStatus = 13
	TransferExistsWithDifferentUserData64              TransferStatus = 14
	TransferExistsWithDifferentUserData32              TransferStatus = 15
	TransferExistsWithDifferentLedger                  TransferStatus = 16
	TransferExistsWithDifferentCode                    TransferStatus = 17
	TransferExists                                     TransferStatus = 18
	TransferIDAlreadyFailed                            TransferStatus = 19
	TransferFlagsAreMutuallyExclusive                  TransferStatus = 20
	TransferDebitAccountIDMustNotBeZero                TransferStatus = 21
	TransferDebitAccountIDMustNotBeIntMax              TransferStatus = 22
	TransferCreditAccountIDMustNotBeZero               TransferStatus = 23
	TransferCreditAccountIDMustNotBeIntMax             TransferStatus = 24
	TransferAccountsMustBeDifferent                    TransferStatus = 25
	TransferPendingIDMustBeZero                        TransferStatus = 26
	TransferPendingIDMustNotBeZero                     TransferStatus = 27
	TransferPendingIDMustNotBeIntMax                   TransferStatus = 28
	TransferPendingIDMustBeDifferent                   TransferStatus = 29
	TransferTimeoutReservedForPendingTransfer          TransferStatus = 30
	TransferClosingTransferMustBePending               TransferStatus = 31
	TransferLedgerMustNotBeZero                        TransferStatus = 32
	TransferCodeMustNotBeZero                          TransferStatus = 33
	TransferDebitAccountNotFound                       TransferStatus = 34
	TransferCreditAccountNotFound                      TransferStatus = 35
	TransferAccountsMustHaveTheSameLedger              TransferStatus = 36
	TransferTransferMustHaveTheSameLedgerAsAccounts    TransferStatus = 37
	TransferPendingTransferNotFound                    TransferStatus = 38
	TransferPendingTransferNotPending                  TransferStatus = 39
	TransferPendingTransferHasDifferentDebitAccountID  TransferStatus = 40
	TransferPendingTransferHasDifferentCreditAccountID TransferStatus = 41
	TransferPendingTransferHasDifferentLedger          TransferStatus = 42
	TransferPendingTransferHasDifferentCode            TransferStatus = 43
	TransferExceedsPendingTransferAmount               TransferStatus = 44
	TransferPendingTransferHasDifferentAmount          TransferStatus = 45
	TransferPendingTransferAlreadyPosted               TransferStatus = 46
	TransferPendingTransferAlreadyVoided               TransferStatus = 47
	TransferPendingTransferExpired                     TransferStatus = 48
	TransferDebitAccountAlreadyClosed                  TransferStatus = 49
	TransferCreditAccountAlreadyClosed                 TransferStatus = 50
	TransferOverflowsDebitsPending                     TransferStatus = 51
	TransferOverflowsCreditsPending                    TransferStatus = 52
	TransferOverflowsDebitsPosted                      TransferStatus = 53
	TransferOverflowsCreditsPosted                     TransferStatus = 54
	TransferOverflowsDebits                            TransferStatus = 55
	TransferOverflowsCredits                           TransferStatus = 56
	TransferOverflowsTimeout                           TransferStatus = 57
	TransferExceedsCredits                             TransferStatus = 58
	TransferExceedsDebits                              TransferStatus = 59
	TransferAccountsInDifferentPartitions              TransferStatus = 60
)

var transferStatusNames = [...]string{
	"created",
	"linked_event_failed",
	"linked_event_chain_open",
	"timestamp_must_be_zero",
	"reserved_flag",
	"id_must_not_be_zero",
	"id_must_not_be_int_max",
	"exists_with_different_flags",
	"exists_with_different_pending_id",
	"exists_with_different_timeout",
	"exists_with_different_debit_account_id",
	"exists_with_different_credit_account_id",
	"exists_with_different_amount",
	"exists_with_different_user_data_128",
	"exists_with_different_user_data_64",
	"exists_with_different_user_data_32",
	"exists_with_different_ledger",
	"exists_with_different_code",
	"exists",
	"id_already_failed",
	"flags_are_mutually_exclusive",
	"debit_account_id_must_not_be_zero",
	"debit_account_id_must_not_be_int_max",
	"credit_account_id_must_not_be_zero",
	"credit_account_id_must_not_be_int_max",
	"accounts_must_be_different",
	"pending_id_must_be_zero",
	"pending_id_must_not_be_zero",
	"pending_id_must_not_be_int_max",
	"pending_id_must_be_different",
	"timeout_reserved_for_pending_transfer",
	"closing_transfer_must_be_pending",
	"ledger_must_not_be_zero",
	"code_must_not_be_zero",
	"debit_account_not_found",
	"credit_account_not_found",
	"accounts_must_have_the_same_ledger",
	"transfer_must_have_the_same_ledger_as_accounts",
	"pending_transfer_not_found",
	"pending_transfer_not_pending",
	"pending_transfer_has_different_debit_account_id",
	"pending_transfer_has_different_credit_account_id",
	"pending_transfer_has_different_ledger",
	"pending_transfer_has_different_code",
	"exceeds_pending_transfer_amount",
	"pending_transfer_has_different_amount",
	"pending_transfer_already_posted",
	"pending_transfer_already_voided",
	"pending_transfer_expired",
	"debit_account_already_closed",
	"credit_account_already_closed",
	"overflows_debits_pending",
	"overflows_credits_pending",
	"overflows_debits_posted",
	"overflows_credits_posted",
	"overflows_debits",
	"overflows_credits",
	"overflows_timeout",
	"exceeds_credits",
	"exceeds_debits",
	"accounts_in_different_partitions",
}

// String returns the status's snake_case name from SPEC.
func (s AccountStatus) String() string {
	if int(s) < len(accountStatusNames) {
		return accountStatusNames[s]
	}
	return "unknown_account_status"
}

// String returns the status's snake_case name from SPEC.
func (s TransferStatus) String() string {
	if int(s) < len(transferStatusNames) {
		return transferStatusNames[s]
	}
	return "unknown_transfer_status"
}

// AccountStatusCount and TransferStatusCount are the number of defined statuses.
const (
	AccountStatusCount  = len(accountStatusNames)
	TransferStatusCount = len(transferStatusNames)
)

// transient reports whether a transfer failing with s makes its id answer
// id_already_failed for ever after (SPEC §2): the failure depended on state
// that may change, so retrying the same id later must not succeed.
func (s TransferStatus) transient() bool {
	switch s {
	case TransferDebitAccountNotFound, TransferCreditAccountNotFound, TransferPendingTransferNotFound,
		TransferExceedsCredits, TransferExceedsDebits,
		TransferDebitAccountAlreadyClosed, TransferCreditAccountAlreadyClosed:
		return true
	}
	return false
}
