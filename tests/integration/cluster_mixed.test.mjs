// A mixed cluster: one Node socket.io 4 server with the real @socket.io/redis-adapter 8.3
// (tests/integration/peers/socketio-peer.mjs) and two switchboard instances on one redis-server,
// plus @socket.io/redis-emitter. Broadcasts go both ways; the Node server's fetchSockets(),
// allRooms(), socketsJoin(), socketsLeave(), disconnectSockets() and serverSideEmit() cover
// switchboard's sockets; the emitter reaches switchboard's clients.
import assert from "node:assert/strict";
import path from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { Emitter } from "@socket.io/redis-emitter";
import { ROOT, connected, rawWs, record, sio, sleep } from "./helpers.mjs";
import {
  CLUSTER_GATEWAYS,
  QUIET_MS,
  SETTLE_MS,
  redisClient,
  startInstance,
  startNodePeer,
  startRedis,
  stopAll,
  waitFor,
  waitNumsub,
} from "./redis.mjs";

const TOKENS = path.join(ROOT, "examples/demo/tokens.txt"); // alice-token alice, bob-token bob
// The Node adapter gives up on a request after this; switchboard must answer well before.
const REQUESTS_TIMEOUT = 5000;

let redis, rc, pubForEmitter, emitter, peer, s1, s2, all;
before(async () => {
  redis = await startRedis();
  rc = await redisClient(redis.url);
  pubForEmitter = await redisClient(redis.url);
  emitter = new Emitter(pubForEmitter);
  peer = await startNodePeer(redis.url, { requestsTimeout: REQUESTS_TIMEOUT, namespaces: ["/admin"] });
  const opts = { scripts: CLUSTER_GATEWAYS, plugins: [`auth-static=${TOKENS}`] };
  s1 = await startInstance(redis.url, opts);
  s2 = await startInstance(redis.url, opts);
  all = [s1, s2];
  // The Node server and both instances answer requests of "/" and "/admin".
  await waitNumsub(rc, ["socket.io-request#/#", "socket.io-request#/admin#"], 3);
});
after(async (t) => {
  for (const s of open.splice(0)) s.close();
  await peer?.stop();
  try {
    await stopAll(t, [s1, s2]);
  } finally {
    await pubForEmitter?.close();
    await rc?.close();
    await redis?.stop();
  }
});

const open = [];
function client(server, opts = {}, nsp = "/") {
  const s = sio(server, opts, nsp);
  open.push(s);
  return connected(s);
}
const sbAlice = (server, nsp) => client(server, { auth: { token: "alice-token" } }, nsp);
const sbBob = (server, nsp) => client(server, { auth: { token: "bob-token" } }, nsp);
// A client of the Node server; auth {user} puts it in "user:<user>" and "authenticated".
const nodeClient = (user, nsp = "/") => client(peer, user ? { auth: { user } } : {}, nsp);

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
async function closeAll() {
  for (const s of open.splice(0)) s.close();
  for (const server of all) {
    await waitFor(async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      return /^switchboard_sockets 0$/m.test(text);
    }, SETTLE_MS, "every socket to be gone");
  }
  await waitFor(async () => (await peer.call("localSockets")).length === 0, SETTLE_MS,
    "the node peer's sockets to be gone");
}

// A failed test leaves its clients open: close them so that the next test starts clean.
afterEach(async () => {
  if (open.length) await closeAll().catch(() => {});
});

const ack = (s, event, ...args) => s.timeout(SETTLE_MS).emitWithAck(event, ...args);
const sorted = (a) => [...a].sort();

// Waits until every recorder of `got` named in `keys` has `n` entries, then a quiet period.
async function settle(got, keys, n = 1) {
  await waitFor(() => keys.every((k) => got[k].length >= n), SETTLE_MS, `events on ${keys.join(", ")}`);
  await sleep(QUIET_MS);
}

