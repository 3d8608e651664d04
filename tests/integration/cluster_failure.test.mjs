// The Redis bus when Redis goes away: killed (SIGKILL) and restarted on the same port in the
// middle of traffic, frozen (SIGSTOP: it accepts TCP but answers nothing), or not there yet at
// start. Clients stay connected, readiness follows the subscription, delivery and every
// subscription come back, the outage's publishes are buffered within bounds and the rest are
// counted as dropped, reconnects back off, and every transition is logged.
import assert from "node:assert/strict";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT, SANITIZED, connected, freePort, metric, once, rawWs, record, sio, sleep } from "./helpers.mjs";
import {
  CLUSTER_GATEWAYS,
  QUIET_MS,
  SETTLE_MS,
  readyz,
  redisClient,
  startInstance,
  startRedis,
  stopAll,
  tickToUser,
  waitFor,
  waitNumsub,
  waitReadyz,
} from "./redis.mjs";

const TOKENS = path.join(ROOT, "examples/demo/tokens.txt");
// The burst handlers publish 10 000 messages in one run: no time limit for them (the limit itself
// is tested in gateway_limits.test.mjs).
const NO_TIME_LIMIT = ["--lua-time-limit", "0"];
const OPTS = { scripts: CLUSTER_GATEWAYS, plugins: [`auth-static=${TOKENS}`], args: NO_TIME_LIMIT };
// The bound for noticing a frozen Redis (issue 14.5: within 1 s; the watchdog probes every
// 250 ms and gives up on a probe unanswered for 750 ms, so 0.75 to 1 s after the freeze; the
// margin is /readyz's polling and a busy machine), and for coming back after it thaws. A killed
// Redis is noticed at once (the connections close).
const NOTICE_MS = 5000 * (SANITIZED ? 1.5 : 1);
const FROZEN_NOTICE_MS = 1000 + 300 * (SANITIZED ? 3 : 1);
const RECOVER_MS = 6000 * (SANITIZED ? 2 : 1);

// Log lines of switchboard about Redis that tell a state change, from offset `from` of its log.
const STATE_WORDS = /(lost|cannot connect|not ready|reconnect|connected|ready|dropping)/i;
function redisStateLines(server, from = 0) {
  return server
    .log()
    .slice(from)
    .split("\n")
    .filter((l) => /redis/i.test(l) && STATE_WORDS.test(l));
}

const open = [];
function client(server, opts = {}) {
  const s = sio(server, opts);
  open.push(s);
  return connected(s);
}
const ack = (s, event, ...args) => s.timeout(SETTLE_MS).emitWithAck(event, ...args);

// Records every disconnect of the clients of `socks` ({name: socket}).
function watchDisconnects(socks) {
  const events = [];
  for (const [k, s] of Object.entries(socks)) s.on("disconnect", (r) => events.push(`${k}: ${r}`));
  return events;
}

