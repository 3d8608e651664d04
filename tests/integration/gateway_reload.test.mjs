// Hot reload of the scripts directory (tests/integration/gateways/gateway_reload/, copied to a
// fresh temporary directory where the test edits the copies): edits under continuous traffic
// from 100 clients without a lost reply or a disconnect, a file that fails to load keeping the
// previous version (and /metrics saying so), added and removed gateways, lib modules reloading
// their users only, SIGHUP, and bytecode refused at start, on reload and as a module.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  GATEWAYS,
  SANITIZED,
  connected,
  freePort,
  metric,
  once,
  rawWs,
  sio,
  sleep,
  startServer,
  stopClean,
} from "./helpers.mjs";
import { runBinary } from "./wire.mjs";

const FIXTURES = path.join(GATEWAYS, "gateway_reload");
const SLOW = SANITIZED ? 3 : 1;
const SETTLE = 5000 * SLOW; // bound for a reload to show
const ack = (s, event, ...args) => s.timeout(5000 * SLOW).emitWithAck(event, ...args);

// Waits until the server's log from offset `from` matches `re` (log lines come through a pipe,
// possibly after the client already got its answer).
async function logMatch(server, from, re, msg) {
  const end = Date.now() + 3000 * SLOW;
  while (!re.test(server.log().slice(from)) && Date.now() < end) await sleep(10);
  assert.match(server.log().slice(from), re, msg);
}

// A fresh copy of the fixture scripts in a temporary directory.
function tempScripts() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-gw-reload-"));
  fs.cpSync(path.join(FIXTURES, "scripts"), dir, { recursive: true });
  return dir;
}

const VERSION_SRC = fs.readFileSync(path.join(FIXTURES, "scripts/version.lua"), "utf8");
assert.match(VERSION_SRC, /^local VERSION = 1$/m);
const versionSource = (v) => VERSION_SRC.replace(/^local VERSION = 1$/m, `local VERSION = ${v}`);

