// The acl plugin loaded by a real server and driven by real clients with auth-jwt identities
// (tests/integration/gateways/plugin_acl/, rules in tests/fixtures/acl/): allow and deny by user,
// anonymous, authenticated and claims; event patterns; first match wins; namespace rules, at
// CONNECT (ABI 1.4 before_connect: Socket.IO connect_error on the same Manager, plain WebSocket
// close 4401); room rules on {room = …} and on the gateway's socket:join (ABI 1.4 before_join:
// the exception, pcall, nothing joined, automatic rooms not asked, gateways that do not list
// acl not asked); the permissions claim; a global acl with default=allow; bad rules files; and a
// plugin built against ABI 1.3 loading beside them.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { Manager } from "socket.io-client";
import {
  BIN,
  GATEWAYS,
  ROOT,
  connected,
  freePort,
  metric,
  once,
  rawWs,
  record,
  sio,
  sleep,
  startServer,
  stopClean,
} from "./helpers.mjs";
import { rawSocket, runBinary } from "./wire.mjs";

const GATED = path.join(GATEWAYS, "plugin_acl/gated"); // "/" and "/admin", interceptors = { "acl" }
const OPEN = path.join(GATEWAYS, "plugin_acl/open"); // no interceptors
const FIXTURES = path.join(ROOT, "tests/fixtures/acl");
const SECRET = "acl-integration-secret-0123456789-abcdefghij";
const JWT = `auth-jwt=secret=${SECRET}`;
const FORBIDDEN = { status: "error", message: "forbidden" };

const b64url = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
function token(claims) {
  const input = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url({
    exp: Math.floor(Date.now() / 1000) + 600,
    ...claims,
  })}`;
  return `${input}.${createHmac("sha256", SECRET).update(input).digest("base64url")}`;
}

let rules; // acl=rules=tests/fixtures/acl/rules.txt (default deny)
let claims; // acl=claims=permissions,message=access denied (no rules file)
let open; // --interceptor acl, acl=rules=open.rules,default=allow
const sockets = [];

before(async () => {
  [rules, claims, open] = await Promise.all([
    startServer({
      scripts: GATED,
      plugins: [JWT, `acl=rules=${path.join(FIXTURES, "rules.txt")}`],
    }),
    startServer({ scripts: GATED, plugins: [JWT, "acl=claims=permissions,message=access denied"] }),
    startServer({
      scripts: OPEN,
      plugins: [JWT, `acl=rules=${path.join(FIXTURES, "open.rules")},default=allow`],
      args: ["--interceptor", "acl"],
    }),
  ]);
});
after(async (t) => {
  for (const s of sockets) s.close();
  for (const server of [rules, claims, open]) await stopClean(t, server);
});

// A connected Socket.IO client: anonymous, or authenticated with a JWT of `jwtClaims`.
async function client(server, jwtClaims, nsp = "/") {
  const s = sio(server, jwtClaims ? { auth: { token: token(jwtClaims) } } : {}, nsp);
  sockets.push(s);
  return connected(s);
}

// Emits an event and resolves with {ack} when the handler answered, or {error} when the
// server refused it with `exception`.
function call(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to '${event}'`)), 5000);
    const onError = (error) => {
      clearTimeout(timer);
      resolve({ error });
    };
    socket.once("exception", onError);
    socket.emit(event, ...args, (ack) => {
      clearTimeout(timer);
      socket.off("exception", onError);
      resolve({ ack });
    });
  });
}

test("anonymous: allowed events pass, the others are refused with 'forbidden'", async () => {
  const s = await client(rules);
  assert.deepEqual(await call(s, "ping"), { ack: "pong" });
  assert.deepEqual(await call(s, "chat.send", "hi"), { error: FORBIDDEN });
  assert.deepEqual(await call(s, "admin.reset"), { error: FORBIDDEN });
  // Refusals leave the socket usable.
  assert.deepEqual(await call(s, "ping"), { ack: "pong" });
});