describe("broadcasts between Node and switchboard", () => {
  test("the Node server counts both switchboard instances as servers", async () => {
    assert.equal(await peer.call("serverCount"), 3);
  });

  test("io.to('user:alice').emit from Node reaches alice's switchboard sockets, with except", async () => {
    const a1 = await sbAlice(s1);
    const a2 = await sbAlice(s2);
    const aJson = await jsonClient(s2, "?token=alice-token");
    const b1 = await sbBob(s1);
    const anon2 = await client(s2);
    const aNode = await nodeClient("alice");
    await waitNumsub(rc, "socket.io#/#user:alice#", 2);
    const got = {
      a1: record(a1, "note"), a2: record(a2, "note"), aJson: recordJson(aJson, "note"),
      b1: record(b1, "note"), anon2: record(anon2, "note"), aNode: record(aNode, "note"),
    };
    await peer.call("emit", { in: "user:alice", event: "note", args: [{ n: 1 }] });
    await settle(got, ["a1", "a2", "aJson", "aNode"]);
    for (const k of ["a1", "a2", "aJson", "aNode"]) assert.deepEqual(got[k], [{ n: 1 }], k);
    assert.deepEqual(got.b1, []);
    assert.deepEqual(got.anon2, []);

    // socket.to("user:alice") from Node's alice socket: the seed's send-to-user-except-origin,
    // here written by Node with except = a socket id of a switchboard instance.
    await peer.call("emit", { in: "user:alice", except: [a1.id], event: "note", args: [2, "two"] });
    await settle(got, ["a2", "aJson", "aNode"], 2);
    assert.deepEqual(got.a1, [{ n: 1 }], "a1 is excepted by its socket id");
    for (const k of ["a2", "aNode"]) assert.deepEqual(got[k], [{ n: 1 }, [2, "two"]], k);
    assert.deepEqual(got.aJson, [{ n: 1 }, 2], "plain JSON carries the first argument as data");
    await closeAll();
  });

  test("io.emit from Node reaches every switchboard socket of the namespace, not other namespaces", async () => {
    const x1 = await client(s1);
    const y2 = await sbBob(s2);
    const j2 = await jsonClient(s2);
    const admin1 = await client(s1, {}, "/admin");
    const n = await nodeClient();
    const got = { x1: record(x1, "hello"), y2: record(y2, "hello"), j2: recordJson(j2, "hello"),
                  admin1: record(admin1, "hello"), n: record(n, "hello") };
    await peer.call("emit", { event: "hello", args: ["world"] });
    await settle(got, ["x1", "y2", "j2", "n"]);
    for (const k of ["x1", "y2", "j2", "n"]) assert.deepEqual(got[k], ["world"], k);
    assert.deepEqual(got.admin1, [], "a broadcast of '/' stays in '/'");

    // And io.of("/admin").emit reaches /admin only.
    const adminGot = { admin1: record(admin1, "a"), x1: record(x1, "a") };
    await peer.call("emit", { nsp: "/admin", event: "a", args: [1] });
    await settle(adminGot, ["admin1"]);
    assert.deepEqual(adminGot, { admin1: [1], x1: [] });
    await closeAll();
  });

  test("switchboard's sb.emit, sb.to_user and sb.to_authenticated reach the Node server's sockets", async () => {
    const sender = await client(s1);
    const aNode = await nodeClient("alice");
    const bNode = await nodeClient("bob");
    const anonNode = await nodeClient();
    const a2 = await sbAlice(s2);
    await waitNumsub(rc, "socket.io#/#user:alice#", 1);
    const got = {
      aNode: record(aNode, "news"), bNode: record(bNode, "news"), anonNode: record(anonNode, "news"),
    };
    assert.equal(await ack(sender, "all", { from: "sb" }), 1);
    await settle(got, ["aNode", "bNode", "anonNode"]);
    for (const k of Object.keys(got)) assert.deepEqual(got[k], [{ from: "sb" }], k);

    const dm = { aNode: record(aNode, "dm"), bNode: record(bNode, "dm"), anonNode: record(anonNode, "dm"),
                 a2: record(a2, "dm") };
    assert.equal(await ack(sender, "to_user", { user: "alice", data: "hi alice" }), 0);
    await settle(dm, ["aNode", "a2"]);
    assert.deepEqual(dm, { aNode: ["hi alice"], bNode: [], anonNode: [], a2: ["hi alice"] });

    const an = { aNode: record(aNode, "auth_news"), bNode: record(bNode, "auth_news"),
                 anonNode: record(anonNode, "auth_news") };
    await ack(sender, "to_authenticated", 7);
    await settle(an, ["aNode", "bNode"]);
    assert.deepEqual(an, { aNode: [7], bNode: [7], anonNode: [] });
    await closeAll();
  });
});

