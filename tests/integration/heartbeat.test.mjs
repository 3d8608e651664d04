// Liveness: the Engine.IO v4 heartbeat (the server pings, the client pongs), WebSocket ping/pong
// for plain JSON clients, and the Socket.IO connect timeout.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import {
  GATEWAYS,
  connected,
  metric,
  rawWs,
  sio,
  sleep,
  startServer,
  stopClean,
} from "./helpers.mjs";

const SCRIPTS = path.join(GATEWAYS, "heartbeat");
const INTERVAL = 200;
const TIMEOUT = 200;
const SIO_PATH = "/socket.io/?EIO=4&transport=websocket";
const PING_TIMEOUTS = 'switchboard_closes_total{reason="ping_timeout"}';
const CONNECT_TIMEOUTS = 'switchboard_closes_total{reason="connect_timeout"}';

// A raw Engine.IO session joined to "/" (CONNECT answered).
async function joined(server) {
  const ws = rawWs(server.wsUrl + SIO_PATH);
  await ws.opened();
  assert.match(await ws.next(), /^0\{"sid"/);
  ws.send("40");
  assert.match(await ws.next(), /^40\{"sid"/);
  return ws;
}

// A Socket.IO client (socket.io-client answers the server's pings) and a plain JSON client (npm
// ws answers WebSocket pings), connected before a misbehaving client; `served()` asserts that
// both were not disconnected and still answer a round trip after it was closed.
async function bystanders(server) {
  const s = await connected(sio(server));
  const reasons = [];
  s.on("disconnect", (r) => reasons.push(r));
  const json = rawWs(`${server.wsUrl}/plain`);
  await json.opened();
  return {
    async served(tag) {
      assert.deepEqual(reasons, [], "the Socket.IO bystander was disconnected");
      assert.equal(s.connected, true);
      assert.equal(await s.timeout(5000).emitWithAck("echo", tag), tag);
      assert.equal(json.closeInfo, null, "the plain JSON bystander was closed");
      json.send(JSON.stringify({ event: "hello", data: tag }));
      assert.deepEqual(JSON.parse(await json.next()), { event: "hello", data: tag });
    },
    close() {
      s.close();
      json.close();
    },
  };
}

// Polls a metric until it reaches `value` (the server updates it when lws reports the close).
async function waitMetric(server, name, value, ms = 5000) {
  const end = Date.now() + ms;
  let v;
  while ((v = await metric(server, name)) < value && Date.now() < end) await sleep(20);
  assert.ok(v >= value, `${name} = ${v}, expected >= ${value}`);
  return v;
}

describe("Engine.IO heartbeat", () => {
  let server;
  before(async () => {
    server = await startServer({
      scripts: SCRIPTS,
      args: [
        "--ping-interval", String(INTERVAL),
        "--ping-timeout", String(TIMEOUT),
        "--connect-timeout", "10000",
      ],
    });
  });
  after(async (t) => {
    await stopClean(t, server);
  });

  test("the server sends 2 every ping-interval; a client answering 3 stays connected", async () => {
    const ws = await joined(server);
    const t0 = Date.now();
    const pings = [];
    while (pings.length < 5 && Date.now() - t0 < 10000) {
      const msg = await ws.next(5000);
      assert.equal(msg, "2", "only pings arrive on an idle session");
      pings.push(Date.now());
      ws.send("3");
    }
    assert.equal(pings.length, 5);
    // Not early: the first after about one interval, then about one interval apart (a late
    // loop under a sanitizer may stretch them, never shrink them).
    assert.ok(pings[0] - t0 >= INTERVAL * 0.7, `first ping after ${pings[0] - t0} ms`);
    for (let i = 1; i < pings.length; i++)
      assert.ok(pings[i] - pings[i - 1] >= INTERVAL * 0.7, `gap ${pings[i] - pings[i - 1]} ms`);
    // Five intervals are well past interval + timeout: the answers kept it open.
    assert.equal(ws.readyState, ws.OPEN);
    assert.equal(ws.closeInfo, null);
    ws.send('421["echo","still here"]');
    let reply;
    do reply = await ws.next(); while (reply === "2");
    assert.equal(reply, '431["still here"]');
    ws.close();
  });

  test("socket.io-client stays connected across several intervals", async () => {
    const s = await connected(sio(server));
    const reasons = [];
    s.on("disconnect", (r) => reasons.push(r));
    await sleep((INTERVAL + TIMEOUT) * 3);
    assert.deepEqual(reasons, []);
    assert.equal(s.connected, true);
    assert.equal(await s.timeout(5000).emitWithAck("echo", 7), 7);
    s.close();
  });

  test('no answer: closed after interval + timeout with 1008 "ping timeout"', async () => {
    const others = await bystanders(server);
    const before = await metric(server, PING_TIMEOUTS);
    const t0 = Date.now();
    const ws = await joined(server);
    const closed = await ws.closed(10000);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= (INTERVAL + TIMEOUT) * 0.8, `closed after ${elapsed} ms`);
    const after = await waitMetric(server, PING_TIMEOUTS, before + 1);
    assert.equal(after - before, 1);
    assert.deepEqual(closed, { code: 1008, reason: "ping timeout" });
    await others.served("after a ping timeout");
    others.close();
  });

  test("the ping-timeout counts from the ping: a pong too late does not save it", async () => {
    const before = await metric(server, PING_TIMEOUTS);
    const ws = await joined(server);
    assert.equal(await ws.next(5000), "2");
    await sleep(TIMEOUT + 150);
    ws.send("3");
    await ws.closed(10000);
    await waitMetric(server, PING_TIMEOUTS, before + 1);
  });

  test("a client-sent ping (2) closes with 1002", async () => {
    const before = await metric(server, 'switchboard_invalid_packets_total{protocol="socketio"}');
    const ws = await joined(server);
    ws.send("2");
    const closed = await ws.closed();
    const after = await metric(server, 'switchboard_invalid_packets_total{protocol="socketio"}');
    assert.equal(after - before, 1);
    assert.equal(closed.code, 1002);
  });

  test("a plain JSON client answering WebSocket pings stays connected", async () => {
    const ws = rawWs(`${server.wsUrl}/plain`); // npm ws answers pings with pongs on its own
    await ws.opened();
    let pings = 0;
    ws.on("ping", () => pings++);
    await sleep((INTERVAL + TIMEOUT) * 3);
    const info = JSON.stringify(ws.closeInfo);
    assert.equal(ws.closeInfo, null, `closed after ${pings} ping(s): ${info}`);
    assert.ok(pings >= 2, `${pings} pings`);
    ws.send(JSON.stringify({ event: "hello", data: "json" }));
    assert.deepEqual(JSON.parse(await ws.next()), { event: "hello", data: "json" });
    ws.close();
  });

  test("a plain JSON client that does not answer WebSocket pings is closed", async () => {
    const others = await bystanders(server);
    const before = await metric(server, PING_TIMEOUTS);
    const ws = rawWs(`${server.wsUrl}/plain`, { autoPong: false });
    await ws.opened();
    const closed = await ws.closed(10000);
    const after = await waitMetric(server, PING_TIMEOUTS, before + 1);
    assert.equal(after - before, 1);
    assert.deepEqual(closed, { code: 1008, reason: "ping timeout" });
    await others.served("after a plain JSON ping timeout");
    others.close();
  });
});

describe("Socket.IO connect timeout", () => {
  const CONNECT_TIMEOUT = 300;
  let server;
  before(async () => {
    server = await startServer({
      scripts: SCRIPTS,
      args: [
        "--connect-timeout", String(CONNECT_TIMEOUT),
        "--ping-interval", "10000",
        "--ping-timeout", "10000",
      ],
    });
  });
  after(async (t) => {
    await stopClean(t, server);
  });

  test('no CONNECT in time → 1008 "connect timeout"', async () => {
    const others = await bystanders(server);
    const before = await metric(server, CONNECT_TIMEOUTS);
    const t0 = Date.now();
    const ws = rawWs(server.wsUrl + SIO_PATH);
    await ws.opened();
    assert.match(await ws.next(), /^0\{"sid"/);
    const closed = await ws.closed(10000);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= CONNECT_TIMEOUT * 0.8, `closed after ${elapsed} ms`);
    const after = await waitMetric(server, CONNECT_TIMEOUTS, before + 1);
    assert.equal(after - before, 1);
    assert.deepEqual(closed, { code: 1008, reason: "connect timeout" });
    await others.served("after a connect timeout");
    others.close();
  });

  test("a client that sends 40 in time is not closed", async () => {
    const before = await metric(server, CONNECT_TIMEOUTS);
    const ws = rawWs(server.wsUrl + SIO_PATH);
    await ws.opened();
    await ws.next();
    await sleep(CONNECT_TIMEOUT / 3);
    ws.send("40");
    assert.match(await ws.next(), /^40\{"sid"/);
    await sleep(CONNECT_TIMEOUT * 3);
    assert.equal(ws.closeInfo, null);
    ws.send('421["echo","ok"]');
    assert.equal(await ws.next(), '431["ok"]');
    assert.equal(await metric(server, CONNECT_TIMEOUTS), before);
    ws.close();
  });

  test("a refused CONNECT (unknown namespace) does not stop the deadline", async () => {
    const ws = rawWs(server.wsUrl + SIO_PATH);
    await ws.opened();
    await ws.next();
    ws.send("40/nowhere,");
    assert.equal(await ws.next(), '44/nowhere,{"message":"Invalid namespace"}');
    const closed = await ws.closed(10000);
    assert.deepEqual(closed, { code: 1008, reason: "connect timeout" });
  });

  test("plain JSON connections have no connect deadline", async () => {
    const ws = rawWs(`${server.wsUrl}/plain`);
    await ws.opened();
    await sleep(CONNECT_TIMEOUT * 3);
    assert.equal(ws.closeInfo, null);
    ws.send(JSON.stringify({ event: "hello", data: 1 }));
    assert.deepEqual(JSON.parse(await ws.next()), { event: "hello", data: 1 });
    ws.close();
  });
});
