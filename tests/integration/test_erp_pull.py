#!/usr/bin/env python3
"""Integration: ERP pull mode (GET /v1/erp/confirmations, POST /v1/erp/ack).

Starts the real `milepost serve` on 127.0.0.1 (kernel-chosen ports, a
temporary data directory, erp.mode pull with a short visibility timeout),
sends canonical events, and acts as the ERP: consumers that long-poll for
confirmations and acknowledge them.  Checks, against API.md and
docs/erp.md "Pull mode":

- 404 not_in_pull_mode in push mode; 400/405 for bad requests; acks of
  unknown or already acknowledged keys count nothing;
- a long poll waits, is woken by a commit that writes confirmations, and
  long polls do not hold up portal reads; past 64 waiting polls the next
  ones are answered at once;
- two competing consumers: every confirmation is leased to one of them at
  a time (a second hand-out of a key only after its lease ran out), a
  shipment's later confirmation is never handed out before its earlier one
  was acknowledged, every hand-out of a key carries the same bytes,
  confirmations a consumer drops come back after the lease, and in the end
  the acknowledged keys are exactly the keys computed from the events sent
  (XXH3-128 over the length-prefixed shipment key and milestone name,
  docs/semantics.md), each with the fields of its event;
- restarts: leases are forgotten (unacknowledged confirmations are
  available again at once), acknowledgements are durable (also across
  kill -9 right after the answer), and new confirmations after a restart
  get new sequence numbers and are handed out.

Prints TAP-like lines and a summary; exits 1 on any failure.  Environment:
MILEPOST (the binary; set by meson).
"""
import ctypes
import json
import os
import shutil
import struct
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import test_server as harness  # noqa: E402
from test_server import RawHTTP, Server, dumps, ev, metrics  # noqa: E402

VISIBILITY_MS = 1500
WAITERS_MAX = 64

T = harness.Report()


# ---------------------------------------------------------------------------
# Expected keys: docs/semantics.md "ERP confirmations", independent of milepost
# ---------------------------------------------------------------------------

class _Hash128(ctypes.Structure):
    _fields_ = [("low64", ctypes.c_uint64), ("high64", ctypes.c_uint64)]


_XXHASH = None


def xxh3_128_hex(data):
    global _XXHASH
    if _XXHASH is None:
        _XXHASH = ctypes.CDLL("libxxhash.so.0")
        _XXHASH.XXH3_128bits.restype = _Hash128
        _XXHASH.XXH3_128bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    value = _XXHASH.XXH3_128bits(data, len(data))
    return "%016x%016x" % (value.high64, value.low64)


def confirmation_key(carrier_code, tracking_number, milestone, qualifier=""):
    """Idempotency key of (shipment, milestone): the carrier code and number as normalized."""
    def part(text):
        raw = text.encode()
        return struct.pack("<I", len(raw)) + raw
    shipment_key = "%s\0%s\0%s" % (carrier_code, tracking_number, qualifier)
    return xxh3_128_hex(part(shipment_key) + part(milestone))


# ---------------------------------------------------------------------------
# The ERP side
# ---------------------------------------------------------------------------

def split_confirmations(body):
    """The raw bytes of each element of {"confirmations":[...]}, and the parsed objects."""
    text = body.decode()
    prefix = '{"confirmations":['
    if not text.startswith(prefix) or not text.endswith("]}"):
        raise ValueError("unexpected body %r" % text[:200])
    decoder = json.JSONDecoder()
    at, raws, objects = len(prefix), [], []
    while text[at] != "]":
        value, end = decoder.raw_decode(text, at)
        raws.append(text[at:end])
        objects.append(value)
        at = end
        if text[at] == ",":
            at += 1
    return raws, objects


def fetch(client, max_count=100, wait_ms=0):
    response = client.request("GET", "/v1/erp/confirmations?max=%d&wait_ms=%d" % (max_count, wait_ms))
    if response.status != 200:
        raise ValueError("fetch: %r" % response)
    return split_confirmations(response.body)


def ack(client, keys):
    response = client.request("POST", "/v1/erp/ack", dumps({"ids": list(keys)}),
                              content_type="application/json")
    if response.status != 200:
        raise ValueError("ack: %r" % response)
    return response.json()["acked"]


