// The checks of `run.sh --check`: the cluster that run.sh started answers as it should.
//   node examples/cluster/check.mjs LB_URL INSTANCE_URL...
// with the API key in CLUSTER_API_KEY and the Redis URL in CLUSTER_REDIS_URL (each check that
// needs one is skipped without it).
// Exits 0 when every check passed, 1 otherwise (after 60 s at most). Needs the npm packages of
// the repository (socket.io-client), which `make build` / tools/install-deps.sh install.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "redis";
import { io } from "socket.io-client";

const HERE = path.dirname(fileURLToPath(import.meta.url));

const [lb, ...instances] = process.argv.slice(2);
const apiKey = process.env.CLUSTER_API_KEY || "";
const redisUrl = process.env.CLUSTER_REDIS_URL || "";
if (!lb || !instances.length) {
  console.error("usage: node check.mjs LB_URL INSTANCE_URL...");
  process.exit(2);
}

const deadline = setTimeout(() => fail("the checks did not finish within 60 s"), 60000);
const sockets = [];

function fail(msg) {
  console.error(`check: FAILED: ${msg}`);
  for (const s of sockets) s.close();
  process.exit(1);
}
const ok = (msg) => console.log(`check: ok: ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function get(url, expect = 200) {
  let res;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  } catch (e) {
    fail(`GET ${url}: ${e.cause?.code || e.message}`);
  }
  const body = await res.text();
  if (res.status !== expect) fail(`GET ${url}: ${res.status} ${body.slice(0, 200)}`);
  return { res, body };
}

// Retries `fn` (which returns true when satisfied) for up to `ms`.
async function eventually(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(100);
  }
  fail(what);
}

// Open Socket.IO connections of one instance, from its own /metrics.
async function sioConnections(url) {
  const { body } = await get(`${url}/metrics`);
  const m = /^switchboard_connections\{protocol="socketio"\} (\d+)$/m.exec(body);
  return m ? Number(m[1]) : 0;
}

// `transports`: WebSocket only (any instance takes it), or undefined for socket.io-client's
// default (polling, then the upgrade: the load balancer must keep the session on one instance).
function connect(token, transports = ["websocket"]) {
  const s = io(lb, {
    transports,
    reconnection: false,
    forceNew: true,
    timeout: 5000,
    auth: { token },
  });
  sockets.push(s);
  return new Promise((resolve) => {
    s.once("connect", () => resolve(s));
    s.once("connect_error", (e) => fail(`Socket.IO handshake through ${lb}: ${e.message}`));
  });
}

// A minimal msgpack encoder for what the emitter format needs: strings, small non-negative
// integers, arrays and maps (msgpack's spec: fixstr/str8/str16, positive fixint, fixarray,
// fixmap).
function pack(v) {
  if (typeof v === "string") {
    const s = Buffer.from(v);
    const n = s.length;
    const head = n < 32 ? [0xa0 | n] : n < 256 ? [0xd9, n] : [0xda, n >> 8, n & 0xff];
    return Buffer.concat([Buffer.from(head), s]);
  }
  if (Number.isInteger(v) && v >= 0 && v < 128) return Buffer.from([v]);
  if (Array.isArray(v) && v.length < 16)
    return Buffer.concat([Buffer.from([0x90 | v.length]), ...v.map(pack)]);
  if (v && typeof v === "object" && Object.keys(v).length < 16) {
    const keys = Object.keys(v);
    const items = keys.flatMap((k) => [pack(k), pack(v[k])]);
    return Buffer.concat([Buffer.from([0x80 | keys.length]), ...items]);
  }
  throw new Error(`pack: unsupported value ${JSON.stringify(v)}`);
}

function collect(socket, event) {
  const got = [];
  socket.on(event, (v) => got.push(v));
  return got;
}

// 1. Every instance is alive and ready (its Redis subscription is live).
for (const url of instances) {
  await get(`${url}/healthz`);
  await eventually(`${url}/readyz never answered 200`, async () => {
    const res = await fetch(`${url}/readyz`).catch(() => null);
    await res?.text();
    return res?.status === 200;
  });
  ok(`${url} healthy and ready`);
}

// 2. Through the load balancer: health, the demo page and the client library.
for (let i = 0; i < instances.length; i++) await get(`${lb}/healthz`);
await get(`${lb}/readyz`);
const page = await get(`${lb}/`);
if (!/socket\.io/.test(page.body)) fail(`${lb}/ is not the demo page`);
await get(`${lb}/vendor/socket.io-client/socket.io.min.js`);
ok(`${lb} serves /healthz, /readyz, the demo page and socket.io-client`);

// 3. Socket.IO through the load balancer: two sockets of one user land on two instances, and
// the seed's events reach the other socket through Redis.
const before = await Promise.all(instances.map(sioConnections));
const a = await connect("alice-token");
const b = await connect("alice-token");
ok(`Socket.IO handshakes through ${lb} (${a.id}, ${b.id})`);
let spread;
await eventually("the two connections never showed up in the instances' /metrics", async () => {
  const now = await Promise.all(instances.map(sioConnections));
  spread = now.map((n, i) => n - before[i]);
  return spread.reduce((x, y) => x + y, 0) === 2;
});
if (Math.max(...spread) !== 1) fail(`both connections went to one instance (${spread})`);
ok(`the two sockets are on two different instances (${spread})`);

const gotA = collect(a, "events");
const gotB = collect(b, "events");
a.emit("events", {});
await eventually(
  `events 1, 2, 3 did not reach both sockets (asker ${gotA}, other instance ${gotB})`,
  () => gotA.length >= 3 && gotB.length >= 3,
);
await sleep(300);
if (JSON.stringify(gotA) !== "[1,2,3]" || JSON.stringify(gotB) !== "[1,2,3]")
  fail(`events: the asker got ${gotA}, the socket on the other instance ${gotB}`);
ok("events 1, 2, 3 reached the asker and, through Redis, alice's socket on another instance");

// 3b. A client with default options: HTTP long-polling through the load balancer, then the
// upgrade to WebSocket, on the instance that holds its session; alice's events reach it.
{
  const c = await connect("alice-token", undefined);
  await eventually(
    "the default-options client never upgraded to WebSocket",
    () => c.io.engine.transport.name === "websocket",
  );
  const gotC = collect(c, "events");
  a.emit("events", {});
  await eventually(`events 1, 2, 3 did not reach the upgraded client (${gotC})`, () => gotC.length >= 3);
  await sleep(300);
  if (JSON.stringify(gotC) !== "[1,2,3]") fail(`events: the upgraded client got ${gotC}`);
  c.close();
  sockets.splice(sockets.indexOf(c), 1);
  ok("a client with default options polled through the load balancer, upgraded, and got events");
}

// 4. POST /api/emit through the load balancer reaches both sockets, wherever they are.
if (apiKey) {
  const newsA = collect(a, "news");
  const newsB = collect(b, "news");
  const res = await fetch(`${lb}/api/emit`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify({ event: "news", data: { from: "check" }, rooms: ["user:alice"] }),
  });
  const body = await res.text();
  if (res.status !== 202) fail(`POST ${lb}/api/emit: ${res.status} ${body}`);
  await eventually(
    `the API's event did not reach both sockets (${newsA.length}, ${newsB.length})`,
    () => newsA.length === 1 && newsB.length === 1,
  );
  ok(`POST /api/emit through ${lb} reached both instances (${body})`);
}

