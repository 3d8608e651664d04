// switchboard instances meeting in one real redis-server (--redis): the seed's demo across
// instances, emit-to-all and emit-to-authenticated across three instances, targeted
// subscriptions (PUBSUB NUMSUB and switchboard_bus_received_total show that a message for one
// user reaches only the instances that hold that user), batched room subscriptions, and the
// HTTP publish API reaching another instance.
import assert from "node:assert/strict";
import msgpack from "notepack.io";
import { after, afterEach, before, describe, test } from "node:test";
import { DEMO_PLUGINS, connected, metric, rawWs, record, sio, sleep } from "./helpers.mjs";
import {
  CLUSTER_GATEWAYS,
  QUIET_MS,
  SETTLE_MS,
  monitorRedis,
  redisClient,
  startInstance,
  startRedis,
  stopAll,
  waitFor,
  waitNumsub,
} from "./redis.mjs";

const API_KEY = "cluster-test-key";

let redis, rc;
before(async () => {
  redis = await startRedis();
  rc = await redisClient(redis.url);
});
after(async () => {
  await rc?.close();
  await redis?.stop();
});

// Clients opened by a test, closed by closeAll().
const open = [];
function client(server, opts = {}) {
  const s = sio(server, opts);
  open.push(s);
  return connected(s);
}
const alice = (server) => client(server, { auth: { token: "alice-token" } });
const bob = (server) => client(server, { auth: { token: "bob-token" } });

async function jsonClient(server, query = "") {
  const ws = rawWs(`${server.wsUrl}/${query}`);
  open.push(ws);
  await ws.opened();
  return ws;
}
function recordJson(ws, name) {
  const got = [];
  ws.on("message", (data) => {
    const m = JSON.parse(data.toString());
    if (m.event === name) got.push(m.data);
  });
  return got;
}

// The instances of the running describe block.
let current = [];
// A failed test leaves its clients open: close them so that the next test starts clean.
afterEach(async () => {
  if (open.length) await closeAll(current).catch(() => {});
});

// Closes every open client and waits until each instance has no socket left.
async function closeAll(servers) {
  for (const s of open.splice(0)) s.close();
  for (const server of servers) {
    await waitFor(async () => (await metric(server, "switchboard_sockets")) === 0, SETTLE_MS,
      "every socket to be gone");
  }
}

const ack = (s, event, ...args) => s.timeout(SETTLE_MS).emitWithAck(event, ...args);

// The SUBSCRIBE (or UNSUBSCRIBE) commands Redis executed that name channels matching `re`, and
// how many channels they named.
function countCommands(mon, cmd, re) {
  const cmds = mon.commands.filter((c) => c[0] === cmd && c.slice(1).some((ch) => re.test(ch)));
  return { commands: cmds.length, channels: cmds.reduce((n, c) => n + c.slice(1).filter((ch) => re.test(ch)).length, 0) };
}

