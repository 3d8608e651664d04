// Asynchronous authentication: the auth-http plugin asks a real HTTP service (node:http on a
// loopback port, in this process) and answers SB_AUTH_PENDING; the handshake waits for it, at
// most --auth-timeout. The gateway (tests/integration/gateways/auth_async/) echoes socket.user
// and socket.claims. Covered: accept and refuse on every path a token travels (CONNECT auth
// object → CONNECT_ERROR; query / Authorization header → the upgrade goes through and a refusal
// closes the WebSocket with 4401), a slow service (the server's deadline, the late answer ignored,
// the plugin's own timeout), a failing one (500, garbage, reset, 404, nobody listening), 100
// attempts at once, clients that leave while pending, chaining after auth-static, the cache, and
// that no token reaches the log at --log-level debug.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  BIN,
  GATEWAYS,
  closedPort,
  connected,
  once,
  rawWs,
  sio,
  sleep,
  startServer,
  stopClean,
} from "./helpers.mjs";

const DIR = path.join(GATEWAYS, "auth_async");
const STATIC = `auth-static=${path.join(DIR, "tokens.txt")}`; // static-token-carol carol
const AUTH_TIMEOUT = 1500; // the main server's --auth-timeout
const SLOW_MS = 2300; // "slow-*" answers after the deadline, before the plugin's timeout (3200)
const SLOW_OK_MS = 300; // "slow-ok-*" answers well within the deadline

// ---- the auth service ----

// Every request the service got: { token, header, nsp, at }.
const requests = [];
// Every token a test sent, to check the logs at the end.
const usedTokens = new Set(["static-token-carol"]);
const tok = (t) => (usedTokens.add(t), t);
const callsFor = (token) => requests.filter((r) => r.token === token).length;

const json = (res, status, body) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(typeof body === "string" ? body : JSON.stringify(body));
};

function answer(req, res) {
  const bearer = /^Bearer (.+)$/.exec(req.headers.authorization || "");
  const token = bearer ? bearer[1] : req.headers["x-token"];
  const nsp = req.headers["x-switchboard-namespace"];
  requests.push({ token, header: bearer ? "authorization" : "x-token", nsp, at: Date.now() });
  const name = token.replace(/^[a-z-]+?-(?=[a-z0-9]+$)/, "");
  const accept = () =>
    json(res, 200, { user: name, claims: { role: "member", nsp, tags: ["a", "b"], n: 7 } });
  if (token.startsWith("good-")) return accept();
  if (token.startsWith("slow-ok-")) return setTimeout(accept, SLOW_OK_MS);
  if (token.startsWith("slow-")) return setTimeout(accept, SLOW_MS);
  if (token === "number-user") return json(res, 200, { user: 42 });
  if (token.startsWith("deny-")) return json(res, 401, { message: "account suspended" });
  if (token === "forbid-plain") {
    res.writeHead(403, { "content-type": "text/plain" });
    return res.end("no");
  }
  if (token === "fail-500") return json(res, 500, { message: "database down" });
  if (token === "fail-garbage") return json(res, 200, "{not json");
  if (token === "fail-no-user") return json(res, 200, { claims: {} });
  if (token === "fail-404") return json(res, 404, { message: "no such route" });
  if (token === "fail-reset") return req.socket.destroy();
  if (token === "fail-chunked-cut") {
    // A chunked answer cut short by a reset.
    res.writeHead(200, { "content-type": "application/json" });
    res.write('{"user":');
    return setTimeout(() => req.socket.destroy(), 20);
  }
  if (token === "chunked-ok") {
    res.writeHead(200, { "content-type": "application/json" });
    res.write('{"user":"chunk');
    return setTimeout(() => res.end('y","claims":{"c":1}}'), 20);
  }
  return json(res, 401, {});
}

const service = http.createServer(answer);
let servicePort;

