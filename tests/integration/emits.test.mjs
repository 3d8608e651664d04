// Broadcasts from Lua (tests/integration/gateways/emits/): sb.emit to everyone, to the
// authenticated sockets, to a user's other sockets, to rooms with excepts, and to another
// namespace. Each case checks who got the message and who did not.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  GATEWAYS,
  ROOT,
  connected,
  metric,
  rawWs,
  record,
  sio,
  sleep,
  startServer,
  stopClean,
} from "./helpers.mjs";

const TOKENS = path.join(ROOT, "examples/demo/tokens.txt"); // alice-token alice, bob-token bob

let server;
const open = [];

before(async () => {
  server = await startServer({
    scripts: path.join(GATEWAYS, "emits"),
    plugins: [`auth-static=${TOKENS}`],
  });
});
after(async (t) => {
  await stopClean(t, server);
});

// Opens a Socket.IO client and remembers it for closeAll().
async function client(opts = {}, nsp = "/") {
  const s = sio(server, opts, nsp);
  open.push(s);
  return connected(s);
}

// A plain JSON WebSocket client (namespace "/").
async function jsonClient(query = "") {
  const ws = rawWs(`${server.wsUrl}/${query}`);
  open.push(ws);
  await ws.opened();
  return ws;
}

async function closeAll() {
  for (const s of open.splice(0)) s.close();
  // Wait until the server saw every close, so the counts of the next test are exact.
  const end = Date.now() + 5000;
  while ((await metric(server, "switchboard_sockets")) !== 0 && Date.now() < end) await sleep(10);
}

async function waitFor(pred, ms = 5000) {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await sleep(10);
}

// Collects the {"event": name} frames of a plain JSON client.
function recordJson(ws, name) {
  const got = [];
  ws.on("message", (data) => {
    const m = JSON.parse(data.toString());
    if (m.event === name) got.push(m.data);
  });
  return got;
}

// What arrives late would have arrived by now (the server writes a broadcast to every target
// in the same loop turn).
const QUIET_MS = 150;

test("sb.emit reaches anonymous, authenticated and plain JSON sockets of '/'", async () => {
  const anon = await client();
  const alice = await client({ auth: { token: "alice-token" } });
  const json = await jsonClient();
  const jsonBob = await jsonClient("?token=bob-token");
  const other = await client({}, "/other");
  const got = {
    anon: record(anon, "news"),
    alice: record(alice, "news"),
    json: recordJson(json, "news"),
    jsonBob: recordJson(jsonBob, "news"),
    other: record(other, "news"),
  };

  const reached = await anon.timeout(5000).emitWithAck("all", { n: 1 });
  await waitFor(() => got.anon.length && got.alice.length && got.json.length && got.jsonBob.length);
  await sleep(QUIET_MS);

  assert.equal(reached, 4);
  assert.deepEqual(got.anon, [{ n: 1 }]);
  assert.deepEqual(got.alice, [{ n: 1 }]);
  assert.deepEqual(got.json, [{ n: 1 }]);
  assert.deepEqual(got.jsonBob, [{ n: 1 }]);
  assert.deepEqual(got.other, [], "a broadcast of '/' must not leave the namespace");
  await closeAll();
});

test("sb.to_authenticated() reaches only authenticated sockets", async () => {
  const anon = await client();
  const alice = await client({ auth: { token: "alice-token" } });
  const bob = await client({ query: { token: "bob-token" } });
  const json = await jsonClient();
  const jsonAlice = await jsonClient("?token=alice-token");
  const got = {
    anon: record(anon, "auth_news"),
    alice: record(alice, "auth_news"),
    bob: record(bob, "auth_news"),
    json: recordJson(json, "auth_news"),
    jsonAlice: recordJson(jsonAlice, "auth_news"),
  };

  // Sent by the anonymous socket: the sender needs no identity to address the others.
  const reached = await anon.timeout(5000).emitWithAck("to_authenticated", "hello");
  await waitFor(() => got.alice.length && got.bob.length && got.jsonAlice.length);
  await sleep(QUIET_MS);

  assert.equal(reached, 3);
  assert.deepEqual(got.alice, ["hello"]);
  assert.deepEqual(got.bob, ["hello"]);
  assert.deepEqual(got.jsonAlice, ["hello"]);
  assert.deepEqual(got.anon, []);
  assert.deepEqual(got.json, []);
  await closeAll();
});

