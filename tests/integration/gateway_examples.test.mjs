// The shipped example gateways with their new storage: scripts/chat.lua (presence and the
// last 50 messages, in this process or in Redis, shared by the instances of a cluster) and
// scripts/counter.lua (per-user counts in Redis). Real clients, the shipped scripts directory.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DEMO_PLUGINS, SANITIZED, connected, once, record, sio, sleep, startServer, stopClean } from "./helpers.mjs";
import { redisClient, startInstance, startRedis, stopAll, waitFor } from "./redis.mjs";

const SLOW = SANITIZED ? 3 : 1;
const SETTLE = 5000 * SLOW;
const ack = (s, event, data) => s.timeout(5000 * SLOW).emitWithAck(event, data);

const open = [];
async function client(server, token) {
  const s = sio(server, token ? { auth: { token: `${token}-token` } } : {});
  open.push(s);
  return connected(s);
}
function closeAll() {
  for (const s of open.splice(0)) s.close();
}

// The payload of the `exception` that emitting `event` gets.
async function exceptionOf(s, event, data) {
  const exc = once(s, "exception", 5000 * SLOW);
  s.emit(event, data);
  return (await exc)[0];
}

let n = 0;
const roomName = () => `ex-${process.pid}-${++n}`;

// Polls the members of `room` through `s` until they are `want`.
async function waitMembers(s, room, want, ms = SETTLE) {
  let got;
  await waitFor(
    async () => JSON.stringify((got = (await ack(s, "members", { room })).members)) === JSON.stringify(want),
    ms,
    `members of ${room} to be ${JSON.stringify(want)} (last ${JSON.stringify(got)})`,
  );
}

// The chat tests that hold with one server, with or without Redis.
function chatOnOneServer(getServer) {
  test("a joiner gets the last 50 messages as history, oldest first", async () => {
    const server = getServer();
    const room = roomName();
    const alice = await client(server, "alice");
    const aliceHistory = once(alice, "history");
    await ack(alice, "join", { room });
    assert.deepEqual((await aliceHistory)[0], { room, messages: [] }, "a new room has no history");
    for (let i = 1; i <= 55; i++) assert.equal(await ack(alice, "message", { room, text: `m${i}` }), true);

    const bob = await client(server, "bob");
    const history = once(bob, "history");
    await ack(bob, "join", { room });
    const [{ room: r, messages }] = await history;
    assert.equal(r, room);
    assert.equal(messages.length, 50);
    assert.deepEqual(
      messages.map((m) => m.text),
      Array.from({ length: 50 }, (_, i) => `m${i + 6}`),
    );
    for (const m of messages) {
      assert.equal(m.from, "alice");
      assert.equal(m.room, room);
      assert.ok(Number.isInteger(m.at));
    }
    // Another room's history is its own.
    const other = once(bob, "history");
    const otherRoom = roomName();
    await ack(bob, "join", { room: otherRoom });
    assert.deepEqual((await other)[0], { room: otherRoom, messages: [] });
    closeAll();
  });

  test("presence counts a user with two tabs once; disconnects update it", async () => {
    const server = getServer();
    const room = roomName();
    const tab1 = await client(server, "alice");
    const tab2 = await client(server, "alice");
    const bob = await client(server, "bob");
    await ack(tab1, "join", { room });
    await ack(tab2, "join", { room });
    const presence = record(bob, "presence");
    assert.deepEqual(await ack(bob, "join", { room }), { room, members: ["alice", "bob"] });
    await waitFor(() => presence.length > 0, SETTLE, "bob's presence");
    assert.deepEqual(presence.at(-1), { room, online: ["alice", "bob"] });

    // One tab goes away: alice is still online.
    presence.length = 0;
    tab1.close();
    await waitFor(() => presence.length > 0, SETTLE, "presence after the first tab left");
    assert.deepEqual(presence.at(-1), { room, online: ["alice", "bob"] });
    assert.deepEqual(await ack(bob, "members", { room }), { room, members: ["alice", "bob"] });

    // The second tab: she is gone.
    presence.length = 0;
    tab2.close();
    await waitFor(() => presence.length > 0, SETTLE, "presence after the second tab left");
    assert.deepEqual(presence.at(-1), { room, online: ["bob"] });
    await waitMembers(bob, room, ["bob"]);

    // Bob's disconnect empties the room.
    const watcher = await client(server);
    bob.close();
    await waitMembers(watcher, room, []);
    closeAll();
  });
}

