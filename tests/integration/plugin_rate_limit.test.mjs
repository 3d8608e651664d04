// The rate-limit plugin loaded by a real server and driven by real clients
// (tests/integration/gateways/plugin_rate_limit/: every event answers "ok" {event, n}):
// per-socket and per-user buckets, per-event and overall rules, the exception / disconnect /
// drop actions, refill over time, a per-gateway and a global (--interceptor) interceptor, and
// CONFIG errors refusing the start.
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import {
  GATEWAYS,
  connected,
  freePort,
  metric,
  once,
  rawWs,
  record,
  sio,
  sleep,
  startServer,
  stopClean,
} from "./helpers.mjs";
import { runBinary } from "./wire.mjs";

const DIR = path.join(GATEWAYS, "plugin_rate_limit");
const LIMITED = path.join(DIR, "limited"); // interceptors = { "rate-limit" }
const GLOBAL = path.join(DIR, "global"); // no interceptors: rate-limit via --interceptor
const STATIC = `auth-static=${path.join(DIR, "tokens.txt")}`; // alice, bob, carol (-token)
const LIMIT_MSG = { status: "error", message: "rate limit exceeded" };

// Starts a server with rate-limit=CONFIG, runs fn(server, client), then closes every client and
// stops the server, asserting a clean exit (no leak under ASan).
async function withServer(config, fn, { scripts = LIMITED, plugins = [], args = [] } = {}) {
  const all = [`rate-limit=${config}`, ...plugins];
  const server = await startServer({ scripts, plugins: all, args });
  const open = [];
  const client = async (opts = {}) => {
    const s = sio(server, opts);
    open.push(s);
    s.oks = record(s, "ok");
    s.errors = record(s, "exception");
    return connected(s);
  };
  try {
    await fn(server, client);
  } finally {
    for (const s of open) s.close();
    await stopClean(null, server);
  }
}

