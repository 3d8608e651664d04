// The Lua API seen from a gateway (tests/integration/gateways/lua_api/): socket fields and
// methods, a socket object kept past its disconnect, sb.room_size, sb.sockets, sb["in"],
// sb.json, emitting and receiving several arguments, socket:disconnect() from a handler, logging
// at each level and print, sb.version, require, and the namespace-wide operations
// (sb.fetch_sockets, sb.sockets_join, …) on a server without Redis (all.lua, namespace /all).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { Manager } from "socket.io-client";
import {
  BIN,
  GATEWAYS,
  ROOT,
  connected,
  once,
  rawWs,
  record,
  sio,
  sleep,
  startServer,
  stopClean,
} from "./helpers.mjs";

const SCRIPTS = path.join(GATEWAYS, "lua_api");

// The version the binary reports, e.g. "switchboard 0.1.0 (plugin ABI 1.3)".
const VERSION = /^switchboard (\S+) /.exec(execFileSync(BIN, ["--version"], { encoding: "utf8" }))[1];
const LEVELS = ["error", "warn", "info", "debug"];
const escapeRe = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
// A whole log line `<time> <level> [lua:<gateway>] <message>`.
const logLine = (level, message, gateway = "api") =>
  new RegExp(`^\\S+ ${level} +\\[lua:${gateway}\\] ${escapeRe(message)}$`, "m");
const byId = (list) => [...list].sort((x, y) => x.id.localeCompare(y.id));

