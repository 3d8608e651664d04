// Timers of gateway code (tests/integration/gateways/gateway_timers/): sb.after, sb.every,
// t:cancel(), t:active(), a timer's function emitting and waiting for Redis, the namespace of
// its broadcasts, the cap on timers, and timers of a reloaded or removed gateway stopping.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  GATEWAYS,
  SANITIZED,
  connected,
  metric,
  once,
  record,
  sio,
  sleep,
  startServer,
  stopClean,
} from "./helpers.mjs";
import { redisClient, startInstance, startRedis, stopAll, waitFor } from "./redis.mjs";

const FIXTURES = path.join(GATEWAYS, "gateway_timers");
const SLOW = SANITIZED ? 3 : 1;
const LATE = 300 * SLOW; // how late a timer may fire
const ack = (s, event, ...args) => s.timeout(5000 * SLOW).emitWithAck(event, ...args);

// Waits until the server's log from offset `from` matches `re` (log lines come through a pipe,
// possibly after the client already got its answer).
async function logMatch(server, from, re, msg) {
  const end = Date.now() + 3000 * SLOW;
  while (!re.test(server.log().slice(from)) && Date.now() < end) await sleep(10);
  assert.match(server.log().slice(from), re, msg);
}

const open = [];
async function client(server, opts = {}, nsp = "/") {
  const s = sio(server, opts, nsp);
  open.push(s);
  return connected(s);
}
function closeAll() {
  for (const s of open.splice(0)) s.close();
}

