"""An ERP HTTP endpoint for the tests and the benchmark (not a test itself).

`ErpPeer` listens on 127.0.0.1 (kernel-chosen port), takes POSTs of one
confirmation (Idempotency-Key header) or a JSON array of them, and records
every confirmation it received: (monotonic time, key, exact body bytes,
the status it answered, whether it came in a batch).  A confirmation is
recorded when its body has been read, before the answer, so a request the
sender gave up on (timeout) still counts as received: that is what an ERP
would have seen.  When `stop()` drops the connection before the answer is
written, the record's status becomes "dropped": the sender never saw it.

Behaviour switches (any thread): `mode` ("ok", "error" answers 500,
"hang" sleeps `hang_s` before answering 200, "429" answers 429 with
Retry-After), `poison` (keys answered 400 with a JSON reason), `stop()` /
`start()` (the port is closed in between, so connections are refused),
`hmac_secret` (then the X-Milepost-Signature header is checked and a bad
one recorded in `bad_signatures`).
"""
import hashlib
import hmac
import http.server
import json
import socket
import socketserver
import threading
import time


class Received:
    __slots__ = ("at", "key", "body", "status", "batched", "header_key", "request")

    def __init__(self, at, key, body, status, batched, header_key, request):
        self.request = request
        self.at = at
        self.key = key
        self.body = body
        self.status = status
        self.batched = batched
        self.header_key = header_key


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        with self.server.peer.lock:
            self.server.peer.connections.add(self.connection)

    def finish(self):
        with self.server.peer.lock:
            self.server.peer.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def do_POST(self):  # noqa: N802
        peer = self.server.peer
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        now = time.monotonic()
        header_key = self.headers.get("Idempotency-Key")
        if peer.hmac_secret is not None:
            expected = "sha256=" + hmac.new(peer.hmac_secret.encode(), body, hashlib.sha256).hexdigest()
            if self.headers.get("X-Milepost-Signature") != expected:
                with peer.lock:
                    peer.bad_signatures += 1
        if peer.auth_header is not None:
            name, _, value = peer.auth_header.partition(":")
            if self.headers.get(name.strip()) != value.strip():
                with peer.lock:
                    peer.bad_auth += 1
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            # Re-serialize nothing: cut the array's elements out as raw bytes.
            elements = _split_array(body)
            batched = True
        else:
            elements = [body]
            batched = False
        keys = []
        documents = []
        for element in elements:
            try:
                documents.append(json.loads(element))
                keys.append(documents[-1].get("idempotency_key"))
            except (ValueError, AttributeError):
                keys.append(None)
        with peer.lock:
            mode = peer.mode
            poisoned = any(k in peer.poison for k in keys) or (
                peer.poison_match is not None and any(peer.poison_match(d) for d in documents))
        if poisoned:
            status, answer, extra = 400, json.dumps({"error": "unknown_customer", "message": "customer account is closed",
                                                     "keys": keys}).encode(), {}
        elif mode == "error":
            status, answer, extra = 500, b'{"error":"internal"}', {}
        elif mode == "429":
            status, answer, extra = 429, b'{"error":"slow down"}', {"Retry-After": str(peer.retry_after_s)}
        elif mode == "hang":
            status, answer, extra = 200, b'{"ok":true}', {}
        else:
            status, answer, extra = 200, b'{"ok":true}', {}
        # A hang is answered after the sender gave up: what it saw is a timeout.
        recorded = "hang" if mode == "hang" and not poisoned else status
        records = []
        with peer.lock:
            peer.requests += 1
            for key, element in zip(keys, elements):
                records.append(Received(now, key, bytes(element), recorded, batched, header_key, peer.requests))
            peer.received.extend(records)
        if mode == "hang" and not poisoned:
            time.sleep(peer.hang_s)
        elif peer.delay_s:
            time.sleep(peer.delay_s)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer)
        except OSError:
            # The connection is gone before the answer went out.  After a hang
            # that is the sender giving up (recorded as such); otherwise stop()
            # dropped it: the sender saw a reset, not this status, and is right
            # to send again.
            if recorded != "hang":
                with peer.lock:
                    for record in records:
                        record.status = "dropped"


def _split_array(body):
    """The raw bytes of each element of a JSON array of objects (no nesting tricks needed: strings are skipped)."""
    elements = []
    depth = 0
    start = None
    in_string = False
    escape = False
    for index, byte in enumerate(body):
        c = chr(byte)
        if in_string:
            if escape:
                escape = False
            elif c == "\\":
                escape = True
            elif c == '"':
                in_string = False
            continue
        if c == '"':
            in_string = True
        elif c in "{[":
            depth += 1
            if depth == 2 and c == "{":
                start = index
        elif c in "}]":
            if depth == 2 and c == "}":
                elements.append(body[start:index + 1])
            depth -= 1
    return elements


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The default backlog of 5 drops the SYNs of a burst of parallel connects (1 s retransmit).
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # A sender killed mid-request resets its connection: expected here, not worth a traceback.
        pass
    block_on_close = False


class ErpPeer:
    def __init__(self, port=0):
        self.lock = threading.Lock()
        self.received = []
        self.requests = 0
        self.mode = "ok"
        self.poison = set()
        self.connections = set()           # open keep-alive connections, closed by stop()
        self.poison_match = None           # or a function of the parsed confirmation
        self.hang_s = 3.0
        self.delay_s = 0.0                 # every answer waits this long (keeps deliveries in flight)
        self.retry_after_s = 1
        self.hmac_secret = None
        self.auth_header = None
        self.bad_signatures = 0
        self.bad_auth = 0
        self.port = port
        self._server = None
        self._thread = None

    @property
    def url(self):
        return "http://127.0.0.1:%d/erp" % self.port

    def start(self):
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.peer = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Closes the listening socket (new connections are refused) and drops open ones."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        with self.lock:
            connections = list(self.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def snapshot(self):
        with self.lock:
            return list(self.received)

    def set(self, **values):
        with self.lock:
            for name, value in values.items():
                setattr(self, name, value)


def wait_for(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
