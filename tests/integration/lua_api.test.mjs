// The Lua API seen from a gateway (tests/integration/gateways/lua_api/api.lua): socket fields
// and methods, sb.room_size, sb.json, emitting and receiving several arguments, and
// socket:disconnect() from a handler.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import { GATEWAYS, ROOT, connected, once, rawWs, sio, sleep, startServer, stopClean } from "./helpers.mjs";

let server;
before(async () => {
  server = await startServer({
    scripts: path.join(GATEWAYS, "lua_api"),
    plugins: [`auth-static=${path.join(ROOT, "examples/demo/tokens.txt")}`],
  });
});
after(async (t) => {
  await stopClean(t, server);
});

const ack = (s, event, ...args) => s.timeout(5000).emitWithAck(event, ...args);

async function withClient(opts, fn) {
  const s = await connected(sio(server, opts));
  try {
    return await fn(s);
  } finally {
    s.close();
  }
}

test("socket.data persists across events of the same socket, not across sockets", async () => {
  await withClient({}, async (s) => {
    assert.equal(await ack(s, "count"), 1);
    assert.equal(await ack(s, "count"), 2);
    assert.equal(await ack(s, "count"), 3);
    await withClient({}, async (t) => {
      assert.equal(await ack(t, "count"), 1, "a new socket starts with an empty socket.data");
    });
    assert.equal(await ack(s, "count"), 4);
  });
});

test("socket.query has the handshake's query keys but not the token", async () => {
  await withClient({ query: { token: "alice-token", room: "lobby", n: "5" } }, async (s) => {
    const q = await ack(s, "query");
    assert.equal(q.room, "lobby");
    assert.equal(q.n, "5");
    assert.equal(q.EIO, "4");
    assert.equal(q.transport, "websocket");
    assert.equal("token" in q, false, "the token is a secret");
    // The token did count: the socket is alice's.
    assert.equal((await ack(s, "identity")).user, "alice");
  });
  // Plain JSON: the same.
  const ws = rawWs(`${server.wsUrl}/path?token=bob-token&x=1`);
  try {
    await ws.opened();
    ws.send(JSON.stringify({ event: "query" }));
    assert.deepEqual(JSON.parse(await ws.next()), { x: "1" });
  } finally {
    ws.close();
  }
});

test("socket.headers keeps the --handshake-headers of the upgrade, never Authorization", async () => {
  const extraHeaders = {
    "User-Agent": "lua-api-test/1",
    "X-Forwarded-For": "10.1.2.3",
    "Accept-Language": "fr",
    Authorization: "Bearer alice-token",
  };
  await withClient({ extraHeaders }, async (s) => {
    const h = await ack(s, "headers");
    assert.equal(h["user-agent"], "lua-api-test/1");
    assert.equal(h["x-forwarded-for"], "10.1.2.3");
    assert.equal("accept-language" in h, false, "not in the default list");
    assert.equal("origin" in h, false, "absent headers are left out");
    assert.equal("authorization" in h, false, "a secret");
    assert.equal((await ack(s, "identity")).user, "alice", "the Authorization header did count");
  });
  // A server told to keep another header, Authorization (never) and an unsupported one.
  const other = await startServer({
    scripts: path.join(GATEWAYS, "lua_api"),
    args: ["--handshake-headers", "Accept-Language, authorization, x-custom"],
  });
  try {
    const s = await connected(sio(other, { extraHeaders }));
    const h = await s.timeout(5000).emitWithAck("headers");
    s.close();
    assert.deepEqual(h, { "accept-language": "fr" });
    assert.match(other.log(), /--handshake-headers: 'authorization' is not kept/);
    assert.match(other.log(), /--handshake-headers: 'x-custom' is not kept/);
  } finally {
    await stopClean(null, other);
  }
});

test("socket.protocol is 'socket.io' or 'json'", async () => {
  await withClient({}, async (s) => {
    const reply = once(s, "protocol");
    s.emit("protocol");
    assert.deepEqual(await reply, ["socket.io"]);
  });
  const ws = rawWs(`${server.wsUrl}/`);
  try {
    await ws.opened();
    ws.send(JSON.stringify({ event: "protocol" }));
    assert.deepEqual(JSON.parse(await ws.next()), { event: "protocol", data: "json" });
  } finally {
    ws.close();
  }
});

test("socket.id, .user, .namespace, .connected", async () => {
  await withClient({ auth: { token: "bob-token" } }, async (s) => {
    assert.deepEqual(await ack(s, "identity"), {
      id: s.id,
      user: "bob",
      namespace: "/",
      connected: true,
      protocol: "socket.io",
    });
  });
  await withClient({}, async (s) => {
    assert.deepEqual(await ack(s, "identity"), {
      id: s.id,
      user: null,
      namespace: "/",
      connected: true,
      protocol: "socket.io",
    });
  });
});

test("socket fields are read-only", async () => {
  await withClient({ auth: { token: "bob-token" } }, async (s) => {
    const exc = once(s, "exception");
    s.emit("readonly");
    assert.deepEqual(await exc, [{ status: "error", message: "Internal server error" }]);
    await server.waitForLog(/socket fields are read-only/);
    assert.equal((await ack(s, "identity")).user, "bob");
  });
});