// 5. The stock @socket.io/redis-emitter, straight to Redis (examples/cluster/emitter.mjs).
if (redisUrl) {
  const newsA = collect(a, "news");
  const newsB = collect(b, "news");
  const code = await new Promise((resolve) => {
    const p = spawn(
      process.execPath,
      [path.join(HERE, "emitter.mjs"), redisUrl, "news", '{"via":"emitter"}', "--to", "user:alice"],
      { stdio: "inherit" },
    );
    p.on("close", resolve);
  });
  if (code !== 0) fail(`emitter.mjs exited with ${code}`);
  await eventually(
    `the emitter's event did not reach both sockets (${newsA.length}, ${newsB.length})`,
    () => newsA.length === 1 && newsB.length === 1,
  );
  ok("@socket.io/redis-emitter through Redis reached both instances");
}

// 6. The emitter format written by hand (what the Python and Go snippets of docs/cluster.md
// publish): ["emitter", {type: 2, data: [event, ...args], nsp}, {rooms, flags, except}].
if (redisUrl) {
  const redis = createClient({ url: redisUrl });
  redis.on("error", (e) => fail(`redis: ${e.message}`));
  await redis.connect();
  const rawA = collect(a, "raw");
  const rawB = collect(b, "raw");
  const msg = (data, rooms) =>
    pack(["emitter", { type: 2, data, nsp: "/" }, { rooms, flags: {}, except: [] }]);
  // To everyone, on the namespace channel; then to exactly one room, on that room's channel.
  await redis.publish(Buffer.from("socket.io#/#"), msg(["raw", "to all"], []));
  await redis.publish(
    Buffer.from("socket.io#/#user:alice#"),
    msg(["raw", "to alice", 2], ["user:alice"]),
  );
  await redis.quit();
  await eventually(
    `the hand-made messages did not reach both sockets (${rawA.length}, ${rawB.length})`,
    () => rawA.length === 2 && rawB.length === 2,
  );
  ok("hand-made msgpack messages on socket.io#/# and socket.io#/#user:alice# reached both");
}

for (const s of sockets) s.close();
clearTimeout(deadline);
console.log("check: all passed");
process.exit(0);
