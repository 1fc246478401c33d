#!/usr/bin/env python3
"""Integration: `milepost serve` from the outside, with real clients.

Starts the real server on 127.0.0.1 with kernel-chosen ports and a temporary
data directory, talks to it over HTTP (a raw HTTP/1.1 client of our own for
pipelining, chunked bodies, 100-continue and slow clients; http.client and
curl as independent clients), TCP NDJSON and UDP, and checks answers, stored
state and /metrics against API.md.  Covers: POST /v1/events (object, array,
NDJSON, partial success, duplicates, 400/404/405/413), keep-alive,
pipelining, chunked bodies, Expect: 100-continue, ack latency on an idle
server, portal reads (normalization, timeline, by number, read-your-writes),
TCP acks and rejects (also to a client that reads late), UDP (and its
drops, the kernel's included), metrics, slow and idle clients, overload
(202 or 503 + Retry-After, nothing lost), graceful shutdown under load,
--print-config, bad --set keys, ports in use (also by another milepost) and
--config files.

Prints TAP-like `ok - ...` / `not ok - ...` lines and a summary; exits 1 on
any failure.  Environment: MILEPOST (the binary; set by meson),
MP_SOURCE_ROOT.  `--only NAME` runs the cases whose name contains NAME.

The harness (Server, RawHTTP, NDJSONClient, Ledger, ...) is imported by
test_crash.py.
"""
import argparse
import collections
import datetime
import http.client
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
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))


def find_milepost():
    if os.environ.get("MILEPOST"):
        return os.path.abspath(os.environ["MILEPOST"])
    root = os.environ.get("MP_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
    for build in ("build", "build-release"):
        path = os.path.join(root, build, "pipeline", "milepost")
        if os.access(path, os.X_OK):
            return path
    sys.exit("test_server: set MILEPOST to the milepost binary")


MILEPOST = None  # resolved in main() / by importers through milepost()


def milepost():
    global MILEPOST
    if MILEPOST is None:
        MILEPOST = find_milepost()
    return MILEPOST


# ---------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------

class ServerError(Exception):
    pass


def parse_address(text):
    host, _, port = text.rpartition(":")
    return (host.strip("[]"), int(port))


class Server:
    """One `milepost serve` process on kernel-chosen loopback ports."""

    def __init__(self, data, args=(), cores=2, ports=True):
        self.data = data
        self.args = list(args)
        self.cores = cores
        self.ports = ports
        self.process = None
        self.http = self.tcp = self.udp = None
        self.stderr_path = None
        self.listening_line = None

    def command(self):
        command = [milepost(), "serve", "--data", self.data]
        if self.ports:
            command += ["--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--udp", "127.0.0.1:0"]
        if self.cores:
            command += ["--cores", str(self.cores)]
        return command + self.args

    def start(self, timeout=15):
        fd, self.stderr_path = tempfile.mkstemp(prefix="mp_it_server_", suffix=".err")
        self._stderr = os.fdopen(fd, "w")
        self.process = subprocess.Popen(self.command(), stdout=subprocess.PIPE,
                                        stderr=self._stderr, stdin=subprocess.DEVNULL)
        lines = []
        got = threading.Event()

        def read_stdout():
            for raw in self.process.stdout:
                lines.append(raw.decode(errors="replace").rstrip("\n"))
                if lines[-1].startswith("listening "):
                    got.set()
            got.set()

        self._reader = threading.Thread(target=read_stdout, daemon=True)
        self._reader.start()
        if not got.wait(timeout) or not any(l.startswith("listening ") for l in lines):
            self.kill9()
            raise ServerError("no listening line within %ss; stderr: %s" % (timeout, self.stderr()[-2000:]))
        self.listening_line = next(l for l in lines if l.startswith("listening "))
        fields = dict(part.split("=", 1) for part in self.listening_line.split()[1:])
        self.http = parse_address(fields["http"])
        self.tcp = parse_address(fields["tcp"])
        self.udp = parse_address(fields["udp"])
        return self

    def stderr(self):
        if not self.stderr_path:
            return ""
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def running(self):
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout=15):
        """SIGTERM; returns (exit code or None when it had to be killed, seconds taken)."""
        if self.process is None:
            return None, 0.0
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            code = None
        self._close()
        return code, time.monotonic() - started

    def kill9(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self._close()

    def _close(self):
        if getattr(self, "_stderr", None):
            self._stderr.close()
            self._stderr = None

    def cleanup(self):
        self.kill9()
        if self.stderr_path and os.path.exists(self.stderr_path):
            os.unlink(self.stderr_path)


# ---------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------

BASE_TIME = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def event_time(minutes):
    return (BASE_TIME + datetime.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def ev(tracking, minutes=0, status="IN_TRANSIT", carrier="UPS", **extra):
    event = {"carrier": carrier, "tracking_number": tracking, "status": status,
             "event_time": event_time(minutes)}
    event.update(extra)
    return event


def dumps(value):
    return json.dumps(value, separators=(",", ":"))


# ---------------------------------------------------------------------------
# A raw HTTP/1.1 client
# ---------------------------------------------------------------------------

class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (name, value)
        self.body = body

    def header(self, name):
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:300])


class ConnectionClosed(Exception):
    pass