let main; // auth-static + auth-http (timeout 3200), --auth-timeout 1500
let down; // auth-http towards a port nobody listens on; auth-timeout from a config file
let quick; // auth-http: timeout=300, header=X-Token, cache=60; auth-timeout from the environment
const servers = () => [main, down, quick];
let configDir;

before(async () => {
  await new Promise((resolve) => service.listen(0, "127.0.0.1", resolve));
  servicePort = service.address().port;
  const deadPort = await closedPort();
  configDir = mkdtempSync(path.join(tmpdir(), "sb-auth-async-"));
  const configFile = path.join(configDir, "switchboard.conf");
  writeFileSync(configFile, "# the file key of --auth-timeout\nauth-timeout 1234\n");
  const url = `http://127.0.0.1:${servicePort}/check`;
  const args = ["--log-level", "debug"];
  [main, down, quick] = await Promise.all([
    startServer({
      scripts: DIR,
      plugins: [STATIC, `auth-http=url=${url},timeout=3200`],
      args: [...args, "--auth-timeout", String(AUTH_TIMEOUT)],
    }),
    startServer({
      scripts: DIR,
      plugins: [`auth-http=url=http://localhost:${deadPort}/check`],
      args: [...args, "--config", configFile],
    }),
    startServer({
      scripts: DIR,
      plugins: [`auth-http=url=${url.replace("127.0.0.1", "localhost")},timeout=300,header=X-Token,cache=60`],
      args,
      env: { SWITCHBOARD_AUTH_TIMEOUT: "4321" },
    }),
  ]);
});

after(async (t) => {
  for (const s of servers()) if (s) await stopClean(t, s);
  service.closeAllConnections();
  await new Promise((resolve) => service.close(resolve));
  rmSync(configDir, { recursive: true, force: true });
});

// ---- helpers ----

const sioUrl = (server, query = "") =>
  `${server.wsUrl}/socket.io/?EIO=4&transport=websocket${query}`;

async function whoami(server, opts, nsp = "/") {
  const s = await connected(sio(server, opts, nsp));
  try {
    return await s.timeout(5000).emitWithAck("whoami");
  } finally {
    s.close();
  }
}

async function connectError(server, opts, nsp = "/") {
  const s = sio(server, opts, nsp);
  try {
    const [err] = await once(s, "connect_error", 8000);
    return err;
  } finally {
    s.close();
  }
}