test("authenticated users get chat.*; only the admin claim gets admin.*", async () => {
  const bob = await client(rules, { sub: "bob" });
  const admin = await client(rules, { sub: "root", role: "admin" });
  assert.deepEqual(await call(bob, "chat.send", "hi"), { ack: "sent" });
  assert.deepEqual(await call(bob, "admin.reset"), { error: FORBIDDEN });
  assert.deepEqual(await call(admin, "admin.reset"), { ack: "reset" });
  assert.deepEqual(await call(admin, "chat.send", "hi"), { ack: "sent" });
});

test("first match wins: a deny rule for one user comes before the allow rules", async () => {
  const mallory = await client(rules, { sub: "mallory", role: "admin" });
  assert.deepEqual(await call(mallory, "ping"), { error: FORBIDDEN });
  assert.deepEqual(await call(mallory, "admin.reset"), { error: FORBIDDEN });
});

// The Error of a socket's connect_error (rejects if it connects instead).
async function refused(socket) {
  const onConnect = new Promise((_, reject) =>
    socket.once("connect", () => reject(new Error("connected, expected connect_error"))),
  );
  const [err] = await Promise.race([once(socket, "connect_error"), onConnect]);
  assert.equal(socket.connected, false);
  return err;
}

test("namespace rules: a denied namespace's CONNECT is refused, the Manager stays", async () => {
  const admin = await client(rules, { sub: "root", role: "admin" }, "/admin");
  assert.deepEqual(await call(admin, "status"), { ack: "up" });
  const gone = await metric(rules, 'switchboard_refusals_total{reason="connect_hook"}');
  // bob may use "/" but not "/admin": one Engine.IO connection, one namespace refused.
  const m = new Manager(rules.url, { transports: ["websocket"], reconnection: false, timeout: 5000 });
  try {
    const root = await connected(m.socket("/", { auth: { token: token({ sub: "bob" }) } }));
    const engineId = m.engine.id;
    const denied = m.socket("/admin", { auth: { token: token({ sub: "bob" }) } });
    const err = await refused(denied);
    assert.equal(err.message, "forbidden");
    assert.equal(root.connected, true);
    assert.equal(m.engine.id, engineId, "same Engine.IO session");
    assert.deepEqual(await call(root, "ping"), { ack: "pong" });
  } finally {
    m.engine?.close();
  }
  // Anonymous sockets are refused too, and each refusal is counted.
  const anon = sio(rules, {}, "/admin");
  sockets.push(anon);
  assert.equal((await refused(anon)).message, "forbidden");
  assert.equal(
    await metric(rules, 'switchboard_refusals_total{reason="connect_hook"}'),
    gone + 2,
  );
});

