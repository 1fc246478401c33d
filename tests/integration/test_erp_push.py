#!/usr/bin/env python3
"""ERP push delivery (issue 5) against a real HTTP peer on 127.0.0.1.

`milepost serve --erp-url` POSTs confirmations to erp_peer.ErpPeer, which
records every confirmation it received.  During the run the peer is
stopped (connections refused), answers 500s, hangs past erp.timeout_ms,
and answers 400 to one poison confirmation.  At the end:

  - the distinct keys received with a 2xx are exactly the expected set,
    computed from the events the test sent (first event of each chosen
    milestone per shipment), one key per (shipment, milestone);
  - no key was ever sent with two different bodies;
  - a key is sent again only after an ambiguous failure of its last try
    (500, timeout, refused), never after a 2xx;
  - a shipment's later confirmation is never sent while an earlier one is
    unsettled (per-shipment order);
  - the poison confirmation is in the DLQ with the peer's answer
    (`milepost erp dlq`), `erp replay` refuses while the server runs and,
    once it is stopped, moves it back: the restarted server re-sends the
    same key and bytes;
  - auth header and HMAC signature were on every request; metrics count
    delivered, retried and dead-lettered;
  - batch mode (erp.batch) POSTs arrays without the key header;
  - the filter of a config file (erp.milestones, erp.carriers) holds.

Prints `ok - ...` / `not ok - ...`; exit 0 when all pass, 1 otherwise.
Environment: MILEPOST (set by meson).
"""
import collections
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import erp_peer  # noqa: E402
import test_server as ts  # noqa: E402

CHOSEN = {"PICKED_UP", "DELIVERED", "RETURNED_TO_SENDER", "LOST", "DAMAGED", "CANCELLED"}
HMAC_SECRET = "erp-test-secret"
AUTH_HEADER = "X-Api-Key: k-123"


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, condition, detail=""):
        if condition:
            self.passed += 1
            print("ok - %s" % name, flush=True)
        else:
            self.failed += 1
            print("not ok - %s" % name, flush=True)
            if detail:
                for line in str(detail).splitlines()[:20]:
                    print("#   %s" % line, flush=True)
        return condition


T = Checks()


def milepost_cli(*args, timeout=60):
    return subprocess.run([ts.milepost()] + list(args), capture_output=True, text=True, timeout=timeout)


def shipment_events(number, carrier="UPS", statuses=("PICKED_UP", "IN_TRANSIT", "DELIVERED"), base=0):
    return [ts.ev(number, base + 10 * i, status, carrier=carrier, shipment_ref="SO-" + number,
                  signer="J DOE" if status == "DELIVERED" else None,
                  weight={"value": 1.5, "unit": "kg"},
                  money=[{"kind": "cod", "amount": "12.50", "currency": "USD"}])
            for i, status in enumerate(statuses)]


def strip_none(event):
    return {k: v for k, v in event.items() if v is not None}


def post_all(server, events, chunk=50):
    """POSTs events; returns the accepted (carrier, number, status) triples."""
    client = ts.RawHTTP(server.http, timeout=30)
    accepted = []
    try:
        for at in range(0, len(events), chunk):
            batch = [strip_none(e) for e in events[at:at + chunk]]
            for _attempt in range(100):
                response = ts.post_events(client, batch)
                if response.status != 503:
                    break
                time.sleep(0.1)
            if response.status != 202:
                raise RuntimeError("POST /v1/events: %d %r" % (response.status, response.body[:200]))
            answer = json.loads(response.body)
            rejected = {r["index"] for r in answer["rejected"]}
            for index, event in enumerate(batch):
                if index not in rejected:
                    accepted.append((event["carrier"], event["tracking_number"], event["status"]))
    finally:
        client.close()
    return accepted


def expected_confirmations(accepted):
    """{(number, type)} of chosen milestones among accepted events (one per shipment and milestone)."""
    return {(number, status) for _carrier, number, status in accepted if status in CHOSEN}


