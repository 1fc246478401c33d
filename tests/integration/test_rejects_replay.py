#!/usr/bin/env python3
"""Integration: `milepost rejects replay` (docs/semantics.md "Rejects").

Fills one data directory with every kind of reject the real binaries keep:
`milepost ingest` of an NDJSON file (a JSON array on one line, refused
not_an_event; an unknown status; a wrong type; a malformed line; a line
whose 70 KiB description is kept truncated; a shipment's 4,097th event,
refused shipment_full), `ingest --source easypost` of a payload with two
bad checkpoint times (two rejects holding the same whole payload) and of
a file that is not an EasyPost payload, and a running `milepost serve`
given an array line and an unknown status over TCP.  Then:

  - `rejects replay` exits 1, naming the problem, while the server holds
    the directory;
  - replaying the range of every entry moves the replayable ones: the
    arrays' events are accepted (`milepost get` shows them, received now,
    and their ERP confirmations are in the outbox), still-bad records come
    back under new sequences past the range with today's reason (the
    EasyPost payload is fed once for its two rejects, its good checkpoints
    counting as duplicates), and the skipped entries (bad_json,
    raw_truncated, shipment_full) stay with the same sequence and bytes;
    the summary's counts match all of that;
  - replaying the same range again replays nothing; `--all` takes the
    still-bad ones once more, and nothing it stores comes back in the
    same run;
  - deleting the last rejects does not let a later process hand their
    numbers out again (the sequence floor, across a reopen);
  - bad usage exits 2, a missing directory or an empty range exits 1.

Prints `ok - ...` / `not ok - ...` lines and a summary; exits 1 on any
failure.  Environment: MILEPOST (set by meson), MP_SOURCE_ROOT (the
EasyPost sample is MP_SOURCE_ROOT/../shared/samples).
"""
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_server as ts  # noqa: E402  (the harness: Server, NDJSONClient, Report)

T = ts.T
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("MP_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
EASYPOST_SAMPLE = os.path.join(ROOT, "..", "shared", "samples", "easypost", "event_body_fixture.json")
FULL_EVENTS = 4097  # one past the events a shipment record keeps (MP_RECORD_EVENTS_MAX)


def milepost(*args, timeout=120):
    return subprocess.run([ts.milepost()] + list(args), capture_output=True, text=True, timeout=timeout)


def dumps(value):
    return json.dumps(value, separators=(",", ":"))


def received_ms(text):
    """An API.md time (`...Z`, `.mmm` optional) as epoch milliseconds."""
    base, _, fraction = text.rstrip("Z").partition(".")
    moment = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp()) * 1000 + (int(fraction.ljust(3, "0")) if fraction else 0)


def rejects_list(data):
    listed = milepost("rejects", "list", "--data", data)
    if listed.returncode != 0:
        raise RuntimeError("rejects list: %d %s" % (listed.returncode, listed.stderr))
    return [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]


def replay(data, *arguments):
    """Runs `rejects replay`; returns (exit code, summary dict or None, stderr)."""
    done = milepost("rejects", "replay", "--data", data, *arguments)
    summary = None
    lines = done.stdout.splitlines()
    if done.returncode == 0 and len(lines) == 1:
        summary = json.loads(lines[0])
    return done.returncode, summary, done.stderr


def one_line_error(stderr):
    return len(stderr.strip().splitlines()) == 1


def ingest(data, path, *extra):
    done = milepost("ingest", "--data", data, "--no-progress", *extra, path)
    if done.returncode != 0:
        raise RuntimeError("ingest %s: %d %s" % (path, done.returncode, done.stderr))
    return json.loads(done.stdout.splitlines()[-1])


def get(data, carrier, number, timeline=False):
    done = milepost("get", "--data", data, *(["--timeline"] if timeline else []), carrier, number)
    return done.returncode, (json.loads(done.stdout) if done.returncode == 0 else None)


def outbox(data):
    done = milepost("erp", "list", "--data", data)
    if done.returncode != 0:
        raise RuntimeError("erp list: %d %s" % (done.returncode, done.stderr))
    return [json.loads(line)["confirmation"] for line in done.stdout.splitlines() if line.strip()]