def post(address, events):
    client = RawHTTP(address)
    try:
        response = client.request("POST", "/v1/events", dumps(events),
                                  content_type="application/json")
    finally:
        client.close()
    if response.status != 202 or response.json()["accepted"] != len(events):
        raise ValueError("post events: %r" % response)


def start(data, args=(), cores=2):
    server = Server(data, ["--set", "erp.visibility_timeout_ms=%dms" % VISIBILITY_MS] + list(args),
                    cores)
    return server.start()


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------

def case_not_in_pull_mode(work):
    server = Server(os.path.join(work, "push"), ["--erp-url", "http://127.0.0.1:9/erp"], 1).start()
    try:
        client = RawHTTP(server.http)
        response = client.request("GET", "/v1/erp/confirmations?max=1")
        T.check("push mode: GET /v1/erp/confirmations is 404 not_in_pull_mode",
                response.status == 404 and response.json().get("error") == "not_in_pull_mode",
                response)
        response = client.request("POST", "/v1/erp/ack", '{"ids":[]}', content_type="application/json")
        T.check("push mode: POST /v1/erp/ack is 404 not_in_pull_mode",
                response.status == 404 and response.json().get("error") == "not_in_pull_mode",
                response)
        client.close()
    finally:
        server.stop()
        server.cleanup()


def case_requests(server):
    client = RawHTTP(server.http)
    for path, method, status in (("/v1/erp/confirmations?max=0", "GET", 400),
                                 ("/v1/erp/confirmations?max=x", "GET", 400),
                                 ("/v1/erp/confirmations?wait_ms=-1", "GET", 400),
                                 ("/v1/erp/confirmations", "POST", 405),
                                 ("/v1/erp/ack", "GET", 405),
                                 ("/v1/erp/other", "GET", 404)):
        response = client.request(method, path, "" if method == "POST" else None)
        T.check("%s %s is %d" % (method, path, status), response.status == status, response)
    for body, status, code in (('{"ids":', 400, "bad_json"), ("[1]", 400, "bad_request"),
                               ('{"ids":[1]}', 400, "bad_request"), ('{"id":[]}', 400, "bad_request")):
        response = client.request("POST", "/v1/erp/ack", body, content_type="application/json")
        T.check("ack body %s is %d %s" % (body, status, code),
                response.status == status and response.json().get("error") == code, response)
    T.check("ack of unknown and malformed ids counts nothing",
            ack(client, ["0" * 32, "not-a-key", "F" * 32]) == 0)
    started = time.monotonic()
    raws, _ = fetch(client, 10, 0)
    T.check("empty queue, wait_ms=0: empty answer at once",
            raws == [] and time.monotonic() - started < 1.0, (raws, time.monotonic() - started))
    started = time.monotonic()
    raws, _ = fetch(client, 10, 400)
    took = time.monotonic() - started
    T.check("empty queue, wait_ms=400: empty answer after the wait", raws == [] and 0.35 <= took < 3,
            took)
    client.close()


