#!/usr/bin/env python3
"""Integration: webhook authentication through `milepost serve`.

Starts the real server with a config file that gives every source a secret
(ShipEngine: a JWKS file with an RSA key made here with the openssl CLI),
then, for each source, POSTs a sample from ../shared/samples to
/v1/webhooks/<source> signed by that source's scheme (docs/webhooks.md):
a missing, a bad and (where the scheme has a timestamp) a stale signature
each answer 401 {"error":"bad_signature"} and store nothing (the
shipment's GET answer is unchanged), then a good one answers 202 and the
shipment appears.  Also: EasyPost's published test vector end to end, the
Shippo ?token= option, an unknown source (404), a server without secrets
(unsigned requests are accepted), and /metrics counting the 401s as
milepost_webhook_auth_failures_total{source,result}.

Prints `ok - ...` / `not ok - ...` lines and a summary; exits 1 on any
failure, 77 when the openssl CLI is missing.  Environment: MILEPOST,
MP_SOURCE_ROOT (the samples are MP_SOURCE_ROOT/../shared/samples).
"""
import base64
import datetime
import email.utils
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_server as ts  # noqa: E402  (the harness: Server, RawHTTP, metrics, Report)

T = ts.T
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("MP_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
SAMPLES = os.path.join(ROOT, "..", "shared", "samples")

# EasyPost's published vector (samples/SOURCES.md): the secret as written,
# precomposed; milepost must normalise it to NFKD.
EASYPOST_SECRET = "s\u00e9cret"
EASYPOST_VECTOR = "hmac-sha256-hex=38f3f53c103713df81616a0a186d77141957323ec21d5fe9363db93840f527db"

SECRETS = {
    "easypost": EASYPOST_SECRET,
    "aftership": "aftership-secret",
    "shippo": "shippo-secret",
    "ups": "ups-token",
    "fedex": "fedex-security-token",
    "dhl": "dhl-static-token",
    "17track": "17track-key",
}
KID = "milepost-test-key"

# Per source: a sample and where its tracking number is.
SAMPLE = {
    "easypost": ("easypost/event_body_fixture.json", ["result", "tracking_code"]),
    "aftership": ("aftership/tracking_update_in_transit_v2025-01.json", ["msg", "tracking_number"]),
    "shippo": ("shippo/track_updated_transit.json", ["data", "tracking_number"]),
    "shipengine": ("shipengine/api_track_in_transit.json", ["data", "tracking_number"]),
    "ups": ("ups/track_alert_delivered.json", ["trackingNumber"]),
    "fedex": ("fedex/track_response_delivered.json",
              ["output", "completeTrackResults", 0, "trackingNumber"]),
    "dhl": ("dhl/shipments_express_delivered.json", ["shipments", 0, "id"]),
    "17track": ("17track/tracking_updated_delivered.json", ["data", "number"]),
}


def sample(source):
    path, where = SAMPLE[source]
    with open(os.path.join(SAMPLES, path), "rb") as f:
        body = f.read()
    value = json.loads(body)
    for key in where:
        value = value[key]
    return body, str(value)


# ---------------------------------------------------------------------------
# Signers: each source's scheme, written from FORMATS.md, independently of milepost
# ---------------------------------------------------------------------------

def hmac_sha256(key, message):
    return hmac.new(key, message, hashlib.sha256).digest()


class RSAKey:
    """A key pair made with the openssl CLI (Python's standard library has no RSA)."""

    def __init__(self, work):
        self.pem = os.path.join(work, "shipengine-key.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                        "-out", self.pem], check=True, capture_output=True)
        text = subprocess.run(["openssl", "rsa", "-in", self.pem, "-noout", "-modulus"], check=True,
                              capture_output=True, text=True).stdout.strip()
        modulus = bytes.fromhex(text.split("=", 1)[1])
        self.n = base64.urlsafe_b64encode(modulus).rstrip(b"=").decode()

    def jwks(self, kid):
        return {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": self.n, "e": "AQAB"}]}

    def sign(self, message):
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.pem], input=message,
                                   check=True, capture_output=True).stdout
        return base64.b64encode(signature).decode()


def iso_now(offset_s=0):
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_s)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def sign(source, body, secret, rsa=None, offset_s=0, path="/v1/webhooks/easypost", v2=False):
    """Headers that authenticate body as `source` with `secret`, timestamped now + offset_s."""
    key = secret.encode() if secret is not None else b""
    if source == "easypost":
        key = unicodedata.normalize("NFKD", secret).encode()
        if offset_s == 0 and not v2:
            return {"X-Hmac-Signature": "hmac-sha256-hex=" + hmac_sha256(key, body).hex()}
        stamp = email.utils.formatdate(time.time() + offset_s, usegmt=False)
        signed = stamp.encode() + b"POST" + path.encode() + body
        return {"X-Timestamp": stamp, "X-Path": path,
                "X-Hmac-Signature-V2": "hmac-sha256-hex=" + hmac_sha256(key, signed).hex()}
    if source == "aftership":
        return {"aftership-hmac-sha256": base64.b64encode(hmac_sha256(key, body)).decode()}
    if source == "shippo":
        t = str(int(time.time()) + offset_s)
        return {"Shippo-Auth-Signature": "t=%s,v1=%s" % (t, hmac_sha256(key, t.encode() + b"." + body).hex())}
    if source == "shipengine":
        stamp = iso_now(offset_s)
        return {"x-shipengine-rsa-sha256-key-id": KID,
                "x-shipengine-rsa-sha256-signature": rsa.sign(stamp.encode() + b"." + body),
                "x-shipengine-timestamp": stamp}
    if source == "ups":
        return {"Authorization": "Bearer " + secret}
    if source == "fedex":
        return {"fdx-signature": base64.b64encode(hmac_sha256(key, body)).decode()}
    if source == "dhl":
        return {"X-DHL-Token": secret}
    if source == "17track":
        return {"sign": hashlib.sha256(body + b"/" + key).hexdigest()}
    raise ValueError(source)