describe("inter-server requests from Node cover switchboard's sockets", () => {
  test("fetchSockets() in user:alice lists switchboard's sockets with ids and rooms, without timing out", async () => {
    const a1 = await sbAlice(s1);
    const a2 = await client(s2, { auth: { token: "alice-token", room: "lobby", n: 3 } });
    const b2 = await sbBob(s2);
    const aNode = await nodeClient("alice");
    await ack(a1, "join", ["lobby", "room-1"]);
    const { ms, sockets } = await peer.call("fetchSockets", { in: "user:alice" });
    assert.ok(ms < REQUESTS_TIMEOUT - 1000, `fetchSockets took ${ms} ms`);
    const byId = Object.fromEntries(sockets.map((s) => [s.id, s]));
    assert.deepEqual(sorted(Object.keys(byId)), sorted([a1.id, a2.id, aNode.id]),
      "alice's sockets on both switchboard instances and on Node, nobody else");
    assert.deepEqual(sorted(byId[a1.id].rooms), sorted([a1.id, "user:alice", "authenticated", "lobby", "room-1"]));
    assert.deepEqual(sorted(byId[a2.id].rooms), sorted([a2.id, "user:alice", "authenticated"]));
    assert.equal(byId[a1.id].local, false);
    assert.equal(byId[aNode.id].local, true);
    // handshake.auth is the CONNECT auth object without its token, as gateways see it.
    assert.deepEqual(byId[a1.id].handshake.auth, {});
    assert.deepEqual(byId[a2.id].handshake.auth, { room: "lobby", n: 3 });
    // b2's id is nowhere in the answer.
    assert.ok(!(b2.id in byId));

    // fetchSockets() of the whole namespace: every socket of the cluster.
    const everyone = await peer.call("fetchSockets", {});
    assert.ok(everyone.ms < REQUESTS_TIMEOUT - 1000, `fetchSockets took ${everyone.ms} ms`);
    assert.deepEqual(sorted(everyone.sockets.map((s) => s.id)), sorted([a1.id, a2.id, b2.id, aNode.id]));

    // except works remotely too.
    const notBob = await peer.call("fetchSockets", { in: "authenticated", except: ["user:bob", a2.id] });
    assert.deepEqual(sorted(notBob.sockets.map((s) => s.id)), sorted([a1.id, aNode.id]));
    await closeAll();
  });

  test("fetchSockets() for a room nobody is in answers an empty list quickly", async () => {
    await client(s1);
    const { ms, sockets } = await peer.call("fetchSockets", { in: "nobody-here" });
    assert.deepEqual(sockets, []);
    assert.ok(ms < REQUESTS_TIMEOUT - 1000, `fetchSockets took ${ms} ms (every server must answer)`);
    await closeAll();
  });

  test("fetchSockets() in '/admin' lists only switchboard's '/admin' sockets", async () => {
    const root = await sbAlice(s1);
    const admin = await sbAlice(s2, "/admin");
    const { ms, sockets } = await peer.call("fetchSockets", { nsp: "/admin", in: "user:alice" });
    assert.ok(ms < REQUESTS_TIMEOUT - 1000, `fetchSockets took ${ms} ms`);
    assert.deepEqual(sockets.map((s) => s.id), [admin.id]);
    assert.ok(!sockets.some((s) => s.id === root.id));
    await closeAll();
  });

  test("allRooms() includes the rooms of switchboard's sockets", async () => {
    const a1 = await sbAlice(s1);
    const x2 = await client(s2);
    await ack(x2, "join", ["all-rooms-test"]);
    await nodeClient("bob");
    const { ms, rooms } = await peer.call("allRooms");
    assert.ok(ms < REQUESTS_TIMEOUT - 1000, `allRooms took ${ms} ms`);
    for (const r of [a1.id, x2.id, "user:alice", "authenticated", "all-rooms-test", "user:bob"])
      assert.ok(rooms.includes(r), `allRooms() lacks ${r}: ${JSON.stringify(rooms)}`);
    await closeAll();
  });

  test("socketsJoin / socketsLeave from Node act on switchboard's sockets (and their subscriptions)", async () => {
    const a1 = await sbAlice(s1);
    const a2 = await sbAlice(s2);
    const b1 = await sbBob(s1);
    const ch = "socket.io#/#vip#";
    await peer.call("socketsJoin", { in: "user:alice", rooms: ["vip"] });
    await waitFor(async () => (await ack(a1, "rooms")).includes("vip") && (await ack(a2, "rooms")).includes("vip"),
      SETTLE_MS, "alice's sockets to join vip");
    assert.ok(!(await ack(b1, "rooms")).includes("vip"), "bob is not in user:alice");
    // The new room is subscribed on both instances, so Node's broadcasts to it arrive.
    await waitNumsub(rc, ch, 2);
    const got = { a1: record(a1, "vip"), a2: record(a2, "vip"), b1: record(b1, "vip") };
    await peer.call("emit", { in: "vip", event: "vip", args: ["welcome"] });
    await settle(got, ["a1", "a2"]);
    assert.deepEqual(got, { a1: ["welcome"], a2: ["welcome"], b1: [] });

    // socketsLeave with except: a2 stays.
    await peer.call("socketsLeave", { in: "vip", except: [a2.id], rooms: ["vip"] });
    await waitFor(async () => !(await ack(a1, "rooms")).includes("vip"), SETTLE_MS, "a1 to leave vip");
    assert.ok((await ack(a2, "rooms")).includes("vip"), "a2 was excepted");
    await waitNumsub(rc, ch, 1);
    await peer.call("socketsLeave", { rooms: "vip" });
    await waitFor(async () => !(await ack(a2, "rooms")).includes("vip"), SETTLE_MS, "a2 to leave vip");
    await waitNumsub(rc, ch, 0);

    // The same requests written by @socket.io/redis-emitter (no uid).
    emitter.in("user:bob").socketsJoin(["from-emitter"]);
    await waitFor(async () => (await ack(b1, "rooms")).includes("from-emitter"), SETTLE_MS, "bob to join");
    assert.ok(!(await ack(a1, "rooms")).includes("from-emitter"));
    emitter.socketsLeave("from-emitter");
    await waitFor(async () => !(await ack(b1, "rooms")).includes("from-emitter"), SETTLE_MS, "bob to leave");
    await closeAll();
  });

  test("disconnectSockets from Node disconnects switchboard's sockets of the room, and only them", async () => {
    const b1 = await sbBob(s1);
    const b2 = await sbBob(s2);
    const a1 = await sbAlice(s1);
    const bJson = await jsonClient(s2, "?token=bob-token");
    const reasons = {};
    for (const [k, s] of Object.entries({ b1, b2, a1 })) s.on("disconnect", (r) => (reasons[k] = r));
    await peer.call("disconnectSockets", { in: "user:bob" });
    await waitFor(() => reasons.b1 && reasons.b2, SETTLE_MS, "bob's sockets to be disconnected");
    assert.equal(reasons.b1, "io server disconnect");
    assert.equal(reasons.b2, "io server disconnect");
    // The plain JSON socket of bob is closed as well.
    const closed = await bJson.closed(SETTLE_MS);
    assert.equal(typeof closed.code, "number");
    await sleep(QUIET_MS);
    assert.equal(reasons.a1, undefined, "alice stays connected");
    assert.equal(a1.connected, true);
    assert.equal((await ack(a1, "whoami")).user, "alice");

    // disconnectSockets(true) with except, through the emitter: everyone but alice.
    const x2 = await client(s2);
    let xr;
    x2.on("disconnect", (r) => (xr = r));
    emitter.except("user:alice").disconnectSockets(true);
    await waitFor(() => xr, SETTLE_MS, "x2 to be disconnected");
    assert.ok(["io server disconnect", "transport close"].includes(xr), xr);
    await sleep(QUIET_MS);
    assert.equal(a1.connected, true);
    await closeAll();
  });
});

