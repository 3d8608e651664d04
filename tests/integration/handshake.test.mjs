// The Engine.IO handshake at /socket.io/: refusals with engine.io's JSON error bodies, both
// spellings of the path, the open packet and where its values come from (flags, environment,
// config file, in that order of precedence).
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { GATEWAYS, connected, metric, rawWs, sio, startServer, stopClean } from "./helpers.mjs";
import { refusedUpgrade } from "./wire.mjs";

const SCRIPTS = path.join(GATEWAYS, "handshake");
const OPEN_RE = new RegExp(
  '^0\\{"sid":"([^"]+)","upgrades":\\[\\],' +
    '"pingInterval":(\\d+),"pingTimeout":(\\d+),"maxPayload":(\\d+)\\}$',
);

// Opens a raw Engine.IO session and returns [ws, parsed open packet].
async function openSession(server, p = "/socket.io/?EIO=4&transport=websocket") {
  const ws = rawWs(server.wsUrl + p);
  await ws.opened();
  const first = await ws.next();
  const m = OPEN_RE.exec(first);
  assert.ok(m, `not an open packet: ${first}`);
  return [
    ws,
    { raw: first, sid: m[1], pingInterval: +m[2], pingTimeout: +m[3], maxPayload: +m[4] },
  ];
}

describe("handshake refusals and the open packet", () => {
  let server;
  before(async () => {
    server = await startServer({
      scripts: SCRIPTS,
      // Without v3 (on by default, as socket.io's allowEIO3), every EIO but "4" is refused.
      args: [
        "--ping-interval", "1234", "--ping-timeout", "2345", "--max-payload", "34567",
        "--allow-eio3=false",
      ],
    });
  });
  after(async (t) => {
    await stopClean(t, server);
  });

  for (const [label, query] of [
    ["missing EIO", "transport=websocket"],
    ["EIO=3", "EIO=3&transport=websocket"],
    ["EIO=5", "EIO=5&transport=websocket"],
    ["EIO=4x", "EIO=4x&transport=websocket"],
  ]) {
    test(`${label} on the upgrade → 400 code 5 "Unsupported protocol version"`, async () => {
      const before = await metric(server, 'switchboard_refusals_total{reason="bad_handshake"}');
      const res = await refusedUpgrade(`${server.wsUrl}/socket.io/?${query}`);
      assert.equal(res.status, 400);
      assert.match(res.headers["content-type"] || "", /application\/json/);
      assert.deepEqual(JSON.parse(res.body), { code: 5, message: "Unsupported protocol version" });
      const after = await metric(server, 'switchboard_refusals_total{reason="bad_handshake"}');
      assert.equal(after - before, 1);
    });
  }

  test("transport=polling (plain GET) → 200 and the open packet of a polling session", async () => {
    for (const p of ["/socket.io/?EIO=4&transport=polling", "/socket.io?EIO=4&transport=polling"]) {
      const res = await fetch(server.url + p);
      assert.equal(res.status, 200, p);
      assert.equal(res.headers.get("content-type"), "text/plain; charset=UTF-8", p);
      const body = await res.text();
      assert.equal(body[0], "0", body);
      const open = JSON.parse(body.slice(1));
      assert.deepEqual(open.upgrades, ["websocket"], body);
      assert.match(open.sid, /^[A-Za-z0-9_-]{20}$/);
      assert.equal(open.maxPayload, 34567);
    }
  });

  test('transport=polling on an upgrade → 400 code 3 "Bad request"', async () => {
    const res = await refusedUpgrade(`${server.wsUrl}/socket.io/?EIO=4&transport=polling`);
    assert.equal(res.status, 400);
    assert.deepEqual(JSON.parse(res.body), { code: 3, message: "Bad request" });
  });

  test('a sid on the upgrade → 400 code 1 "Session ID unknown"', async () => {
    // Even the sid of a live WebSocket session: only a polling session can be upgraded.
    const [live, open] = await openSession(server);
    for (const sid of ["nosuchsession", open.sid]) {
      const res = await refusedUpgrade(
        `${server.wsUrl}/socket.io/?EIO=4&transport=websocket&sid=${sid}`,
      );
      assert.equal(res.status, 400);
      assert.deepEqual(JSON.parse(res.body), { code: 1, message: "Session ID unknown" });
    }
    live.close();
  });

  test("the open packet carries a fresh sid and the configured values", async () => {
    const [a, openA] = await openSession(server);
    const [b, openB] = await openSession(server);
    for (const o of [openA, openB]) {
      assert.equal(o.pingInterval, 1234);
      assert.equal(o.pingTimeout, 2345);
      assert.equal(o.maxPayload, 34567);
      assert.ok(o.sid.length >= 10, o.raw);
    }
    assert.notEqual(openA.sid, openB.sid);
    // The namespace sid of CONNECT is another id than the Engine.IO sid.
    a.send("40");
    const reply = await a.next();
    const m = /^40\{"sid":"([^"]+)"\}$/.exec(reply);
    assert.ok(m, reply);
    assert.notEqual(m[1], openA.sid);
    a.close();
    b.close();
  });

  for (const p of [
    "/socket.io/?EIO=4&transport=websocket",
    "/socket.io?EIO=4&transport=websocket",
    "/socket.io/?transport=websocket&EIO=4&unknown=key&t=N1x2y3",
  ]) {
    test(`the Socket.IO path answers at ${p}`, async () => {
      const [ws] = await openSession(server, p);
      ws.send("40");
      assert.match(await ws.next(), /^40\{"sid":"[^"]+"\}$/);
      ws.send('421["echo","hi"]');
      assert.equal(await ws.next(), '431["hi"]');
      ws.close();
    });
  }

  test("a real socket.io-client connects and gets acks", async () => {
    const s = await connected(sio(server));
    assert.deepEqual(await s.timeout(5000).emitWithAck("echo", { n: 1 }), { n: 1 });
    assert.ok(s.id && s.id !== s.io.engine.id, "the namespace sid differs from the Engine.IO sid");
    s.close();
  });
});