TIMESTAMPED = {"easypost", "shippo", "shipengine"}


def wrong_secret(source):
    return SECRETS.get(source, "x") + "-wrong"


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

def post(address, source, body, headers, query=""):
    client = ts.RawHTTP(address)
    try:
        return client.request("POST", "/v1/webhooks/%s%s" % (source, query), body, headers,
                              content_type="application/json")
    finally:
        client.close()


def shipments(address, number):
    client = ts.RawHTTP(address)
    try:
        response = client.request("GET", "/v1/shipments?tracking_number=" + ts.quote(number))
    finally:
        client.close()
    if response.status != 200:
        return ("status", response.status)
    return response.json().get("shipments")


def error_code(response):
    try:
        return response.json().get("error")
    except ValueError:
        return None


LABELS = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def failures(values, source, result):
    """milepost_webhook_auth_failures_total{source,result}, whatever the label order."""
    total = 0
    for key, value in values.items():
        name, _, labels = key.partition("{")
        if name != "milepost_webhook_auth_failures_total":
            continue
        found = dict(LABELS.findall(labels))
        if found.get("source") == source and found.get("result") == result:
            total += value
    return total


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------

def write_config(path, data, jwks_path):
    with open(path, "w", encoding="utf-8") as f:
        f.write("data: %s\n" % data)
        f.write("sources:\n")
        f.write("  easypost: {secret: \"%s\"}\n" % EASYPOST_SECRET)
        f.write("  aftership: {secret: \"%s\"}\n" % SECRETS["aftership"])
        f.write("  shippo: {secret: \"%s\", tolerance_s: 300}\n" % SECRETS["shippo"])
        f.write("  shipengine: {jwks_file: \"%s\"}\n" % jwks_path)
        f.write("  ups: {secret: \"%s\", header_name: Authorization}\n" % SECRETS["ups"])
        f.write("  fedex: {secret: \"%s\"}\n" % SECRETS["fedex"])
        f.write("  dhl: {secret: \"%s\", header_name: X-DHL-Token}\n" % SECRETS["dhl"])
        f.write("  17track: {secret: \"%s\"}\n" % SECRETS["17track"])


def check_source(server, source, rsa):
    body, number = sample(source)
    secret = SECRETS.get(source)
    before = shipments(server.http, number)
    attempts = [("missing", {}, "missing")]
    if source == "shipengine":
        attempts.append(("bad", sign(source, body, None, rsa=BadRSA(rsa)), "bad"))
    else:
        attempts.append(("bad", sign(source, body, wrong_secret(source)), "bad"))
    # A body changed after signing is as bad as a wrong key.
    if source not in ("ups", "dhl"):
        tampered = body.replace(b"{", b"{ ", 1)
        attempts.append(("tampered", (tampered, sign(source, body, secret, rsa=rsa)), "bad"))
    if source in TIMESTAMPED:
        attempts.append(("stale", sign(source, body, secret, rsa=rsa, offset_s=-600), "stale"))
        attempts.append(("future", sign(source, body, secret, rsa=rsa, offset_s=600), "stale"))
    for name, headers, _ in attempts:
        sent = body
        if isinstance(headers, tuple):
            sent, headers = headers
        response = post(server.http, source, sent, headers)
        T.check("%s: %s signature: 401 bad_signature" % (source, name),
                response.status == 401 and error_code(response) == "bad_signature", response)
    after = shipments(server.http, number)
    T.check("%s: nothing stored after the 401s (%s)" % (source, number), after == before,
            "before %r after %r" % (before, after))

    headers = sign(source, body, secret, rsa=rsa) if source != "easypost" else {"X-Hmac-Signature": EASYPOST_VECTOR}
    response = post(server.http, source, body, headers)
    T.check("%s: good signature: 202" % source, response.status == 202, response)
    found = shipments(server.http, number)
    T.check("%s: the good delivery is stored (%s)" % (source, number),
            isinstance(found, list) and len(found) >= 1 and found != before, found)
    return [result for _, _, result in attempts]