describe("scripts/chat.lua without --redis (presence and history in this process)", () => {
  let server;
  before(async () => {
    server = await startServer({ plugins: DEMO_PLUGINS });
  });
  after(async (t) => {
    closeAll();
    await stopClean(t, server);
  });
  chatOnOneServer(() => server);
});

describe("scripts/chat.lua and scripts/counter.lua with --redis", () => {
  let redis, rc, s1, s2;
  before(async () => {
    redis = await startRedis();
    rc = await redisClient(redis.url);
    s1 = await startInstance(redis.url, { plugins: DEMO_PLUGINS });
    s2 = await startInstance(redis.url, { plugins: DEMO_PLUGINS });
  });
  after(async (t) => {
    closeAll();
    redis?.sigcont();
    try {
      await stopAll(t, [s1, s2]);
    } finally {
      await rc?.close();
      await redis?.kill();
    }
  });

  chatOnOneServer(() => s1);

  test("chat: the history and presence live in Redis", async () => {
    const room = roomName();
    const alice = await client(s1, "alice");
    await ack(alice, "join", { room });
    await ack(alice, "message", { room, text: "stored" });
    assert.deepEqual({ ...(await rc.hGetAll(`chat:online:${room}`)) }, { alice: "1" });
    const stored = (await rc.lRange(`chat:history:${room}`, 0, -1)).map((t) => JSON.parse(t));
    assert.equal(stored.length, 1);
    assert.equal(stored[0].text, "stored");
    assert.equal(stored[0].from, "alice");
    alice.close();
    await waitFor(async () => (await rc.hLen(`chat:online:${room}`)) === 0, SETTLE, "presence cleared in Redis");
    closeAll();
  });

  test("chat with two instances: history and presence are shared", async () => {
    const room = roomName();
    const alice = await client(s1, "alice");
    await ack(alice, "join", { room });
    for (const text of ["one", "two", "three"]) await ack(alice, "message", { room, text });

    const joined = record(alice, "joined");
    const messages = record(alice, "message");
    const bob = await client(s2, "bob");
    const history = once(bob, "history");
    assert.deepEqual(await ack(bob, "join", { room }), { room, members: ["alice", "bob"] });
    assert.deepEqual(
      (await history)[0].messages.map((m) => [m.from, m.text]),
      [["alice", "one"], ["alice", "two"], ["alice", "three"]],
    );
    await waitFor(() => joined.length > 0, SETTLE, "alice hearing bob join on the other instance");
    assert.deepEqual(joined, [{ room, user: "bob" }]);
    await ack(bob, "message", { room, text: "from s2" });
    await waitFor(() => messages.length > 0, SETTLE, "bob's message on the other instance");
    assert.equal(messages[0].text, "from s2");
    assert.deepEqual(await ack(alice, "members", { room }), { room, members: ["alice", "bob"] });

    // Alice has a second tab, on the other instance: listed once on both.
    const tab2 = await client(s2, "alice");
    await ack(tab2, "join", { room });
    assert.deepEqual(await ack(bob, "members", { room }), { room, members: ["alice", "bob"] });
    alice.close();
    await sleep(200 * SLOW);
    assert.deepEqual(await ack(bob, "members", { room }), { room, members: ["alice", "bob"] });
    tab2.close();
    await waitMembers(bob, room, ["bob"]);

    // Bob leaves s2; the room is empty seen from s1 too.
    const watcher = await client(s1);
    bob.close();
    await waitMembers(watcher, room, []);
    closeAll();
  });

  test("counter: counts per user in Redis, shared by the instances", async () => {
    const alice = await client(s1, "alice");
    const bob = await client(s1, "bob");
    assert.equal(await ack(alice, "count", { name: "clicks" }), 1);
    assert.equal(await ack(alice, "count", { name: "clicks" }), 2);
    assert.equal(await ack(alice, "count"), 1, "no name: 'events'");
    assert.equal(await ack(bob, "count", { name: "clicks" }), 1, "bob counts apart");
    assert.deepEqual(await ack(alice, "counts"), { clicks: 2, events: 1 });
    assert.deepEqual({ ...(await rc.hGetAll("counter:alice")) }, { clicks: "2", events: "1" });

    // Another instance, another tab: the same counts.
    const alice2 = await client(s2, "alice");
    assert.equal(await ack(alice2, "count", { name: "clicks" }), 3);
    assert.deepEqual(await ack(alice2, "counts"), { clicks: 3, events: 1 });
    assert.deepEqual(await ack(alice, "counts"), { clicks: 3, events: 1 });
    assert.deepEqual(await ack(bob, "counts"), { clicks: 1 });
    closeAll();
  });

  test("counter: anonymous sockets and bad names get an exception", async () => {
    const anon = await client(s1);
    const signIn = { status: "error", message: "sign in first: counts are per user" };
    assert.deepEqual(await exceptionOf(anon, "count", { name: "clicks" }), signIn);
    assert.deepEqual(await exceptionOf(anon, "counts"), signIn);
    const alice = await client(s1, "alice");
    const badName = { status: "error", message: "name must be a string of 1 to 64 characters" };
    for (const name of ["", "x".repeat(65), 5]) {
      assert.deepEqual(await exceptionOf(alice, "count", { name }), badName, JSON.stringify(name));
    }
    assert.equal(await ack(alice, "count", { name: "y".repeat(64) }), 1);
    closeAll();
  });

  // Run last in this block: it takes Redis away and brings it back.
  test("counter: Redis gone -> 'counter unavailable: …', then it counts again", async () => {
    const alice = await client(s1, "alice");
    await redis.kill();
    let exc;
    await waitFor(
      async () => {
        const got = await Promise.race([
          ack(alice, "count", { name: "down" }).then((v) => ({ ack: v })),
          once(alice, "exception", 5000 * SLOW).then(([e]) => e),
        ]);
        exc = got;
        return got.message !== undefined;
      },
      SETTLE,
      "an exception while Redis is gone",
    );
    assert.equal(exc.status, "error");
    assert.match(exc.message, /^counter unavailable: redis (is not connected|connection lost|command timed out)$/);
    await redis.restart();
    let last;
    await waitFor(
      async () => {
        last = await Promise.race([
          ack(alice, "count", { name: "up" }),
          once(alice, "exception", 5000 * SLOW).then(([e]) => e),
        ]);
        return last === 1;
      },
      20000 * SLOW,
      "counting again once Redis is back",
    );
    closeAll();
  });
});

