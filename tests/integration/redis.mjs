// Helpers of the cluster tests: a private redis-server (Debian's) on a free loopback port, a
// `redis` v4 client for PUBSUB NUMSUB / PUBLISH, a Node socket.io 4 peer with
// @socket.io/redis-adapter in a child process (peers/socketio-peer.mjs), and switchboard
// instances started with --redis. Every process is stopped by its PID; a safety net SIGKILLs
// whatever is still running when the test process exits.
import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import readline from "node:readline";
import { createClient } from "redis";
import { ROOT, SANITIZED, freePort, metric, sleep, startServer, stopClean } from "./helpers.mjs";

export const REDIS_BIN = process.env.REDIS_SERVER_BIN || "redis-server";
export const PEER = path.join(ROOT, "tests/integration/peers/socketio-peer.mjs");
export const CLUSTER_GATEWAYS = path.join(ROOT, "tests/integration/gateways/cluster");
// Cross-instance messages take a Redis round trip; what has not arrived after this will not.
export const QUIET_MS = SANITIZED ? 600 : 300;
// Generous bound for anything that must eventually happen (subscriptions, deliveries).
export const SETTLE_MS = SANITIZED ? 15000 : 8000;

// Every child process started here, so that a crashing test run never leaves one behind.
const children = new Set();
process.on("exit", () => {
  for (const p of children) {
    try {
      process.kill(p.pid, "SIGCONT");
      process.kill(p.pid, "SIGKILL");
    } catch {}
  }
});

function alive(proc) {
  return proc.exitCode === null && proc.signalCode === null;
}

// Resolves once `proc` exits, or after `ms` (then SIGKILL).
async function waitExit(proc, exited, ms) {
  if (!alive(proc)) return exited;
  const timer = setTimeout(() => {
    try {
      process.kill(proc.pid, "SIGCONT");
      process.kill(proc.pid, "SIGKILL");
    } catch {}
  }, ms);
  const res = await exited;
  clearTimeout(timer);
  return res;
}

// One raw PING over TCP: true when Redis answers anything at all (+PONG, or -NOAUTH when a
// password is required), false on refusal, EOF or silence within `ms`.
export function pingRedis(port, ms = 500) {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    let buf = "";
    const done = (v) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(false), ms);
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      buf += d;
      if (buf.includes("\r\n")) done(buf.startsWith("+PONG") || buf.startsWith("-NOAUTH"));
    });
    sock.on("error", () => done(false));
    sock.on("close", () => done(false));
  });
}

// Starts `redis-server` on a free loopback port (or `port`), without persistence. Resolves
// once it answers PING. `args` are extra redis-server arguments (e.g. ["--requirepass", "x"]);
// `config` a config file, which redis-server wants as its first argument (a sentinel's).
export async function startRedis({ port, args = [], password, config } = {}) {
  port = port || (await freePort());
  const extra = [...args];
  if (password) extra.push("--requirepass", password);
  let proc, exited;
  let log = "";
  async function spawnIt() {
    proc = spawn(
      REDIS_BIN,
      [...(config ? [config] : []), "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
       "--daemonize", "no", ...extra],
      { cwd: "/tmp", stdio: ["ignore", "pipe", "pipe"] },
    );
    children.add(proc);
    const p = proc;
    exited = new Promise((resolve) =>
      p.on("exit", (code, signal) => {
        children.delete(p);
        resolve({ code, signal });
      }),
    );
    proc.stdout.on("data", (d) => (log += d));
    proc.stderr.on("data", (d) => (log += d));
    proc.on("error", (e) => (log += `spawn error: ${e.message}\n`));
    const end = Date.now() + 10000;
    while (!(await pingRedis(port))) {
      if (!alive(proc) || Date.now() > end) {
        try {
          process.kill(proc.pid, "SIGKILL");
        } catch {}
        throw new Error(`redis-server did not start on port ${port}:\n${log}`);
      }
      await sleep(20);
    }
  }
  await spawnIt();
  const auth = password ? `:${encodeURIComponent(password)}@` : "";
  const redis = {
    port,
    url: `redis://${auth}127.0.0.1:${port}`,
    get pid() {
      return proc.pid;
    },
    get running() {
      return alive(proc);
    },
    log: () => log,
    // SIGTERM by PID (SIGCONT first, a stopped process ignores SIGTERM), SIGKILL after 5 s.
    async stop() {
      if (!alive(proc)) return exited;
      try {
        process.kill(proc.pid, "SIGCONT");
        process.kill(proc.pid, "SIGTERM");
      } catch {}
      return waitExit(proc, exited, 5000);
    },
    // SIGKILL by PID; resolves once it is gone.
    async kill() {
      if (!alive(proc)) return exited;
      try {
        process.kill(proc.pid, "SIGKILL");
      } catch {}
      return waitExit(proc, exited, 5000);
    },
    sigstop() {
      process.kill(proc.pid, "SIGSTOP");
    },
    sigcont() {
      if (alive(proc)) process.kill(proc.pid, "SIGCONT");
    },
    // Starts a new redis-server on the same port (after kill() or stop()).
    async restart() {
      if (alive(proc)) await redis.kill();
      await spawnIt();
    },
  };
  return redis;
}