def case_long_poll_wakes(server):
    client = RawHTTP(server.http)
    result = {}

    def poll():
        started = time.monotonic()
        result["raws"], result["objects"] = fetch(client, 10, 20000)
        result["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=poll)
    thread.start()
    time.sleep(0.5)
    posted = time.monotonic()
    post(server.http, [ev("WAKE1", 0, "DELIVERED")])
    thread.join(30)
    key = confirmation_key("UPS", "WAKE1", "DELIVERED")
    T.check("a waiting long poll is answered when the commit writes a confirmation",
            [o["idempotency_key"] for o in result.get("objects", [])] == [key] and
            result["seconds"] >= 0.45 and time.monotonic() - posted < 5, result)
    T.check("ack of the fetched key counts 1", ack(client, [key]) == 1)
    T.check("ack of it again counts 0", ack(client, [key]) == 0)
    client.close()


def case_waiters_bounded(server):
    """64 polls wait; further ones answer at once; portal reads go on meanwhile."""
    post(server.http, [ev("READS1", 0, "IN_TRANSIT")])
    wait_ms = 5000
    count = WAITERS_MAX + 6
    clients = [RawHTTP(server.http, timeout=30) for _ in range(count)]
    seconds = [None] * count

    def poll(index):
        started = time.monotonic()
        try:
            fetch(clients[index], 5, wait_ms)
            seconds[index] = time.monotonic() - started
        except Exception as error:  # noqa: BLE001
            seconds[index] = error

    threads = [threading.Thread(target=poll, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
        time.sleep(0.005)
    time.sleep(1.0)
    reader = RawHTTP(server.http)
    started = time.monotonic()
    response = harness.get_shipment(reader, "UPS", "READS1")
    read_seconds = time.monotonic() - started
    T.check("portal read answered while %d long polls wait" % count,
            response.status == 200 and read_seconds < 1.0, (response, read_seconds))
    values = metrics(server.http)
    T.check("milepost_erp_pull_waiting is %d while they wait" % WAITERS_MAX,
            values.get("milepost_erp_pull_waiting") == WAITERS_MAX, values.get("milepost_erp_pull_waiting"))
    reader.close()
    for thread in threads:
        thread.join(30)
    for client in clients:
        client.close()
    early = [s for s in seconds if isinstance(s, float) and s < 2.0]
    waited = [s for s in seconds if isinstance(s, float) and s >= wait_ms / 1000.0 - 0.1]
    T.check("past %d waiting polls the rest answer at once (%d early, %d waited the full time)"
            % (WAITERS_MAX, len(early), len(waited)),
            len(early) == count - WAITERS_MAX and len(waited) == WAITERS_MAX, seconds)


class Consumer(threading.Thread):
    """One ERP worker: long-polls, 'processes', acknowledges; may drop some hand-outs."""

    def __init__(self, name, address, log, lock, drop_every, stop_when):
        super().__init__(daemon=True)
        self.name_ = name
        self.client = RawHTTP(address, timeout=30)
        self.log = log
        self.lock = lock
        self.drop_every = drop_every
        self.stop_when = stop_when
        self.dropped = set()
        self.error = None
        self.seen = 0

    def run(self):
        try:
            while not self.stop_when():
                sent = time.monotonic()
                raws, objects = fetch(self.client, 20, 1000)
                received = time.monotonic()
                to_ack = []
                for raw, obj in zip(raws, objects):
                    key = obj["idempotency_key"]
                    self.seen += 1
                    drop = (self.drop_every and key not in self.dropped and
                            self.seen % self.drop_every == 0)
                    with self.lock:
                        self.log["handouts"].setdefault(key, []).append(
                            {"consumer": self.name_, "sent": sent, "received": received,
                             "raw": raw, "object": obj, "dropped": drop})
                    if drop:
                        self.dropped.add(key)
                    else:
                        to_ack.append(key)
                if to_ack:
                    ack_sent = time.monotonic()
                    acked = ack(self.client, to_ack)
                    with self.lock:
                        for key in to_ack:
                            self.log["ack_sent"].setdefault(key, ack_sent)
                        self.log["acked_counts"].append((len(to_ack), acked))
                        self.log["acked"].update(to_ack)
        except Exception as error:  # noqa: BLE001
            self.error = "%s: %s" % (type(error).__name__, error)
        finally:
            self.client.close()


def case_competing_consumers(server):
    shipments = 150
    numbers = ["CC%04d" % index for index in range(shipments)]
    expected = {}
    for number in numbers:
        for milestone in ("PICKED_UP", "DELIVERED"):
            expected[confirmation_key("UPS", number, milestone)] = (number, milestone)
    before = metrics(server.http)
    log = {"handouts": {}, "ack_sent": {}, "acked": set(), "acked_counts": []}
    lock = threading.Lock()
    done = lambda: expected.keys() <= log["acked"]  # noqa: E731
    consumers = [Consumer("A", server.http, log, lock, 0, done),
                 Consumer("B", server.http, log, lock, 4, done)]
    for consumer in consumers:
        consumer.start()
    # PICKED_UP first (earlier outbox rows), then DELIVERED and a non-confirming event.
    for start_index in range(0, shipments, 50):
        post(server.http, [ev(n, 10, "PICKED_UP") for n in numbers[start_index:start_index + 50]])
    for start_index in range(0, shipments, 50):
        post(server.http, [ev(n, 20, "IN_TRANSIT") for n in numbers[start_index:start_index + 50]] +
             [ev(n, 30, "DELIVERED") for n in numbers[start_index:start_index + 50]])
    deadline = time.monotonic() + 90
    while not done() and time.monotonic() < deadline and all(c.is_alive() for c in consumers):
        time.sleep(0.1)
    for consumer in consumers:
        consumer.join(10)
    T.check("consumers ran without errors", all(c.error is None for c in consumers),
            [c.error for c in consumers])
    handouts = log["handouts"]
    T.check("every expected key was acknowledged (%d)" % len(expected),
            expected.keys() <= log["acked"], sorted(set(expected) - log["acked"])[:5])
    T.check("no key beyond the expected ones was handed out", set(handouts) <= set(expected),
            sorted(set(handouts) - set(expected))[:5])
    T.check("acks counted every key once in total",
            sum(acked for _, acked in log["acked_counts"]) == len(expected), log["acked_counts"][:10])
    overlaps, bytes_differ, fields_bad = [], [], []
    for key, items in handouts.items():
        items.sort(key=lambda item: item["received"])
        for first, second in zip(items, items[1:]):
            if not first["dropped"] or second["received"] - first["sent"] < VISIBILITY_MS / 1000.0:
                overlaps.append((key, first["consumer"], second["consumer"],
                                 second["received"] - first["sent"], first["dropped"]))
        if len({item["raw"] for item in items}) != 1:
            bytes_differ.append(key)
        number, milestone = expected.get(key, (None, None))
        obj = items[0]["object"]
        if (obj.get("type"), obj.get("tracking_number"), obj.get("carrier")) != (milestone, number, "UPS"):
            fields_bad.append((key, obj))
    T.check("a key is handed out again only after its lease ran out, and only if it was not acked",
            not overlaps, overlaps[:5])
    T.check("every hand-out of a key carries the same bytes", not bytes_differ, bytes_differ[:5])
    T.check("each confirmation carries its event's type, carrier and number", not fields_bad,
            fields_bad[:3])
    redelivered = [key for key, items in handouts.items() if len(items) > 1]
    dropped = consumers[1].dropped
    T.check("every dropped confirmation came back after its lease (%d dropped)" % len(dropped),
            dropped and dropped <= set(redelivered), sorted(dropped - set(redelivered))[:5])
    by_consumer = {c.name_: sum(1 for items in handouts.values() for i in items
                                if i["consumer"] == c.name_) for c in consumers}
    T.check("both consumers got confirmations %r" % by_consumer, all(by_consumer.values()))
    order_broken = []
    for number in numbers:
        picked = confirmation_key("UPS", number, "PICKED_UP")
        delivered = confirmation_key("UPS", number, "DELIVERED")
        if delivered in handouts and picked in log["ack_sent"]:
            first_delivered = min(item["received"] for item in handouts[delivered])
            if first_delivered < log["ack_sent"][picked]:
                order_broken.append(number)
    T.check("a shipment's DELIVERED is never handed out before its PICKED_UP is acknowledged",
            not order_broken, order_broken[:5])
    after = metrics(server.http)
    T.check("milepost_erp_pull_acked_total rose by %d" % len(expected),
            harness.delta(before, after, "milepost_erp_pull_acked_total") == len(expected))
    T.check("milepost_erp_pull_expired_total counts the dropped leases",
            harness.delta(before, after, "milepost_erp_pull_expired_total") >= len(dropped))
    T.check("nothing left: backlog 0, no lease",
            after.get("milepost_erp_backlog") == 0 and after.get("milepost_erp_pull_leased") == 0,
            (after.get("milepost_erp_backlog"), after.get("milepost_erp_pull_leased")))


def case_restarts(work):
    data = os.path.join(work, "restart")
    server = start(data, ["--set", "erp.visibility_timeout_ms=60s"])
    numbers = ["RS%03d" % index for index in range(20)]
    keys = {confirmation_key("UPS", n, "LOST"): n for n in numbers}
    try:
        post(server.http, [ev(n, 5, "LOST") for n in numbers])
        client = RawHTTP(server.http)
        _, first = fetch(client, 10, 2000)
        first_keys = [o["idempotency_key"] for o in first]
        T.check("fetched 10 of 20", len(first_keys) == 10 and set(first_keys) <= set(keys), first_keys)
        acked_before_stop = first_keys[:5]
        T.check("acked 5", ack(client, acked_before_stop) == 5)
        _, nothing = fetch(client, 100, 0)
        T.check("the 5 leased ones are not handed out again before the lease ends",
                not set(o["idempotency_key"] for o in nothing) & set(first_keys),
                [o["idempotency_key"] for o in nothing])
        client.close()
        code, _ = server.stop()
        T.check("SIGTERM: exit 0", code == 0, server.stderr()[-1500:])
    finally:
        server.cleanup()

    server = start(data, ["--set", "erp.visibility_timeout_ms=60s"])
    try:
        client = RawHTTP(server.http)
        _, again = fetch(client, 100, 2000)
        again_keys = {o["idempotency_key"] for o in again}
        T.check("after a restart every unacknowledged confirmation is available at once (15)",
                again_keys == set(keys) - set(acked_before_stop), sorted(again_keys)[:3])
        kill_acked = sorted(again_keys)[:5]
        T.check("acked 5 more", ack(client, kill_acked) == 5)
        client.close()
        server.kill9()
    finally:
        server.cleanup()

    server = start(data, ["--set", "erp.visibility_timeout_ms=60s"])
    try:
        client = RawHTTP(server.http)
        _, third = fetch(client, 100, 2000)
        third_keys = {o["idempotency_key"] for o in third}
        T.check("an ack answered before kill -9 stays: the other 10 come back",
                third_keys == set(keys) - set(acked_before_stop) - set(kill_acked),
                (len(third_keys), sorted(third_keys & set(kill_acked))))
        T.check("ack the rest", ack(client, sorted(third_keys)) == len(third_keys))
        post(server.http, [ev("RSNEW", 5, "DELIVERED")])
        _, fresh = fetch(client, 100, 3000)
        T.check("a confirmation written after the restarts is handed out",
                [o["idempotency_key"] for o in fresh] == [confirmation_key("UPS", "RSNEW", "DELIVERED")],
                [o["idempotency_key"] for o in fresh])
        ack(client, [o["idempotency_key"] for o in fresh])
        client.close()
        code, _ = server.stop()
        T.check("SIGTERM: exit 0", code == 0)
    finally:
        server.cleanup()

    server = start(data)
    try:
        client = RawHTTP(server.http)
        _, empty = fetch(client, 100, 300)
        T.check("after everything was acked and a restart, nothing comes back", empty == [], empty)
        post(server.http, [ev("RSNEW2", 5, "DELIVERED")])
        _, fresh = fetch(client, 100, 3000)
        T.check("a new confirmation after the queue was emptied and reopened is handed out "
                "(sequence numbers are not reused below the cursor)",
                [o["idempotency_key"] for o in fresh] == [confirmation_key("UPS", "RSNEW2", "DELIVERED")],
                fresh)
        client.close()
        server.stop()
    finally:
        server.cleanup()


def case_shutdown_with_waiters(work):
    server = start(os.path.join(work, "shutdown"))
    try:
        clients = [RawHTTP(server.http, timeout=30) for _ in range(4)]
        results = []

        def poll(client):
            try:
                results.append(fetch(client, 5, 30000)[0])
            except Exception as error:  # noqa: BLE001
                results.append(error)

        threads = [threading.Thread(target=poll, args=(c,)) for c in clients]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        code, seconds = server.stop()
        for thread in threads:
            thread.join(10)
        T.check("SIGTERM with long polls waiting: they are answered and the server exits 0 fast",
                code == 0 and seconds < 5 and results == [[]] * 4, (code, seconds, results))
        for client in clients:
            client.close()
    finally:
        server.cleanup()


def main():
    work = tempfile.mkdtemp(prefix="mp_erp_pull_")
    try:
        try:
            case_not_in_pull_mode(work)
            server = start(os.path.join(work, "main"))
            try:
                case_requests(server)
                case_long_poll_wakes(server)
                case_waiters_bounded(server)
                case_competing_consumers(server)
                code, _ = server.stop()
                T.check("main server: SIGTERM exit 0", code == 0, server.stderr()[-2000:])
            finally:
                server.cleanup()
            case_restarts(work)
            case_shutdown_with_waiters(work)
        except Exception:  # noqa: BLE001
            T.check("no unexpected exception", False, traceback.format_exc())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("# %d passed, %d failed" % (T.passed, T.failed))
    return 1 if T.failed else 0


if __name__ == "__main__":
    sys.exit(main())
