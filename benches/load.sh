#!/usr/bin/env bash
# The load harness: weir-mio and weir-smol against nginx and HAProxy, in
# front of the same fast origin, on this machine, interleaved round by round.
#
#   benches/load.sh                 # everything: 3 rounds, 5 s per run
#   ROUNDS=3 DURATION=10 benches/load.sh
#   SCENARIOS="a c" PROXIES="nginx-2 weir-mio-2" benches/load.sh
#
# The anchors are tuned as their own docs tell operators to: the origin
# serves files with sendfile; nginx proxies with in-memory buffers
# (proxy_buffers 16 16k, proxy_max_temp_file_size 0: a 1 MiB response never
# spills to a temp file); HAProxy reuses server connections (http-reuse
# always); access logs are off everywhere and weir runs with --quiet,
# except in the -log- variants.
#
# Scenarios: (a) 12-byte response, 64 keep-alive connections, with p50/p99;
# (b) the same with 256 connections; (c) 1 MiB bodies, 16 connections;
# (d) a new connection per request, 64 connections; (e) RSS per idle
# keep-alive client connection, 5 000 held open; (u) 1 MiB uploads
# (POST, Content-Length), 16 connections, MiB/s, the origin reading and
# dropping each body (nginx streams them on: proxy_request_buffering off,
# as its docs advise for a proxy that should not buffer uploads; HAProxy
# and weir stream by default); (g) the gateway request:
# 64 keep-alive connections, GET /svc19/item with Basic credentials and an
# Origin. Proxies named *-gw-N run the gateway config (20 routes; a request
# id, CORS, apr1 basic auth from one htpasswd file made by Apache's
# htpasswd, and a rate limit that admits everything, on every route; nginx:
# auth_basic, limit_req, add_header, $request_id), compared with nginx-gw-N;
# the plain proxies answer (g) too, which gives the gateway's overhead:
#   SCENARIOS=g PROXIES="nginx-2 weir-mio-2 nginx-gw-2 weir-mio-gw-2" benches/load.sh
# Variants, named <proxy>-<variant>-<workers>, compared with nginx's same
# variant in the summary and with the same proxy's plain run:
#   -log-  the access log on, to a file: nginx `access_log ... buffer=64k`,
#          HAProxy `option httplog` to stdout redirected to a file, weir's
#          `[log] path` without --quiet; answers (a), (c), (d);
#   -rr-   two origin servers (ports 18080 and 18082 of the same origin),
#          round robin; answers (a) and (c);
#   -gw-   the gateway config above; answers (g).
#   floor-N the floor (frontend-mio/examples/floor.rs): a relay that makes
#          weir-mio's system calls per keep-alive request and nothing else
#          (no HTTP); answers (a) and (b); the summary gives every proxy's
#          CPU per request as a ratio to floor-N's;
# weir-mio-copy-N runs weir-mio with WEIR_SPLICE=off (long bodies go
# through the core instead of splice(2)).
# weir-mio-base-N and weir-smol-base-N run $WEIR_BASE_DIR/weir-mio or
# weir-smol (an older build) beside the current one, for a before/after figure from one interleaved run.
# Each run also records the
# proxy's CPU time per request (utime+stime of its processes / requests).
# Results: medians over the rounds, and ratios to nginx with the same
# worker count measured in the same round; written to benches/results/.
# Installs nginx, haproxy and wrk with apt-get when missing; every process
# it starts is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
SCENARIOS=${SCENARIOS:-"a b c d e g u"}
PROXIES=${PROXIES:-"direct floor-1 nginx-1 haproxy-1 weir-mio-1 weir-smol-1 floor-2 nginx-2 haproxy-2 weir-mio-2 weir-mio-shared-2 weir-smol-2 nginx-log-1 haproxy-log-1 weir-mio-log-1 weir-smol-log-1 nginx-log-2 haproxy-log-2 weir-mio-log-2 weir-smol-log-2 nginx-rr-2 haproxy-rr-2 weir-mio-rr-2 weir-smol-rr-2 nginx-gw-2 weir-mio-gw-2 weir-smol-gw-2"}
ORIGIN_PORT=18080
ORIGIN_PORT2=18082
PROXY_PORT=18081
work=$(mktemp -d /tmp/weir-load.XXXXXX)
pids=()

