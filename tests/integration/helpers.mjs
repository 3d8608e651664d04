// Shared helpers of the integration tests: start the real server on a free loopback port, stop it
// by PID, and drive it with real clients from npm (socket.io-client 4, ws).
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { io } from "socket.io-client";
import WebSocket from "ws";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const BIN = process.env.SWITCHBOARD_BIN || path.join(ROOT, "build/switchboard");
export const GATEWAYS = path.join(ROOT, "tests/integration/gateways");
export const SANITIZED = !!process.env.SWITCHBOARD_SANITIZED;
export { io, WebSocket };

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The kernel's ephemeral port range: client sockets (ours, the benchmark's thousands of load
// connections running in parallel) get their local ports from it, so a listening port picked
// there can be taken between the check and the server's bind.
function ephemeralRange() {
  try {
    const [lo, hi] = fs
      .readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")
      .trim()
      .split(/\s+/)
      .map(Number);
    if (lo > 0 && hi >= lo) return [lo, hi];
  } catch {}
  return [32768, 60999];
}

function canListen(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

// A port on 127.0.0.1 that nothing listens on, for "the service is down" tests: from 10100 to
// 19999, below every port freePort() hands out, so no server another test starts meanwhile can
// take it between this check and the test's connection attempt.
export async function closedPort() {
  for (let i = 0; i < 50; i++) {
    const port = 10100 + Math.floor(Math.random() * 9900);
    if (await canListen(port)) return port;
  }
  throw new Error("no closed port found between 10100 and 19999");
}

// A free TCP port on 127.0.0.1, below the ephemeral range when there is room there (random, so
// tests running side by side rarely pick the same one), else one the kernel picks. From 20000
// up: fetch() refuses the "bad ports" of the Fetch standard (10080 is the last of them).
export async function freePort() {
  const [lo] = ephemeralRange();
  const base = 20000;
  if (lo - base >= 1000) {
    for (let i = 0; i < 50; i++) {
      const port = base + Math.floor(Math.random() * (lo - base));
      if (await canListen(port)) return port;
    }
  }
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Starts switchboard. `args` are extra flags; `scripts` the gateways directory; `plugins` a list
// of --plugin values; `bin` another binary than $SWITCHBOARD_BIN. Resolves once /healthz answers. The returned object stops it by PID.
export async function startServer(opts = {}) {
  // A port found free can still be taken before the server binds it (another test's client):
  // the server then exits at once saying "cannot listen"; try another port.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (e) {
      if (attempt >= 3 || !/cannot listen on/.test(e.message)) throw e;
    }
  }
}

// Safety net: every server started here is SIGKILLed when the test process exits, even if an
// after hook never ran (tests stop them by PID first).
const running = new Set();
process.on("exit", () => {
  for (const proc of running)
    if (proc.exitCode === null && proc.signalCode === null)
      try {
        process.kill(proc.pid, "SIGKILL");
      } catch {}
});

async function startOnce({
  args = [],
  scripts = path.join(ROOT, "scripts"),
  plugins = [],
  env = {},
  waitReady = true,
  bin = BIN,
} = {}) {
  const port = await freePort();
  const argv = ["--listen", `127.0.0.1:${port}`, "--scripts", scripts];
  for (const p of plugins) argv.push("--plugin", p);
  argv.push(...args);
  const proc = spawn(bin, argv, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(proc);
  proc.on("close", () => running.delete(proc));
  let log = "";
  proc.stdout.on("data", (d) => (log += d));
  proc.stderr.on("data", (d) => (log += d));
  const exited = new Promise((resolve) =>
    proc.on("close", (code, signal) => resolve({ code, signal })),
  );
  const server = {
    port,
    proc,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    exited,
    log: () => log,
    // Waits until the log matches `re` (a RegExp), or throws after `ms`.
    async waitForLog(re, ms = 5000) {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        if (re.test(log)) return;
        await sleep(20);
      }
      throw new Error(`log never matched ${re}:\n${log}`);
    },
    // Stops the server by PID (SIGTERM by default) and returns {code, signal}. Forces SIGKILL
    // after `ms` so a test never hangs.
    async stop(signal = "SIGTERM", ms = 15000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      process.kill(proc.pid, signal);
      const timer = setTimeout(() => {
        try {
          process.kill(proc.pid, "SIGKILL");
        } catch {}
      }, ms);
      const res = await exited;
      clearTimeout(timer);
      return res;
    },
  };
  if (waitReady) {
    const end = Date.now() + 15000;
    for (;;) {
      if (proc.exitCode !== null) {
        await exited; // the last of its output
        throw new Error(`switchboard exited at start:\n${log}`);
      }
      try {
        const res = await fetch(`${server.url}/healthz`);
        if (res.status === 200) break;
      } catch {}
      if (Date.now() > end) {
        await server.stop("SIGKILL");
        throw new Error(`switchboard did not become healthy:\n${log}`);
      }
      await sleep(30);
    }
  }
  return server;
}