def by_key(received):
    keys = collections.defaultdict(list)
    for r in received:
        keys[r.key].append(r)
    return keys


def identity(record):
    body = json.loads(record.body)
    return (body["tracking_number"], body["type"])


def check_delivery_rules(label, received, expected, replayed_keys=()):
    keys = by_key(received)
    delivered = {k for k, rs in keys.items() if any(r.status == 200 for r in rs)}
    identities = {}
    for key, records in keys.items():
        identities[key] = {identity(r) for r in records}
    T.check("%s: every key names one (shipment, milestone)" % label,
            all(len(v) == 1 for v in identities.values()),
            [k for k, v in identities.items() if len(v) != 1][:5])
    delivered_identities = collections.Counter(next(iter(identities[k])) for k in delivered)
    T.check("%s: one key per (shipment, milestone)" % label,
            all(c == 1 for c in delivered_identities.values()),
            [i for i, c in delivered_identities.items() if c != 1][:5])
    got = set(delivered_identities)
    T.check("%s: distinct delivered keys = expected set (%d)" % (label, len(expected)), got == expected,
            "missing %s; unexpected %s" % (sorted(expected - got)[:5], sorted(got - expected)[:5]))
    two_bodies = [k for k, rs in keys.items() if len({r.body for r in rs}) != 1]
    T.check("%s: no key under two different bodies" % label, not two_bodies, two_bodies[:5])
    bad_repeats = []
    for key, records in keys.items():
        records = sorted(records, key=lambda r: r.at)
        for earlier in records[:-1]:
            if earlier.status in (200, 400) and key not in replayed_keys:
                bad_repeats.append((key, [r.status for r in records]))
                break
    T.check("%s: a key repeats only after an ambiguous failure (500, timeout)" % label, not bad_repeats,
            bad_repeats[:5])
    return keys, delivered


def check_order(label, received):
    """A shipment's DELIVERED is never received before its PICKED_UP settled (2xx)."""
    times = collections.defaultdict(lambda: collections.defaultdict(list))
    for r in received:
        number, kind = identity(r)
        times[number][kind].append(r)
    bad = []
    for number, kinds in times.items():
        if "PICKED_UP" in kinds and "DELIVERED" in kinds:
            picked = kinds["PICKED_UP"]
            settled = [r.at for r in picked if r.status in (200, 400)]
            first_delivered = min(r.at for r in kinds["DELIVERED"])
            if not settled or min(settled) > first_delivered:
                bad.append(number)
    T.check("%s: per-shipment order (PICKED_UP settled before DELIVERED sent)" % label, not bad, bad[:5])


def main():
    print("# milepost: %s" % ts.milepost(), flush=True)
    work = tempfile.mkdtemp(prefix="mp_it_erp_push.")
    servers = []
    peer = erp_peer.ErpPeer().start()
    peer.hmac_secret = HMAC_SECRET
    peer.auth_header = AUTH_HEADER
    watchdog = threading.Timer(500, lambda: (print("not ok - watchdog: over 500 s", flush=True),
                                             [s.kill9() for s in servers], os._exit(1)))
    watchdog.daemon = True
    watchdog.start()
    try:
        run_push(work, peer, servers)
        run_batch(work, servers)
        run_filter(work, servers)
        run_backlog_pushback(work, servers)
        reports = [l for s in servers for l in s.stderr().splitlines()
                   if "Sanitizer" in l or "runtime error" in l or "assert" in l.lower()]
        T.check("no server logged an assertion or a sanitizer report", not reports, reports[:5])
    except Exception as error:  # noqa: BLE001
        import traceback
        T.check("ran to the end", False, traceback.format_exc()[-2000:])
    finally:
        watchdog.cancel()
        for server in servers:
            server.cleanup()
        peer.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("# %d passed, %d failed" % (T.passed, T.failed), flush=True)
    return 1 if T.failed else 0