test("to_user(u):except(socket.id) reaches u's other sockets only", async () => {
  const a1 = await client({ auth: { token: "alice-token" } });
  const a2 = await client({ query: { token: "alice-token" } });
  const a3 = await jsonClient("?token=alice-token");
  const bob = await client({ auth: { token: "bob-token" } });
  const anon = await client();
  const got = {
    a1: record(a1, "mine"),
    a2: record(a2, "mine"),
    a3: recordJson(a3, "mine"),
    bob: record(bob, "mine"),
    anon: record(anon, "mine"),
  };

  const reached = await a1.timeout(5000).emitWithAck("to_my_other_sockets", 42);
  await waitFor(() => got.a2.length && got.a3.length);
  await sleep(QUIET_MS);

  assert.equal(reached, 2);
  assert.deepEqual(got.a2, [42]);
  assert.deepEqual(got.a3, [42]);
  assert.deepEqual(got.a1, [], "the sender is excepted");
  assert.deepEqual(got.bob, []);
  assert.deepEqual(got.anon, []);
  await closeAll();
});

test("rooms with excepts: once per socket, except a room, except a socket id", async () => {
  const s = {};
  for (const name of ["inAB", "inA", "inB", "inBX", "inC", "sender", "none"]) s[name] = await client();
  const join = (sock, rooms) => sock.timeout(5000).emitWithAck("join", rooms);
  const roomsOf = {
    inAB: await join(s.inAB, ["A", "B"]),
    inA: await join(s.inA, ["A"]),
    inB: await join(s.inB, ["B"]),
    inBX: await join(s.inBX, ["B", "X"]),
    inC: await join(s.inC, ["C"]),
    sender: await join(s.sender, ["A"]),
  };
  assert.deepEqual([...roomsOf.inAB].sort(), [s.inAB.id, "A", "B"].sort());

  const got = {};
  for (const name of Object.keys(s)) got[name] = record(s[name], "room_msg");

  // To A and B, except everyone in X and the sender's own id.
  const reached = await s.sender
    .timeout(5000)
    .emitWithAck("rooms", { to: ["A", "B"], except: ["X", s.sender.id], tag: "t1" });
  await waitFor(() => got.inAB.length && got.inA.length && got.inB.length);
  await sleep(QUIET_MS);

  assert.equal(reached, 3);
  assert.deepEqual(got.inAB, ["t1"], "a socket in two target rooms gets the message once");
  assert.deepEqual(got.inA, ["t1"]);
  assert.deepEqual(got.inB, ["t1"]);
  assert.deepEqual(got.inBX, [], "except room X");
  assert.deepEqual(got.sender, [], "except the sender's socket id");
  assert.deepEqual(got.inC, [], "not a target room");
  assert.deepEqual(got.none, [], "in no room");

  // A socket id is a room too: target one socket by its id.
  const reached2 = await s.none.timeout(5000).emitWithAck("rooms", { to: [s.inC.id], tag: "t2" });
  await waitFor(() => got.inC.length);
  await sleep(QUIET_MS);
  assert.equal(reached2, 1);
  assert.deepEqual(got.inC, ["t2"]);
  assert.deepEqual(got.inAB, ["t1"]);
  assert.deepEqual(got.none, []);
  await closeAll();
});

test("many rooms and excepts in one emit (past 16 of them), and more than 1024 refused", async () => {
  const a = await client();
  const b = await client();
  const c = await client();
  const sender = await client();
  const join = (sock, rooms) => sock.timeout(5000).emitWithAck("join", rooms);
  await join(a, ["r7"]);
  await join(b, ["r33", "x29"]);
  await join(c, ["r40"]);
  const got = { a: record(a, "room_msg"), b: record(b, "room_msg"), c: record(c, "room_msg") };
  const exc = record(sender, "exception");

  // 40 target rooms (r0…r39) and 30 except rooms (x0…x29): a and b are targets, b is excepted.
  const to = Array.from({ length: 40 }, (_, i) => `r${i}`);
  const except = Array.from({ length: 30 }, (_, i) => `x${i}`);
  assert.equal(await sender.timeout(5000).emitWithAck("rooms", { to, except, tag: "many" }), 1);
  await waitFor(() => got.a.length);
  await sleep(QUIET_MS);
  assert.deepEqual(got.a, ["many"]);
  assert.deepEqual(got.b, [], "b is in an except room");
  assert.deepEqual(got.c, [], "c's room is not a target");

  // 1025 rooms: an exception for the sender, nothing for anyone, and the server goes on.
  const tooMany = Array.from({ length: 1025 }, (_, i) => `r${i}`);
  sender.emit("rooms", { to: tooMany, tag: "too many" });
  await waitFor(() => exc.length);
  assert.deepEqual(exc, [{ status: "error", message: "Internal server error" }]);
  await server.waitForLog(/emit: rooms must be at most 1024 strings/);
  await sleep(QUIET_MS);
  assert.deepEqual(got.a, ["many"]);
  assert.equal(await sender.timeout(5000).emitWithAck("rooms", { to: ["r40"], tag: "after" }), 1);
  await waitFor(() => got.c.length);
  assert.deepEqual(got.c, ["after"]);
  await closeAll();
});