describe("sb.after, sb.every, cancel, active", () => {
  let redis, rc, server;
  before(async () => {
    redis = await startRedis();
    rc = await redisClient(redis.url);
    // A generous time limit: one test creates 100 000 timers in one handler.
    server = await startInstance(redis.url, {
      scripts: path.join(FIXTURES, "main"),
      args: ["--lua-time-limit", "5000"],
    });
  });
  after(async (t) => {
    closeAll();
    try {
      await stopAll(t, [server]);
    } finally {
      await rc?.close();
      await redis?.kill();
    }
  });

  test("sb.after fires once, not before its delay; active() is true until then, false after", async () => {
    const s = await client(server);
    const fired = record(s, "fired");
    const t0 = Date.now();
    assert.equal(await ack(s, "after", 150, "a"), true);
    assert.equal(await ack(s, "active"), true);
    await waitFor(() => fired.length > 0, 150 + LATE + 1000, "the timer");
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 140, `fired after ${elapsed} ms`);
    assert.ok(elapsed <= 150 + LATE, `fired after ${elapsed} ms`);
    assert.deepEqual(fired, ["a"]);
    assert.equal(await ack(s, "active"), false, "a one-shot timer is done once it fired");
    assert.equal(await ack(s, "cancel"), false, "cancelling it then returns false");
    await sleep(200);
    assert.deepEqual(fired, ["a"], "it fired once");
    closeAll();
  });

  test("sb.after(0) fires at once", async () => {
    const s = await client(server);
    const fired = once(s, "fired", 1000 * SLOW);
    await ack(s, "after", 0, "zero");
    assert.deepEqual(await fired, ["zero"]);
    closeAll();
  });

  test("cancel before it fires: cancel() true then false, active() false, nothing fires", async () => {
    const s = await client(server);
    const fired = record(s, "fired");
    assert.deepEqual(await ack(s, "cancel_before", 50), [true, true, false, false]);
    // The same through a kept handle.
    assert.equal(await ack(s, "after", 80, "kept"), true);
    assert.equal(await ack(s, "cancel"), true);
    assert.equal(await ack(s, "active"), false);
    await sleep(250);
    assert.deepEqual(fired, []);
    closeAll();
  });

  test("sb.every ticks until cancelled from its own function", async () => {
    const s = await client(server);
    const ticks = record(s, "tick");
    const stopped = once(s, "stopped", 5000 * SLOW);
    const t0 = Date.now();
    assert.equal(await ack(s, "every", 40, 5), true);
    assert.deepEqual(await stopped, [true, false, false], "cancel() true, then active() false, cancel() false");
    const elapsed = Date.now() - t0;
    assert.deepEqual(ticks, [1, 2, 3, 4, 5]);
    assert.ok(elapsed >= 5 * 40 - 20, `5 ticks of 40 ms in ${elapsed} ms`);
    await sleep(200);
    assert.deepEqual(ticks, [1, 2, 3, 4, 5], "no tick after cancel()");
    assert.equal(await ack(s, "active"), false);
    closeAll();
  });

  test("an every timer cancelled by another handler stops", async () => {
    const s = await client(server);
    const ticks = record(s, "tick");
    await ack(s, "every", 20, 1000);
    await waitFor(() => ticks.length >= 3, 2000 * SLOW, "3 ticks");
    assert.equal(await ack(s, "active"), true);
    assert.equal(await ack(s, "cancel"), true);
    const n = ticks.length;
    await sleep(150);
    assert.equal(ticks.length, n, "ticks after cancel()");
    assert.equal(await ack(s, "active"), false);
    closeAll();
  });

  test("dropping the handle does not stop a timer (even after a garbage collection)", async () => {
    const s = await client(server);
    const fired = once(s, "fired", 5000 * SLOW);
    assert.equal(await ack(s, "dropped", 100), true);
    assert.deepEqual(await fired, ["dropped handle"]);
    closeAll();
  });

  test("a one-shot timer's function may start the next one", async () => {
    const s = await client(server);
    const links = record(s, "link");
    await ack(s, "chain", 10);
    await waitFor(() => links.length === 10, 3000 * SLOW, "10 links");
    await sleep(50);
    assert.deepEqual(links, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    closeAll();
  });

  test("bad arguments are errors", async () => {
    const s = await client(server);
    const [every5, everyWeek, afterNeg, afterStr, afterWhen] = await ack(s, "bad_args");
    assert.match(every5, /interval must be 10 ms to 7 days/);
    assert.match(everyWeek, /interval must be 10 ms to 7 days/);
    assert.match(afterNeg, /delay must be 0 to 7 days/);
    assert.match(afterStr, /function expected/);
    assert.match(afterWhen, /number expected/);
    closeAll();
  });

  test("a timer's function can wait for Redis and emit", async () => {
    const s = await client(server);
    const key = `timers:${process.pid}:redis`;
    const got = once(s, "timer_redis", 5000 * SLOW);
    const room = once(s, "timer_redis_room", 5000 * SLOW);
    assert.equal(await ack(s, "redis_timer", key), true);
    assert.deepEqual(await got, [1, 2]);
    assert.deepEqual(await room, [2]);
    assert.equal(await rc.get(key), "2");
    assert.equal(await metric(server, "switchboard_lua_waiting"), 0);
    closeAll();
  });

  test("a timer's broadcast reaches the namespace of the gateway that started it", async () => {
    const root = await client(server);
    const other = await client(server, {}, "/other");
    const got = { root: record(root, "from_timer"), other: record(other, "from_timer") };
    await ack(other, "broadcast");
    await waitFor(() => got.other.length === 1, 3000 * SLOW, "the /other broadcast");
    await ack(root, "broadcast");
    await waitFor(() => got.root.length === 1, 3000 * SLOW, "the / broadcast");
    await sleep(100);
    assert.deepEqual(got, { root: ["/"], other: ["/other"] });
    closeAll();
  });

  test("a timer whose function fails is logged, and other timers go on", async () => {
    const s = await client(server);
    const errors0 = await metric(server, "switchboard_lua_errors_total");
    const from = server.log().length;
    const fired = once(s, "fired", 3000 * SLOW);
    await ack(s, "failing");
    assert.deepEqual(await fired, ["after the failure"]);
    await logMatch(server, from, /gateway timers, timer failed: .*timer boom/);
    assert.equal(await metric(server, "switchboard_lua_errors_total"), errors0 + 1);
    closeAll();
  });

  test("at most 100 000 timers at once; cancelled ones free their place", async () => {
    const s = await client(server);
    const t0 = Date.now();
    const { created, err } = await s.timeout(30000 * SLOW).emitWithAck("many", 100001);
    assert.match(err, /too many timers \(100000\)/);
    assert.ok(created > 99900 && created <= 100000, `${created} timers`);
    // Newest first (the cheap order, see below).
    assert.equal(await s.timeout(30000 * SLOW).emitWithAck("cancel_many", true), created);
    // Room again.
    const fired = once(s, "fired", 3000 * SLOW);
    assert.equal(await ack(s, "after", 10, "room again"), true);
    assert.deepEqual(await fired, ["room again"]);
    console.log(`# 100 000 timers created and cancelled in ${Date.now() - t0} ms`);
    closeAll();
  });

  // Every timer that stops (cancel() or a one-shot firing) is unlinked from its gateway's list
  // by a linear search: N timers stopping cost O(N²) with the loop blocked meanwhile.
  // (A linear unlinking takes some tens of ms here, even with ASan; a quadratic one seconds.)
  test("cancelling 30 000 timers, oldest first, does not hold the loop for long", async () => {
    const s = await client(server);
    const { created } = await s.timeout(30000 * SLOW).emitWithAck("many", 30000);
    assert.equal(created, 30000);
    const t0 = Date.now();
    assert.equal(await s.timeout(60000 * SLOW).emitWithAck("cancel_many", false), 30000);
    const ms = Date.now() - t0;
    assert.ok(ms <= (SANITIZED ? 500 : 400), `cancelling 30 000 timers blocked the loop for ${ms} ms`);
    closeAll();
  });

  test("30 000 one-shot timers firing together do not hold the loop for long", async () => {
    const s = await client(server);
    await s.timeout(30000 * SLOW).emitWithAck("many_after", 30000, 200);
    await sleep(150);
    let worst = 0;
    const end = Date.now() + 1500 * SLOW;
    while (Date.now() < end) {
      const t0 = Date.now();
      await s.timeout(60000 * SLOW).emitWithAck("ping", 1);
      worst = Math.max(worst, Date.now() - t0);
      await sleep(5);
    }
    assert.ok(worst <= (SANITIZED ? 1200 : 1000), `a ping waited ${worst} ms while the timers fired`);
    closeAll();
  });
});