def push_server(data, peer, extra=()):
    args = ["--erp-url", peer.url,
            "--set", "erp.timeout_ms=700ms", "--set", "erp.retry_initial_ms=50ms",
            "--set", "erp.retry_max_ms=800ms",
            "--set", "erp.hmac_secret=" + HMAC_SECRET, "--set", "erp.auth_header=" + AUTH_HEADER]
    return ts.Server(data, args=args + list(extra))


def run_push(work, peer, servers):
    data = os.path.join(work, "push")
    server = push_server(data, peer)
    servers.append(server)
    server.start()
    accepted = []
    poison_number = "POISON0001"

    def poison_hit():
        return any(r.status == 400 for r in peer.snapshot())

    # Phase 1: all well.
    accepted += post_all(server, [e for i in range(40) for e in shipment_events("OK%04d" % i)])
    # Phase 2: the peer is away (connections refused) while events keep coming.
    peer.stop()
    accepted += post_all(server, [e for i in range(40, 70) for e in shipment_events("OK%04d" % i)])
    time.sleep(1.5)
    metrics_away = ts.metrics(server.http)
    T.check("peer away: backlog builds up", metrics_away.get("milepost_erp_backlog", 0) > 0,
            metrics_away.get("milepost_erp_backlog"))
    peer.start()
    # Phase 3: 500s.
    peer.set(mode="error")
    accepted += post_all(server, [e for i in range(70, 90) for e in shipment_events("OK%04d" % i)])
    time.sleep(1.0)
    # Phase 4: hangs past the timeout (the peer got the body; the sender cannot know).
    peer.set(mode="hang", hang_s=1.5)
    accepted += post_all(server, [e for i in range(90, 100) for e in shipment_events("OK%04d" % i)])
    time.sleep(2.0)
    # Phase 5: well again, plus one poison confirmation answered 400 (chosen by content).
    peer.set(mode="ok", poison_match=lambda d: d.get("tracking_number") == poison_number
             and d.get("type") == "DELIVERED")
    accepted += post_all(server, shipment_events(poison_number))
    accepted += post_all(server, [e for i in range(100, 120) for e in
                                  shipment_events("OK%04d" % i, statuses=("PICKED_UP", "LOST"))])
    expected = expected_confirmations(accepted)
    poison_identity = (poison_number, "DELIVERED")
    deliverable = expected - {poison_identity}

    def all_delivered():
        got = {identity(r) for r in peer.snapshot() if r.status == 200}
        return deliverable <= got and poison_hit()

    done = erp_peer.wait_for(all_delivered, 60)
    T.check("push: every expected confirmation delivered within 60 s", done,
            "missing %s" % sorted(deliverable - {identity(r) for r in peer.snapshot() if r.status == 200})[:5])
    time.sleep(0.5)
    received = peer.snapshot()
    statuses = collections.Counter(r.status for r in received)
    T.check("push: the peer saw 500s, 400 and 200s", statuses[500] > 0 and statuses[400] == 1 and statuses[200] > 0,
            dict(statuses))
    T.check("push: refused connections and hangs happened (retries counted)",
            ts.metrics(server.http).get('milepost_erp_retried_total{destination="push"}', 0) > 0)
    T.check("push: some deliveries hung past the timeout", statuses["hang"] > 0, dict(statuses))
    check_order("push", received)
    T.check("push: every request carried the auth header and a valid HMAC signature",
            peer.bad_signatures == 0 and peer.bad_auth == 0, (peer.bad_signatures, peer.bad_auth))
    T.check("push: single mode sent Idempotency-Key = the body's key",
            all(r.header_key == r.key and not r.batched for r in received))
    poison_records = [r for r in received if identity(r) == poison_identity]
    T.check("push: the poison was sent once and answered 400", [r.status for r in poison_records] == [400],
            [r.status for r in poison_records])
    poison_key = poison_records[0].key if poison_records else None
    poison_body = poison_records[0].body if poison_records else None

    # The confirmation carries what invoicing needs.
    sample = next(json.loads(r.body) for r in received if identity(r) == ("OK0001", "DELIVERED"))
    T.check("push: confirmation fields (shipment_ref, event_time, signer, weight, money, location key)",
            sample["shipment_ref"] == "SO-OK0001" and sample["signer"] == "J DOE"
            and sample["weight"] == {"value": 1.5, "unit": "kg"}
            and sample["money"] == [{"kind": "cod", "amount": "12.50", "currency": "USD"}]
            and sample["event_time"] == ts.event_time(20) and "location" in sample
            and sample["type"] == "DELIVERED" and len(sample["idempotency_key"]) == 32, sample)

    # The DLQ beside the running server.
    result = milepost_cli("erp", "dlq", "--data", data)
    lines = [json.loads(l) for l in result.stdout.splitlines() if l.strip()]
    T.check("erp dlq: exit 0, one entry", result.returncode == 0 and len(lines) == 1, result.stdout + result.stderr)
    dlq_sequence = None
    if lines:
        entry = lines[0]
        dlq_sequence = entry["sequence"]
        T.check("erp dlq: the poison with status 400 and the peer's answer",
                entry["idempotency_key"] == poison_key and entry["status"] == 400
                and "unknown_customer" in entry["answer"] and entry["confirmation"]["idempotency_key"] == poison_key
                and entry["attempts"] == 1, entry)
        T.check("erp dlq: the confirmation bytes are the ones sent",
                json.dumps(entry["confirmation"], separators=(",", ":")).encode() == poison_body)
    stats = json.loads(milepost_cli("erp", "stats", "--data", data).stdout or "{}")
    T.check("erp stats: backlog 0, dlq 1, counters", stats.get("backlog") == 0 and stats.get("dlq") == 1
            and stats.get("dead_lettered_total") == 1 and stats.get("delivered_total", 0) >= len(deliverable), stats)
    m = ts.metrics(server.http)
    T.check("metrics: delivered, dead-lettered, backlog 0, latency histogram",
            m.get('milepost_erp_delivered_total{destination="push"}', 0) >= 1
            and m.get('milepost_erp_dead_lettered_total{destination="push"}') == 1
            and m.get("milepost_erp_backlog") == 0
            and m.get('milepost_erp_delivery_latency_seconds_count{destination="push"}', 0) > 0, 
            {k: v for k, v in m.items() if k.startswith("milepost_erp") and "bucket" not in k})

    # Replay: refused while the server holds the directory.
    refused = milepost_cli("erp", "replay", "--data", data, str(dlq_sequence))
    T.check("erp replay: exit 1 while a server runs, saying so", refused.returncode == 1
            and "server" in refused.stderr, refused.stderr)
    code, _ = server.stop()
    T.check("push server: SIGTERM exits 0", code == 0, server.stderr()[-600:])
    usage = [milepost_cli("erp").returncode, milepost_cli("erp", "bogus").returncode,
             milepost_cli("erp", "list", "--bogus").returncode, milepost_cli("erp", "stats", "extra").returncode,
             milepost_cli("erp", "replay", "--data", data).returncode]
    T.check("erp: bad usage exits 2", usage == [2, 2, 2, 2, 2], usage)
    helped = milepost_cli("erp", "--help")
    T.check("erp --help: exit 0 with the commands", helped.returncode == 0 and "replay" in helped.stdout)
    nowhere = milepost_cli("erp", "list", "--data", os.path.join(work, "nowhere"))
    T.check("erp list: a missing directory is exit 1 with one line", nowhere.returncode == 1
            and len(nowhere.stderr.strip().splitlines()) == 1, nowhere.stderr)
    bad = milepost_cli("erp", "replay", "--data", data, "x-y")
    T.check("erp replay: bad range is usage (exit 2)", bad.returncode == 2, bad.stderr)
    missing = milepost_cli("erp", "replay", "--data", data, "999999")
    T.check("erp replay: a missing entry is exit 1", missing.returncode == 1, missing.stderr)
    peer.set(poison_match=None)
    replayed = milepost_cli("erp", "replay", "--data", data, str(dlq_sequence))
    T.check("erp replay: exit 0, one replayed", replayed.returncode == 0
            and json.loads(replayed.stdout or "{}").get("replayed") == 1, replayed.stdout + replayed.stderr)
    dlq_after = milepost_cli("erp", "dlq", "--data", data)
    T.check("erp replay: the DLQ is empty after", dlq_after.returncode == 0 and not dlq_after.stdout.strip(),
            dlq_after.stdout)
    pending = milepost_cli("erp", "list", "--data", data)
    listed = [json.loads(l) for l in pending.stdout.splitlines() if l.strip()]
    T.check("erp list: the replayed confirmation is pending with the same key",
            len(listed) == 1 and listed[0]["confirmation"]["idempotency_key"] == poison_key, pending.stdout)
    server2 = push_server(data, peer)
    servers.append(server2)
    server2.start()
    ok = erp_peer.wait_for(lambda: any(identity(r) == poison_identity and r.status == 200 for r in peer.snapshot()), 20)
    T.check("replay: the restarted server delivered the poison", ok)
    received = peer.snapshot()
    again = [r for r in received if identity(r) == poison_identity]
    T.check("replay: same key and bytes as the refused delivery",
            len(again) == 2 and again[1].key == poison_key and again[1].body == poison_body,
            [(r.status, r.key) for r in again])
    check_delivery_rules("push", received, expected, replayed_keys={poison_key})
    # After all that, nothing else arrives (nothing is sent twice after a 2xx).
    before = len(peer.snapshot())
    time.sleep(1.0)
    T.check("push: idle server sends nothing more", len(peer.snapshot()) == before)
    code, _ = server2.stop()
    T.check("push server after replay: SIGTERM exits 0", code == 0, server2.stderr()[-600:])
    problems = [l for s in (server, server2) for l in s.stderr().splitlines()
                if "error" in l.lower() or "assert" in l.lower() or "sanitizer" in l.lower()]
    T.check("push: no errors or assertions in the server logs", not problems, problems[:5])