describe("Redis killed and restarted on the same port mid-traffic", () => {
  let redis, rc, s1, s2;
  before(async () => {
    redis = await startRedis();
    rc = await redisClient(redis.url);
    s1 = await startInstance(redis.url, OPTS);
    s2 = await startInstance(redis.url, OPTS);
  });
  after(async (t) => {
    for (const s of open.splice(0)) s.close();
    redis?.sigcont();
    try {
      await stopAll(t, [s1, s2]);
    } finally {
      await rc?.close();
      await redis?.kill();
    }
  });

  test("clients stay connected, subscriptions and delivery come back, the gap is counted", async (t) => {
    const sender = await client(s1, { auth: { token: "bob-token" } });
    const a1 = await client(s1, { auth: { token: "alice-token" } });
    const a2 = await client(s2, { auth: { token: "alice-token" } });
    const kept = await client(s2);
    const joinsLate = await client(s2);
    const leavesLate = await client(s2);
    const json2 = rawWs(`${s2.wsUrl}/?token=alice-token`);
    open.push(json2);
    await json2.opened();
    let jsonClosed = null;
    json2.on("close", (code) => (jsonClosed = code));
    await ack(kept, "join", "kept");
    await ack(leavesLate, "join", "left-during");
    await waitNumsub(rc, "socket.io#/#user:alice#", 2);
    await waitNumsub(rc, ["socket.io#/#kept#", "socket.io#/#left-during#"], 1);
    const socks = { sender, a1, a2, kept, joinsLate, leavesLate };
    const ids = Object.fromEntries(Object.entries(socks).map(([k, s]) => [k, s.id]));
    const disconnects = watchDisconnects(socks);
    const ticks = record(a2, "tick");

    // Traffic: the sender on instance 1 writes to alice (whose other socket is on instance 2)
    // every 20 ms, before, during and after the outage.
    let marks = [0, 0];
    const ticker = tickToUser(sender, "alice");
    try {
      await waitFor(() => ticks.length >= 5, SETTLE_MS, "ticks before the outage");
      const dropped0 = await metric(s1, "switchboard_bus_dropped_total");

      marks = [s1.log().length, s2.log().length];
      await redis.kill();
      const killedAt = ticker.sent;
      // Both instances notice at once (the connections close) and say they are not ready.
      await Promise.all([waitReadyz(s1, 503, NOTICE_MS), waitReadyz(s2, 503, NOTICE_MS)]);
      assert.equal((await fetch(`${s1.url}/healthz`)).status, 200, "alive while not ready");

      // During the outage: local delivery goes on, rooms change.
      const local = record(a1, "news");
      assert.equal(await ack(sender, "all", "local only"), 2, "sender and a1 on instance 1");
      await waitFor(() => local.length >= 1, SETTLE_MS, "local delivery during the outage");
      await ack(joinsLate, "join", "joined-during");
      await ack(leavesLate, "leave", "left-during");
      // More than the backlog holds (10000 messages), to a room nobody is in: the rest is dropped.
      assert.equal(await ack(sender, "burst", { n: 10100, room: "nobody", event: "b" }), 10100);
      await sleep(300);

      await redis.restart();
      await Promise.all([waitReadyz(s1, 200, RECOVER_MS), waitReadyz(s2, 200, RECOVER_MS)]);
      // At most this many ticks were sent while the publisher was away.
      const duringOutage = ticker.sent - killedAt;
      // Everything is subscribed again, as the rooms are now.
      await waitNumsub(rc, ["socket.io#/#", "socket.io-request#/#"], 2);
      await waitNumsub(rc, ["socket.io#/#user:alice#"], 2);
      await waitNumsub(rc, ["socket.io#/#kept#", "socket.io#/#joined-during#"], 1);
      await waitNumsub(rc, ["socket.io#/#left-during#"], 0);

      const dropped = (await metric(s1, "switchboard_bus_dropped_total")) - dropped0;
      t.diagnostic(`dropped ${dropped}, ticks during the outage ${duringOutage}`);
      assert.ok(dropped >= 100 && dropped <= 100 + duringOutage + 10,
        `the messages beyond the backlog are counted as dropped: ${dropped}`);

      // A message sent after the recovery arrives.
      const n0 = ticks.length;
      await waitFor(() => ticks.length > n0 + 3, SETTLE_MS, "ticks after the recovery");
    } finally {
      await ticker.stop();
    }
    const last = record(a2, "after");
    await ack(sender, "to_user", { user: "alice", event: "after", data: "back" });
    await waitFor(() => last.length >= 1, SETTLE_MS, "the message after the recovery");
    const room = record(kept, "room_msg");
    const roomLate = record(joinsLate, "room_msg");
    await ack(sender, "to_room", { room: "kept", data: "k" });
    await ack(sender, "to_room", { room: "joined-during", data: "j" });
    await waitFor(() => room.length && roomLate.length, SETTLE_MS, "room messages after the recovery");
    await sleep(QUIET_MS);
    assert.deepEqual(last, ["back"]);
    assert.deepEqual(room, ["k"]);
    assert.deepEqual(roomLate, ["j"]);

    // Ticks arrive at most once and in order (at-most-once: a gap is allowed, a duplicate not).
    for (let k = 1; k < ticks.length; k++)
      assert.ok(ticks[k] > ticks[k - 1], `tick ${ticks[k]} after ${ticks[k - 1]}`);

    // Nobody was disconnected; every socket is the same one.
    assert.deepEqual(disconnects, []);
    assert.equal(jsonClosed, null, "the plain JSON socket stays open");
    for (const [k, s] of Object.entries(socks)) {
      assert.equal(s.connected, true, k);
      assert.equal(s.id, ids[k], k);
    }
    assert.equal((await ack(a2, "whoami")).id, ids.a2);

    // Every transition since the kill is in the log: lost, not ready, reconnecting, connected
    // again, ready again, in this order.
    for (const [k, s] of [s1, s2].entries()) {
      const lines = redisStateLines(s, marks[k]).join("\n");
      let at = 0;
      for (const re of [/connection lost/i, /not ready/i, /reconnecting/i, /connected to/i, /bus ready/i]) {
        const m = re.exec(lines.slice(at));
        assert.ok(m, `no ${re} after the kill, in order:\n${lines}`);
        at += m.index + m[0].length;
      }
    }
    assert.match(s1.log().slice(marks[0]), /backlog full/i);
    assert.match(s1.log().slice(marks[0]), /published during the outage/i);
    for (const s of open.splice(0)) s.close();
  });
});