// Stops a server and asserts it exited cleanly (exit 0: no sanitizer report, no crash).
export async function stopClean(t, server) {
  const { code, signal } = await server.stop();
  if (code !== 0) throw new Error(`switchboard exited with ${code ?? signal}:\n${server.log()}`);
}

// A socket.io-client socket, WebSocket transport only, no automatic reconnection.
export function sio(server, opts = {}, nsp = "/") {
  return io(server.url + (nsp === "/" ? "" : nsp), {
    transports: ["websocket"],
    reconnection: false,
    forceNew: true,
    timeout: 5000,
    ...opts,
  });
}

// Resolves with the arguments of the next `event` on `emitter`, or rejects after `ms`.
export function once(emitter, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`timeout waiting for '${event}'`));
    }, ms);
    function on(...args) {
      clearTimeout(timer);
      emitter.off(event, on);
      resolve(args);
    }
    emitter.on(event, on);
  });
}

// Connects a socket.io socket and resolves when it is connected (rejects on connect_error).
export async function connected(socket, ms = 5000) {
  if (socket.connected) return socket;
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("connect timeout")), ms);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once("connect_error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  return socket;
}

// Records every payload of `event` on `socket` into an array.
export function record(socket, event) {
  const got = [];
  socket.on(event, (...args) => got.push(args.length === 1 ? args[0] : args));
  return got;
}

// A raw WebSocket client (npm `ws`) that queues what it receives.
export function rawWs(url, opts = {}) {
  const ws = new WebSocket(url, opts);
  const queue = [];
  const waiters = [];
  ws.closeInfo = null;
  ws.on("message", (data, isBinary) => {
    const msg = isBinary ? data : data.toString();
    const w = waiters.shift();
    if (w) w.resolve(msg);
    else queue.push(msg);
  });
  ws.on("close", (code, reason) => {
    ws.closeInfo = { code, reason: reason.toString() };
    for (const w of waiters.splice(0)) w.reject(new Error(`closed ${code} ${reason}`));
  });
  ws.on("error", () => {});
  // The next message, or rejects after `ms` / on close.
  ws.next = (ms = 5000) => {
    if (queue.length) return Promise.resolve(queue.shift());
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      const timer = setTimeout(() => {
        const i = waiters.indexOf(w);
        if (i >= 0) waiters.splice(i, 1);
        reject(new Error("timeout waiting for a message"));
      }, ms);
      w.resolve = (m) => {
        clearTimeout(timer);
        resolve(m);
      };
      w.reject = (e) => {
        clearTimeout(timer);
        reject(e);
      };
      waiters.push(w);
    });
  };
  ws.opened = () =>
    new Promise((resolve, reject) => {
      if (ws.readyState === WebSocket.OPEN) return resolve(ws);
      ws.once("open", () => resolve(ws));
      ws.once("unexpected-response", (req, res) =>
        reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, res })),
      );
      ws.once("error", reject);
    });
  ws.closed = (ms = 5000) =>
    new Promise((resolve, reject) => {
      if (ws.closeInfo) return resolve(ws.closeInfo);
      const timer = setTimeout(() => reject(new Error("timeout waiting for close")), ms);
      ws.once("close", (code, reason) => {
        clearTimeout(timer);
        resolve({ code, reason: reason.toString() });
      });
    });
  return ws;
}

// Runs a Python script with Debian's interpreter, where python3-socketio is installed (not one
// earlier on PATH), killed after `ms`. Resolves with its stdout and stderr when it exits 0.
export function runPython(script, args = [], ms = 15000) {
  return new Promise((resolve, reject) => {
    const p = spawn("/usr/bin/python3", ["-c", script, ...args], { cwd: ROOT });
    let text = "";
    p.stdout.on("data", (d) => (text += d));
    p.stderr.on("data", (d) => (text += d));
    const timer = setTimeout(() => p.kill("SIGKILL"), ms);
    p.on("close", (code) => {
      clearTimeout(timer);
      code === 0 ? resolve(text) : reject(new Error(`python3 exited ${code}:\n${text}`));
    });
  });
}

// Reads one metric value from /metrics (a line `name{labels} value`), 0 when absent.
export async function metric(server, name) {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    if (line.slice(0, i) === name) return Number(line.slice(i + 1));
  }
  return 0;
}

// Plugins the example configuration uses.
export const DEMO_PLUGINS = [
  `auth-static=${path.join(ROOT, "examples/demo/tokens.txt")}`,
  "propagate",
];
