#!/usr/bin/env bash
# Integration: milepost-bench's report.html opened in headless Chromium.
#
# Four pages: the reports of a real smoke run (milepost-bench --profile
# smoke --report) and of a short real capacity sweep, and the sample run and
# capacity reports test_mp_report writes from filled results (with a
# baseline, and a sweep whose knee is known).  For each, Chromium's DOM (--dump-dom) must hold the
# expected number of SVG charts, each with drawn series (a path with line
# segments, or bars), the knee marker where a sweep is shown, the verdict
# sentence, and no script but the JSON data block; and a screenshot must
# show more pixels of the series' colours than one of the same page with
# the plotted series removed (the SVG really rendered, beyond legends).
# Exit 77 only when chromium is not installed.
set -uo pipefail
: "${MILEPOST_BENCH:?set by meson}" "${TEST_MP_REPORT:?set by meson}"
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
  echo "SKIP: chromium is not installed (scripts/setup installs it)"
  exit 77
fi
work=$(mktemp -d /tmp/mp_it_report.XXXXXX)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
export TMPDIR="$work"
failures=0
check() { if "${@:2}"; then echo "ok - $1"; else echo "not ok - $1"; failures=$((failures + 1)); fi; }

# Chromium as root needs --no-sandbox; its own profile directory keeps runs apart.
browse() {
  timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --no-first-run \
    --user-data-dir="$work/chromium-profile" "$@" 2>>"$work/chromium.log"
}

"$MILEPOST_BENCH" --profile smoke --no-progress --report "$work/smoke" 2>"$work/smoke.err"
status=$?
check "the smoke run with --report exits 0" test $status -eq 0
[ $status -eq 0 ] || cat "$work/smoke.err"
check "the smoke run wrote report.html" test -s "$work/smoke/report.html"
# A real sweep, short: two steady rates and a generous limit, so the lower holds.
"$MILEPOST_BENCH" capacity --target-eps 5000 --p99-ms 10000 --rates 500,1000 --run-seconds 2 \
  --min-achieved 0.5 --refine 0 --profile smoke --report "$work/capacity" >"$work/capacity.out" 2>"$work/capacity.err"
status=$?
check "a two-rate capacity sweep exits 0" test $status -eq 0
[ $status -eq 0 ] || cat "$work/capacity.err"
check "capacity prints the verdict with the projection" \
  grep -q '^holds [0-9,]* events/s at p99 under 10000 ms on 1 core; knee at 1,000 events/s offered; 5,000 events/s needs [0-9]* cores' "$work/capacity.out"
check "capacity states its assumptions" grep -q '^assumptions: .*linearly per core' "$work/capacity.out"
mkdir -p "$work/sample"
check "test_mp_report writes the sample pages" "$TEST_MP_REPORT" --write "$work/sample"

# checks PAGE DOM SVG_COUNT KNEE(0|1) BASELINE(0|1)
dom_checks() {
  python3 - "$@" <<'EOF'
import re, sys
from html.parser import HTMLParser
page, dom_path, svg_count, knee, baseline = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5] == "1"
dom = open(dom_path, encoding="utf-8").read()

class Charts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.svgs = []        # per svg: counts of drawn things
        self.in_svg = False
        self.scripts = []
        self.verdict = None
        self.in_verdict = False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg":
            self.in_svg = True
            self.svgs.append({"lines": 0, "points": 0, "bars": 0, "knee": 0})
        elif self.in_svg and tag == "path" and a.get("class") == "series":
            if re.search(r"M[\d.]+ [\d.]+ L[\d.]+ [\d.]+", a.get("d", "")):
                self.svgs[-1]["lines"] += 1
        elif self.in_svg and tag == "circle":
            cls = a.get("class")
            if cls == "point":
                self.svgs[-1]["points"] += 1
            elif cls == "knee":
                self.svgs[-1]["knee"] += 1
        elif self.in_svg and tag == "rect" and a.get("class") == "bar":
            if float(a.get("width", "0")) > 0:
                self.svgs[-1]["bars"] += 1
        elif tag == "script":
            self.scripts.append(a.get("type"))
        elif tag == "p" and a.get("id") == "verdict":
            self.in_verdict = True
            self.verdict = ""
    def handle_endtag(self, tag):
        if tag == "svg":
            self.in_svg = False
        elif tag == "p":
            self.in_verdict = False
    def handle_data(self, data):
        if self.in_verdict:
            self.verdict += data

charts = Charts()
charts.feed(dom)
failures = 0
def check(name, condition):
    global failures
    print(("ok - " if condition else "not ok - ") + page + ": " + name)
    failures += 0 if condition else 1

check(f"{svg_count} svg charts in the DOM (got {len(charts.svgs)})", len(charts.svgs) == svg_count)
check("every chart drew something (a line, points or bars)",
      all(s["lines"] + s["points"] + s["bars"] > 0 for s in charts.svgs) and len(charts.svgs) > 0)
check("the time charts drew lines or points", sum(1 for s in charts.svgs if s["lines"] + s["points"] > 0) >= 2)
check("knee marker " + ("present" if knee else "absent"), sum(s["knee"] for s in charts.svgs) == (1 if knee else 0))
check("baseline bars " + ("present" if baseline else "absent"),
      sum(s["bars"] for s in charts.svgs) == (2 if baseline else 0))
check("verdict sentence present: " + repr(charts.verdict),
      charts.verdict is not None and re.search(
          r"holds [\d,]+ events/s at p99 under [\d.]+ ms on \d+ cores?; knee (at [\d,]+ events/s offered|not measured)",
          charts.verdict) is not None)