class BadRSA:
    """Signs with a different key of its own under the configured kid."""

    _key = None

    def __init__(self, real):
        if BadRSA._key is None:
            BadRSA._key = RSAKey(tempfile.mkdtemp(prefix="mp_it_badkey."))
        self.key = BadRSA._key

    def sign(self, message):
        return self.key.sign(message)


def check_adapter_metrics(server):
    """Unmapped codes are counted by (source, code), never rejected; newer facts are taken."""
    path = os.path.join(SAMPLES, "ups", "track_alert_out_for_delivery.json")
    with open(path, "rb") as f:
        alert = json.loads(f.read())
    before = ts.metrics(server.http)
    alert["trackingNumber"] = "1ZUNMAPPED0000001"
    alert["activityStatus"]["descriptionCode"] = "998"   # not a documented code: type I decides
    response = post(server.http, "ups", json.dumps(alert).encode(), {})
    T.check("ups: an undocumented code is taken (202, 1 accepted)",
            response.status == 202 and json.loads(response.body)["accepted"] == 1, response)
    after = ts.metrics(server.http)
    series = 'milepost_adapter_unmapped_codes_total{source="ups",code="998"}'
    T.check("/metrics: the undocumented code counted under its own label",
            after.get(series, 0) - before.get(series, 0) == 1, sorted(k for k in after if "unmapped" in k))
    # An aggregator's resend: every checkpoint a duplicate, but the payload is newer
    # (AfterShip's ts) and carries a later estimate, which the shipment must take.
    with open(os.path.join(SAMPLES, "aftership", "tracking_update_in_transit_v2025-01.json"), "rb") as f:
        payload = json.loads(f.read())
    payload["msg"]["tracking_number"] = "ASFACTS000001"
    first = post(server.http, "aftership", json.dumps(payload).encode(), {})
    accepted = json.loads(first.body).get("accepted", 0) if first.status == 202 else 0
    facts_before = ts.metrics(server.http).get("milepost_shard_facts_taken_total", 0)
    estimate = payload["msg"]["latest_estimated_delivery"]
    estimate["datetime"] = "2025-02-20T00:00:00-08:00"
    payload["ts"] += 3600
    response = post(server.http, "aftership", json.dumps(payload).encode(), {})
    answer = json.loads(response.body) if response.status == 202 else {}
    T.check("aftership resend: every checkpoint a duplicate, none accepted",
            accepted > 0 and answer.get("accepted") == 0 and answer.get("duplicates") == accepted,
            (first, response))
    state = shipments(server.http, "ASFACTS000001")
    T.check("aftership resend: the newer payload's estimate is the shipment's (2025-02-20)",
            len(state) == 1 and state[0].get("estimated_delivery") == "2025-02-20", state)
    T.check("/metrics: milepost_shard_facts_taken_total moved",
            ts.metrics(server.http).get("milepost_shard_facts_taken_total", 0) > facts_before)
    # An older payload arriving late changes nothing.
    estimate["datetime"] = "2025-02-11T00:00:00-08:00"
    payload["ts"] -= 7200
    post(server.http, "aftership", json.dumps(payload).encode(), {})
    state = shipments(server.http, "ASFACTS000001")
    T.check("aftership: an older payload's estimate does not replace a newer one",
            len(state) == 1 and state[0].get("estimated_delivery") == "2025-02-20", state)


