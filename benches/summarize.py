"""Medians over rounds, and ratios to nginx with the same worker count in
the same round (median of the per-round ratios)."""
import statistics
import sys
from collections import defaultdict

rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
data = defaultdict(dict)  # (scenario, proxy) -> round -> row
for r in rows:
    data[(r[1], r[2])][r[0]] = r

def variant(p):
    """"gw-", "log-", "rr-" or "" for a proxy's name."""
    for v in ("gw", "log", "rr"):
        if "-%s-" % v in p:
            return v + "-"
    return ""

def num(x):
    try:
        return float(x)
    except ValueError:
        return None

def median_ratio(s, p, other, i):
    """Median over rounds of column i of proxy p over proxy other, both
    in scenario s and the same round; "-" when there is none."""
    rs = []
    for rnd, r in data.get((s, p), {}).items():
        a = data.get((s, other), {}).get(rnd)
        if a and num(r[i]) and num(a[i]):
            rs.append(num(r[i]) / num(a[i]))
    return "%.2f×" % statistics.median(rs) if rs else "-"

names = {"a": "(a) 64 conns, req/s", "b": "(b) 256 conns, req/s", "c": "(c) 1 MiB, MiB/s",
         "d": "(d) new conn per request, req/s", "e": "(e) bytes RSS per idle conn",
         "g": "(g) gateway request (auth, CORS, request id, rate limit), req/s",
         "u": "(u) 1 MiB uploads, MiB/s"}
for s in sorted({k[0] for k in data}):
    print(f"\n### {names.get(s, s)}\n")
    print("| proxy | median | vs nginx (same workers, same round) | p50 ms | p99 ms | p99 vs nginx | CPU µs/req | CPU vs nginx |")
    print("|---|---|---|---|---|---|---|---|")
    for p in sorted({k[1] for k in data if k[0] == s}, key=lambda p: (p.split("-")[-1], p)):
        rounds = data[(s, p)]
        med = lambda i: statistics.median([v for v in (num(r[i]) for r in rounds.values()) if v is not None] or [0])
        # A variant (gateway config, logs on, two servers) is compared
        # with nginx's same variant.
        anchor = "nginx-" + variant(p) + p.split("-")[-1] if p != "direct" else None
        def ratio(i):
            if not anchor or (s, anchor) not in data:
                return "-"
            return median_ratio(s, p, anchor, i)
        print(f"| {p} | {med(3):.1f} | {ratio(3)} | {med(4):.3f} | {med(5):.3f} | {ratio(5)} | {med(6):.2f} | {ratio(6)} |")
    # The floor (a relay with weir-mio's system calls and no HTTP): each
    # proxy's CPU per request and req/s against floor-N's, same round.
    floors = {k[1] for k in data if k[0] == s and k[1].startswith("floor-")}
    if floors:
        print("\n| proxy | CPU µs/req vs floor (same workers) | req/s vs floor |")
        print("|---|---|---|")
        for p in sorted({k[1] for k in data if k[0] == s and k[1] != "direct"}, key=lambda p: (p.split("-")[-1], p)):
            floor = "floor-" + p.split("-")[-1]
            if (s, floor) not in data or p == floor:
                continue
            against = lambda i: median_ratio(s, p, floor, i)
            print(f"| {p} | {against(6)} | {against(3)} |")
    # A variant's cost: each *-gw-N, *-log-N, *-rr-N against the same
    # proxy plain.
    for p in sorted({k[1] for k in data if k[0] == s and variant(k[1])}):
        plain = p.replace("-" + variant(p), "-")
        if (s, plain) not in data:
            continue
        over = lambda i: median_ratio(s, p, plain, i)
        print(f"\n{p} against {plain} (same round, median): req/s {over(3)}, p99 {over(5)}, CPU µs/req {over(6)}")
