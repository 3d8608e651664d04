// Token lifetimes (plugin ABI 1.5 auth_set_expiry, auth-jwt's refresh=true): when the token of
// a socket expires, the server sends it the event `refresh` with an ack; a client that answers
// a valid token for the same user stays connected, with the new claims, and is asked again at
// the new token's expiry; one that does not answer within --auth-refresh-grace, or answers a
// bad token, an expired one or one for another user, gets `exception` with the reason and a
// server disconnect (on_disconnect sees "token expired" / "token refused"). Each namespace of a
// connection has its own expiry; a handshake (query) token is refreshed the same way, also for a
// socket.io 2.x client; an auth plugin that answers later (the fixture expiring.so) works at
// refresh time, also when the client leaves or the server stops meanwhile; a plain WebSocket is
// closed with 4401 "token expired"; without refresh=true (the default) an expired token changes
// nothing. Gateways:
// tests/integration/gateways/token_refresh/. Exp times are 1-2 s ahead and the grace 1 s, so the
// file runs in a few seconds.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import io2 from "socket.io-client-v2";

import {
  BIN,
  GATEWAYS,
  ROOT,
  connected,
  io,
  once,
  rawWs,
  record,
  sio,
  sleep,
  startServer,
  stopClean,
} from "./helpers.mjs";

const SCRIPTS = path.join(GATEWAYS, "token_refresh");
// tests/fixtures/plugins/expiring.c, built next to the binary under test (build/ or build-asan/),
// else build/'s: `exp:<user>:<ms>` expires in <ms>, `slow:…` the same answered 300 ms later.
const EXPIRING = [
  path.join(path.dirname(BIN), "tests/fixtures/expiring.so"),
  path.join(ROOT, "build/tests/fixtures/expiring.so"),
].find((f) => fs.existsSync(f));
const SECRET = "token-refresh-test-secret-0123456789-abcdef";
const GRACE_MS = 1000;

const used = new Set(); // every token made here: none may reach the log
const b64url = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
function sign(payload, secret = SECRET) {
  const input = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url(payload)}`;
  const t = `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
  used.add(t);
  return t;
}
const now = () => Math.floor(Date.now() / 1000);
// A token for `sub` that expires `secs` seconds from now (whole seconds, as `exp` is).
const token = (sub, secs, extra = {}) => sign({ sub, exp: now() + secs, ...extra });

let refreshing; // auth-jwt refresh=true, leeway=0, --auth-refresh-grace 1000
let plain; // auth-jwt leeway=0, refresh off (the default)
let lingering; // a socket left connected through the shutdown
let pending; // the expiring fixture plugin (asynchronous answers), grace 1000

before(async () => {
  [refreshing, plain, pending] = await Promise.all([
    startServer({
      scripts: SCRIPTS,
      plugins: [`auth-jwt=secret=${SECRET},leeway=0,refresh=true`],
      args: ["--auth-refresh-grace", String(GRACE_MS), "--log-level", "debug"],
    }),
    startServer({ scripts: SCRIPTS, plugins: [`auth-jwt=secret=${SECRET},leeway=0`] }),
    startServer({
      scripts: SCRIPTS,
      plugins: [EXPIRING],
      args: ["--auth-refresh-grace", String(GRACE_MS)],
    }),
  ]);
});

after(async (t) => {
  for (const s of [refreshing, plain, pending]) if (s) await stopClean(t, s);
  lingering?.close();
});

const whoami = (s) => s.timeout(3000).emitWithAck("whoami");

// The reasons on_disconnect saw, as the gateway kept them.
async function gone(server) {
  const s = await connected(sio(server));
  try {
    const list = await s.timeout(3000).emitWithAck("gone");
    return Array.isArray(list) ? list : [];
  } finally {
    s.close();
  }
}

test("a client that answers `refresh` with a new token stays connected and keeps its events", async () => {
  // socket.io-client with its default transports (polling, then the upgrade).
  const s = io(refreshing.url, {
    auth: { token: token("alice", 2, { n: 1 }) },
    forceNew: true,
    reconnection: false,
  });
  let n = 1;
  const asked = [];
  s.on("refresh", (ack) => {
    asked.push(Date.now());
    n++;
    // The first answer is the token itself, the next the {token} object: both are accepted.
    const t = token("alice", 2, { n });
    ack(n === 2 ? t : { token: t });
  });
  const shouts = record(s, "shout");
  const disconnects = record(s, "disconnect");
  await connected(s);
  const t0 = Date.now();
  assert.equal((await whoami(s)).claims.n, 1);
  // Past the first token's expiry, and the second's.
  while (asked.length < 2 && Date.now() - t0 < 8000) await sleep(50);
  assert.equal(asked.length, 2, "asked at each expiry");
  await sleep(300);
  assert.ok(s.connected);
  assert.deepEqual(disconnects, []);
  const me = await whoami(s);
  assert.equal(me.user, "alice");
  assert.equal(me.claims.n, 3, "the claims are the last token's");
  assert.equal(await s.timeout(3000).emitWithAck("shout", "still here"), true);
  while (shouts.length < 1 && Date.now() - t0 < 10000) await sleep(20);
  assert.deepEqual(shouts, ["still here"]);
  s.close();
});