// Saves a file the way editors do: in place, or a temporary file renamed over it.
function save(file, text, how = "in place") {
  if (how === "in place") {
    fs.writeFileSync(file, text);
  } else {
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.swp`);
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  }
}

async function waitMetric(server, name, want, ms = SETTLE) {
  const end = Date.now() + ms;
  let v;
  while ((v = await metric(server, name)) !== want && Date.now() < end) await sleep(15);
  assert.equal(v, want, `${name} is ${v}, not ${want}\n${server.log().slice(-3000)}`);
}

// Polls `fn` (async) until it returns `want` (deepEqual), or fails after `ms`.
async function waitValue(fn, want, what, ms = SETTLE) {
  const end = Date.now() + ms;
  let got;
  for (;;) {
    got = await fn();
    try {
      assert.deepEqual(got, want);
      return;
    } catch {}
    if (Date.now() > end) assert.fail(`${what}: still ${JSON.stringify(got)}, not ${JSON.stringify(want)}`);
    await sleep(15);
  }
}

// The ack of `event`, or {exception: message} when the server answers with an exception.
function answer(s, event, ...args) {
  return new Promise((resolve, reject) => {
    const onExc = (e) => resolve({ exception: e.message });
    s.once("exception", onExc);
    s.timeout(5000 * SLOW)
      .emitWithAck(event, ...args)
      .then((v) => {
        s.off("exception", onExc);
        resolve(v);
      }, reject);
  });
}

const up = (server, gw) => metric(server, `switchboard_gateway_up{gateway="${gw}"}`);
const loads = (server, gw, result) =>
  metric(server, `switchboard_gateway_loads_total{gateway="${gw}",result="${result}"}`);
async function metricsText(server) {
  return (await fetch(`${server.url}/metrics`)).text();
}

const open = [];
async function client(server, opts = {}, nsp = "/") {
  const s = sio(server, opts, nsp);
  open.push(s);
  return connected(s);
}
function closeAll() {
  for (const s of open.splice(0)) s.close();
}

describe("reload under continuous traffic", () => {
  let server, dir;
  before(async () => {
    dir = tempScripts();
    server = await startServer({ scripts: dir });
  });
  after(async (t) => {
    closeAll();
    try {
      await stopClean(t, server);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("100 clients, 50 edits: no disconnect, no lost reply, each new version visible", async () => {
    const N_SIO = 80;
    const N_WS = 20;
    const EDITS = 50;
    const ACK_MS = 5000 * SLOW;
    const PAUSE = SANITIZED ? 15 : 4; // between two requests of one client
    const file = path.join(dir, "version.lua");
    const t0 = Date.now();

    const sockets = await Promise.all(Array.from({ length: N_SIO }, () => client(server)));
    const plain = [];
    for (let i = 0; i < N_WS; i++) {
      const ws = rawWs(`${server.wsUrl}/`);
      open.push(ws);
      plain.push(ws);
    }
    await Promise.all(plain.map((ws) => ws.opened()));
    const disconnects = [];
    sockets.forEach((s, i) => s.on("disconnect", (r) => disconnects.push(`socket.io #${i}: ${r}`)));
    plain.forEach((ws, i) => ws.on("close", (c) => disconnects.push(`json #${i}: close ${c}`)));

    let maxSeen = 1; // the highest version any client has seen so far
    let stopping = false;
    const problems = [];
    let sent = 0;
    let answered = 0;
    const perClient = [];
    // One client's loop: ask, check the answer, again. Every request it sends after some client
    // saw version k must be answered by version k or later.
    async function loop(name, ask) {
      let seq = 0;
      let last = 0;
      let count = 0;
      while (!stopping) {
        const floor = maxSeen;
        const my = ++seq;
        sent++;
        let r;
        try {
          r = await ask(my);
        } catch (e) {
          problems.push(`${name} request ${my}: ${e.message}`);
          break;
        }
        answered++;
        count++;
        if (r?.seq !== my) problems.push(`${name} request ${my}: answer ${JSON.stringify(r)}`);
        else if (r.v < floor) problems.push(`${name} request ${my}: version ${r.v} after ${floor} was seen`);
        else if (r.v < last) problems.push(`${name} request ${my}: version ${r.v} after ${last}`);
        last = r?.v ?? last;
        if (r?.v > maxSeen) maxSeen = r.v;
        await sleep(PAUSE);
      }
      perClient.push(count);
    }
    const loops = [
      ...sockets.map((s, i) => loop(`socket.io #${i}`, (seq) => s.timeout(ACK_MS).emitWithAck("v", seq))),
      ...plain.map((ws, i) =>
        loop(`json #${i}`, async (seq) => {
          ws.send(JSON.stringify({ event: "v", data: seq }));
          return JSON.parse(await ws.next(ACK_MS));
        }),
      ),
    ];

    const reloadMs = [];
    try {
      await sleep(100);
      for (let v = 2; v <= EDITS + 1; v++) {
        const e0 = Date.now();
        save(file, versionSource(v), v % 2 ? "rename" : "in place");
        while (maxSeen < v && !problems.length) {
          if (Date.now() - e0 > SETTLE) assert.fail(`edit ${v - 1}: version ${v} never answered`);
          await sleep(2);
        }
        assert.deepEqual(problems, []);
        reloadMs.push(Date.now() - e0);
      }
      // A little more traffic on the last version.
      await sleep(100);
    } finally {
      stopping = true;
      await Promise.all(loops);
    }

    assert.deepEqual(problems, []);
    assert.deepEqual(disconnects, [], "no client was disconnected");
    assert.equal(answered, sent, "every request was answered");
    assert.equal(perClient.length, N_SIO + N_WS);
    assert.ok(Math.min(...perClient) >= EDITS / 5, `a client got only ${Math.min(...perClient)} answers`);
    assert.equal(maxSeen, EDITS + 1);
    // Every client is on the last version now.
    for (const s of sockets) assert.deepEqual(await ack(s, "v", "last"), { v: EDITS + 1, seq: "last" });
    for (const ws of plain) {
      ws.send(JSON.stringify({ event: "v", data: "last" }));
      assert.deepEqual(JSON.parse(await ws.next()), { v: EDITS + 1, seq: "last" });
    }
    assert.equal(await loads(server, "version", "ok"), EDITS + 1);
    assert.equal(await loads(server, "version", "error"), 0);
    assert.equal(await up(server, "version"), 1);
    const total = Date.now() - t0;
    const avg = Math.round(reloadMs.reduce((a, b) => a + b, 0) / reloadMs.length);
    console.log(
      `# ${sent} requests, ${EDITS} edits in ${total} ms; edit to new version: avg ${avg} ms, max ${Math.max(...reloadMs)} ms`,
    );
    assert.ok(total < 20000 * SLOW, `took ${total} ms`);
    closeAll();
  });
});