describe("@socket.io/redis-emitter reaches switchboard's clients", () => {
  test("to all, to a room, to a user, with except", async () => {
    const a1 = await sbAlice(s1);
    const a2 = await sbAlice(s2);
    const b2 = await sbBob(s2);
    const anon1 = await client(s1);
    const j1 = await jsonClient(s1);
    await ack(anon1, "join", "emitter-room");
    await ack(b2, "join", "emitter-room");
    await waitNumsub(rc, "socket.io#/#user:alice#", 2);
    await waitNumsub(rc, "socket.io#/#emitter-room#", 2);
    const names = ["a1", "a2", "b2", "anon1", "j1"];
    const socks = { a1, a2, b2, anon1 };
    const rec = (ev) => {
      const got = {};
      for (const [k, s] of Object.entries(socks)) got[k] = record(s, ev);
      got.j1 = recordJson(j1, ev);
      return got;
    };

    const toAll = rec("e_all");
    emitter.emit("e_all", { x: 1 }, "second");
    await settle(toAll, names);
    for (const k of ["a1", "a2", "b2", "anon1"]) assert.deepEqual(toAll[k], [[{ x: 1 }, "second"]], k);
    assert.deepEqual(toAll.j1, [{ x: 1 }]);

    const toRoom = rec("e_room");
    emitter.to("emitter-room").emit("e_room", 1);
    await settle(toRoom, ["anon1", "b2"]);
    assert.deepEqual(toRoom, { a1: [], a2: [], b2: [1], anon1: [1], j1: [] });

    const toUser = rec("e_user");
    emitter.to("user:alice").emit("e_user", "for alice");
    await settle(toUser, ["a1", "a2"]);
    assert.deepEqual(toUser, { a1: ["for alice"], a2: ["for alice"], b2: [], anon1: [], j1: [] });

    const toUserExcept = rec("e_user_x");
    emitter.to("user:alice").except(a1.id).emit("e_user_x", 2);
    await settle(toUserExcept, ["a2"]);
    assert.deepEqual(toUserExcept, { a1: [], a2: [2], b2: [], anon1: [], j1: [] });

    const allExcept = rec("e_all_x");
    emitter.except(["user:alice", "emitter-room"]).emit("e_all_x", 3);
    await settle(allExcept, ["j1"]);
    assert.deepEqual(allExcept, { a1: [], a2: [], b2: [], anon1: [], j1: [3] });

    const twoRooms = rec("e_two");
    emitter.to(["user:alice", "emitter-room"]).except(a2.id).emit("e_two", 4);
    await settle(twoRooms, ["a1", "b2", "anon1"]);
    assert.deepEqual(twoRooms, { a1: [4], a2: [], b2: [4], anon1: [4], j1: [] },
      "several rooms: once per socket, on the namespace channel");

    // A namespace of its own.
    const admin = await client(s2, {}, "/admin");
    const adm = { admin: record(admin, "e_admin"), a1: record(a1, "e_admin") };
    emitter.of("/admin").emit("e_admin", "adm");
    await settle(adm, ["admin"]);
    assert.deepEqual(adm, { admin: ["adm"], a1: [] });
    await closeAll();
  });
});

