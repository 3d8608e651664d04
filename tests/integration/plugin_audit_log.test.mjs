// The audit-log plugin loaded by a real server and driven by real clients
// (tests/integration/gateways/plugin_audit_log/): one JSON line per event in a file, with the
// socket's user and never its token; data=true, replies=true and events=; stderr and a global
// interceptor that logs events without a handler; CONFIG errors refusing the start.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  GATEWAYS,
  connected,
  freePort,
  once,
  sio,
  sleep,
  startServer,
  stopClean,
} from "./helpers.mjs";
import { runBinary } from "./wire.mjs";

const DIR = path.join(GATEWAYS, "plugin_audit_log");
const LOGGED = path.join(DIR, "logged"); // interceptors = { "audit-log" }
const OPEN = path.join(DIR, "open"); // no interceptors
const TOKEN = "alice-AUDIT-TOKEN-5f2c9e81d7"; // user alice
const STATIC = `auth-static=${path.join(DIR, "tokens.txt")}`;
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

let tmp;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sb-audit-"));
});
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function withServer(opts, fn) {
  const server = await startServer(opts);
  const open = [];
  const client = async (sioOpts = {}) => {
    const s = sio(server, sioOpts);
    open.push(s);
    return connected(s);
  };
  try {
    await fn(server, client);
  } finally {
    for (const s of open) s.close();
    await stopClean(null, server);
  }
}

// Every line of the file, each parsed as JSON (a line that is not JSON fails the test).
function lines(file) {
  const text = fs.readFileSync(file, "utf8");
  assert.ok(text === "" || text.endsWith("\n"), "the last line is complete");
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

test("file=: one JSON line per event, with the user and never the token", async () => {
  const file = path.join(tmp, "audit.log");
  fs.writeFileSync(file, '{"previous":"line"}\n', { mode: 0o600 });
  const started = Date.now();
  await withServer(
    { scripts: LOGGED, plugins: [STATIC, `audit-log=file=${file}`] },
    async (server, client) => {
      const alice = await client({ auth: { token: TOKEN } });
      const byQuery = await client({ query: { token: TOKEN } });
      const anon = await client();
      const echoed = once(alice, "echoed");
      alice.emit("echo", { card: "4111-1111-1111-1111" });
      assert.deepEqual(await echoed, [{ card: "4111-1111-1111-1111" }]);
      assert.equal(await byQuery.timeout(5000).emitWithAck("other"), "done");
      assert.equal(await anon.timeout(5000).emitWithAck("other"), "done");

      const all = lines(file);
      assert.deepEqual(all[0], { previous: "line" }, "the file is appended to");
      const got = all.slice(1);
      assert.equal(got.length, 3);
      for (const l of got) {
        assert.match(l.ts, ISO_MS);
        const t = Date.parse(l.ts);
        assert.ok(t >= started - 1000 && t <= Date.now() + 1000, l.ts);
        assert.equal(l.type, "event");
        assert.equal(l.gateway, "main");
        assert.equal(l.nsp, "/");
        assert.ok(!("args" in l), "no arguments unless data=true");
      }
      assert.deepEqual(
        got.map((l) => [l.socket, l.user, l.event]),
        [
          [alice.id, "alice", "echo"],
          [byQuery.id, "alice", "other"],
          [anon.id, null, "other"],
        ],
      );
      const KEYS = ["ts", "type", "gateway", "nsp", "socket", "user", "event"];
      assert.deepEqual(Object.keys(got[0]), KEYS, "the keys, in order");
    },
  );
  const text = fs.readFileSync(file, "utf8");
  assert.ok(!text.includes(TOKEN), "the token is never logged");
  assert.ok(!text.includes("4111"), "the arguments are not logged by default");
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
});

test("data=true, replies=true, events=: arguments, replies, and a filter", async () => {
  const file = path.join(tmp, "data.log");
  await withServer(
    {
      scripts: LOGGED,
      plugins: [STATIC, `audit-log=file=${file},data=true,replies=true,events=echo|mul*`],
    },
    async (server, client) => {
      const alice = await client({ auth: { token: TOKEN } });
      const payload = { text: 'quote " backslash \\ newline \n tab \t é 😀', n: [1, null] };
      const echoed = once(alice, "echoed");
      alice.emit("echo", payload, 2);
      await echoed;
      assert.equal(await alice.timeout(5000).emitWithAck("other"), "done"); // filtered out
      const second = once(alice, "second");
      alice.emit("multi", 7);
      await second;

      const got = lines(file);
      assert.deepEqual(
        got.map((l) => [l.type, l.event, l.reply, l.args]),
        [
          ["event", "echo", undefined, [payload, 2]],
          ["reply", "echo", "echoed", [payload]],
          ["event", "multi", undefined, [7]],
          ["reply", "multi", "first", [7]],
          ["reply", "multi", "second", [7]],
        ],
      );
      for (const l of got) assert.equal(l.user, "alice");
    },
  );
  assert.ok(!fs.readFileSync(file, "utf8").includes(TOKEN));
});

test("stderr, --interceptor: events without a handler are logged, odd names escaped", async () => {
  const name = 'we"ird\nname\\</script>';
  await withServer(
    { scripts: OPEN, plugins: [STATIC, "audit-log"], args: ["--interceptor", "audit-log"] },
    async (server, client) => {
      const alice = await client({ auth: { token: TOKEN } });
      const error = once(alice, "exception");
      alice.emit(name, "x");
      assert.match((await error)[0].message, /no handler for event/);
      assert.equal(await alice.timeout(5000).emitWithAck("hello"), "hi");

      // The audit lines are the JSON objects among the server's log lines.
      const end = Date.now() + 5000;
      let got = [];
      while (got.length < 2 && Date.now() < end) {
        got = server
          .log()
          .split("\n")
          .filter((l) => l.startsWith("{"))
          .map((l) => JSON.parse(l));
        if (got.length < 2) await sleep(10);
      }
      assert.deepEqual(
        got.map((l) => [l.gateway, l.event, l.user, l.socket]),
        [
          [null, name, "alice", alice.id],
          ["plain", "hello", "alice", alice.id],
        ],
      );
      assert.ok(!server.log().includes(TOKEN));
    },
  );
});

test("a bad CONFIG stops the start with a one-line reason", async () => {
  const cases = [
    [
      `audit-log=file=${path.join(tmp, "no/such/dir/audit.log")}`,
      /no\/such\/dir\/audit\.log: cannot open/,
    ],
    ["audit-log=format=csv", /audit-log: unknown key "format"/],
    ["audit-log=data=yes", /audit-log: "data" wants one of false, true, got "yes"/],
    [`audit-log=stderr,file=${path.join(tmp, "x.log")}`, /give file= or stderr, not both/],
  ];
  for (const [plugin, re] of cases) {
    const r = await runBinary([
      "--listen", `127.0.0.1:${await freePort()}`,
      "--scripts", LOGGED,
      "--plugin", plugin,
    ]);
    assert.equal(r.signal, null, `the server started with ${plugin}`);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, re);
  }
});
