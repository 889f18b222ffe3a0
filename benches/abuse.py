#!/usr/bin/env python3
"""Abuse figures of the hardening issue, rerunnable: slow peers beside
normal traffic, on this machine, for both binaries (release builds).

    benches/abuse.py slowloris [--conns 4000] [--binaries weir-mio,weir-smol]
    benches/abuse.py slowreader [--mib 20] [--rate 1] [--readers 1]
    benches/abuse.py idleflood [--conns 20000]

`--binaries` takes names in target/release, paths (an older build), and
`nginx` (nginx as the proxy, the control).

slowloris: wrk -c32 alone for 8 s (req/s, p99, RSS), then N connections
that each send a request line and one more header line a second (spread
over the second; closed by `client_header` = 10 s, reopened at once), and 4 s in, wrk again for
8 s; RSS of the gateway sampled every 100 ms (peak and end).

(`WEIR_LORIS_BURST=N`: the lines go out in bursts of N, 100 by default.)

slowreader: READERS clients (default 1), each with a 64 KiB receive
buffer, read a large body at RATE MiB/s through the gateway; the
gateway's anonymous RSS sampled every 100 ms, peak minus what it was
before the reads.

idleflood: CONNS connections that never send a byte, opened by four
helper processes (this machine allows 20 000 descriptors per process),
against the default `max_connections` (10 000); 1 s after the last is
open, five fresh connections send a GET one after the other: the
slowest connect and answer times, and the gateway's anonymous RSS
growth (peak, and with the flood still held) over what it was after a
warm-up.

The origin is nginx on 127.0.0.1:18080 (one worker, sendfile), the
gateway listens on 127.0.0.1:18081 with `workers = 2` and `--quiet`.
Prints one Markdown table row per binary.
"""

import argparse
import os
import re
import resource
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORIGIN = 18080
PROXY = 18081


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_nginx(d, workers, http, port):
    """Starts nginx in directory `d` with `http` as its http block's
    body and waits until `port` answers."""
    os.makedirs(os.path.join(d, "logs"), exist_ok=True)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes {workers};
daemon off;
pid {d}/nginx.pid;
error_log {d}/logs/error.log crit;
events {{ worker_connections 20000; }}
http {{
  access_log off;
  keepalive_requests 1000000;
{http}}}
""")
    subprocess.run(["chmod", "-R", "a+rX", d], check=True)
    p = subprocess.Popen(["nginx", "-p", d, "-c", conf])
    wait_port(port)
    return p


def start_origin(work, body_mib):
    www = os.path.join(work, "www")
    os.makedirs(www)
    with open(os.path.join(www, "big.bin"), "wb") as f:
        f.write(os.urandom(1 << 20) * body_mib)
    return run_nginx(work, 1, f"""  sendfile on;
  server {{
    listen 127.0.0.1:{ORIGIN} backlog=4096;
    root {www};
    location = / {{ return 200 "hello world\\n"; }}
    location /files/ {{ alias {www}/; }}
  }}
