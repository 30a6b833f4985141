package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/conto-ledger/conto/engine/ledger"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgreSQL side of --compare: the same workload against a double-entry
// schema in PostgreSQL, driven through the same Target interface. Each
// batch is one transaction calling create_transfer once per event
// (pipelined): the unit of commit matches conto's batch. The function takes
// row locks on both accounts in id order (no deadlocks), applies the same
// rules the workload needs (existence, idempotency, two-phase) and answers
// conto's status numbers.
const pgSchema = `
DROP TABLE IF EXISTS conto_transfers, conto_accounts;
CREATE TABLE conto_accounts (
  id bigint PRIMARY KEY,
  debits_pending bigint NOT NULL DEFAULT 0, debits_posted bigint NOT NULL DEFAULT 0,
  credits_pending bigint NOT NULL DEFAULT 0, credits_posted bigint NOT NULL DEFAULT 0);
CREATE TABLE conto_transfers (
  id numeric(39) PRIMARY KEY, debit bigint NOT NULL, credit bigint NOT NULL, amount bigint NOT NULL,
  pending_id numeric(39), flags int NOT NULL, state int NOT NULL DEFAULT 0,
  created timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE OR REPLACE FUNCTION conto_create_transfer(p_id numeric, p_dr bigint, p_cr bigint, p_amount bigint,
    p_flags int, p_pending numeric) RETURNS int LANGUAGE plpgsql AS $$
DECLARE p conto_transfers%ROWTYPE; lo bigint; hi bigint;
BEGIN
  IF EXISTS (SELECT 1 FROM conto_transfers WHERE id = p_id) THEN RETURN 18; END IF;      -- exists
  IF p_flags & 12 <> 0 THEN                                                              -- post / void
    SELECT * INTO p FROM conto_transfers WHERE id = p_pending FOR UPDATE;
    IF NOT FOUND THEN RETURN 38; END IF;                                                 -- pending_transfer_not_found
    IF p.state <> 0 THEN RETURN 46; END IF;                                              -- already posted/voided
    lo := least(p.debit, p.credit); hi := greatest(p.debit, p.credit);
    PERFORM 1 FROM conto_accounts WHERE id IN (lo, hi) ORDER BY id FOR UPDATE;
    UPDATE conto_accounts SET debits_pending = debits_pending - p.amount,
      debits_posted = debits_posted + CASE WHEN p_flags & 4 <> 0 THEN p.amount ELSE 0 END WHERE id = p.debit;
    UPDATE conto_accounts SET credits_pending = credits_pending - p.amount,
      credits_posted = credits_posted + CASE WHEN p_flags & 4 <> 0 THEN p.amount ELSE 0 END WHERE id = p.credit;
    UPDATE conto_transfers SET state = CASE WHEN p_flags & 4 <> 0 THEN 1 ELSE 2 END WHERE id = p_pending;
    INSERT INTO conto_transfers (id, debit, credit, amount, pending_id, flags) VALUES (p_id, p.debit, p.credit, p.amount, p_pending, p_flags);
    RETURN 0;
  END IF;
  lo := least(p_dr, p_cr); hi := greatest(p_dr, p_cr);
  PERFORM 1 FROM conto_accounts WHERE id IN (lo, hi) ORDER BY id FOR UPDATE;
  IF NOT EXISTS (SELECT 1 FROM conto_accounts WHERE id = p_dr) THEN RETURN 34; END IF;
  IF NOT EXISTS (SELECT 1 FROM conto_accounts WHERE id = p_cr) THEN RETURN 35; END IF;
  IF p_flags & 2 <> 0 THEN
    UPDATE conto_accounts SET debits_pending = debits_pending + p_amount WHERE id = p_dr;
    UPDATE conto_accounts SET credits_pending = credits_pending + p_amount WHERE id = p_cr;
  ELSE
    UPDATE conto_accounts SET debits_posted = debits_posted + p_amount WHERE id = p_dr;
    UPDATE conto_accounts SET credits_posted = credits_posted + p_amount WHERE id = p_cr;
  END IF;
  INSERT INTO conto_transfers (id, debit, credit, amount, flags) VALUES (p_id, p_dr, p_cr, p_amount, p_flags);
  RETURN 0;
END $$;`