describe("payloads and rooms cross the msgpack boundary unchanged", () => {
  test("what Node publishes reaches switchboard's clients exactly as Node's own clients get it", async () => {
    const sb1 = await client(s1);
    const n = await nodeClient();
    const payload = {
      int: 42, neg: -7, zero: 0, i32: -(2 ** 31) - 1, u32: 2 ** 32 + 5, big: 2 ** 53, float: 0.1,
      negf: -1234.5, t: true, f: false, nil: null, empty: {}, emptyList: [],
      str: "é✓🎉", long: "x".repeat(70000), list16: Array.from({ length: 20 }, (_, i) => i * 1000),
      map16: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
      nested: { a: [{ b: [{ c: "deep" }] }] }, date: "$date:1700000000123",
    };
    const got = { sb1: record(sb1, "typed"), n: record(n, "typed") };
    await peer.call("emit", { event: "typed", args: [payload, 2.5, "last"] });
    await settle(got, ["sb1", "n"]);
    assert.equal(got.n[0][0].date, "2023-11-14T22:13:20.123Z", "Node's own client sees the ISO date");
    assert.deepEqual(got.sb1, got.n);

    // A Buffer (msgpack bin) reaches a socket.io client as a Buffer with the same bytes (a
    // BINARY_EVENT and its attachment), as Node's own client gets it.
    const bin = { sb1: record(sb1, "bin"), n: record(n, "bin") };
    await peer.call("emit", { event: "bin", args: [{ b: "$buffer:0102ff" }, "$buffer:", 7] });
    await settle(bin, ["sb1", "n"]);
    assert.ok(Buffer.isBuffer(bin.sb1[0][0].b), "a Buffer, not its JSON form");
    assert.deepEqual(bin.sb1, [[{ b: Buffer.from([1, 2, 255]) }, Buffer.alloc(0), 7]]);
    assert.deepEqual(bin.sb1, bin.n);
    await closeAll();
  });

  test("a Buffer emitted by @socket.io/redis-emitter reaches switchboard's clients as a Buffer", async () => {
    const sb1 = await client(s1);
    const json = await jsonClient(s2);
    const got = { sb1: record(sb1, "ebin"), json: recordJson(json, "ebin") };
    const bytes = Buffer.from(Array.from({ length: 300 }, (_, i) => i % 256));
    emitter.emit("ebin", bytes, { nested: [bytes.subarray(0, 2)] });
    await settle(got, ["sb1", "json"]);
    assert.deepEqual(got.sb1, [[bytes, { nested: [Buffer.from([0, 1])] }]]);
    // A plain JSON client reads JSON text: the Buffer as JSON.stringify writes it.
    assert.deepEqual(got.json, [{ type: "Buffer", data: [...bytes] }]);
    await closeAll();
  });

  test("a switchboard client's binary, broadcast by a gateway, reaches Node's clients as a Buffer", async () => {
    const sender = await client(s1);
    const other = await client(s2);
    const n = await nodeClient();
    const got = { other: record(other, "news"), n: record(n, "news") };
    const bytes = Buffer.from("binary \u0000\xff through redis", "latin1");
    await ack(sender, "all", { file: bytes, name: "f.bin" });
    await settle(got, ["other", "n"]);
    assert.deepEqual(got.n, [{ file: bytes, name: "f.bin" }]);
    assert.deepEqual(got.other, got.n);
    await closeAll();
  });

  test("what switchboard publishes reaches Node's clients exactly as switchboard's own clients get it", async () => {
    const sender = await client(s1);
    const local = await client(s1);
    const n = await nodeClient();
    const payload = {
      int: 42, neg: -7, big: 2 ** 53, float: 0.1, negf: -1234.5, t: true, f: false, nil: null,
      empty: {}, str: "é✓🎉", long: "y".repeat(70000), list16: Array.from({ length: 20 }, (_, i) => i),
      map16: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
      nested: { a: [{ b: [{ c: "deep" }] }] },
    };
    const got = { local: record(local, "news"), n: record(n, "news") };
    await ack(sender, "all", payload);
    await settle(got, ["local", "n"]);
    assert.deepEqual(got.local, [payload]);
    assert.deepEqual(got.n, got.local);
    await closeAll();
  });

  test("a numeric room (Node allows io.to(42)) reaches switchboard's sockets in room '42'", async () => {
    const x = await client(s2);
    const y = await client(s2);
    await ack(x, "join", "42");
    await waitNumsub(rc, "socket.io#/#42#", 1);
    const got = { x: record(x, "num"), y: record(y, "num") };
    await peer.call("emit", { in: 42, event: "num", args: ["n"] });
    await settle(got, ["x"]);
    assert.deepEqual(got, { x: ["n"], y: [] });
    await closeAll();
  });
});

