#!/usr/bin/env bash
# Integration: a generated capture replayed through `milepost serve --dpdk`
# (DPDK's net_pcap device, no NIC, no hugepages) gives every shipment the
# state that milepost-bench's independent oracle expects for the same
# generated events (`milepost-bench verify`), and the offline ingest of
# them the same accepted count.  Malformed frames in the capture are
# counted, not fatal.  Exit 77 (skipped) only when this milepost has no DPDK or the EAL
# cannot start on this machine.
set -uo pipefail
: "${MILEPOST:?set by meson}" "${MILEPOST_BENCH:?set by meson}" "${MAKE_PCAP:?set by meson}"
work=$(mktemp -d /tmp/mp_it_dpdk.XXXXXX)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
failures=0
check() { if "${@:2}"; then echo "ok - $1"; else echo "not ok - $1"; failures=$((failures + 1)); fi; }

if "$MILEPOST" serve --dpdk "--no-huge" --print-config 2>&1 | grep -q "without DPDK"; then
  echo "# SKIP: this milepost was built without DPDK"
  exit 77
fi
"$MILEPOST_BENCH" gen --events 4000 --shipments 600 --seed 11 --out "$work/events.ndjson" 2>/dev/null
"$MAKE_PCAP" --output "$work/events.pcap" --destination 127.0.0.1:7413 --lines 2 --malformed 20 \
  "$work/events.ndjson" >/dev/null
"$MILEPOST" ingest --data "$work/oracle" --no-progress "$work/events.ndjson" >"$work/oracle.json"

cores=$(nproc)
lcore=$((cores - 1))
"$MILEPOST" serve --data "$work/data" --cores 1 --http 127.0.0.1:0 --tcp 127.0.0.1:0 \
  --udp 127.0.0.1:7413 \
  --dpdk "--no-huge --no-pci -l $lcore --no-shconf --file-prefix=mp-it-$$ --no-telemetry --vdev=net_pcap0,rx_pcap=$work/events.pcap" \
  >"$work/listen" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 100); do grep -q '^listening' "$work/listen" 2>/dev/null && break; kill -0 $server_pid 2>/dev/null || break; sleep 0.1; done
if ! grep -q '^listening' "$work/listen"; then
  if grep -q "EAL" "$work/server.err"; then
    echo "# SKIP: the EAL cannot start here: $(grep -m1 -i 'dpdk\|EAL' "$work/server.err")"
    exit 77
  fi
  echo "not ok - serve --dpdk started"; cat "$work/server.err"; exit 1
fi
http=$(grep -o 'http=[^ ]*' "$work/listen" | cut -d= -f2)
metric() { curl -s "http://$http/metrics" | awk -v name="$1" '$1 == name {print $2}'; }
# The replay is finite: wait until every event was taken and applied.
for _ in $(seq 200); do
  [ "$(metric milepost_dpdk_events_total)" = 4000 ] &&
    [ "$(( $(metric milepost_shard_accepted_events_total) + $(metric milepost_shard_duplicate_events_total) ))" = 4000 ] && break
  sleep 0.1
done
check "every event of the capture was taken" test "$(metric milepost_dpdk_events_total)" = 4000
check "none dropped" test "$(metric milepost_dpdk_dropped_events_total)" = 0
check "malformed frames counted" test $(( $(metric milepost_dpdk_bad_frames_total) + $(metric milepost_dpdk_fragments_total) + $(metric milepost_dpdk_other_frames_total) + $(metric milepost_dpdk_rejected_records_total) )) -ge 10
check "accepted as many as the offline oracle" test "$(metric milepost_shard_accepted_events_total)" = \
  "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["accepted"])' "$work/oracle.json")"
# Every shipment and ERP confirmation: what the independent oracle expects
# for the workload the capture was made from (same generator options).
"$MILEPOST_BENCH" verify --server "$http" --profile default --events 4000 --shipments 600 --seed 11 \
  2>"$work/verify.err"
check "every shipment matches the oracle (milepost-bench verify)" test $? -eq 0
sed -n 's/^/# /p' "$work/verify.err" | head -12
kill -TERM $server_pid
wait $server_pid
check "SIGTERM exits 0" test $? -eq 0
server_pid=""
echo "# $failures failures"
[ $failures -eq 0 ]