describe("cluster operations while Redis is away", () => {
  let redis, s1, s2;
  before(async () => {
    redis = await startRedis();
    s1 = await startInstance(redis.url, OPTS);
    s2 = await startInstance(redis.url, OPTS);
  });
  after(async (t) => {
    for (const s of open.splice(0)) s.close();
    try {
      await stopAll(t, [s1, s2]);
    } finally {
      await redis?.kill();
    }
  });

  test("requests that need answers raise in Lua; the client gets an exception and stays", async () => {
    const c = await client(s1, { auth: { token: "alice-token" } });
    await redis.kill();
    await waitReadyz(s1, 503, NOTICE_MS);
    try {
      for (const [event, data] of [["fetch", {}], ["server_emit_ack", { event: "sb:ping", args: [1] }]]) {
        const exc = once(c, "exception", SETTLE_MS);
        c.emit(event, data);
        const [e] = await exc;
        assert.equal(e.status, "error", event);
      }
      assert.equal(c.connected, true);
      assert.equal((await ack(c, "whoami")).user, "alice");
      // Fire-and-forget operations are buffered like broadcasts.
      assert.equal(await ack(c, "server_emit", { event: "sb:note", args: ["buffered"] }), true);
      assert.equal(await ack(c, "sockets_op", { op: "join", in: ["user:alice"], rooms: ["r"] }), true);
    } finally {
      await redis.restart();
    }
    await waitReadyz(s1, 200, RECOVER_MS);
    for (const s of open.splice(0)) s.close();
  });

  test("with the outage backlog full, every kind of publish is dropped and counted, none raises", async () => {
    const c = await client(s1, { auth: { token: "alice-token" } });
    await redis.kill();
    await waitReadyz(s1, 503, NOTICE_MS);
    try {
      assert.equal(await ack(c, "burst", { n: 10001, room: "nobody", event: "b" }), 10001);
      const dropped = () => metric(s1, "switchboard_bus_dropped_total");
      const d0 = await dropped();
      assert.ok(d0 >= 1, "the backlog is full");
      const problems = [];
      // A broadcast: dropped and counted.
      await ack(c, "all", "x");
      if ((await dropped()) !== d0 + 1) problems.push("sb.emit is not counted as dropped");
      // A remote room change and a server-side emit are publishes too.
      const d1 = await dropped();
      assert.equal(await ack(c, "sockets_op", { op: "join", in: ["user:alice"], rooms: ["r"] }), true);
      if ((await dropped()) !== d1 + 1) problems.push("op:sockets_join is not counted as dropped");
      const d2 = await dropped();
      const se = await Promise.race([
        ack(c, "server_emit", { event: "sb:note", args: ["lost"] }),
        once(c, "exception", SETTLE_MS).then(([e]) => e),
      ]);
      if (se !== true) problems.push(`sb.server_emit raised: ${JSON.stringify(se)}`);
      if ((await dropped()) !== d2 + 1) problems.push("sb.server_emit is not counted as dropped");
      assert.deepEqual(problems, []);
      assert.equal(c.connected, true);
    } finally {
      await redis.restart();
    }
    await waitReadyz(s1, 200, RECOVER_MS);
    for (const s of open.splice(0)) s.close();
  });

  test("a clean shutdown does not log the Redis connections as lost", async () => {
    const s = await startInstance(redis.url, OPTS);
    const { code } = await s.stop();
    assert.equal(code, 0);
    const tail = s.log().slice(s.log().indexOf("SIGTERM"));
    assert.doesNotMatch(tail, /connection lost|not ready: messages from other instances/i, tail);
  });
});