def ev(number, minutes, status, **extra):
    return ts.ev(number, minutes, status, **extra)


# ---------------------------------------------------------------------------
# Filling the rejects family
# ---------------------------------------------------------------------------

def write_inputs(work):
    """The canonical file, the EasyPost payloads; returns their paths and what each line is."""
    canonical = os.path.join(work, "mixed.ndjson")
    lines = [
        dumps(ev("RJGOOD1", 0, "PICKED_UP")),
        # A sender batching on one line: NDJSON wants one event per line.
        dumps([ev("RJARRAY1", 0, "PICKED_UP"), ev("RJARRAY1", 60, "DELIVERED")]),
        dumps(ev("RJBAD1", 0, "ARRIVED")),
        dumps(dict(ev("RJBAD2", 0, "IN_TRANSIT", shipment_ref="RJBAD2"), tracking_number=12345)),
        '{"carrier":"UPS","tracking_number":"RJBAD3","status":',
        dumps(ev("RJHUGE1", 0, "IN_TRANSIT", description="x" * (70 << 10))),
    ]
    lines += [dumps(ev("RJFULL1", minute, "IN_TRANSIT")) for minute in range(FULL_EVENTS)]
    with open(canonical, "w") as f:
        f.write("\n".join(lines) + "\n")

    with open(EASYPOST_SAMPLE) as f:
        payload = json.load(f)
    details = payload["result"]["tracking_details"]
    details[0]["datetime"] = "yesterday"
    details[1]["datetime"] = "not a time"
    bad_checkpoints = os.path.join(work, "easypost-bad-times.json")
    with open(bad_checkpoints, "w") as f:
        json.dump(payload, f)
    not_easypost = os.path.join(work, "not-easypost.json")
    with open(not_easypost, "w") as f:
        f.write(dumps(ev("RJWRONG1", 0, "PICKED_UP")))
    return canonical, bad_checkpoints, not_easypost, payload["result"]["tracking_code"]


def fill(work, data):
    canonical, bad_checkpoints, not_easypost, easypost_number = write_inputs(work)
    summary = ingest(data, canonical)
    T.check("ingest: the mixed file's rejects, each for its reason",
            summary["rejected_by_error"] == {"not_an_event": 1, "unknown_status": 1, "bad_type": 1,
                                             "bad_json": 1, "too_big": 1, "shipment_full": 1}
            and summary["accepted"] == 1 + FULL_EVENTS - 1, summary)
    easypost = ingest(data, bad_checkpoints, "--source", "easypost")
    T.check("ingest --source easypost: two checkpoints refused bad_time, the others accepted",
            easypost["rejected_by_error"] == {"bad_time": 2} and easypost["accepted"] >= 1, easypost)
    wrong = ingest(data, not_easypost, "--source", "easypost")
    T.check("ingest --source easypost: a file that is no EasyPost payload is one bad_json",
            wrong["rejected_by_error"] == {"bad_json": 1}, wrong)
    return easypost, easypost_number


def serve_and_refuse(data):
    """TCP rejects kept by a server; `rejects replay` refused while it runs."""
    server = ts.Server(data, cores=2)
    try:
        server.start()
        stream = ts.NDJSONClient(server.tcp)
        stream.send_lines([dumps([ev("RJTCP1", 0, "PICKED_UP"), ev("RJTCP1", 30, "DELIVERED")]),
                           dumps(ev("RJTCP2", 0, "LOOKING_GOOD"))])
        acked = stream.wait_ack(2)
        stream.close()
        T.check("serve: both TCP lines refused (not_an_event, unknown_status) and acked",
                acked and {line: error for line, (error, _) in stream.rejects.items()} ==
                {1: "not_an_event", 2: "unknown_status"}, (stream.acks, stream.rejects))
        before = rejects_list(data)
        code, summary, stderr = replay(data, "--all")
        T.check("replay while the server holds the directory: exit 1, one line saying so",
                code == 1 and one_line_error(stderr) and "in use" in stderr and "stop" in stderr,
                (code, summary, stderr))
        T.check("the refused replay changed nothing a reader sees", rejects_list(data) == before)
    finally:
        code, _ = server.stop()
        T.check("serve: SIGTERM exits 0", code == 0, server.stderr()[-800:])
        server.cleanup()


