// redis.call / redis.pcall from gateway code (tests/integration/gateways/gateway_redis/): every
// reply type, errors raised or returned, refused commands, not configured / not connected,
// the deadline (a SIGSTOPped redis-server), 1000 handlers waiting at once, waiting in hooks,
// ack callbacks and server events, sockets that leave while their handler waits, and handlers
// waiting across a hot reload.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  GATEWAYS,
  SANITIZED,
  connected,
  freePort,
  metric,
  once,
  rawWs,
  sio,
  sleep,
  startServer,
  stopClean,
} from "./helpers.mjs";
import { monitorRedis, redisClient, startInstance, startRedis, stopAll, waitFor } from "./redis.mjs";
import { runBinary } from "./wire.mjs";

const FIXTURES = path.join(GATEWAYS, "gateway_redis");
const MAIN = path.join(FIXTURES, "main");
const SLOW = SANITIZED ? 3 : 1;
const ACK_MS = 5000 * SLOW;
const INTERNAL = { status: "error", message: "Internal server error" };

// Waits until the server's log from offset `from` matches `re` (log lines come through a pipe,
// possibly after the client already got its answer).
async function logMatch(server, from, re, msg) {
  const end = Date.now() + 3000 * SLOW;
  while (!re.test(server.log().slice(from)) && Date.now() < end) await sleep(10);
  assert.match(server.log().slice(from), re, msg);
}

const ack = (s, event, ...args) => s.timeout(ACK_MS).emitWithAck(event, ...args);
// The ack of `event`, or {exception: payload} when the server answers with an exception.
function answer(s, event, ...args) {
  return new Promise((resolve, reject) => {
    const onExc = (e) => resolve({ exception: e });
    s.once("exception", onExc);
    s.timeout(ACK_MS)
      .emitWithAck(event, ...args)
      .then((v) => {
        s.off("exception", onExc);
        resolve(v);
      }, reject);
  });
}

const open = [];
async function client(server, opts = {}) {
  const s = sio(server, opts);
  open.push(s);
  return connected(s);
}
function closeAll() {
  for (const s of open.splice(0)) s.close();
}

let keyN = 0;
const key = (what) => `t:${process.pid}:${what}:${++keyN}`;

const waiting = (server) => metric(server, "switchboard_lua_waiting");
async function waitWaiting(server, n, ms = 10000 * SLOW) {
  await waitFor(async () => (await waiting(server)) === n, ms, `switchboard_lua_waiting = ${n}`);
}