test("sb.except(room) alone reaches everyone else in the namespace", async () => {
  const x = await client();
  const y = await client();
  const z = await client({ auth: { token: "bob-token" } });
  const json = await jsonClient();
  await x.timeout(5000).emitWithAck("join", ["skip"]);
  const got = { x: record(x, "news"), y: record(y, "news"), z: record(z, "news"), json: recordJson(json, "news") };

  const reached = await y.timeout(5000).emitWithAck("all_except", ["skip", "user:bob"]);
  await waitFor(() => got.y.length && got.json.length);
  await sleep(QUIET_MS);
  assert.equal(reached, 2);
  assert.deepEqual(got.y, ["all but"]);
  assert.deepEqual(got.json, ["all but"]);
  assert.deepEqual(got.x, [], "in the excepted room");
  assert.deepEqual(got.z, [], "in the excepted user room");
  await closeAll();
});

test("socket:broadcast() and socket:to(room) skip the calling socket", async () => {
  const me = await client({ auth: { token: "alice-token" } });
  const myTab = await client({ auth: { token: "alice-token" } });
  const other = await client();
  const json = await jsonClient();
  await me.timeout(5000).emitWithAck("join", ["r"]);
  await other.timeout(5000).emitWithAck("join", ["r"]);
  const got = { me: record(me, "bcast"), myTab: record(myTab, "bcast"), other: record(other, "bcast"),
                json: recordJson(json, "bcast") };

  assert.equal(await me.timeout(5000).emitWithAck("broadcast", "b"), 3);
  await waitFor(() => got.myTab.length && got.other.length && got.json.length);
  assert.equal(await me.timeout(5000).emitWithAck("to_room_but_me", "r"), 1);
  await waitFor(() => got.other.length === 2);
  await sleep(QUIET_MS);
  assert.deepEqual(got.me, []);
  assert.deepEqual(got.myTab, ["b"], "the same user's other socket is not the caller");
  assert.deepEqual(got.other, ["b", "r"]);
  assert.deepEqual(got.json, ["b"]);
  await closeAll();
});

test("sb.of('/other') reaches only the sockets of that namespace", async () => {
  const root = await client();
  const json = await jsonClient();
  const o1 = await client({}, "/other");
  const o2 = await client({ auth: { token: "bob-token" } }, "/other");
  const got = {
    root: record(root, "other_news"),
    json: recordJson(json, "other_news"),
    o1: record(o1, "other_news"),
    o2: record(o2, "other_news"),
  };

  const reached = await root.timeout(5000).emitWithAck("other", [1, 2]);
  await waitFor(() => got.o1.length && got.o2.length);
  await sleep(QUIET_MS);

  assert.equal(reached, 2);
  assert.deepEqual(got.o1, [[1, 2]]);
  assert.deepEqual(got.o2, [[1, 2]]);
  assert.deepEqual(got.root, []);
  assert.deepEqual(got.json, []);

  // And a plain sb.emit from a handler of "/other" stays in "/other".
  const rootNews = record(root, "news");
  const o2News = record(o2, "news");
  const n = await o1.timeout(5000).emitWithAck("all", "o");
  await waitFor(() => o2News.length);
  await sleep(QUIET_MS);
  assert.equal(n, 2);
  assert.deepEqual(o2News, ["o"]);
  assert.deepEqual(rootNews, []);
  await closeAll();
});