# ---------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------

def by_kind(entries):
    """Names the entries of the filled directory by what they hold."""
    kinds = {}
    for entry in entries:
        raw, error, source = entry["raw"], entry["error"], entry["source"]
        if source == "easypost":
            name = "easypost_" + error
        elif error == "shipment_full":
            name = "shipment_full"
        elif "RJARRAY1" in raw:
            name = "file_array"
        elif "RJTCP1" in raw:
            name = "tcp_array"
        elif "RJTCP2" in raw:
            name = "tcp_unknown_status"
        elif "RJBAD1" in raw:
            name = "file_unknown_status"
        elif "RJBAD2" in raw:
            name = "file_bad_type"
        elif "RJBAD3" in raw:
            name = "file_bad_json"
        elif "RJHUGE1" in raw:
            name = "file_truncated"
        else:
            name = "other"
        kinds.setdefault(name, []).append(entry)
    return kinds


SKIPPED = {"file_bad_json": "bad_json", "file_truncated": "raw_truncated", "shipment_full": "shipment_full"}
STILL_BAD = {"file_unknown_status": "unknown_status", "file_bad_type": "bad_type",
             "tcp_unknown_status": "unknown_status", "easypost_bad_json": "bad_json"}


def check_filled(kinds):
    expected = {"file_array": 1, "tcp_array": 1, "file_unknown_status": 1, "file_bad_type": 1,
                "file_bad_json": 1, "file_truncated": 1, "shipment_full": 1, "tcp_unknown_status": 1,
                "easypost_bad_time": 2, "easypost_bad_json": 1}
    counts = {name: len(entries) for name, entries in kinds.items()}
    T.check("the rejects family holds every kind this test made", counts == expected, counts)
    truncated = kinds.get("file_truncated", [{}])[0]
    T.check("the 70 KiB record was kept truncated",
            truncated.get("raw_truncated") is True and truncated.get("error") == "too_big", truncated.get("error"))
    payloads = {entry["raw"] for entry in kinds.get("easypost_bad_time", [])}
    T.check("the two EasyPost checkpoint rejects hold the same whole payload", len(payloads) == 1)