describe("redis.call and redis.pcall", () => {
  let redis, rc, server, server2;
  before(async () => {
    redis = await startRedis();
    rc = await redisClient(redis.url);
    // A long deadline: the tests below freeze Redis on purpose.
    server = await startInstance(redis.url, { scripts: MAIN, args: ["--lua-redis-timeout", "8000"] });
  });
  after(async (t) => {
    closeAll();
    redis?.sigcont();
    try {
      await stopAll(t, [server, server2]);
    } finally {
      await rc?.close();
      await redis?.kill();
    }
  });

  test("every reply type becomes a Lua value", async () => {
    const s = await client(server);
    const k = key("types");
    const call = (...args) => ack(s, "call", ...args);
    assert.deepEqual(await call("SET", k, "hello"), { type: "string", value: "OK", n: null }, "status");
    assert.deepEqual(await call("PING"), { type: "string", value: "PONG", n: null });
    assert.deepEqual(await call("TYPE", k), { type: "string", value: "string", n: null });
    assert.deepEqual(await call("GET", k), { type: "string", value: "hello", n: null }, "bulk");
    assert.deepEqual(await call("GET", k + ":missing"), { type: "nil", value: null, n: null }, "nil");
    assert.deepEqual(await call("INCR", k + ":n"), { type: "number", value: 1, n: null }, "integer");
    assert.deepEqual(await call("DECRBY", k + ":n", 5), { type: "number", value: -4, n: null });
    assert.deepEqual(await call("INCRBY", k + ":big", "9007199254740991"), {
      type: "number",
      value: 9007199254740991,
      n: null,
    });
    assert.deepEqual(await call("EXISTS", k), { type: "number", value: 1, n: null });
    // Arrays, with nil inside as null.
    await call("SET", k + ":b", "B");
    assert.deepEqual(await call("MGET", k, k + ":missing", k + ":b"), {
      type: "table",
      value: ["hello", null, "B"],
      n: 3,
    });
    // Nested arrays (and a nil inside a nested array).
    assert.deepEqual(await call("EVAL", "return {1, {2, {'x', false, 'z'}}, false, 'y'}", 0), {
      type: "table",
      value: [1, [2, ["x", null, "z"]], null, "y"],
      n: 4,
    });
    const id = (await call("XADD", k + ":s", "*", "field", "value")).value;
    assert.match(id, /^\d+-\d+$/);
    assert.deepEqual((await call("XRANGE", k + ":s", "-", "+")).value, [[id, ["field", "value"]]]);
    // XREAD without BLOCK is allowed.
    assert.deepEqual((await call("XREAD", "COUNT", 1, "STREAMS", k + ":s", "0")).value, [
      [k + ":s", [[id, ["field", "value"]]]],
    ]);
    // An empty array is an empty table.
    assert.equal((await call("LRANGE", k + ":none", 0, -1)).n, 0);
    await call("HSET", k + ":h", "a", "1");
    assert.deepEqual((await call("HGETALL", k + ":h")).value, ["a", "1"]);
  });

  test("arguments: strings (binary-safe) and numbers", async () => {
    const s = await client(server);
    const k = key("args");
    const call = (...args) => ack(s, "call", ...args);
    for (const [v, text] of [
      [42, "42"],
      [-7, "-7"],
      [1.5, "1.5"],
      ["a\u0000b", "a\u0000b"],
      ["ünïcødé", "ünïcødé"],
      ["", ""],
    ]) {
      await call("SET", k, v);
      assert.equal((await call("GET", k)).value, text, JSON.stringify(v));
    }
    assert.equal((await call("STRLEN", k)).value, 0);
    await call("SET", k, "a\u0000b");
    assert.equal((await call("STRLEN", k)).value, 3, "the NUL byte reached Redis");
    assert.equal(await rc.get(k), "a\u0000b");
    // Other types are an error before anything is sent.
    // (The messages may carry a "chunk:line:" prefix.)
    const caught = async (...args) => {
      const r = await ack(s, "catch", ...args);
      assert.equal(r.ok, false);
      return r.err;
    };
    assert.match(await caught("SET", k, true), /redis\.call: argument 3 must be a string or a number$/);
    assert.match(await caught("SET", k, { a: 1 }), /redis\.call: argument 3 must be a string or a number$/);
    assert.match(await caught(), /redis\.call: the first argument is the command name$/);
    assert.equal(await rc.get(k), "a\u0000b");
  });

  test("Redis errors: redis.call raises (Internal server error), redis.pcall returns nil, message", async () => {
    const s = await client(server);
    const k = key("errors");
    await rc.set(k, "not a number");
    const errors0 = await metric(server, "switchboard_lua_errors_total");
    const from = server.log().length;
    assert.deepEqual(await answer(s, "raw", "INCR", k), { exception: INTERNAL });
    await logMatch(server, from, /gateway redis, event 'raw' failed: .*ERR value is not an integer/);
    assert.equal(await metric(server, "switchboard_lua_errors_total"), errors0 + 1);

    assert.deepEqual(await ack(s, "catch", "INCR", k), { ok: false, err: "ERR value is not an integer or out of range" });
    assert.deepEqual(await ack(s, "pcall", "INCR", k), {
      value: null,
      err: "ERR value is not an integer or out of range",
    });
    const wrongType = await ack(s, "pcall", "LPUSH", k, "x");
    assert.equal(wrongType.value, null);
    assert.match(wrongType.err, /^WRONGTYPE /);
    assert.match((await ack(s, "pcall", "NO-SUCH-COMMAND")).err, /^ERR unknown command/);
    assert.match((await ack(s, "pcall", "GET")).err, /^ERR wrong number of arguments/);
    // A success through pcall.
    assert.deepEqual(await ack(s, "pcall", "GET", k), { value: "not a number", err: null });
    assert.deepEqual(await ack(s, "pcall", "GET", k + ":missing"), { value: null, err: null });
    // The socket and the connection go on.
    assert.deepEqual(await ack(s, "call", "PING"), { type: "string", value: "PONG", n: null });
  });

  const REFUSED = [
    ["SUBSCRIBE", "ch"],
    ["PSUBSCRIBE", "ch*"],
    ["SSUBSCRIBE", "ch"],
    ["UNSUBSCRIBE"],
    ["MONITOR"],
    ["SELECT", 1],
    ["AUTH", "pw"],
    ["HELLO", 3],
    ["CLIENT", "SETNAME", "x"],
    ["QUIT"],
    ["RESET"],
    ["BLPOP", "l", 1],
    ["brpop", "l", 1],
    ["BRPOPLPUSH", "a", "b", 1],
    ["BLMOVE", "a", "b", "LEFT", "RIGHT", 1],
    ["BLMPOP", 1, 1, "l", "LEFT"],
    ["BZPOPMIN", "z", 1],
    ["BZPOPMAX", "z", 1],
    ["WAIT", 0, 0],
    ["XREAD", "BLOCK", 100, "STREAMS", "s", "$"],
    ["XREADGROUP", "GROUP", "g", "c", "block", 100, "STREAMS", "s", ">"],
    ["SHUTDOWN", "NOSAVE"],
  ];

  test("commands that would block or change the shared connection are refused, never sent", async () => {
    const s = await client(server);
    const mon = await monitorRedis(redis.port);
    try {
      for (const cmd of REFUSED) {
        const r = await ack(s, "catch", ...cmd);
        assert.equal(r.ok, false, cmd.join(" "));
        assert.match(r.err, new RegExp(`'${cmd[0]}' is not allowed from gateways`, "i"), cmd.join(" "));
      }
      // A marker: once it shows in MONITOR, everything sent before it has shown too.
      const marker = key("marker");
      await ack(s, "call", "SET", marker, "1");
      await waitFor(() => mon.commands.some((c) => c[0] === "SET" && c[1] === marker), 5000 * SLOW, "the marker");
      const names = new Set(REFUSED.map((c) => c[0].toUpperCase()));
      const leaked = mon.commands.filter((c) => names.has(c[0]));
      assert.deepEqual(leaked, [], "a refused command reached Redis");
    } finally {
      mon.close();
    }
    assert.equal(await rc.ping(), "PONG", "Redis is still there (SHUTDOWN refused)");
    assert.equal(redis.running, true);
    assert.deepEqual(await ack(s, "call", "PING"), { type: "string", value: "PONG", n: null });
  });

  // docs/lua-api.md: "redis.pcall(cmd, ...): the same, but returns nil, message instead of
  // raising" (and Redis' own redis.pcall returns these errors too).
  test("redis.pcall returns nil, message (does not raise) for a refused command or bad arguments", async () => {
    const s = await client(server);
    for (const args of [["SUBSCRIBE", "ch"], ["BLPOP", "l", 1], ["SET", "k", true], []]) {
      const got = await answer(s, "pcall", ...args);
      assert.equal(got.exception, undefined, `redis.pcall(${args.join(", ")}) raised instead of returning`);
      assert.equal(got.value, null);
      assert.equal(typeof got.err, "string");
    }
  });

  // MULTI is not on the refused list, yet it turns the one shared connection into a
  // transaction: every other handler's command is then queued instead of executed.
  test("one handler's MULTI does not hijack the shared connection for the others", async () => {
    const a = await client(server);
    const b = await client(server);
    const k = key("multi");
    await rc.set(k, "value");
    const multi = await answer(a, "raw", "MULTI");
    try {
      const got = await ack(b, "call", "GET", k);
      assert.deepEqual(got, { type: "string", value: "value", n: null }, `after another handler's MULTI (which answered ${JSON.stringify(multi)})`);
    } finally {
      if (multi === "OK") await answer(a, "raw", "DISCARD");
    }
  });

  test("waiting does not count against the time limit", async () => {
    const s = await client(server);
    const timeouts0 = await metric(server, "switchboard_lua_timeouts_total");
    redis.sigstop();
    let result;
    try {
      result = ack(s, "waits", 3);
      await waitWaiting(server, 1);
      await sleep(400); // four times the default time limit
    } finally {
      redis.sigcont();
    }
    assert.equal(await result, 3);
    assert.equal(await metric(server, "switchboard_lua_timeouts_total"), timeouts0);
  });

  test("a handler that waits and then returns nothing still acks: no argument, or null for nil", async () => {
    const s = await client(server);
    const k = key("incr_nothing");
    const args = (event) =>
      new Promise((resolve) => s.timeout(ACK_MS).emit(event, k, (...res) => resolve(res)));
    // The timeout's callback gets the error first: null, then the ack's arguments.
    assert.deepEqual(await args("incr_nothing"), [null]);
    assert.deepEqual(await args("incr_nil"), [null, null]);
    assert.equal(await rc.get(k), "2", "both handlers ran to their end");
  });

  test("several waits in one handler, in order", async () => {
    const s = await client(server);
    const k = key("incr_n");
    assert.deepEqual(await ack(s, "incr_n", k, 5), [1, 2, 3, 4, 5]);
    assert.deepEqual(await ack(s, "incr_n", k, 2), [6, 7]);
  });

  test("1000 handlers waiting at once (25 clients × 40), all answered; switchboard_lua_waiting back to 0", async () => {
    const clients = await Promise.all(Array.from({ length: 25 }, () => client(server)));
    const k = key("thousand");
    assert.equal(await waiting(server), 0);
    const t0 = Date.now();
    redis.sigstop();
    let acks;
    try {
      acks = clients.flatMap((s) => Array.from({ length: 40 }, () => ack(s, "incr", k)));
      // All of them are suspended at the same time.
      await waitWaiting(server, 1000);
      // The server serves others meanwhile.
      assert.equal(await ack(clients[0], "ping", "meanwhile"), "meanwhile");
    } finally {
      redis.sigcont();
    }
    const values = await Promise.all(acks);
    assert.deepEqual(
      [...values].sort((x, y) => x - y),
      Array.from({ length: 1000 }, (_, i) => i + 1),
      "each INCR answered its own handler",
    );
    await waitWaiting(server, 0);
    // And again, Redis not frozen: concurrent as they come.
    const more = await Promise.all(clients.flatMap((s) => Array.from({ length: 40 }, () => ack(s, "incr", k))));
    assert.deepEqual(
      [...more].sort((x, y) => x - y),
      Array.from({ length: 1000 }, (_, i) => i + 1001),
    );
    assert.equal(await rc.get(k), "2000");
    await waitWaiting(server, 0);
    console.log(`# 2000 redis.call handlers in ${Date.now() - t0} ms`);
    closeAll();
  });

  test("on_connect may wait (and refuse after waiting)", async () => {
    const k = key("connects");
    const s1 = sio(server, { query: { wait: k } });
    open.push(s1);
    const hello1 = once(s1, "connected_after_wait");
    await connected(s1);
    assert.deepEqual(await hello1, [1]);
    assert.equal(await ack(s1, "data_n"), 1);
    const s2 = sio(server, { query: { wait: k } });
    open.push(s2);
    const hello2 = once(s2, "connected_after_wait");
    await connected(s2);
    assert.deepEqual(await hello2, [2]);

    const bad = sio(server, { query: { wait: k, fail: "1" } });
    open.push(bad);
    const exc = once(bad, "exception");
    const gone = once(bad, "disconnect");
    assert.deepEqual((await exc)[0], { status: "error", message: "refused after waiting 3" });
    assert.equal((await gone)[0], "io server disconnect");
    closeAll();
  });

  test("on_disconnect may wait: what it writes after waiting reaches Redis", async () => {
    const k = key("gone");
    const s = await client(server, { query: { track: k } });
    const id = s.id;
    s.close();
    await waitFor(async () => (await rc.lLen(k)) === 3, 5000 * SLOW, "the on_disconnect hook's RPUSH");
    assert.deepEqual(await rc.lRange(k, 0, -1), [id, "client namespace disconnect", "false"]);
    // A plain WebSocket client too.
    const k2 = key("gone-ws");
    const ws = rawWs(`${server.wsUrl}/?track=${k2}`);
    await ws.opened();
    ws.close();
    await waitFor(async () => (await rc.lLen(k2)) === 3, 5000 * SLOW, "the on_disconnect hook's RPUSH (json)");
    const [, reason, conn] = await rc.lRange(k2, 0, -1);
    assert.equal(reason, "transport close");
    assert.equal(conn, "false");
  });

  test("an ack callback may wait", async () => {
    const s = await client(server);
    const k = key("question");
    s.on("question", (q, cb) => cb(q === k ? 5 : -1));
    const answered = once(s, "answered");
    assert.equal(await ack(s, "question", k), true);
    assert.deepEqual(await answered, [5]);
    const again = once(s, "answered");
    await ack(s, "question", k);
    assert.deepEqual(await again, [10]);
    closeAll();
  });

  test("a server_events handler and a server_emit callback may wait", async () => {
    server2 ??= await startInstance(redis.url, { scripts: MAIN, args: ["--lua-redis-timeout", "8000"] });
    const s = await client(server);
    const k = key("server-event");
    // server_emit needs the other server to be subscribed: retry until it answers.
    let got;
    await waitFor(
      async () => {
        const answers = once(s, "answers", 6000 * SLOW);
        await ack(s, "ask", k);
        got = await answers;
        return Array.isArray(got[1]) && got[1].length === 1;
      },
      20000 * SLOW,
      "an answer from the other server",
    );
    const [err, answers, calls] = got;
    assert.equal(err, null);
    assert.equal(answers[0], Number(await rc.get(k)), "the other server answered with its INCR");
    assert.equal(calls, Number(await rc.get(k + ":callbacks")));
    closeAll();
  });

  test("a socket that disconnects while its handler waits: the handler finishes, replies dropped", async () => {
    const other = await client(server);
    const k = key("linger");
    const s = await client(server);
    let late = 0;
    s.on("late", () => late++);
    redis.sigstop();
    try {
      s.emit("linger", k, () => assert.fail("an ack reached a closed socket"));
      await waitWaiting(server, 1);
      s.close();
      // The server notices the socket is gone while the handler still waits.
      await sleep(200 * SLOW);
      assert.equal(await ack(other, "ping", 1), 1);
    } finally {
      redis.sigcont();
    }
    await waitFor(async () => (await rc.get(`${k}:emit`)) !== null, 5000 * SLOW, "the handler's end");
    assert.equal(await rc.get(k), "1");
    assert.equal(await rc.get(`${k}:connected`), "false", "socket.connected after the socket left");
    assert.equal(await rc.get(`${k}:emit`), "false", "socket:emit on a socket that left");
    assert.equal(late, 0);
    await waitWaiting(server, 0);

    // The same with a plain WebSocket client.
    const k2 = key("linger-ws");
    const ws = rawWs(`${server.wsUrl}/`);
    await ws.opened();
    redis.sigstop();
    try {
      ws.send(JSON.stringify({ event: "linger", data: k2 }));
      await waitWaiting(server, 1);
      ws.terminate();
      await sleep(200 * SLOW);
    } finally {
      redis.sigcont();
    }
    await waitFor(async () => (await rc.get(`${k2}:emit`)) !== null, 5000 * SLOW, "the handler's end (json)");
    assert.equal(await rc.get(`${k2}:connected`), "false");
    await waitWaiting(server, 0);
    assert.equal(await ack(other, "ping", 2), 2);
    closeAll();
  });

  test("a server stopped while handlers wait exits cleanly", async () => {
    const s3 = await startInstance(redis.url, { scripts: MAIN, args: ["--lua-redis-timeout", "8000"] });
    try {
      const s = await client(s3);
      redis.sigstop();
      try {
        s.emit("linger", key("stop"));
        s.emit("waits", 2);
        await waitWaiting(s3, 2);
        const t0 = Date.now();
        const { code, signal } = await s3.stop("SIGTERM", 10000 * SLOW);
        assert.equal(code, 0, `exit ${code ?? signal}\n${s3.log()}`);
        assert.ok(Date.now() - t0 < 5000 * SLOW, `stopping took ${Date.now() - t0} ms`);
      } finally {
        redis.sigcont();
      }
    } finally {
      await s3.stop("SIGKILL");
      closeAll();
    }
  });
});

