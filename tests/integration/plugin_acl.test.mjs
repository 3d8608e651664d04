// The acl plugin loaded by a real server and driven by real clients with auth-jwt identities
// (tests/integration/gateways/plugin_acl/, rules in tests/fixtures/acl/): allow and deny by user,
// anonymous, authenticated and claims; event patterns; first match wins; namespace rules; room
// rules on {room = …}; the permissions claim; a global acl with default=allow; bad rules files.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  GATEWAYS,
  ROOT,
  connected,
  freePort,
  sio,
  startServer,
  stopClean,
} from "./helpers.mjs";
import { runBinary } from "./wire.mjs";

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

test("namespace rules: every event of a denied namespace is refused", async () => {
  const admin = await client(rules, { sub: "root", role: "admin" }, "/admin");
  assert.deepEqual(await call(admin, "status"), { ack: "up" });
  // ABI 1.1 lets no interceptor refuse the CONNECT: bob is connected, but can do nothing there.
  const bob = await client(rules, { sub: "bob" }, "/admin");
  assert.deepEqual(await call(bob, "status"), { error: FORBIDDEN });
  const anon = await client(rules, undefined, "/admin");
  assert.deepEqual(await call(anon, "status"), { error: FORBIDDEN });
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
  // Without grants, nothing (not even the namespace).
  const anon = await client(claims);
  assert.deepEqual(await call(anon, "ping"), { error: DENIED });
  const other = await client(claims, { sub: "erin", permissions: ["event:ping"] });
  assert.deepEqual(await call(other, "ping"), { error: DENIED }, "namespace:/ is not granted");
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

test("a bad rules file or CONFIG stops the start with a one-line reason", async () => {
  const bad = path.join(FIXTURES, "bad.rules");
  const cases = [
    [`acl=${bad}`, /bad\.rules:3: WHO must be/],
    [`acl=rules=${path.join(FIXTURES, "absent.rules")}`, /absent\.rules: cannot open/],
    ["acl=default=allow", /give rules=<path>, claims=<claim name>, or both/],
    [`acl=rules=${bad},mode=strict`, /unknown key 'mode'/],
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
