#!/usr/bin/env python3
"""kill -9 of `milepost serve` in the middle of ERP push delivery, repeatedly (issue 5).

A slow ERP peer (erp_peer.ErpPeer answering after a delay, now and then a
500) keeps deliveries in flight while HTTP posters send new shipments.
Each round the server gets SIGKILL at a random moment and is restarted on
the same data directory.  After the last round every event ever sent is
sent once more (unacknowledged ones may or may not have been taken), and
the server runs until the outbox is empty.  Then:

  - the distinct keys the peer took (2xx) are exactly the expected set:
    one per (shipment, chosen milestone) among the events sent: nothing
    lost, in particular no state committed without its outbox row;
  - no key was ever received with two different bodies, and every key
    names one (shipment, milestone);
  - repeats of a key (at-least-once after a crash or a lost answer) are
    counted and reported, not failed.

`--rounds N` (default 10), `--seed S`.  Prints `ok - ...` / `not ok - ...`
and exits 1 on any failed check.  Environment: MILEPOST (set by meson).
"""
import argparse
import collections
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import erp_peer  # noqa: E402
import test_server as ts  # noqa: E402

CHOSEN = {"PICKED_UP", "DELIVERED", "RETURNED_TO_SENDER", "LOST", "DAMAGED", "CANCELLED"}
STATUS_SETS = [("PICKED_UP", "IN_TRANSIT", "DELIVERED"), ("PICKED_UP", "LOST"),
               ("PICKED_UP", "DAMAGED", "RETURN_TO_SENDER", "RETURNED_TO_SENDER"), ("CANCELLED",)]

failures = 0


def check(name, condition, detail=""):
    global failures
    print("%s - %s" % ("ok" if condition else "not ok", name), flush=True)
    if not condition:
        failures += 1
        for line in str(detail).splitlines()[:20]:
            print("#   %s" % line, flush=True)
    return condition


class Poster(threading.Thread):
    """Posts new shipments until stopped or the server dies; remembers every event sent."""

    def __init__(self, server, prefix, rng):
        super().__init__(daemon=True)
        self.server = server
        self.prefix = prefix
        self.rng = rng
        self.sent = []
        self.acknowledged = 0
        self.stop_flag = threading.Event()

    def run(self):
        index = 0
        try:
            client = ts.RawHTTP(self.server.http, timeout=10)
        except OSError:
            return
        try:
            while not self.stop_flag.is_set():
                batch = []
                for _ in range(5):
                    number = "%s-%05d" % (self.prefix, index)
                    index += 1
                    statuses = self.rng.choice(STATUS_SETS)
                    batch += [ts.ev(number, 10 * i, status, shipment_ref="SO-" + number)
                              for i, status in enumerate(statuses)]
                self.sent += batch
                try:
                    response = ts.post_events(client, batch)
                except Exception:  # noqa: BLE001  (the server was killed)
                    return
                if response.status == 202:
                    self.acknowledged += len(batch)
                time.sleep(0.01)
        finally:
            try:
                client.close()
            except Exception:  # noqa: BLE001
                pass


