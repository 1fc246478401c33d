#!/usr/bin/env bash
# Integration: the PostgreSQL baseline (docs/bench.md "Baseline").
#
# Starts PostgreSQL 15 with scripts/baseline-postgres, feeds it the smoke
# profile with `milepost-bench baseline-postgres`, and checks the tables
# against the sent events, computed here independently: one latest-state
# row per shipment sent, holding that shipment's newest event time (and a
# status among the events at that time); one history row per distinct
# (carrier, tracking number, status, event time).  Then checks that the
# script stops the server by pid and that the subcommand starts and stops
# a server of its own when given no connection string.
# Exit 77 only when PostgreSQL cannot start here.
set -uo pipefail
: "${MILEPOST_BENCH:?set by meson}" "${MP_SOURCE_ROOT:?set by meson}"
script="$MP_SOURCE_ROOT/scripts/baseline-postgres"
work=$(mktemp -d /tmp/mp_it_baseline.XXXXXX)
chmod 755 "$work"
cleanup() { "$script" stop "$work/pg" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
export TMPDIR="$work"
failures=0
check() { if "${@:2}"; then echo "ok - $1"; else echo "not ok - $1"; failures=$((failures + 1)); fi; }

if ! conninfo=$("$script" start "$work/pg" 2>"$work/start.err"); then
  echo "SKIP: PostgreSQL cannot start here: $(tail -n 1 "$work/start.err")"
  exit 77
fi
check "the script printed a connection string" test -n "$conninfo"
check "the server listens on 127.0.0.1 only" grep -q '^host=127.0.0.1 port=[0-9]* ' <<<"$conninfo"
datadir=$(cat "$work/pg/datadir")
pid=$(head -n 1 "$datadir/pgdata/postmaster.pid")
check "the postmaster runs as postgres when started by root" \
  test "$(id -u)" -ne 0 -o "$(ps -o user= -p "$pid" | tr -d ' ')" = postgres

"$MILEPOST_BENCH" baseline-postgres --profile smoke --seed 11 --connections 3 --batch 500 \
  --conninfo "$conninfo" --events-out "$work/events.ndjson" >"$work/baseline.json" 2>"$work/baseline.err"
status=$?
check "baseline-postgres on the smoke profile exits 0" test $status -eq 0
[ $status -eq 0 ] || cat "$work/baseline.err"

psql_query() { psql "$conninfo" -XAtq -F '|' -c "$1"; }
psql_query "SELECT carrier, tracking_number, status, (extract(epoch FROM event_time) * 1000)::bigint
            FROM shipment_state" >"$work/state.txt"
psql_query "SELECT count(*) FROM shipment_event" >"$work/history_count.txt"
psql_query "SHOW synchronous_commit" >"$work/sync.txt"

python3 - "$work/events.ndjson" "$work/baseline.json" "$work/state.txt" "$work/history_count.txt" <<'EOF'
import json, sys
from datetime import datetime
events_path, summary_path, state_path, history_path = sys.argv[1:5]
failures = 0
def check(name, condition):
    global failures
    print(("ok - " if condition else "not ok - ") + name)
    failures += 0 if condition else 1

def ms(text):
    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)

events = [json.loads(line) for line in open(events_path, encoding="utf-8")]
summary = json.loads(open(summary_path).read())
newest = {}            # shipment -> (time, {statuses at that time})
history = set()
for event in events:
    key = (event["carrier"], event["tracking_number"])
    time = ms(event["event_time"])
    history.add(key + (event["status"], time))
    known = newest.get(key)
    if known is None or time > known[0]:
        newest[key] = (time, {event["status"]})
    elif time == known[0]:
        known[1].add(event["status"])

state = {}
for line in open(state_path, encoding="utf-8"):
    carrier, tracking, status, time = line.rstrip("\n").split("|")
    state[(carrier, tracking)] = (status, int(time))

check(f"the smoke profile sent events ({len(events)})", len(events) == summary["events"] > 0)
check(f"one latest-state row per shipment sent ({len(state)} rows, {len(newest)} shipments)",
      len(state) == len(newest) == summary["state_rows"] == summary["shipments_expected"])