def run_batch(work, servers):
    peer = erp_peer.ErpPeer().start()
    try:
        data = os.path.join(work, "batch")
        server = ts.Server(data, args=["--erp-url", peer.url, "--set", "erp.batch=true",
                                       "--set", "erp.batch_max=25", "--set", "erp.retry_initial_ms=50ms",
                                       "--set", "erp.retry_max_ms=500ms", "--set", "erp.timeout_ms=2s"])
        servers.append(server)
        server.start()
        peer.set(mode="error")
        accepted = post_all(server, [e for i in range(60) for e in shipment_events("B%04d" % i)])
        time.sleep(0.5)
        peer.set(mode="ok")
        expected = expected_confirmations(accepted)
        done = erp_peer.wait_for(lambda: expected <= {identity(r) for r in peer.snapshot() if r.status == 200}, 30)
        T.check("batch: every expected confirmation delivered", done)
        received = peer.snapshot()
        T.check("batch: arrays without the Idempotency-Key header",
                all(r.batched and r.header_key is None for r in received), received[:1] and vars_of(received[0]))
        T.check("batch: at most 25 per POST and more than one per POST on average",
                peer.requests > 0 and len(received) / peer.requests > 1.0
                and max(collections.Counter(r.request for r in received).values()) <= 25,
                (len(received), peer.requests))
        check_delivery_rules("batch", received, expected)
        code, _ = server.stop()
        T.check("batch server: SIGTERM exits 0", code == 0, server.stderr()[-600:])
    finally:
        peer.stop()


