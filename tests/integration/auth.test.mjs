// Authentication with the auth-static and auth-jwt plugins (gateway:
// tests/integration/gateways/auth/whoami.lua echoes socket.user and socket.claims): where a
// token may travel, how a bad one is refused on each path, that both plugins work side by side,
// that --require-auth refuses anonymous sockets, and that no token ever reaches the log.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import path from "node:path";
import { after, before, test } from "node:test";
import { GATEWAYS, connected, once, rawWs, sio, startServer, stopClean } from "./helpers.mjs";

const DIR = path.join(GATEWAYS, "auth");
const STATIC = `auth-static=${path.join(DIR, "tokens.txt")}`; // alice-token alice, bob-token bob
const SECRET = "integration-test-secret-0123456789-abcdefghij";
const JWT = `auth-jwt=secret=${SECRET}`;

// Every token a test sends, to check the logs afterwards.
const usedTokens = new Set(["alice-token", "bob-token", SECRET]);

const b64url = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

function sign(payload, { header = { alg: "HS256", typ: "JWT" }, secret = SECRET } = {}) {
  const input = `${b64url(header)}.${b64url(payload)}`;
  const sig = createHmac("sha256", secret).update(input).digest("base64url");
  const token = `${input}.${sig}`;
  usedTokens.add(token);
  return token;
}

const now = () => Math.floor(Date.now() / 1000);

let staticOnly; // auth-static
let jwtOnly; // auth-jwt
let both; // auth-static + auth-jwt
let required; // auth-static + --require-auth
const servers = () => [staticOnly, jwtOnly, both, required];

before(async () => {
  // Debug logging: the most the server ever writes, so the token check below is strongest.
  const args = ["--log-level", "debug"];
  [staticOnly, jwtOnly, both, required] = await Promise.all([
    startServer({ scripts: DIR, plugins: [STATIC], args }),
    startServer({ scripts: DIR, plugins: [JWT], args }),
    startServer({ scripts: DIR, plugins: [STATIC, JWT], args }),
    startServer({ scripts: DIR, plugins: [STATIC], args: [...args, "--require-auth"] }),
  ]);
});
after(async (t) => {
  for (const s of servers()) await stopClean(t, s);
});

async function whoami(server, opts) {
  const s = await connected(sio(server, opts));
  try {
    return await s.timeout(5000).emitWithAck("whoami");
  } finally {
    s.close();
  }
}

async function connectError(server, opts, nsp = "/") {
  const s = sio(server, opts, nsp);
  try {
    const [err] = await once(s, "connect_error");
    return err;
  } finally {
    s.close();
  }
}

// Resolves with the HTTP status (and JSON body) of a refused WebSocket upgrade.
function refusedUpgrade(url, opts = {}) {
  const ws = rawWs(url, opts);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no response")), 5000);
    ws.once("unexpected-response", (req, res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => {
        clearTimeout(timer);
        ws.terminate();
        resolve({ status: res.statusCode, body: body ? JSON.parse(body) : null });
      });
    });
    ws.once("open", () => {
      clearTimeout(timer);
      ws.close();
      reject(new Error("the upgrade was accepted"));
    });
  });
}

const sioUrl = (server, query = "") =>
  `${server.wsUrl}/socket.io/?EIO=4&transport=websocket${query}`;

test("auth-static: a token in the CONNECT auth object, the query, the Authorization header", async () => {
  assert.deepEqual(await whoami(staticOnly, { auth: { token: "alice-token" } }), {
    user: "alice",
    claims: {},
  });
  assert.deepEqual(await whoami(staticOnly, { query: { token: "bob-token" } }), {
    user: "bob",
    claims: {},
  });
  assert.deepEqual(
    await whoami(staticOnly, { extraHeaders: { Authorization: "Bearer alice-token" } }),
    { user: "alice", claims: {} },
  );
  // The auth object's token wins over the handshake's.
  assert.deepEqual(
    await whoami(staticOnly, { query: { token: "bob-token" }, auth: { token: "alice-token" } }),
    { user: "alice", claims: {} },
  );
  // No token: anonymous.
  assert.deepEqual(await whoami(staticOnly, {}), { user: null, claims: {} });
});

test("an unknown token in the auth object -> connect_error with a message", async () => {
  usedTokens.add("no-such-token");
  const err = await connectError(staticOnly, { auth: { token: "no-such-token" } });
  assert.equal(err.message, "invalid token");
});