def check_replayed(data, before, summary, started_ms, easypost, easypost_number, outbox_before):
    kinds = by_kind(before)
    first = min(e["sequence"] for e in before)
    last = max(e["sequence"] for e in before)
    replayable = [e for name, entries in kinds.items() if name not in SKIPPED for e in entries]
    T.check("summary: replayed counts every replayable entry, skipped the rest by reason",
            summary["replayed"] == len(replayable) == 8 and summary["skipped"] == 3 and
            summary["skipped_by_reason"] == {"bad_json": 1, "raw_truncated": 1, "shipment_full": 1},
            summary)
    # The EasyPost payload is fed once for its two rejects: its good checkpoints
    # are duplicates of what its ingest accepted, its bad ones refused once more.
    T.check("summary: ingest's counts for what was fed",
            summary["accepted"] == 4 and summary["duplicates"] == easypost["accepted"] and
            summary["rejected_by_error"] == {"unknown_status": 2, "bad_type": 1, "bad_time": 2,
                                             "bad_json": 1} and
            summary["rejected"] == 6 and summary["read"] == 2 + 2 + 1 + 1 + 1 + easypost["read"] + 1 and
            summary["outbox"] == 4, summary)

    after = rejects_list(data)
    after_by_sequence = {e["sequence"]: e for e in after}
    for name, reason in SKIPPED.items():
        entry = kinds[name][0]
        T.check("skipped %s (%s) stays under sequence %d, byte for byte" % (name, reason, entry["sequence"]),
                after_by_sequence.get(entry["sequence"]) == entry, after_by_sequence.get(entry["sequence"]))
    gone = [e["sequence"] for e in replayable if e["sequence"] in after_by_sequence]
    T.check("every replayed entry's sequence is gone", not gone, gone)
    new = [e for e in after if e["sequence"] > last]
    T.check("what was refused again is stored again, past the range: one entry per refused record",
            sorted(e["error"] for e in new) ==
            sorted(["unknown_status", "unknown_status", "bad_type", "bad_time", "bad_time", "bad_json"]) and
            len(after) == 3 + len(new), [(e["sequence"], e["error"]) for e in after])
    new_kinds = by_kind(new)
    for name, reason in STILL_BAD.items():
        old, again = kinds[name][0], new_kinds.get(name, [{}])[0]
        T.check("%s: stored again with the current reason, source, raw bytes and index" % name,
                again.get("error") == reason and again.get("source") == old["source"] and
                again.get("raw") == old["raw"] and again.get("index") == old["index"] and
                received_ms(again["received_at"]) >= started_ms > received_ms(old["received_at"]),
                (old, again))
    T.check("the EasyPost payload's two bad checkpoints are stored again once each (fed once)",
            len(new_kinds.get("easypost_bad_time", [])) == 2 and
            all(e["raw"] == kinds["easypost_bad_time"][0]["raw"] for e in new_kinds["easypost_bad_time"]),
            new_kinds.get("easypost_bad_time"))

    for number, minutes in (("RJARRAY1", 60), ("RJTCP1", 30)):
        code, state = get(data, "UPS", number, timeline=True)
        T.check("get %s: the array's two events went in" % number,
                code == 0 and state["event_count"] == 2 and state["status"] == "DELIVERED" and
                state["milestones"].get("PICKED_UP") == ts.event_time(0) and
                state["status_time"] == ts.event_time(minutes), state)
        T.check("get %s: received at the replay's time, not the original's" % number,
                code == 0 and all(received_ms(e["received_at"]) >= started_ms for e in state["timeline"]),
                state and state.get("timeline"))
    code, state = get(data, "FedEx", easypost_number)
    T.check("the EasyPost shipment's count is unchanged by the replayed duplicates",
            code == 0 and state["event_count"] == easypost["accepted"], state)
    confirmations = outbox(data)
    fired = sorted((c["tracking_number"], c["type"]) for c in confirmations[len(outbox_before):])
    T.check("ERP confirmations fired for the replayed events, in the outbox",
            fired == [("RJARRAY1", "DELIVERED"), ("RJARRAY1", "PICKED_UP"),
                      ("RJTCP1", "DELIVERED"), ("RJTCP1", "PICKED_UP")], fired)
    return first, last, after


def run_main(work):
    data = os.path.join(work, "data")
    easypost, easypost_number = fill(work, data)
    T.check("before the replay, the array's shipment is unknown", get(data, "UPS", "RJARRAY1")[0] == 1)
    serve_and_refuse(data)
    before = rejects_list(data)
    check_filled(by_kind(before))
    outbox_before = outbox(data)

    first = min(e["sequence"] for e in before)
    last = max(e["sequence"] for e in before)
    started_ms = int(time.time() * 1000)
    code, summary, stderr = replay(data, "%d-%d" % (first, last))
    T.check("replay FIRST-LAST: exit 0 with one summary line (some still refused)",
            code == 0 and summary is not None, (code, stderr))
    if summary is None:
        return
    first, last, after = check_replayed(data, before, summary, started_ms, easypost,
                                        easypost_number, outbox_before)

    code, again, stderr = replay(data, "%d-%d" % (first, last))
    T.check("the same range again replays nothing (the skipped stay skipped)",
            code == 0 and again["replayed"] == 0 and again["skipped"] == 3 and again["read"] == 0,
            (code, again, stderr))
    T.check("... and leaves the rejects as they were", rejects_list(data) == after)

    code, everything, stderr = replay(data, "--all")
    still_bad = [e for e in after if e["sequence"] > last]
    T.check("--all: the still-bad ones once more (each once: nothing a round stores comes back)",
            code == 0 and everything["replayed"] == len(still_bad) == 6 and everything["skipped"] == 3 and
            everything["rejected"] == 6 and everything["accepted"] == 0, (code, everything, stderr))
    final = rejects_list(data)
    newest = max(e["sequence"] for e in after)
    skipped = [e for e in after if e["sequence"] <= last]
    T.check("--all: they come back past every earlier number, the skipped ones untouched",
            len(skipped) == 3 and [e for e in final if e["sequence"] <= newest] == skipped and
            sorted(e["error"] for e in final if e["sequence"] > newest) ==
            sorted(e["error"] for e in still_bad), [(e["sequence"], e["error"]) for e in final])