describe("timers of a reloaded or removed gateway stop", () => {
  let server, dir, file;
  const SRC = fs.readFileSync(path.join(FIXTURES, "reload/beat.lua"), "utf8");
  const source = (v) => SRC.replace(/^local VERSION = 1$/m, `local VERSION = ${v}`);
  const save = (text) => {
    fs.writeFileSync(file + ".tmp", text);
    fs.renameSync(file + ".tmp", file);
  };
  const loads = (result) => metric(server, `switchboard_gateway_loads_total{gateway="beat",result="${result}"}`);
  // The beats received in a window of `ms`, by version.
  async function beatsIn(s, ms) {
    const got = record(s, "beat");
    await sleep(ms);
    s.removeAllListeners("beat");
    return got;
  }
  const alive = () => server.proc.exitCode === null && server.proc.signalCode === null;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-gw-timers-"));
    file = path.join(dir, "beat.lua");
    fs.writeFileSync(file, SRC);
    server = await startServer({ scripts: dir });
  });
  after(async (t) => {
    closeAll();
    try {
      await stopClean(t, server);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  // One timer every 40 ms: about 15 beats in 600 ms, 30 if two timers ran.
  const WINDOW = 600;
  const assertOneTimer = (beats, what) =>
    assert.ok(beats.length >= 5 && beats.length <= 22, `${what}: ${beats.length} beats in ${WINDOW} ms`);

  test("an edit stops the old version's timers (load-time and handler-started)", async () => {
    const s = await client(server, {}, "/beat");
    assert.equal(await ack(s, "start"), 1);
    const first = await beatsIn(s, WINDOW);
    assertOneTimer(first, "version 1");
    assert.ok(first.every((v) => v === 1));

    const events = [];
    s.on("beat", (v) => events.push(["beat", v]));
    s.on("tick", (v) => events.push(["tick", v]));
    await waitFor(() => events.some((e) => e[0] === "tick"), 2000 * SLOW, "a tick");
    save(source(2));
    await waitFor(() => events.some((e) => e[0] === "beat" && e[1] === 2), 5000 * SLOW, "a beat of version 2");
    await sleep(WINDOW);
    s.removeAllListeners("beat");
    s.removeAllListeners("tick");
    const i = events.findIndex((e) => e[0] === "beat" && e[1] === 2);
    const afterReload = events.slice(i);
    assert.deepEqual(
      afterReload.filter((e) => e[1] === 1),
      [],
      "a timer of version 1 still fired after version 2 was in",
    );
    assert.deepEqual(afterReload.filter((e) => e[0] === "tick"), [], "the handler-started timer stopped");
    assertOneTimer(afterReload, "after the edit");
    closeAll();
  });

  test("SIGHUP does not pile up timers", async () => {
    const s = await client(server, {}, "/beat");
    const ok = await loads("ok");
    process.kill(server.proc.pid, "SIGHUP");
    await waitFor(async () => (await loads("ok")) === ok + 1, 5000 * SLOW, "the SIGHUP reload");
    assertOneTimer(await beatsIn(s, WINDOW), "after SIGHUP");
    closeAll();
  });

  test("removing the file stops its timers", async () => {
    const s = await client(server, {}, "/beat");
    await waitFor(async () => (await beatsIn(s, 100)).length > 0, 3000 * SLOW, "beats");
    fs.unlinkSync(file);
    await waitFor(
      async () => !(await (await fetch(`${server.url}/metrics`)).text()).includes('gateway="beat"'),
      5000 * SLOW,
      "the unload",
    );
    await sleep(100);
    assert.deepEqual(await beatsIn(s, WINDOW), [], "beats after the file was removed");
    assert.equal(s.connected, true);
    closeAll();
  });
});

describe("a gateway file that fails to load after starting a timer", () => {
  let server, dir, file;
  const SRC = fs.readFileSync(path.join(FIXTURES, "reload/beat.lua"), "utf8");
  const source = (v) => SRC.replace(/^local VERSION = 1$/m, `local VERSION = ${v}`);
  const save = (text) => {
    fs.writeFileSync(file + ".tmp", text);
    fs.renameSync(file + ".tmp", file);
  };
  const loads = (result) => metric(server, `switchboard_gateway_loads_total{gateway="beat",result="${result}"}`);
  const alive = () => server.proc.exitCode === null && server.proc.signalCode === null;
  const WINDOW = 600;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-gw-timers-"));
    file = path.join(dir, "beat.lua");
    fs.writeFileSync(file, SRC);
    server = await startServer({ scripts: dir });
  });
  after(async (t) => {
    closeAll();
    try {
      await stopClean(t, server);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  // A file that starts a timer while it loads and then fails: the failed version is not
  // installed, so its timer must not run (the previous version keeps serving, alone).
  test("a timer started by a file that then fails to load does not run", async () => {
    const s = await client(server, {}, "/beat");
    save(source(2));
    await waitFor(async () => (await ack(s, "v")) === 2, 5000 * SLOW, "version 2");
    const errors = await loads("error");
    const seen = record(s, "beat");
    save("sb.every(20, function() sb.emit('beat', 99) end)\nerror('boom after starting a timer')\n");
    await waitFor(async () => (await loads("error")) === errors + 1, 5000 * SLOW, "the failed load");
    await sleep(WINDOW);
    assert.ok(alive(), `the server died (${server.proc.signalCode ?? server.proc.exitCode}):\n${server.log().slice(-3000)}`);
    assert.deepEqual(seen.filter((v) => v === 99), [], "the failed version's timer ran");
    assert.ok(seen.length > 0 && seen.every((v) => v === 2), "the previous version goes on");
    assert.equal(await ack(s, "v"), 2);
    save(source(2));
    await waitFor(async () => (await loads("error")) === errors + 1 && (await metric(server, 'switchboard_gateway_up{gateway="beat"}')) === 1, 5000 * SLOW, "the fixed load");
    closeAll();
  });

});