// Connects with a token that expires in 1 s and answers `refresh` with `answer` (a function
// of the ack, or null: ignored). Resolves with what the client saw by its disconnect.
async function expireWith(answer, nsp = "/", sub = "carol") {
  const s = sio(refreshing, { auth: { token: token(sub, 1) } }, nsp);
  const exceptions = record(s, "exception");
  let asked = 0;
  s.on("refresh", (ack) => {
    asked++;
    if (answer) answer(ack);
  });
  await connected(s);
  const t0 = Date.now();
  const [reason] = await once(s, "disconnect", 1000 + GRACE_MS + 3000);
  s.close();
  return { reason, exceptions, asked, after: Date.now() - t0 };
}

test("no answer within the grace, or a bad one: exception with the reason, then disconnect", async () => {
  const [ignored, garbage, expired, badSig, otherUser, notString] = await Promise.all([
    expireWith(null, "/", "ignorer"),
    expireWith((ack) => ack("not-a-jwt"), "/", "garbage"),
    expireWith((ack) => ack(token("expired", -120)), "/", "expired"),
    expireWith((ack) => ack(sign({ sub: "badsig", exp: now() + 60 }, "x".repeat(40))), "/", "badsig"),
    expireWith((ack) => ack(token("mallory", 60)), "/", "other"),
    expireWith((ack) => ack(42), "/", "number"),
  ]);
  const messages = (r) => r.exceptions.map((e) => e.message);
  for (const r of [ignored, garbage, expired, badSig, otherUser, notString]) {
    assert.equal(r.reason, "io server disconnect");
    assert.equal(r.asked, 1);
  }
  assert.deepEqual(messages(ignored), ["token expired"]);
  // Not before the grace ran out (the token expired about 1 s in; whole seconds).
  assert.ok(ignored.after >= GRACE_MS, `disconnected after ${ignored.after} ms`);
  assert.deepEqual(messages(garbage), ["invalid token"]);
  assert.deepEqual(messages(expired), ["token expired"]);
  assert.deepEqual(messages(badSig), ["bad signature"]);
  assert.deepEqual(messages(otherUser), ["token is for another user"]);
  assert.deepEqual(messages(notString), ["invalid token"]);
  // What the gateways' on_disconnect was told.
  const reasons = Object.fromEntries((await gone(refreshing)).map((g) => [g.user, g.reason]));
  assert.equal(reasons.ignorer, "token expired");
  for (const u of ["garbage", "expired", "badsig", "other", "number"])
    assert.equal(reasons[u], "token refused", u);
  assert.match(refreshing.log(), /ignorer in \/ disconnected: token expired/);
});

test("each namespace of a connection has its own token and expiry", async () => {
  const root = sio(refreshing, { auth: { token: token("dave", 1, { nsp: "/" }) } });
  await connected(root);
  // The same Manager: one connection, two namespaces, two tokens.
  const admin = root.io.socket("/admin", { auth: { token: token("dave", 1, { nsp: "/admin" }) } });
  admin.connect();
  await connected(admin);
  root.on("refresh", (ack) => ack(token("dave", 60, { nsp: "/", again: true })));
  admin.on("refresh", () => {}); // ignored
  const [reason] = await once(admin, "disconnect", 1000 + GRACE_MS + 3000);
  assert.equal(reason, "io server disconnect");
  assert.ok(root.connected, "the other namespace stays");
  assert.equal((await whoami(root)).claims.again, true);
  root.close();
});

test("a token from the handshake query, with a socket.io 2.x client: refreshed the same way", async () => {
  // socket.io-client 2.x (Engine.IO v3) has no auth object: the token is the query's, the
  // identity of the connection, and its "/" socket is the one asked.
  const s = io2(refreshing.url, {
    query: { token: token("ida", 1, { n: 1 }) },
    reconnection: false,
    forceNew: true,
    transports: ["websocket"],
  });
  const asked = [];
  s.on("refresh", (ack) => {
    asked.push(1);
    ack(token("ida", 60, { n: 2 }));
  });
  await new Promise((resolve, reject) => {
    s.once("connect", resolve);
    s.once("connect_error", reject);
    s.once("error", reject);
  });
  const t0 = Date.now();
  while (!asked.length && Date.now() - t0 < 4000) await sleep(20);
  await sleep(GRACE_MS + 200);
  assert.equal(asked.length, 1);
  assert.ok(s.connected);
  const me = await new Promise((resolve) => s.emit("whoami", resolve));
  assert.deepEqual([me.user, me.claims.n], ["ida", 2]);
  s.close();
});