class RawHTTP:
    """HTTP/1.1 over a plain socket: write any bytes, read responses in order."""

    def __init__(self, address, timeout=15):
        self.address = address
        self.sock = socket.create_connection(address, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.timeout = timeout

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionClosed("connection closed by the server")
        self.buffer += chunk

    def _read_until(self, marker):
        while marker not in self.buffer:
            self._fill()
        at = self.buffer.index(marker) + len(marker)
        data, self.buffer = self.buffer[:at], self.buffer[at:]
        return data

    def _read_exactly(self, size):
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def read_response(self, interim=None, head=False):
        """The next final response; 1xx responses are appended to `interim`."""
        while True:
            head_bytes = self._read_until(b"\r\n\r\n").decode("latin-1")
            lines = head_bytes.split("\r\n")
            version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
            if not version.startswith("HTTP/1."):
                raise ValueError("bad status line %r" % lines[0])
            headers = []
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers.append((name.strip(), value.strip()))
            response = Response(int(status), reason, headers, b"")
            if 100 <= response.status < 200:
                if interim is not None:
                    interim.append(response)
                continue
            break
        if head:
            return response
        encoding = (response.header("Transfer-Encoding") or "").lower()
        length = response.header("Content-Length")
        if "chunked" in encoding:
            body = b""
            while True:
                size = int(self._read_until(b"\r\n").split(b";")[0].strip(), 16)
                if size == 0:
                    self._read_until(b"\r\n")
                    break
                body += self._read_exactly(size)
                self._read_exactly(2)
            response.body = body
        elif length is not None:
            response.body = self._read_exactly(int(length))
        else:
            try:
                while True:
                    self._fill()
            except ConnectionClosed:
                pass
            response.body, self.buffer = self.buffer, b""
        return response

    def request(self, method, path, body=None, headers=None, content_type=None):
        self.send(build_request(method, path, body, headers, content_type))
        return self.read_response(head=(method == "HEAD"))

    def wait_closed(self, timeout):
        """Seconds until the server closes the connection, or None if still open at timeout."""
        started = time.monotonic()
        self.sock.settimeout(0.05)
        try:
            while time.monotonic() - started < timeout:
                try:
                    chunk = self.sock.recv(65536)
                except socket.timeout:
                    continue
                except (ConnectionResetError, BrokenPipeError):
                    return time.monotonic() - started
                if not chunk:
                    return time.monotonic() - started
                self.buffer += chunk
            return None
        finally:
            self.sock.settimeout(self.timeout)


def build_request(method, path, body=None, headers=None, content_type=None):
    if isinstance(body, str):
        body = body.encode()
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"]
    if content_type:
        lines.append("Content-Type: " + content_type)
    extra = dict(headers or {})
    if body is not None and "Transfer-Encoding" not in extra:
        lines.append("Content-Length: %d" % len(body))
    for name, value in extra.items():
        lines.append("%s: %s" % (name, value))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def chunked(body, sizes):
    """`body` framed as chunks of the given sizes (the rest as one chunk)."""
    out, at = b"", 0
    for size in sizes:
        piece = body[at:at + size]
        if not piece:
            break
        out += b"%x\r\n%s\r\n" % (len(piece), piece)
        at += len(piece)
    if at < len(body):
        out += b"%x\r\n%s\r\n" % (len(body) - at, body[at:])
    return out + b"0\r\n\r\n"


def post_events(client, events, content_type="application/json"):
    """POSTs a list of events (JSON array) or raw bytes/str; returns the Response."""
    if isinstance(events, (list, dict)):
        body = dumps(events)
    else:
        body = events
    return client.request("POST", "/v1/events", body, content_type=content_type)


def get_shipment(client, carrier, number, timeline=False):
    path = "/v1/shipments/%s/%s" % (quote(carrier), quote(number))
    if timeline:
        path += "?timeline=true"
    return client.request("GET", path)


def quote(text):
    return urllib.parse.quote(text, safe="")


# ---------------------------------------------------------------------------
# TCP NDJSON
# ---------------------------------------------------------------------------

class NDJSONClient:
    """A TCP NDJSON stream: writes lines, a thread reads ack and reject lines."""

    def __init__(self, address, timeout=15, rcvbuf=None, read_delay=0.0):
        if rcvbuf:
            # A small receive buffer, set before connect, so the server's
            # sends block while this client does not read.
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect(address)
        else:
            self.sock = socket.create_connection(address, timeout=timeout)
        self.read_delay = read_delay
        self.lock = threading.Condition()
        self.acks = []                 # every N seen, in order
        self.rejects = {}              # line -> (error, message)
        self.reject_order = []
        self.violations = []           # protocol violations seen by the reader
        self.other = []                # lines that are neither
        self.sent_lines = 0
        self.closed = False
        self.error = None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    @property
    def acked(self):
        with self.lock:
            return self.acks[-1] if self.acks else 0

    def _read(self):
        buffer = b""
        if self.read_delay:
            time.sleep(self.read_delay)
        try:
            while True:
                try:
                    chunk = self.sock.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    break
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    self._line(line)
        except OSError as error:
            self.error = error
        finally:
            with self.lock:
                self.closed = True
                self.lock.notify_all()

    def _line(self, raw):
        try:
            message = json.loads(raw)
        except ValueError:
            self.violations.append("not JSON: %r" % raw[:200])
            return
        with self.lock:
            last = self.acks[-1] if self.acks else 0
            if isinstance(message, dict) and set(message) == {"ack"}:
                n = message["ack"]
                if not isinstance(n, int) or n < last:
                    self.violations.append("ack %r after ack %d" % (n, last))
                if n > self.sent_lines:
                    self.violations.append("ack %r beyond the %d lines sent" % (n, self.sent_lines))
                self.acks.append(n)
            elif isinstance(message, dict) and "reject" in message:
                line = message["reject"]
                if not isinstance(line, int) or line <= last:
                    self.violations.append("reject of line %r after ack %d covered it" % (line, last))
                if not isinstance(message.get("error"), str) or not isinstance(message.get("message"), str):
                    self.violations.append("reject without error/message: %r" % message)
                if line in self.rejects:
                    self.violations.append("line %r rejected twice" % line)
                self.rejects[line] = (message.get("error"), message.get("message"))
                self.reject_order.append(line)
            else:
                self.other.append(message)
                self.violations.append("unexpected line %r" % raw[:200])
            self.lock.notify_all()

    def send_lines(self, lines):
        data = "".join(line + "\n" for line in lines).encode()
        with self.lock:
            self.sent_lines += len(lines)
        self.sock.sendall(data)

    def send_raw(self, data, line_count):
        with self.lock:
            self.sent_lines += line_count
        self.sock.sendall(data)

    def wait_ack(self, n, timeout=15):
        deadline = time.monotonic() + timeout
        with self.lock:
            while (not self.acks or self.acks[-1] < n) and not self.closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.lock.wait(remaining)
            return bool(self.acks) and self.acks[-1] >= n

    def wait_closed(self, timeout):
        deadline = time.monotonic() + timeout
        with self.lock:
            while not self.closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.lock.wait(remaining)
            return True

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        self.reader.join(5)


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------

METRIC_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$')


def parse_metrics(text):
    """Prometheus text into {'name{labels}': value}; raises on a malformed line."""
    values = {}
    typed = set()
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#"):
            continue
        match = METRIC_LINE.match(line)
        if not match:
            raise ValueError("malformed metrics line %r" % line)
        name = match.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if name not in typed and base not in typed:
            raise ValueError("metric %s has no TYPE line" % name)
        values[name + (match.group(2) or "")] = float(match.group(3))
    return values


def metrics(address):
    client = RawHTTP(address)
    try:
        response = client.request("GET", "/metrics")
    finally:
        client.close()
    if response.status != 200:
        raise ValueError("GET /metrics: %d" % response.status)
    return parse_metrics(response.body.decode())


def delta(before, after, key):
    return after.get(key, 0) - before.get(key, 0)


# ---------------------------------------------------------------------------
# Acknowledged events and their check against the store
# ---------------------------------------------------------------------------

class Ledger:
    """Acknowledged events by shipment: (carrier, number) -> set of event times."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = collections.defaultdict(set)
        self.count = 0

    def add(self, event):
        with self.lock:
            key = (event["carrier"], event["tracking_number"])
            if event["event_time"] not in self.acked[key]:
                self.count += 1
            self.acked[key].add(event["event_time"])

    def add_all(self, events):
        for event in events:
            self.add(event)

    def _missing(self, key, state):
        if state is None:
            return sorted(self.acked[key])
        times = {entry["event_time"] for entry in state.get("timeline", [])}
        if state.get("timeline_truncated"):
            # Only the count can be checked for what the timeline dropped.
            if state["event_count"] < len(self.acked[key]):
                return ["event_count %d < %d acknowledged" % (state["event_count"], len(self.acked[key]))]
            return []
        return sorted(self.acked[key] - times)

    def check_http(self, address):
        """{(carrier, number): [missing event times]} read over HTTP (one keep-alive connection)."""
        missing = {}
        client = RawHTTP(address)
        try:
            for key in sorted(self.acked):
                response = get_shipment(client, key[0], key[1], timeline=True)
                state = response.json() if response.status == 200 else None
                lost = self._missing(key, state)
                if lost:
                    missing[key] = lost
        finally:
            client.close()
        return missing

    def check_offline(self, data, keys=None):
        """The same with `milepost get --timeline` on a stopped server's data directory."""
        missing = {}
        for key in keys if keys is not None else sorted(self.acked):
            result = subprocess.run([milepost(), "get", "--data", data, "--timeline", key[0], key[1]],
                                    capture_output=True, text=True, timeout=60)
            state = json.loads(result.stdout) if result.returncode == 0 else None
            lost = self._missing(key, state)
            if lost:
                missing[key] = lost
        return missing


def describe_missing(missing, limit=5):
    items = sorted(missing.items())[:limit]
    return "; ".join("%s/%s: %s" % (k[0], k[1], ", ".join(map(str, v[:5]))) for k, v in items)


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------

class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.lock = threading.Lock()

    def check(self, description, condition, detail=""):
        with self.lock:
            if condition:
                self.passed += 1
                print("ok - " + description, flush=True)
            else:
                self.failed += 1
                print("not ok - " + description + (" # " + str(detail)[:1500] if detail else ""),
                      flush=True)
        return bool(condition)

    def note(self, text):
        print("# " + text, flush=True)


T = Report()
CASES = []


def case(function):
    CASES.append(function)
    return function


class Context:
    """What the cases share: a work directory and one default server."""

    def __init__(self, work):
        self.work = work
        self.servers = []
        self._main = None
        self.counter = 0

    def data_dir(self, name):
        self.counter += 1
        return os.path.join(self.work, "%s-%d" % (name, self.counter))

    def server(self, name, args=(), cores=2):
        server = Server(self.data_dir(name), args, cores)
        self.servers.append(server)
        return server.start()

    @property
    def main(self):
        if self._main is None or not self._main.running():
            self._main = self.server("main")
        return self._main

    def cleanup(self):
        for server in self.servers:
            server.cleanup()


def unique(prefix):
    unique.counter += 1
    return "%s%04d" % (prefix, unique.counter)


unique.counter = 0


# ---------------------------------------------------------------------------
# Cases: POST /v1/events
# ---------------------------------------------------------------------------

@case
def post_one_array_ndjson(ctx):
    client = RawHTTP(ctx.main.http)
    one = unique("ONE")
    response = post_events(client, ev(one, 0, "PICKED_UP"))
    T.check("POST one object: 202", response.status == 202, response)
    T.check("POST one object: body counts it", response.status == 202 and
            response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}, response)
    T.check("POST answers application/json",
            (response.header("Content-Type") or "").startswith("application/json"), response.headers)
    state = get_shipment(client, "UPS", one)
    T.check("GET after one object: 200 PICKED_UP", state.status == 200 and
            state.json()["status"] == "PICKED_UP" and state.json()["version"] == 1, state)

    array = unique("ARR")
    response = post_events(client, [ev(array, 0, "LABEL_CREATED"), ev(array, 60, "PICKED_UP"),
                                     ev(array, 120, "IN_TRANSIT")])
    T.check("POST array of 3: accepted 3", response.status == 202 and
            response.json() == {"accepted": 3, "duplicates": 0, "rejected": []}, response)
    state = get_shipment(client, "UPS", array).json()
    T.check("GET after array: event_count 3, status of the latest",
            state["event_count"] == 3 and state["status"] == "IN_TRANSIT" and state["version"] == 3, state)

    nd = unique("ND")
    body = "\n".join([dumps(ev(nd, 0, "PICKED_UP")), "", dumps(ev(nd, 10, "IN_TRANSIT")),
                      "not json at all", dumps(ev(nd, 20, "ARRIVED")),
                      dumps(ev(nd, 30, "OUT_FOR_DELIVERY"))]) + "\n"
    response = post_events(client, body, "application/x-ndjson")
    T.check("POST NDJSON: 202", response.status == 202, response)
    try:
        answer = response.json()
    except ValueError as error:
        answer = {"unparsable": str(error)}
    T.check("POST NDJSON: 3 accepted, bad lines by index with empty lines counted",
            answer.get("accepted") == 3 and answer.get("duplicates") == 0 and
            [(r["index"], r["error"]) for r in answer.get("rejected", [])] ==
            [(3, "bad_json"), (4, "unknown_status")], answer)
    state = get_shipment(client, "UPS", nd).json()
    T.check("GET after NDJSON: the 3 good lines", state["event_count"] == 3 and
            state["status"] == "OUT_FOR_DELIVERY", state)

    # Pretty-printed NDJSON is not NDJSON, but a pretty-printed object with
    # Content-Type application/json is one event.
    pretty = unique("PRETTY")
    response = post_events(client, json.dumps(ev(pretty, 0, "DELIVERED"), indent=2))
    T.check("POST a pretty-printed object: accepted 1", response.status == 202 and
            response.json()["accepted"] == 1, response)
    client.close()