def run_backlog_pushback(work, servers):
    """An ERP away too long: past erp.backlog_max, ingest answers 503; none is dropped."""
    peer = erp_peer.ErpPeer().start()
    try:
        data = os.path.join(work, "backlog")
        server = ts.Server(data, args=["--erp-url", peer.url, "--set", "erp.backlog_max=10",
                                       "--set", "erp.retry_initial_ms=50ms",
                                       "--set", "erp.retry_max_ms=200ms", "--set", "erp.timeout_ms=1s"])
        servers.append(server)
        server.start()
        peer.set(mode="error")
        client = ts.RawHTTP(server.http, timeout=30)
        statuses = []
        accepted = []
        for index in range(20):
            # Each shipment fires two confirmations (PICKED_UP, DELIVERED).
            batch = [strip_none(e) for e in shipment_events("Q%04d" % index)]
            response = ts.post_events(client, batch)
            statuses.append(response.status)
            if response.status == 202:
                accepted += [(e["carrier"], e["tracking_number"], e["status"]) for e in batch]
        client.close()
        T.check("backlog: 503 once the outbox holds more than erp.backlog_max",
                202 in statuses and 503 in statuses and statuses.index(503) <= 7, statuses)
        peer.set(mode="ok")
        expected = expected_confirmations(accepted)
        done = erp_peer.wait_for(lambda: expected <= {identity(r) for r in peer.snapshot() if r.status == 200}, 30)
        T.check("backlog: every confirmation of the accepted events delivered after the ERP is back",
                done, (len(expected), len(peer.snapshot())))
        client = ts.RawHTTP(server.http, timeout=30)
        response = ts.post_events(client, [strip_none(e) for e in shipment_events("Q9999")])
        client.close()
        T.check("backlog: ingest takes events again once the backlog drained", response.status == 202,
                response.status)
        code, _ = server.stop()
        T.check("backlog server: SIGTERM exits 0", code == 0, server.stderr()[-600:])
    finally:
        peer.stop()