describe("Redis frozen with SIGSTOP", () => {
  let redis, rc, s1, s2;
  before(async () => {
    redis = await startRedis();
    rc = await redisClient(redis.url);
    s1 = await startInstance(redis.url, OPTS);
    s2 = await startInstance(redis.url, OPTS);
  });
  after(async (t) => {
    for (const s of open.splice(0)) s.close();
    redis?.sigcont(); // a stopped Redis is always thawed before anything else
    try {
      await stopAll(t, [s1, s2]);
    } finally {
      await rc?.close();
      await redis?.kill();
    }
  });

  test("/readyz is 503 within 1 s on each instance, 200 again soon after SIGCONT; clients stay", async (t) => {
    const a1 = await client(s1, { auth: { token: "alice-token" } });
    const a2 = await client(s2, { auth: { token: "alice-token" } });
    await waitNumsub(rc, "socket.io#/#user:alice#", 2);
    const disconnects = watchDisconnects({ a1, a2 });
    const ids = [a1.id, a2.id];

    let noticed, recovered;
    const marks = [s1.log().length, s2.log().length];
    redis.sigstop();
    try {
      const t0 = Date.now();
      await Promise.all([waitReadyz(s1, 503, NOTICE_MS + 2000), waitReadyz(s2, 503, NOTICE_MS + 2000)]);
      noticed = Date.now() - t0;
      // Still connected and served locally while Redis is frozen.
      assert.equal(a1.connected && a2.connected, true);
      assert.equal((await ack(a1, "whoami")).id, ids[0]);
    } finally {
      redis.sigcont();
    }
    assert.ok(noticed <= FROZEN_NOTICE_MS, `a frozen Redis was noticed after ${noticed} ms`);
    const t1 = Date.now();
    await Promise.all([waitReadyz(s1, 200, RECOVER_MS), waitReadyz(s2, 200, RECOVER_MS)]);
    recovered = Date.now() - t1;
    t.diagnostic(`noticed after ${noticed} ms, ready again ${recovered} ms after SIGCONT`);
    assert.ok(recovered <= RECOVER_MS, `ready again ${recovered} ms after SIGCONT`);

    // Delivery across instances works again.
    await waitNumsub(rc, "socket.io#/#user:alice#", 2);
    const got = record(a2, "dm");
    await ack(a1, "to_user", { user: "alice", data: "thawed" });
    await waitFor(() => got.length >= 1, SETTLE_MS, "delivery after SIGCONT");
    await sleep(QUIET_MS);
    assert.deepEqual(got, ["thawed"]);
    assert.deepEqual(disconnects, []);
    assert.deepEqual([a1.id, a2.id], ids);
    for (const [k, s] of [s1, s2].entries()) {
      const lines = redisStateLines(s, marks[k]).join("\n");
      let at = 0;
      for (const re of [/no answer/i, /not ready/i, /reconnecting/i, /connected to/i, /bus ready/i]) {
        const m = re.exec(lines.slice(at));
        assert.ok(m, `no ${re} after SIGSTOP, in order:\n${lines}`);
        at += m.index + m[0].length;
      }
    }
    for (const s of open.splice(0)) s.close();
  });

  // The fault probe of issue 14.5: send-to-user across two instances at ~250 messages/s while
  // Redis is frozen for 3 s. What was written to the frozen Redis before the watchdog noticed
  // goes out again, and the outage's backlog waits until the other instance is subscribed again:
  // every message arrives (at least once), none is counted as dropped.
  test("every message of a 3 s SIGSTOP arrives once Redis thaws, in order of first arrival", async (t) => {
    const sender = await client(s1, { auth: { token: "bob-token" } });
    const a2 = await client(s2, { auth: { token: "alice-token" } });
    await waitNumsub(rc, "socket.io#/#user:alice#", 1);
    await waitNumsub(rc, "socket.io-request#/#", 2);
    // Both instances have counted the servers (every second while ready).
    await sleep(1500);
    const ticks = record(a2, "tick");
    const dropped0 = await metric(s1, "switchboard_bus_dropped_total");
    const resent0 = await metric(s1, "switchboard_bus_resent_total");
    const ticker = tickToUser(sender, "alice", { everyMs: 4, max: 5000 });
    let sent;
    try {
      await waitFor(() => ticks.length >= 20, SETTLE_MS, "ticks before the freeze");
      redis.sigstop();
      try {
        await sleep(3000);
      } finally {
        redis.sigcont();
      }
      await Promise.all([waitReadyz(s1, 200, RECOVER_MS), waitReadyz(s2, 200, RECOVER_MS)]);
      await sleep(500);
    } finally {
      await ticker.stop();
      sent = ticker.sent;
    }
    await waitFor(() => new Set(ticks).size >= sent, SETTLE_MS * 2,
      `all ${sent} ticks (${new Set(ticks).size} arrived)`);
    await sleep(QUIET_MS);
    const distinct = [...new Set(ticks)];
    const resent = (await metric(s1, "switchboard_bus_resent_total")) - resent0;
    const dupes = ticks.length - distinct.length;
    t.diagnostic(`${sent} sent, ${distinct.length} distinct arrived, ${dupes} twice, ${resent} resent`);
    assert.deepEqual(distinct, Array.from({ length: sent }, (_, k) => k + 1), "all, in order");
    assert.ok(dupes <= resent, `a duplicate is only a resent message: ${dupes} > ${resent}`);
    assert.equal((await metric(s1, "switchboard_bus_dropped_total")) - dropped0, 0);
    assert.match(s1.log(), /published during the outage/i);
    for (const s of open.splice(0)) s.close();
  });
});

