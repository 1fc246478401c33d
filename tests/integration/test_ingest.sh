#!/usr/bin/env bash
# Integration: the real `milepost` binary on real files and a real store.
# ingest (NDJSON, array, one object, stdin, malformed and oversized input),
# get (shape of the state JSON, normalization, not found), rejects list,
# exit codes and one-line errors, the data-directory lock, a full disk.
set -uo pipefail
: "${MILEPOST:?set by meson}"
work=$(mktemp -d /tmp/mp_it_ingest.XXXXXX)
mounted=""
cleanup() {
  [ -n "$mounted" ] && umount "$mounted" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
check() { # check DESCRIPTION COMMAND...
  if "${@:2}"; then echo "ok - $1"; else echo "not ok - $1"; failures=$((failures + 1)); fi
}
json_field() { python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(json.dumps(eval("d"+sys.argv[1])))' "$1"; }

data="$work/data"
cat >"$work/events.ndjson" <<'EOF'
{"carrier":"UPS","tracking_number":"1Z999AA10123456784","status":"LABEL_CREATED","event_time":"2026-11-24T17:40:00-05:00"}
{"carrier":"UPS","tracking_number":"1Z999AA10123456784","status":"PICKED_UP","event_time":"2026-11-25T11:10:00-05:00","location":{"city":"Louisville","region":"KY","country":"US"},"shipment_ref":"SO-1002"}
{"carrier":"UPS","tracking_number":"1Z999AA10123456784","status":"DELIVERED","event_time":"2026-11-27T14:03:00-05:00","location":{"city":"Atlanta","region":"GA","country":"US","postal_code":"30301"},"signer":"J SMITH"}

{"tracking_number":"1z999aa10123456784","carrier":"ups","event_time":"2026-11-27T19:03:00Z","status":"DELIVERED","location":{"postal_code":"30301","country":"US","region":"GA","city":"ATLANTA"}}
{"carrier":"UPS","tracking_number":"1Z999AA10123456784","status":"IN_TRANSIT","event_time":"2026-11-28T01:00:00Z"}
this line is not JSON
{"carrier":"UPS","tracking_number":"1Z1","status":"ARRIVED","event_time":"2026-11-27T19:03:00Z"}
{"carrier":"UPS","tracking_number":"1Z1","status":"DELIVERED","event_time":"2026-11-27T19:03:00"}
{"carrier":"UPS","tracking_number":"1Z1","status":"DELIVERED"}
[1,2]
EOF

out=$("$MILEPOST" ingest --data "$data" --no-progress "$work/events.ndjson")
check "ingest exits 0 with rejects in the input" test $? -eq 0
check "summary counts read" test "$(echo "$out" | json_field '["read"]')" = 10
check "summary counts accepted" test "$(echo "$out" | json_field '["accepted"]')" = 4
check "summary counts the re-spelled delivery as a duplicate" test "$(echo "$out" | json_field '["duplicates"]')" = 1
check "summary counts rejects" test "$(echo "$out" | json_field '["rejected"]')" = 5
check "rejects by reason" python3 -c '
import json, sys
assert json.loads(sys.argv[1])["rejected_by_error"] == {"bad_json": 1, "unknown_status": 1, "bad_time": 1,
                                                        "missing_field": 1, "not_an_event": 1}' "$out"
check "one outbox entry each for PICKED_UP and DELIVERED" test "$(echo "$out" | json_field '["outbox"]')" = 2

state=$("$MILEPOST" get --data "$data" "U.P.S." "1z999 aa1 0123456784")
check "get finds the shipment by normalized carrier and number" test $? -eq 0
check "sticky DELIVERED survives a later IN_TRANSIT" test "$(echo "$state" | json_field '["status"]')" = '"DELIVERED"'
check "status_time is the delivery in UTC" test "$(echo "$state" | json_field '["status_time"]')" = '"2026-11-27T19:03:00Z"'
check "last_location from the latest event that has one" test "$(echo "$state" | json_field '["last_location"]["city"]')" = '"Atlanta"'
check "every documented key is present" python3 - "$state" <<'EOF'
import json, sys
state = json.loads(sys.argv[1])
keys = ["carrier", "tracking_number", "qualifier", "status", "status_time", "reason", "milestones",
        "last_location", "estimated_delivery", "shipment_ref", "damaged", "first_event_time",
        "last_event_time", "event_count", "duplicate_count", "sources", "version"]
missing = [k for k in keys if k not in state]
assert not missing, missing
assert state["event_count"] == 4 and state["version"] == 4 and state["duplicate_count"] == 1
assert state["milestones"]["PICKED_UP"] == "2026-11-25T16:10:00Z"
assert state["sources"] == ["canonical"] and state["shipment_ref"] == "SO-1002"
EOF
timeline=$("$MILEPOST" get --data "$data" --timeline UPS 1Z999AA10123456784)
check "timeline lists accepted events oldest first" python3 - "$timeline" <<'EOF'
import json, sys
state = json.loads(sys.argv[1])
times = [e["event_time"] for e in state["timeline"]]
assert len(times) == 4 and times == sorted(times), times
assert state["timeline_truncated"] is False
assert state["timeline"][0]["received_at"].endswith("Z")
EOF

"$MILEPOST" get --data "$data" UPS NOPE >"$work/out" 2>"$work/err"
check "get of an unknown shipment exits 1" test $? -eq 1
check "with a one-line error" test "$(wc -l <"$work/err")" -eq 1

rejects=$("$MILEPOST" rejects list --data "$data")
check "rejects are kept with reason and raw bytes" python3 - "$rejects" <<'EOF'
import json, sys
lines = [json.loads(l) for l in sys.argv[1].splitlines()]
assert len(lines) == 5, lines
by_error = {l["error"]: l for l in lines}
assert by_error["bad_json"]["raw"] == "this line is not JSON"
assert by_error["bad_json"]["index"] == 6
assert by_error["unknown_status"]["index"] == 7
assert "ARRIVED" in by_error["unknown_status"]["raw"]
EOF

# Arrays, single objects and standard input take the same path.
echo '[{"carrier":"DHL","tracking_number":"JD1","status":"PICKED_UP","event_time":"2026-11-20T10:00:00+01:00"},{"carrier":"DHL","tracking_number":"JD1","status":"IN_TRANSIT","event_time":"2026-11-21T10:00:00+01:00"}]' >"$work/array.json"
printf '{\n  "carrier": "USPS",\n  "tracking_number": "9400",\n  "status": "DELIVERED",\n  "event_time": "2026-11-20T10:00:00Z"\n}\n' >"$work/one.json"
out=$(cat "$work/one.json" | "$MILEPOST" ingest --data "$data" --no-progress "$work/array.json" -)
check "array file and stdin object ingest together" test "$(echo "$out" | json_field '["accepted"]')" = 3
check "a pretty-printed object from stdin is one event" test "$("$MILEPOST" get --data "$data" usps 9400 | json_field '["status"]')" = '"DELIVERED"'

# Oversized fields are refused with a reason, never truncated.
python3 -c 'import json; print(json.dumps({"carrier":"UPS","tracking_number":"T"*65,"status":"DELIVERED","event_time":"2026-11-20T10:00:00Z"}))' >"$work/big.ndjson"
out=$("$MILEPOST" ingest --data "$data" --no-progress "$work/big.ndjson")
check "a tracking number over its bound is too_big" test "$(echo "$out" | json_field '["rejected_by_error"]')" = '{"too_big": 1}'

# Every malformed file of JSONTestSuite is refused without a crash.
suite="$MP_SOURCE_ROOT/../shared/testdata/JSONTestSuite/test_parsing"
if [ -d "$suite" ]; then
  crashed=0 accepted=0
  for file in "$suite"/n_*.json; do
    out=$("$MILEPOST" ingest --data "$work/suite" --no-progress "$file" 2>/dev/null)
    code=$?
    [ $code -ge 2 ] && { crashed=$((crashed + 1)); echo "# crash ($code): $file"; }
    [ "$(echo "$out" | json_field '["accepted"]' 2>/dev/null)" = 0 ] || accepted=$((accepted + 1))
  done
  check "no n_ file crashes ingest" test $crashed -eq 0
  check "no n_ file yields an event" test $accepted -eq 0
fi

# Usage errors exit 2; help and version exit 0.
"$MILEPOST" ingest --data "$data" 2>/dev/null; check "ingest without files is bad usage" test $? -eq 2
"$MILEPOST" ingest --cores 0 x 2>/dev/null; check "--cores 0 is bad usage" test $? -eq 2
"$MILEPOST" ingest --source ebay x 2>/dev/null; check "an unknown source is bad usage" test $? -eq 2
"$MILEPOST" frobnicate 2>/dev/null; check "an unknown command is bad usage" test $? -eq 2
"$MILEPOST" --help >/dev/null; check "--help exits 0" test $? -eq 0
check "--version names milepost" bash -c "'$MILEPOST' --version | grep -q '^milepost '"
"$MILEPOST" ingest --data "$data" --no-progress "$work/missing.ndjson" 2>"$work/err"
check "a missing input exits 1" test $? -eq 1
check "naming the file" grep -q "missing.ndjson" "$work/err"

# A data directory held by another process: exit 1, nothing written.
python3 - "$data/LOCK" "$MILEPOST" "$data" "$work/events.ndjson" <<'EOF' >"$work/lock.out" 2>&1
import fcntl, subprocess, sys
with open(sys.argv[1], "r+") as lock:
    fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    result = subprocess.run([sys.argv[2], "ingest", "--data", sys.argv[3], "--no-progress", sys.argv[4]],
                            capture_output=True, text=True)
    print(result.returncode)
    print(result.stderr.strip())
EOF
check "ingest into a held directory exits 1" test "$(head -1 "$work/lock.out")" = 1
check "saying the directory is in use" grep -q "in use" "$work/lock.out"

# The ERP filter of a server configuration: --set and --config narrow which events queue
# confirmations, as in serve; a bad key is bad usage.
cat >"$work/filter.ndjson" <<'EOF'
{"carrier":"UPS","tracking_number":"1ZF1","status":"PICKED_UP","event_time":"2026-11-25T10:00:00Z"}
{"carrier":"UPS","tracking_number":"1ZF1","status":"DELIVERED","event_time":"2026-11-26T10:00:00Z"}
{"carrier":"FedEx","tracking_number":"7700F2","status":"PICKED_UP","event_time":"2026-11-25T10:00:00Z"}
{"carrier":"FedEx","tracking_number":"7700F2","status":"DELIVERED","event_time":"2026-11-26T10:00:00Z"}
EOF
queued() { # queued DATA: the outbox as sorted TRACKING:TYPE words
  "$MILEPOST" erp list --data "$1" | python3 -c '
import json, sys
print(" ".join(sorted("%s:%s" % (e["confirmation"]["tracking_number"], e["confirmation"]["type"])
                      for e in (json.loads(l) for l in sys.stdin if l.strip()))))'
}
out=$("$MILEPOST" ingest --data "$work/f_default" --no-progress "$work/filter.ndjson")
check "no filter: every default milestone queues (4)" test "$(echo "$out" | json_field '["outbox"]')" = 4
"$MILEPOST" ingest --data "$work/f_set" --no-progress --set erp.milestones=DELIVERED "$work/filter.ndjson" >/dev/null
check "--set erp.milestones=DELIVERED: the deliveries only" test "$(queued "$work/f_set")" = "1ZF1:DELIVERED 7700F2:DELIVERED"
printf 'erp:\n  milestones: [PICKED_UP, DELIVERED]\n  carriers: [FedEx]\n' >"$work/filter.yaml"
"$MILEPOST" ingest --data "$work/f_config" --no-progress --config "$work/filter.yaml" "$work/filter.ndjson" >/dev/null
check "--config with erp.carriers: FedEx's milestones only" test "$(queued "$work/f_config")" = "7700F2:DELIVERED 7700F2:PICKED_UP"
"$MILEPOST" ingest --data "$work/f_bad" --no-progress --set erp.milestones=ARRIVED "$work/filter.ndjson" >/dev/null 2>"$work/err"
check "an unknown milestone in --set is bad usage (exit 2)" test $? -eq 2
check "naming the option" grep -q "erp.milestones" "$work/err"
check "and nothing was ingested" test ! -e "$work/f_bad"
"$MILEPOST" ingest --data "$work/f_bad" --no-progress --set erp.milestones "$work/filter.ndjson" >/dev/null 2>"$work/err"
check "--set without = is bad usage (exit 2)" test $? -eq 2

# A full disk: a clear error and exit 1, not a crash.
if [ "$(id -u)" -eq 0 ] && mkdir -p "$work/small" && mount -t tmpfs -o size=24m tmpfs "$work/small" 2>/dev/null; then
  mounted="$work/small"
  python3 - "$work/many.ndjson" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as out:
    for i in range(60000):
        out.write(json.dumps({"carrier": "UPS", "tracking_number": "FULL%06d" % i, "status": "IN_TRANSIT",
                              "event_time": "2026-11-20T10:00:00Z", "description": "x" * 200}) + "\n")
EOF
  "$MILEPOST" ingest --data "$work/small/data" --no-progress --disk-reserve-mb 8 "$work/many.ndjson" >/dev/null 2>"$work/err"
  code=$?
  check "a full disk exits 1" test $code -eq 1
  check "with one line saying the disk is full" bash -c "test \$(wc -l <'$work/err') -eq 1 && grep -q 'nearly full' '$work/err'"
  "$MILEPOST" get --data "$work/small/data" UPS FULL000000 >/dev/null 2>&1
  check "the store still opens and reads after it" test $? -le 1
  umount "$work/small" && mounted=""
else
  echo "ok - full disk # SKIP cannot mount a tmpfs here"
fi

echo "# $failures failures"
[ $failures -eq 0 ]
