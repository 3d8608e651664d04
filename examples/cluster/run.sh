#!/usr/bin/env bash
# A switchboard cluster on this machine: redis-server, three switchboard instances meeting in it,
# and nginx in front of them as the load balancer, all on 127.0.0.1. See README.md beside this.
#
#   examples/cluster/run.sh            start everything, print the URL, run until Ctrl-C
#   examples/cluster/run.sh --check    start everything, check it through the load balancer
#                                      (examples/cluster/check.mjs), stop everything, exit 0/1
#
# Options (or the environment variables in brackets); ports default to free ones:
#   --lb-port N [LB_PORT]          the load balancer's port
#   --redis-port N [REDIS_PORT]    redis-server's port
#   --ports A,B,C [INSTANCE_PORTS] the three instances' ports
#   [SWITCHBOARD_BIN]              the server binary (default build/switchboard)
#   [CLUSTER_API_KEY]              the key of POST /api/emit (default: a random one)
#   [NGINX_BIN] [REDIS_SERVER_BIN] nginx and redis-server (default: from PATH or /usr/sbin)
#
# Every process it starts is stopped by its PID when it ends (Ctrl-C, SIGTERM, an error), and
# only those. The lines "[cluster] started NAME (pid N)" list them.
set -euo pipefail
set -m # every background process in its own process group: Ctrl-C reaches only this script

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
HOST=127.0.0.1

CHECK=0
LB_PORT="${LB_PORT:-}"
REDIS_PORT="${REDIS_PORT:-}"
INSTANCE_PORTS="${INSTANCE_PORTS:-}"
while (($#)); do
  case "$1" in
  --check) CHECK=1 ;;
  --lb-port) LB_PORT="${2:?--lb-port needs a port}"; shift ;;
  --redis-port) REDIS_PORT="${2:?--redis-port needs a port}"; shift ;;
  --ports) INSTANCE_PORTS="${2:?--ports needs A,B,C}"; shift ;;
  -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "run.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { echo "[cluster] $*"; }
die() { echo "[cluster] error: $*" >&2; exit 1; }

find_bin() { # NAME ENV_VALUE: the path of a program, from the variable, PATH or /usr/sbin
  local name="$1" given="$2"
  if [ -n "$given" ]; then echo "$given"; return; fi
  command -v "$name" 2>/dev/null || { [ -x "/usr/sbin/$name" ] && echo "/usr/sbin/$name"; } || true
}

SWITCHBOARD="${SWITCHBOARD_BIN:-$ROOT/build/switchboard}"
NGINX="$(find_bin nginx "${NGINX_BIN:-}")"
REDIS="$(find_bin redis-server "${REDIS_SERVER_BIN:-}")"
[ -x "$SWITCHBOARD" ] ||
  die "no server binary at $SWITCHBOARD: run 'make build' first (or set SWITCHBOARD_BIN)"
[ -n "$NGINX" ] || die "nginx not found: apt-get install nginx (tools/install-deps.sh does)"
[ -n "$REDIS" ] || die "redis-server not found: apt-get install redis-server"
[ -d "$ROOT/node_modules/socket.io-client/dist" ] ||
  die "node_modules missing: run 'make build' (npm ci) first"
command -v curl >/dev/null || die "curl not found"
if ((CHECK)); then command -v node >/dev/null || die "node not found (needed by --check)"; fi