describe("the deadline: a frozen Redis (--lua-redis-timeout 300)", () => {
  let redis, rc, server;
  before(async () => {
    redis = await startRedis();
    rc = await redisClient(redis.url);
    server = await startInstance(redis.url, { scripts: MAIN, args: ["--lua-redis-timeout", "300"] });
  });
  after(async (t) => {
    closeAll();
    redis?.sigcont();
    try {
      await stopAll(t, [server]);
    } finally {
      await rc?.close();
      await redis?.kill();
    }
  });

  test("redis.call raises 'redis command timed out' after 300 ms, pcall returns it; late replies go nowhere", async () => {
    const s = await client(server);
    const other = await client(server);
    await rc.set("late:a", "A");
    await rc.set("late:b", "B");
    const ids = Array.from({ length: 20 }, (_, i) => `late:${i}`);
    for (const id of ids) await rc.set(id, `value of ${id}`);
    redis.sigstop();
    let caught, returned, raised, elapsed;
    try {
      const t0 = Date.now();
      const results = [ack(s, "catch", "GET", "late:a"), ack(s, "pcall", "GET", "late:a"), answer(s, "raw", "GET", "late:a")];
      // Other clients are served meanwhile.
      const p0 = Date.now();
      assert.equal(await ack(other, "ping", 1), 1);
      assert.ok(Date.now() - p0 < 250 * SLOW, "a ping waited for Redis");
      [caught, returned, raised] = await Promise.all(results);
      elapsed = Date.now() - t0;
    } finally {
      redis.sigcont();
    }
    assert.deepEqual(caught, { ok: false, err: "redis command timed out" });
    assert.deepEqual(returned, { value: null, err: "redis command timed out" });
    assert.deepEqual(raised, { exception: INTERNAL });
    assert.ok(elapsed >= 280, `timed out after ${elapsed} ms`);
    assert.ok(elapsed <= 300 + 700 * SLOW, `timed out after ${elapsed} ms`);
    // The late replies to the timed-out GETs must not answer the next commands.
    assert.deepEqual(await ack(s, "call", "GET", "late:b"), { type: "string", value: "B", n: null });
    const got = await Promise.all(ids.map((id) => ack(s, "call", "GET", id)));
    assert.deepEqual(
      got.map((g) => g.value),
      ids.map((id) => `value of ${id}`),
    );
    await waitWaiting(server, 0);
  });
});