// A `redis` v4 client for the tests' own commands. `close()` never throws, even when the
// server is gone. numsub(...channels) → {channel: count}.
export async function redisClient(url) {
  const client = createClient({
    url,
    socket: { connectTimeout: 2000, reconnectStrategy: (n) => Math.min(50 * (n + 1), 500) },
  });
  client.on("error", () => {});
  await client.connect();
  client.numsub = async (...channels) => client.pubSubNumSub(channels.flat());
  client.close = async () => {
    try {
      await Promise.race([client.disconnect(), sleep(2000)]);
    } catch {}
  };
  return client;
}

// Redis MONITOR over a raw connection: every command Redis executes from now on, as arrays of
// strings (["SUBSCRIBE", "socket.io#/#room#", …]). `commands` fills as they arrive;
// close() ends the monitor.
export async function monitorRedis(port, password) {
  const sock = net.connect(port, "127.0.0.1");
  await new Promise((resolve, reject) => {
    sock.once("connect", resolve);
    sock.once("error", reject);
  });
  sock.on("error", () => {});
  const commands = [];
  let buf = "";
  let started;
  const ok = new Promise((r) => (started = r));
  sock.on("data", (d) => {
    buf += d.toString("utf8");
    let i;
    while ((i = buf.indexOf("\r\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (line === "+OK") started();
      // +1700000000.123456 [0 127.0.0.1:5555] "SUBSCRIBE" "a" "b"
      const m = /^\+\d+\.\d+ \[[^\]]*\] (.*)$/.exec(line);
      if (!m) continue;
      const args = [];
      const re = /"((?:[^"\\]|\\.)*)"/g;
      let a;
      while ((a = re.exec(m[1]))) args.push(a[1].replace(/\\(.)/g, "$1"));
      if (args.length) args[0] = args[0].toUpperCase();
      commands.push(args);
    }
  });
  if (password) sock.write(`AUTH ${password}\r\n`);
  sock.write("MONITOR\r\n");
  await Promise.race([ok, sleep(2000)]);
  return { commands, close: () => sock.destroy() };
}

// Polls PUBSUB NUMSUB until every channel of `channels` has `n` subscribers (n may be a
// function of the channel), or throws with the last counts after `ms`.
export async function waitNumsub(client, channels, n, ms = SETTLE_MS) {
  channels = [channels].flat();
  const want = typeof n === "function" ? n : () => n;
  const end = Date.now() + ms;
  let counts;
  for (;;) {
    counts = await client.numsub(channels);
    if (channels.every((c) => Number(counts[c]) === want(c))) return counts;
    if (Date.now() > end) {
      const bad = channels.filter((c) => Number(counts[c]) !== want(c)).slice(0, 5);
      throw new Error(
        `PUBSUB NUMSUB never reached the expected counts; e.g. ${bad
          .map((c) => `${c}=${counts[c]} (want ${want(c)})`)
          .join(", ")}`,
      );
    }
    await sleep(20);
  }
}

// GET /readyz status, or 0 when the server does not answer.
export async function readyz(server) {
  try {
    const res = await fetch(`${server.url}/readyz`, { signal: AbortSignal.timeout(2000) });
    await res.text();
    return res.status;
  } catch {
    return 0;
  }
}

// Polls /readyz until it answers `status`; returns the elapsed ms, throws after `ms`.
export async function waitReadyz(server, status = 200, ms = SETTLE_MS) {
  const t0 = Date.now();
  for (;;) {
    const s = await readyz(server);
    if (s === status) return Date.now() - t0;
    if (Date.now() - t0 > ms)
      throw new Error(`/readyz never answered ${status} (last ${s}) within ${ms} ms:\n${server.log()}`);
    await sleep(25);
  }
}