def identity(record):
    body = json.loads(record.body)
    return (body["tracking_number"], body["type"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true")
    options = parser.parse_args()
    seed = options.seed if options.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print("# milepost: %s seed=%d rounds=%d" % (ts.milepost(), seed, options.rounds), flush=True)
    work = tempfile.mkdtemp(prefix="mp_it_erp_crash.")
    data = os.path.join(work, "data")
    peer = erp_peer.ErpPeer().start()
    peer.delay_s = 0.02
    servers = []
    limit_s = 60 + 25 * options.rounds
    watchdog = threading.Timer(limit_s, lambda: (print("not ok - watchdog: over %d s" % limit_s, flush=True),
                                                 [s.kill9() for s in servers], os._exit(1)))
    watchdog.daemon = True
    watchdog.start()
    args = ["--erp-url", peer.url, "--set", "erp.timeout_ms=2s", "--set", "erp.retry_initial_ms=20ms",
            "--set", "erp.retry_max_ms=300ms", "--set", "erp.batch_max=16"]
    sent = []
    kills_mid_delivery = 0
    try:
        for round_index in range(options.rounds):
            server = ts.Server(data, args=args)
            servers.append(server)
            server.start()
            peer.set(mode="error" if rng.random() < 0.2 else "ok")
            poster = Poster(server, "R%02d" % round_index, rng)
            poster.start()
            time.sleep(rng.uniform(0.4, 1.5))
            if peer.mode == "error":
                peer.set(mode="ok")
                time.sleep(rng.uniform(0.05, 0.3))
            backlog = ts.metrics(server.http).get("milepost_erp_backlog", 0)
            in_flight_before = len(peer.snapshot())
            server.kill9()
            poster.stop_flag.set()
            poster.join(10)
            sent += poster.sent
            if backlog > 0:
                kills_mid_delivery += 1
            print("# round %d: sent %d, acknowledged %d, backlog at kill %d, peer records %d"
                  % (round_index, len(poster.sent), poster.acknowledged, backlog, in_flight_before), flush=True)
            reports = [l for l in server.stderr().splitlines()
                       if "Sanitizer" in l or "runtime error" in l or "assert" in l.lower()]
            if reports:
                check("round %d: no assertion or sanitizer report" % round_index, False, reports[:5])
            server.cleanup()
        check("kill -9 hit with confirmations pending in most rounds (%d of %d)"
              % (kills_mid_delivery, options.rounds), kills_mid_delivery * 2 >= options.rounds)

        # The final run: everything sent once more, then drain the outbox.
        peer.set(mode="ok", delay_s=0.0)
        server = ts.Server(data, args=args)
        servers.append(server)
        server.start()
        client = ts.RawHTTP(server.http, timeout=60)
        try:
            for at in range(0, len(sent), 200):
                for _attempt in range(100):
                    response = ts.post_events(client, sent[at:at + 200])
                    if response.status != 503:
                        break
                    time.sleep(0.1)
                check_once = response.status == 202
                if not check_once:
                    check("final resend accepted", False, response.status)
                    break
        finally:
            client.close()
        expected = {(e["tracking_number"], e["status"]) for e in sent if e["status"] in CHOSEN}
        drained = erp_peer.wait_for(
            lambda: ts.metrics(server.http).get("milepost_erp_backlog", 1) == 0
            and expected <= {identity(r) for r in peer.snapshot() if r.status == 200}, 120, 0.2)
        check("final run: the outbox drains", drained)
        received = peer.snapshot()
        keys = collections.defaultdict(list)
        for r in received:
            keys[r.key].append(r)
        delivered = collections.Counter(identity(r) for r in received if r.status == 200)
        got = set(delivered)
        check("nothing lost: delivered (shipment, milestone) = expected (%d)" % len(expected), got == expected,
              "missing %d e.g. %s; unexpected %s" % (len(expected - got), sorted(expected - got)[:5],
                                                     sorted(got - expected)[:5]))
        two_bodies = [k for k, rs in keys.items() if len({r.body for r in rs}) != 1]
        check("no key delivered under two different contents", not two_bodies, two_bodies[:5])
        names = [k for k, rs in keys.items() if len({identity(r) for r in rs}) != 1]
        check("every key names one (shipment, milestone)", not names, names[:5])
        per_identity = collections.defaultdict(set)
        for r in received:
            per_identity[identity(r)].add(r.key)
        check("one key per (shipment, milestone)", all(len(v) == 1 for v in per_identity.values()))
        repeats = sum(c - 1 for c in delivered.values())
        print("# %d confirmations, %d delivered more than once (at-least-once after kill -9), %d requests"
              % (len(expected), sum(1 for c in delivered.values() if c > 1), peer.requests), flush=True)
        del repeats
        code, _ = server.stop()
        check("final server: SIGTERM exits 0", code == 0, server.stderr()[-600:])
        reports = [l for l in server.stderr().splitlines()
                   if "Sanitizer" in l or "runtime error" in l or "assert" in l.lower()]
        check("final server: no assertion or sanitizer report", not reports, reports[:5])
        stats = json.loads(ts_cli("erp", "stats", "--data", data) or "{}")
        check("erp stats after the runs: backlog 0, DLQ empty", stats.get("backlog") == 0 and stats.get("dlq") == 0,
              stats)
    except Exception:  # noqa: BLE001
        import traceback
        check("ran to the end", False, traceback.format_exc()[-2000:])
    finally:
        watchdog.cancel()
        for s in servers:
            s.cleanup()
        peer.stop()
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("# seed %d: %s" % (seed, "ok" if failures == 0 else "%d failed" % failures), flush=True)
    return 1 if failures else 0


def ts_cli(*args):
    import subprocess
    result = subprocess.run([ts.milepost()] + list(args), capture_output=True, text=True, timeout=60)
    return result.stdout


if __name__ == "__main__":
    sys.exit(main())