need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v wrk >/dev/null || need+=(wrk)
command -v htpasswd >/dev/null || need+=(apache2-utils)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release -q -p weir-mio -p weir-smol
cargo build --release -q -p weir-mio --example floor

# ---- the origin: nginx, one worker, keep-alive, no access log ----
mkdir -p "$work/origin/www" "$work/origin/logs"
head -c 1048576 /dev/urandom > "$work/origin/www/1m.bin"
printf 'wrk.method = "POST"\nwrk.body = string.rep("x", 1048576)\n' > "$work/upload.lua"
chmod -R a+rX "$work"   # nginx workers run as nobody when started as root
cat > "$work/origin/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/origin/nginx.pid;
error_log $work/origin/logs/error.log crit;
events { worker_connections 20000; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$ORIGIN_PORT backlog=4096;
    listen 127.0.0.1:$ORIGIN_PORT2 backlog=4096;
    root $work/origin/www;
    location = / { return 200 "hello world\n"; }
    location /files/ { alias $work/origin/www/; }
    location /svc { return 200 "hello world\n"; }
    location = /sink { client_max_body_size 16m; return 200 "ok\n"; }
  }
}
CONF
"$NGINX" -p "$work/origin" -c "$work/origin/nginx.conf" & pids+=($!)
sleep 0.5

# ---- the gateway config's shared pieces ----
htpasswd -cbm "$work/users.htpasswd" bench s3cret 2>/dev/null
chmod a+r "$work/users.htpasswd"
GW_AUTH="Authorization: Basic $(printf bench:s3cret | base64)"
GW_ORIGIN="Origin: https://app.example.com"
nginx_gw_locations() {
  for i in $(seq 0 19); do
    echo "    location /svc$i/ { proxy_pass http://origin; }"
  done
}
weir_gw_routes() {
  for i in $(seq 0 19); do
    printf '[[route]]\nname = "svc%s"\npath_prefix = "/svc%s/"\nupstream = "origin"\nmiddleware = ["rid", "web", "users", "limit"]\n' "$i" "$i"
  done
}