test("a client that leaves while it is asked: nothing is left behind", async () => {
  const s = sio(refreshing, { auth: { token: token("erin", 1) } });
  await connected(s);
  await once(s, "refresh", 3000);
  s.close(); // before the grace ends, without answering
  await sleep(GRACE_MS + 200);
  // The server is still fine (and, under ASan, the leftover wait is freed: see stopClean).
  const again = await connected(sio(refreshing, { auth: { token: token("erin", 60) } }));
  assert.equal((await whoami(again)).user, "erin");
  again.close();
});

test("a plain WebSocket is closed with 4401 \"token expired\" at its token's expiry", async () => {
  const ws = rawWs(`${refreshing.wsUrl}/`, {
    headers: { Authorization: `Bearer ${token("frank", 1)}` },
  });
  await ws.opened();
  assert.deepEqual(await ws.closed(4000), { code: 4401, reason: "token expired" });
  const reasons = Object.fromEntries((await gone(refreshing)).map((g) => [g.user, g.reason]));
  assert.equal(reasons.frank, "token expired");
});

test("without refresh=true an expired token changes nothing (backwards compatibility)", async () => {
  const s = sio(plain, { auth: { token: token("grace", 1) } });
  const asked = record(s, "refresh");
  await connected(s);
  await sleep(1600);
  assert.ok(s.connected);
  assert.equal((await whoami(s)).user, "grace");
  assert.deepEqual(asked, []);
  s.close();
});

test("no refreshed token reaches the log (debug level)", () => {
  const log = refreshing.log();
  assert.match(log, /token refreshed/);
  for (const t of used) assert.ok(!log.includes(t), "a token is in the log");
  assert.ok(!log.includes(SECRET));
});

test("a socket whose token has not expired is connected at shutdown: the server stops cleanly", async () => {
  // Left connected on purpose: stopClean (after) checks the exit status, and under ASan that no
  // expiry timer leaks.
  lingering = await connected(sio(refreshing, { auth: { token: token("henry", 600) } }));
  assert.equal((await whoami(lingering)).user, "henry");
});

test("an auth plugin that answers later: at connect and at refresh; a client leaving meanwhile", async () => {
  // Accepted 300 ms after the answer, past nothing: the grace stops at the answer.
  const ivy = sio(pending, { auth: { token: "slow:ivy:800" } });
  const ivyAsked = record(ivy, "refresh");
  ivy.on("refresh", (ack) => ack("slow:ivy:60000"));
  await connected(ivy);
  // Refused later: the plugin's message.
  const jill = sio(pending, { auth: { token: "exp:jill:800" } });
  const jillExc = record(jill, "exception");
  jill.on("refresh", (ack) => ack("deny"));
  await connected(jill);
  // Leaves while its new token is being checked: the check is cancelled, the plugin's late
  // answer changes nothing.
  const jack = sio(pending, { auth: { token: "exp:jack:800" } });
  jack.on("refresh", (ack) => {
    ack("slow:jack:60000");
    setTimeout(() => jack.close(), 50);
  });
  await connected(jack);
  const [reason] = await once(jill, "disconnect", 800 + 3000);
  assert.equal(reason, "io server disconnect");
  assert.deepEqual(
    jillExc.map((e) => e.message),
    ["denied"],
  );
  await sleep(800 + 300 + GRACE_MS - 500);
  assert.equal(ivyAsked.length, 1);
  assert.ok(ivy.connected, "accepted later: still connected past the grace");
  assert.equal((await whoami(ivy)).user, "ivy");
  ivy.close();
  jill.close();
  const reasons = Object.fromEntries((await gone(pending)).map((g) => [g.user, g.reason]));
  assert.equal(reasons.jill, "token refused");
  assert.equal(reasons.jack, "client namespace disconnect");
});

test("a shutdown while refreshes are asked, checked and armed ends cleanly", async () => {
  const server = await startServer({
    scripts: SCRIPTS,
    plugins: [EXPIRING],
    args: ["--auth-refresh-grace", "5000"],
  });
  const asked = sio(server, { auth: { token: "exp:kate:300" } }); // never answers
  const checked = sio(server, { auth: { token: "exp:leo:300" } }); // answers slowly
  const armed = sio(server, { auth: { token: "exp:max:600000" } });
  const got = [];
  asked.on("refresh", () => got.push("kate"));
  checked.on("refresh", (ack) => {
    got.push("leo");
    ack("slow:leo:60000");
  });
  await Promise.all([asked, checked, armed].map((s) => connected(s)));
  while (got.length < 2) await sleep(20);
  await sleep(50);
  // SIGTERM now: the ack wait, the pending check and the armed timer end with their sockets
  // (exit 0, and under ASan no leak and no use after free).
  await stopClean(undefined, server);
  for (const s of [asked, checked, armed]) s.close();
});
