#!/usr/bin/env bash
# Installs what building, running and testing switchboard need on Debian 12, and only what is
# missing: the -dev packages, redis-server, Chromium, Node.js and npm (unless a node is already
# on PATH), then the npm packages of the committed lockfile. Safe to run again; quiet when all
# is there. With --bench, also the tools of bench/: gnuplot (bench/compare's chart), perf,
# valgrind and strace (bench/profile).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  "") bench=0 ;;
  --bench) bench=1 ;;
  *) echo "usage: tools/install-deps.sh [--bench]" >&2; exit 2 ;;
esac

packages=(
  build-essential cmake pkg-config
  libwebsockets-dev libuv1-dev libluajit-5.1-dev luajit libjansson-dev
  libhiredis-dev libmsgpack-dev libcmocka-dev
  libssl-dev            # OpenSSL: --tls-cert (server/net/tls.c), the plugins' hashes and keys
  libcurl4-openssl-dev  # auth-http's HTTP(S) client (plugins/auth-http)
  openssl               # the test certificates of tests/integration/auth_https.test.mjs and
                        # tls.test.mjs (its s_client too), and of bench/tls-cost.mjs
  redis-server curl
  dpkg-dev  # make deb: CPack's dpkg-shlibdeps (the package's Depends)
  lintian   # the package's check (tests/integration/deb.test.mjs)
  chromium  # the demo page's browser test (tests/integration/demo_page.test.mjs)
  nginx     # the load balancer of examples/cluster/run.sh (tests/integration/cluster_example.test.mjs)
  # Debian's Socket.IO client, with what it polls and upgrades with (tests/integration/polling.test.mjs)
  python3-socketio python3-requests python3-websocket
)
((bench)) && packages+=(gnuplot-nox linux-perf valgrind strace)
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages: the test clients and the demo page's socket.io-client, from the lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "install-deps: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