describe("without a working Redis", () => {
  test("without --redis: 'redis is not configured (start with --redis)'", async (t) => {
    const server = await startServer({ scripts: MAIN });
    try {
      const s = await client(server);
      assert.deepEqual(await ack(s, "pcall", "PING"), {
        value: null,
        err: "redis is not configured (start with --redis)",
      });
      const caught = await ack(s, "catch", "PING");
      assert.equal(caught.ok, false);
      assert.match(caught.err, /redis\.call: redis is not configured \(start with --redis\)$/);
      const from = server.log().length;
      assert.deepEqual(await answer(s, "raw", "PING"), { exception: INTERNAL });
      await logMatch(server, from, /event 'raw' failed: .*redis is not configured \(start with --redis\)/);
      assert.equal(await metric(server, "switchboard_lua_waiting"), 0);
    } finally {
      closeAll();
      await stopClean(t, server);
    }
  });

  test("--redis not reachable yet: 'redis is not connected', then it works once Redis is up", async (t) => {
    const port = await freePort();
    const server = await startInstance(`redis://127.0.0.1:${port}`, { scripts: MAIN, waitReady: false });
    let redis;
    try {
      const s = await client(server);
      assert.deepEqual(await ack(s, "pcall", "PING"), { value: null, err: "redis is not connected" });
      const caught = await ack(s, "catch", "PING");
      assert.equal(caught.ok, false);
      assert.match(caught.err, /redis\.call: redis is not connected$/);
      redis = await startRedis({ port });
      let last;
      await waitFor(
        async () => (last = await ack(s, "pcall", "PING")).value === "PONG",
        20000 * SLOW,
        "redis.pcall to work once Redis is up",
      );
      assert.deepEqual(last, { value: "PONG", err: null });
    } finally {
      closeAll();
      try {
        await stopClean(t, server);
      } finally {
        await redis?.kill();
      }
    }
  });

  test("redis.call while a gateway file loads: the file fails to load, naming the reason", async () => {
    const redis = await startRedis();
    try {
      const r = await runBinary(
        ["--listen", `127.0.0.1:${await freePort()}`, "--scripts", path.join(FIXTURES, "loadcall"), "--redis", redis.url],
        { ms: 15000 * SLOW },
      );
      assert.equal(r.signal, null, `killed: it started a server\n${r.stderr}`);
      assert.notEqual(r.code, 0, r.stderr);
      assert.match(r.stderr, /loadcall\.lua/);
      assert.match(r.stderr, /only be used inside a handler/);
    } finally {
      await redis.kill();
    }
  });
});