wrong_time = [key for key, (time, statuses) in newest.items() if key not in state or state[key][1] != time]
check(f"every row holds its shipment's newest event time ({len(wrong_time)} wrong)", not wrong_time)
wrong_status = [key for key, (time, statuses) in newest.items() if key in state and state[key][0] not in statuses]
check(f"every row's status is one of the newest events' ({len(wrong_status)} wrong)", not wrong_status)
history_rows = int(open(history_path).read())
check(f"one history row per distinct event ({history_rows} rows, {len(history)} expected)",
      history_rows == len(history) == summary["history_rows"])
check("the duplicates were sent too (more lines than history rows)", len(events) > history_rows)
check("a transaction per batch of 500 per connection at most",
      summary["transactions"] >= len(events) / 500 and summary["transactions"] <= len(events) / 500 + 3)
check("events_per_s is positive", summary["events_per_s"] > 0)
sys.exit(1 if failures else 0)
EOF
[ $? -eq 0 ] || failures=$((failures + 1))
check "synchronous_commit is on" test "$(cat "$work/sync.txt")" = on

# Side by side in one run: milepost on the smoke profile, then the same events into PostgreSQL.
"$MILEPOST_BENCH" --profile smoke --driver tcp --no-progress --baseline postgres \
  --baseline-conninfo "$conninfo" --report "$work/side" 2>"$work/side.err"
status=$?
check "run --baseline postgres exits 0" test $status -eq 0
[ $status -eq 0 ] || cat "$work/side.err"
check "it printed the baseline line with the ratio" grep -q '^baseline: postgresql 15.*= [0-9.]*x$' "$work/side.err"
field() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"r": r}))' "$@"; }
check "results.json: the baseline ran on the events milepost was sent" \
  test "$(field "$work/side/results.json" 'int(r["baseline"]["ran"] and r["baseline"]["events_sent"] == r["events"]["sent"] > 0)')" = 1
check "results.json: the ratio is milepost's rate over the baseline's" \
  test "$(field "$work/side/results.json" 'int(abs(r["baseline"]["milepost_ratio"] * r["baseline"]["events_per_s"] - r["events_per_s"]) <= 0.01 * r["events_per_s"])')" = 1
check "results.json: the latest-state table holds every shipment" \
  test "$(field "$work/side/results.json" 'int(r["baseline"]["state_rows"] == r["oracle"]["shipments_expected"] > 0)')" = 1
check "report.html shows the baseline section and its chart" \
  grep -q 'id="chart-baseline"' "$work/side/report.html"

"$script" stop "$work/pg"
# A zombie is ended too: the daemonized postmaster's corpse waits for pid 1 to reap it.
check "stop ended the postmaster" bash -c "! kill -0 $pid 2>/dev/null || [ \"\$(awk '{print \$3}' /proc/$pid/stat 2>/dev/null)\" = Z ]"
check "stop removed the cluster's directory" test ! -e "$datadir"

# No connection string: the subcommand starts its own server and stops it.
MP_PG_CONNINFO= "$MILEPOST_BENCH" baseline-postgres --profile smoke --events 3000 \
  >"$work/own.json" 2>"$work/own.err"
status=$?
check "baseline-postgres without --conninfo exits 0" test $status -eq 0
[ $status -eq 0 ] || cat "$work/own.err"
check "it sent the 3000 events asked for" grep -q '"events":3000,' "$work/own.json"
# TMPDIR is $work, so its server's data directory was in there.
check "its server is gone afterwards" test -z "$(pgrep -f -- "-D $work/" || true)"
check "its temporary directories are gone" test -z "$(find "$work" -maxdepth 1 -name 'milepost-*pg*')"

"$MILEPOST_BENCH" baseline-postgres --conninfo "host=127.0.0.1 port=1 user=postgres connect_timeout=2" \
  --events 10 >/dev/null 2>"$work/refused.err"
status=$?
check "an unreachable server fails with exit 1" test $status -eq 1
check "and one line naming the problem" grep -q 'cannot connect to PostgreSQL' "$work/refused.err"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo "all baseline checks passed"
