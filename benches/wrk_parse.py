"""Reads wrk --latency output; prints: value p50_ms p99_ms cpu_us_per_req.

value is requests/s for scenarios a, b, d, g, MiB/s for c and for u (one
1 MiB upload per request)."""
import re
import sys

scenario, path, ticks, hz = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
text = open(path).read()


def unit_ms(v, u):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[u]


def pct(p):
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)" % p, text, re.M)
    return "%.3f" % unit_ms(*m.groups()) if m else "-"


m = re.search(r"(\d+) requests in ([\d.]+)(s|m)", text)
requests = int(m.group(1)) if m else 0
rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
rps = float(rps.group(1)) if rps else 0.0
if scenario == "c":
    t = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", text)
    mult = {"B": 1 / 2**20, "KB": 1 / 1024, "MB": 1, "GB": 1024}
    value = float(t.group(1)) * mult[t.group(2)] if t else 0.0
else:
    value = rps
# Errors would look fast: a run with any non-2xx answer counts as nothing.
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if bad:
    print("%s: %s non-2xx answers" % (scenario, bad.group(1)), file=sys.stderr)
    value = 0.0
cpu = "%.2f" % (ticks * 1e6 / hz / requests) if requests and ticks else "-"
print("%.1f %s %s %s" % (value, pct(50), pct(99), cpu))