describe("handlers waiting across a hot reload", () => {
  let redis, dir;
  const servers = [];
  const SRC = fs.readFileSync(path.join(FIXTURES, "reload/rl.lua"), "utf8");
  const source = (v) => SRC.replace(/^local VERSION = 1$/m, `local VERSION = ${v}`);
  const save = (text) => {
    const file = path.join(dir, "rl.lua");
    fs.writeFileSync(file + ".tmp", text);
    fs.renameSync(file + ".tmp", file);
  };
  const loadsOk = (server) => metric(server, 'switchboard_gateway_loads_total{gateway="rl",result="ok"}');

  before(async () => {
    redis = await startRedis();
  });
  async function start() {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-gw-redis-"));
    fs.copyFileSync(path.join(FIXTURES, "reload/rl.lua"), path.join(dir, "rl.lua"));
    const server = await startInstance(redis.url, {
      scripts: dir,
      args: ["--lua-redis-timeout", "8000", "--lua-time-limit", "200"],
    });
    servers.push({ server, dir });
    return server;
  }
  after(async () => {
    closeAll();
    redis?.sigcont();
    for (const { server, dir } of servers) {
      await server.stop("SIGTERM", 3000);
      fs.rmSync(dir, { recursive: true, force: true });
    }
    await redis?.kill();
  });

  test("a handler that waited finishes with the code it started with; the next one runs the new code", async (t) => {
    const server = await start();
    const s = await client(server);
    assert.equal(await ack(s, "v"), 1);
    redis.sigstop();
    let slow;
    try {
      slow = ack(s, "slow");
      await waitWaiting(server, 1);
      save(source(2));
      await waitFor(async () => (await ack(s, "v")) === 2, 5000 * SLOW, "version 2");
    } finally {
      redis.sigcont();
    }
    assert.deepEqual(await slow, { v: 1, pong: "PONG" });
    assert.deepEqual(await ack(s, "slow"), { v: 2, pong: "PONG" });
    closeAll();
    await stopClean(t, server);
  });

  // The time limit's hook must still be there when a run resumes after a reload.
  test("a handler resumed after a reload is still stopped by the time limit", async (t) => {
    const server = await start();
    const s = await client(server);
    const timeouts0 = await metric(server, "switchboard_lua_timeouts_total");
    redis.sigstop();
    let exc;
    try {
      exc = once(s, "exception", 200 + 5000 * SLOW);
      s.emit("spin_after_wait");
      await waitWaiting(server, 1);
      save(source(3));
      await waitFor(async () => (await loadsOk(server)) === 2, 5000 * SLOW, "the reload");
    } finally {
      redis.sigcont();
    }
    let payload;
    try {
      [payload] = await exc;
    } catch {
      const healthy = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.status,
        (e) => e.message,
      );
      assert.fail(`the resumed handler was never stopped (/healthz now: ${healthy}; the loop is still spinning)`);
    }
    assert.deepEqual(payload, INTERNAL);
    assert.equal(await metric(server, "switchboard_lua_timeouts_total"), timeouts0 + 1);
    assert.equal(await ack(s, "v"), 3);
    closeAll();
    await stopClean(t, server);
  });

  // "A timer belongs to that gateway: reloading or removing the file stops it."
  test("a timer started by a version that was reloaded while it waited does not keep running", async (t) => {
    const server = await start();
    const s = await client(server);
    const ticks = [];
    s.on("tick", (v) => ticks.push(v));
    redis.sigstop();
    let started;
    try {
      started = ack(s, "timer_after_wait");
      await waitWaiting(server, 1);
      save(source(4));
      await waitFor(async () => (await loadsOk(server)) === 2, 5000 * SLOW, "the reload");
    } finally {
      redis.sigcont();
    }
    assert.equal(await started, 1);
    await sleep(300 * SLOW);
    const crashed = () => server.proc.signalCode ?? (server.proc.exitCode !== null ? `exit ${server.proc.exitCode}` : null);
    assert.equal(crashed(), null, `the server died when the old version's timer fired:\n${server.log()}`);
    const seen = ticks.length;
    await sleep(300 * SLOW);
    assert.equal(crashed(), null, `the server died when the old version's timer fired:\n${server.log()}`);
    assert.equal(ticks.length, seen, `the old version's timer still ticks (${ticks.length} ticks: ${ticks.slice(0, 5)})`);
    assert.equal(await ack(s, "v"), 4);
    closeAll();
    await stopClean(t, server);
  });
});