describe("server-side emits between Node and Lua (server_events, sb.server_emit)", () => {
  const received = async (server, nsp = "/") => {
    const s = await client(server, {}, nsp);
    try {
      return await ack(s, "received");
    } finally {
      s.close();
    }
  };

  test("io.serverSideEmit from Node runs each instance's server_events handler once, in its namespace", async () => {
    const before1 = (await received(s1)).length;
    const before2 = (await received(s2)).length;
    await peer.call("serverSideEmit", { event: "sb:note", args: [1, { a: "b" }, "three"] });
    await waitFor(async () => (await received(s1)).length > before1 && (await received(s2)).length > before2,
      SETTLE_MS, "the server-side emit on both instances");
    await sleep(QUIET_MS);
    for (const s of [s1, s2]) assert.deepEqual((await received(s)).slice(-1), [[1, { a: "b" }, "three"]]);
    assert.equal((await received(s1)).length, before1 + 1, "once");
    assert.deepEqual(await received(s1, "/admin"), [], "the /admin gateway got nothing");

    await peer.call("serverSideEmit", { nsp: "/admin", event: "sb:note", args: ["adm"] });
    await waitFor(async () => (await received(s2, "/admin")).length > 0, SETTLE_MS, "the /admin emit");
    assert.deepEqual(await received(s2, "/admin"), [["adm"]]);
    assert.equal((await received(s2)).length, before2 + 1, "'/' got nothing more");
    await closeAll();
  });

  test("@socket.io/redis-emitter's serverSideEmit runs the server_events handlers too", async () => {
    const before = (await received(s1)).length;
    emitter.serverSideEmit("sb:note", "from the emitter");
    await waitFor(async () => (await received(s1)).length > before, SETTLE_MS, "the emitter's server-side emit");
    assert.deepEqual((await received(s1)).slice(-1), [["from the emitter"]]);
    await closeAll();
  });

  test("io.serverSideEmitWithAck from Node gets one answer per switchboard instance", async () => {
    const res = await peer.call("serverSideEmitWithAck", { event: "sb:ping", args: [7] });
    assert.equal(res.error, undefined, JSON.stringify(res));
    assert.deepEqual(res.responses, ["pong 7", "pong 7"]);
    assert.ok(res.ms < REQUESTS_TIMEOUT - 1000, `took ${res.ms} ms`);

    // A table as the answer.
    const a = await sbAlice(s2);
    const counts = await peer.call("serverSideEmitWithAck", { event: "sb:count" });
    assert.deepEqual(sorted(counts.responses.map((r) => r.alice)), [0, 1]);
    a.close();
    await closeAll();
  });

  test("sb.server_emit from Lua reaches the Node server's io.on(event) and the other instance", async () => {
    await peer.call("on", { event: "sb:note" });
    const c1 = await client(s1);
    const before1 = (await received(s1)).length;
    const before2 = (await received(s2)).length;
    assert.equal(await ack(c1, "server_emit", { event: "sb:note", args: [{ from: "lua" }, [1, 2], "x"] }), true);
    const ev = await peer.waitEvent((e) => e.event === "sb:note" && e.args[0]?.from === "lua");
    assert.deepEqual(ev.args, [{ from: "lua" }, [1, 2], "x"]);
    assert.equal(ev.withAck, false);
    await waitFor(async () => (await received(s2)).length > before2, SETTLE_MS, "the other instance");
    assert.deepEqual((await received(s2)).slice(-1), [[{ from: "lua" }, [1, 2], "x"]]);
    await sleep(QUIET_MS);
    assert.equal((await received(s1)).length, before1, "the sender does not get its own emit");
    await closeAll();
  });

  test("sb.server_emit with a callback gets the answers of Node and of the other instance", async () => {
    await peer.call("on", { event: "sb:ping", reply: { node: "pong" } });
    const c1 = await client(s1);
    const results = record(c1, "server_emit_result");
    await ack(c1, "server_emit_ack", { event: "sb:ping", args: [5] });
    await waitFor(() => results.length >= 1, SETTLE_MS, "server_emit_result");
    const { err, responses } = results[0];
    assert.equal(err, null);
    assert.deepEqual(sorted(responses.map((r) => JSON.stringify(r))), sorted([JSON.stringify({ node: "pong" }), JSON.stringify("pong 5")]));
    const ev = await peer.waitEvent((e) => e.event === "sb:ping" && e.withAck);
    assert.deepEqual(ev.args, [5]);
    await closeAll();
  });
});