check("no executable script (only the JSON data block)", charts.scripts == ["application/json"])
check("nothing loaded from the network", re.search(r"""(src|href)=["']?(https?:)?//""", dom) is None)
sys.exit(1 if failures else 0)
EOF
}

# Counts pixels of each colour (within a tolerance) in a screenshot: a small PNG decoder.
pixels_of() {
  python3 - "$@" <<'EOF'
import struct, sys, zlib
path = sys.argv[1]
colours = [tuple(int(text[i:i + 2], 16) for i in (0, 2, 4)) for text in sys.argv[2:]]
data = open(path, "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
at, idat, width = 8, b"", 0
while at < len(data):
    length, kind = struct.unpack(">I4s", data[at:at + 8])
    body = data[at + 8:at + 8 + length]
    if kind == b"IHDR":
        width, height, depth, colour_type = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and colour_type in (2, 6), "unexpected PNG format"
        channels = 3 if colour_type == 2 else 4
    elif kind == b"IDAT":
        idat += body
    at += 12 + length
raw = zlib.decompress(idat)
stride = width * channels
previous = bytearray(stride)
counts = [0] * len(colours)
for row in range(height):
    start = row * (stride + 1)
    kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
    for i in range(stride):
        left = line[i - channels] if i >= channels else 0
        up = previous[i]
        corner = previous[i - channels] if i >= channels else 0
        if kind == 1: line[i] = (line[i] + left) & 255
        elif kind == 2: line[i] = (line[i] + up) & 255
        elif kind == 3: line[i] = (line[i] + (left + up) // 2) & 255
        elif kind == 4:
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
    for i in range(0, stride, channels):
        for index, colour in enumerate(colours):
            if all(abs(line[i + c] - colour[c]) <= 24 for c in range(3)):
                counts[index] += 1
    previous = line
print(" ".join(str(count) for count in counts))
EOF
}

# page file svg_count knee baseline
pages=(
  "smoke $work/smoke/report.html 2 0 0"
  "capacity $work/capacity/report.html 3 1 0"
  "sample-run $work/sample/run.html 3 0 1"
  "sample-capacity $work/sample/capacity.html 4 1 1"
)
for entry in "${pages[@]}"; do
  read -r name file svg_count knee baseline <<<"$entry"
  [ -s "$file" ] || { check "$name: page exists" false; continue; }
  browse --dump-dom "file://$file" >"$work/$name.dom"
  check "$name: chromium dumped the DOM" test -s "$work/$name.dom"
  if dom_checks "$name" "$work/$name.dom" "$svg_count" "$knee" "$baseline"; then :; else failures=$((failures + 1)); fi
  browse --screenshot="$work/$name.png" --window-size=1000,3000 "file://$file" >/dev/null
  check "$name: chromium took a screenshot of the page" test -s "$work/$name.png"
  # The page's charts alone, stacked (small screenshots decode fast), and the
  # same charts with the plotted series taken out: what legends and axes draw.
  python3 - "$file" "$work/$name.charts.html" "$work/$name.bare.html" <<'EOF'
import re, sys
html = open(sys.argv[1], encoding="utf-8").read()
style = re.search(r"<style>.*?</style>", html, flags=re.S).group(0)
charts = "".join(re.findall(r"<svg .*?</svg>", html, flags=re.S))
page = "<!DOCTYPE html><html><head>" + style + "</head><body style='margin:0'>" + charts + "</body></html>"
open(sys.argv[2], "w", encoding="utf-8").write(page)
page = re.sub(r'<path class="series"[^>]*/>', "", page)
page = re.sub(r'<circle class="point".*?</circle>', "", page, flags=re.S)
page = re.sub(r'<rect class="bar"[^>]*/>', "", page)
open(sys.argv[3], "w", encoding="utf-8").write(page)
EOF
  height=$((svg_count * 340 + 20))
  browse --screenshot="$work/$name.charts.png" --window-size=800,$height "file://$work/$name.charts.html" >/dev/null
  browse --screenshot="$work/$name.bare.png" --window-size=800,$height "file://$work/$name.bare.html" >/dev/null
  check "$name: chromium took the chart screenshots" test -s "$work/$name.charts.png" -a -s "$work/$name.bare.png"
  if [ -s "$work/$name.charts.png" ] && [ -s "$work/$name.bare.png" ]; then
    # Achieved throughput is #1f77b4 (blue), p99 latency #ff7f0e (orange).
    read -r drawn_blue drawn_orange < <(pixels_of "$work/$name.charts.png" 1f77b4 ff7f0e)
    read -r bare_blue bare_orange < <(pixels_of "$work/$name.bare.png" 1f77b4 ff7f0e)
    check "$name: the blue series rendered ($drawn_blue pixels with them, $bare_blue without)" \
      test "${drawn_blue:-0}" -ge $((${bare_blue:-0} + 20))
    check "$name: the orange series rendered ($drawn_orange pixels with them, $bare_orange without)" \
      test "${drawn_orange:-0}" -ge $((${bare_orange:-0} + 20))
  fi
done

# The pixel counter sees no series colour on a blank page (it can say no).
echo '<!DOCTYPE html><html><body><p>nothing</p></body></html>' >"$work/blank.html"
browse --screenshot="$work/blank.png" --window-size=1000,600 "file://$work/blank.html" >/dev/null
check "a blank page shows no series colour" test "$(pixels_of "$work/blank.png" 1f77b4)" -eq 0

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed; chromium said:"
  tail -n 20 "$work/chromium.log"
  exit 1
fi
echo "all report rendering checks passed"