describe("the seed's demo across instances (scripts/events.lua + propagate, --redis-prefix demo)", () => {
  let s1, s2, s3;
  before(async () => {
    const opts = { plugins: DEMO_PLUGINS, args: ["--redis-prefix", "demo"] };
    s1 = await startInstance(redis.url, opts);
    s2 = await startInstance(redis.url, opts);
    s3 = await startInstance(redis.url, opts);
    current = [s1, s2, s3];
  });
  after(async (t) => {
    for (const s of open.splice(0)) s.close();
    await stopAll(t, [s1, s2, s3]);
  });

  test("A on instance 1 emits `events`: A and B (instance 2) get 1,2,3 once; others nothing", async () => {
    const a = await alice(s1);
    const b = await alice(s2);
    const bob1 = await bob(s1);
    const bob2 = await bob(s2);
    const anon1 = await client(s1);
    const bob3 = await bob(s3);
    const anon3 = await client(s3);
    const json3 = await jsonClient(s3);
    const jsonBob3 = await jsonClient(s3, "?token=bob-token");
    // Instance 2 holds one of alice's sockets: it subscribes to her room's channel (under the
    // configured prefix, not the default one) before a message can reach it.
    await waitNumsub(rc, "demo#/#user:alice#", 2);
    assert.equal((await rc.numsub("socket.io#/#user:alice#"))["socket.io#/#user:alice#"], 0,
      "--redis-prefix demo: nothing subscribed under the default prefix");

    const got = {
      a: record(a, "events"), b: record(b, "events"), bob1: record(bob1, "events"),
      bob2: record(bob2, "events"), anon1: record(anon1, "events"), bob3: record(bob3, "events"),
      anon3: record(anon3, "events"), json3: recordJson(json3, "events"),
      jsonBob3: recordJson(jsonBob3, "events"),
    };
    a.emit("events", { test: true });
    await waitFor(() => got.a.length >= 3 && got.b.length >= 3, SETTLE_MS, "1,2,3 on A and B");
    await sleep(QUIET_MS); // a duplicate would arrive by now

    assert.deepEqual(got.a, [1, 2, 3], "the origin gets its replies once");
    assert.deepEqual(got.b, [1, 2, 3], "the user's socket on instance 2 gets them once");
    for (const k of ["bob1", "bob2", "anon1", "bob3", "anon3", "json3", "jsonBob3"])
      assert.deepEqual(got[k], [], `${k} must get nothing`);

    // And the other way round: B emits, A (instance 1) gets 1,2,3 once more.
    b.emit("events", {});
    await waitFor(() => got.a.length >= 6 && got.b.length >= 6, SETTLE_MS, "1,2,3 again");
    await sleep(QUIET_MS);
    assert.deepEqual(got.a, [1, 2, 3, 1, 2, 3]);
    assert.deepEqual(got.b, [1, 2, 3, 1, 2, 3]);
    for (const k of ["bob1", "bob2", "anon1", "bob3", "anon3", "json3", "jsonBob3"])
      assert.deepEqual(got[k], [], `${k} must get nothing`);
    await closeAll([s1, s2, s3]);
  });

  test("the user's plain JSON socket on a third instance gets 1,2,3 too", async () => {
    const a = await alice(s1);
    const json = await jsonClient(s3, "?token=alice-token");
    const bob2 = await bob(s2);
    await waitNumsub(rc, "demo#/#user:alice#", 2);
    const got = { a: record(a, "events"), json: recordJson(json, "events"), bob2: record(bob2, "events") };
    a.emit("events");
    await waitFor(() => got.a.length >= 3 && got.json.length >= 3, SETTLE_MS, "1,2,3");
    await sleep(QUIET_MS);
    assert.deepEqual(got.a, [1, 2, 3]);
    assert.deepEqual(got.json, [1, 2, 3]);
    assert.deepEqual(got.bob2, []);
    await closeAll([s1, s2, s3]);
    await waitNumsub(rc, "demo#/#user:alice#", 0);
  });
});