def main():
    if not shutil.which("openssl"):
        print("# skip: the openssl CLI is needed to make the ShipEngine key")
        return 77
    print("# milepost: %s" % ts.milepost(), flush=True)
    work = tempfile.mkdtemp(prefix="mp_it_webhooks.")
    servers = []
    watchdog = threading.Timer(300, lambda: (print("not ok - watchdog: over 300 s", flush=True),
                                             [s.cleanup() for s in servers], os._exit(1)))
    watchdog.daemon = True
    watchdog.start()
    started = time.monotonic()
    try:
        rsa = RSAKey(work)
        jwks_path = os.path.join(work, "shipengine-jwks.json")
        with open(jwks_path, "w") as f:
            json.dump(rsa.jwks(KID), f)
        config = os.path.join(work, "milepost.yaml")
        data = os.path.join(work, "data")
        write_config(config, data, jwks_path)
        server = ts.Server(data, ["--config", config])
        servers.append(server)
        server.start()

        before = ts.metrics(server.http)
        expected = {}
        for source in SAMPLE:
            try:
                for result in check_source(server, source, rsa):
                    expected[(source, result)] = expected.get((source, result), 0) + 1
            except Exception:
                T.check("%s: ran to the end" % source, False, traceback.format_exc()[-1200:])

        # Shippo's URL option: the secret as ?token= (no header).
        body, _ = sample("shippo")
        response = post(server.http, "shippo", body, {}, "?token=" + ts.quote(SECRETS["shippo"]))
        T.check("shippo: ?token=<secret> without a header: 202", response.status == 202, response)
        response = post(server.http, "shippo", body, {}, "?token=nope")
        T.check("shippo: a wrong ?token=: 401", response.status == 401, response)
        expected[("shippo", "bad")] = expected.get(("shippo", "bad"), 0) + 1
        # EasyPost v2 (timestamped), signed now: accepted.
        body, _ = sample("easypost")
        response = post(server.http, "easypost", body, sign("easypost", body, EASYPOST_SECRET, v2=True))
        T.check("easypost: good v2 signature (x-timestamp, x-path): 202", response.status == 202, response)
        # EasyPost: the composed secret's digest is not the NFKD one.
        body, _ = sample("easypost")
        headers = {"X-Hmac-Signature": "hmac-sha256-hex=" + hmac_sha256(EASYPOST_SECRET.encode(), body).hex()}
        response = post(server.http, "easypost", body, headers)
        T.check("easypost: a digest keyed without NFKD: 401", response.status == 401, response)
        expected[("easypost", "bad")] = expected.get(("easypost", "bad"), 0) + 1

        response = post(server.http, "usps", b"{}", {})
        T.check("unknown source: 404", response.status == 404, response)

        after = ts.metrics(server.http)
        for (source, result), count in sorted(expected.items()):
            got = failures(after, source, result) - failures(before, source, result)
            T.check("/metrics: milepost_webhook_auth_failures_total{source=%s,result=%s} +%d"
                    % (source, result, count), got == count, "got +%s" % got)
        code, _ = server.stop()
        T.check("server with secrets: SIGTERM exits 0", code == 0, server.stderr()[-800:])

        # No secrets at all: every source takes unsigned requests.
        open_data = os.path.join(work, "data-open")
        open_server = ts.Server(open_data)
        servers.append(open_server)
        open_server.start()
        for source in ("fedex", "easypost"):
            body, number = sample(source)
            response = post(open_server.http, source, body, {})
            T.check("%s without a secret: unsigned request: 202" % source, response.status == 202, response)
        check_adapter_metrics(open_server)
        response = post(open_server.http, "dhl", b'{"hello":1}', {})
        T.check("dhl: JSON that is no DHL payload: 400 not_source_shape",
                response.status == 400 and error_code(response) == "not_source_shape", response)
        code, _ = open_server.stop()
        T.check("server without secrets: SIGTERM exits 0", code == 0, open_server.stderr()[-800:])
        listed = subprocess.run([ts.milepost(), "rejects", "list", "--data", open_data],
                                capture_output=True, text=True, timeout=60)
        rejects = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
        T.check("rejects list: the refused webhook body is kept with its source and error",
                any(r.get("source") == "dhl" and r.get("error") == "not_an_event" and
                    r.get("raw") == '{"hello":1}' for r in rejects), rejects[-3:])
        # The first server saw only signature failures beyond good requests: none is kept.
        listed = subprocess.run([ts.milepost(), "rejects", "list", "--data", data],
                                capture_output=True, text=True, timeout=60)
        T.check("rejects list: requests refused for their signature left no reject",
                listed.returncode == 0 and not any(
                    json.loads(line).get("error") == "bad_signature"
                    for line in listed.stdout.splitlines() if line.strip()), listed.stdout[-400:])

        reports = [line for s in servers for line in s.stderr().splitlines()
                   if ts.SERVER_PROBLEM.search(line)]
        T.check("no server logged an error, an assertion or a sanitizer report", not reports, reports[:6])
    except Exception:
        T.check("ran to the end", False, traceback.format_exc()[-1500:])
    finally:
        watchdog.cancel()
        for server in servers:
            server.cleanup()
        shutil.rmtree(work, ignore_errors=True)
        if BadRSA._key is not None:
            shutil.rmtree(os.path.dirname(BadRSA._key.pem), ignore_errors=True)
    print("# %d passed, %d failed, %.1f s" % (T.passed, T.failed, time.monotonic() - started), flush=True)
    return 1 if T.failed else 0


if __name__ == "__main__":
    sys.exit(main())