# The part of every nginx proxy config that is the same: workers, the
# access log (off, or buffered to a file), in-memory proxy buffers,
# keep-alive both ways, the origin upstream (two servers for -rr-). The
# caller adds the rest of the http block.
nginx_prelude() {
  local dir=$1 workers=$2 log=$3 rr=$4
  local access="access_log off;" second=""
  [ -n "$log" ] && access="access_log $dir/logs/access.log combined buffer=64k;"
  [ -n "$rr" ] && second="server 127.0.0.1:$ORIGIN_PORT2;"
  cat <<CONF
worker_processes $workers;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log crit;
events { worker_connections 20000; }
http {
  $access
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  proxy_buffers 16 16k;
  proxy_max_temp_file_size 0;
  client_max_body_size 16m;
  proxy_request_buffering off;
  upstream origin { server 127.0.0.1:$ORIGIN_PORT; $second keepalive 256; keepalive_requests 1000000; }
CONF
}

# ---- starting one proxy; sets $proxy_pids and $target ----
start_proxy() {
  local name=$1 workers=${1##*-} log="" rr=""
  local dir="$work/$name"; mkdir -p "$dir/logs"
  case "$name" in *-log-*) log=1 ;; esac
  case "$name" in *-rr-*) rr=1 ;; esac
  proxy_pids=()
  case "$name" in
    direct) target=$ORIGIN_PORT; proxy_pids=(); return ;;
    floor-*)
      target/release/examples/floor "127.0.0.1:$PROXY_PORT" "127.0.0.1:$ORIGIN_PORT" "$workers" & proxy_pids=($!) ;;
    nginx-[0-9]*|nginx-log-*|nginx-rr-*)
      { nginx_prelude "$dir" "$workers" "$log" "$rr"; cat; } > "$dir/nginx.conf" <<CONF
  server {
    listen 127.0.0.1:$PROXY_PORT backlog=4096;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_buffering on;
    }
  }
}
CONF
      "$NGINX" -p "$dir" -c "$dir/nginx.conf" & proxy_pids=($!) ;;
    nginx-gw-*)
      { nginx_prelude "$dir" "$workers" "" ""; cat; } > "$dir/nginx.conf" <<CONF
  limit_req_zone \$binary_remote_addr zone=all:10m rate=1000000r/s;
  map \$http_origin \$cors_origin { "https://app.example.com" \$http_origin; default ""; }
  server {
    listen 127.0.0.1:$PROXY_PORT backlog=4096;
    auth_basic "weir";
    auth_basic_user_file $work/users.htpasswd;
    limit_req zone=all burst=1000000 nodelay;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    proxy_set_header X-Request-Id \$request_id;
    proxy_buffering on;
    add_header X-Request-Id \$request_id always;
    add_header Access-Control-Allow-Origin \$cors_origin always;
    add_header Access-Control-Expose-Headers X-Request-Id always;
    add_header Vary Origin always;
$(nginx_gw_locations)
  }
}
CONF
      "$NGINX" -p "$dir" -c "$dir/nginx.conf" & proxy_pids=($!) ;;
    haproxy-*)
      local hlog="" hsecond=""
      [ -n "$log" ] && hlog="log stdout format raw local0"
      [ -n "$rr" ] && hsecond="server o2 127.0.0.1:$ORIGIN_PORT2"
      cat > "$dir/haproxy.cfg" <<CONF
global
  nbthread $workers
  maxconn 9000
  $hlog
defaults
  mode http
  log global
  option httplog
  timeout connect 2s
  timeout client 300s
  timeout server 300s
  option http-keep-alive
  option forwardfor
  http-reuse always
frontend f
  bind 127.0.0.1:$PROXY_PORT
  default_backend b
backend b
  balance roundrobin
  server o 127.0.0.1:$ORIGIN_PORT
  $hsecond
CONF
      "$HAPROXY" -f "$dir/haproxy.cfg" -db >"$dir/logs/access.log" 2>"$dir/logs/haproxy.log" & proxy_pids=($!) ;;
    weir-mio-*|weir-smol-*)
      local bin=${name%-*} env=() gw="" dir_bin=target/release quiet=(--quiet)
      bin=${bin%-log}; bin=${bin%-rr}
      if [ "$bin" = weir-mio-shared ]; then bin=weir-mio; env=(WEIR_ACCEPT=shared); fi
      # weir-mio-copy-N: every body byte through the core (no splice).
      if [ "$bin" = weir-mio-copy ]; then bin=weir-mio; env=(WEIR_SPLICE=off); fi
      if [ "${bin%-gw}" != "$bin" ]; then bin=${bin%-gw}; gw=1; fi
      local servers="{ addr = \"127.0.0.1:$ORIGIN_PORT\" }"
      [ -n "$rr" ] && servers="$servers, { addr = \"127.0.0.1:$ORIGIN_PORT2\" }"
      # weir-mio-base-N: the binary in $WEIR_BASE_DIR (an older build), for
      # a before/after comparison within one interleaved run.
      case "$bin" in weir-mio-base|weir-smol-base) bin=${bin%-base}; dir_bin=${WEIR_BASE_DIR:?set WEIR_BASE_DIR} ;; esac
      cat > "$dir/weir.toml" <<CONF