// A raw Engine.IO/Socket.IO connection past its open packet.
async function rawSio(server, query = "") {
  const ws = rawWs(sioUrl(server, query));
  await ws.opened();
  assert.match(await ws.next(), /^0\{"sid":/);
  return ws;
}

// Resolves with the next message, or null when none comes within `ms`.
const nextOrNull = (ws, ms) => ws.next(ms).catch(() => null);

const member = (name, nsp = "/") => ({
  user: name,
  claims: { role: "member", nsp, tags: ["a", "b"], n: 7 },
});

// ---- tests ----

test("the options: --auth-timeout, SWITCHBOARD_AUTH_TIMEOUT and the file key reach the plugin", async () => {
  // Every form is parsed and checked.
  const help = spawnSync(BIN, ["--help"], { encoding: "utf8" });
  assert.match(help.stdout, /--auth-timeout MS/);
  const flag = spawnSync(BIN, ["--auth-timeout", "5"], { encoding: "utf8" });
  assert.equal(flag.status, 2);
  assert.match(flag.stderr, /--auth-timeout: invalid value '5': expected an integer from 10 to 600000/);
  const env = spawnSync(BIN, [], {
    encoding: "utf8",
    env: { ...process.env, SWITCHBOARD_AUTH_TIMEOUT: "soon" },
  });
  assert.equal(env.status, 2);
  assert.match(env.stderr, /SWITCHBOARD_AUTH_TIMEOUT: invalid value 'soon'/);
  // The plugin learns the host's value (auth_timeout_ms(), ABI 1.2) and warns when its own
  // timeout is not under it.
  assert.match(main.log(), /\[auth-http\] timeout=3200 is not under the server's --auth-timeout 1500/);
  assert.match(down.log(), /\[auth-http\] asking http:\/\/localhost:\d+\/check \(timeout 3000 ms, the server waits 1234 ms, cache 0 s\)/);
  assert.match(down.log(), /timeout=3000 is not under the server's --auth-timeout 1234/);
  assert.match(quick.log(), /the server waits 4321 ms, cache 60 s/);
  assert.doesNotMatch(quick.log(), /is not under the server's/);
});

test("accepted: the service's user and claims reach Lua, on / and on /admin", async () => {
  const token = tok("good-alice");
  assert.deepEqual(await whoami(main, { auth: { token } }), member("alice"));
  assert.deepEqual(await whoami(main, { auth: { token } }, "/admin"), {
    ...member("alice", "/admin"),
    nsp: "/admin",
  });
  // The service got the token as a bearer token, with the namespace.
  const seen = requests.filter((r) => r.token === token);
  assert.equal(seen.length, 2);
  assert.deepEqual(
    seen.map((r) => [r.header, r.nsp]),
    [
      ["authorization", "/"],
      ["authorization", "/admin"],
    ],
  );
  // A numeric user id becomes its decimal text; no claims read as {}.
  assert.deepEqual(await whoami(main, { auth: { token: tok("number-user") } }), {
    user: "42",
    claims: {},
  });
  // A chunked answer split over two writes.
  assert.deepEqual(await whoami(main, { auth: { token: tok("chunked-ok") } }), {
    user: "chunky",
    claims: { c: 1 },
  });
});

test("refused: 401 gives the body's message, 403 without JSON gives 'not authorized'", async () => {
  assert.equal(
    (await connectError(main, { auth: { token: tok("deny-bob") } })).message,
    "account suspended",
  );
  assert.equal(
    (await connectError(main, { auth: { token: tok("forbid-plain") } })).message,
    "not authorized",
  );
});

test("the rest of a CONNECT auth object waits with its token: socket.auth has it once the answer came", async () => {
  const token = tok("slow-ok-vera");
  const s = sio(main, { auth: { token, role: "admin", n: 3 } });
  try {
    await connected(s);
    assert.deepEqual(await s.timeout(5000).emitWithAck("auth"), { role: "admin", n: 3 });
    assert.deepEqual(await s.timeout(5000).emitWithAck("whoami"), member("vera"));
    assert.equal(callsFor(token), 1);
  } finally {
    s.close();
  }
});

test("raw: while a CONNECT is pending, a second CONNECT and its events are ignored, other namespaces work", async () => {
  const token = tok("slow-ok-dora");
  const ws = await rawSio(main);
  try {
    const t0 = Date.now();
    ws.send(`40{"token":"${token}"}`);
    ws.send(`40{"token":"${token}"}`); // ignored: the first one is pending
    ws.send('421["whoami"]'); // ignored: "/" is not joined yet
    ws.send("40/admin,"); // another namespace, anonymous, answered at once
    const admin = await ws.next();
    assert.match(admin, /^40\/admin,\{"sid":"[^"]+"\}$/);
    assert.ok(Date.now() - t0 < SLOW_OK_MS, "the other namespace did not wait");
    assert.match(await ws.next(3000), /^40\{"sid":"[^"]+"\}$/);
    assert.ok(Date.now() - t0 >= SLOW_OK_MS - 50);
    // Exactly one CONNECT answer, and no answer to the ignored event.
    assert.equal(await nextOrNull(ws, 400), null);
    ws.send('422["whoami"]');
    assert.deepEqual(JSON.parse((await ws.next()).slice(3)), [member("dora")]);
    ws.send('42/admin,3["whoami"]');
    assert.deepEqual(JSON.parse((await ws.next()).slice("43/admin,3".length)), [
      { user: null, claims: {}, nsp: "/admin" },
    ]);
    assert.equal(callsFor(token), 1, "the second CONNECT did not ask the service again");
  } finally {
    ws.close();
  }
});

test("a service slower than --auth-timeout: CONNECT_ERROR 'authentication timed out', the late answer changes nothing", async () => {
  const token = tok("slow-erin");
  const ws = await rawSio(main);
  try {
    const t0 = Date.now();
    ws.send(`40{"token":"${token}"}`);
    const refusal = await ws.next(5000);
    const waited = Date.now() - t0;
    assert.equal(refusal, '44{"message":"authentication timed out"}');
    assert.ok(waited >= AUTH_TIMEOUT - 50 && waited < SLOW_MS, `refused after ${waited} ms`);
    // The service answers "accepted" later: nothing reaches the client, the namespace stays
    // unjoined, and the plugin is told the attempt had ended.
    await main.waitForLog(/\[auth-http\] the service answered after the authentication had ended \(timed out\): ignored/, 5000);
    assert.equal(await nextOrNull(ws, 300), null);
    ws.send('421["whoami"]');
    assert.equal(await nextOrNull(ws, 300), null, "the event is ignored: / is not joined");
    // The connection is still usable.
    ws.send("40");
    assert.match(await ws.next(), /^40\{"sid":/);
  } finally {
    ws.close();
  }
  // socket.io-client sees the same refusal.
  assert.equal(
    (await connectError(main, { auth: { token: tok("slow-frank") } })).message,
    "authentication timed out",
  );
});

test("a failing service: 500, garbage, no user, 404, reset, cut short -> 'authentication service unavailable' and a warning", async () => {
  const cases = [
    ["fail-500", /the service answered an unexpected status \(HTTP 500\)/],
    ["fail-garbage", /the 200 answer is not a JSON object \(HTTP 200\)/],
    ["fail-no-user", /the 200 answer has no "user"/],
    ["fail-404", /the service answered 404 \(check the url\) \(HTTP 404\)/],
    ["fail-reset", /the connection closed before a complete answer|reading the answer: connection reset/],
    ["fail-chunked-cut", /the connection closed before a complete answer|reading the answer: connection reset/],
  ];
  for (const [token, logged] of cases) {
    tok(token);
    const err = await connectError(main, { auth: { token } });
    assert.equal(err.message, "authentication service unavailable", token);
    await main.waitForLog(logged, 5000);
  }
  assert.match(main.log(), /warn  \[auth-http\] http:\/\/127\.0\.0\.1:\d+\/check: .*; refusing the token/);
});

test("a service that is not listening, and one slower than the plugin's timeout -> unavailable", async () => {
  const err = await connectError(down, { auth: { token: tok("good-gina") } });
  assert.equal(err.message, "authentication service unavailable");
  // The log line and the CONNECT_ERROR leave in the same loop turn, on two pipes: wait for it.
  await down.waitForLog(/cannot connect: connection refused; refusing the token/, 5000);
  // timeout=300 on `quick`: the plugin gives up before the server's 4321 ms (whose expiry would
  // answer "authentication timed out" instead) and before the service's 2300 ms answer.
  const t0 = Date.now();
  const slow = await connectError(quick, { auth: { token: tok("slow-hank") } });
  assert.equal(slow.message, "authentication service unavailable");
  assert.ok(Date.now() - t0 < SLOW_MS, `refused after ${Date.now() - t0} ms`);
  await quick.waitForLog(/no answer within 300 ms; refusing the token/, 5000);
});

// Reads everything a raw WebSocket gets until it closes: [messages, {code, reason}].
async function untilClosed(ws, ms = 5000) {
  const got = [];
  const end = Date.now() + ms;
  for (;;) {
    const m = await ws.next(Math.max(1, end - Date.now())).catch(() => null);
    if (m === null) break;
    got.push(m);
  }
  return [got, await ws.closed(Math.max(1, end - Date.now()))];
}

test("a token in the query: the upgrade goes through, a refusal closes with 4401", async () => {
  // Socket.IO: nothing until the answer; then the open packet, CONNECT_ERROR for "/" (so that
  // socket.io-client can tell why) and close 4401 with the message.
  const ws = rawWs(sioUrl(main, `&token=${tok("deny-ivan")}`));
  await ws.opened();
  const [got, closed] = await untilClosed(ws);
  assert.equal(got.length, 2, JSON.stringify(got));
  assert.match(got[0], /^0\{"sid":/);
  assert.equal(got[1], '44{"message":"account suspended"}');
  assert.deepEqual(closed, { code: 4401, reason: "account suspended" });
  // Plain JSON, through the Authorization header.
  const plain = rawWs(`${main.wsUrl}/`, {
    headers: { Authorization: `Bearer ${tok("deny-judy")}` },
  });
  await plain.opened();
  assert.deepEqual(await plain.closed(5000), { code: 4401, reason: "account suspended" });
  // The server's deadline on the handshake path: nothing at all before it.
  const t0 = Date.now();
  const slow = rawWs(sioUrl(main, `&token=${tok("slow-kate")}`));
  await slow.opened();
  const first = await slow.next(5000);
  assert.ok(Date.now() - t0 >= AUTH_TIMEOUT - 50, "the open packet waited for the deadline");
  assert.match(first, /^0\{"sid":/);
  const [rest, slowClosed] = await untilClosed(slow);
  assert.deepEqual(rest, ['44{"message":"authentication timed out"}']);
  assert.deepEqual(slowClosed, { code: 4401, reason: "authentication timed out" });
  // A service failure.
  const failed = rawWs(`${main.wsUrl}/?token=fail-500`);
  await failed.opened();
  assert.deepEqual(await failed.closed(5000), {
    code: 4401,
    reason: "authentication service unavailable",
  });
  // socket.io-client gets the reason at once, as with a token in the auth object.
  const t1 = Date.now();
  const err = await connectError(main, { query: { token: tok("deny-leo") } });
  assert.equal(err.message, "account suspended");
  assert.ok(Date.now() - t1 < 2000);
  // A synchronous refusal is still HTTP 401 before the upgrade (no auth plugin pended).
  const sync = rawWs(sioUrl(main, "&token=%01"));
  await assert.rejects(sync.opened(), (e) => e.status === 401);
  sync.terminate();
});

test("a token in the query accepted: the open packet comes after the answer, then CONNECT needs no token", async () => {
  const token = tok("slow-ok-mia");
  const t0 = Date.now();
  const ws = rawWs(sioUrl(main, `&token=${token}`));
  await ws.opened();
  assert.match(await ws.next(3000), /^0\{"sid":/);
  assert.ok(Date.now() - t0 >= SLOW_OK_MS - 50, "the open packet waited for the answer");
  ws.send("40");
  assert.match(await ws.next(), /^40\{"sid":/);
  ws.send('421["whoami"]');
  assert.deepEqual(JSON.parse((await ws.next()).slice(3)), [member("mia")]);
  ws.close();
  // socket.io-client, with the header.
  assert.deepEqual(
    await whoami(main, { extraHeaders: { Authorization: `Bearer ${tok("good-ned")}` } }),
    member("ned"),
  );
});

test("plain JSON: frames sent before the answer are handled after it, in order", async () => {
  const ws = rawWs(`${main.wsUrl}/?token=${tok("slow-ok-olga")}`);
  await ws.opened();
  // Sent at once: the server reads them only once the token is accepted.
  ws.send(JSON.stringify({ event: "whoami" }));
  ws.send(JSON.stringify({ event: "nope" }));
  assert.deepEqual(JSON.parse(await ws.next(3000)), member("olga"));
  assert.deepEqual(JSON.parse(await ws.next()), {
    event: "exception",
    data: { status: "error", message: "no handler for event 'nope'" },
  });
  ws.close();
});

test("100 concurrent authentications are all accepted", async () => {
  const names = Array.from({ length: 100 }, (_, i) => `p${i}`);
  const before = requests.length;
  const results = await Promise.all(
    names.map((n) => whoami(main, { auth: { token: tok(`slow-ok-${n}`) } })),
  );
  assert.deepEqual(results, names.map((n) => member(n)));
  assert.equal(requests.length - before, 100);
});

test("clients that leave while their authentication is pending: cancelled, no crash, the server keeps serving", async () => {
  const a = tok("slow-pat");
  const b = tok("slow-quinn");
  const c = tok("slow-rita");
  // A CONNECT with a token, then the connection closes.
  const ws1 = await rawSio(main);
  ws1.send(`40{"token":"${a}"}`);
  await sleep(50);
  ws1.terminate();
  // A token in the query, then the connection closes (reading is paused: noticed later).
  const ws2 = rawWs(sioUrl(main, `&token=${b}`));
  await ws2.opened();
  ws2.terminate();
  // A DISCONNECT while the CONNECT is pending: no answer at all, not even at the deadline.
  const ws3 = await rawSio(main);
  ws3.send(`40{"token":"${c}"}`);
  ws3.send("41");
  assert.equal(await nextOrNull(ws3, AUTH_TIMEOUT + 300), null);
  ws3.close();
  // The service answers them all later; the plugin learns the attempts had ended.
  const end = Date.now() + 5000;
  while (Date.now() < end && [a, b, c].some((t) => callsFor(t) === 0)) await sleep(50);
  await main.waitForLog(/the service answered after the authentication had ended \(client gone\)/, 5000);
  await sleep(SLOW_MS - AUTH_TIMEOUT + 300);
  assert.deepEqual(await whoami(main, { auth: { token: tok("good-sam") } }), member("sam"));
});

test("chained after auth-static: a static token never reaches the service, an unknown one does", async () => {
  assert.deepEqual(await whoami(main, { auth: { token: "static-token-carol" } }), {
    user: "carol",
    claims: {},
  });
  assert.deepEqual(await whoami(main, { query: { token: "static-token-carol" } }), {
    user: "carol",
    claims: {},
  });
  assert.equal(callsFor("static-token-carol"), 0);
  const token = tok("good-tess");
  assert.deepEqual(await whoami(main, { auth: { token } }), member("tess"));
  assert.equal(callsFor(token), 1);
});

test("header=X-Token and cache=60: a cached token is accepted without asking again", async () => {
  const token = tok("good-uma");
  assert.deepEqual(await whoami(quick, { auth: { token } }), member("uma"));
  assert.deepEqual(await whoami(quick, { auth: { token } }), member("uma"));
  assert.deepEqual(await whoami(quick, { query: { token } }), member("uma"));
  assert.equal(callsFor(token), 1);
  assert.deepEqual(
    requests.filter((r) => r.token === token).map((r) => r.header),
    ["x-token"],
  );
  // The cache is per namespace: /admin asks once.
  assert.deepEqual(await whoami(quick, { auth: { token } }, "/admin"), {
    ...member("uma", "/admin"),
    nsp: "/admin",
  });
  assert.equal(callsFor(token), 2);
  // Refusals are not cached.
  const denied = tok("deny-vera");
  for (let i = 0; i < 2; i++)
    assert.equal((await connectError(quick, { auth: { token: denied } })).message, "account suspended");
  assert.equal(callsFor(denied), 2);
});

test("no token ever appears in a server log (debug level)", () => {
  assert.ok(usedTokens.size > 30);
  for (const server of servers()) {
    const log = server.log();
    assert.ok(log.includes("debug"), "the server logged at debug level");
    for (const token of usedTokens)
      assert.equal(log.includes(token), false, `a server log contains the token ${token}`);
  }
});
