// Patterns under the time limit (tests/integration/gateways/gateway_patterns/): a handler whose
// string.find, match, gmatch or gsub backtracks for seconds (("a"):rep(260) with ".-.-.-b")
// is stopped at the time limit like a loop, through each function and s:find(p) alike, even
// under pcall; meanwhile another gateway's clients and /healthz are answered at once. A
// gateway file whose loading does it is refused at its load deadline. Well-behaved patterns
// keep LuaJIT's answers.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  GATEWAYS,
  SANITIZED,
  freePort,
  connected,
  metric,
  once,
  sio,
  sleep,
  startServer,
  stopClean,
} from "./helpers.mjs";
import { runBinary } from "./wire.mjs";


const FIXTURES = path.join(GATEWAYS, "gateway_patterns");
const SLOW = SANITIZED ? 3 : 1; // the ASan build is 2-3 times slower
const LIMIT = 200; // --lua-time-limit, ms
// How late an answer may be while a bad handler runs: it holds the loop for at most LIMIT,
// plus scheduling and network slack (generous: the machines are shared). LuaJIT's own
// string.find takes over a second on 260 bytes and ~7 s on 400 (the work grows as n^4),
// uninterrupted, so the bound still tells the two apart by a wide margin.
const BOUND = LIMIT + 1500 * SLOW;
const INTERNAL = { status: "error", message: "Internal server error" };
const SUBJECT = "a".repeat(400);
const PATTERN = ".-.-.-b";

const open = [];
async function client(server, nsp = "/") {
  const s = sio(server, {}, nsp);
  open.push(s);
  return connected(s);
}
const ack = (s, event, ...args) => s.timeout(5000 * SLOW).emitWithAck(event, ...args);

// Keeps asking `ask()` until `until` settles; returns the latency of every answer.
async function latenciesWhile(until, ask) {
  let done = false;
  until.then(
    () => (done = true),
    () => (done = true),
  );
  const latencies = [];
  while (!done) {
    const t0 = Date.now();
    await ask(latencies.length);
    latencies.push(Date.now() - t0);
  }
  return latencies;
}

describe("a pattern that backtracks is stopped at the time limit, others keep being served", () => {
  let server;
  before(async () => {
    server = await startServer({
      scripts: path.join(FIXTURES, "main"),
      args: ["--lua-time-limit", String(LIMIT)],
    });
  });
  after(async (t) => {
    for (const s of open.splice(0)) s.close();
    await stopClean(t, server);
  });

  for (const [event, what] of [
    ["find", "string.find(s, p)"],
    ["method", "s:find(p), through the string metatable"],
    ["match", "s:match(p)"],
    ["gmatch", "for _ in s:gmatch(p)"],
    ["gsub", "s:gsub(p, function)"],
    ["pcall", "pcall(string.find, s, p)"],
  ]) {
    test(`${what}: 'Internal server error' within the limit; /healthz and pings answered meanwhile`, async () => {
      const bad = await client(server, "/patterns");
      const good = await client(server);
      const timeouts0 = await metric(server, "switchboard_lua_timeouts_total");
      const from = server.log().length;
      assert.equal(await ack(good, "ping", 0), 0); // warm

      const t0 = Date.now();
      const exc = once(bad, "exception", BOUND + 2000 * SLOW);
      bad.emit(event, SUBJECT, PATTERN);
      const badDone = exc.then(([payload]) => [payload, Date.now() - t0]);
      const [pings, health, [payload, elapsed]] = await Promise.all([
        latenciesWhile(badDone, async (n) => assert.equal(await ack(good, "ping", n), n)),
        latenciesWhile(badDone, async () => {
          const signal = AbortSignal.timeout(5000 * SLOW);
          assert.equal((await fetch(`${server.url}/healthz`, { signal })).status, 200);
        }),
        badDone,
      ]);
      assert.deepEqual(payload, INTERNAL);
      assert.ok(elapsed >= LIMIT * 0.9, `stopped after ${elapsed} ms, before the ${LIMIT} ms limit`);
      assert.ok(elapsed <= BOUND, `stopped after ${elapsed} ms (bound ${BOUND})`);
      assert.ok(pings.length >= 1 && health.length >= 1, "nothing else was answered meanwhile");
      const worst = Math.max(...pings, ...health);
      assert.ok(worst <= BOUND, `another client or /healthz waited ${worst} ms (bound ${BOUND})`);

      // Counted and logged as a time limit, and the bad client is still served.
      assert.equal(await metric(server, "switchboard_lua_timeouts_total"), timeouts0 + 1);
      const end = Date.now() + 3000 * SLOW;
      const re = new RegExp(
        `gateway patterns, event '${event}' stopped: it ran for more than ${LIMIT} ms`,
      );
      while (!re.test(server.log().slice(from)) && Date.now() < end) await sleep(10);
      assert.match(server.log().slice(from), re);
      assert.deepEqual((await ack(bad, "answers")).words, ["one", "two", "three"]);
      for (const s of open.splice(0)) s.close();
    });
  }

  test("well-behaved patterns give LuaJIT's answers", async () => {
    const s = await client(server, "/patterns");
    assert.deepEqual(await ack(s, "answers"), {
      words: ["one", "two", "three"],
      k: "key",
      v: "value",
      swapped: "world hello",
      n: 1,
      i: 2,
      j: 8,
      cap: "(a(b)c)",
      plain: [2, 2],
      frontier: "the (quick) fox",
      positions: [2, 3],
      err: "malformed pattern (missing ']')",
    });
    // A long subject that does not backtrack is not stopped.
    assert.equal(await ack(s, "find", "x".repeat(100000) + "b", "x*b"), 1);
    assert.equal(await ack(s, "gmatch", "ab ".repeat(20000), "%a+"), 20000);
    for (const c of open.splice(0)) c.close();
  });
});

describe("a gateway file whose loading backtracks", () => {
  test("at start: refused at the load deadline (10 × 50 ms), naming the file", async () => {
    const t0 = Date.now();
    const dir = path.join(FIXTURES, "load");
    const port = await freePort();
    // LuaJIT's own string.find loads it after seconds: the server would then run on.
    const r = await runBinary(
      ["--listen", `127.0.0.1:${port}`, "--scripts", dir, "--lua-time-limit", "50"],
      { ms: 8000 * SLOW },
    );
    const elapsed = Date.now() - t0;
    assert.equal(r.signal, null, `killed: it hung\n${r.stderr}`);
    assert.notEqual(r.code, 0, r.stderr);
    assert.match(r.stderr, /slow\.lua/);
    assert.match(r.stderr, /loading took more than 500 ms/);
    assert.ok(elapsed >= 450, `gave up after ${elapsed} ms`);
    assert.ok(elapsed <= 500 + 700 * SLOW, `gave up after ${elapsed} ms, not at the deadline`);
  });
});