test("raw: 40{token:bad} -> 44{message}, then 40 on the same connection -> 40{sid}", async () => {
  usedTokens.add("bad-raw-token");
  const ws = rawWs(sioUrl(staticOnly));
  try {
    await ws.opened();
    assert.match(await ws.next(), /^0\{"sid":/);
    ws.send('40{"token":"bad-raw-token"}');
    const refusal = await ws.next();
    assert.ok(refusal.startsWith("44{"), refusal);
    assert.deepEqual(JSON.parse(refusal.slice(2)), { message: "invalid token" });
    ws.send("40");
    assert.match(await ws.next(), /^40\{"sid":"[^"]+"\}$/);
    ws.send('421["whoami"]');
    assert.deepEqual(JSON.parse((await ws.next()).slice(3)), [{ user: null, claims: {} }]);
    // A token of the wrong type is refused too.
    ws.send('40/x,{"token":5}');
    ws.send('42/x,["whoami"]');
    assert.match(await ws.next(), /^44\/x,\{"message":/);
  } finally {
    ws.close();
  }
});

test("an unknown token in the query or header -> HTTP 401 before the upgrade", async () => {
  usedTokens.add("bad-query-token");
  usedTokens.add("bad-header-token");
  assert.deepEqual(await refusedUpgrade(sioUrl(staticOnly, "&token=bad-query-token")), {
    status: 401,
    body: { message: "invalid token" },
  });
  assert.deepEqual(
    await refusedUpgrade(sioUrl(staticOnly), {
      headers: { Authorization: "Bearer bad-header-token" },
    }),
    { status: 401, body: { message: "invalid token" } },
  );
  // socket.io-client sees a failed transport, not a Socket.IO refusal.
  const err = await connectError(staticOnly, { query: { token: "bad-query-token" } });
  assert.ok(err instanceof Error);
});

test("auth-jwt: a valid HS256 token is accepted and its claims reach Lua", async () => {
  const claims = { sub: "user-42", exp: now() + 600, role: "admin", tags: ["a", "b"], n: 7 };
  const token = sign(claims);
  assert.deepEqual(await whoami(jwtOnly, { auth: { token } }), { user: "user-42", claims });
  assert.deepEqual(await whoami(jwtOnly, { query: { token } }), { user: "user-42", claims });
  assert.deepEqual(await whoami(jwtOnly, { extraHeaders: { Authorization: `Bearer ${token}` } }), {
    user: "user-42",
    claims,
  });
  // A numeric sub becomes its decimal text.
  const numeric = sign({ sub: 1234, exp: now() + 600 });
  assert.equal((await whoami(jwtOnly, { auth: { token: numeric } })).user, "1234");
});

test("auth-jwt: expired, alg none and bad signature are refused with their messages", async () => {
  const expired = sign({ sub: "u", exp: now() - 3600 });
  const none = `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ sub: "u", exp: now() + 600 })}.`;
  usedTokens.add(none);
  const forged = sign({ sub: "u", exp: now() + 600 }, { secret: "another-secret-of-32-characters-or-more!!" });
  const good = sign({ sub: "u", exp: now() + 600 });
  const tampered = good.replace(/\.([^.]+)\./, `.${b64url({ sub: "admin", exp: now() + 600 })}.`);
  usedTokens.add(tampered);
  const notYet = sign({ sub: "u", nbf: now() + 3600 });
  const noSub = sign({ exp: now() + 600 });

  const cases = [
    [expired, "token expired"],
    [none, "algorithm not allowed"],
    [forged, "bad signature"],
    [tampered, "bad signature"],
    [notYet, "token not yet valid"],
    [noSub, "missing sub claim"],
  ];
  for (const [token, message] of cases) {
    const err = await connectError(jwtOnly, { auth: { token } });
    assert.equal(err.message, message, `auth object, expecting ${message}`);
    assert.deepEqual(await refusedUpgrade(sioUrl(jwtOnly, `&token=${token}`)), {
      status: 401,
      body: { message },
    });
  }
  // A token that is not a JWT at all is declined by auth-jwt: no plugin knows it.
  usedTokens.add("opaque");
  assert.equal((await connectError(jwtOnly, { auth: { token: "opaque" } })).message, "invalid token");
});

test("auth-static + auth-jwt: each kind of token works", async () => {
  const token = sign({ sub: "jwt-user", exp: now() + 600, x: 1 });
  assert.deepEqual(await whoami(both, { auth: { token: "alice-token" } }), {
    user: "alice",
    claims: {},
  });
  assert.deepEqual(await whoami(both, { auth: { token } }), {
    user: "jwt-user",
    claims: { sub: "jwt-user", exp: JSON.parse(Buffer.from(token.split(".")[1], "base64url")).exp, x: 1 },
  });
  assert.deepEqual(await whoami(both, { query: { token: "bob-token" } }), { user: "bob", claims: {} });
  assert.equal(
    (await connectError(both, { auth: { token: sign({ sub: "u", exp: now() - 3600 }) } })).message,
    "token expired",
  );
  usedTokens.add("neither");
  assert.equal((await connectError(both, { auth: { token: "neither" } })).message, "invalid token");
});

test("--require-auth: anonymous Socket.IO sockets get 'authentication required'", async () => {
  const err = await connectError(required, {});
  assert.equal(err.message, "authentication required");
  assert.deepEqual(await whoami(required, { auth: { token: "alice-token" } }), {
    user: "alice",
    claims: {},
  });
  assert.deepEqual(await whoami(required, { query: { token: "bob-token" } }), {
    user: "bob",
    claims: {},
  });

  // Raw: the refusal leaves the connection open for a CONNECT with a token.
  const ws = rawWs(sioUrl(required));
  try {
    await ws.opened();
    await ws.next();
    ws.send("40");
    assert.deepEqual(JSON.parse((await ws.next()).slice(2)), { message: "authentication required" });
    ws.send('40{"token":"alice-token"}');
    assert.match(await ws.next(), /^40\{"sid":/);
  } finally {
    ws.close();
  }
});

test("--require-auth: an anonymous plain JSON client gets HTTP 401", async () => {
  assert.deepEqual(await refusedUpgrade(`${required.wsUrl}/`), {
    status: 401,
    body: { message: "authentication required" },
  });
  const ws = rawWs(`${required.wsUrl}/?token=alice-token`);
  try {
    await ws.opened();
    ws.send(JSON.stringify({ event: "whoami" }));
    assert.deepEqual(JSON.parse(await ws.next()), { user: "alice", claims: {} });
  } finally {
    ws.close();
  }
});

test("no token and no secret ever appears in a server log", () => {
  assert.ok(usedTokens.size > 15);
  for (const server of servers()) {
    const log = server.log();
    assert.ok(log.length > 0);
    for (const token of usedTokens) {
      assert.equal(log.includes(token), false, `the log of a server contains a token: ${token}`);
    }
  }
});