// Polls `pred` (sync or async) until true; throws `what` after `ms`.
export async function waitFor(pred, ms = SETTLE_MS, what = "condition") {
  const end = Date.now() + ms;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

// Starts a switchboard instance on the Redis bus and waits until /readyz says the bus is live.
export async function startInstance(redisUrl, { args = [], waitReady = true, ...opts } = {}) {
  const server = await startServer({ ...opts, args: ["--redis", redisUrl, ...args] });
  if (waitReady) {
    try {
      await waitReadyz(server, 200);
    } catch (e) {
      await server.stop("SIGKILL");
      throw e;
    }
  }
  return server;
}

// Sends `to_user` {user, event: "tick", data: n} from socket.io client `sender` every `everyMs`
// (n = 1, 2, …, at most `max`), until stop() resolves. `sent` is the last n sent.
export function tickToUser(sender, user, { everyMs = 20, max = Infinity } = {}) {
  let sent = 0;
  let on = true;
  const loop = (async () => {
    while (on && sent < max) {
      sender.emit("to_user", { user, event: "tick", data: ++sent });
      await sleep(everyMs);
    }
  })();
  return {
    get sent() {
      return sent;
    },
    async stop() {
      on = false;
      await loop;
    },
  };
}

// Stops every server of `servers` (each checked for a clean exit) even if some fail; throws
// the first failure afterwards.
export async function stopAll(t, servers) {
  let first = null;
  for (const s of servers) {
    if (!s) continue;
    try {
      await stopClean(t, s);
    } catch (e) {
      first = first || e;
    }
  }
  if (first) throw first;
}

// Sum of every sample of a metric family whose name is `name` (with or without labels).
export async function metricSum(server, name) {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    const key = line.slice(0, i);
    if (key === name || key.startsWith(name + "{")) sum += Number(line.slice(i + 1));
  }
  return sum;
}
export { metric };

// Starts the Node socket.io 4 peer (peers/socketio-peer.mjs) with @socket.io/redis-adapter on
// `redisUrl`. opts: {key, requestsTimeout, publishOnSpecificResponseChannel, namespaces}.
// Returns {port, url, pid, call(cmd, args), serverSideEvents, waitEvent(pred), stop()}.
export async function startNodePeer(redisUrl, opts = {}) {
  const proc = spawn(process.execPath, [PEER, JSON.stringify({ redisUrl, ...opts })], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "pipe"],
  });
  children.add(proc);
  const exited = new Promise((resolve) =>
    proc.on("exit", (code, signal) => {
      children.delete(proc);
      resolve({ code, signal });
    }),
  );
  let log = "";
  proc.stderr.on("data", (d) => (log += d));
  const pending = new Map();
  const serverSideEvents = [];
  let nextId = 1;
  let onReady;
  const ready = new Promise((resolve, reject) => {
    onReady = resolve;
    exited.then(({ code, signal }) =>
      reject(new Error(`node peer exited (${code ?? signal}) before it was ready:\n${log}`)),
    );
  });
  readline.createInterface({ input: proc.stdout }).on("line", (line) => {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      log += line + "\n";
      return;
    }
    if (msg.type === "ready") onReady(msg);
    else if (msg.type === "sse") serverSideEvents.push(msg);
    else if (msg.type === "reply") {
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      if (msg.error) p.reject(new Error(`peer ${p.cmd}: ${msg.error}`));
      else p.resolve(msg.result);
    }
  });
  exited.then(() => {
    for (const p of pending.values()) p.reject(new Error(`node peer exited:\n${log}`));
    pending.clear();
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20000);
  let info;
  try {
    info = await ready;
  } finally {
    clearTimeout(timer);
  }
  const peer = {
    port: info.port,
    uid: info.uid,
    url: `http://127.0.0.1:${info.port}`,
    pid: proc.pid,
    log: () => log,
    serverSideEvents,
    // Sends one command; resolves with its result (rejects on error or after `ms`).
    call(cmd, args = {}, ms = 15000) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`peer ${cmd}: no reply within ${ms} ms`));
        }, ms);
        pending.set(id, {
          cmd,
          resolve: (v) => (clearTimeout(t), resolve(v)),
          reject: (e) => (clearTimeout(t), reject(e)),
        });
        proc.stdin.write(JSON.stringify({ id, cmd, ...args }) + "\n");
      });
    },
    // Waits for a server-side event received by the peer that matches `pred`.
    async waitEvent(pred, ms = SETTLE_MS) {
      await waitFor(() => serverSideEvents.some(pred), ms, "a server-side event on the node peer");
      return serverSideEvents.find(pred);
    },
    async stop() {
      if (!alive(proc)) return exited;
      try {
        process.kill(proc.pid, "SIGTERM");
      } catch {}
      return waitExit(proc, exited, 5000);
    },
  };
  return peer;
}
