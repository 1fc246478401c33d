#!/usr/bin/env python3
"""Crash test of `milepost serve` (issue 3): kill -9 while clients stream, lose nothing.

Each run: TCP NDJSON streamers and HTTP posters send events to a running
server and record every event it acknowledged (an ack line covering it, a
202 answering it); at a random moment the server gets SIGKILL; it is
restarted on the same data directory and then

  - every acknowledged event must be in the store (GET .../?timeline=true),
    a missing one is a *loss*;
  - every acknowledged event, resent over HTTP, must count as a duplicate;
  - after everything sent (acknowledged or not) is resent, each shipment
    holds exactly the distinct events sent for it: nothing lost, nothing
    counted twice.

The restarted server carries the next run.  A fresh data directory is
started every --runs-per-dir runs so the store stays small.  The seed is
printed; --seed repeats a sequence of kill moments and client mixes.

Prints `ok - ...` / `not ok - ...` per run, then `# losses: N` and a
summary; exits 1 on any loss or failed check.  Environment: MILEPOST (the
binary; set by meson), MP_SOURCE_ROOT.
"""
import argparse
import collections
import os
import random
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_server as ts  # noqa: E402  (the harness: Server, Poster, Streamer, Ledger, ...)


def sent_by_shipment(posters, streamers):
    sent = collections.defaultdict(dict)      # (carrier, number) -> {event_time: event}
    for poster in posters:
        for event in poster.sent:
            sent[(event["carrier"], event["tracking_number"])][event["event_time"]] = event
    for streamer in streamers:
        for event in streamer.events:
            sent[(event["carrier"], event["tracking_number"])][event["event_time"]] = event
    return sent


def resend_acknowledged(server, ledger, sent):
    """POSTs every acknowledged event again; returns (events resent, events not counted as duplicates)."""
    events = [sent[key][time_] for key in sorted(ledger.acked) for time_ in sorted(ledger.acked[key])]
    not_duplicates = 0
    client = ts.RawHTTP(server.http, timeout=60)
    try:
        for at in range(0, len(events), 500):
            batch = events[at:at + 500]
            for _attempt in range(50):
                response = ts.post_events(client, batch)
                if response.status != 503:
                    break
                time.sleep(0.05)
            if response.status != 202:
                not_duplicates += len(batch)
                continue
            answer = response.json()
            not_duplicates += len(batch) - answer["duplicates"]
    finally:
        client.close()
    return len(events), not_duplicates


def resend_everything(server, sent):
    """Streams every event sent in the run over TCP and waits for its ack; returns (lines, rejects, acked)."""
    lines = [ts.dumps(event) for key in sorted(sent) for event in sent[key].values()]
    stream = ts.NDJSONClient(server.tcp, timeout=60)
    try:
        for at in range(0, len(lines), 2000):
            stream.send_lines(lines[at:at + 2000])
            # Keep within the server's window of lines in flight.
            stream.wait_ack(max(0, at + 2000 - 4000), timeout=60)
        acked = stream.wait_ack(len(lines), timeout=120)
        return len(lines), len(stream.rejects) + len(stream.violations), acked
    finally:
        stream.close()


def check_exact(server, sent):
    """Shipments whose stored events differ from the distinct events sent: {key: problem}."""
    problems = {}
    client = ts.RawHTTP(server.http, timeout=60)
    try:
        for key in sorted(sent):
            response = ts.get_shipment(client, key[0], key[1], timeline=True)
            if response.status != 200:
                problems[key] = "GET %d" % response.status
                continue
            state = response.json()
            stored = [entry["event_time"] for entry in state.get("timeline", [])]
            if state.get("timeline_truncated") or sorted(stored) != sorted(sent[key]) or \
                    state["event_count"] != len(sent[key]) or state["version"] != len(sent[key]):
                problems[key] = "event_count %s version %s timeline %d, sent %d" % (
                    state["event_count"], state["version"], len(stored), len(sent[key]))
    finally:
        client.close()
    return problems