@case
def partial_success(ctx):
    client = RawHTTP(ctx.main.http)
    good = unique("PART")
    events = [
        ev(good, 0, "PICKED_UP"),                                             # 0 ok
        {"carrier": "UPS", "status": "IN_TRANSIT", "event_time": event_time(1)},  # 1 missing
        ev(good, 2, 5),                                                         # 2 bad_type
        {"carrier": "UPS", "tracking_number": good, "status": "IN_TRANSIT",
         "event_time": "2026-01-01T10:00:00"},                                 # 3 bad_time
        ev(good, 4, "TELEPORTED"),                                             # 4 unknown_status
        17,                                                                     # 5 not_an_event
        ev(good, 6, "IN_TRANSIT", reason="NOT_A_REASON"),                      # 6 unknown reason
        ev(good, 7, "OUT_FOR_DELIVERY", ignored_field={"x": [1, 2]}),           # 7 ok
    ]
    response = post_events(client, events)
    T.check("partial success: 202", response.status == 202, response)
    try:
        answer = response.json()
    except ValueError as error:
        answer = None
        T.check("partial success: the 202 body is valid JSON", False,
                "%s: %r" % (error, response.body[:600]))
    if answer is not None:
        T.check("partial success: the 202 body is valid JSON", True)
        T.check("partial success: 2 accepted", answer["accepted"] == 2 and answer["duplicates"] == 0,
                answer)
        got = [(r.get("index"), r.get("error")) for r in answer["rejected"]]
        T.check("partial success: each bad event by index with its code",
                got == [(1, "missing_field"), (2, "bad_type"), (3, "bad_time"),
                        (4, "unknown_status"), (5, "not_an_event"), (6, "unknown_reason")], got)
        T.check("partial success: every reject has a one-sentence message",
                all(isinstance(r.get("message"), str) and r["message"] for r in answer["rejected"]),
                answer["rejected"])
    state = get_shipment(client, "UPS", good)
    T.check("partial success: the good events are stored", state.status == 200 and
            state.json()["event_count"] == 2 and state.json()["status"] == "OUT_FOR_DELIVERY", state)

    allbad = unique("ALLBAD")
    response = post_events(client, [ev(allbad, 0, "NOPE"), ev(allbad, 1, "NOPE2")])
    ok = response.status == 202
    try:
        answer = response.json()
    except ValueError:
        answer, ok = None, False
    T.check("every event rejected: still 202 with both listed", ok and answer["accepted"] == 0 and
            [r["index"] for r in answer["rejected"]] == [0, 1], response)
    T.check("every event rejected: nothing stored", get_shipment(client, "UPS", allbad).status == 404)
    client.close()


@case
def duplicates(ctx):
    client = RawHTTP(ctx.main.http)
    number = unique("DUP")
    first = ev(number, 0, "PICKED_UP", location={"city": "Atlanta", "region": "GA", "country": "US"})
    response = post_events(client, first)
    T.check("duplicates: first copy accepted", response.status == 202 and
            response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}, response)
    response = post_events(client, first)
    T.check("duplicates: a second copy counts as a duplicate", response.status == 202 and
            response.json() == {"accepted": 0, "duplicates": 1, "rejected": []}, response)
    # The same event re-spelled: other key order, offset, case, whitespace.
    respelled = ('{ "location":{"country":"us","city":" ATLANTA ","region":"ga"},'
                 '"event_time":"%s","status":"PICKED_UP","tracking_number":"%s","carrier":"UPS"}'
                 % ("2025-12-31T19:00:00-05:00", number.lower()))
    response = post_events(client, respelled)
    T.check("duplicates: a re-spelled copy counts as a duplicate", response.status == 202 and
            response.json() == {"accepted": 0, "duplicates": 1, "rejected": []}, response)
    other = unique("DUP")
    response = post_events(client, [ev(other, 0), ev(other, 0), ev(other, 1), ev(other, 0)])
    T.check("duplicates: within one request", response.status == 202 and
            response.json() == {"accepted": 2, "duplicates": 2, "rejected": []}, response)
    state = get_shipment(client, "UPS", number).json()
    T.check("duplicates: version and event_count unchanged", state["version"] == 1 and
            state["event_count"] == 1, state)
    deadline = time.monotonic() + 5
    while state["duplicate_count"] != 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        state = get_shipment(client, "UPS", number).json()
    T.check("duplicates: duplicate_count reaches the store (periodic flush)",
            state["duplicate_count"] == 2, state)
    client.close()


@case
def bad_requests(ctx):
    client = RawHTTP(ctx.main.http)
    for name, body, ctype in [("an empty body", "", "application/json"),
                              ("an empty NDJSON body", "", "application/x-ndjson"),
                              ("non-JSON", "hello, world", "application/json"),
                              ("truncated JSON", '{"carrier":"UPS","tracking', "application/json"),
                              ("NDJSON with no JSON line", "nope\nnope either\n", "application/x-ndjson")]:
        response = post_events(client, body, ctype)
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        T.check("%s: 400 with a JSON error" % name, response.status == 400 and
                isinstance(answer.get("error"), str) and isinstance(answer.get("message"), str), response)
    response = client.request("GET", "/v1/nope")
    T.check("unknown path: 404 JSON error", response.status == 404 and "error" in response.json(), response)
    response = client.request("POST", "/v2/events", "{}", content_type="application/json")
    T.check("unknown path (POST): 404", response.status == 404, response)
    response = client.request("GET", "/v1/events")
    T.check("GET /v1/events: 405 JSON error", response.status == 405 and "error" in response.json(), response)
    for source, status, code in (("ebay", 404, "unknown_source"), ("canonical", 404, "unknown_source"),
                                 ("easypost", 400, "not_source_shape")):
        # {"x":1} is JSON but no EasyPost Event: 400, nothing taken.
        response = client.request("POST", "/v1/webhooks/" + source, '{"x":1}',
                                  content_type="application/json")
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        T.check("webhook source %s: %d %s with a message" % (source, status, code),
                response.status == status and answer.get("error") == code and
                answer.get("message"), response)
    response = client.request("GET", "/v1/webhooks/easypost")
    T.check("GET of a webhook: 405", response.status == 405, response)
    # The connection survived all of it.
    response = client.request("GET", "/healthz")
    T.check("the connection stays usable after 4xx answers", response.status == 200, response)
    client.close()


# ---------------------------------------------------------------------------
# Cases: connections
# ---------------------------------------------------------------------------

@case
def keep_alive(ctx):
    before = metrics(ctx.main.http)
    client = RawHTTP(ctx.main.http)
    number = unique("KA")
    statuses = []
    for index in range(300):
        response = post_events(client, ev(number, index))
        statuses.append(response.status)
        if response.header("Connection") and response.header("Connection").lower() == "close":
            break
    T.check("keep-alive: 300 POSTs on one connection, all 202",
            statuses == [202] * 300, collections.Counter(statuses))
    state = get_shipment(client, "UPS", number).json()
    T.check("keep-alive: all 300 events stored", state["event_count"] == 300, state["event_count"])
    client.close()
    after = metrics(ctx.main.http)
    # This connection and the one of the second GET /metrics (accepted before it answers).
    T.check("keep-alive: one connection for all of them",
            delta(before, after, "milepost_net_connections_accepted_total") == 2,
            delta(before, after, "milepost_net_connections_accepted_total"))

    # The standard library's client agrees about framing and keep-alive.
    connection = http.client.HTTPConnection(*ctx.main.http, timeout=15)
    statuses, sockets = [], set()
    other = unique("KAH")
    for index in range(50):
        connection.request("POST", "/v1/events", dumps(ev(other, index)),
                           {"Content-Type": "application/json"})
        response = connection.getresponse()
        statuses.append((response.status, json.loads(response.read())["accepted"]))
        sockets.add(id(connection.sock))
    connection.request("GET", "/v1/shipments/ups/" + other.lower())
    response = connection.getresponse()
    count = json.loads(response.read()).get("event_count")
    connection.close()
    T.check("http.client: 50 POSTs and a GET on one kept-alive connection",
            statuses == [(202, 1)] * 50 and len(sockets) == 1 and count == 50, (statuses[-2:], len(sockets), count))


@case
def pipelining(ctx):
    client = RawHTTP(ctx.main.http)
    seed = unique("PIPE")
    post_events(client, ev(seed, 0, "DELIVERED"))
    numbers = [unique("PIPE") for _ in range(8)]
    data = b""
    expected = []
    for index, number in enumerate(numbers):
        events = [ev(number, minute) for minute in range(index + 1)]
        data += build_request("POST", "/v1/events", dumps(events), content_type="application/json")
        expected.append(("post", index + 1))
        data += build_request("GET", "/v1/shipments/UPS/" + seed)
        expected.append(("get", seed))
        if index % 3 == 0:
            data += build_request("GET", "/nope")
            expected.append(("404", None))
            data += build_request("GET", "/healthz")
            expected.append(("health", None))
    client.send(data)  # all at once
    answers = []
    try:
        for _ in expected:
            answers.append(client.read_response())
    except (ConnectionClosed, OSError) as error:
        answers.append(error)
    good = len(answers) == len(expected)
    for (kind, value), answer in zip(expected, answers):
        if not isinstance(answer, Response):
            good = False
        elif kind == "post":
            good = good and answer.status == 202 and answer.json()["accepted"] == value
        elif kind == "get":
            good = good and answer.status == 200 and answer.json()["tracking_number"] == value
        elif kind == "404":
            good = good and answer.status == 404
        else:
            good = good and answer.status == 200 and answer.body.strip() == b"ok"
    T.check("pipelining: %d requests written at once, answered in order" % len(expected), good,
            answers[:6])
    counts = [get_shipment(client, "UPS", n).json()["event_count"] for n in numbers]
    T.check("pipelining: every pipelined POST stored", counts == list(range(1, 9)), counts)

    # More requests than the server holds per connection (it must not drop or reorder).
    many = unique("PIPEMANY")
    data = b"".join(build_request("POST", "/v1/events", dumps(ev(many, minute)),
                                  content_type="application/json") for minute in range(100))
    sender = threading.Thread(target=client.send, args=(data,), daemon=True)
    sender.start()
    statuses = []
    try:
        for _ in range(100):
            statuses.append(client.read_response().json()["accepted"])
    except (ConnectionClosed, OSError, ValueError) as error:
        statuses.append(repr(error))
    sender.join(10)
    T.check("pipelining: 100 POSTs in one write, 100 answers", statuses == [1] * 100, statuses[-3:])
    client.close()