port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
free_port() { # a port nothing listens on, picked at random in 20000-31999 (below the
  # kernel's ephemeral range, where other programs' "port 0" sockets land)
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 12000))
    if ! port_busy "$p" && [[ " ${TAKEN:-} " != *" $p "* ]]; then
      TAKEN="${TAKEN:-} $p"
      echo "$p"
      return
    fi
  done
  die "no free port found"
}
TAKEN=""
[ -n "$LB_PORT" ] || { LB_PORT=$(free_port); TAKEN="$TAKEN $LB_PORT"; }
[ -n "$REDIS_PORT" ] || { REDIS_PORT=$(free_port); TAKEN="$TAKEN $REDIS_PORT"; }
if [ -n "$INSTANCE_PORTS" ]; then
  IFS=', ' read -r -a PORTS <<<"$INSTANCE_PORTS"
  ((${#PORTS[@]} == 3)) || die "--ports needs three ports, got '$INSTANCE_PORTS'"
else
  PORTS=()
  for _ in 1 2 3; do p=$(free_port); TAKEN="$TAKEN $p"; PORTS+=("$p"); done
fi
for p in "$LB_PORT" "$REDIS_PORT" "${PORTS[@]}"; do
  if ! [[ "$p" =~ ^[0-9]+$ ]] || ((p < 1 || p > 65535)); then die "not a port: '$p'"; fi
  port_busy "$p" && die "port $p is already in use"
done

API_KEY="${CLUSTER_API_KEY:-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/switchboard-cluster.XXXXXX")"
chmod 755 "$TMP" # nginx's workers may run as another user

# ---- stopping: by PID: the instances first (their clients get a clean close through nginx),
# then nginx, then redis-server ----
NAMES=()
PIDS=()
STATUS=()
CLEANED=0
stop_group() { # PATTERN SIGNAL: signals the started processes whose name matches, then waits
  local pattern="$1" sig="$2" i
  # shellcheck disable=SC2053 # PATTERN is a glob on purpose
  for i in "${!PIDS[@]}"; do
    if [[ "${NAMES[$i]}" == $pattern ]]; then kill "-$sig" "${PIDS[$i]}" 2>/dev/null || true; fi
  done
  for i in "${!PIDS[@]}"; do
    # shellcheck disable=SC2053
    [[ "${NAMES[$i]}" == $pattern ]] || continue
    for _ in $(seq 150); do
      kill -0 "${PIDS[$i]}" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "${PIDS[$i]}" 2>/dev/null; then
      echo "[cluster] ${NAMES[$i]} (pid ${PIDS[$i]}) still running after 15 s: SIGKILL" >&2
      kill -KILL "${PIDS[$i]}" 2>/dev/null || true
    fi
    STATUS[i]=0
    wait "${PIDS[$i]}" 2>/dev/null || STATUS[i]=$?
    say "stopped ${NAMES[$i]} (pid ${PIDS[$i]}): exit status ${STATUS[$i]}"
  done
}
cleanup() {
  if ((CLEANED)); then return; fi
  CLEANED=1
  trap - INT TERM
  stop_group 'switchboard-*' TERM
  stop_group nginx QUIT # graceful; its connections are closed by now
  stop_group redis-server TERM
  # nginx's workers are its children and end with it; make sure.
  local pid
  for pid in ${NGINX_WORKERS:-}; do
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  if [ -n "${KEEP_LOGS:-}" ]; then say "logs kept in $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() { # NAME LOGFILE COMMAND...: starts in the background, remembers the PID
  local name="$1" log="$2"
  shift 2
  "$@" >"$log" 2>&1 &
  NAMES+=("$name")
  PIDS+=("$!")
  say "started $name (pid $!)"
}

wait_until() { # WHAT TIMEOUT_S COMMAND...: retries COMMAND until it succeeds
  local what="$1" secs="$2"
  shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || { show_logs; die "$what did not come up within $secs s"; }
    local i
    for i in "${!PIDS[@]}"; do
      kill -0 "${PIDS[$i]}" 2>/dev/null || { show_logs; die "${NAMES[$i]} (pid ${PIDS[$i]}) exited"; }
    done
    sleep 0.1
  done
}

show_logs() {
  local f
  for f in "$TMP"/*.log; do
    [ -s "$f" ] || continue
    echo "---- $(basename "$f") (last lines)" >&2
    tail -n 15 "$f" >&2
  done
}

redis_ping() { # PORT: true when redis answers PING
  local line
  exec 3<>"/dev/tcp/$HOST/$1" || return 1
  printf 'PING\r\n' >&3
  IFS= read -r -t 1 line <&3 || line=""
  exec 3>&- 3<&-
  [[ "$line" == +PONG* ]]
}

# ---- redis-server ----
start redis-server "$TMP/redis.log" \
  "$REDIS" --port "$REDIS_PORT" --bind "$HOST" --save '' --appendonly no --daemonize no --dir "$TMP"
wait_until "redis-server" 10 redis_ping "$REDIS_PORT"

# ---- three switchboard instances ----
# The key of POST /api/emit goes through the environment, not argv (visible to `ps`).
export SWITCHBOARD_API_KEY="$API_KEY"
cd "$ROOT"
for i in 0 1 2; do
  start "switchboard-$((i + 1))" "$TMP/switchboard-$((i + 1)).log" \
    "$SWITCHBOARD" --redis "redis://$HOST:$REDIS_PORT" --listen "$HOST:${PORTS[$i]}" \
    --scripts scripts --plugin auth-static=examples/demo/tokens.txt --plugin propagate \
    --static examples/demo --static /vendor/socket.io-client=node_modules/socket.io-client/dist \
    --shutdown-timeout 3000
done
unset SWITCHBOARD_API_KEY
for i in 0 1 2; do
  wait_until "switchboard-$((i + 1))" 15 curl -sf "http://$HOST:${PORTS[$i]}/healthz"
done

# ---- nginx: the load balancer ----
mkdir -p "$TMP/nginx"
{
  cat <<EOF
# Generated by examples/cluster/run.sh: everything lives in $TMP.
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
worker_shutdown_timeout 5s;
events { worker_connections 1024; }
http {
  access_log $TMP/nginx-access.log;
  client_body_temp_path $TMP/nginx/client_body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  client_max_body_size 2m;      # switchboard answers 413 itself over its own limit
  client_body_buffer_size 2m;   # POST /api/emit bodies stay in memory

  # A WebSocket-only client's session is one connection: any instance will do. Every request of
  # a polling session (and its upgrade, which names the session's sid) must reach the instance
  # that holds it: those go to an upstream that is sticky by client address.
  upstream switchboard {
    least_conn;                 # WebSockets are long-lived: balance the open connections
EOF
  for p in "${PORTS[@]}"; do echo "    server $HOST:$p;"; done
  cat <<EOF
  }
  upstream switchboard_sticky {
    ip_hash;
EOF
  for p in "${PORTS[@]}"; do echo "    server $HOST:$p;"; done
  cat <<EOF
  }
  # transport=websocket without a sid is a new WebSocket session; everything else sticks.
  map "\$arg_transport:\$arg_sid" \$switchboard_upstream {
    "websocket:" switchboard;
    default      switchboard_sticky;
  }
  map \$http_upgrade \$connection_upgrade {
    default upgrade;
    ""      "";                 # a plain request (a polling GET or POST) stays keep-alive
  }

  server {
    listen $HOST:$LB_PORT;
    location / {
      proxy_pass http://\$switchboard_upstream;
      proxy_http_version 1.1;
      proxy_buffering off;      # a held polling GET is answered as soon as switchboard answers
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$connection_upgrade;
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_read_timeout 1h;    # idle WebSockets live on (switchboard pings every 25 s)
      proxy_send_timeout 1h;
    }
  }
}
EOF
} >"$TMP/nginx.conf"
"$NGINX" -t -q -e "$TMP/nginx-error.log" -p "$TMP" -c "$TMP/nginx.conf" ||
  die "nginx refused the generated configuration $TMP/nginx.conf"
start nginx "$TMP/nginx.log" \
  "$NGINX" -e "$TMP/nginx-error.log" -p "$TMP" -c "$TMP/nginx.conf" -g 'daemon off;'
NGINX_PID="${PIDS[${#PIDS[@]} - 1]}"
wait_until "nginx" 10 curl -sf "http://$HOST:$LB_PORT/healthz"
# Its workers (its children), so that a caller can check that they are gone too.
NGINX_WORKERS=""
for stat in /proc/[0-9]*/stat; do
  read -r line 2>/dev/null <"$stat" || continue
  rest="${line##*) }" # after the command name, which may hold spaces
  read -r _state ppid _ <<<"$rest"
  if [ "$ppid" = "$NGINX_PID" ]; then
    pid="${stat#/proc/}"
    pid="${pid%/stat}"
    NGINX_WORKERS="$NGINX_WORKERS $pid"
    say "started nginx worker (pid $pid)"
  fi
done

LB="http://$HOST:$LB_PORT"
INSTANCES=()
for p in "${PORTS[@]}"; do INSTANCES+=("http://$HOST:$p"); done

if ((CHECK)); then
  rc=0
  CLUSTER_API_KEY="$API_KEY" CLUSTER_REDIS_URL="redis://$HOST:$REDIS_PORT" \
    node "$HERE/check.mjs" "$LB" "${INSTANCES[@]}" || rc=$?
  ((rc == 0)) || show_logs
  cleanup
  # Every instance must also have stopped cleanly (exit 0; under ASan: no leak, no error).
  for i in "${!NAMES[@]}"; do
    if [[ "${NAMES[$i]}" == switchboard-* ]] && [ "${STATUS[$i]}" != 0 ]; then
      echo "[cluster] ${NAMES[$i]} exited with status ${STATUS[$i]}" >&2
      rc=1
    fi
  done
  if ((rc == 0)); then say "check passed"; else say "check FAILED"; fi
  exit "$rc"
fi

cat <<EOF

  switchboard cluster: 3 instances behind nginx, meeting in Redis

    demo page      $LB/    (tokens: alice-token, bob-token; open two tabs)
    instances      ${INSTANCES[*]}
    redis          redis://$HOST:$REDIS_PORT
    publish        curl -X POST $LB/api/emit -H 'Authorization: Bearer $API_KEY' \\
                     -H 'Content-Type: application/json' -d '{"event":"events","data":42}'
    logs           $TMP

  Ctrl-C stops everything.
EOF
while :; do
  for i in "${!PIDS[@]}"; do
    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
      show_logs
      die "${NAMES[$i]} (pid ${PIDS[$i]}) exited"
    fi
  done
  sleep 1
done
