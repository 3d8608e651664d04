// Engine.IO v4 HTTP long-polling and the upgrade to WebSocket, judged by real clients:
// socket.io-client 4 with its default options (polling, then the upgrade), socket.io-client on
// polling only, Debian's python3-socketio with its defaults; and the bad input of the polling
// transport (README, "Bad input"), sent by hand.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  DEMO_PLUGINS,
  GATEWAYS,
  connected,
  io,
  metric,
  once,
  rawWs,
  record,
  runPython,
  sleep,
  startServer,
  stopClean,
} from "./helpers.mjs";
import { rawHttp, refusedUpgrade } from "./wire.mjs";

const SEP = "\x1e";

// A socket.io-client socket with the client's own transports (polling first, then the upgrade)
// unless `transports` says otherwise; no automatic reconnection.
function client(server, opts = {}, nsp = "/") {
  return io(server.url + (nsp === "/" ? "" : nsp), {
    reconnection: false,
    forceNew: true,
    timeout: 5000,
    ...opts,
  });
}

// The Engine.IO requests of a session by hand.
const pollUrl = (server, sid = "", extra = "") =>
  `${server.url}/socket.io/?EIO=4&transport=polling${sid ? `&sid=${sid}` : ""}${extra}`;

async function openSession(server) {
  const res = await fetch(pollUrl(server));
  assert.equal(res.status, 200);
  const body = await res.text();
  assert.equal(body[0], "0", body);
  return JSON.parse(body.slice(1));
}

async function post(server, sid, body, headers = {}) {
  const res = await fetch(pollUrl(server, sid), {
    method: "POST",
    headers: { "content-type": "text/plain;charset=UTF-8", ...headers },
    body,
  });
  return { status: res.status, text: await res.text() };
}

async function get(server, sid, ms = 5000) {
  const res = await fetch(pollUrl(server, sid), { signal: AbortSignal.timeout(ms) });
  return { status: res.status, text: await res.text(), type: res.headers.get("content-type") };
}

// switchboard_connections_by_transport as {websocket, polling}.
async function byTransport(server) {
  const m = (t) => metric(server, `switchboard_connections_by_transport{transport="${t}"}`);
  return { websocket: await m("websocket"), polling: await m("polling") };
}

// Waits until the per-transport gauges read `want` (closes are counted when the server sees them).
async function gaugesReach(server, want, ms = 3000) {
  const end = Date.now() + ms;
  let now;
  while (JSON.stringify((now = await byTransport(server))) !== JSON.stringify(want)) {
    if (Date.now() > end) assert.deepEqual(now, want, "switchboard_connections_by_transport");
    await sleep(20);
  }
}

async function waitUpgraded(socket, ms = 5000) {
  const end = Date.now() + ms;
  while (socket.io.engine.transport.name !== "websocket") {
    if (Date.now() > end) throw new Error("the client never upgraded");
    await sleep(10);
  }
}

describe("socket.transport in a gateway", () => {
  let server;
  before(async () => {
    server = await startServer({ scripts: `${GATEWAYS}/polling` });
  });
  after(async (t) => {
    await stopClean(t, server);
  });

  test('"polling" on a polling session, "websocket" after its upgrade and on a WebSocket', async () => {
    const p = await connected(client(server, { transports: ["polling"] }));
    assert.equal(await p.timeout(3000).emitWithAck("transport"), "polling");
    p.close();
    const u = client(server);
    const upgraded = once(u.io.engine, "upgrade");
    await connected(u);
    if (u.io.engine.transport.name === "polling")
      assert.equal(await u.timeout(3000).emitWithAck("transport"), "polling");
    await upgraded;
    assert.equal(await u.timeout(3000).emitWithAck("transport"), "websocket");
    u.close();
    const w = await connected(client(server, { transports: ["websocket"] }));
    assert.equal(await w.timeout(3000).emitWithAck("transport"), "websocket");
    w.close();
  });
});

