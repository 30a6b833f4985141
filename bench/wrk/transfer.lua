-- wrk script: one transfer per request, unique increasing ids per thread,
-- between accounts 1..ACCOUNTS. Counts answers that are not "created".
-- Usage: wrk -t2 -c64 -d15s --latency -s transfer.lua http://127.0.0.1:7070
local accounts = tonumber(os.getenv("ACCOUNTS") or "1000")
local threads = {}
local counter = 1

function setup(thread)
  -- Distinct per run (time) and per thread, so a rerun creates new transfers.
  thread:set("base", (os.time() % 100000) * 10000000000 + counter * 100000000)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  next_id = base
  bad = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  next_id = next_id + 1
  local dr = next_id % accounts + 1
  local cr = (next_id + 1) % accounts + 1
  local body = string.format(
    '[{"id":"%d","debit_account_id":"%d","credit_account_id":"%d","amount":"1","ledger":1,"code":1}]',
    next_id, dr, cr)
  return wrk.format(nil, "/v1/transfers", nil, body)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"created"', 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total_bad = 0
  for _, t in ipairs(threads) do
    total_bad = total_bad + t:get("bad")
  end
  io.write(string.format("answers not created: %d of %d\n", total_bad, summary.requests))
end
