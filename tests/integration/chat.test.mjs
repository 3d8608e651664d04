// scripts/chat.lua, the shipped chat gateway, driven by real Socket.IO clients: join, leave,
// message and members, and the errors it answers with.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DEMO_PLUGINS, connected, once, record, sio, sleep, startServer, stopClean } from "./helpers.mjs";

let server;
before(async () => {
  // The shipped scripts directory (chat.lua and events.lua, which needs `propagate`).
  server = await startServer({ plugins: DEMO_PLUGINS });
});
after(async (t) => {
  await stopClean(t, server);
});

const open = [];
async function client(opts = {}) {
  const s = sio(server, opts);
  open.push(s);
  return connected(s);
}
const alice = () => client({ auth: { token: "alice-token" } });
const bob = () => client({ auth: { token: "bob-token" } });
function closeAll() {
  for (const s of open.splice(0)) s.close();
}

const ack = (s, event, data) => s.timeout(5000).emitWithAck(event, data);

// The payload of the next `exception` after emitting `event`.
async function exceptionOf(s, event, data) {
  const exc = once(s, "exception");
  s.emit(event, data);
  return (await exc)[0];
}

async function waitFor(pred, ms = 5000) {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await sleep(10);
}

let n = 0;
const roomName = () => `room-${process.pid}-${++n}`;

test("join acks the members; 'joined' reaches the others in the room, not the joiner", async () => {
  const room = roomName();
  const a = await alice();
  const b = await bob();
  const outsider = await client();
  const joined = { a: record(a, "joined"), b: record(b, "joined"), outsider: record(outsider, "joined") };

  assert.deepEqual(await ack(a, "join", { room }), { room, members: ["alice"] });
  assert.deepEqual(await ack(b, "join", { room }), { room, members: ["alice", "bob"] });
  await waitFor(() => joined.a.length);
  await sleep(150);
  assert.deepEqual(joined.a, [{ room, user: "bob" }]);
  assert.deepEqual(joined.b, [], "the joiner does not get its own 'joined'");
  assert.deepEqual(joined.outsider, []);

  // Joining again changes nothing in the member list.
  assert.deepEqual(await ack(a, "join", { room }), { room, members: ["alice", "bob"] });
  closeAll();
});

test("a message reaches everyone in the room, the sender included, and nobody else", async () => {
  const room = roomName();
  const a = await alice();
  const b = await bob();
  const other = await client();
  await ack(a, "join", { room });
  await ack(b, "join", { room });
  await ack(other, "join", { room: roomName() });
  const got = { a: record(a, "message"), b: record(b, "message"), other: record(other, "message") };

  const before = Math.floor(Date.now() / 1000);
  assert.equal(await ack(b, "message", { room, text: "hello room" }), true);
  await waitFor(() => got.a.length && got.b.length);
  await sleep(150);
  for (const who of ["a", "b"]) {
    assert.equal(got[who].length, 1, who);
    const { at, ...rest } = got[who][0];
    assert.deepEqual(rest, { room, from: "bob", text: "hello room" });
    assert.ok(Number.isInteger(at) && at >= before - 1 && at <= before + 60, `at=${at}`);
  }
  assert.deepEqual(got.other, []);
  closeAll();
});

test("a message without joining -> exception 'join the room first'", async () => {
  const room = roomName();
  const a = await alice();
  const b = await bob();
  await ack(a, "join", { room });
  const got = record(a, "message");
  assert.deepEqual(await exceptionOf(b, "message", { room, text: "let me in" }), {
    status: "error",
    message: "join the room first",
  });
  await sleep(100);
  assert.deepEqual(got, [], "the message was not delivered");
  // The socket still works.
  assert.deepEqual(await ack(b, "members", { room }), { room, members: ["alice"] });
  closeAll();
});

test("leave -> 'left' to the room; members shrink; a later message does not reach the leaver", async () => {
  const room = roomName();
  const a = await alice();
  const b = await bob();
  await ack(a, "join", { room });
  await ack(b, "join", { room });
  const left = { a: record(a, "left"), b: record(b, "left") };
  const msgs = record(a, "message");

  assert.equal(await ack(a, "leave", { room }), true);
  await waitFor(() => left.b.length);
  await sleep(150);
  assert.deepEqual(left.b, [{ room, user: "alice" }]);
  assert.deepEqual(left.a, [], "the leaver is out of the room before 'left' is sent");
  assert.deepEqual(await ack(b, "members", { room }), { room, members: ["bob"] });

  await ack(b, "message", { room, text: "alone" });
  await sleep(150);
  assert.deepEqual(msgs, []);
  // Leaving a room one is not in: true, and no 'left'.
  assert.equal(await ack(a, "leave", { room }), true);
  await sleep(100);
  assert.equal(left.b.length, 1);
  closeAll();
});

