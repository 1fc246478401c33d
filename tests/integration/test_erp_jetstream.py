#!/usr/bin/env python3
"""Integration: ERP delivery to NATS JetStream (docs/erp.md "JetStream").

Starts a real nats-server with JetStream on 127.0.0.1 (a port it picks,
read from its log; a temporary store directory), and the real `milepost
serve` in erp.mode jetstream pointed at it.  The stream is created by the
test's own libnats client (JS_TOOL, tests/integration/js_tool.c), which
also dumps what the stream holds.  Checks:

- before the stream exists, confirmations are retried (not dropped, not
  dead-lettered) and arrive once it is created;
- nats-server is stopped mid-run and started again on the same port and
  store: milepost reconnects and nothing is lost;
- at the end the stream holds each expected key (computed from the events
  sent, docs/semantics.md) exactly once as Nats-Msg-Id, with the
  confirmation JSON of its event as the message data, and no other key;
  milepost's backlog is 0 and nothing was dead-lettered;
- erp.create_stream: milepost creates the stream itself when it is missing;
- milepost starts, and acknowledges events, while NATS is down, and
  delivers everything once nats-server comes up.

Exit 77 (skip) only when nats-server is missing or cannot run JetStream
here.  Environment: MILEPOST, JS_TOOL (set by meson).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import test_server as harness  # noqa: E402
from test_erp_pull import confirmation_key, post  # noqa: E402
from test_server import Server, ev, metrics  # noqa: E402

T = harness.Report()
SUBJECT = "milepost.confirmations"
STREAM = "ERP_TEST"


class Skip(Exception):
    pass


def js_tool():
    path = os.environ.get("JS_TOOL")
    if not path:
        root = os.environ.get("MP_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
        for build in ("build", "build-release"):
            candidate = os.path.join(root, build, "tests", "js_tool")
            if os.access(candidate, os.X_OK):
                path = candidate
    if not path:
        sys.exit("test_erp_jetstream: set JS_TOOL to the js_tool binary")
    return path


class NatsServer:
    """nats-server -js on 127.0.0.1; the first start picks the port, restarts reuse it."""

    def __init__(self, work):
        self.binary = shutil.which("nats-server") or (
            "/usr/sbin/nats-server" if os.access("/usr/sbin/nats-server", os.X_OK) else None)
        if not self.binary:
            raise Skip("nats-server is not installed (Debian: apt-get install nats-server)")
        self.store = os.path.join(work, "nats-store")
        self.log = os.path.join(work, "nats.log")
        self.port = None
        self.process = None

    @property
    def url(self):
        return "nats://127.0.0.1:%d" % self.port

    def start(self, first=False):
        if os.path.exists(self.log):
            os.unlink(self.log)
        port = "-1" if self.port is None else str(self.port)
        self.process = subprocess.Popen(
            [self.binary, "-js", "-a", "127.0.0.1", "-p", port, "-sd", self.store, "-l", self.log],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            text = open(self.log, errors="replace").read() if os.path.exists(self.log) else ""
            match = re.search(r"Listening for client connections on 127\.0\.0\.1:(\d+)", text)
            if match and "Server is ready" in text:
                self.port = int(match.group(1))
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        error = self.process.stderr.read().decode(errors="replace") if self.process.poll() is not None else ""
        text = open(self.log, errors="replace").read() if os.path.exists(self.log) else ""
        self.kill()
        message = "nats-server did not become ready: %s %s" % (error.strip()[-500:], text[-500:])
        if first:
            raise Skip(message)
        raise RuntimeError(message)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None


def tool(*args):
    result = subprocess.run([js_tool()] + list(args), capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError("js_tool %s: %s" % (" ".join(args), result.stderr.strip()))
    return result.stdout


def dump(nats, stream):
    return [json.loads(line) for line in tool("dump", nats.url, stream).splitlines() if line]


def wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def erp_metrics(server):
    values = metrics(server.http)
    return {
        "delivered": values.get('milepost_erp_delivered_total{destination="jetstream"}', 0),
        "retried": values.get('milepost_erp_retried_total{destination="jetstream"}', 0),
        "dead": values.get('milepost_erp_dead_lettered_total{destination="jetstream"}', 0),
        "backlog": values.get("milepost_erp_backlog", -1),
    }


def milepost_args(nats, extra=()):
    return ["--set", "erp.mode=jetstream", "--erp-url", nats.url,
            "--set", "erp.retry_initial_ms=50ms", "--set", "erp.retry_max_ms=500ms",
            "--set", "erp.timeout_ms=2s", "--set", "erp.subject=" + SUBJECT] + list(extra)


def check_stream(messages, expected, label):
    ids = [m["msg_id"] for m in messages]
    T.check("%s: every expected key is in the stream (%d)" % (label, len(expected)),
            set(ids) >= set(expected), sorted(set(expected) - set(ids))[:5])
    T.check("%s: each key exactly once" % label, len(ids) == len(set(ids)),
            [i for i in set(ids) if ids.count(i) > 1][:5])
    T.check("%s: no other key" % label, set(ids) <= set(expected), sorted(set(ids) - set(expected))[:5])
    bad = []
    for message in messages:
        data = bytes.fromhex(message["data_hex"])
        try:
            confirmation = json.loads(data)
        except ValueError:
            bad.append((message["seq"], "not JSON"))
            continue
        number, milestone = expected.get(message["msg_id"], (None, None))
        if (confirmation.get("idempotency_key") != message["msg_id"] or
                confirmation.get("type") != milestone or
                confirmation.get("tracking_number") != number or
                message["subject"] != SUBJECT or
                data != json.dumps(confirmation, separators=(",", ":"),
                                   ensure_ascii=False).encode()):
            bad.append((message["seq"], data[:200]))
    T.check("%s: each message is its event's confirmation JSON, key = Nats-Msg-Id" % label,
            not bad, bad[:3])


def case_restart_and_late_stream(work):
    nats = NatsServer(work)
    nats.start(first=True)
    server = None
    try:
        server = Server(os.path.join(work, "milepost"), milepost_args(nats), 2).start()
        shipments = ["JS%04d" % index for index in range(300)]
        expected = {}
        for index, number in enumerate(shipments):
            milestones = ["PICKED_UP", "DELIVERED"] + (["LOST"] if index % 10 == 0 else [])
            for milestone in milestones:
                expected[confirmation_key("UPS", number, milestone)] = (number, milestone)

        # No stream yet: the first confirmations are retried, not lost.
        post(server.http, [ev(n, 10, "PICKED_UP") for n in shipments[:20]])
        T.check("no stream yet: deliveries are retried",
                wait_for(lambda: erp_metrics(server)["retried"] > 0, 15), erp_metrics(server))
        values = erp_metrics(server)
        T.check("no stream yet: nothing delivered, nothing dead-lettered",
                values["delivered"] == 0 and values["dead"] == 0, values)
        tool("create", nats.url, STREAM, SUBJECT, "3600")

        # The rest in a stream of requests, with nats-server restarted in the middle.
        errors = []

        def send():
            try:
                for start in range(20, len(shipments), 20):
                    post(server.http, [ev(n, 10, "PICKED_UP") for n in shipments[start:start + 20]])
                    time.sleep(0.03)
                for start in range(0, len(shipments), 20):
                    batch = shipments[start:start + 20]
                    events = [ev(n, 20, "DELIVERED") for n in batch]
                    events += [ev(n, 30, "LOST") for n in batch if int(n[2:]) % 10 == 0]
                    post(server.http, events)
                    time.sleep(0.03)
            except Exception as error:  # noqa: BLE001
                errors.append(error)

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(0.4)
        delivered_before = erp_metrics(server)["delivered"]
        nats.stop()
        time.sleep(1.0)
        nats.start()
        sender.join(120)
        T.check("events were all accepted while nats-server restarted", not errors, errors)
        T.check("nats-server restarted mid-run (%d delivered before the stop)" % delivered_before,
                0 < delivered_before < len(expected), delivered_before)
        done = wait_for(lambda: erp_metrics(server)["backlog"] == 0 and
                        erp_metrics(server)["delivered"] >= len(expected), 60)
        values = erp_metrics(server)
        T.check("milepost drained its outbox into the stream after the restart", done, values)
        T.check("nothing dead-lettered", values["dead"] == 0, values)
        check_stream(dump(nats, STREAM), expected, "restart")
        code, _ = server.stop()
        T.check("milepost exits 0 on SIGTERM", code == 0, server.stderr()[-1500:])
        log = server.stderr()
        T.check("the log names the missing stream and the reconnect",
                "no JetStream stream captures subject" in log and "reconnected to NATS" in log,
                log[-1500:])
    finally:
        if server:
            server.cleanup()
        nats.stop()


def case_create_stream(work):
    work = os.path.join(work, "create")
    os.makedirs(work)
    nats = NatsServer(work)
    nats.start(first=True)
    server = None
    try:
        server = Server(os.path.join(work, "milepost"),
                        milepost_args(nats, ["--set", "erp.create_stream=true",
                                             "--set", "erp.stream=" + STREAM]), 1).start()
        numbers = ["CS%03d" % index for index in range(30)]
        expected = {confirmation_key("UPS", n, "DELIVERED"): (n, "DELIVERED") for n in numbers}
        post(server.http, [ev(n, 10, "DELIVERED") for n in numbers])
        done = wait_for(lambda: erp_metrics(server)["delivered"] >= len(expected), 30)
        T.check("erp.create_stream: milepost created the stream and delivered into it", done,
                erp_metrics(server))
        check_stream(dump(nats, STREAM), expected, "create_stream")
        server.stop()
    finally:
        if server:
            server.cleanup()
        nats.stop()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def case_nats_down_at_start(work):
    """milepost starts (and takes events) while NATS is down, and delivers once it is up."""
    work = os.path.join(work, "down")
    os.makedirs(work)
    nats = NatsServer(work)
    nats.port = free_port()
    server = None
    try:
        started = time.monotonic()
        server = Server(os.path.join(work, "milepost"),
                        milepost_args(nats, ["--set", "erp.create_stream=true",
                                             "--set", "erp.stream=" + STREAM]), 1).start()
        T.check("milepost starts while the NATS server is down (%.1f s)" % (time.monotonic() - started),
                time.monotonic() - started < 10)
        numbers = ["DN%03d" % index for index in range(20)]
        expected = {confirmation_key("UPS", n, "PICKED_UP"): (n, "PICKED_UP") for n in numbers}
        post(server.http, [ev(n, 10, "PICKED_UP") for n in numbers])
        T.check("events are acknowledged while NATS is down; deliveries are retried",
                wait_for(lambda: erp_metrics(server)["retried"] > 0, 15) and
                erp_metrics(server)["delivered"] == 0, erp_metrics(server))
        nats.start()
        done = wait_for(lambda: erp_metrics(server)["delivered"] >= len(expected), 30)
        T.check("once NATS is up, everything is delivered", done, erp_metrics(server))
        check_stream(dump(nats, STREAM), expected, "down at start")
        server.stop()
    finally:
        if server:
            server.cleanup()
        nats.stop()


def main():
    work = tempfile.mkdtemp(prefix="mp_erp_js_")
    try:
        try:
            case_restart_and_late_stream(work)
            case_create_stream(work)
            case_nats_down_at_start(work)
        except Skip as reason:
            print("# SKIP: %s" % reason)
            return 77
        except Exception:  # noqa: BLE001
            T.check("no unexpected exception", False, traceback.format_exc())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("# %d passed, %d failed" % (T.passed, T.failed))
    return 1 if T.failed else 0


if __name__ == "__main__":
    sys.exit(main())