describe("a file that fails to load keeps the previous version serving", () => {
  let server, dir, file;
  before(async () => {
    dir = tempScripts();
    file = path.join(dir, "version.lua");
    server = await startServer({ scripts: dir });
  });
  after(async (t) => {
    closeAll();
    try {
      await stopClean(t, server);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a syntax error: the log names file:line, gateway_up 0 then 1 after a fix, error count", async () => {
    const s = await client(server);
    const ws = rawWs(`${server.wsUrl}/`);
    open.push(ws);
    await ws.opened();
    assert.deepEqual(await ack(s, "v", 1), { v: 1, seq: 1 });
    assert.equal(await up(server, "version"), 1);
    assert.equal(await loads(server, "version", "ok"), 1);
    assert.equal(await loads(server, "version", "error"), 0);

    const broken = versionSource(2).replace("return { v = VERSION, seq = seq }", "return { v = VERSION seq = seq }");
    const line = broken.split("\n").findIndex((l) => l.includes("VERSION seq")) + 1;
    const from = server.log().length;
    save(file, broken);
    await waitMetric(server, 'switchboard_gateway_loads_total{gateway="version",result="error"}', 1);
    assert.equal(await up(server, "version"), 0);
    assert.equal(await loads(server, "version", "ok"), 1);
    // The log line gives the full path, the Lua message the name inside the scripts directory.
    await logMatch(server, from, new RegExp(`${file.replace(/[.]/g, "\\.")}: version\\.lua:${line}: .*expected`));
    // The old version serves both protocols.
    assert.deepEqual(await ack(s, "v", 2), { v: 1, seq: 2 });
    ws.send(JSON.stringify({ event: "v", data: 3 }));
    assert.deepEqual(JSON.parse(await ws.next()), { v: 1, seq: 3 });
    assert.equal(s.connected, true);

    // A second broken save counts again.
    save(file, broken + "\n-- again\n");
    await waitMetric(server, 'switchboard_gateway_loads_total{gateway="version",result="error"}', 2);

    save(file, versionSource(3), "rename");
    await waitValue(() => ack(s, "v", 4), { v: 3, seq: 4 }, "the fixed version");
    assert.equal(await up(server, "version"), 1);
    assert.equal(await loads(server, "version", "ok"), 2);
    assert.equal(await loads(server, "version", "error"), 2);
    ws.send(JSON.stringify({ event: "v", data: 5 }));
    assert.deepEqual(JSON.parse(await ws.next()), { v: 3, seq: 5 });
    assert.equal(ws.closeInfo, null);
    closeAll();
  });

  test("errors while the file runs, or a table that is not a valid gateway, keep it too", async () => {
    const s = await client(server);
    save(file, versionSource(10));
    await waitValue(() => ack(s, "v", 0), { v: 10, seq: 0 }, "version 10");
    const cases = [
      ["an error at load", "local VERSION = 11\nerror('boom at load')\n", /version\.lua:2: boom at load/],
      ["a number instead of a table", "return 42\n", /must return a table \(got number\)/],
      ["a handler that is not a function", "return { events = { v = 5 } }\n", /events\.v must be a function/],
      ["a bad namespace", "return { namespace = 'nope', events = {} }\n", /namespace must be a string starting with '\/'/],
      ["a plugin that is not loaded", "return { interceptors = { 'no-such-plugin' }, events = {} }\n", /interceptor 'no-such-plugin' is not loaded/],
      [
        "an event another gateway of the namespace handles",
        "return { events = { v = function() return 'x' end, plain = function() return 'mine' end } }\n",
        /event 'plain' of namespace \/ is already handled by .*plain\.lua/,
      ],
    ];
    let errors = await loads(server, "version", "error");
    for (const [what, text, logged] of cases) {
      const from = server.log().length;
      save(file, text);
      errors++;
      await waitMetric(server, 'switchboard_gateway_loads_total{gateway="version",result="error"}', errors);
      assert.equal(await up(server, "version"), 0, what);
      await logMatch(server, from, logged, what);
      assert.deepEqual(await ack(s, "v", what), { v: 10, seq: what }, `${what}: the old version serves`);
      assert.equal(await ack(s, "plain"), "plain", `${what}: the other gateway serves`);
    }
    save(file, versionSource(12));
    await waitValue(() => ack(s, "v", 0), { v: 12, seq: 0 }, "version 12");
    assert.equal(await up(server, "version"), 1);
    closeAll();
  });
});

describe("adding and removing gateway files", () => {
  let server, dir;
  before(async () => {
    dir = tempScripts();
    server = await startServer({ scripts: dir });
  });
  after(async (t) => {
    closeAll();
    try {
      await stopClean(t, server);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a new file in a new namespace loads; removing it refuses new connections, keeps the old", async () => {
    const extra = path.join(dir, "extra.lua");
    save(extra, "return { namespace = '/extra', events = { x = function(s, n) return n * 2 end } }\n", "rename");
    await waitMetric(server, 'switchboard_gateway_up{gateway="extra"}', 1);
    const s = await client(server, {}, "/extra");
    assert.equal(await ack(s, "x", 21), 42);

    fs.unlinkSync(extra);
    const end = Date.now() + SETTLE;
    while ((await metricsText(server)).includes('gateway="extra"') && Date.now() < end) await sleep(15);
    assert.ok(!(await metricsText(server)).includes('gateway="extra"'), "the removed gateway left /metrics");
    // A new socket cannot join the namespace any more.
    const late = sio(server, {}, "/extra");
    open.push(late);
    const [err] = await once(late, "connect_error");
    assert.equal(err.message, "Invalid namespace");
    // The socket already there stays; its events have no handler now.
    assert.equal(s.connected, true);
    const exc = once(s, "exception");
    s.emit("x", 1);
    assert.deepEqual((await exc)[0], { status: "error", message: "no handler for event 'x'" });
    closeAll();
  });

  test("removing one gateway of a namespace leaves the others; putting it back restores it", async () => {
    const s = await client(server);
    const saved = fs.readFileSync(path.join(dir, "plain.lua"), "utf8");
    assert.equal(await ack(s, "plain"), "plain");
    fs.unlinkSync(path.join(dir, "plain.lua"));
    await waitValue(() => answer(s, "plain"), { exception: "no handler for event 'plain'" }, "plain removed");
    assert.deepEqual(await ack(s, "v", 1), { v: 1, seq: 1 });
    save(path.join(dir, "plain.lua"), saved);
    await waitValue(() => answer(s, "plain"), "plain", "plain back");
    closeAll();
  });
});

describe("lib modules and SIGHUP", () => {
  let server, dir;
  before(async () => {
    dir = tempScripts();
    server = await startServer({ scripts: dir });
  });
  after(async (t) => {
    closeAll();
    try {
      await stopClean(t, server);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  const greetSource = (tag) =>
    fs.readFileSync(path.join(FIXTURES, "scripts/lib/greet.lua"), "utf8").replace("(v1)", `(${tag})`);

  test("editing a lib module reloads the gateways that use modules, and only those", async () => {
    const s = await client(server);
    assert.equal(await ack(s, "greet", "ann"), "hello ann (v1)");
    assert.equal(await ack(s, "welcome"), "hello welcome (v1)");
    const GWS = ["greeter", "welcome", "version", "plain"];
    const before = {};
    for (const gw of GWS) before[gw] = await loads(server, gw, "ok");
    assert.deepEqual(before, { greeter: 1, welcome: 1, version: 1, plain: 1 });

    const from = server.log().length;
    save(path.join(dir, "lib/greet.lua"), greetSource("v2"));
    await waitValue(() => ack(s, "greet", "ann"), "hello ann (v2)", "the module's new version");
    await waitValue(() => ack(s, "welcome"), "hello welcome (v2)", "the module's new version (second user)");
    await sleep(150); // anything else that would reload has had the time to
    assert.equal(await loads(server, "greeter", "ok"), 2);
    assert.equal(await loads(server, "welcome", "ok"), 2);
    assert.equal(await loads(server, "version", "ok"), 1, "a gateway that does not use it stays");
    assert.equal(await loads(server, "plain", "ok"), 1, "a gateway that does not use it stays");
    await logMatch(server, from, /lib modules changed: reloading the 2 gateway\(s\) that use modules/);
    closeAll();
  });

  // welcome.lua requires lib/outer.lua, which requires lib/inner.lua: an edit of inner.lua
  // must reach welcome.lua's handlers (the gateway "required" it, through outer).
  test("editing a module that another module requires reaches the gateway", async () => {
    const s = await client(server);
    assert.equal(await ack(s, "nested"), "outer v1 / inner v1");
    save(path.join(dir, "lib/inner.lua"), "return { tag = 'inner v2' }\n");
    await waitValue(() => ack(s, "nested"), "outer v1 / inner v2", "the inner module's new version");
    closeAll();
  });

  test("a module that fails to load keeps its users on their previous version", async () => {
    const s = await client(server);
    save(path.join(dir, "lib/greet.lua"), greetSource("v3"));
    await waitValue(() => ack(s, "greet", "bo"), "hello bo (v3)", "v3");
    const errors = await loads(server, "greeter", "error");
    const from = server.log().length;
    save(path.join(dir, "lib/greet.lua"), "local M = {}\nfunction M.hello(name) return 'x' .. end\nreturn M\n");
    await waitMetric(server, 'switchboard_gateway_loads_total{gateway="greeter",result="error"}', errors + 1);
    assert.equal(await up(server, "greeter"), 0);
    await waitMetric(server, 'switchboard_gateway_up{gateway="welcome"}', 0);
    await logMatch(server, from, /lib\/greet\.lua:2:/);
    assert.equal(await ack(s, "greet", "bo"), "hello bo (v3)");
    assert.equal(await ack(s, "welcome"), "hello welcome (v3)");
    save(path.join(dir, "lib/greet.lua"), greetSource("v4"));
    await waitValue(() => ack(s, "greet", "bo"), "hello bo (v4)", "v4");
    await waitValue(() => ack(s, "welcome"), "hello welcome (v4)", "v4 (second user)");
    assert.equal(await up(server, "greeter"), 1);
    assert.equal(await up(server, "welcome"), 1);
    closeAll();
  });

  test("SIGHUP reloads every gateway and module (lib subfolders too), connections stay", async () => {
    const s = await client(server);
    const ws = rawWs(`${server.wsUrl}/`);
    open.push(ws);
    await ws.opened();
    let disconnected = null;
    s.on("disconnect", (r) => (disconnected = r));
    assert.equal(await ack(s, "text"), "text v1");
    const before = {};
    save(path.join(dir, "lib/util/text.lua"), "return { tag = 'text v2' }\n");
    save(path.join(dir, "version.lua"), versionSource(7), "rename");
    await waitValue(() => ack(s, "v", 0), { v: 7, seq: 0 }, "version 7");
    for (const gw of ["greeter", "welcome", "version", "plain"]) before[gw] = await loads(server, gw, "ok");

    process.kill(server.proc.pid, "SIGHUP");
    await waitValue(() => ack(s, "text"), "text v2", "the subfolder module after SIGHUP");
    for (const gw of ["greeter", "welcome", "version", "plain"])
      await waitMetric(server, `switchboard_gateway_loads_total{gateway="${gw}",result="ok"}`, before[gw] + 1);
    await logMatch(server, 0, /SIGHUP received: reloading the gateways/);
    assert.deepEqual(await ack(s, "v", 1), { v: 7, seq: 1 });
    ws.send(JSON.stringify({ event: "plain" }));
    assert.equal(JSON.parse(await ws.next()), "plain");
    assert.equal(disconnected, null);
    assert.equal(ws.closeInfo, null);
    closeAll();
  });
});

describe("bytecode is refused", () => {
  let bcdir;
  const compile = (src, out) => execFileSync("luajit", ["-b", src, out]);
  before(() => {
    bcdir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-gw-bytecode-"));
    compile(path.join(FIXTURES, "bytecode/gateway.lua"), path.join(bcdir, "gateway.bc"));
    compile(path.join(FIXTURES, "bytecode/greet.lua"), path.join(bcdir, "greet.bc"));
    assert.equal(fs.readFileSync(path.join(bcdir, "gateway.bc"))[0], 0x1b, "luajit -b wrote bytecode");
  });
  after(() => {
    closeAll();
    fs.rmSync(bcdir, { recursive: true, force: true });
  });

  async function startWith(files, extra = []) {
    const dir = fs.mkdtempSync(path.join(bcdir, "start-"));
    for (const [name, from] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.copyFileSync(from, path.join(dir, name));
    }
    const r = await runBinary(["--listen", `127.0.0.1:${await freePort()}`, "--scripts", dir, ...extra], {
      ms: 10000 * SLOW,
    });
    return { ...r, dir };
  }

  for (const trusted of [false, true]) {
    test(`a bytecode gateway stops the start${trusted ? " (even with --lua-trusted)" : ""}`, async () => {
      const r = await startWith({ "compiled.lua": path.join(bcdir, "gateway.bc") }, trusted ? ["--lua-trusted"] : []);
      assert.equal(r.signal, null, `killed: it started a server\n${r.stderr}`);
      assert.notEqual(r.code, 0, r.stderr);
      assert.match(r.stderr, /compiled\.lua: .*(wrong mode|binary|bytecode)/i);
    });
  }

  test("a gateway requiring a bytecode module stops the start", async () => {
    const r = await startWith({
      "greeter.lua": path.join(FIXTURES, "scripts/greeter.lua"),
      "lib/greet.lua": path.join(bcdir, "greet.bc"),
      "lib/util/text.lua": path.join(FIXTURES, "scripts/lib/util/text.lua"),
    });
    assert.equal(r.signal, null, `killed: it started a server\n${r.stderr}`);
    assert.notEqual(r.code, 0, r.stderr);
    assert.match(r.stderr, /lib\/greet\.lua: .*(wrong mode|binary|bytecode)/i);
  });

  describe("on hot reload", () => {
    let server, dir;
    before(async () => {
      dir = tempScripts();
      server = await startServer({ scripts: dir });
    });
    after(async (t) => {
      closeAll();
      try {
        await stopClean(t, server);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    test("a gateway saved as bytecode is refused, the old version keeps serving", async () => {
      const s = await client(server);
      const file = path.join(dir, "version.lua");
      const from = server.log().length;
      save(file, fs.readFileSync(path.join(bcdir, "gateway.bc")), "rename");
      await waitMetric(server, 'switchboard_gateway_loads_total{gateway="version",result="error"}', 1);
      assert.equal(await up(server, "version"), 0);
      await logMatch(server, from, /version\.lua.*(mode|binary|bytecode)/i);
      assert.deepEqual(await ack(s, "v", 1), { v: 1, seq: 1 }, "not the bytecode's 1000");

      // Bytecode behind a '#!' line is refused as well.
      const bc = fs.readFileSync(path.join(bcdir, "gateway.bc"));
      save(file, Buffer.concat([Buffer.from("#!/usr/bin/env luajit\n"), bc]));
      await waitMetric(server, 'switchboard_gateway_loads_total{gateway="version",result="error"}', 2);
      assert.deepEqual(await ack(s, "v", 2), { v: 1, seq: 2 });
      closeAll();
    });

    test("a lib module saved as bytecode is refused, its user keeps the previous version", async () => {
      const s = await client(server);
      assert.equal(await ack(s, "greet", "cy"), "hello cy (v1)");
      const from = server.log().length;
      save(path.join(dir, "lib/greet.lua"), fs.readFileSync(path.join(bcdir, "greet.bc")));
      await waitMetric(server, 'switchboard_gateway_loads_total{gateway="greeter",result="error"}', 1);
      assert.equal(await up(server, "greeter"), 0);
      await logMatch(server, from, /lib\/greet\.lua.*(mode|binary|bytecode)/i);
      assert.equal(await ack(s, "greet", "cy"), "hello cy (v1)", "not the bytecode's");
      closeAll();
    });
  });
});