listen = "127.0.0.1:$PROXY_PORT"
workers = $workers
[limits]
max_connections = 20000
[timeouts]
client_idle = 300000
[[upstream]]
name = "origin"
balancer = "round-robin"
servers = [$servers]
CONF
      if [ -n "$log" ]; then
        quiet=()
        printf '[log]\npath = "%s"\n' "$dir/logs/access.log" >> "$dir/weir.toml"
      fi
      if [ -n "$gw" ]; then
        cat >> "$dir/weir.toml" <<CONF
[[middleware]]
name = "rid"
kind = "request-id"
[[middleware]]
name = "web"
kind = "cors"
allow_origins = ["https://app.example.com"]
allow_methods = ["GET", "POST"]
expose_headers = ["X-Request-Id"]
[[middleware]]
name = "users"
kind = "basic-auth"
users_file = "$work/users.htpasswd"
realm = "weir"
[[middleware]]
name = "limit"
kind = "rate-limit"
key = ["client-ip"]
rate = 1000000
per = 1000
burst = 1000000
$(weir_gw_routes)
CONF
      fi
      env "${env[@]}" "$dir_bin/$bin" "${quiet[@]}" --config "$dir/weir.toml" & proxy_pids=($!) ;;
  esac
  pids+=("${proxy_pids[@]}")
  target=$PROXY_PORT
  for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/$PROXY_PORT) 2>/dev/null && return
    sleep 0.1
  done
  echo "proxy $name did not start:" >&2; cat "$dir"/logs/* >&2 2>/dev/null; exit 1
}

stop_proxy() {
  for p in "${proxy_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${proxy_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  sleep 0.3
}

# CPU ticks (utime+stime) of a process and its children/threads.
cpu_ticks() {
  local total=0
  for p in "$@"; do
    for q in $p $(pgrep -P "$p" || true); do
      [ -r /proc/$q/stat ] || continue
      total=$((total + $(awk '{print $14 + $15}' /proc/$q/stat)))
    done
  done
  echo $total
}

rss_kb() {
  local total=0
  for p in "$@"; do
    for q in $p $(pgrep -P "$p" || true); do
      [ -r /proc/$q/status ] || continue
      total=$((total + $(awk '/^VmRSS/ {print $2}' /proc/$q/status)))
    done
  done
  echo $total
}

# Sums of /proc/PID/stat fields over a process and its children:
# minor faults, user ticks, system ticks.
stat_fields() {
  local f=0 u=0 k=0
  for p in "$@"; do
    for q in $p $(pgrep -P "$p" || true); do
      [ -r /proc/$q/stat ] || continue
      read -r a b c < <(awk '{print $10, $14, $15}' /proc/$q/stat)
      f=$((f + a)); u=$((u + b)); k=$((k + c))
    done
  done
  echo "$f $u $k"
}

# One scenario against the running proxy; prints "value p50 p99 cpu_us_per_req".
# PROFILE=1 also says on stderr the user/system split and the minor page
# faults per request.
run_wrk() {
  local scenario=$1 conns path hdr=()
  case "$scenario" in
    a) conns=64; path=/ ;;
    b) conns=256; path=/ ;;
    c) conns=16; path=/files/1m.bin ;;
    d) conns=64; path=/; hdr=(-H "Connection: close") ;;
    g) conns=64; path=/svc19/item; hdr=(-H "$GW_AUTH" -H "$GW_ORIGIN") ;;
    u) conns=16; path=/sink; hdr=(-s "$work/upload.lua") ;;
  esac
  local before after s0 s1
  before=$(cpu_ticks "${proxy_pids[@]}")
  s0=$(stat_fields "${proxy_pids[@]}")
  wrk -t2 -c"$conns" -d"${DURATION}s" --latency "${hdr[@]}" "http://127.0.0.1:$target$path" > "$work/wrk.out" 2>&1 || true
  after=$(cpu_ticks "${proxy_pids[@]}")
  if [ -n "${PROFILE:-}" ]; then
    s1=$(stat_fields "${proxy_pids[@]}")
    python3 - "$s0" "$s1" "$work/wrk.out" "$(getconf CLK_TCK)" "$scenario" <<'PY' >&2
import re, sys
a = [int(x) for x in sys.argv[1].split()]; b = [int(x) for x in sys.argv[2].split()]
m = re.search(r"(\d+) requests in", open(sys.argv[3]).read()); n = int(m.group(1)) if m else 0
hz = int(sys.argv[4])
if n:
    print("profile %s: user %.1f us/req, system %.1f us/req, %.2f minor faults/req" % (
        sys.argv[5], (b[1] - a[1]) * 1e6 / hz / n, (b[2] - a[2]) * 1e6 / hz / n, (b[0] - a[0]) / n))
PY
  fi
  python3 benches/wrk_parse.py "$scenario" "$work/wrk.out" "$((after - before))" "$(getconf CLK_TCK)"
}

run_idle() {
  local before after
  before=$(rss_kb "${proxy_pids[@]}")
  python3 benches/idle_conns.py "$target" 5000 "$work/idle.ready" & local holder=$!
  for _ in $(seq 300); do [ -f "$work/idle.ready" ] && break; sleep 0.1; done
  sleep 1
  after=$(rss_kb "${proxy_pids[@]}")
  kill "$holder" 2>/dev/null || true; wait "$holder" 2>/dev/null || true
  rm -f "$work/idle.ready"
  # bytes per connection
  echo "$(( (after - before) * 1024 / 5000 )) - - -"
}

mkdir -p benches/results
out="benches/results/$(date +%Y-%m-%d-%H%M).tsv"
echo -e "round\tscenario\tproxy\tvalue\tp50_ms\tp99_ms\tcpu_us_per_req" > "$out"
for round in $(seq "$ROUNDS"); do
  for proxy in $PROXIES; do
    start_proxy "$proxy"
    for s in $SCENARIOS; do
      # A gateway config answers only the gateway request; -log- (a), (c)
      # and (d); -rr- (a) and (c).
      case "$proxy" in
        *-gw-*) [ "$s" = g ] || continue ;;
        *-log-*) case "$s" in a|c|d) ;; *) continue ;; esac ;;
        *-rr-*) case "$s" in a|c) ;; *) continue ;; esac ;;
        floor-*) case "$s" in a|b) ;; *) continue ;; esac ;;
      esac
      if [ "$s" = e ]; then
        [ "$proxy" = direct ] && continue
        read -r v p50 p99 cpu < <(run_idle)
      else
        read -r v p50 p99 cpu < <(run_wrk "$s")
      fi
      echo -e "$round\t$s\t$proxy\t$v\t$p50\t$p99\t$cpu" | tee -a "$out"
    done
    # A -log- run that wrote no lines measured nothing.
    case "$proxy" in *-log-*)
      lines=$(cat "$work/$proxy"/logs/access.log 2>/dev/null | wc -l)
      echo "$proxy: $lines access-log lines" >&2
      [ "$lines" -gt 0 ] || { echo "$proxy wrote no access log" >&2; exit 1; } ;;
    esac
    stop_proxy
  done
done
python3 benches/summarize.py "$out" | tee "${out%.tsv}.md"
# The results name the configs they were measured with.
{
  echo; echo "## Configs"
  echo; echo "#### origin"; echo; echo '```'; cat "$work/origin/nginx.conf"; echo '```'
  for proxy in $PROXIES; do
    for f in "$work/$proxy"/*.conf "$work/$proxy"/*.cfg "$work/$proxy"/*.toml; do
      [ -f "$f" ] || continue
      echo; echo "#### $proxy"; echo; echo '```'; cat "$f"; echo '```'
    done
  done
} >> "${out%.tsv}.md"