describe("scripts/counter.lua without --redis", () => {
  let server;
  before(async () => {
    server = await startServer({ plugins: DEMO_PLUGINS });
  });
  after(async (t) => {
    closeAll();
    await stopClean(t, server);
  });

  test("count and counts answer 'counter unavailable: redis is not configured …'", async () => {
    const alice = await client(server, "alice");
    const unavailable = {
      status: "error",
      message: "counter unavailable: redis is not configured (start with --redis)",
    };
    assert.deepEqual(await exceptionOf(alice, "count", { name: "clicks" }), unavailable);
    assert.deepEqual(await exceptionOf(alice, "counts"), unavailable);
    // Anonymous: the sign-in check comes first.
    const anon = await client(server);
    assert.deepEqual(await exceptionOf(anon, "count"), {
      status: "error",
      message: "sign in first: counts are per user",
    });
    // The chat (same scripts directory) still works without Redis.
    const room = roomName();
    assert.deepEqual(await ack(alice, "join", { room }), { room, members: ["alice"] });
    closeAll();
  });
});

// chat.lua decides once whether it has Redis (redis.pcall("PING") at the first use) and
// keeps the answer, except "not connected". A first PING that times out (Redis busy for a
// moment) makes the instance keep presence and history to itself for good, while the other
// instances use Redis: the cluster no longer shares the chat.
describe("scripts/chat.lua: a Redis stall at the first use", () => {
  let redis, s1, s2;
  before(async () => {
    redis = await startRedis();
    s1 = await startInstance(redis.url, { plugins: DEMO_PLUGINS, args: ["--lua-redis-timeout", "200"] });
    s2 = await startInstance(redis.url, { plugins: DEMO_PLUGINS });
  });
  after(async (t) => {
    closeAll();
    redis?.sigcont();
    try {
      await stopAll(t, [s1, s2]);
    } finally {
      await redis?.kill();
    }
  });

  test("does not make an instance keep the chat to itself for good", async () => {
    const room = roomName();
    const alice = await client(s1, "alice");
    redis.sigstop();
    try {
      // The first chat event of s1 meets a Redis that does not answer within 200 ms.
      await Promise.race([ack(alice, "join", { room }), once(alice, "exception", 5000 * SLOW)]);
    } finally {
      redis.sigcont();
    }
    await sleep(100);
    // Redis is fine again: what alice does now must be seen from the other instance.
    await ack(alice, "join", { room });
    await ack(alice, "message", { room, text: "after the stall" });
    const bob = await client(s2, "bob");
    const history = once(bob, "history");
    await ack(bob, "join", { room });
    assert.deepEqual(
      (await history)[0].messages.map((m) => m.text),
      ["after the stall"],
      "the message sent on s1 is not in the shared history",
    );
    await waitMembers(bob, room, ["alice", "bob"]);
    closeAll();
  });
});