test("namespace refusal on the wire: 44/admin,{message} and the connection stays open", async () => {
  const raw = await rawSocket(rules.port);
  try {
    assert.match(await raw.next(), /^0\{/); // the Engine.IO open packet
    raw.text("40/admin,");
    assert.equal(await raw.next(), '44/admin,{"message":"forbidden"}');
    raw.text("40");
    assert.match(await raw.next(), /^40\{"sid":"/);
    assert.equal(raw.isEnded(), false);
  } finally {
    raw.destroy();
  }
});

test("a namespace no gateway guards with acl is not asked (no rule allows /free)", async () => {
  const bob = await client(rules, { sub: "bob" }, "/free");
  // Its joins are not asked either: "vip" is denied to bob by the rules.
  assert.deepEqual(await call(bob, "room.enter", "vip"), { ack: true });
});

test("room rules apply to the first argument's room member", async () => {
  const alice = await client(rules, { sub: "alice" });
  const bob = await client(rules, { sub: "bob" });
  assert.deepEqual(await call(alice, "join", { room: "vip" }), { ack: "vip" });
  assert.deepEqual(await call(bob, "join", { room: "vip" }), { error: FORBIDDEN });
  assert.deepEqual(await call(bob, "join", { room: "lobby" }), { ack: "lobby" });
  // No room member, or one that is not a string: no room to check.
  assert.deepEqual(await call(bob, "join", "vip"), { ack: "no room" });
  assert.deepEqual(await call(bob, "join", { room: 7 }), { ack: 7 });
});

test("socket:join of a denied room raises the refusal; nothing is joined", async () => {
  const alice = await client(rules, { sub: "alice" });
  const bob = await client(rules, { sub: "bob" });
  // Uncaught by the handler: the client gets the `exception` event with acl's message.
  assert.deepEqual(await call(bob, "room.enter", "vip"), { error: FORBIDDEN });
  // Caught with pcall: the error is the exception object, its message acl's.
  assert.deepEqual(await call(bob, "room.try", "vip"), {
    ack: { ok: false, message: "forbidden", joined: false },
  });
  // A list with one denied room joins none of them.
  assert.deepEqual(await call(bob, "room.many", ["lobby2", "vip"]), { error: FORBIDDEN });
  const { ack: bobRooms } = await call(bob, "room.list");
  assert.ok(!bobRooms.includes("lobby2") && !bobRooms.includes("vip"), bobRooms.join());
  // Allowed joins work.
  assert.deepEqual(await call(alice, "room.enter", "vip"), { ack: true });
  assert.deepEqual(await call(bob, "room.enter", "lobby"), { ack: true });
  assert.deepEqual(await call(bob, "room.try", "lobby2"), { ack: { ok: true, joined: true } });

  // Room broadcasts: vip reaches alice and not bob; lobby reaches bob. Frames keep their order
  // on a connection, so when bob has l1, a v1 for him would have come first; alice's acks come
  // after the broadcasts her handler made.
  const bobShouts = record(bob, "shout");
  const aliceShouts = record(alice, "shout");
  assert.deepEqual(await call(alice, "room.shout", "vip", "v1"), { ack: true });
  assert.deepEqual(await call(alice, "room.shout", "lobby", "l1"), { ack: true });
  const end = Date.now() + 5000;
  while (bobShouts.length < 1 && Date.now() < end) await sleep(10);
  assert.deepEqual(bobShouts, [["lobby", "l1"]], "bob is not in vip");
  assert.deepEqual(aliceShouts, [["vip", "v1"]]);
});

test("the rooms the server joins itself are not asked (user:<id>, authenticated)", async () => {
  const bob = await client(rules, { sub: "bob" });
  const alice = await client(rules, { sub: "alice" });
  // The rules deny user:* and authenticated rooms to every join a gateway asks for...
  assert.deepEqual(await call(bob, "room.enter", "user:alice"), { error: FORBIDDEN });
  assert.deepEqual(await call(bob, "room.enter", "authenticated"), { error: FORBIDDEN });
  // ...yet bob is in his own, and broadcasts to it reach him.
  const { ack: rooms } = await call(bob, "room.list");
  assert.ok(rooms.includes("user:bob") && rooms.includes("authenticated"), rooms.join());
  assert.ok(!rooms.includes("user:alice"));
  const got = once(bob, "shout");
  assert.deepEqual(await call(alice, "room.shout", "user:bob", "direct"), { ack: true });
  assert.deepEqual(await got, ["user:bob", "direct"]);
});

test("claims=permissions: the token's grants decide, with the configured message", async () => {
  const DENIED = { status: "error", message: "access denied" };
  const perms = ["namespace:/", "event:chat.*", "event:join", "room:lobby"];
  const s = await client(claims, { sub: "carol", permissions: perms });
  assert.deepEqual(await call(s, "chat.send", "hi"), { ack: "sent" });
  assert.deepEqual(await call(s, "ping"), { error: DENIED });
  assert.deepEqual(await call(s, "join", { room: "lobby" }), { ack: "lobby" });
  assert.deepEqual(await call(s, "join", { room: "vip" }), { error: DENIED });
  // An OAuth-style string of grants.
  const scoped = await client(claims, { sub: "dave", permissions: "namespace:/ event:ping" });
  assert.deepEqual(await call(scoped, "ping"), { ack: "pong" });
  assert.deepEqual(await call(scoped, "chat.send", "hi"), { error: DENIED });
  // Without grants, nothing, not even the namespace: the CONNECT is refused.
  const anon = sio(claims);
  sockets.push(anon);
  assert.equal((await refused(anon)).message, "access denied");
  const other = sio(claims, { auth: { token: token({ sub: "erin", permissions: ["event:ping"] }) } });
  sockets.push(other);
  assert.equal((await refused(other)).message, "access denied", "namespace:/ is not granted");
});

test("plain WebSocket: a refused namespace closes with 4401 and the message", async () => {
  // The handshake's token (query) gives the identity; "/" needs the namespace:/ grant.
  const anon = rawWs(claims.wsUrl);
  await anon.opened();
  assert.deepEqual(await anon.closed(), { code: 4401, reason: "access denied" });
  const t = token({ sub: "frank", permissions: ["namespace:/", "event:ping"] });
  const frank = rawWs(`${claims.wsUrl}/?token=${t}`);
  await frank.opened();
  try {
    frank.send(JSON.stringify({ event: "ping" }));
    assert.equal(await frank.next(), '"pong"');
  } finally {
    frank.close();
  }
});

test("global acl with default=allow: refuses before the 'no handler' exception", async () => {
  const anon = await client(open);
  const bob = await client(open, { sub: "bob" });
  assert.deepEqual(await call(anon, "hello"), { ack: "hi" });
  assert.deepEqual(await call(anon, "secret.plans"), { error: FORBIDDEN });
  assert.deepEqual(await call(bob, "secret.plans"), {
    error: { status: "error", message: "no handler for event 'secret.plans'" },
  });
});

test("a global acl guards the joins of a gateway that lists no interceptor", async () => {
  const anon = await client(open);
  const bob = await client(open, { sub: "bob" });
  assert.deepEqual(await call(anon, "enter", "private-1"), { ack: "forbidden" });
  assert.deepEqual(await call(anon, "enter", "public"), { ack: true });
  assert.deepEqual(await call(bob, "enter", "private-1"), { ack: true });
});

test("a bad rules file or CONFIG stops the start with a one-line reason", async () => {
  const bad = path.join(FIXTURES, "bad.rules");
  const cases = [
    [`acl=${bad}`, /bad\.rules:3: WHO must be/],
    [`acl=rules=${path.join(FIXTURES, "absent.rules")}`, /absent\.rules: cannot open/],
    ["acl=default=allow", /give rules=<path>, claims=<claim name>, or both/],
    [`acl=rules=${bad},mode=strict`, /acl: unknown key "mode"/],
    ["acl", /CONFIG is required/],
  ];
  for (const [plugin, re] of cases) {
    const r = await runBinary([
      "--listen", `127.0.0.1:${await freePort()}`,
      "--scripts", GATED,
      "--plugin", plugin,
    ]);
    assert.equal(r.signal, null, `the server started with ${plugin}`);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, re);
  }
});


// tests/fixtures/plugins/abi_1_3.c, built next to the binary under test (or in build/).
const ABI_1_3 = [
  path.join(path.dirname(BIN), "tests/fixtures/abi_1_3.so"),
  path.join(ROOT, "build/tests/fixtures/abi_1_3.so"),
].find((f) => fs.existsSync(f));

test("a plugin built against ABI 1.3 loads beside acl, and is asked nothing of 1.4", async (t) => {
  assert.ok(ABI_1_3, "build the fixtures (cmake --build build) first");
  const so = ABI_1_3;
  const server = await startServer({
    scripts: GATED,
    plugins: [JWT, `acl=rules=${path.join(FIXTURES, "rules.txt")}`, so],
    args: ["--interceptor", "old13"],
  });
  try {
    assert.match(server.log(), /loaded old13 1\.3/);
    const bob = await client(server, { sub: "bob" });
    assert.deepEqual(await call(bob, "ping"), { ack: "pong" });
    assert.deepEqual(await call(bob, "old.blocked"), {
      error: { status: "error", message: "blocked by a 1.3 plugin" },
    });
    assert.deepEqual(await call(bob, "room.enter", "lobby"), { ack: true });
    // acl, of ABI 1.4, still guards beside it.
    assert.deepEqual(await call(bob, "room.enter", "vip"), { error: FORBIDDEN });
    const admin = sio(server, { auth: { token: token({ sub: "bob" }) } }, "/admin");
    sockets.push(admin);
    assert.equal((await refused(admin)).message, "forbidden");
  } finally {
    await stopClean(t, server);
  }
});
