#!/usr/bin/env python3
"""Integration: every carrier and aggregator sample through the real binary.

For each file in ../shared/samples/<source>/ (every source folder):

* `milepost parse --source S FILE` must print exactly the lines of
  tests/expected/<source>/<name>.ndjson, compared line by line as JSON
  values (key order free, numbers compared as numbers, true is not 1).
  A sample without an expected file fails.  The first mismatching line is
  shown with the paths that differ.
* `milepost ingest --source S FILE` into a fresh data directory, twice: the
  first run's counts add up to what parse printed, the second run is all
  duplicates (nothing accepted, no facts taken, nothing new in the outbox),
  `milepost get` finds every shipment the sample names, and a payload's
  facts (estimated delivery, shipment reference) newer than every checkpoint
  of their shipment show in its state.

Also checks the CLI edges: an unknown source is exit 2 with one line that
lists the sources, a payload that is not the source's shape is exit 1 for
parse and one bad_json reject for ingest, and an unmapped status code is
named on stderr by parse and noted by ingest, never rejected.

Prints `ok - ...` / `not ok - ...` lines and a summary; exits 1 on any
failure.  Environment: MILEPOST (set by meson), MP_SOURCE_ROOT.
`--only TEXT` runs the samples whose path contains TEXT.
"""
import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("MP_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
SAMPLES = os.path.join(ROOT, "..", "shared", "samples")
EXPECTED = os.path.join(ROOT, "tests", "expected")
TIMEOUT_S = 120

failures = 0
passes = 0


def check(description, condition, detail=None):
    global failures, passes
    if condition:
        passes += 1
        print("ok - " + description)
    else:
        failures += 1
        print("not ok - " + description)
        if detail:
            for line in detail.rstrip("\n").split("\n"):
                print("#   " + line)
    return condition


def run(arguments, stdin=None):
    return subprocess.run(arguments, input=stdin, capture_output=True, timeout=TIMEOUT_S)


# ---- comparing JSON values ------------------------------------------------

def kind(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def differences(expected, actual, path="$"):
    """Paths at which two JSON values differ, with both sides."""
    if kind(expected) != kind(actual):
        return [(path, expected, actual)]
    if isinstance(expected, dict):
        found = []
        for key in sorted(set(expected) | set(actual)):
            where = path + "." + key
            if key not in actual:
                found.append((where, expected[key], "<missing>"))
            elif key not in expected:
                found.append((where, "<absent>", actual[key]))
            else:
                found.extend(differences(expected[key], actual[key], where))
        return found
    if isinstance(expected, list):
        if len(expected) != len(actual):
            return [(path, expected, actual)]
        found = []
        for index, (left, right) in enumerate(zip(expected, actual)):
            found.extend(differences(left, right, "%s[%d]" % (path, index)))
        return found
    if kind(expected) == "number":
        return [] if float(expected) == float(actual) else [(path, expected, actual)]
    return [] if expected == actual else [(path, expected, actual)]


def parse_lines(text, what):
    """JSON values of the non-empty lines; raises ValueError naming the line."""
    values = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            values.append(json.loads(line))
        except ValueError as error:
            raise ValueError("%s line %d is not JSON (%s): %s" % (what, number, error, line[:200]))
    return values


def explain_mismatch(expected, actual):
    """A readable account of the first line where expected and actual differ."""
    for index in range(max(len(expected), len(actual))):
        if index >= len(actual):
            return "line %d: expected but not printed:\n  %s" % (
                index + 1, json.dumps(expected[index], sort_keys=True))
        if index >= len(expected):
            return "line %d: printed but not expected:\n  %s" % (
                index + 1, json.dumps(actual[index], sort_keys=True))
        found = differences(expected[index], actual[index])
        if found:
            lines = ["line %d differs (%d expected lines, %d printed):" % (
                index + 1, len(expected), len(actual))]
            for path, left, right in found:
                lines.append("  %s: expected %s, got %s" % (
                    path, json.dumps(left, sort_keys=True), json.dumps(right, sort_keys=True)))
            lines.append("  expected: " + json.dumps(expected[index], sort_keys=True))
            lines.append("  printed:  " + json.dumps(actual[index], sort_keys=True))
            return "\n".join(lines)
    return None


# ---- the samples ------------------------------------------------------------

def samples(only):
    found = []
    for source in sorted(os.listdir(SAMPLES)):
        folder = os.path.join(SAMPLES, source)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if os.path.isfile(path) and (not only or only in path):
                found.append((source, name, path))
    return found


def check_parse(source, name, path):
    """Compares parse output with the expected file; returns the printed values."""
    label = "%s/%s" % (source, name)
    result = run([MILEPOST, "parse", "--source", source, path])
    check("parse %s exits 0" % label, result.returncode == 0,
          "exit %d, stderr: %s" % (result.returncode, result.stderr.decode(errors="replace")))
    try:
        actual = parse_lines(result.stdout.decode(), "printed")
    except ValueError as error:
        check("parse %s prints JSON lines" % label, False, str(error))
        return None
    stem = os.path.splitext(name)[0]
    expected_path = os.path.join(EXPECTED, source, stem + ".ndjson")
    if not os.path.isfile(expected_path):
        check("parse %s has an expected file" % label, False,
              "missing %s (write it from FORMATS.md; tests/expected/README.md)" % expected_path)
        return actual
    try:
        with open(expected_path, encoding="utf-8") as file:
            expected = parse_lines(file.read(), expected_path)
    except ValueError as error:
        check("expected file for %s is JSON lines" % label, False, str(error))
        return actual
    mismatch = explain_mismatch(expected, actual)
    check("parse %s matches %s" % (label, os.path.relpath(expected_path, ROOT)),
          mismatch is None, mismatch)
    return actual


def instant(text):
    """An API.md UTC time (`...Z`, `.mmm` optional) as a datetime."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def ingest(data, source, path):
    result = run([MILEPOST, "ingest", "--data", data, "--no-progress", "--cores", "2",
                  "--durability", "async", "--source", source, path])
    if result.returncode != 0:
        return None, "exit %d: %s" % (result.returncode, result.stderr.decode(errors="replace"))
    try:
        return json.loads(result.stdout.decode().strip().split("\n")[-1]), None
    except ValueError:
        return None, "summary is not JSON: %r" % result.stdout


def check_ingest(source, name, path, printed, data):
    label = "%s/%s" % (source, name)
    events = [line for line in printed if "reject" not in line]
    checkpoints = [event for event in events if not event["flags"]["facts"]]
    facts = [event for event in events if event["flags"]["facts"]]
    rejects = [line for line in printed if "reject" in line]

    first, error = ingest(data, source, path)
    if not check("ingest %s exits 0 with a summary" % label, first is not None, error):
        return
    detail = json.dumps(first)
    check("ingest %s reads each checkpoint and reject once" % label,
          first["read"] == len(checkpoints) + len(rejects), detail)
    check("ingest %s counts add up" % label,
          first["accepted"] + first["duplicates"] + first["rejected"] == first["read"], detail)
    check("ingest %s rejects what parse rejects" % label,
          first["rejected"] == len(rejects), detail)
    check("ingest %s reads the payload's facts" % label, first["facts"] == len(facts), detail)

    second, error = ingest(data, source, path)
    if not check("ingest %s again exits 0" % label, second is not None, error):
        return
    detail = json.dumps(second)
    check("ingest %s again: nothing accepted" % label, second["accepted"] == 0, detail)
    check("ingest %s again: every checkpoint a duplicate" % label,
          second["duplicates"] == first["accepted"] + first["duplicates"], detail)
    check("ingest %s again: the same facts change nothing" % label,
          second["facts_taken"] == 0, detail)
    check("ingest %s again: nothing new for the ERP" % label, second["outbox"] == 0, detail)

    shipments = sorted({(event["carrier"], event["tracking_number"]) for event in checkpoints})
    for carrier, number in shipments:
        result = run([MILEPOST, "get", "--data", data, carrier, number])
        state = None
        if result.returncode == 0:
            try:
                state = json.loads(result.stdout)
            except ValueError:
                pass
        check("get %s %s after %s" % (carrier, number, label),
              state is not None and source in state.get("sources", []),
              "exit %d, %s %s" % (result.returncode, result.stdout[:300],
                                  result.stderr.decode(errors="replace")))
        if state is None:
            continue
        own = [event for event in checkpoints
               if (event["carrier"], event["tracking_number"]) == (carrier, number)]
        latest = max(instant(event["event_time"]) for event in own)
        for fact in facts:
            if (fact["carrier"], fact["tracking_number"]) != (carrier, number):
                continue
            if instant(fact["event_time"]) <= latest:
                continue  # a checkpoint of the same time or later may set them
            for field in ("estimated_delivery", "shipment_ref"):
                if fact[field] is not None:
                    check("%s of %s's payload facts is in %s %s's state" % (
                              field, label, carrier, number),
                          state[field] == fact[field],
                          "state %s, facts %s" % (state[field], fact[field]))


def check_cli_edges(work):
    result = run([MILEPOST, "ingest", "--data", os.path.join(work, "edges"), "--source", "ebay",
                  "-"], stdin=b"{}")
    message = result.stderr.decode(errors="replace")
    check("ingest --source ebay is bad usage (exit 2)", result.returncode == 2,
          "exit %d" % result.returncode)
    check("the unknown-source error is one line listing the sources",
          message.count("\n") == 1 and all(name in message for name in (
              "canonical", "easypost", "aftership", "shippo", "shipengine", "ups", "fedex",
              "dhl", "17track")), message)
    result = run([MILEPOST, "parse", "--source", "ebay", "-"], stdin=b"{}")
    check("parse --source ebay is bad usage (exit 2)", result.returncode == 2,
          "exit %d" % result.returncode)

    not_shape = b'{"hello":"world"}'
    for source in ("easypost", "ups", "17track"):
        result = run([MILEPOST, "parse", "--source", source, "-"], stdin=not_shape)
        check("parse of a payload that is not %s's shape exits 1" % source,
              result.returncode == 1 and result.stdout == b""
              and result.stderr.decode().count("\n") == 1,
              "exit %d, stdout %r, stderr %r" % (result.returncode, result.stdout, result.stderr))
    result = run([MILEPOST, "parse", "--source", "easypost", "-"], stdin=b'{"description":')
    check("parse of malformed JSON exits 1", result.returncode == 1, "exit %d" % result.returncode)

    # An unknown status code: mapped, never rejected, and named on stderr.
    with open(os.path.join(SAMPLES, "easypost", "event_body_fixture.json"), "rb") as file:
        payload = json.loads(file.read())
    payload["result"]["tracking_details"][1]["status"] = "mp_unheard_of"
    body = json.dumps(payload).encode()
    result = run([MILEPOST, "parse", "--source", "easypost", "-"], stdin=body)
    check("parse names an unmapped status code on stderr and still prints the events",
          result.returncode == 0 and b"mp_unheard_of" in result.stderr
          and result.stdout.count(b"\n") > 0,
          "exit %d, stderr %r" % (result.returncode, result.stderr))
    result = run([MILEPOST, "ingest", "--data", os.path.join(work, "unmapped"), "--no-progress",
                  "--source", "easypost", "-"], stdin=body)
    check("ingest says it met unmapped codes, and takes the payload",
          result.returncode == 0 and b"not in the easypost table" in result.stderr
          and json.loads(result.stdout)["accepted"] > 0,
          "exit %d, %r %r" % (result.returncode, result.stdout, result.stderr))

    data = os.path.join(work, "edges")
    result = run([MILEPOST, "ingest", "--data", data, "--no-progress", "--source", "shippo", "-"],
                 stdin=not_shape)
    summary = None
    try:
        summary = json.loads(result.stdout)
    except ValueError:
        pass
    check("ingest of a payload that is not the source's shape: exit 0, one bad_json reject",
          result.returncode == 0 and summary is not None and summary["rejected"] == 1
          and summary["rejected_by_error"] == {"bad_json": 1} and summary["accepted"] == 0,
          "exit %d, %r %r" % (result.returncode, result.stdout, result.stderr))


def main():
    global MILEPOST
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="")
    options = parser.parse_args()
    MILEPOST = os.environ.get("MILEPOST") or sys.exit("test_adapters: set MILEPOST")
    if not os.path.isdir(SAMPLES):
        # The samples are part of the project's shared tree; without them
        # there is nothing this test could check.
        print("test_adapters: no samples at %s" % SAMPLES)
        return 1
    work = tempfile.mkdtemp(prefix="mp_it_adapters.")
    try:
        found = samples(options.only)
        check("there are samples to check", len(found) > 0, SAMPLES)
        for source, name, path in found:
            printed = check_parse(source, name, path)
            if printed is not None:
                data = os.path.join(work, "%s_%s" % (source, os.path.splitext(name)[0]))
                check_ingest(source, name, path, printed, data)
        if not options.only:
            check_cli_edges(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("# %d passed, %d failed" % (passes, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