async function waitFor(pred, what, ms = 5000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timeout waiting for ${what}`);
    await sleep(5);
  }
}

// Emits `event` n times at once and waits until each got its reply or an exception. Resolves
// with {ok: the values of the "ok" replies to `event`, errors: the exception payloads}.
async function burst(socket, event, n) {
  const ok0 = socket.oks.length;
  const err0 = socket.errors.length;
  const oks = () => socket.oks.slice(ok0).filter((d) => d.event === event);
  for (let i = 0; i < n; i++) socket.emit(event, i);
  await waitFor(
    () => oks().length + socket.errors.length - err0 >= n,
    `${n} answers to '${event}'`,
  );
  return { ok: oks().map((d) => d.n), errors: socket.errors.slice(err0) };
}

test("per socket, overall: the burst passes, the rest gets 'rate limit exceeded'", async () => {
  await withServer("rate=1/m,burst=5", async (server, client) => {
    const s1 = await client();
    const s2 = await client();
    const r = await burst(s1, "a", 8);
    assert.deepEqual(r.ok, [0, 1, 2, 3, 4]);
    assert.deepEqual(r.errors, [LIMIT_MSG, LIMIT_MSG, LIMIT_MSG]);
    // Every event counts, whatever its name: "b" finds the bucket empty too.
    assert.deepEqual((await burst(s1, "b", 1)).errors, [LIMIT_MSG]);
    // Another socket has its own bucket.
    assert.equal((await burst(s2, "a", 5)).ok.length, 5);
    assert.ok(s1.connected, "the exception action keeps the socket");
  });
});

test("refill over time: tokens come back at the configured rate, up to the burst", async () => {
  await withServer("rate=5/s,burst=2", async (server, client) => {
    const s = await client();
    const first = await burst(s, "a", 4);
    assert.equal(first.ok.length, 2);
    assert.equal(first.errors.length, 2);
    // 450 ms earn 2.25 tokens at 5/s, but the bucket holds 2.
    await sleep(450);
    const second = await burst(s, "a", 3);
    assert.equal(second.ok.length, 2);
    assert.equal(second.errors.length, 1);
  });
});

test("per event: each name has its own bucket; a second, overall rule caps the sum", async () => {
  await withServer("rate=1/m,burst=3,per=event", async (server, client) => {
    const s = await client();
    assert.deepEqual((await burst(s, "a", 4)).ok, [0, 1, 2]);
    assert.deepEqual((await burst(s, "b", 3)).ok, [0, 1, 2]);
  });
  const two = "rate=1/m,burst=3,per=event;rate=1/m,burst=5,message=too much";
  await withServer(two, async (server, client) => {
    const s = await client();
    assert.equal((await burst(s, "a", 3)).ok.length, 3);
    const r = await burst(s, "b", 3);
    assert.equal(r.ok.length, 2);
    assert.deepEqual(r.errors, [{ status: "error", message: "too much" }]);
  });
});

test("per user: a user's sockets share a bucket; others and guests are unaffected", async () => {
  await withServer(
    "rate=1/m,burst=4,scope=user",
    async (server, client) => {
      const alice1 = await client({ auth: { token: "alice-token" } });
      const alice2 = await client({ auth: { token: "alice-token" } });
      const bob = await client({ auth: { token: "bob-token" } });
      const guest = await client();
      assert.equal((await burst(alice1, "a", 3)).ok.length, 3);
      const r = await burst(alice2, "a", 3);
      assert.equal(r.ok.length, 1);
      assert.deepEqual(r.errors, [LIMIT_MSG, LIMIT_MSG]);
      assert.equal((await burst(alice1, "a", 1)).errors.length, 1);
      // A third user, and an anonymous socket (limited on its own), are unaffected.
      assert.equal((await burst(bob, "a", 4)).ok.length, 4);
      assert.equal((await burst(guest, "a", 4)).ok.length, 4);

      // alice leaving with an empty bucket and coming straight back gains nothing.
      alice1.close();
      alice2.close();
      // Wait until the server saw both leave (bob and the guest remain).
      const end = Date.now() + 5000;
      const sockets = () => metric(server, "switchboard_sockets");
      while ((await sockets()) !== 2 && Date.now() < end) await sleep(10);
      assert.equal(await sockets(), 2);
      const alice3 = await client({ auth: { token: "alice-token" } });
      assert.deepEqual((await burst(alice3, "a", 1)).errors, [LIMIT_MSG]);
    },
    { plugins: [STATIC] },
  );
});

test("action=disconnect: the client gets the exception, then is disconnected", async () => {
  await withServer("rate=1/m,burst=2,action=disconnect", async (server, client) => {
    const s = await client();
    const other = await client();
    const gone = once(s, "disconnect");
    const r = await burst(s, "a", 3);
    assert.deepEqual(r.ok, [0, 1]);
    assert.deepEqual(r.errors, [LIMIT_MSG]);
    const [reason] = await gone;
    assert.ok(["io server disconnect", "transport close"].includes(reason), reason);
    assert.equal(s.connected, false);
    // Nobody else is affected.
    assert.equal((await burst(other, "a", 2)).ok.length, 2);

    // A plain JSON WebSocket client is closed with 1000.
    const ws = rawWs(`${server.wsUrl}/`);
    try {
      await ws.opened();
      for (let i = 0; i < 3; i++) ws.send(JSON.stringify({ event: "a", data: i }));
      assert.deepEqual(JSON.parse(await ws.next()), { event: "ok", data: { event: "a", n: 0 } });
      assert.deepEqual(JSON.parse(await ws.next()), { event: "ok", data: { event: "a", n: 1 } });
      assert.deepEqual(JSON.parse(await ws.next()), { event: "exception", data: LIMIT_MSG });
      assert.equal((await ws.closed()).code, 1000);
    } finally {
      ws.close();
    }
  });
});

test("action=drop with events=: the limited event vanishes silently, others pass", async () => {
  await withServer("rate=1/m,burst=2,action=drop,events=a", async (server, client) => {
    const s = await client();
    for (let i = 0; i < 5; i++) s.emit("a", i);
    // "b" is not limited; events of one socket are handled in order, so once its reply is
    // here every "a" before it was handled or dropped.
    assert.deepEqual((await burst(s, "b", 3)).ok, [0, 1, 2]);
    await sleep(50);
    assert.deepEqual(
      s.oks.filter((d) => d.event === "a").map((d) => d.n),
      [0, 1],
    );
    assert.deepEqual(s.errors, [], "drop sends no exception");
    assert.ok(s.connected);
  });
});

test("global (--interceptor rate-limit): also counts events without a handler", async () => {
  await withServer(
    "rate=1/m,burst=3",
    async (server, client) => {
      const s = await client();
      assert.equal((await burst(s, "a", 2)).ok.length, 2);
      // The third token goes to an event nobody handles; the fourth event finds none left.
      const r = await burst(s, "nohandler", 2);
      assert.deepEqual(r.errors, [
        { status: "error", message: "no handler for event 'nohandler'" },
        LIMIT_MSG,
      ]);
      assert.deepEqual((await burst(s, "a", 1)).errors, [LIMIT_MSG]);
    },
    { scripts: GLOBAL, args: ["--interceptor", "rate-limit"] },
  );
});

test("listed by a gateway only: events without a handler are not counted", async () => {
  await withServer("rate=1/m,burst=1", async (server, client) => {
    const s = await client();
    const r = await burst(s, "nohandler", 3);
    assert.deepEqual(
      r.errors.map((e) => e.message),
      Array(3).fill("no handler for event 'nohandler'"),
    );
    assert.equal((await burst(s, "a", 2)).ok.length, 1);
  });
});

test("a bad CONFIG stops the start with a one-line reason", async () => {
  const cases = [
    ["", /CONFIG is required/],
    ["burst=3", /rule 1: rate= is required/],
    ["rate=5/s,colour=red", /rule 1: unknown key "colour"/],
    ["rate=5/s;rate=fast", /rule 2: rate must be/],
    ["rate=5/s,action=ban", /rule 1: "action" wants one of exception, disconnect, drop, got "ban"/],
  ];
  for (const [config, re] of cases) {
    const plugin = config ? `rate-limit=${config}` : "rate-limit";
    const r = await runBinary([
      "--listen", `127.0.0.1:${await freePort()}`,
      "--scripts", LIMITED,
      "--plugin", plugin,
    ]);
    assert.equal(r.signal, null, `the server started with '${config}'`);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, re);
    assert.match(r.stderr, /init failed/);
  }
});