def main():
    parser = argparse.ArgumentParser(description="kill -9 crash test of milepost serve")
    parser.add_argument("--runs", type=int, default=20, help="kill/restart cycles (default 20)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock)")
    parser.add_argument("--max-kill-s", type=float, default=1.0,
                        help="the kill comes 0..this many seconds after the clients start (default 1.0)")
    parser.add_argument("--runs-per-dir", type=int, default=10,
                        help="runs on one data directory before a fresh one (default 10)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--verbose", action="store_true", help="print the time each phase of a run takes")
    options = parser.parse_args()
    if options.runs < 1:
        parser.error("--runs must be at least 1")
    seed = options.seed if options.seed is not None else int(time.time() * 1000) % 1000000007
    rng = random.Random(seed)
    print("# seed %d (repeat with --seed %d)" % (seed, seed), flush=True)
    print("# milepost: %s" % ts.milepost(), flush=True)

    report = ts.Report()
    work = tempfile.mkdtemp(prefix="mp_crash.")
    started = time.monotonic()
    losses = 0
    total_acked = 0
    directory = 0
    server = None
    servers = []

    def new_server(data):
        # sync, the default, made explicit: the mode that promises acknowledged events survive.
        instance = ts.Server(data, ["--durability", "sync"])
        servers.append(instance)
        return instance.start(timeout=60)

    try:
        for run in range(1, options.runs + 1):
            if server is None or (run - 1) % options.runs_per_dir == 0:
                if server is not None:
                    code, took = server.stop(timeout=30)
                    report.check("run %d: the server recovered from the last kill stops cleanly (%.1f s)"
                                 % (run, took), code == 0, (code, server.stderr()[-600:]))
                    shutil.rmtree(server.data, ignore_errors=True)
                    server.cleanup()
                directory += 1
                server = new_server(os.path.join(work, "data-%d" % directory))

            # The clients of this run, each on shipments of its own.
            ledger = ts.Ledger()
            stop = threading.Event()
            streamers = [ts.Streamer(server.tcp, "CR%dT%d-" % (run, index), ledger, per_shipment=200,
                                     stop=stop, window=rng.choice([200, 1000, 4000]),
                                     chunk=rng.choice([1, 50, 200]))
                         for index in range(rng.randint(1, 2))]
            posters = [ts.Poster(server.http, "CR%dH%d-" % (run, index), ledger,
                                 batch=rng.choice([1, 10, 100]), per_shipment=200, stop=stop)
                       for index in range(rng.randint(1, 3))]
            delay = rng.uniform(0, options.max_kill_s)
            for thread in streamers + posters:
                thread.start()
            time.sleep(delay)
            server.kill9()
            killed_code = server.process.returncode
            stop.set()
            for thread in streamers + posters:
                thread.join(30)
            for streamer in streamers:
                if streamer.client:
                    streamer.client.wait_closed(5)
                streamer.close()
            stuck = [t for t in streamers + posters if t.is_alive()]
            acked_tcp = sum(streamer.recorded for streamer in streamers)
            total_acked += ledger.count
            sent = sent_by_shipment(posters, streamers)

            phases = [("clients", time.monotonic())]
            old = server
            logged = [line for line in old.stderr().splitlines() if ts.SERVER_PROBLEM.search(line)]
            server = new_server(old.data)
            old.cleanup()
            phases.append(("restart", time.monotonic()))
            missing = ledger.check_http(server.http)
            phases.append(("check", time.monotonic()))
            lost = sum(len(times) for times in missing.values())
            losses += lost
            resent, not_duplicates = resend_acknowledged(server, ledger, sent)
            phases.append(("resend-acked", time.monotonic()))
            lines, rejects, all_acked = resend_everything(server, sent)
            phases.append(("resend-all", time.monotonic()))
            inexact = check_exact(server, sent)
            phases.append(("exact", time.monotonic()))
            if options.verbose:
                print("# run %d phases: %s" % (run, ", ".join("%s %.2f s" % (phases[i][0], phases[i][1] - phases[i - 1][1])
                                                             for i in range(1, len(phases)))), flush=True)
            problems = []
            if logged:
                problems.append("the server logged: %s" % logged[:3])
            if killed_code != -9:
                problems.append("the server was not running at the kill (exit %s)" % killed_code)
            if stuck:
                problems.append("%d client threads did not stop" % len(stuck))
            if lost:
                problems.append("LOST %d acknowledged events: %s" % (lost, ts.describe_missing(missing)))
            if not_duplicates:
                problems.append("%d of %d acknowledged events resent were not duplicates"
                                % (not_duplicates, resent))
            if rejects or not all_acked:
                problems.append("resending %d lines: %d rejects or violations, all acked: %s"
                                % (lines, rejects, all_acked))
            if inexact:
                problems.append("%d shipments differ from what was sent: %s" % (
                    len(inexact), "; ".join("%s/%s %s" % (k[0], k[1], v) for k, v in
                                            sorted(inexact.items())[:3])))
            client_errors = [p for poster in posters for p in poster.problems] + \
                [v for streamer in streamers if streamer.client for v in streamer.client.violations]
            if client_errors:
                problems.append("protocol problems before the kill: %s" % client_errors[:3])
            report.check("run %d: kill -9 after %.3f s; %d events acknowledged (%d over TCP), %d lost, "
                         "%d resent all duplicates, %d shipments exact"
                         % (run, delay, ledger.count, acked_tcp, lost, resent, len(sent)),
                         not problems, " | ".join(problems))
        code, took = server.stop(timeout=30)
        logged = [line for line in server.stderr().splitlines() if ts.SERVER_PROBLEM.search(line)]
        report.check("the last server stops cleanly (%.1f s)" % took, code == 0 and not logged,
                     (code, logged[:3], server.stderr()[-600:]))
    finally:
        for instance in servers:
            instance.cleanup()
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("# losses: %d (acknowledged events missing after a restart, over %d runs, %d acknowledged)"
          % (losses, options.runs, total_acked), flush=True)
    print("# seed %d; %d passed, %d failed, %.1f s" % (seed, report.passed, report.failed,
                                                      time.monotonic() - started), flush=True)
    return 1 if report.failed or losses else 0


if __name__ == "__main__":
    sys.exit(main())