@case
def chunked_and_continue(ctx):
    client = RawHTTP(ctx.main.http)
    number = unique("CHUNK")
    body = dumps([ev(number, minute) for minute in range(20)]).encode()
    head = build_request("POST", "/v1/events", None, {"Transfer-Encoding": "chunked"},
                         "application/json")
    client.send(head + chunked(body, [1, 7, 100, 3, 1000]))
    response = client.read_response()
    T.check("chunked body: 202 accepted 20", response.status == 202 and
            response.json()["accepted"] == 20, response)

    # Chunks in separate writes with pauses, the last one split mid-frame.
    number2 = unique("CHUNK")
    body = "\n".join(dumps(ev(number2, minute)) for minute in range(5)).encode()
    framed = chunked(body, [50, 50, 50])
    client.send(build_request("POST", "/v1/events", None, {"Transfer-Encoding": "chunked"},
                              "application/x-ndjson"))
    for at in range(0, len(framed), 37):
        client.send(framed[at:at + 37])
        time.sleep(0.01)
    response = client.read_response()
    T.check("chunked NDJSON trickled in pieces: 202 accepted 5", response.status == 202 and
            response.json()["accepted"] == 5, response)
    T.check("chunked: both stored", get_shipment(client, "UPS", number).json()["event_count"] == 20 and
            get_shipment(client, "UPS", number2).json()["event_count"] == 5)

    # Expect: 100-continue: the interim answer comes before the body is sent.
    number3 = unique("CONT")
    body = dumps([ev(number3, minute) for minute in range(3)]).encode()
    client.send(build_request("POST", "/v1/events", None,
                              {"Content-Length": str(len(body)), "Expect": "100-continue"},
                              "application/json"))
    client.sock.settimeout(3)
    try:
        head = client._read_until(b"\r\n\r\n")
    except (socket.timeout, ConnectionClosed) as error:
        head = repr(error).encode()
    client.sock.settimeout(client.timeout)
    T.check("Expect: 100-continue: '100 Continue' before the body", head.startswith(b"HTTP/1.1 100"),
            head)
    client.send(body)
    response = client.read_response()
    T.check("Expect: 100-continue: then 202", response.status == 202 and
            response.json()["accepted"] == 3, response)
    client.close()

    # curl, with a large NDJSON body (curl sends Expect: 100-continue for it).
    if shutil.which("curl"):
        number4 = unique("CURL")
        path = os.path.join(ctx.work, "curl-body.ndjson")
        with open(path, "w") as f:
            for minute in range(2000):
                f.write(dumps(ev(number4 if minute < 200 else unique("CURLX"), minute,
                                 description="x" * 400)) + "\n")
        result = subprocess.run(["curl", "-sS", "-v", "--max-time", "30", "-H", "Expect: 100-continue",
                                 "-H", "Content-Type: application/x-ndjson", "--data-binary", "@" + path,
                                 "-w", "\n%{http_code}", "http://%s:%d/v1/events" % ctx.main.http],
                                capture_output=True, text=True, timeout=60)
        body, _, code = result.stdout.rpartition("\n")
        T.check("curl: 100 Continue seen", "100 Continue" in result.stderr, result.stderr[-500:])
        try:
            answer = json.loads(body)
        except ValueError:
            answer = {}
        T.check("curl: 1 MB NDJSON POST answered 202 with 2000 accepted",
                code == "202" and answer.get("accepted") == 2000, (code, body[:300]))
        result = subprocess.run(["curl", "-sS", "--max-time", "10",
                                 "http://%s:%d/v1/shipments/ups/%s" % (ctx.main.http + (number4.lower(),))],
                                capture_output=True, text=True, timeout=30)
        try:
            state = json.loads(result.stdout)
        except ValueError:
            state = {}
        T.check("curl: GET shows the 200 events of its shipment", state.get("event_count") == 200,
                result.stdout[:300])
    else:
        T.note("curl not installed; its checks skipped")