describe("shutting down with cluster requests pending", () => {
  let redis, rc;
  const servers = [];
  before(async () => {
    redis = await startRedis();
    rc = await redisClient(redis.url);
  });
  after(async (t) => {
    for (const s of open.splice(0)) s.close();
    redis?.sigcont();
    try {
      await stopAll(t, servers);
    } finally {
      await rc?.close();
      await redis?.kill();
    }
  });

  test("waiting for a server that never answers: SIGTERM exits 0 promptly", async () => {
    const mute = rc.duplicate();
    mute.on("error", () => {});
    await mute.connect();
    try {
      await mute.subscribe("socket.io-request#/#", () => {});
      const s = await startInstance(redis.url, { ...OPTS, args: [...NO_TIME_LIMIT, "--shutdown-timeout", "2000"] });
      servers.push(s);
      const c = await client(s, { auth: { token: "alice-token" } });
      await ack(c, "fetch", { timeout: 60000 });
      await ack(c, "server_emit_ack", { event: "sb:ping", args: [1] });
      await sleep(200); // both requests are out, waiting for the mute server
      const t0 = Date.now();
      const { code, signal } = await s.stop();
      assert.equal(code, 0, `exit ${code ?? signal}:\n${s.log()}`);
      assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
    } finally {
      await mute.disconnect().catch(() => {});
      for (const x of open.splice(0)) x.close();
    }
  });

  test("Redis frozen while a request waits for PUBSUB NUMSUB: SIGTERM exits 0 promptly", async () => {
    const s = await startInstance(redis.url, { ...OPTS, args: [...NO_TIME_LIMIT, "--shutdown-timeout", "2000"] });
    servers.push(s);
    const c = await client(s, { auth: { token: "alice-token" } });
    redis.sigstop();
    try {
      await ack(c, "fetch", { timeout: 60000 });
      await ack(c, "server_emit_ack", { event: "sb:ping", args: [1] });
      c.emit("all", "stuck in the socket"); // a publish on the frozen connection
      await sleep(200);
      const t0 = Date.now();
      const { code, signal } = await s.stop();
      assert.equal(code, 0, `exit ${code ?? signal}:\n${s.log()}`);
      assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
    } finally {
      redis.sigcont();
      for (const x of open.splice(0)) x.close();
    }
  });
});