describe("real clients", () => {
  let server;
  before(async () => {
    server = await startServer({ plugins: DEMO_PLUGINS });
  });
  after(async (t) => {
    await stopClean(t, server);
  });

  test("socket.io-client with default options: polling, then the upgrade; counted", async () => {
    const before = await metric(server, "switchboard_upgrades_total");
    const gauges = await byTransport(server);
    const s = client(server);
    const upgraded = once(s.io.engine, "upgrade");
    await connected(s);
    await upgraded;
    assert.equal(s.io.engine.transport.name, "websocket");
    const got = record(s, "events");
    s.emit("events", {});
    const end = Date.now() + 3000;
    while (got.length < 3 && Date.now() < end) await sleep(10);
    assert.deepEqual(got, [1, 2, 3]);
    assert.equal(await metric(server, "switchboard_upgrades_total"), before + 1);
    // The upgraded session counts as a WebSocket connection, no longer as a polling one.
    await gaugesReach(server, { websocket: gauges.websocket + 1, polling: gauges.polling });
    s.close();
    await gaugesReach(server, gauges);
  });

  test("the seed's demo with one socket of a user on polling and one on WebSocket", async () => {
    const gauges = await byTransport(server);
    const a = await connected(client(server, { transports: ["polling"], auth: { token: "alice-token" } }));
    const b = await connected(client(server, { transports: ["websocket"], query: { token: "alice-token" } }));
    const anon = await connected(client(server, { transports: ["polling"] }));
    assert.equal(a.io.engine.transport.name, "polling");
    await gaugesReach(server, { websocket: gauges.websocket + 1, polling: gauges.polling + 2 });
    const got = { a: record(a, "events"), b: record(b, "events"), anon: record(anon, "events") };
    a.emit("events", {});
    const end = Date.now() + 3000;
    while ((got.a.length < 3 || got.b.length < 3) && Date.now() < end) await sleep(10);
    await sleep(200); // a duplicate would be here by now
    assert.deepEqual(got.a, [1, 2, 3]);
    assert.deepEqual(got.b, [1, 2, 3]);
    assert.deepEqual(got.anon, []);
    // And the other way round: the WebSocket socket asks, the polling one gets its copy.
    got.a.length = got.b.length = 0;
    b.emit("events", {});
    while ((got.a.length < 3 || got.b.length < 3) && Date.now() < end + 3000) await sleep(10);
    await sleep(200);
    assert.deepEqual(got.a, [1, 2, 3]);
    assert.deepEqual(got.b, [1, 2, 3]);
    assert.equal(a.io.engine.transport.name, "polling");
    for (const s of [a, b, anon]) s.close();
    await gaugesReach(server, gauges);
  });

  test("python3-socketio with default options connects, upgrades and gets the demo's events", async () => {
    const script = `
import socketio, sys
sio = socketio.Client(reconnection=False)
got = []
@sio.on('events')
def on_events(d):
    got.append(d)
    if len(got) == 3:
        sio.disconnect()
@sio.event
def connect():
    sio.emit('events', {})
sio.connect(sys.argv[1], auth={'token': 'alice-token'}, wait_timeout=5)
sio.wait()
print('got', got, 'transport', sio.transport())
`;
    const out = await runPython(script, [server.url]);
    assert.match(out, /got \[1, 2, 3\] transport websocket/);
  });
});