test("socket:rooms() has the socket id, user:<id> and authenticated for an authenticated socket", async () => {
  await withClient({ auth: { token: "alice-token" } }, async (s) => {
    const rooms = await ack(s, "rooms");
    assert.deepEqual([...rooms].sort(), [s.id, "user:alice", "authenticated"].sort());
    assert.equal(rooms[0], s.id, "the socket's own room comes first");
    await ack(s, "join", "extra");
    assert.deepEqual([...(await ack(s, "rooms"))].sort(), [s.id, "user:alice", "authenticated", "extra"].sort());
  });
  await withClient({}, async (s) => {
    assert.deepEqual(await ack(s, "rooms"), [s.id], "an anonymous socket is only in its own room");
  });
});

test("sb.room_size counts the local members of a room (and 1 for a socket id)", async () => {
  const room = `size-${process.pid}`;
  const a = await connected(sio(server));
  const b = await connected(sio(server));
  try {
    assert.equal(await ack(a, "room_size", room), 0);
    assert.equal(await ack(a, "join", room), 1);
    assert.equal(await ack(b, "join", room), 2);
    assert.equal(await ack(a, "join", room), 2, "joining twice counts once");
    assert.equal(await ack(a, "room_size", b.id), 1, "a socket id is a room of one");
    assert.equal(await ack(a, "room_size", "no-such-room"), 0);
    assert.equal(await ack(b, "leave", room), 1);
    b.close();
    // A disconnected socket leaves its rooms.
    const end = Date.now() + 5000;
    let size;
    while ((size = await ack(a, "room_size", room)) !== 1 && Date.now() < end) await sleep(10);
    assert.equal(size, 1);
    assert.equal(await ack(a, "leave", room), 0);
  } finally {
    a.close();
    b.close();
  }
});

test("sb.json.encode / decode round trip", async () => {
  await withClient({}, async (s) => {
    const value = {
      list: [1, 2.5, -3, "x", true, false, null],
      empty_list: [],
      empty_obj: {},
      nested: { a: { b: [{ c: null }] } },
      text: "ünïcødé \"quoted\" \\ \n",
      big: 9007199254740991,
    };
    const { text, back, again } = await ack(s, "json", value);
    assert.deepEqual(JSON.parse(text), value);
    assert.deepEqual(back, value);
    assert.deepEqual(JSON.parse(again), value);
    // Scalars at the top.
    for (const v of [1, "s", true, [null]]) {
      const r = await ack(s, "json", v);
      assert.deepEqual(JSON.parse(r.text), v);
      assert.deepEqual(r.back, v);
    }
    const bad = await ack(s, "json_bad", "{nope");
    assert.equal(bad.value, null);
    assert.match(bad.err, /^invalid JSON at position \d+/);
  });
});

test("sb.emit('x', 1, 'a', {b=true}) -> the client's handler gets 3 arguments", async () => {
  await withClient({}, async (s) => {
    const got = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no 'x'")), 5000);
      s.once("x", (...args) => {
        clearTimeout(timer);
        resolve(args);
      });
    });
    const reached = await ack(s, "several");
    assert.ok(reached >= 1);
    assert.deepEqual(await got, [1, "a", { b: true }]);
  });
  // A plain JSON client gets the first argument as data.
  const ws = rawWs(`${server.wsUrl}/`);
  const s = await connected(sio(server));
  try {
    await ws.opened();
    await ack(s, "several");
    assert.deepEqual(JSON.parse(await ws.next()), { event: "x", data: 1 });
  } finally {
    ws.close();
    s.close();
  }
});

test("a handler receives every argument the client sent", async () => {
  await withClient({}, async (s) => {
    assert.equal(await ack(s, "sum", 1, 2, 3), 6);
    assert.equal(await ack(s, "sum", 10, -4.5, 0.5, 100, 1), 107);
    assert.equal(await ack(s, "sum"), 0);
    assert.equal(await ack(s, "nargs", 1, null, 3), 3, "a null in the middle keeps its place");
    assert.equal(await ack(s, "nargs", "a", "b", "c", "d", "e", "f", "g", "h"), 8);
  });
});

test("socket:disconnect() from a handler -> 'io server disconnect', no ack", async () => {
  const s = await connected(sio(server));
  try {
    let acked = false;
    const disconnected = once(s, "disconnect");
    s.emit("kick", () => (acked = true));
    const [reason] = await disconnected;
    assert.equal(reason, "io server disconnect");
    assert.equal(s.connected, false);
    await sleep(100);
    assert.equal(acked, false);
  } finally {
    s.close();
  }
});

test("socket:disconnect() of a plain JSON socket closes with a normal close frame (1000)", async () => {
  const ws = rawWs(`${server.wsUrl}/`);
  await ws.opened();
  const closed = ws.closed();
  ws.send(JSON.stringify({ event: "kick" }));
  const { code } = await closed;
  assert.equal(code, 1000, "a normal close frame");
});