@case
def ack_latency(ctx):
    """An idle server answers one event at the pace of its fsync, not of a timer tick."""
    client = RawHTTP(ctx.main.http)
    stream = NDJSONClient(ctx.main.tcp)
    http_ms, tcp_ms, dup_ms = [], [], []
    for index in range(30):
        number = unique("LAT")
        started = time.monotonic()
        post_events(client, ev(number, 0))
        http_ms.append((time.monotonic() - started) * 1000)
        started = time.monotonic()
        stream.send_lines([dumps(ev(number, 1))])
        stream.wait_ack(2 * index + 1, timeout=5)
        tcp_ms.append((time.monotonic() - started) * 1000)
        started = time.monotonic()
        stream.send_lines([dumps(ev(number, 1))])
        stream.wait_ack(2 * index + 2, timeout=5)
        dup_ms.append((time.monotonic() - started) * 1000)
    stream.close()
    client.close()
    median = lambda values: sorted(values)[len(values) // 2]
    T.note("ack latency medians: HTTP %.1f ms, TCP %.1f ms, TCP duplicate %.1f ms"
           % (median(http_ms), median(tcp_ms), median(dup_ms)))
    # fsync takes well under a millisecond on the development machine; 20 ms
    # leaves room for a loaded CI host while catching a missed wake-up that
    # waits for the loop's 100 ms timer.
    T.check("one-event POST on an idle server: median answer under 20 ms (%.1f ms)" % median(http_ms),
            median(http_ms) < 20, sorted(http_ms)[::6])
    T.check("one TCP line on an idle server: median ack under 20 ms (%.1f ms)" % median(tcp_ms),
            median(tcp_ms) < 20, sorted(tcp_ms)[::6])
    T.check("one duplicate TCP line: median ack under 20 ms (%.1f ms)" % median(dup_ms),
            median(dup_ms) < 20, sorted(dup_ms)[::6])


# ---------------------------------------------------------------------------
# Cases: portal reads
# ---------------------------------------------------------------------------

STATE_KEYS = ["carrier", "tracking_number", "qualifier", "status", "status_time", "reason", "milestones",
              "last_location", "estimated_delivery", "shipment_ref", "damaged", "first_event_time",
              "last_event_time", "event_count", "duplicate_count", "sources", "version"]


@case
def portal_reads(ctx):
    client = RawHTTP(ctx.main.http)
    number = "1Z%s" % unique("RD")
    events = [ev(number, 0, "LABEL_CREATED"),
              ev(number, 600, "PICKED_UP", shipment_ref="SO-77",
                 location={"city": "Louisville", "region": "KY", "country": "US"}),
              ev(number, 1200, "DELIVERED", signer="J SMITH")]
    post_events(client, events[::-1])
    spaced = " ".join([number[:3].lower(), number[3:7].lower(), number[7:]])
    response = client.request("GET", "/v1/shipments/ups/%s" % quote(spaced))
    T.check("GET normalizes carrier case and spaces in the number", response.status == 200 and
            response.json()["tracking_number"] == number, response)
    state = response.json() if response.status == 200 else {}
    T.check("state JSON: every documented key present", all(k in state for k in STATE_KEYS),
            [k for k in STATE_KEYS if k not in state])
    T.check("state JSON: values", state.get("carrier") == "UPS" and state.get("status") == "DELIVERED" and
            state.get("qualifier") is None and state.get("shipment_ref") == "SO-77" and
            state.get("milestones", {}).get("PICKED_UP") == event_time(600) and
            state.get("sources") == ["canonical"] and state.get("version") == 3, state)
    T.check("GET without ?timeline has no timeline", "timeline" not in state, state)
    response = client.request("GET", "/v1/shipments/UPS/%s?timeline=true" % number)
    state = response.json()
    timeline = state.get("timeline", [])
    T.check("?timeline=true: accepted events oldest first", response.status == 200 and
            [e.get("event_time") for e in timeline] == [event_time(0), event_time(600), event_time(1200)] and
            state.get("timeline_truncated") is False, state)
    T.check("?timeline=true: entries are canonical events with source and received_at",
            all(e.get("carrier") == "UPS" and e.get("status") and e.get("source") == "canonical" and
                str(e.get("received_at", "")).endswith("Z") for e in timeline), timeline)
    response = client.request("GET", "/v1/shipments/UPS/NOSUCH%s" % unique("X"))
    T.check("GET unknown shipment: 404 JSON error", response.status == 404 and
            response.json().get("error"), response)
    response = client.request("GET", "/v1/shipments/FEDEX/%s" % number)
    T.check("GET another carrier's number: 404", response.status == 404, response)

    shared = unique("MULTI")
    post_events(client, [ev(shared, 0, "PICKED_UP", carrier=c) for c in ("UPS", "FedEx", "DHL")])
    response = client.request("GET", "/v1/shipments?tracking_number=%s" % shared.lower())
    try:
        shipments = response.json().get("shipments")
    except ValueError:
        shipments = None
    T.check("GET /v1/shipments?tracking_number=T: every carrier's shipment",
            response.status == 200 and isinstance(shipments, list) and
            sorted(s.get("carrier", "").upper() for s in shipments) == ["DHL", "FEDEX", "UPS"] and
            all(s.get("tracking_number") == shared and all(k in s for k in STATE_KEYS) for s in shipments),
            response)
    response = client.request("GET", "/v1/shipments?tracking_number=NONE%s" % unique("X"))
    T.check("GET /v1/shipments?tracking_number=unknown: {\"shipments\":[]}",
            response.status == 200 and response.json() == {"shipments": []}, response)
    response = client.request("GET", "/v1/shipments")
    T.check("GET /v1/shipments without tracking_number: 4xx", 400 <= response.status < 500, response)
    client.close()


@case
def read_your_writes(ctx):
    writer = RawHTTP(ctx.main.http)
    readers = [RawHTTP(ctx.main.http) for _ in range(3)]
    number = unique("RYW")
    seen = []
    for index in range(60):
        response = post_events(writer, ev(number, index))
        if response.status != 202:
            seen.append(("post", response.status))
            continue
        reader = readers[index % 3]
        state = get_shipment(reader, "UPS", number)
        version = state.json()["version"] if state.status == 200 else None
        seen.append(version)
        other = unique("RYWX")
        post_events(writer, ev(other, 0))
        listed = reader.request("GET", "/v1/shipments?tracking_number=" + other).json()["shipments"]
        if len(listed) != 1:
            seen.append(("listed", len(listed)))
    T.check("read-your-writes: every GET right after a 202 (other connections) sees it",
            seen == list(range(1, 61)), seen[:10])
    for client in readers + [writer]:
        client.close()


# ---------------------------------------------------------------------------
# Cases: TCP NDJSON and UDP
# ---------------------------------------------------------------------------

@case
def tcp_ndjson(ctx):
    before = metrics(ctx.main.http)
    stream = NDJSONClient(ctx.main.tcp)
    number = unique("TCP")
    lines = [dumps(ev(number, 0, "PICKED_UP")),        # 1
             "",                                       # 2 empty
             "garbage{",                               # 3 bad_json
             dumps(ev(number, 1, "NOT_A_STATUS")),     # 4 unknown_status
             "   ",                                    # 5 blank
             dumps(ev(number, 2, "IN_TRANSIT")),       # 6
             dumps({"carrier": "UPS"}),                # 7 missing_field
             "[1,2]",                                  # 8 not an event
             dumps(ev(number, 0, "PICKED_UP"))]        # 9 duplicate of 1
    stream.send_lines(lines)
    acked = stream.wait_ack(9)
    T.check("TCP: one or more acks cover all 9 lines", acked, stream.acks)
    T.check("TCP: reject lines for the bad lines only",
            {line: error for line, (error, _) in stream.rejects.items()} ==
            {3: "bad_json", 4: "unknown_status", 7: "missing_field", 8: "not_an_event"},
            stream.rejects)
    T.check("TCP: no protocol violation (acks only grow, rejects before their ack)",
            not stream.violations, stream.violations)
    client = RawHTTP(ctx.main.http)
    state = get_shipment(client, "UPS", number).json()
    T.check("TCP: state visible via GET after the ack", state.get("event_count") == 2, state)

    # Many lines pipelined, in pieces that split lines.
    numbers = [unique("TCPM") for _ in range(50)]
    total = 20000
    data = "".join(dumps(ev(numbers[i % 50], i // 50)) + ("\n\n" if i % 1000 == 999 else "\n")
                   for i in range(total)).encode()
    line_count = total + total // 1000
    acks_before = len(stream.acks)

    def write():
        stream.send_raw(b"", line_count)
        for at in range(0, len(data), 7777):
            stream.sock.sendall(data[at:at + 7777])

    sender = threading.Thread(target=write, daemon=True)
    sender.start()
    acked = stream.wait_ack(9 + line_count, timeout=60)
    sender.join(10)
    T.check("TCP: %d lines pipelined, all acked" % line_count, acked, stream.acks[-1:])
    T.check("TCP: acks batch lines (fewer acks than lines)",
            0 < len(stream.acks) - acks_before < line_count, len(stream.acks) - acks_before)
    T.check("TCP: still no violation or reject", not stream.violations and len(stream.rejects) == 4,
            (stream.violations[:3], len(stream.rejects)))
    counts = [get_shipment(client, "UPS", n).json().get("event_count") for n in numbers]
    T.check("TCP: every acked line is in the store", counts == [400] * 50, counts[:5])

    # Resending all of it: acks again, duplicates, no new versions.
    stream.send_raw(data, line_count)
    acked = stream.wait_ack(9 + 2 * line_count, timeout=60)
    versions = [get_shipment(client, "UPS", n).json().get("version") for n in numbers[:5]]
    T.check("TCP: a resent stream is acked and changes nothing", acked and versions == [400] * 5,
            (stream.acks[-1:], versions))
    stream.close()
    after = metrics(ctx.main.http)
    T.check("TCP: metrics count the lines", delta(before, after, "milepost_tcp_lines_total") ==
            9 + 2 * line_count, delta(before, after, "milepost_tcp_lines_total"))
    T.check("TCP: metrics count the duplicates",
            delta(before, after, "milepost_shard_duplicate_events_total") == total + 1,
            delta(before, after, "milepost_shard_duplicate_events_total"))
    T.check("TCP: metrics count rejects by reason",
            delta(before, after, 'milepost_ingest_rejected_records_total{reason="bad_json"}') == 1 and
            delta(before, after, 'milepost_ingest_rejected_records_total{reason="unknown_status"}') == 1 and
            delta(before, after, 'milepost_ingest_rejected_records_total{reason="missing_field"}') == 1,
            {k: delta(before, after, k) for k in after if "rejected_records" in k and delta(before, after, k)})

    # A client that does not read its acks for a while: the server's sends
    # block, acks pile up behind them, and every byte must still be intact.
    stream = NDJSONClient(ctx.main.tcp, rcvbuf=4096, read_delay=2.0)
    number = unique("TCPSLOW")
    total = 30000
    data = "".join(dumps(ev("%s-%d" % (number, i % 100), i // 100)) + "\n" for i in range(total)).encode()
    sender = threading.Thread(target=stream.send_raw, args=(data, total), daemon=True)
    sender.start()
    acked = stream.wait_ack(total, timeout=60)
    sender.join(10)
    T.check("TCP: a client reading its acks late gets all %d acked" % total, acked, stream.acks[-1:])
    T.check("TCP: ... and every byte it reads back is a well-formed ack line",
            not stream.violations and not stream.rejects, (stream.violations[:3], len(stream.rejects)))
    stream.close()

    # A stream closed right after writing (half-close) still gets acks for
    # every line before the server closes it.
    short = []
    for index in range(30):
        stream = NDJSONClient(ctx.main.tcp)
        number = unique("TCPEOF")
        count = 1 + index * 7
        stream.send_lines([dumps(ev(number, i)) for i in range(count)])
        stream.sock.shutdown(socket.SHUT_WR)
        closed = stream.wait_closed(15)
        if not closed or stream.acked != count or stream.violations:
            short.append((count, stream.acked, closed, stream.violations[:1]))
        stream.close()
    T.check("TCP: after the client's EOF, acks for all lines, then close (30 streams)", not short,
            "%d streams short: (lines, acked, closed) %s" % (len(short), short[:5]))
    T.check("TCP: those lines are stored", get_shipment(client, "UPS", number).json()["event_count"] == count)
    client.close()


@case
def udp(ctx):
    before = metrics(ctx.main.http)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    single = [unique("UDP") for _ in range(20)]
    for number in single:
        sock.sendto(dumps(ev(number, 0, "PICKED_UP")).encode(), ctx.main.udp)
    batch = unique("UDPB")
    sock.sendto(("\n".join(dumps(ev(batch, minute)) for minute in range(5)) + "\n").encode(), ctx.main.udp)
    sock.sendto(b"this is not json", ctx.main.udp)
    sock.sendto(dumps(ev(batch, 99, "WHATEVER")).encode(), ctx.main.udp)
    sock.close()
    client = RawHTTP(ctx.main.http)
    deadline = time.monotonic() + 5
    found = 0
    while time.monotonic() < deadline:
        found = sum(get_shipment(client, "UPS", n).status == 200 for n in single)
        batch_state = get_shipment(client, "UPS", batch)
        if found == 20 and batch_state.status == 200 and batch_state.json()["event_count"] == 5:
            break
        time.sleep(0.1)
    T.check("UDP: one event per datagram, all visible after a short wait", found == 20, found)
    T.check("UDP: an NDJSON datagram's 5 events visible", batch_state.status == 200 and
            batch_state.json()["event_count"] == 5, batch_state)
    after = metrics(ctx.main.http)
    T.check("UDP: metrics count the datagrams", delta(before, after, "milepost_udp_datagrams_total") == 23,
            delta(before, after, "milepost_udp_datagrams_total"))
    T.check("UDP: metrics count the bad datagrams as rejects",
            delta(before, after, 'milepost_ingest_rejected_records_total{reason="bad_json"}') == 1 and
            delta(before, after, 'milepost_ingest_rejected_records_total{reason="unknown_status"}') == 1,
            {k: delta(before, after, k) for k in after if "rejected_records" in k and delta(before, after, k)})
    T.check("UDP: no drops counted at this rate", delta(before, after, "milepost_udp_dropped_events_total") == 0)
    client.close()

    # Drops in the kernel count too: with the server stopped (SIGSTOP), a
    # burst overflows its socket's receive buffer; after SIGCONT and one more
    # datagram (which brings the socket's drop count), every datagram sent
    # is either stored or counted as dropped.
    server = ctx.server("udpdrops")
    before = metrics(server.http)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    burst = 5000
    server.process.send_signal(signal.SIGSTOP)
    try:
        for index in range(burst):
            sock.sendto(dumps(ev("UDPK%05d" % index, 0)).encode(), server.udp)
    finally:
        server.process.send_signal(signal.SIGCONT)
    time.sleep(0.5)
    sock.sendto(dumps(ev("UDPK%05d" % burst, 0)).encode(), server.udp)
    sock.close()
    time.sleep(0.5)
    after = metrics(server.http)
    client = RawHTTP(server.http)
    stored = sum(get_shipment(client, "UPS", "UDPK%05d" % index).status == 200 for index in range(burst + 1))
    client.close()
    dropped = delta(before, after, "milepost_udp_dropped_events_total")
    T.note("UDP burst into a stopped server: %d sent, %d received, %d stored, %d counted as dropped"
           % (burst + 1, delta(before, after, "milepost_udp_datagrams_total"), stored, dropped))
    T.check("UDP: datagrams the kernel dropped (full receive buffer) are counted",
            stored + dropped == burst + 1, (burst + 1, stored, dropped))
    T.check("UDP burst server: SIGTERM exits 0", server.stop()[0] == 0)


# ---------------------------------------------------------------------------
# Cases: metrics and health
# ---------------------------------------------------------------------------

@case
def metrics_and_health(ctx):
    client = RawHTTP(ctx.main.http)
    response = client.request("GET", "/healthz")
    T.check("/healthz: 200 ok", response.status == 200 and response.body.strip() == b"ok", response)
    response = client.request("GET", "/metrics")
    T.check("/metrics: 200 text/plain", response.status == 200 and
            (response.header("Content-Type") or "").startswith("text/plain"), response.headers)
    try:
        parse_metrics(response.body.decode())
        well_formed = True
        detail = ""
    except ValueError as error:
        well_formed, detail = False, error
    T.check("/metrics: Prometheus text format, every sample typed", well_formed, detail)
    text = response.body.decode()
    names = set(re.findall(r"^# TYPE (\S+)", text, re.M))
    T.check("/metrics: names are milepost_<module>_<thing>_<unit>",
            names and all(n.startswith("milepost_") for n in names), sorted(names)[:5])
    for wanted in ("milepost_ingest_received_events_total", "milepost_ingest_rejected_records_total",
                   "milepost_shard_duplicate_events_total", "milepost_http_responses_total",
                   "milepost_http_slow_client_cuts_total", "milepost_udp_dropped_events_total",
                   "milepost_http_overloaded_total", "milepost_ingest_ack_latency_seconds"):
        T.check("/metrics: has " + wanted, wanted in names)

    before = metrics(ctx.main.http)
    number = unique("MET")
    post_events(client, [ev(number, 0), ev(number, 1), ev(number, 0), ev(number, 2, "BAD"), {"x": 1}])
    post_events(client, ev(number, 1))
    client.request("GET", "/nope")
    client.request("GET", "/v1/events")
    post_events(client, "")
    after = metrics(ctx.main.http)
    checks = {
        "milepost_ingest_received_events_total": 4,
        "milepost_shard_accepted_events_total": 2,
        "milepost_shard_duplicate_events_total": 2,
        'milepost_ingest_rejected_records_total{reason="unknown_status"}': 1,
        'milepost_ingest_rejected_records_total{reason="missing_field"}': 1,
        'milepost_http_responses_total{class="2xx"}': 3,    # 2 POSTs and the first /metrics
        'milepost_http_responses_total{class="4xx"}': 3,
        'milepost_http_responses_total{class="5xx"}': 0,
        'milepost_ingest_source_events_total{source="canonical"}': 4,
    }
    got = {name: delta(before, after, name) for name in checks}
    T.check("/metrics: counters move exactly as the requests did", got == checks,
            {k: (got[k], checks[k]) for k in checks if got[k] != checks[k]})
    T.check("/metrics: the ack latency histogram counts acknowledgements",
            delta(before, after, "milepost_ingest_ack_latency_seconds_count") >= 2,
            delta(before, after, "milepost_ingest_ack_latency_seconds_count"))
    client.close()


# ---------------------------------------------------------------------------
# Cases: limits, slow and idle clients
# ---------------------------------------------------------------------------

LIMIT_ARGS = ["--set", "limits.body_size_max=1k", "--set", "limits.events_per_request_max=5",
              "--set", "limits.line_size_max=1k", "--set", "limits.header_timeout_ms=300",
              "--set", "limits.body_timeout_ms=600", "--set", "limits.idle_timeout_ms=1500"]


@case
def limits(ctx):
    server = ctx.server("limits", LIMIT_ARGS)
    client = RawHTTP(server.http)
    numbers = [unique("BIG") for _ in range(20)]
    body = dumps([ev(n, 0) for n in numbers[:5]] + [ev(n, 0, description="d" * 100) for n in numbers[5:]])
    T.note("body of %d bytes against a 1k limit" % len(body))
    response = post_events(client, body)
    T.check("over the body limit: 413 JSON error", response.status == 413 and
            response.json().get("error") == "too_big", response)
    client.close()
    client = RawHTTP(server.http)
    big = dumps([ev(n, 0) for n in numbers[:4]]).encode() + b" " * 2000
    client.send(build_request("POST", "/v1/events", None, {"Transfer-Encoding": "chunked"},
                              "application/json") + chunked(big, [500, 500, 500]))
    try:
        response = client.read_response()
    except (ConnectionClosed, OSError) as error:
        response = Response(0, repr(error), [], b"")
    T.check("over the body limit, chunked: 413", response.status == 413, response)
    client.close()
    client = RawHTTP(server.http)
    client.send(build_request("POST", "/v1/events", None, {"Content-Length": "5000", "Expect": "100-continue"},
                              "application/json"))
    interim = []
    try:
        response = client.read_response(interim)
    except (ConnectionClosed, OSError) as error:
        response = Response(0, repr(error), [], b"")
    T.check("Expect: 100-continue with a Content-Length over the limit: 413 before any body byte",
            response.status == 413, (interim, response))
    client.close()
    client = RawHTTP(server.http)
    response = post_events(client, [ev(n, 0) for n in numbers[10:16]])
    T.check("6 events over events_per_request_max=5: 413", response.status == 413 and
            response.json().get("error") == "too_big", response)
    client.close()
    client = RawHTTP(server.http)
    response = post_events(client, "\n".join(dumps(ev(n, 0)) for n in numbers[16:20]) + "\n\n\n",
                           "application/x-ndjson")
    T.check("5 events is the limit, empty lines not counted: 202", response.status == 202 and
            response.json()["accepted"] == 4, response)
    stored = [n for n in numbers[:16] if get_shipment(client, "UPS", n).status != 404]
    T.check("413: nothing of those requests taken", stored == [], stored)

    # A slow client that sends half a request header and stalls: cut after
    # limits.header_timeout_ms=300 (the loop's timer ticks every 100 ms),
    # well before the idle timeout (1500 ms) would close it.
    before = metrics(server.http)
    slow = RawHTTP(server.http)
    slow.send("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Ty")
    took = slow.wait_closed(5)
    T.check("slow client (half a header): cut off after the 300 ms header timeout (%s s)" % took,
            took is not None and 0.25 <= took <= 0.8, took)
    slow.close()
    # Headers done, half the body, then a stall: cut after limits.body_timeout_ms=600.
    slow = RawHTTP(server.http)
    slow.send(build_request("POST", "/v1/events", None, {"Content-Length": "200"}, "application/json") +
              b'[{"carrier":"UPS",')
    took = slow.wait_closed(5)
    T.check("slow client (half a body): cut off after the 600 ms body timeout (%s s)" % took,
            took is not None and 0.55 <= took <= 0.85, took)
    slow.close()
    # A trickle: one header byte every 100 ms, never idle, never done.
    slow = RawHTTP(server.http)
    request = build_request("GET", "/healthz", None, {"X-Filler": "f" * 100})
    started = time.monotonic()
    cut = None
    for byte in request[:-4]:
        try:
            slow.sock.sendall(bytes([byte]))
        except OSError:
            cut = time.monotonic() - started
            break
        if slow.wait_closed(0.1) is not None:
            cut = time.monotonic() - started
            break
        if time.monotonic() - started > 5:
            break
    T.check("trickling client (a header byte every 100 ms): cut off after the header timeout (%s s)" % cut,
            cut is not None and 0.25 <= cut <= 0.8, cut)
    slow.close()
    after = metrics(server.http)
    T.check("slow-client cuts counted (3)", delta(before, after, "milepost_http_slow_client_cuts_total") == 3,
            delta(before, after, "milepost_http_slow_client_cuts_total"))

    # An idle keep-alive connection is closed after the idle timeout, not before.
    idle = RawHTTP(server.http)
    response = idle.request("GET", "/healthz")
    started = time.monotonic()
    took = idle.wait_closed(5)
    T.check("idle keep-alive connection closed after limits.idle_timeout_ms=1500 (%s s)" % took,
            response.status == 200 and took is not None and 1.45 <= took <= 2.0, took)
    idle.close()
    idle = RawHTTP(server.http)
    took = idle.wait_closed(5)
    T.check("a connection that never sends is closed after the idle timeout (%s s)" % took,
            took is not None and 1.45 <= took <= 2.0, took)
    idle.close()
    # A busy connection (a request every 300 ms, for longer than the idle timeout) stays open.
    busy = RawHTTP(server.http)
    statuses = []
    for _ in range(7):
        try:
            statuses.append(busy.request("GET", "/healthz").status)
        except (ConnectionClosed, OSError) as error:
            statuses.append(repr(error))
        time.sleep(0.3)
    T.check("a connection used every 300 ms stays open past the idle timeout", statuses == [200] * 7,
            statuses)
    busy.close()

    # A TCP line over limits.line_size_max: rejected as too_big, then the stream closes.
    stream = NDJSONClient(server.tcp)
    number = unique("LINE")
    stream.send_lines([dumps(ev(number, 0)), dumps(ev(number, 1, description="x" * 2000))])
    closed = stream.wait_closed(5)
    T.check("TCP line over line_size_max: line 1 acked, line 2 too_big, then closed",
            closed and stream.acked >= 1 and stream.rejects.get(2, ("",))[0] == "too_big",
            (closed, stream.acks, stream.rejects))
    stream.close()
    T.check("limits server: SIGTERM exits 0", server.stop()[0] == 0, server.stderr()[-500:])


# ---------------------------------------------------------------------------
# Cases: overload and shutdown
# ---------------------------------------------------------------------------

class Poster(threading.Thread):
    """Posts arrays of events over keep-alive until told to stop; records 202'd events."""

    def __init__(self, address, name, ledger, batch=20, per_shipment=100, stop=None, retry=True):
        super().__init__(daemon=True)
        self.address = address
        self.name_prefix = name
        self.ledger = ledger
        self.batch = batch
        self.per_shipment = per_shipment
        self.stop_event = stop or threading.Event()
        self.statuses = collections.Counter()
        self.problems = []
        self.sequence = 0
        self.retry = retry
        self.sent = []            # every event generated and (at least partly) sent

    def next_events(self):
        events = []
        for _ in range(self.batch):
            shipment, minute = divmod(self.sequence, self.per_shipment)
            events.append(ev("%s%05d" % (self.name_prefix, shipment), minute))
            self.sequence += 1
        return events

    def run(self):
        client = None
        pending = None
        while not self.stop_event.is_set():
            try:
                if client is None:
                    client = RawHTTP(self.address, timeout=30)
                if pending is None:
                    pending = self.next_events()
                    self.sent.extend(pending)
                events = pending
                response = post_events(client, events)
                self.statuses[response.status] += 1
                if response.status == 202:
                    answer = response.json()
                    if answer["accepted"] + answer["duplicates"] != len(events) or answer["rejected"]:
                        self.problems.append(("counts", answer))
                    self.ledger.add_all(events)
                    pending = None
                elif response.status == 503:
                    if not response.header("Retry-After"):
                        self.problems.append(("503 without Retry-After", response.headers))
                    pending = events if self.retry else None
                    time.sleep(0.01)
                else:
                    self.problems.append(("status", response.status, response.body[:200]))
                    pending = None
                if (response.header("Connection") or "").lower() == "close":
                    client.close()
                    client = None
            except (ConnectionClosed, OSError, ValueError) as error:
                self.statuses[type(error).__name__] += 1
                if client:
                    client.close()
                client = None
                if self.stop_event.is_set():
                    break
                time.sleep(0.05)
                if isinstance(error, ConnectionRefusedError):
                    break
        if client:
            client.close()


class Streamer(threading.Thread):
    """Streams NDJSON lines over TCP; records every event an ack covers."""

    def __init__(self, address, name, ledger, per_shipment=100, window=4000, stop=None,
                 chunk=200, limit=None):
        super().__init__(daemon=True)
        self.address = address
        self.name_prefix = name
        self.ledger = ledger
        self.per_shipment = per_shipment
        self.window = window
        self.stop_event = stop or threading.Event()
        self.chunk = chunk
        self.limit = limit
        self.events = []          # line k (1-based) is events[k-1]
        self.client = None
        self.error = None
        self.recorded = 0

    def record(self):
        """Adds the acknowledged lines (not rejected) to the ledger."""
        client = self.client
        if client is None:
            return
        acked = client.acked
        for line in range(self.recorded + 1, acked + 1):
            if line not in client.rejects:
                self.ledger.add(self.events[line - 1])
        self.recorded = max(self.recorded, acked)

    def run(self):
        try:
            self.client = NDJSONClient(self.address, timeout=30)
        except OSError as error:
            self.error = error
            return
        sequence = 0
        try:
            while not self.stop_event.is_set() and not self.client.closed:
                if self.limit is not None and sequence >= self.limit:
                    break
                if sequence - self.client.acked >= self.window:
                    self.client.wait_ack(sequence - self.window + self.chunk, timeout=0.2)
                    self.record()
                    continue
                lines = []
                for _ in range(self.chunk):
                    shipment, minute = divmod(sequence, self.per_shipment)
                    event = ev("%s%05d" % (self.name_prefix, shipment), minute)
                    self.events.append(event)
                    lines.append(dumps(event))
                    sequence += 1
                self.client.send_lines(lines)
                self.record()
        except OSError as error:
            self.error = error
        self.record()

    def finish(self, timeout=10):
        """Waits for acks of everything sent (if the server still answers), records them."""
        if self.client:
            self.client.wait_ack(len(self.events), timeout)
        self.record()

    def close(self):
        if self.client:
            self.client.close()
            self.record()


@case
def overload(ctx):
    server = ctx.server("overload", ["--set", "pipeline.ring_slots=16", "--set", "pipeline.commit_interval_ms=5"])
    ledger = Ledger()
    stop = threading.Event()
    posters = [Poster(server.http, "OVH%02d-" % i, ledger, batch=50, per_shipment=150, stop=stop)
               for i in range(12)]
    streamers = [Streamer(server.tcp, "OVT%02d-" % i, ledger, per_shipment=200, stop=stop)
                 for i in range(3)]
    blaster = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    before = metrics(server.http)
    for thread in posters + streamers:
        thread.start()
    deadline = time.monotonic() + 6
    sent_udp = 0
    while time.monotonic() < deadline:
        # UDP on top: these may be dropped, but every drop must be counted.
        for _ in range(30):
            blaster.sendto(dumps(ev("OVU%06d" % sent_udp, 0)).encode(), server.udp)
            sent_udp += 1
        time.sleep(0.005)
    stop.set()
    for thread in posters + streamers:
        thread.join(30)
    for streamer in streamers:
        streamer.finish(15)
    statuses = collections.Counter()
    problems = []
    for poster in posters:
        statuses.update(poster.statuses)
        problems += poster.problems
    T.note("overload: HTTP answers %s, %d events acknowledged, %d UDP datagrams sent" %
           (dict(statuses), ledger.count, sent_udp))
    T.check("overload: every HTTP answer is 202, or 503 with Retry-After",
            not problems and set(statuses) <= {202, 503}, (problems[:3], dict(statuses)))
    T.check("overload: the posters made progress", statuses[202] > 50, dict(statuses))
    T.check("overload: TCP streams saw no protocol violation and no reject",
            all(not s.client.violations and not s.client.rejects and s.error is None for s in streamers),
            [(s.client.violations[:2], len(s.client.rejects), s.error) for s in streamers])
    T.check("overload: every TCP line was acked in the end",
            all(s.client.acked == len(s.events) for s in streamers),
            [(s.client.acked, len(s.events)) for s in streamers])
    for streamer in streamers:
        streamer.close()
    # One more datagram once the server caught up: it brings the socket's
    # count of kernel drops up to date.
    time.sleep(0.3)
    blaster.sendto(dumps(ev("OVU%06d" % sent_udp, 0)).encode(), server.udp)
    sent_udp += 1
    blaster.close()
    time.sleep(0.5)
    after = metrics(server.http)
    T.check("overload: 503s counted", delta(before, after, "milepost_http_overloaded_total") == statuses[503],
            (delta(before, after, "milepost_http_overloaded_total"), statuses[503]))
    udp_got = delta(before, after, "milepost_udp_datagrams_total")
    udp_dropped = delta(before, after, "milepost_udp_dropped_events_total")
    client = RawHTTP(server.http)
    udp_stored = sum(get_shipment(client, "UPS", "OVU%06d" % index).status == 200 for index in range(sent_udp))
    client.close()
    T.note("overload: UDP %d sent, %d received, %d dropped and counted, %d stored"
           % (sent_udp, udp_got, udp_dropped, udp_stored))
    # The dropped count holds the server's drops and the kernel's (full
    # receive buffer), so together with what is stored it accounts for
    # every datagram sent.
    T.check("overload: each UDP datagram sent is stored or counted as dropped (kernel drops too)",
            udp_stored <= udp_got and udp_stored + udp_dropped == sent_udp,
            (sent_udp, udp_got, udp_stored, udp_dropped))
    missing = ledger.check_http(server.http)
    T.check("overload: every acknowledged event is in the store (%d events, %d shipments)" %
            (ledger.count, len(ledger.acked)), not missing, describe_missing(missing))
    code, took = server.stop()
    T.check("overload: SIGTERM exits 0 (%.1f s)" % took, code == 0, server.stderr()[-500:])
    keys = sorted(ledger.acked)
    sample = keys[:: max(1, len(keys) // 8)]
    missing = ledger.check_offline(server.data, sample)
    T.check("overload: `milepost get` after stop finds them too", not missing, describe_missing(missing))


@case
def graceful_shutdown(ctx):
    server = ctx.server("shutdown")
    ledger = Ledger()
    stop = threading.Event()
    posters = [Poster(server.http, "SDH%02d-" % i, ledger, batch=10, per_shipment=100, stop=stop, retry=False)
               for i in range(4)]
    streamers = [Streamer(server.tcp, "SDT%02d-" % i, ledger, per_shipment=150, stop=stop, window=3000)
                 for i in range(2)]
    for thread in posters + streamers:
        thread.start()
    time.sleep(1.5)
    code, took = server.stop(timeout=20)
    T.check("shutdown under load: SIGTERM exits 0 (%.2f s)" % took, code == 0,
            (code, server.stderr()[-800:]))
    T.check("shutdown under load: within a few seconds", took < 5, took)
    stop.set()
    for streamer in streamers:
        streamer.client.wait_closed(5)
        streamer.record()
    for thread in posters + streamers:
        thread.join(15)
    for streamer in streamers:
        streamer.close()
    statuses = collections.Counter()
    problems = []
    for poster in posters:
        statuses.update(poster.statuses)
        problems += poster.problems
    T.note("shutdown: HTTP %s; %d events acknowledged over %d shipments; TCP acked %s of %s lines" %
           (dict(statuses), ledger.count, len(ledger.acked),
            [s.client.acked for s in streamers], [len(s.events) for s in streamers]))
    # Requests written after the server stopped reading find the connection
    # closed; any other outcome (a malformed answer, another status) is a failure.
    allowed = {202, 503, "ConnectionClosed", "ConnectionResetError", "ConnectionRefusedError",
               "BrokenPipeError"}
    T.check("shutdown: HTTP answers were 202 (or 503) with consistent counts, or the connection closed",
            not problems and set(statuses) <= allowed, (problems[:3], dict(statuses)))
    T.check("shutdown: TCP streams saw no violation",
            all(not s.client.violations and not s.client.rejects for s in streamers),
            [s.client.violations[:2] for s in streamers])
    stderr_lines = [l for l in server.stderr().splitlines() if l and not l.startswith("info ")]
    T.check("shutdown: no warnings or errors logged", not stderr_lines, stderr_lines[:5])
    keys = sorted(ledger.acked)
    sample = keys[:: max(1, len(keys) // 6)] + keys[-2:]
    missing = ledger.check_offline(server.data, sample)
    T.check("shutdown: `milepost get` after stop finds acknowledged events (%d shipments)" % len(sample),
            not missing, describe_missing(missing))
    restarted = Server(server.data).start()
    ctx.servers.append(restarted)
    missing = ledger.check_http(restarted.http)
    T.check("shutdown: after restart every acknowledged event is in the store (%d)" % ledger.count,
            not missing, describe_missing(missing))
    # Resending what was acknowledged counts as duplicates across the restart.
    client = RawHTTP(restarted.http)
    resend = [ev(k[1], minute, carrier=k[0]) for k in keys
              for minute in range(3) if event_time(minute) in ledger.acked[k]][:200]
    response = post_events(client, resend)
    T.check("shutdown: %d acknowledged events resent after restart are all duplicates" % len(resend),
            resend and response.status == 202 and response.json()["duplicates"] == len(resend) and
            response.json()["accepted"] == 0, response)
    client.close()
    T.check("shutdown: the restarted server stops cleanly", restarted.stop()[0] == 0)

    # SIGINT does the same as SIGTERM.
    server = ctx.server("sigint")
    client = RawHTTP(server.http)
    post_events(client, ev("SIGINT1", 0))
    client.close()
    server.process.send_signal(signal.SIGINT)
    try:
        code = server.process.wait(10)
    except subprocess.TimeoutExpired:
        code = None
    T.check("SIGINT: exits 0", code == 0, code)
    result = subprocess.run([milepost(), "get", "--data", server.data, "UPS", "SIGINT1"],
                            capture_output=True, text=True, timeout=30)
    T.check("SIGINT: the event is in the store", result.returncode == 0, result.stderr)

    # SIGTERM while a request is half sent: the server still exits, in bounded time.
    server = ctx.server("halfsent")
    client = RawHTTP(server.http)
    client.send("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    idle = NDJSONClient(server.tcp)
    idle.send_raw(b'{"carrier":"UPS"', 0)
    time.sleep(0.2)
    code, took = server.stop(timeout=20)
    T.check("SIGTERM with a half-sent request and a half line: exit 0 in %.2f s" % took,
            code == 0 and took < 12, (code, took))
    client.close()
    idle.close()


# ---------------------------------------------------------------------------
# Cases: command line and config
# ---------------------------------------------------------------------------

@case
def command_line(ctx):
    data = ctx.data_dir("cli")
    result = subprocess.run([milepost(), "serve", "--data", data, "--set", "limits.body_size_max=1k",
                             "--http", "127.0.0.1:9999", "--print-config"],
                            capture_output=True, text=True, timeout=30)
    T.check("--print-config: exit 0", result.returncode == 0, result.stderr)
    text = result.stdout
    T.check("--print-config: YAML with the flags applied",
            re.search(r"^http:\s*\"?127\.0\.0\.1:9999\"?\s*$", text, re.M) is not None and
            re.search(r"^limits:\s*$", text, re.M) is not None and
            re.search(r"^\s+body_size_max:\s*\"?(1k|1024|1K)\"?\s*$", text, re.M) is not None and
            data in text, text[:800])
    T.check("--print-config: does not start a server or create the data directory",
            not os.path.exists(data))
    config = os.path.join(ctx.work, "printed.yaml")
    with open(config, "w") as f:
        f.write(text)
    again = subprocess.run([milepost(), "serve", "--config", config, "--print-config"],
                           capture_output=True, text=True, timeout=30)
    T.check("--print-config output reads back as a config file unchanged",
            again.returncode == 0 and again.stdout == text, (again.stderr, again.stdout[:300]))

    result = subprocess.run([milepost(), "serve", "--data", data, "--set", "limits.no_such_key=5"],
                            capture_output=True, text=True, timeout=30)
    lines = result.stderr.strip().splitlines()
    T.check("unknown --set key: exit 2 with one line naming the key",
            result.returncode == 2 and len(lines) == 1 and "limits.no_such_key" in lines[0],
            (result.returncode, result.stderr))
    result = subprocess.run([milepost(), "serve", "--data", data, "--set", "pipeline.ring_slots=100"],
                            capture_output=True, text=True, timeout=30)
    T.check("out-of-range --set value: exit 2 naming the key",
            result.returncode == 2 and "pipeline.ring_slots" in result.stderr, (result.returncode, result.stderr))

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    result = subprocess.run([milepost(), "serve", "--data", data, "--http", "127.0.0.1:%d" % port,
                             "--tcp", "127.0.0.1:0", "--udp", "127.0.0.1:0"],
                            capture_output=True, text=True, timeout=30)
    holder.close()
    lines = [l for l in result.stderr.strip().splitlines() if not l.startswith("info ")]
    T.check("port in use: exit 1 with a one-line error naming it",
            result.returncode == 1 and len(lines) == 1 and str(port) in lines[0],
            (result.returncode, result.stderr))
    T.check("port in use: no listening line", "listening" not in result.stdout, result.stdout)

    # A port held by another milepost (both would use SO_REUSEPORT) is in use too.
    first = ctx.server("portowner")
    for which in ("http", "tcp", "udp"):
        ports = {"http": "127.0.0.1:0", "tcp": "127.0.0.1:0", "udp": "127.0.0.1:0"}
        ports[which] = "127.0.0.1:%d" % getattr(first, which)[1]
        second = Server(ctx.data_dir("portthief"),
                        ["--http", ports["http"], "--tcp", ports["tcp"], "--udp", ports["udp"]], ports=False)
        ctx.servers.append(second)
        try:
            second.start(timeout=5)
            started = True
        except ServerError:
            started = False
        code = second.process.wait(10) if not started else None
        T.check("%s port held by another milepost server: the second exits 1, not sharing it" % which,
                not started and code == 1, (started, code, second.stderr()[-300:]))
        second.kill9()
    first.stop()

    # The same data directory held by a running server.
    result = subprocess.run([milepost(), "serve", "--data", ctx.main.data, "--http", "127.0.0.1:0",
                             "--tcp", "127.0.0.1:0", "--udp", "127.0.0.1:0"],
                            capture_output=True, text=True, timeout=30)
    T.check("data directory in use: exit 1 saying so", result.returncode == 1 and
            "in use" in result.stderr, (result.returncode, result.stderr))


@case
def config_file(ctx):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    data = ctx.data_dir("config")
    path = os.path.join(ctx.work, "server.yaml")
    with open(path, "w") as f:
        f.write("# milepost test config\n"
                "data: %s\n"
                "http: 127.0.0.1:%d\n"
                "tcp: \"127.0.0.1:0\"\n"
                "udp: 127.0.0.1:0\n"
                "cores: 1\n"
                "limits:\n"
                "  events_per_request_max: 2\n"
                "  body_size_max: 4k\n" % (data + "-ignored", port))
    server = Server(data, ["--config", path, "--data", data], cores=0, ports=False)
    ctx.servers.append(server)
    try:
        server.start()
    except ServerError as error:
        T.check("--config FILE: starts", False, error)
        return
    T.check("--config FILE: sets the HTTP port", server.http == ("127.0.0.1", port), server.listening_line)
    T.check("--config FILE: port 0 in the file is kernel-chosen", server.tcp[1] != 0 and server.udp[1] != 0,
            server.listening_line)
    client = RawHTTP(server.http)
    response = post_events(client, [ev("CFG1", 0), ev("CFG1", 1), ev("CFG1", 2)])
    T.check("--config FILE: limits from the file apply (3 events > 2: 413)", response.status == 413, response)
    response = post_events(client, [ev("CFG1", 0), ev("CFG1", 1)])
    T.check("--config FILE: under the limit: 202", response.status == 202, response)
    client.close()
    T.check("--config FILE: --data flag overrides the file", os.path.isdir(data) and
            not os.path.exists(data + "-ignored"))
    T.check("--config FILE: SIGTERM exits 0", server.stop()[0] == 0)
    # At once again on the same port (its closed connections are in TIME_WAIT).
    again = Server(data, ["--config", path, "--data", data], cores=0, ports=False)
    ctx.servers.append(again)
    try:
        again.start()
        T.check("restart at once on the same fixed port", again.http == ("127.0.0.1", port), again.listening_line)
        T.check("... and stops cleanly", again.stop()[0] == 0)
    except ServerError as error:
        T.check("restart at once on the same fixed port", False, error)

    bad = os.path.join(ctx.work, "bad.yaml")
    with open(bad, "w") as f:
        f.write("limits:\n  body_size_maximum: 4k\n")
    result = subprocess.run([milepost(), "serve", "--config", bad], capture_output=True, text=True, timeout=30)
    T.check("config file with an unknown key: exit 2 naming it",
            result.returncode == 2 and "body_size_maximum" in result.stderr, (result.returncode, result.stderr))


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

SERVER_PROBLEM = re.compile(r"^(error|fatal|assert)|runtime error:|AddressSanitizer|LeakSanitizer|"
                            r"Assertion|Segmentation|Aborted")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", default=[], help="run cases whose name contains this")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    options = parser.parse_args()
    print("# milepost: %s" % milepost(), flush=True)
    work = tempfile.mkdtemp(prefix="mp_it_server.")
    ctx = Context(work)
    # Every case ends by itself; this bounds the whole run if one does not.
    watchdog = threading.Timer(540, lambda: (print("not ok - watchdog: the run took over 540 s", flush=True),
                                             ctx.cleanup(), os._exit(1)))
    watchdog.daemon = True
    watchdog.start()
    started = time.monotonic()
    try:
        for function in CASES:
            if options.only and not any(o in function.__name__ for o in options.only):
                continue
            case_started = time.monotonic()
            try:
                function(ctx)
            except Exception as error:  # a crash of a case is one failure, the rest still run
                T.check("%s: ran to the end" % function.__name__, False,
                        "%s: %s" % (type(error).__name__, traceback.format_exc()[-1200:]))
            T.note("%s: %.1f s" % (function.__name__, time.monotonic() - case_started))
        if ctx._main is not None:
            code, took = ctx._main.stop()
            T.check("main server: SIGTERM exits 0 (%.2f s)" % took, code == 0, ctx._main.stderr()[-800:])
        # Every server's stderr: no error lines, assertions or sanitizer reports
        # (the suite also runs against an ASan/UBSan build: MILEPOST=build-asan/...).
        reports = []
        for server in ctx.servers:
            if server.running():
                server.stop()
            for line in server.stderr().splitlines():
                if SERVER_PROBLEM.search(line):
                    reports.append("%s: %s" % (os.path.basename(server.data), line))
        T.check("no server logged an error, an assertion or a sanitizer report", not reports, reports[:6])
    finally:
        watchdog.cancel()
        ctx.cleanup()
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("# %d passed, %d failed, %.1f s" % (T.passed, T.failed, time.monotonic() - started), flush=True)
    return 1 if T.failed else 0


if __name__ == "__main__":
    sys.exit(main())