describe("acks, namespaces, heartbeat and upgrade under traffic", () => {
  let server;
  before(async () => {
    server = await startServer({
      scripts: `${GATEWAYS}/acks`,
      args: ["--ping-interval", "300", "--ping-timeout", "400"],
    });
  });
  after(async (t) => {
    await stopClean(t, server);
  });

  test("acks both ways over polling", async () => {
    const s = await connected(client(server, { transports: ["polling"] }));
    assert.deepEqual(await s.timeout(3000).emitWithAck("echo", { x: "é€" }), { x: "é€" });
    assert.deepEqual(await s.timeout(3000).emitWithAck("multi"), 1);
    // The server asks, the client answers: the answer comes back as `answer`.
    s.on("question", (x, cb) => cb(`re:${x}`, 2));
    const answer = once(s, "answer");
    assert.equal(await s.timeout(3000).emitWithAck("ask", "q"), "asked");
    assert.deepEqual((await answer)[0], { err: null, a: "re:q", b: 2 });
    s.close();
  });

  test("the heartbeat over polling keeps an idle session for several ping intervals", async () => {
    const s = await connected(client(server, { transports: ["polling"] }));
    let reason = null;
    s.on("disconnect", (r) => (reason = r));
    await sleep(1500); // five ping intervals, each answered over POST
    assert.equal(reason, null);
    assert.equal(s.connected, true);
    assert.deepEqual(await s.timeout(3000).emitWithAck("echo", 7), 7);
    s.close();
  });

  test("200 events sent while the upgrade runs are answered once each, in order", async () => {
    const s = client(server);
    const acks = [];
    s.on("connect", () => {
      for (let i = 0; i < 200; i++) s.emit("echo", i, (v) => acks.push(v));
    });
    await connected(s);
    const end = Date.now() + 5000;
    while (acks.length < 200 && Date.now() < end) await sleep(10);
    await waitUpgraded(s);
    await sleep(100);
    assert.deepEqual(acks, [...Array(200).keys()]);
    s.close();
  });

  test("a client that stops polling is gone after the ping timeout", async () => {
    const open = await openSession(server);
    await post(server, open.sid, "40");
    const first = await get(server, open.sid);
    assert.match(first.text, /^40\{"sid":/);
    // No GET, no pong: after ping interval + timeout (+ the close wait) the sid is unknown.
    await sleep(300 + 400 + 2500);
    const late = await get(server, open.sid);
    assert.equal(late.status, 400);
    assert.deepEqual(JSON.parse(late.text), { code: 1, message: "Session ID unknown" });
  });
});

// lws cuts a request left unanswered for its timeout_secs (10 s); a held GET must outlive it and
// be answered by the heartbeat's ping, at the (default 25 s) ping interval. 12 s here.
describe("a GET held longer than libwebsockets' request timeout", () => {
  let server;
  before(async () => {
    server = await startServer({
      scripts: `${GATEWAYS}/acks`,
      args: ["--ping-interval", "12000", "--ping-timeout", "5000"],
    });
  });
  after(async (t) => {
    await stopClean(t, server);
  });

  test("is answered with the ping after the ping interval, not cut at 10 s", { timeout: 30000 }, async () => {
    const open = await openSession(server);
    await post(server, open.sid, "40");
    assert.match((await get(server, open.sid)).text, /^40\{"sid":/);
    const start = Date.now();
    const held = await get(server, open.sid, 20000);
    assert.deepEqual([held.status, held.text], [200, "2"]);
    assert.ok(Date.now() - start >= 11000, `answered after ${Date.now() - start} ms`);
  });
});

describe("bad input on the polling transport", () => {
  let server;
  before(async () => {
    server = await startServer({
      scripts: `${GATEWAYS}/bad_input`,
      args: ["--max-payload", "1000"],
    });
  });
  after(async (t) => {
    await stopClean(t, server);
  });

  const error = (res) => ({ status: res.status, body: JSON.parse(res.text) });

  test("a POST without a session: 400 code 2", async () => {
    const res = await post(server, "", "40");
    assert.deepEqual(error(res), { status: 400, body: { code: 2, message: "Bad handshake method" } });
  });

  test("a request for an unknown session: 400 code 1, and a log line that says why", async () => {
    for (const res of [await post(server, "nosuchsid", "40"), await get(server, "nosuchsid")])
      assert.deepEqual(error(res), { status: 400, body: { code: 1, message: "Session ID unknown" } });
    await server.waitForLog(/unknown session id: closed, or held by another instance/);
  });

  test("a body over --max-payload: 413", async () => {
    const open = await openSession(server);
    const res = await post(server, open.sid, `4${"x".repeat(1200)}`);
    assert.equal(res.status, 413);
  });

  test("a chunked body: 411, the connection closes", async () => {
    const open = await openSession(server);
    const res = await rawHttp(
      server.port,
      `POST /socket.io/?EIO=4&transport=polling&sid=${open.sid} HTTP/1.1\r\nHost: x\r\n` +
        "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n40\r\n0\r\n\r\n",
    );
    assert.equal(res.status, 411);
    assert.equal(res.headers.connection, "close");
  });

  test("a malformed payload: ok, then the session closes (the next GET gets `1`)", async () => {
    for (const body of ["4a" + SEP + SEP + "4b", "9", SEP, "2"]) {
      const open = await openSession(server);
      assert.equal((await post(server, open.sid, body)).text, "ok");
      assert.equal((await get(server, open.sid)).text, "1", JSON.stringify(body));
      assert.equal((await get(server, open.sid)).status, 400);
    }
  });

  test("a GET held while the session closes gets `1`; a POST after the close: 400 code 1", async () => {
    const open = await openSession(server);
    const held = get(server, open.sid);
    await sleep(100);
    assert.equal((await post(server, open.sid, "1")).text, "ok"); // the client's close
    assert.equal((await held).text, "1");
    const late = await post(server, open.sid, "40");
    assert.deepEqual(error(late), { status: 400, body: { code: 1, message: "Session ID unknown" } });
  });

  test("a second GET while one is held: 400, and the session closes", async () => {
    const open = await openSession(server);
    const held = get(server, open.sid);
    await sleep(100);
    const second = await get(server, open.sid);
    assert.deepEqual(error(second), { status: 400, body: { code: 3, message: "Bad request" } });
    assert.equal((await held).text, "1");
    assert.equal((await get(server, open.sid)).status, 400);
  });

  test("a binary POST body on a v4 session: 400, and the session closes", async () => {
    const open = await openSession(server);
    const res = await post(server, open.sid, "40", { "content-type": "application/octet-stream" });
    assert.equal(res.status, 400);
    assert.equal((await get(server, open.sid)).text, "1");
  });

  test("an upgrade for an unknown sid, and for a closed one: 400 code 1", async () => {
    const open = await openSession(server);
    await post(server, open.sid, "1");
    await sleep(100);
    for (const sid of ["nosuchsid", open.sid]) {
      const res = await refusedUpgrade(
        `${server.wsUrl}/socket.io/?EIO=4&transport=websocket&sid=${sid}`,
      );
      assert.equal(res.status, 400);
      assert.deepEqual(JSON.parse(res.body), { code: 1, message: "Session ID unknown" });
    }
  });

  test("a second upgrade while the first probe is open: 400 code 3", async () => {
    const open = await openSession(server);
    const probe = rawWs(`${server.wsUrl}/socket.io/?EIO=4&transport=websocket&sid=${open.sid}`);
    await probe.opened();
    const res = await refusedUpgrade(
      `${server.wsUrl}/socket.io/?EIO=4&transport=websocket&sid=${open.sid}`,
    );
    assert.equal(res.status, 400);
    assert.deepEqual(JSON.parse(res.body), { code: 3, message: "Bad request" });
    probe.close();
  });

  test("a probe with the wrong text is closed (1002); the session stays on polling", async () => {
    const open = await openSession(server);
    const probe = rawWs(`${server.wsUrl}/socket.io/?EIO=4&transport=websocket&sid=${open.sid}`);
    await probe.opened();
    probe.send("2prob");
    assert.equal((await probe.closed()).code, 1002);
    // Still a polling session: CONNECT over POST, its answer over GET.
    assert.equal((await post(server, open.sid, "40")).text, "ok");
    assert.match((await get(server, open.sid)).text, /^40\{"sid":"/);
  });

  test("an upgrade by hand: 2probe, 3probe, the held GET released with a noop, 5", async () => {
    const open = await openSession(server);
    assert.equal((await post(server, open.sid, "40")).text, "ok");
    assert.match((await get(server, open.sid)).text, /^40\{"sid":"/);
    const held = get(server, open.sid);
    await sleep(100);
    const ws = rawWs(`${server.wsUrl}/socket.io/?EIO=4&transport=websocket&sid=${open.sid}`);
    await ws.opened();
    ws.send("2probe");
    assert.equal(await ws.next(), "3probe");
    assert.equal((await held).text, "6");
    // An event queued before the `5` leaves on the WebSocket after it.
    assert.equal((await post(server, open.sid, '42["hello","before"]')).text, "ok");
    ws.send("5");
    assert.equal(await ws.next(), '42["hello","before"]');
    ws.send('420["echo","after"]');
    assert.equal(await ws.next(), '430["after"]');
    // The session is a WebSocket one now: polling requests for it are refused.
    const late = await get(server, open.sid);
    assert.deepEqual(error(late), { status: 400, body: { code: 3, message: "Bad request" } });
    ws.close();
  });
});