let server;
before(async () => {
  server = await startServer({
    scripts: SCRIPTS,
    plugins: [`auth-static=${path.join(ROOT, "examples/demo/tokens.txt")}`],
    // The defaults (--log-level info) are under test: nothing from the environment.
    env: { SWITCHBOARD_LOG_LEVEL: undefined, SWITCHBOARD_CONFIG: undefined },
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

test("socket.auth is the CONNECT auth object without the token", async () => {
  const auth = { token: "alice-token", role: "admin", n: 3, deep: { list: [1, null, "x"], none: [], t: true } };
  await withClient({ auth }, async (s) => {
    assert.deepEqual(await ack(s, "auth"), {
      role: "admin",
      n: 3,
      deep: { list: [1, null, "x"], none: [], t: true },
    });
    // The token did count: the socket is alice's.
    assert.equal((await ack(s, "identity")).user, "alice");
  });
  // Only a token, or no auth object at all: an empty table, as socket.query without a query.
  await withClient({ auth: { token: "bob-token" } }, async (s) => {
    assert.deepEqual(await ack(s, "auth"), {});
    assert.equal((await ack(s, "identity")).user, "bob");
  });
  await withClient({}, async (s) => assert.deepEqual(await ack(s, "auth"), {}));
  // A token that is null is not a token, and is left out all the same.
  await withClient({ auth: { token: null, room: "lobby" } }, async (s) => {
    assert.deepEqual(await ack(s, "auth"), { room: "lobby" });
    assert.equal((await ack(s, "identity")).user, null);
  });
  // Plain JSON has no CONNECT: an empty table.
  const ws = rawWs(`${server.wsUrl}/path?token=bob-token`);
  try {
    await ws.opened();
    ws.send(JSON.stringify({ event: "auth" }));
    assert.deepEqual(JSON.parse(await ws.next()), {});
  } finally {
    ws.close();
  }
});

test("socket.auth: each namespace of a connection has the auth object of its own CONNECT", async () => {
  const manager = new Manager(server.url, { transports: ["websocket"], reconnection: false, timeout: 5000 });
  const root = manager.socket("/", { auth: { token: "alice-token", room: "lobby" } });
  const all = manager.socket("/all", { auth: { token: "bob-token", room: "game", level: 2 } });
  try {
    await Promise.all([connected(root), connected(all)]);
    assert.deepEqual(await ack(root, "auth"), { room: "lobby" });
    const got = await new Promise((resolve) => all.timeout(5000).emit("auth", (...res) => resolve(res)));
    assert.deepEqual(got, [null, "/all", { room: "game", level: 2 }]);
  } finally {
    root.close();
    all.close();
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
    scripts: SCRIPTS,
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
    const disconnected = once(s, "disconnect");
    s.emit("kick", () => {});
    const [reason] = await disconnected;
    assert.equal(reason, "io server disconnect");
    assert.equal(s.connected, false);
  } finally {
    s.close();
  }
  // On the wire: the DISCONNECT comes, the ack ("too late") never does. The Engine.IO
  // connection stays, so a new CONNECT is answered, and nothing came in between.
  const ws = rawWs(`${server.wsUrl}/socket.io/?EIO=4&transport=websocket`);
  try {
    await ws.opened();
    assert.match(await ws.next(), /^0\{/);
    ws.send("40");
    assert.match(await ws.next(), /^40\{"sid":/);
    ws.send('421["kick"]');
    assert.equal(await ws.next(), "41");
    ws.send("40");
    assert.match(await ws.next(), /^40\{"sid":/, "the ack of the kick was not sent");
  } finally {
    ws.close();
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

test("tostring(socket) is 'socket <id>'", async () => {
  await withClient({}, async (s) => {
    assert.equal(await ack(s, "tostring"), `socket ${s.id}`);
  });
});

test("socket:in_room(room): its own id and the rooms it joined; false after leaving", async () => {
  const room = `in-room-${process.pid}`;
  await withClient({ auth: { token: "alice-token" } }, async (s) => {
    assert.equal(await ack(s, "in_room", s.id), true, "a socket is in the room of its id");
    assert.equal(await ack(s, "in_room", "user:alice"), true);
    assert.equal(await ack(s, "in_room", "authenticated"), true);
    assert.equal(await ack(s, "in_room", room), false);
    await ack(s, "join", room);
    assert.equal(await ack(s, "in_room", room), true);
    await ack(s, "leave", room);
    assert.equal(await ack(s, "in_room", room), false);
    await withClient({}, async (t) => {
      assert.equal(await ack(t, "in_room", s.id), false, "another socket's id");
      assert.equal(await ack(t, "in_room", "authenticated"), false, "an anonymous socket");
    });
  });
});

test("a socket object kept after its disconnect: connected false, emit false, no rooms, join raises, data stays", async () => {
  await withClient({}, async (b) => {
    const a = await connected(sio(server));
    const id = a.id;
    try {
      assert.equal(await ack(a, "keep"), true);
      // socket:disconnect() runs on the server before the client hears of it.
      const gone = once(a, "disconnect");
      a.emit("kick");
      assert.equal((await gone)[0], "io server disconnect");
    } finally {
      a.close();
    }
    assert.deepEqual(await ack(b, "kept", id), {
      connected: false,
      emitted: false,
      in_room: false,
      rooms: [],
      joined: false,
      join_err: "socket is disconnected",
      id,
      note: "kept",
    });
  });
});

test("sb.sockets(room[, nsp]) lists the local sockets of a room as {id, user}", async () => {
  const room = `list-${process.pid}`;
  const a = await connected(sio(server, { auth: { token: "alice-token" } }));
  const b = await connected(sio(server));
  const c = await connected(sio(server, {}, "/all"));
  try {
    assert.deepEqual(await ack(a, "sockets", room), [], "a room nobody joined");
    await ack(a, "join", room);
    await ack(b, "join", room);
    await ack(c, "join", room); // the same name in another namespace
    assert.deepEqual(byId(await ack(b, "sockets", room)), byId([{ id: a.id, user: "alice" }, { id: b.id }]));
    assert.deepEqual(await ack(b, "sockets", a.id), [{ id: a.id, user: "alice" }], "a socket id is a room of one");
    assert.deepEqual(await ack(a, "sockets", room, "/all"), [{ id: c.id }]);
    assert.equal(await ack(a, "room_size_in", room, "/all"), 1);
    assert.deepEqual(await ack(a, "sockets", room, "/nowhere"), []);
    await ack(b, "leave", room);
    assert.deepEqual(await ack(a, "sockets", room), [{ id: a.id, user: "alice" }]);
  } finally {
    a.close();
    b.close();
    c.close();
  }
});

test('sb["in"](room) is sb.to(room), op["in"](room) adds a room: each socket gets it once', async () => {
  const [ra, rb] = [`in-a-${process.pid}`, `in-b-${process.pid}`];
  const [a, b, both, none] = await Promise.all([1, 2, 3, 4].map(() => connected(sio(server))));
  try {
    await ack(a, "join", ra);
    await ack(b, "join", rb);
    await ack(both, "join", ra);
    await ack(both, "join", rb);
    const got = [a, b, both, none].map((s) => record(s, "in_msg"));
    assert.equal(await ack(none, "emit_in", ra, null, "one"), 2);
    assert.equal(await ack(none, "emit_in", ra, rb, "two"), 3);
    // A socket's own ack comes after whatever the emits above sent it.
    for (const s of [a, b, both, none]) await ack(s, "nargs");
    assert.deepEqual(got, [["one", "two"], ["two"], ["one", "two"], []]);
  } finally {
    for (const s of [a, b, both, none]) s.close();
  }
});

test("sb.version is the server's version (switchboard --version, the project VERSION of CMakeLists.txt)", async () => {
  const cmake = /project\(switchboard VERSION (\S+)/.exec(fs.readFileSync(path.join(ROOT, "CMakeLists.txt"), "utf8"));
  assert.ok(cmake, "CMakeLists.txt names the version");
  assert.equal(VERSION, cmake[1]);
  await withClient({}, async (s) => {
    assert.equal(await ack(s, "version"), VERSION);
  });
});

test("sb.print is print, sb.json.null is sb.null, sb.redis is redis", async () => {
  await withClient({}, async (s) => {
    assert.deepEqual(await ack(s, "aliases"), { print: true, json_null: true, redis: true, version: "string" });
  });
});

test('require("switchboard") and require("sb") are sb; require("name") is lib/name.lua, loaded once', async () => {
  await withClient({}, async (s) => {
    const m = await ack(s, "modules");
    assert.equal(m.switchboard, true);
    assert.equal(m.sb, true);
    assert.equal(m.same, true, "a second require returns the same module table");
    assert.equal(m.greeting, `hello ${s.id}`, "the module's function");
    assert.equal(m.missing_ok, false);
    assert.match(m.missing, /^module 'lua_api_missing' not found: no file \S*\/lib\/lua_api_missing\.lua$/);
  });
});

test("sb.log.error/warn/info/debug write one line at their level tagged lua:<gateway>; --log-level info leaves debug out", async () => {
  await withClient({}, async (s) => {
    for (const level of LEVELS) assert.equal(await ack(s, "log", level, `marker-${level}`, 1, null, true, 2.5), true);
    assert.equal(await ack(s, "log", "info", "marker-end"), true);
    // The log is one stream, in order: once the last line is there, so is everything before it.
    await server.waitForLog(logLine("info", "marker-end"));
    const log = server.log();
    // Arguments are joined with spaces, through tostring.
    assert.match(log, logLine("error", "marker-error 1 nil true 2.5"));
    assert.match(log, logLine("warn", "marker-warn 1 nil true 2.5"));
    assert.match(log, logLine("info", "marker-info 1 nil true 2.5"));
    assert.doesNotMatch(log, /marker-debug/);
  });
});

test("--log-level decides what sb.log writes: debug writes all four levels, error only errors", async () => {
  for (const [flag, shown] of [
    ["debug", LEVELS],
    ["error", ["error"]],
  ]) {
    const other = await startServer({ scripts: SCRIPTS, args: ["--log-level", flag] });
    try {
      const s = await connected(sio(other));
      for (const level of LEVELS) await s.timeout(5000).emitWithAck("log", level, `at-${flag}-${level}`);
      await s.timeout(5000).emitWithAck("log", "error", `at-${flag}-end`);
      s.close();
      await other.waitForLog(logLine("error", `at-${flag}-end`));
      for (const level of LEVELS) {
        if (shown.includes(level)) assert.match(other.log(), logLine(level, `at-${flag}-${level}`));
        else assert.doesNotMatch(other.log(), new RegExp(`at-${flag}-${level}`), `${level} at ${flag}`);
      }
    } finally {
      await stopClean(null, other);
    }
  }
});

test("print(...) is sb.log.info: an info line tagged with the gateway, also while the file loads", async () => {
  // api.lua prints this at its top, while it loads.
  await server.waitForLog(logLine("info", `lua_api fixture loaded, version ${VERSION}`));
  await withClient({}, async (s) => {
    assert.equal(await ack(s, "print", "printed", 7, null, false), true);
    await server.waitForLog(logLine("info", "printed 7 nil false"));
  });
});

test("with --lua-trusted, print is LuaJIT's own: tab-separated on stdout, not a log line", async () => {
  const trusted = await startServer({ scripts: SCRIPTS, args: ["--lua-trusted"] });
  let stdout = "";
  trusted.proc.stdout.on("data", (d) => (stdout += d));
  try {
    const s = await connected(sio(trusted));
    assert.equal(await s.timeout(5000).emitWithAck("print", "raw", 7), true);
    // sb.print stays the logger.
    assert.equal(await s.timeout(5000).emitWithAck("sb_print", "logged", 8), true);
    s.close();
    await trusted.waitForLog(logLine("info", "logged 8"));
  } finally {
    // stdout is a pipe: LuaJIT's print is buffered until the process exits.
    await stopClean(null, trusted);
  }
  assert.match(stdout, /^raw\t7$/m);
  assert.match(stdout, new RegExp(`^lua_api fixture loaded, version\\t${escapeRe(VERSION)}$`, "m"));
  assert.doesNotMatch(trusted.log(), /\[lua:api\] (raw|lua_api fixture)/);
});

// ---- every socket of a namespace, on a server without Redis (all.lua, namespace /all) ----

test("without Redis, sb.fetch_sockets lists this server's sockets of the namespace; op:fetch_sockets those it selects", async () => {
  const room = `fetch-${process.pid}`;
  const a = await connected(sio(server, { auth: { token: "bob-token" } }, "/all"));
  const b = await connected(sio(server, {}, "/all"));
  const root = await connected(sio(server));
  try {
    await ack(a, "join", room);
    await ack(b, "join", room);
    // fn(err, sockets) emits "fetched". Without Redis it runs before fetch_sockets returns, so
    // "fetched" comes before the handler's ack.
    const fetch = async (...args) => {
      const order = [];
      const got = once(a, "fetched");
      a.once("fetched", () => order.push("fetched"));
      const acked = await new Promise((resolve, reject) =>
        a.timeout(5000).emit("fetch", ...args, (err, ok) => {
          order.push("ack");
          if (err) reject(err);
          else resolve(ok);
        }),
      );
      assert.equal(acked, true);
      const [err, list] = await got;
      assert.deepEqual(order, ["fetched", "ack"]);
      return [err, byId(list).map((s) => ({ ...s, rooms: [...s.rooms].sort() }))];
    };
    const wantA = { id: a.id, user: "bob", rooms: [a.id, "authenticated", room, "user:bob"].sort() };
    const wantB = { id: b.id, user: null, rooms: [b.id, room].sort() };

    const [err, all] = await fetch();
    assert.equal(err, null);
    // Sockets closed by earlier tests may still be leaving: look for these two.
    assert.deepEqual(all.find((s) => s.id === a.id), wantA);
    assert.deepEqual(all.find((s) => s.id === b.id), wantB);
    assert.equal(all.find((s) => s.id === root.id), undefined, "a socket of another namespace");

    assert.deepEqual(await fetch(room), [null, byId([wantA, wantB])]);
    assert.deepEqual(await fetch(room, a.id), [null, [wantB]]);
    assert.deepEqual(await fetch("nobody-here"), [null, []]);
  } finally {
    a.close();
    b.close();
    root.close();
  }
});

test("without Redis, sb.sockets_join / sb.sockets_leave act on every socket of the namespace", async () => {
  const [r1, r2, r3] = [1, 2, 3].map((i) => `all-${i}-${process.pid}`);
  const a = await connected(sio(server, {}, "/all"));
  const b = await connected(sio(server, {}, "/all"));
  const root = await connected(sio(server));
  const inRooms = async (s, rooms) => Promise.all(rooms.map((r) => ack(s, "in_room", r)));
  try {
    assert.deepEqual(await inRooms(b, [r1, r2, r3]), [false, false, false]);
    assert.equal(await ack(a, "join_all", r1), true);
    assert.equal(await ack(a, "join_all", [r2, r3]), true);
    for (const s of [a, b]) assert.deepEqual(await inRooms(s, [r1, r2, r3]), [true, true, true]);
    assert.deepEqual(await inRooms(root, [r1, r2, r3]), [false, false, false], "another namespace");
    assert.equal(await ack(b, "leave_all", [r1, r3]), true);
    for (const s of [a, b]) assert.deepEqual(await inRooms(s, [r1, r2, r3]), [false, true, false]);
    assert.equal(await ack(b, "leave_all", r2), true);
    for (const s of [a, b]) assert.deepEqual(await inRooms(s, [r1, r2, r3]), [false, false, false]);
  } finally {
    a.close();
    b.close();
    root.close();
  }
});

test("without Redis, sb.disconnect_sockets() disconnects every socket of the namespace; (true) also closes their connections", async () => {
  for (const close of [false, true]) {
    // One connection holding a socket in "/" and one in "/all".
    const manager = new Manager(server.url, { transports: ["websocket"], reconnection: false, timeout: 5000 });
    const root = await connected(manager.socket("/"));
    const a = await connected(manager.socket("/all"));
    const b = await connected(sio(server, {}, "/all"));
    try {
      const rootGone = once(root, "disconnect");
      const gone = Promise.all([once(a, "disconnect"), once(b, "disconnect")]);
      a.emit("disconnect_all", close);
      assert.deepEqual((await gone).map(([reason]) => reason), ["io server disconnect", "io server disconnect"]);
      if (close) {
        assert.equal((await rootGone)[0], "transport close", "the connection was closed");
      } else {
        assert.equal(await ack(root, "nargs", 1, 2), 2, "the connection and its '/' socket stay");
        assert.equal(root.connected, true);
        rootGone.catch(() => {});
      }
    } finally {
      root.close();
      a.close();
      b.close();
    }
  }
});

test("without Redis, sb.server_emit's callback gets no error and no answers (no other server)", async () => {
  const s = await connected(sio(server, {}, "/all"));
  try {
    const got = once(s, "server_emitted");
    assert.equal(await ack(s, "server_emit", 1), true);
    assert.deepEqual(await got, [null, 0]);
  } finally {
    s.close();
  }
});