describe("three instances with the cluster fixture gateway", () => {
  let s1, s2, s3, all;
  before(async () => {
    const opts = {
      scripts: CLUSTER_GATEWAYS,
      plugins: DEMO_PLUGINS,
      args: ["--api-key", API_KEY],
    };
    s1 = await startInstance(redis.url, opts);
    s2 = await startInstance(redis.url, opts);
    s3 = await startInstance(redis.url, opts);
    all = current = [s1, s2, s3];
    // Every instance listens to the namespace and request channels from the start.
    await waitNumsub(rc, ["socket.io#/#", "socket.io-request#/#", "socket.io-response#/#"], 3);
  });

  test("each instance subscribes to its namespaces' channels and its own response channel", async () => {
    for (const nsp of ["/", "/admin"]) {
      const counts = await rc.numsub([`socket.io#${nsp}#`, `socket.io-request#${nsp}#`, `socket.io-response#${nsp}#`]);
      for (const [ch, n] of Object.entries(counts)) assert.equal(n, 3, ch);
    }
    for (const s of all) {
      const uid = /server id (\S+)/.exec(s.log())?.[1];
      assert.ok(uid, "the log names the server id");
      const ch = `socket.io-response#/#${uid}#`;
      assert.equal((await rc.numsub(ch))[ch], 1, ch);
    }
  });
  after(async (t) => {
    for (const s of open.splice(0)) s.close();
    await stopAll(t, [s1, s2, s3]);
  });

  test("sb.emit reaches every socket of every instance once, anonymous and plain JSON too", async () => {
    const anon1 = await client(s1);
    const anon2 = await client(s2);
    const anon3 = await client(s3);
    const alice2 = await alice(s2);
    const bob3 = await bob(s3);
    const json3 = await jsonClient(s3);
    const got = {
      anon1: record(anon1, "news"), anon2: record(anon2, "news"), anon3: record(anon3, "news"),
      alice2: record(alice2, "news"), bob3: record(bob3, "news"), json3: recordJson(json3, "news"),
    };
    const reached = await ack(anon1, "all", { n: 1 });
    assert.equal(reached, 1, "emit counts the sockets reached on its own instance");
    await waitFor(() => Object.values(got).every((g) => g.length >= 1), SETTLE_MS, "news everywhere");
    await sleep(QUIET_MS);
    for (const [k, g] of Object.entries(got)) assert.deepEqual(g, [{ n: 1 }], k);

    // From another instance, with several arguments' worth of JSON types.
    const payload = { s: "é✓", i: 42, f: 1.5, neg: -7, t: true, nil: null, list: [1, "two", { three: 3 }] };
    await ack(bob3, "all", payload);
    await waitFor(() => Object.values(got).every((g) => g.length >= 2), SETTLE_MS, "news everywhere");
    await sleep(QUIET_MS);
    for (const [k, g] of Object.entries(got)) assert.deepEqual(g, [{ n: 1 }, payload], k);
    await closeAll(all);
  });

  test("sb.to_authenticated() reaches the authenticated sockets of every instance only", async () => {
    const anon1 = await client(s1);
    const bob1 = await bob(s1);
    const anon2 = await client(s2);
    const alice2 = await alice(s2);
    const json2 = await jsonClient(s2);
    const anon3 = await client(s3);
    const bob3 = await bob(s3);
    const jsonAlice3 = await jsonClient(s3, "?token=alice-token");
    await waitNumsub(rc, "socket.io#/#authenticated#", 3);
    const got = {
      anon1: record(anon1, "auth_news"), bob1: record(bob1, "auth_news"),
      anon2: record(anon2, "auth_news"), alice2: record(alice2, "auth_news"),
      json2: recordJson(json2, "auth_news"), anon3: record(anon3, "auth_news"),
      bob3: record(bob3, "auth_news"), jsonAlice3: recordJson(jsonAlice3, "auth_news"),
    };
    // Sent by an anonymous socket on instance 1.
    assert.equal(await ack(anon1, "to_authenticated", "hello"), 1);
    const yes = ["bob1", "alice2", "bob3", "jsonAlice3"];
    await waitFor(() => yes.every((k) => got[k].length >= 1), SETTLE_MS, "auth_news");
    await sleep(QUIET_MS);
    for (const k of yes) assert.deepEqual(got[k], ["hello"], k);
    for (const k of ["anon1", "anon2", "json2", "anon3"]) assert.deepEqual(got[k], [], k);
    await closeAll(all);
    await waitNumsub(rc, "socket.io#/#authenticated#", 0);
  });

  test("PUBSUB NUMSUB of a user's channel follows where the user's sockets are", async () => {
    const ch = "socket.io#/#user:alice#";
    const count = async () => Number((await rc.numsub(ch))[ch]);
    assert.equal(await count(), 0);
    // Anonymous sockets and other users subscribe nothing for alice.
    await client(s1);
    await bob(s3);
    await waitNumsub(rc, "socket.io#/#user:bob#", 1);
    assert.equal(await count(), 0);

    const a1 = await alice(s1);
    await waitNumsub(rc, ch, 1);
    const a2 = await alice(s2);
    await waitNumsub(rc, ch, 2);
    const a3 = await jsonClient(s2, "?token=alice-token"); // a second socket on instance 2
    await sleep(QUIET_MS);
    assert.equal(await count(), 2, "one subscription per instance, not per socket");
    a1.close();
    await waitNumsub(rc, ch, 1);
    a2.close();
    await sleep(QUIET_MS);
    assert.equal(await count(), 1, "instance 2 still holds alice's plain JSON socket");
    a3.close();
    await waitNumsub(rc, ch, 0);
    await closeAll(all);
    await waitNumsub(rc, "socket.io#/#user:bob#", 0);
  });

  test("a message to a user reaches only the instances that hold the user", async () => {
    const bob1 = await bob(s1);
    const alice2 = await alice(s2);
    const anon3 = await client(s3);
    const anon2 = await client(s2);
    await waitNumsub(rc, "socket.io#/#user:alice#", 1);
    const got = { alice2: record(alice2, "dm"), anon2: record(anon2, "dm"), anon3: record(anon3, "dm"),
                  bob1: record(bob1, "dm") };
    await sleep(QUIET_MS); // nothing else in flight
    const before2 = await metric(s2, "switchboard_bus_received_total");
    const before3 = await metric(s3, "switchboard_bus_received_total");

    assert.equal(await ack(bob1, "to_user", { user: "alice", data: "psst" }), 0,
      "no local socket of alice on instance 1");
    await waitFor(() => got.alice2.length >= 1, SETTLE_MS, "the message on instance 2");
    await sleep(QUIET_MS);
    assert.deepEqual(got.alice2, ["psst"]);
    for (const k of ["anon2", "anon3", "bob1"]) assert.deepEqual(got[k], [], k);
    const after2 = await metric(s2, "switchboard_bus_received_total");
    const after3 = await metric(s3, "switchboard_bus_received_total");
    assert.equal(after2 - before2, 1, "instance 2 received the message once");
    assert.equal(after3 - before3, 0, "instance 3 (no socket of alice) did not receive it");

    // The counter of instance 3 does count what reaches it: a broadcast to all does.
    const news3 = record(anon3, "news");
    await ack(bob1, "all", "to everyone");
    await waitFor(() => news3.length >= 1, SETTLE_MS, "news on instance 3");
    await sleep(QUIET_MS);
    assert.equal((await metric(s3, "switchboard_bus_received_total")) - after3, 1);
    await closeAll(all);
  });

  test("100 rooms joined at once: all 100 channels subscribed in batches; leaving unsubscribes all", async () => {
    const rooms = Array.from({ length: 100 }, (_, i) => `batch-${i}`);
    const channels = rooms.map((r) => `socket.io#/#${r}#`);
    const s = await client(s1);
    const sender = await client(s2);
    const mon = await monitorRedis(redis.port);
    try {
      const joined = await ack(s, "join", rooms);
      assert.equal(joined.length, 101);
      await waitNumsub(rc, channels, 1);
      const batchRe = /^socket\.io#\/#batch-\d+#$/;
      // MONITOR's feed may trail the NUMSUB answer a little.
      await waitFor(() => countCommands(mon, "SUBSCRIBE", batchRe).channels >= 100, SETTLE_MS, "MONITOR");
      await sleep(QUIET_MS);
      const subs = countCommands(mon, "SUBSCRIBE", batchRe);
      assert.equal(subs.channels, 100, "each room's channel subscribed once");
      assert.ok(subs.commands <= 2, `100 rooms joined at once: ${subs.commands} SUBSCRIBE commands`);

      // The subscriptions are real: a message to one of the rooms from instance 2 arrives.
      const got = record(s, "room_msg");
      await ack(sender, "to_room", { room: "batch-57", data: 57 });
      await waitFor(() => got.length >= 1, SETTLE_MS, "room_msg");
      await sleep(QUIET_MS);
      assert.deepEqual(got, [57]);

      assert.deepEqual(await ack(s, "leave", rooms), [s.id]);
      await waitNumsub(rc, channels, 0);
      await waitFor(() => countCommands(mon, "UNSUBSCRIBE", batchRe).channels >= 100, SETTLE_MS, "MONITOR");
      await sleep(QUIET_MS);
      const unsubs = countCommands(mon, "UNSUBSCRIBE", batchRe);
      assert.equal(unsubs.channels, 100, "each room's channel unsubscribed once");
      assert.ok(unsubs.commands <= 2, `100 rooms left at once: ${unsubs.commands} UNSUBSCRIBE commands`);

      // After leaving, the room's messages no longer reach the socket.
      await ack(sender, "to_room", { room: "batch-57", data: "late" });
      await sleep(QUIET_MS);
      assert.deepEqual(got, [57]);
    } finally {
      mon.close();
    }
    await closeAll(all);
  });

  test("100 separate joins in a burst, then a disconnect: every channel subscribed, then none", async () => {
    const rooms = Array.from({ length: 100 }, (_, i) => `burst-${i}`);
    const channels = rooms.map((r) => `socket.io#/#${r}#`);
    const s = await client(s2);
    for (const r of rooms) s.emit("join", r); // no waiting between them
    assert.equal((await ack(s, "rooms")).length, 101); // handled in order: all joined
    await waitNumsub(rc, channels, 1);
    s.close(); // leaving every room at once, by disconnecting
    await waitNumsub(rc, channels, 0);
    await closeAll(all);
  });

  test("joined and left in one batch: no channel stays subscribed; join-leave-join stays subscribed", async () => {
    const rooms = Array.from({ length: 50 }, (_, i) => `flicker-${i}`);
    const channels = rooms.map((r) => `socket.io#/#${r}#`);
    const s = await client(s3);
    assert.deepEqual(await ack(s, "join_leave", rooms), [s.id]);
    await sleep(QUIET_MS);
    await waitNumsub(rc, channels, 0);
    await sleep(QUIET_MS);
    await waitNumsub(rc, channels, 0, 100); // and it stays so

    // join, leave, join again in quick succession: the room ends subscribed.
    s.emit("join", "flicker-x");
    s.emit("leave", "flicker-x");
    s.emit("join", "flicker-x");
    assert.ok((await ack(s, "rooms")).includes("flicker-x"));
    await sleep(QUIET_MS);
    await waitNumsub(rc, "socket.io#/#flicker-x#", 1);
    // and leave, join, leave ends unsubscribed
    s.emit("leave", "flicker-x");
    s.emit("join", "flicker-x");
    s.emit("leave", "flicker-x");
    assert.ok(!(await ack(s, "rooms")).includes("flicker-x"));
    await sleep(QUIET_MS);
    await waitNumsub(rc, "socket.io#/#flicker-x#", 0);
    await closeAll(all);
  });

  test("a room shared by sockets of two instances: each instance subscribes once, until its last member leaves", async () => {
    const ch = "socket.io#/#shared#";
    const x1 = await client(s1);
    const y1 = await client(s1);
    const z2 = await client(s2);
    for (const s of [x1, y1, z2]) await ack(s, "join", "shared");
    await waitNumsub(rc, ch, 2);
    await ack(x1, "leave", "shared");
    await sleep(QUIET_MS);
    assert.equal(Number((await rc.numsub(ch))[ch]), 2, "y1 still holds the room on instance 1");
    // y1 still gets the room's messages from instance 2 after x1 left.
    const got = { x1: record(x1, "room_msg"), y1: record(y1, "room_msg"), z2: record(z2, "room_msg") };
    await ack(z2, "to_room", { room: "shared", data: "s", except: [z2.id] });
    await waitFor(() => got.y1.length >= 1, SETTLE_MS, "room_msg on y1");
    await sleep(QUIET_MS);
    assert.deepEqual(got, { x1: [], y1: ["s"], z2: [] });
    await ack(y1, "leave", "shared");
    await waitNumsub(rc, ch, 1);
    z2.close();
    await waitNumsub(rc, ch, 0);
    await closeAll(all);
  });

  test("a broadcast to several rooms with excepts: once per socket on every instance", async () => {
    const sender = await client(s1);
    const inA2 = await client(s2);
    const inB3 = await client(s3);
    const inAB3 = await client(s3);
    const inAX2 = await client(s2);
    const bobA3 = await bob(s3);
    const none2 = await client(s2);
    await ack(inA2, "join", "A");
    await ack(inB3, "join", "B");
    await ack(inAB3, "join", ["A", "B"]);
    await ack(inAX2, "join", ["A", "X"]);
    await ack(bobA3, "join", "A");
    const socks = { sender, inA2, inB3, inAB3, inAX2, bobA3, none2 };
    const got = Object.fromEntries(Object.entries(socks).map(([k, x]) => [k, record(x, "room_msg")]));
    assert.equal(await ack(sender, "to_room", { room: ["A", "B"], except: ["X", "user:bob"], data: "ab" }), 0);
    await waitFor(() => got.inA2.length && got.inB3.length && got.inAB3.length, SETTLE_MS, "room_msg");
    await sleep(QUIET_MS);
    assert.deepEqual(got, { sender: [], inA2: ["ab"], inB3: ["ab"], inAB3: ["ab"], inAX2: [], bobA3: [], none2: [] });
    await closeAll(all);
  });

  test("Lua fetch_sockets lists the sockets of every instance, with except", async () => {
    const a1 = await alice(s1);
    const a2 = await alice(s2);
    await jsonClient(s3, "?token=alice-token&room=x"); // alice's plain JSON socket on instance 3
    const b3 = await bob(s3);
    await ack(a2, "join", "fetch-room");
    const fetched = record(a1, "fetched");
    await ack(a1, "fetch", { in: ["user:alice"], except: [a1.id] });
    await waitFor(() => fetched.length >= 1, SETTLE_MS, "fetched");
    const { err, sockets } = fetched[0];
    assert.equal(err, null);
    const byUser = sockets.map((x) => [x.user, x.rooms.includes("user:alice")]);
    assert.deepEqual(byUser, [["alice", true], ["alice", true]]);
    const a2Entry = sockets.find((x) => x.id === a2.id);
    assert.ok(a2Entry, JSON.stringify(sockets));
    assert.deepEqual([...a2Entry.rooms].sort(), [a2.id, "authenticated", "fetch-room", "user:alice"].sort());
    const jsonEntry = sockets.find((x) => x.id !== a2.id);
    assert.equal(jsonEntry.query.room, "x", "the handshake query of the remote socket");
    assert.equal("token" in jsonEntry.query, false, "never the token");

    // Every socket of the namespace: the four of them.
    const f2 = record(b3, "fetched");
    await ack(b3, "fetch", {});
    await waitFor(() => f2.length >= 1, SETTLE_MS, "fetched");
    assert.equal(f2[0].sockets.length, 4);
    assert.ok(f2[0].sockets.some((x) => x.id === b3.id), "its own socket too");
    await closeAll(all);
  });

  test("Lua sockets_join / sockets_leave / disconnect_sockets act on every instance", async () => {
    const c1 = await client(s1);
    const a2 = await alice(s2);
    const a3 = await alice(s3);
    const b3 = await bob(s3);
    await ack(c1, "sockets_op", { op: "join", in: ["user:alice"], rooms: ["lua-joined"] });
    // The instances holding the joined sockets subscribe to the new room.
    await waitNumsub(rc, "socket.io#/#lua-joined#", 2);
    assert.ok((await ack(a2, "rooms")).includes("lua-joined"));
    assert.ok((await ack(a3, "rooms")).includes("lua-joined"));
    assert.ok(!(await ack(b3, "rooms")).includes("lua-joined"));

    await ack(c1, "sockets_op", { op: "leave", in: ["lua-joined"], except: [a3.id], rooms: ["lua-joined"] });
    await waitNumsub(rc, "socket.io#/#lua-joined#", 1);
    assert.ok(!(await ack(a2, "rooms")).includes("lua-joined"));
    assert.ok((await ack(a3, "rooms")).includes("lua-joined"));

    const reasons = {};
    for (const [k, x] of Object.entries({ c1, a2, a3, b3 })) x.on("disconnect", (r) => (reasons[k] = r));
    await ack(c1, "sockets_op", { op: "disconnect", in: ["user:alice"] });
    await waitFor(() => reasons.a2 && reasons.a3, SETTLE_MS, "alice's sockets to be disconnected");
    assert.equal(reasons.a2, "io server disconnect");
    assert.equal(reasons.a3, "io server disconnect");
    await sleep(QUIET_MS);
    assert.deepEqual(Object.keys(reasons).sort(), ["a2", "a3"]);
    await waitNumsub(rc, ["socket.io#/#user:alice#", "socket.io#/#lua-joined#"], 0);
    await closeAll(all);
  });

  test("sb.server_emit between instances: handlers run on the others, the callback gets their answers", async () => {
    const c1 = await client(s1);
    const n = async (server) => {
      const x = await client(server);
      const r = (await ack(x, "received")).length;
      x.close();
      return r;
    };
    const before = [await n(s1), await n(s2), await n(s3)];
    await ack(c1, "server_emit", { event: "sb:note", args: ["between", { n: 1 }] });
    await waitFor(async () => (await n(s2)) > before[1] && (await n(s3)) > before[2], SETTLE_MS, "sb:note");
    await sleep(QUIET_MS);
    assert.deepEqual([await n(s1), await n(s2), await n(s3)], [before[0], before[1] + 1, before[2] + 1]);

    const results = record(c1, "server_emit_result");
    await ack(c1, "server_emit_ack", { event: "sb:ping", args: ["x"] });
    await waitFor(() => results.length >= 1, SETTLE_MS, "server_emit_result");
    assert.deepEqual(results[0], { err: null, responses: ["pong x", "pong x"] });
    await closeAll(all);
  });

  test("a server that never answers: fetch_sockets calls back with a timeout and the answers that came", async () => {
    // A Redis client on the request channel counts as a server (PUBSUB NUMSUB) but is mute.
    const mute = rc.duplicate();
    mute.on("error", () => {});
    await mute.connect();
    try {
      await mute.subscribe("socket.io-request#/#", () => {});
      await waitNumsub(rc, "socket.io-request#/#", 4);
      const a1 = await alice(s1);
      const a2 = await alice(s2);
      const fetched = record(a1, "fetched");
      const t0 = Date.now();
      await ack(a1, "fetch", { in: ["user:alice"], timeout: 700 });
      await waitFor(() => fetched.length >= 1, SETTLE_MS, "fetched");
      const ms = Date.now() - t0;
      assert.equal(fetched[0].err, "operation has timed out");
      assert.deepEqual(fetched[0].sockets.map((x) => x.id).sort(), [a1.id, a2.id].sort(), "the answers that came");
      assert.ok(ms >= 600 && ms < 4000, `called back after ${ms} ms`);
      // The instance goes on: a later fetch (the mute server gone) is complete.
      await mute.unsubscribe("socket.io-request#/#");
      await waitNumsub(rc, "socket.io-request#/#", 3);
      await ack(a1, "fetch", { in: ["user:alice"] });
      await waitFor(() => fetched.length >= 2, SETTLE_MS, "fetched");
      assert.equal(fetched[1].err, null);
    } finally {
      await mute.disconnect().catch(() => {});
    }
    await closeAll(all);
  });

  test("raw adapter requests (JSON and msgpack) get one answer per instance", async () => {
    const a1 = await alice(s1);
    const a3 = await alice(s3);
    await ack(a3, "join", "raw-room");
    const listener = rc.duplicate();
    listener.on("error", () => {});
    await listener.connect();
    const responses = [];
    try {
      await listener.subscribe("socket.io-response#/#", (msg) => {
        responses.push(msg[0] === 0x7b ? JSON.parse(msg.toString()) : msgpack.decode(msg));
      }, true);
      const answers = async (id) => {
        await waitFor(() => responses.filter((r) => r.requestId === id).length >= 3, SETTLE_MS, `answers to ${id}`);
        await sleep(QUIET_MS);
        return responses.filter((r) => r.requestId === id);
      };
      // SOCKETS (type 0): the ids in the rooms.
      await rc.publish("socket.io-request#/#", JSON.stringify({ uid: "tester", requestId: "r0", type: 0, rooms: ["user:alice"] }));
      const r0 = await answers("r0");
      assert.equal(r0.length, 3, "one answer per instance");
      assert.deepEqual(r0.flatMap((r) => r.sockets).sort(), [a1.id, a3.id].sort());

      // ALL_ROOMS (type 1).
      await rc.publish("socket.io-request#/#", JSON.stringify({ uid: "tester", requestId: "r1", type: 1 }));
      const rooms = new Set((await answers("r1")).flatMap((r) => r.rooms));
      for (const r of [a1.id, a3.id, "user:alice", "authenticated", "raw-room"]) assert.ok(rooms.has(r), r);

      // REMOTE_FETCH (type 5), msgpack-encoded as the adapter may send requests.
      await rc.publish("socket.io-request#/#", msgpack.encode({ uid: "tester", requestId: "r5", type: 5,
        opts: { rooms: ["raw-room"], except: [] } }));
      const r5 = await answers("r5");
      const fetched = r5.flatMap((r) => r.sockets);
      assert.deepEqual(fetched.map((x) => x.id), [a3.id]);
      assert.ok(fetched[0].rooms.includes("raw-room"));
      assert.ok(fetched[0].handshake, "a RemoteSocket has a handshake");

      // SERVER_SIDE_EMIT (type 6) with a requestId: one answer per instance, type 6.
      await rc.publish("socket.io-request#/#", JSON.stringify({ uid: "tester", requestId: "r6", type: 6, data: ["sb:ping", 3] }));
      const r6 = await answers("r6");
      assert.deepEqual(r6.map((r) => [r.type, r.data]), [[6, "pong 3"], [6, "pong 3"], [6, "pong 3"]]);

      // Malformed requests are ignored, and the instances go on answering.
      for (const bad of ["{", "[]", JSON.stringify({ type: "x" }), JSON.stringify({ uid: 1, type: 5 }),
                         JSON.stringify({ type: 5, requestId: "bad", opts: { rooms: 7, except: null } }),
                         Buffer.from([0xc1, 0xff, 0x00])]) {
        await rc.publish("socket.io-request#/#", bad);
      }
      await rc.publish("socket.io-request#/#", JSON.stringify({ uid: "tester", requestId: "r1b", type: 1 }));
      assert.equal((await answers("r1b")).length, 3);
    } finally {
      await listener.disconnect().catch(() => {});
    }
    await closeAll(all);
  });

  test("malformed broadcasts on the channels are ignored; the instances go on delivering", async () => {
    const a2 = await alice(s2);
    const x3 = await client(s3);
    await waitNumsub(rc, "socket.io#/#user:alice#", 1);
    const got = { a2: record(a2, "ok"), x3: record(x3, "ok") };
    const nested = (depth) => Buffer.concat([Buffer.alloc(depth, 0x91), Buffer.from([0xc0])]);
    const valid = (event, opts = {}) =>
      msgpack.encode(["emitter", { type: 2, data: [event, 1], nsp: "/" }, { rooms: [], except: [], flags: {}, ...opts }]);
    const junk = [
      Buffer.alloc(0), Buffer.from("not msgpack"), Buffer.from([0xc1]), Buffer.from([0x93, 0xa1]),
      msgpack.encode(["emitter"]), msgpack.encode(["emitter", { type: 2, data: [], nsp: "/" }, {}]),
      msgpack.encode(["emitter", { type: 2, data: [{ not: "a name" }], nsp: "/" }, {}]),
      msgpack.encode(["emitter", { type: 2, data: ["x"], nsp: "/" }, { rooms: "user:alice", except: 5 }]),
      msgpack.encode([42, { type: 2, data: ["x"] }, {}]), msgpack.encode({ uid: "emitter" }),
      msgpack.encode(["emitter", { type: 2, data: ["connect"], nsp: "/" }, {}]), // a reserved name
      nested(100000), Buffer.concat([nested(50), Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])]),
      Buffer.from([0x93, 0xa7, ...Buffer.from("emitter"), 0xdf, 0xff, 0xff, 0xff, 0xff]),
    ];
    for (const ch of ["socket.io#/#", "socket.io#/#user:alice#"])
      for (const m of junk) await rc.publish(Buffer.from(ch), m);
    await rc.publish("socket.io#/#", valid("ok"));
    await waitFor(() => got.a2.length && got.x3.length, SETTLE_MS, "the valid message after the junk");
    await sleep(QUIET_MS);
    assert.deepEqual(got, { a2: [1], x3: [1] });
    for (const s of all) assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
    await closeAll(all);
  });

  test("POST /api/emit on instance 1 reaches a client on instance 2", async () => {
    const c2 = await client(s2);
    const alice2 = await alice(s2);
    const bob3 = await bob(s3);
    await waitNumsub(rc, "socket.io#/#user:alice#", 1);
    const got = { c2: record(c2, "api_news"), alice2: record(alice2, "api_dm"), bob3: record(bob3, "api_dm") };

    const post = (body) =>
      fetch(`${s1.url}/api/emit`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${API_KEY}` },
        body: JSON.stringify(body),
      });
    let res = await post({ event: "api_news", data: { from: "api" } });
    assert.ok(res.status >= 200 && res.status < 300, `POST /api/emit: ${res.status} ${await res.text()}`);
    res = await post({ event: "api_dm", data: "for alice", rooms: ["user:alice"] });
    assert.ok(res.status >= 200 && res.status < 300, `POST /api/emit: ${res.status} ${await res.text()}`);
    await waitFor(() => got.c2.length >= 1 && got.alice2.length >= 1, SETTLE_MS, "the API's events");
    await sleep(QUIET_MS);
    assert.deepEqual(got.c2, [{ from: "api" }]);
    assert.deepEqual(got.alice2, ["for alice"]);
    assert.deepEqual(got.bob3, []);
    await closeAll(all);
  });
});