def run_floor(work):
    """Deleting the last rejects: a later process numbers new ones past them."""
    data = os.path.join(work, "floor")
    path = os.path.join(work, "floor.ndjson")
    with open(path, "w") as f:
        f.write(dumps(ev("RJFLOOR0", 0, "PICKED_UP")) + "\n" +
                dumps([ev("RJFLOOR1", 0, "PICKED_UP"), ev("RJFLOOR1", 5, "IN_TRANSIT")]) + "\n" +
                dumps([ev("RJFLOOR2", 0, "PICKED_UP")]) + "\n")
    ingest(data, path)
    entries = rejects_list(data)
    T.check("floor: two rejects, numbered 1 and 2", [e["sequence"] for e in entries] == [1, 2], entries)
    code, summary, stderr = replay(data, "1-2")
    T.check("floor: replaying them (the last entries) empties the family",
            code == 0 and summary["replayed"] == 2 and summary["accepted"] == 3 and rejects_list(data) == [],
            (code, summary, stderr))
    bad = os.path.join(work, "floor-bad.ndjson")
    with open(bad, "w") as f:
        f.write(dumps(ev("RJFLOOR3", 0, "ARRIVED")) + "\n")
    ingest(data, bad)
    entries = rejects_list(data)
    T.check("floor: the next reject, in a new process, is numbered 3, not 1 again",
            [e["sequence"] for e in entries] == [3], entries)
    code, summary, stderr = replay(data, "1-2")
    T.check("floor: the deleted range is empty now: exit 1, one line", code == 1 and one_line_error(stderr) and
            "no reject" in stderr, (code, stderr))


def run_rounds(work):
    """More entries than one round takes: every one moved once, nothing replayed twice."""
    data = os.path.join(work, "rounds")
    path = os.path.join(work, "rounds.ndjson")
    count = 10050  # the rounds take 10,000 entries each
    with open(path, "w") as f:
        for index in range(count):
            f.write(dumps(ev("RJMANY%05d" % index, 0, "ARRIVED")) + "\n")
        f.write(dumps([ev("RJMANYOK", 0, "PICKED_UP")]) + "\n")
    ingest(data, path)
    before = rejects_list(data)
    last = max(e["sequence"] for e in before)
    code, summary, stderr = replay(data, "--all")
    T.check("rounds: --all over %d entries moves each once" % (count + 1),
            code == 0 and summary["replayed"] == count + 1 and summary["read"] == count + 1 and
            summary["rejected"] == count and summary["accepted"] == 1, (code, summary, stderr[-300:]))
    after = rejects_list(data)
    T.check("rounds: each still-bad record stored again once, past the old numbers",
            len(after) == count and min(e["sequence"] for e in after) > last and
            sorted(e["raw"] for e in after) == sorted(e["raw"] for e in before if "RJMANYOK" not in e["raw"]),
            (len(after), after[:1]))