type pgTarget struct{ pool *pgxpool.Pool }

// OpenPostgres connects, creates a fresh schema and returns the target.
func OpenPostgres(ctx context.Context, url string) (Target, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if _, err := pool.Exec(ctx, pgSchema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: create schema: %w", err)
	}
	return &pgTarget{pool: pool}, nil
}

func (t *pgTarget) Close() error { t.pool.Close(); return nil }

func (t *pgTarget) CreateAccounts(ctx context.Context, accts []ledger.Account) ([]ledger.Result, error) {
	ids := make([]int64, len(accts))
	for i, a := range accts {
		ids[i] = int64(a.ID.Lo)
	}
	if _, err := t.pool.Exec(ctx, `INSERT INTO conto_accounts (id) SELECT unnest($1::bigint[]) ON CONFLICT DO NOTHING`, ids); err != nil {
		return nil, err
	}
	return make([]ledger.Result, len(accts)), nil
}

// CreateTransfers runs the batch as one transaction, its calls pipelined.
// The transaction first locks every account the batch touches, in id
// order: locking per transfer would make concurrent batches deadlock.
func (t *pgTarget) CreateTransfers(ctx context.Context, ts []ledger.Transfer) ([]ledger.Result, error) {
	res := make([]ledger.Result, len(ts))
	var accounts []int64
	var pendings []string
	for i := range ts {
		if !ts[i].PendingID.IsZero() {
			pendings = append(pendings, ts[i].PendingID.String())
		} else {
			accounts = append(accounts, int64(ts[i].DebitAccountID.Lo), int64(ts[i].CreditAccountID.Lo))
		}
	}
	err := pgx.BeginFunc(ctx, t.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT 1 FROM conto_accounts WHERE id = ANY($1::bigint[])
			OR id IN (SELECT debit FROM conto_transfers WHERE id = ANY($2::numeric[])
			          UNION SELECT credit FROM conto_transfers WHERE id = ANY($2::numeric[]))
			ORDER BY id FOR UPDATE`, accounts, pendings)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		for i := range ts {
			tr := &ts[i]
			b.Queue(`SELECT conto_create_transfer($1::numeric, $2, $3, $4, $5, $6::numeric)`, tr.ID.String(),
				int64(tr.DebitAccountID.Lo), int64(tr.CreditAccountID.Lo), int64(tr.Amount), int(tr.Flags), tr.PendingID.String())
		}
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		for i := range ts {
			var st int
			if err := br.QueryRow().Scan(&st); err != nil {
				return err
			}
			res[i] = ledger.Result{Status: uint32(st)}
		}
		return br.Close()
	})
	return res, err
}

func (t *pgTarget) LookupAccounts(ctx context.Context, ids []ledger.Uint128) ([]ledger.Account, error) {
	keys := make([]int64, len(ids))
	for i, id := range ids {
		keys[i] = int64(id.Lo)
	}
	rows, err := t.pool.Query(ctx, `SELECT id, debits_pending, debits_posted, credits_pending, credits_posted
		FROM conto_accounts WHERE id = ANY($1)`, keys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ledger.Account
	for rows.Next() {
		var id, dp, dpo, cp, cpo int64
		if err := rows.Scan(&id, &dp, &dpo, &cp, &cpo); err != nil {
			return nil, err
		}
		out = append(out, ledger.Account{ID: ledger.U128(uint64(id)), DebitsPending: uint64(dp), DebitsPosted: uint64(dpo),
			CreditsPending: uint64(cp), CreditsPosted: uint64(cpo)})
	}
	return out, rows.Err()
}

func (t *pgTarget) LookupTransfers(ctx context.Context, ids []ledger.Uint128) ([]ledger.Transfer, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = id.String()
	}
	rows, err := t.pool.Query(ctx, `SELECT id::text FROM conto_transfers WHERE id = ANY($1::numeric[])`, keys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ledger.Transfer
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		id, err := ledger.ParseUint128(s)
		if err != nil {
			return nil, errors.New("postgres returned a bad id " + strconv.Quote(s))
		}
		out = append(out, ledger.Transfer{ID: id})
	}
	return out, rows.Err()
}