""", ORIGIN)


def wait_port(port):
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def start_nginx(work):
    """nginx as the proxy under test (the control: what the same abuse
    does to an anchor on this machine), tuned as in load.sh."""
    return run_nginx(os.path.join(work, "proxy-nginx"), 2, f"""  client_header_timeout 10s;
  proxy_buffers 16 16k;
  proxy_max_temp_file_size 0;
  upstream origin {{ server 127.0.0.1:{ORIGIN}; keepalive 256; }}
  server {{
    listen 127.0.0.1:{PROXY} backlog=4096;
    location / {{
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
""", PROXY)


def start_weir(work, binary):
    if binary == "nginx":
        return start_nginx(work)
    conf = os.path.join(work, "weir.toml")
    with open(conf, "w") as f:
        f.write(f"""listen = "127.0.0.1:{PROXY}"
workers = 2
{os.environ.get("WEIR_EXTRA", "")}

[[upstream]]
name = "origin"
servers = [{{ addr = "127.0.0.1:{ORIGIN}" }}]
""")
    # A path (an older build, for a before/after figure) or a name in target/release.
    exe = binary if os.sep in binary else os.path.join(ROOT, "target", "release", binary)
    wrap = os.environ.get("WEIR_WRAP", "").split()  # e.g. valgrind --tool=massif
    # WEIR_STDERR=FILE keeps what the proxy says (a probe's output, say).
    err = open(os.environ["WEIR_STDERR"], "w") if os.environ.get("WEIR_STDERR") else subprocess.DEVNULL
    p = subprocess.Popen(wrap + [exe, "--config", conf, "--quiet"], stderr=err)
    wait_port(PROXY)
    return p


def rss_kib(pid):
    """Anonymous RSS (heap, stacks) of `pid` and its children (nginx's
    workers): code pages touched for the first time would count in
    VmRSS and are not what a peer makes us hold."""
    total = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    total += int(line.split()[1])
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            total += sum(rss_kib(int(c)) for c in f.read().split())
    except OSError:
        pass
    return total


class Sampler:
    """Samples a process's RSS every 100 ms; `peak` since the last reset."""

    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, 0, False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.1)

    def reset(self):
        self.peak = rss_kib(self.pid)


def wrk(seconds, path="/"):
    out = subprocess.run(
        ["wrk", "-t1", "-c32", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{PROXY}{path}"],
        capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    return rps, p99


def open_silent():
    """A non-blocking connection to the gateway, connect under way."""
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", PROXY))
    except BlockingIOError:
        pass
    return s


class Slowloris(threading.Thread):
    """N connections, each a request line then a header line a second."""

    def __init__(self, n):
        super().__init__(daemon=True)
        self.n, self.stop = n, False

    def open(self):
        return [open_silent(), False]

    def run(self):
        conns = [self.open() for _ in range(self.n)]
        while not self.stop:
            t0 = time.monotonic()
            for i, c in enumerate(conns):
                # Spread over the second, 40 batches: a burst of 4 000
                # sends would measure the client's own CPU contention.
                if i % int(os.environ.get("WEIR_LORIS_BURST", "100")) == 0:
                    time.sleep(max(0.0, t0 + i / len(conns) - time.monotonic()))
                line = b"X-Slow: 1\r\n" if c[1] else b"GET / HTTP/1.1\r\nHost: slow\r\n"
                try:
                    c[0].send(line)
                    c[1] = True
                except OSError:
                    c[0].close()
                    c[:] = self.open()
            time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
        for c in conns:
            c[0].close()


def slowloris(binary, work, n):
    weir = start_weir(work, binary)
    try:
        wrk(3)  # warm-up
        sampler = Sampler(weir.pid)
        rps0, p990 = wrk(8)
        rss0 = rss_kib(weir.pid)
        sampler.reset()
        loris = Slowloris(n)
        loris.start()
        time.sleep(4)
        rss4 = rss_kib(weir.pid)
        rps1, p991 = wrk(8)
        rss12 = rss_kib(weir.pid)
        loris.stop = True
        loris.join()
        sampler.stop = True
        return (f"| {binary} | {rps0:.0f} → {rps1:.0f} (×{rps1 / rps0:.2f}) "
                f"| {p990:.2f} → {p991:.2f} ms (×{p991 / p990:.2f}) "
                f"| {rss0 / 1024:.1f} → {rss4 / 1024:.1f} → {rss12 / 1024:.1f} MiB, "
                f"peak +{(sampler.peak - rss0) / 1024:.1f} MiB |")
    finally:
        weir.terminate()
        weir.wait()


def read_slowly(mib, rate, done):
    """One client with a 64 KiB receive buffer reading the big body at
    `rate` MiB/s; appends (bytes, seconds) to `done`."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.connect(("127.0.0.1", PROXY))
    s.sendall(b"GET /files/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    total, t0, step = 0, time.monotonic(), 64 * 1024
    while True:
        chunk = s.recv(step)
        if not chunk:
            break
        if total == 0 and not chunk.startswith(b"HTTP/1.1 200"):
            sys.exit(f"{chunk[:40]!r}")
        total += len(chunk)
        ahead = total / (rate * (1 << 20)) - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
    s.close()
    done.append((total, time.monotonic() - t0))


def slowreader(binary, work, mib, rate, readers, warm):
    weir = start_weir(work, binary)
    try:
        wrk(2)  # warm-up with small answers only
        if warm:
            # One big body at full speed first: the code that streams a
            # body is paged in and the read buffer is at its largest, so
            # the growth is what slow readers hold.
            read_slowly(mib, 1e6, [])
        time.sleep(0.5)
        before = rss_kib(weir.pid)
        sampler = Sampler(weir.pid)
        sampler.reset()
        done = []
        threads = [threading.Thread(target=read_slowly, args=(mib, rate, done))
                   for _ in range(readers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sampler.stop = True
        total = sum(b for b, _ in done)
        took = max(t for _, t in done)
        growth = sampler.peak - before
        return (f"| {binary} | {readers} × {total / readers / (1 << 20):.1f} MiB in {took:.1f} s "
                f"| {before} KiB | +{growth} KiB (+{growth / readers:.0f} KiB per reader) |")
    finally:
        weir.terminate()
        weir.wait()


def hold(n, ready_fd):
    """Helper process of idleflood: opens `n` silent connections, says so
    on `ready_fd`, then holds them until killed."""
    raise_fd_limit()
    conns = []
    for _ in range(n):
        conns.append(open_silent())
        if len(conns) % 500 == 0:
            time.sleep(0.01)  # let the backlog drain: a flood, not SYN drops
    os.write(ready_fd, b"x")
    while True:
        time.sleep(60)


def timed_get():
    """Connect and answer times (ms) of one fresh GET."""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", PROXY), timeout=30)
    t1 = time.monotonic()
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    got = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        got += b
    s.close()
    if not got.startswith(b"HTTP/1.1 200"):
        sys.exit(f"the GET during the flood got {got[:40]!r}")
    return (t1 - t0) * 1000, (time.monotonic() - t1) * 1000


def idleflood(binary, work, n):
    weir = start_weir(work, binary)
    helpers = []
    try:
        wrk(2)  # warm-up
        time.sleep(0.5)
        before = rss_kib(weir.pid)
        sampler = Sampler(weir.pid)
        sampler.reset()
        r, w = os.pipe()
        for i in range(4):
            k = n // 4 + (1 if i < n % 4 else 0)
            helpers.append(subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "_hold", "--conns", str(k),
                 "--fd", str(w)], pass_fds=(w,)))
        for _ in helpers:
            os.read(r, 1)
        time.sleep(1)
        times = []
        for _ in range(5):
            times.append(timed_get())
            time.sleep(0.2)
        held = rss_kib(weir.pid)
        sampler.stop = True
        connect = max(c for c, _ in times)
        answer = max(a for _, a in times)
        return (f"| {binary} | {n} | {connect:.1f} ms, {answer:.1f} ms "
                f"| {before} KiB | +{(sampler.peak - before) / 1024:.1f} MiB peak, "
                f"+{(held - before) / 1024:.1f} MiB held |")
    finally:
        for h in helpers:
            h.kill()
            h.wait()
        weir.terminate()
        weir.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=["slowloris", "slowreader", "idleflood", "_hold"])
    ap.add_argument("--conns", type=int, default=None)
    ap.add_argument("--fd", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--mib", type=int, default=20)
    ap.add_argument("--rate", type=float, default=1.0)
    ap.add_argument("--readers", type=int, default=1)
    ap.add_argument("--binaries", default="weir-mio,weir-smol")
    ap.add_argument("--warm", action="store_true",
                    help="slowreader: read one big body at full speed before measuring")
    a = ap.parse_args()
    if a.scenario == "_hold":
        hold(a.conns, a.fd)
        return
    if a.conns is None:
        a.conns = 20000 if a.scenario == "idleflood" else 4000
    raise_fd_limit()
    if not os.environ.get("WEIR_NO_BUILD"):
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "weir-mio", "-p", "weir-smol"],
                       cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory(prefix="weir-abuse.") as work:
        os.chmod(work, 0o755)  # nginx's workers run as nobody
        origin = start_origin(os.path.join(work, "origin"), a.mib)
        try:
            head = {
                "slowloris": "| binary | req/s alone → beside | p99 alone → beside | RSS before → 4 s → 12 s |",
                "idleflood": "| binary | silent connections | slowest of 5 GETs: connect, answer | RSS before | RSS growth |",
                "slowreader": "| binary | read | RSS before | RSS growth (peak) |",
            }[a.scenario]
            print(head)
            print("|---" * (head.count("|") - 1) + "|")
            for b in a.binaries.split(","):
                if a.scenario == "slowloris":
                    row = slowloris(b, work, a.conns)
                elif a.scenario == "idleflood":
                    row = idleflood(b, work, a.conns)
                else:
                    row = slowreader(b, work, a.mib, a.rate, a.readers, a.warm)
                print(row, flush=True)
        finally:
            origin.terminate()
            origin.wait()


if __name__ == "__main__":
    main()
