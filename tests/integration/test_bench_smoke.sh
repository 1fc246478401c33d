#!/usr/bin/env bash
# Integration: `milepost-bench --profile smoke` starts this build's milepost
# on kernel-chosen ports, drives it (HTTP, then TCP), reads every shipment
# back and compares it with the independent oracle.  It must exit 0 with
# oracle_mismatches 0 and events_per_s > 0 in results.json, leave no server
# behind, and catch a server that holds the wrong workload (verify with
# another seed fails with examples).
set -uo pipefail
: "${MILEPOST:?set by meson}" "${MILEPOST_BENCH:?set by meson}"
work=$(mktemp -d /tmp/mp_it_bench.XXXXXX)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
failures=0
check() { if "${@:2}"; then echo "ok - $1"; else echo "not ok - $1"; failures=$((failures + 1)); fi; }
field() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"r": r}))' "$@"; }

export TMPDIR="$work"
for driver in http tcp; do
  "$MILEPOST_BENCH" --profile smoke --driver "$driver" --no-progress --report "$work/$driver" \
    2>"$work/$driver.err"
  status=$?
  check "smoke over $driver exits 0" test $status -eq 0
  [ $status -eq 0 ] || cat "$work/$driver.err"
  check "$driver: results.json has oracle_mismatches 0" \
    test "$(field "$work/$driver/results.json" 'r["oracle_mismatches"]')" = 0
  check "$driver: events_per_s > 0" \
    test "$(field "$work/$driver/results.json" 'int(r["events_per_s"] > 0)')" = 1
  check "$driver: every shipment was read back" \
    test "$(field "$work/$driver/results.json" 'int(r["oracle"]["shipments_read"] == r["oracle"]["shipments_expected"] > 0)')" = 1
  check "$driver: every event settled" \
    test "$(field "$work/$driver/results.json" 'int(r["events"]["acked"] == r["events"]["sent"] == r["config"]["events"])')" = 1
  check "$driver: ack latency percentiles are ordered" \
    test "$(field "$work/$driver/results.json" 'int(0 < r["ack_latency_us"]["p50"] <= r["ack_latency_us"]["p99"] <= r["ack_latency_us"]["max"])')" = 1
done
# TCP sends every shipment canonical: one accepted event per distinct event.
check "tcp: the server's accepted count is the workload's distinct count" \
  test "$(field "$work/tcp/results.json" 'int(r["events"]["accepted"] == r["config"]["distinct_events"])')" = 1
# HTTP sends some shipments as native webhooks, each source's own counter moves.
for source in easypost aftership shippo shipengine ups fedex dhl 17track; do
  check "http: $source webhooks were sent and taken" \
    test "$(field "$work/http/results.json" "int(sum(c['after'] - c['before'] for c in r['counters'] if c['name'] == 'milepost_ingest_source_events_total{source=\"$source\"}') > 0)")" = 1
done
check "no temporary server directory left behind" \
  test -z "$(find "$work" -maxdepth 1 -name 'milepost-bench.*')"

# verify against a server fed by the bench: the right seed passes, another fails.
"$MILEPOST" serve --data "$work/data" --http 127.0.0.1:0 --tcp 127.0.0.1:0 --udp 127.0.0.1:0 \
  >"$work/listen" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 100); do grep -q '^listening' "$work/listen" 2>/dev/null && break; sleep 0.1; done
http=$(grep -o 'http=[^ ]*' "$work/listen" | cut -d= -f2)
"$MILEPOST_BENCH" --server "$http" --profile smoke --seed 5 --no-progress 2>"$work/feed.err"
check "a run against --server exits 0" test $? -eq 0
"$MILEPOST_BENCH" verify --server "$http" --profile smoke --seed 6 --no-erp 2>"$work/wrong.err"
check "verify with another seed exits 1" test $? -eq 1
check "and names mismatches" grep -q "mismatch:" "$work/wrong.err"
"$MILEPOST_BENCH" verify --server "$http" --profile smoke --seed 5 --no-erp 2>"$work/right.err"
check "verify with the seed that fed it exits 0" test $? -eq 0

# One event the workload never had, posted behind the bench's back: the
# oracle must notice that very shipment.
"$MILEPOST_BENCH" --server "$http" --driver tcp --tcp "$(grep -o 'tcp=[^ ]*' "$work/listen" | cut -d= -f2)" \
  --profile default --events 2000 --shipments 200 --seed 9 --no-progress 2>"$work/feed2.err"
check "a tcp run against --server exits 0" test $? -eq 0
"$MILEPOST_BENCH" gen --events 2000 --shipments 200 --seed 9 | head -1 >"$work/first.ndjson"
python3 - "$work/first.ndjson" >"$work/extra.json" <<'PY'
import json, sys
event = json.loads(open(sys.argv[1]).readline())
print(json.dumps({"carrier": event["carrier"], "tracking_number": event["tracking_number"],
                  "status": "LOST", "event_time": "2027-06-01T00:00:00Z", "source_status": "X"}))
PY
number=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tracking_number"])' "$work/extra.json")
curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$work/extra.json" \
  "http://$http/v1/events" >"$work/extra.code"
check "the extra event was accepted" test "$(cat "$work/extra.code")" = 202
"$MILEPOST_BENCH" verify --server "$http" --profile default --events 2000 --shipments 200 --seed 9 \
  --no-erp 2>"$work/tampered.err"
check "verify of the tampered shipment exits 1" test $? -eq 1
check "and names that shipment's status" grep -q "mismatch: .* ${number} status: expected .*, server has LOST" "$work/tampered.err"
check "and only that shipment" test "$(grep -c 'mismatch:' "$work/tampered.err")" -ge 1 -a \
  "$(grep 'mismatch:' "$work/tampered.err" | grep -vc "$number")" -eq 0

kill -TERM $server_pid
wait $server_pid
check "the server exits 0 on SIGTERM" test $? -eq 0
server_pid=""

"$MILEPOST_BENCH" --profile nope 2>/dev/null
check "an unknown profile is a usage error" test $? -eq 2
echo "# $failures failures"
[ $failures -eq 0 ]
