// Tokens never reach the log: with auth-static at --log-level debug, clients present valid and
// invalid tokens in the query, the Authorization header and the Socket.IO auth object, on both
// protocols; then no token (nor a distinctive piece of one) may appear in the server's output.
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";

import {
  DEMO_PLUGINS,
  GATEWAYS,
  connected,
  once,
  rawWs,
  sio,
  startServer,
} from "./helpers.mjs";

const SCRIPTS = path.join(GATEWAYS, "logs");
const SIO_PATH = "/socket.io/?EIO=4&transport=websocket";

// Valid tokens are the demo's (examples/demo/tokens.txt); invalid ones are unique strings.
const VALID = ["alice-token", "bob-token"];
const INVALID = {
  sioQuery: "inv-sioquery-7f3a9c41",
  sioHeader: "inv-sioheader-c0ffee77",
  sioAuth: "inv-sioauth-52e1bb09",
  sioAuthNs: "inv-sioauthns-a9d3e6f1",
  jsonQuery: "inv-jsonquery-1d2e3f4a",
  jsonHeader: "inv-jsonheader-9a8b7c6d",
  // Characters that need percent-encoding: a redaction that splits the decoded query on "&"
  // or "=" would print the part after them.
  encoded: "inv-enc&tail-QX81ZZ=end-PP27",
  spaced: "inv spaced tok-77AA",
};
// Distinctive pieces that must not appear either.
const PIECES = ["tail-QX81ZZ", "end-PP27", "tok-77AA"];

test("no token appears in the log at --log-level debug", async () => {
  const server = await startServer({
    scripts: SCRIPTS,
    plugins: DEMO_PLUGINS,
    args: ["--log-level", "debug"],
  });
  const sockets = [];
  try {
    // Valid tokens, every channel; whoami proves each was used.
    const byQuery = await connected(sio(server, { query: { token: "alice-token" } }));
    const byAuth = await connected(sio(server, { auth: { token: "bob-token" } }));
    const byHeader = await connected(
      sio(server, { extraHeaders: { Authorization: "Bearer alice-token" } }),
    );
    sockets.push(byQuery, byAuth, byHeader);
    assert.equal(await byQuery.timeout(5000).emitWithAck("whoami"), "alice");
    assert.equal(await byAuth.timeout(5000).emitWithAck("whoami"), "bob");
    assert.equal(await byHeader.timeout(5000).emitWithAck("whoami"), "alice");

    // The auth object of a namespace other than "/" (CONNECT to an unknown namespace still
    // carries the token).
    const ns = sio(server, { auth: { token: INVALID.sioAuthNs } }, "/elsewhere");
    sockets.push(ns);
    await assert.rejects(connected(ns));

    // Invalid tokens on Socket.IO: refused at the upgrade (query, header) or at CONNECT (auth).
    for (const opts of [
      { query: { token: INVALID.sioQuery } },
      { extraHeaders: { Authorization: `Bearer ${INVALID.sioHeader}` } },
      { auth: { token: INVALID.sioAuth } },
      { query: { token: INVALID.encoded } },
      { auth: { token: INVALID.spaced } },
    ]) {
      const s = sio(server, opts);
      sockets.push(s);
      await assert.rejects(connected(s), undefined, JSON.stringify(opts));
    }

    // Plain JSON: valid and invalid, query and header.
    const jsonOk = rawWs(`${server.wsUrl}/plain?token=bob-token`);
    await jsonOk.opened();
    jsonOk.send(JSON.stringify({ event: "whoami" }));
    assert.deepEqual(JSON.parse(await jsonOk.next()), { event: "whoami", data: "bob" });
    jsonOk.close();
    const jsonHeaderOk = rawWs(`${server.wsUrl}/plain`, {
      headers: { Authorization: "Bearer alice-token" },
    });
    await jsonHeaderOk.opened();
    jsonHeaderOk.close();
    for (const [url, headers] of [
      [`${server.wsUrl}/plain?token=${INVALID.jsonQuery}`, {}],
      [`${server.wsUrl}/plain`, { Authorization: `Bearer ${INVALID.jsonHeader}` }],
      [`${server.wsUrl}/plain?x=1&token=${encodeURIComponent(INVALID.encoded)}&y=2`, {}],
      [`${server.wsUrl}${SIO_PATH}&token=${encodeURIComponent(INVALID.spaced)}`, {}],
    ]) {
      const ws = rawWs(url, { headers });
      const err = await ws.opened().then(
        () => null,
        (e) => e,
      );
      assert.equal(err?.status, 401, `${url} was not refused with 401`);
      ws.terminate();
    }
  } finally {
    for (const s of sockets) s.close();
    const { code, signal } = await server.stop();
    assert.equal(code, 0, `exit ${code ?? signal}`);
  }

  const log = server.log();
  assert.match(log, / debug /, "the server did not log at debug level");
  const leaked = [...VALID, ...Object.values(INVALID), ...PIECES].filter((t) => log.includes(t));
  const lines = log.split("\n").filter((l) => leaked.some((t) => l.includes(t)));
  assert.deepEqual(leaked, [], `tokens in the log:\n${lines.join("\n")}`);
});

test("a refused token's log line says why without the token", async () => {
  const server = await startServer({ scripts: SCRIPTS, plugins: DEMO_PLUGINS });
  const s = sio(server, { auth: { token: "inv-reason-3e4f5a6b" } });
  const [err] = await once(s, "connect_error");
  s.close();
  const { code } = await server.stop();
  assert.equal(code, 0);
  assert.ok(err.message, "the client got a reason");
  assert.match(server.log(), /refused/);
  assert.ok(!server.log().includes("inv-reason-3e4f5a6b"));
});

test("--log-format json: one object a line; a handler's error names its socket, user and namespace; a refusal its reason", async () => {
  const server = await startServer({
    scripts: SCRIPTS,
    plugins: DEMO_PLUGINS,
    args: ["--log-format", "json"],
  });
  const sockets = [];
  try {
    const alice = await connected(sio(server, { auth: { token: "alice-token" } }));
    sockets.push(alice);
    const exception = once(alice, "exception");
    alice.emit("boom");
    await exception;
    const refused = sio(server, { auth: { token: INVALID.sioAuth } });
    sockets.push(refused);
    await once(refused, "connect_error");
    await server.waitForLog(/kaboom in a handler/);
    await server.waitForLog(/CONNECT to \/ refused/);

    const lines = server.log().split("\n").filter((l) => l.trim());
    const records = lines.map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        assert.fail(`not a JSON line: ${l}`);
      }
    });
    for (const r of records) {
      assert.match(r.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(["error", "warn", "info", "debug"].includes(r.level), JSON.stringify(r));
      assert.equal(typeof r.subsystem, "string");
      assert.equal(typeof r.message, "string");
    }
    const boom = records.find((r) => /kaboom in a handler/.test(r.message));
    assert.deepEqual(
      [boom.level, boom.subsystem, boom.socket, boom.user, boom.namespace],
      ["error", "lua", alice.id, "alice", "/"],
    );
    const refusal = records.find((r) => /CONNECT to \/ refused/.test(r.message));
    assert.equal(refusal.reason, "invalid token");
    // A line written for no socket names none.
    const start = records.find((r) => /starting/.test(r.message));
    assert.equal(start.socket, undefined);
    const all = server.log();
    for (const t of [...VALID, INVALID.sioAuth]) assert.ok(!all.includes(t), `${t} in the log`);
  } finally {
    for (const s of sockets) s.close();
    await server.stop();
  }
});