test("members lists online users once each, anonymous sockets as guest-<first 6 characters of the id>", async () => {
  const room = roomName();
  const g = await client();
  const a = await alice();
  const a2 = await alice(); // a second tab of alice
  await ack(g, "join", { room });
  await ack(a, "join", { room });
  const res = await ack(a2, "join", { room });
  const guest = `guest-${g.id.slice(0, 6)}`;
  // Presence: alice has two tabs in the room and is listed once.
  assert.deepEqual(res, { room, members: ["alice", guest].sort() });
  assert.deepEqual(await ack(g, "members", { room }), res);
  // She stays online until her last tab leaves.
  await ack(a, "leave", { room });
  assert.deepEqual(await ack(g, "members", { room }), res);
  await ack(a2, "leave", { room });
  assert.deepEqual(await ack(g, "members", { room }), { room, members: [guest] });
  // An empty room lists nobody, as an empty JSON array.
  const empty = roomName();
  assert.deepEqual(await ack(g, "members", { room: empty }), { room: empty, members: [] });
  closeAll();
});

test("a bad room -> exception, and the socket keeps working", async () => {
  const s = await alice();
  const expected = { status: "error", message: "room must be a string of 1 to 64 characters" };
  for (const data of [{ room: "" }, { room: "x".repeat(65) }, { room: 5 }, {}, "lobby", null]) {
    assert.deepEqual(await exceptionOf(s, "join", data), expected, JSON.stringify(data));
  }
  assert.deepEqual(await exceptionOf(s, "members", { room: "" }), expected);
  assert.deepEqual(await exceptionOf(s, "message", { text: "hi" }), expected);
  // A bad text in a good room.
  const room = roomName();
  await ack(s, "join", { room });
  assert.deepEqual(await exceptionOf(s, "message", { room, text: "" }), {
    status: "error",
    message: "text must be a string of 1 to 2000 characters",
  });
  // 64 characters is fine.
  const long = "y".repeat(64);
  assert.deepEqual(await ack(s, "join", { room: long }), { room: long, members: ["alice"] });
  closeAll();
});

test("a room's presence and history go when its last member leaves", async () => {
  const room = roomName();
  const a = await alice();
  await ack(a, "join", { room });
  assert.equal(await ack(a, "message", { room, text: "before" }), true);
  assert.equal(await ack(a, "leave", { room }), true);
  const history = once(a, "history");
  await ack(a, "join", { room });
  assert.deepEqual((await history)[0], { room, messages: [] });
  closeAll();
});

test("a socket is in at most 100 chat rooms", async () => {
  const s = await alice();
  const rooms = Array.from({ length: 100 }, () => roomName());
  await Promise.all(rooms.map((room) => ack(s, "join", { room })));
  assert.deepEqual(await exceptionOf(s, "join", { room: roomName() }), {
    status: "error",
    message: "you are in 100 rooms already: leave one first",
  });
  // Joining one it is in already is fine, and after a leave there is room again.
  assert.deepEqual((await ack(s, "join", { room: rooms[0] })).room, rooms[0]);
  await ack(s, "leave", { room: rooms[0] });
  const next = roomName();
  assert.deepEqual(await ack(s, "join", { room: next }), { room: next, members: ["alice"] });
  closeAll();
});

// Without Redis the rooms live in the gateway's heap: a client joining unique names must not
// grow it. 30,000 names kept ~190 bytes each (5.7 MB), past a 4 MiB cap.
test("30,000 unique rooms joined and left under a 4 MiB Lua cap: every join succeeds", async () => {
  const small = await startServer({ plugins: DEMO_PLUGINS, args: ["--lua-memory-limit", "4"] });
  const s = await connected(sio(small));
  try {
    let failed = 0;
    s.on("exception", () => failed++);
    for (let base = 0; base < 30000; base += 50) {
      await Promise.all(
        // 50 at a time: a socket may be in 100 rooms.
        Array.from({ length: 50 }, async (_, i) => {
          const room = `unique-${base + i}`;
          await s.timeout(20000).emitWithAck("join", { room });
          await s.timeout(20000).emitWithAck("leave", { room });
        }),
      );
      assert.equal(failed, 0, `exceptions after ${base + 50} rooms\n${small.log().slice(-2000)}`);
    }
  } finally {
    s.close();
    await stopClean(null, small);
  }
});