describe("Redis not there at start, then a listener that hangs up, then Redis", () => {
  let redis, s1, fake;
  after(async (t) => {
    fake?.close();
    try {
      await stopAll(t, [s1]);
    } finally {
      await redis?.kill();
    }
  });

  test("the instance serves clients while not ready, backs off its reconnects, and joins once Redis is up", async (t) => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    s1 = await startInstance(url, { ...OPTS, waitReady: false });
    assert.equal(await readyz(s1), 503, "not ready without Redis");
    // Clients connect and are served locally meanwhile.
    const c = await client(s1);
    assert.equal(await ack(c, "all", "x"), 1);

    // Something listens on the port but hangs up at once: count the connection attempts.
    const attempts = [];
    fake = net.createServer((sock) => {
      attempts.push(Date.now());
      sock.destroy();
    });
    await new Promise((resolve, reject) => {
      fake.once("error", reject);
      fake.listen(port, "127.0.0.1", resolve);
    });
    const WINDOW = 4000;
    await sleep(WINDOW);
    await new Promise((r) => fake.close(r));
    fake = null;
    // Two connections (publisher, subscriber), each retried with a capped exponential
    // backoff from 100 ms: a dozen attempts or so in 4 s, where a fixed 100 ms retry would
    // make 80 and a busy loop thousands.
    assert.ok(attempts.length >= 4, `it keeps retrying: ${attempts.length} attempts in ${WINDOW} ms`);
    assert.ok(attempts.length <= 30, `reconnects back off: ${attempts.length} attempts in ${WINDOW} ms`);
    const lastSecond = attempts.filter((x) => x > attempts[attempts.length - 1] - 1000).length;
    t.diagnostic(`attempts at +ms: ${attempts.map((x) => x - attempts[0]).join(" ")}`);
    assert.ok(lastSecond <= 6, `late attempts are spaced out: ${lastSecond} in the last second`);
    assert.equal(await readyz(s1), 503);

    redis = await startRedis({ port });
    const rc = await redisClient(redis.url);
    try {
      // The backoff is capped at 5 s (+ the connection): ready within ~6 s.
      const ms = await waitReadyz(s1, 200, RECOVER_MS + 2000);
      t.diagnostic(`ready ${ms} ms after Redis started`);
      await waitNumsub(rc, ["socket.io#/#", "socket.io-request#/#"], 1);
      assert.equal(c.connected, true);
      const lines = redisStateLines(s1).join("\n");
      assert.match(lines, /cannot connect/i);
      assert.match(lines, /bus ready/i);
    } finally {
      await rc.close();
    }
    for (const s of open.splice(0)) s.close();
  });
});

describe("Redis with a password and a database number in the URL", () => {
  let redis, rc;
  const servers = [];
  const PASSWORD = "s3cret-pw";
  before(async () => {
    redis = await startRedis({ password: PASSWORD });
    rc = await redisClient(redis.url);
  });
  after(async (t) => {
    for (const s of open.splice(0)) s.close();
    try {
      await stopAll(t, servers);
    } finally {
      await rc?.close();
      await redis?.kill();
    }
  });
  async function instance(url, opts = {}) {
    const s = await startInstance(url, { ...OPTS, ...opts });
    servers.push(s);
    return s;
  }

  test("redis://:password@host:port/db: instances on different databases still meet", async () => {
    // Pub/sub ignores the database number, so instances on db 3 and db 5 still meet.
    const s1 = await instance(`redis://:${PASSWORD}@127.0.0.1:${redis.port}/3`);
    const s2 = await instance(`redis://:${PASSWORD}@127.0.0.1:${redis.port}/5`);
    const x = await client(s1);
    const y = await client(s2);
    const got = record(y, "news");
    await ack(x, "all", "with auth");
    await waitFor(() => got.length >= 1, SETTLE_MS, "news across instances");
    assert.deepEqual(got, ["with auth"]);
    for (const s of [s1, s2]) assert.ok(!s.log().includes(PASSWORD), "the password is not logged");
    for (const s of open.splice(0)) s.close();
  });

  test("a wrong password: not ready, the log says why, the password is not logged", async () => {
    const bad = await instance(`redis://:wrong-pw@127.0.0.1:${redis.port}`, { waitReady: false });
    await bad.waitForLog(/redis.*(WRONGPASS|invalid|auth)/i, SETTLE_MS);
    await sleep(500);
    assert.equal(await readyz(bad), 503);
    assert.ok(!bad.log().includes("wrong-pw"), "the password is not logged");
  });

  test("a percent-encoded password is decoded, as node-redis and redis-py read redis:// URLs", async () => {
    // A second password of the default user, with characters a URL must percent-encode.
    const special = "p@ss/w:rd#1?";
    await rc.sendCommand(["ACL", "SETUSER", "default", `>${special}`]);
    const url = `redis://:${encodeURIComponent(special)}@127.0.0.1:${redis.port}/2`;
    // The Node client takes the same URL.
    const probe = await redisClient(url);
    assert.equal(await probe.ping(), "PONG");
    await probe.close();
    const s = await instance(url, { waitReady: false });
    await waitReadyz(s, 200, SETTLE_MS);
  });
});