// One server per configuration source; returns the open packet it sends.
async function openPacketOf(opts) {
  const server = await startServer({ scripts: SCRIPTS, ...opts });
  try {
    const [ws, open] = await openSession(server);
    ws.close();
    return open;
  } finally {
    const { code, signal } = await server.stop();
    assert.equal(code, 0, `exit ${code ?? signal}:\n${server.log()}`);
  }
}

describe("where the heartbeat and payload values come from", () => {
  let dir;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-handshake-"));
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const writeConfig = (name, text) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text);
    return f;
  };
  test("flags", async () => {
    const open = await openPacketOf({
      args: ["--ping-interval", "300", "--ping-timeout", "400", "--max-payload", "5000"],
    });
    assert.deepEqual([open.pingInterval, open.pingTimeout, open.maxPayload], [300, 400, 5000]);
  });

  test("defaults: 25000 / 20000 / 1000000", async () => {
    const open = await openPacketOf({});
    assert.deepEqual(
      [open.pingInterval, open.pingTimeout, open.maxPayload],
      [25000, 20000, 1000000],
    );
  });

  test("environment variables", async () => {
    const open = await openPacketOf({
      env: {
        SWITCHBOARD_PING_INTERVAL: "310",
        SWITCHBOARD_PING_TIMEOUT: "410",
        SWITCHBOARD_MAX_PAYLOAD: "5100",
      },
    });
    assert.deepEqual([open.pingInterval, open.pingTimeout, open.maxPayload], [310, 410, 5100]);
  });

  test("a --config file (with comments and blank lines)", async () => {
    const f = writeConfig(
      "plain.conf",
      "# heartbeat\nping-interval 320\n\n  ping-timeout 420  \nmax-payload 5200\n",
    );
    const open = await openPacketOf({ args: ["--config", f] });
    assert.deepEqual([open.pingInterval, open.pingTimeout, open.maxPayload], [320, 420, 5200]);
  });

  test("SWITCHBOARD_CONFIG names the file too", async () => {
    const f = writeConfig("env.conf", "ping-interval 330\n");
    const open = await openPacketOf({ env: { SWITCHBOARD_CONFIG: f } });
    assert.equal(open.pingInterval, 330);
  });

  test("the environment wins over the file, flags win over both", async () => {
    const f = writeConfig("layers.conf", "ping-interval 340\nping-timeout 440\nmax-payload 5400\n");
    const open = await openPacketOf({
      env: { SWITCHBOARD_PING_INTERVAL: "350", SWITCHBOARD_PING_TIMEOUT: "450" },
      args: ["--config", f, "--ping-interval", "360"],
    });
    // interval: flag (360) > env (350) > file (340); timeout: env (450) > file (440);
    // max payload: only the file (5400).
    assert.deepEqual([open.pingInterval, open.pingTimeout, open.maxPayload], [360, 450, 5400]);
  });

  test("a flag before --config still wins over the file", async () => {
    const f = writeConfig("order.conf", "ping-interval 370\n");
    const open = await openPacketOf({
      env: {},
      args: ["--ping-interval", "380", "--config", f],
    });
    assert.equal(open.pingInterval, 380);
  });
});