def run_usage(work):
    data = os.path.join(work, "data")
    for arguments, why in ((["rejects", "replay", "--data", data], "no range"),
                           (["rejects", "replay", "--data", data, "5-3"], "a range that runs backwards"),
                           (["rejects", "replay", "--data", data, "0"], "sequence 0"),
                           (["rejects", "replay", "--data", data, "abc"], "not a number"),
                           (["rejects", "replay", "--data", data, "3-"], "a range without its end"),
                           (["rejects", "replay", "--data", data, "--all", "3"], "--all and a range"),
                           (["rejects", "replay", "--data", data, "--bogus", "3"], "an unknown option"),
                           (["rejects", "replay", "--data", data, "1", "2"], "two ranges"),
                           (["rejects", "frobnicate"], "an unknown command"),
                           (["rejects"], "no command")):
        done = milepost(*arguments)
        T.check("usage: %s exits 2 with one line" % why,
                done.returncode == 2 and (one_line_error(done.stderr) or arguments == ["rejects"]) and
                not done.stdout, (done.returncode, done.stderr[-300:]))
    done = milepost("rejects", "replay", "--help")
    T.check("rejects replay --help: exit 0, the usage on stdout",
            done.returncode == 0 and "SEQ | FIRST-LAST | --all" in done.stdout
            and "--set KEY=VALUE" in done.stdout, done.stdout[-300:])
    done = milepost("--help")
    T.check("milepost --help names rejects replay", done.returncode == 0 and "rejects replay" in done.stdout)
    code, _, stderr = replay(os.path.join(work, "no-such-dir"), "--all")
    T.check("a missing data directory: exit 1, one line naming it",
            code == 1 and one_line_error(stderr) and "no-such-dir" in stderr, stderr)
    code, _, stderr = replay(data, "999999-1000000")
    T.check("a range with no entry: exit 1, one line", code == 1 and one_line_error(stderr), stderr)


def run_filter(work):
    """--set / --config: the server's ERP filter decides what replayed events queue."""
    data = os.path.join(work, "filter")
    path = os.path.join(work, "filter.ndjson")
    with open(path, "w") as f:
        # Two lines make the file NDJSON, where a line holding an array is refused.
        f.write(dumps(ev("RJFILT0", 0, "IN_TRANSIT")) + "\n")
        f.write(dumps([ev("RJFILT1", 0, "PICKED_UP"), ev("RJFILT1", 60, "DELIVERED")]) + "\n")
    summary = ingest(data, path)
    T.check("filter: the array line is one not_an_event reject, nothing queued",
            summary["rejected_by_error"] == {"not_an_event": 1} and summary["outbox"] == 0, summary)
    code, _, stderr = replay(data, "--set", "erp.milestones=ARRIVED", "--all")
    T.check("filter: an unknown milestone is bad usage (exit 2, one line naming the option)",
            code == 2 and one_line_error(stderr) and "erp.milestones" in stderr, stderr)
    T.check("filter: the refused replay left the entry", len(rejects_list(data)) == 1)
    code, summary, stderr = replay(data, "--set", "erp.milestones=DELIVERED", "--all")
    T.check("filter: replay with erp.milestones=DELIVERED takes both events",
            code == 0 and summary["accepted"] == 2 and summary["replayed"] == 1, (code, summary, stderr))
    queued = sorted((c["tracking_number"], c["type"]) for c in outbox(data))
    T.check("filter: only the delivery queued a confirmation", queued == [("RJFILT1", "DELIVERED")], queued)


def main():
    print("# milepost: %s" % ts.milepost(), flush=True)
    work = tempfile.mkdtemp(prefix="mp_it_rejects_replay.")
    watchdog = threading.Timer(540, lambda: (print("not ok - watchdog: the run took over 540 s", flush=True),
                                             os._exit(1)))
    watchdog.daemon = True
    watchdog.start()
    started = time.monotonic()
    try:
        for step in (run_main, run_floor, run_rounds, run_usage, run_filter):
            try:
                step(work)
            except Exception:  # a crash of a step is one failure, the rest still run
                T.check("%s: ran to the end" % step.__name__, False, traceback.format_exc()[-1500:])
    finally:
        watchdog.cancel()
        shutil.rmtree(work, ignore_errors=True)
    print("# %d passed, %d failed, %.1f s" % (T.passed, T.failed, time.monotonic() - started), flush=True)
    return 1 if T.failed else 0


if __name__ == "__main__":
    sys.exit(main())