describe("Lua's cluster operations act on the Node server's sockets", () => {
  test("answers of a Node server using publishOnSpecificResponseChannel reach switchboard", async () => {
    // This peer answers on socket.io-response#/#<requester uid>#, not on the common channel.
    const peer2 = await startNodePeer(redis.url, { publishOnSpecificResponseChannel: true });
    try {
      await waitNumsub(rc, "socket.io-request#/#", 4);
      const c = await client(peer2, { auth: { user: "alice" } });
      const a1 = await sbAlice(s1);
      const fetched = record(a1, "fetched");
      await ack(a1, "fetch", { in: ["user:alice"], timeout: 3000 });
      await waitFor(() => fetched.length >= 1, SETTLE_MS, "fetched");
      assert.equal(fetched[0].err, null);
      assert.deepEqual(sorted(fetched[0].sockets.map((x) => x.id)), sorted([a1.id, c.id]));
      // And its fetchSockets() sees switchboard's socket (switchboard answers on the common channel).
      const res = await peer2.call("fetchSockets", { in: "user:alice" });
      assert.deepEqual(sorted(res.sockets.map((x) => x.id)), sorted([a1.id, c.id]));
      assert.ok(res.ms < REQUESTS_TIMEOUT - 1000, `took ${res.ms} ms`);
      await closeAll();
    } finally {
      await peer2.stop();
    }
    await waitNumsub(rc, "socket.io-request#/#", 3);
  });

  test("fetch_sockets lists the sockets of Node and of the other instance", async () => {
    const a1 = await sbAlice(s1);
    const a2 = await sbAlice(s2);
    const aNode = await nodeClient("alice");
    await nodeClient("bob");
    await ack(a2, "join", "extra");
    const fetched = record(a1, "fetched");
    await ack(a1, "fetch", { in: ["user:alice"] });
    await waitFor(() => fetched.length >= 1, SETTLE_MS, "fetched");
    const { err, sockets } = fetched[0];
    assert.equal(err, null);
    const byId = Object.fromEntries(sockets.map((s) => [s.id, s]));
    assert.deepEqual(sorted(Object.keys(byId)), sorted([a1.id, a2.id, aNode.id]));
    assert.deepEqual(sorted(byId[a2.id].rooms), sorted([a2.id, "user:alice", "authenticated", "extra"]));
    assert.deepEqual(sorted(byId[aNode.id].rooms), sorted([aNode.id, "user:alice", "authenticated"]));
    assert.equal(byId[a2.id].user, "alice");
    assert.equal(byId[a1.id].user, "alice");
    assert.equal(byId[aNode.id].user, "alice", "Node's socket.data.user");

    // except, and the whole namespace.
    const f2 = record(a1, "fetched");
    await ack(a1, "fetch", { except: ["user:alice"] });
    await waitFor(() => f2.length >= 1, SETTLE_MS, "fetched");
    assert.equal(f2[0].err, null);
    assert.equal(f2[0].sockets.length, 1, JSON.stringify(f2[0]));
    assert.equal(f2[0].sockets[0].user, "bob");
    await closeAll();
  });

  test("sockets_join / sockets_leave / disconnect_sockets from Lua act on Node's and the other instance's sockets", async () => {
    const c1 = await client(s1);
    const a2 = await sbAlice(s2);
    const aNode = await nodeClient("alice");
    const bNode = await nodeClient("bob");
    const nodeRooms = async (id) => (await peer.call("localSockets")).find((s) => s.id === id)?.rooms ?? [];

    await ack(c1, "sockets_op", { op: "join", in: ["user:alice"], rooms: ["lua-vip", "lua-2"] });
    await waitFor(async () => (await nodeRooms(aNode.id)).includes("lua-vip") &&
      (await ack(a2, "rooms")).includes("lua-2"), SETTLE_MS, "alice's sockets to join");
    assert.ok(!(await nodeRooms(bNode.id)).includes("lua-vip"));

    await ack(c1, "sockets_op", { op: "leave", in: ["lua-vip"], except: [a2.id], rooms: "lua-vip" });
    await waitFor(async () => !(await nodeRooms(aNode.id)).includes("lua-vip"), SETTLE_MS, "Node's alice to leave");
    assert.ok((await ack(a2, "rooms")).includes("lua-vip"), "a2 was excepted");

    let reason;
    bNode.on("disconnect", (r) => (reason = r));
    await ack(c1, "sockets_op", { op: "disconnect", in: ["user:bob"] });
    await waitFor(() => reason, SETTLE_MS, "Node's bob to be disconnected");
    assert.equal(reason, "io server disconnect");
    assert.equal(aNode.connected, true);
    assert.equal(a2.connected, true);
    await closeAll();
  });
});