def vars_of(record):
    return {name: getattr(record, name) for name in record.__slots__ if name != "body"}


def run_filter(work, servers):
    peer = erp_peer.ErpPeer().start()
    try:
        data = os.path.join(work, "filter")
        config = os.path.join(work, "filter.yaml")
        with open(config, "w") as f:
            f.write("erp:\n  url: %s\n  retry_initial_ms: 50ms\n  milestones: [DELIVERED, LOST]\n"
                    "  carriers:\n    - ups\n    - Deutsche Post\n" % peer.url)
        server = ts.Server(data, args=["--config", config])
        servers.append(server)
        server.start()
        events = []
        for i in range(10):
            events += shipment_events("F%04d" % i, carrier="UPS")
            events += shipment_events("G%04d" % i, carrier="FedEx")
            events += shipment_events("H%04d" % i, carrier="Deutsche Post",
                                      statuses=("PICKED_UP", "LOST"))
        post_all(server, events)
        expected = {("F%04d" % i, "DELIVERED") for i in range(10)} | {("H%04d" % i, "LOST") for i in range(10)}
        erp_peer.wait_for(lambda: expected <= {identity(r) for r in peer.snapshot()}, 20)
        time.sleep(0.5)
        got = {identity(r) for r in peer.snapshot()}
        T.check("filter: only the listed milestones of the listed carriers fire", got == expected,
                "unexpected %s missing %s" % (sorted(got - expected)[:5], sorted(expected - got)[:5]))
        bad = ts.Server(os.path.join(work, "filter-bad"), args=["--erp-url", peer.url,
                                                                 "--set", "erp.milestones=DELIVERED,SHIPPED"])
        try:
            bad.start(timeout=5)
            started = True
        except ts.ServerError:
            started = False
        bad.cleanup()
        T.check("filter: an unknown milestone name stops start-up", not started)
        code, _ = server.stop()
        T.check("filter server: SIGTERM exits 0", code == 0, server.stderr()[-600:])
    finally:
        peer.stop()


if __name__ == "__main__":
    sys.exit(main())
