// Resource limits: the largest inbound message (whole or fragmented), the outbound queue of a
// client that stops reading, and the connection cap.
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
import { refusedUpgrade } from "./wire.mjs";

const SCRIPTS = path.join(GATEWAYS, "limits");
const SIO_PATH = "/socket.io/?EIO=4&transport=websocket";
const MAX_PAYLOAD = 1000;
const TOO_BIG = 'switchboard_closes_total{reason="message_too_big"}';
const SIO_CONNS = 'switchboard_connections{protocol="socketio"}';

async function joined(server) {
  const ws = rawWs(server.wsUrl + SIO_PATH);
  await ws.opened();
  assert.match(await ws.next(), /^0\{"sid"/);
  ws.send("40");
  assert.match(await ws.next(), /^40\{"sid"/);
  return ws;
}

// `42["size","xxx…"]` (ack id 1) of exactly `total` bytes.
function sizePacket(total) {
  const overhead = '421["size",""]'.length;
  return `421["size","${"x".repeat(total - overhead)}"]`;
}
const sizeOf = (total) => total - '421["size",""]'.length;

// Polls a metric until it reaches `value`.
async function waitMetric(server, name, value, ms = 5000) {
  const end = Date.now() + ms;
  let v;
  while ((v = await metric(server, name)) < value && Date.now() < end) await sleep(20);
  assert.ok(v >= value, `${name} = ${v}, expected >= ${value}`);
  return v;
}

const TOO_BIG_CLOSE = { code: 1009, reason: "message too big" };

describe("--max-payload", () => {
  let server;
  // Bystanders of both protocols, connected before any oversized message: each must still be
  // served, and never closed, after every test.
  let sioWitness;
  let jsonWitness;
  const sioDisconnects = [];
  before(async () => {
    server = await startServer({
      scripts: SCRIPTS,
      args: ["--max-payload", String(MAX_PAYLOAD), "--ping-interval", "20000"],
    });
    sioWitness = await connected(sio(server));
    sioWitness.on("disconnect", (r) => sioDisconnects.push(r));
    jsonWitness = rawWs(`${server.wsUrl}/plain`);
    await jsonWitness.opened();
  });
  after(async (t) => {
    sioWitness.close();
    jsonWitness.close();
    await stopClean(t, server);
  });

  // Both bystanders answer a round trip and were not disconnected.
  async function witnessesServed(tag) {
    assert.deepEqual(sioDisconnects, [], "the Socket.IO bystander was disconnected");
    assert.equal(sioWitness.connected, true);
    assert.equal(await sioWitness.timeout(5000).emitWithAck("echo", tag), tag);
    assert.equal(jsonWitness.closeInfo, null, "the plain JSON bystander was closed");
    jsonWitness.send(JSON.stringify({ event: "echo", data: tag }));
    assert.deepEqual(JSON.parse(await jsonWitness.next()), { event: "echo", data: tag });
  }

  test("a 2000-byte text frame closes with 1009 and is counted", async () => {
    const before = await metric(server, TOO_BIG);
    const ws = await joined(server);
    ws.send(sizePacket(2000));
    const closed = await ws.closed();
    assert.deepEqual(closed, TOO_BIG_CLOSE);
    await waitMetric(server, TOO_BIG, before + 1);
    await witnessesServed("2000 bytes");
  });

  test("one message-too-big close counts once in closes_total", async () => {
    const before = await metric(server, TOO_BIG);
    const ws = await joined(server);
    ws.send(sizePacket(2000));
    await ws.closed();
    await sleep(100);
    assert.equal((await metric(server, TOO_BIG)) - before, 1);
  });

  test("900 bytes, and exactly max-payload bytes, are processed", async () => {
    const ws = await joined(server);
    ws.send(sizePacket(900));
    assert.equal(await ws.next(), `431[${sizeOf(900)}]`);
    ws.send(sizePacket(MAX_PAYLOAD));
    assert.equal(await ws.next(), `431[${sizeOf(MAX_PAYLOAD)}]`);
    assert.equal(ws.closeInfo, null);
    ws.close();
  });

  test("max-payload + 1 bytes closes with 1009", async () => {
    const ws = await joined(server);
    ws.send(sizePacket(MAX_PAYLOAD + 1));
    const closed = await ws.closed();
    assert.deepEqual(closed, TOO_BIG_CLOSE);
    await witnessesServed("max-payload + 1");
  });

  test("a message fragmented over the limit closes with 1009", async () => {
    const before = await metric(server, TOO_BIG);
    const ws = await joined(server);
    const msg = sizePacket(1200);
    ws.send(msg.slice(0, 400), { fin: false });
    ws.send(msg.slice(400, 800), { fin: false });
    ws.send(msg.slice(800), { fin: true });
    const closed = await ws.closed();
    assert.deepEqual(closed, TOO_BIG_CLOSE);
    await waitMetric(server, TOO_BIG, before + 1);
    await witnessesServed("fragmented");
  });

  test("a message fragmented under the limit is reassembled and processed", async () => {
    const ws = await joined(server);
    const msg = sizePacket(900);
    ws.send(msg.slice(0, 1), { fin: false });
    ws.send(msg.slice(1, 300), { fin: false });
    ws.send(msg.slice(300, 600), { fin: false });
    ws.send(msg.slice(600), { fin: true });
    assert.equal(await ws.next(), `431[${sizeOf(900)}]`);
    // And again on the same connection (the reassembly buffer starts afresh).
    ws.send(msg.slice(0, 450), { fin: false });
    ws.send(msg.slice(450), { fin: true });
    assert.equal(await ws.next(), `431[${sizeOf(900)}]`);
    ws.close();
  });

  test("plain JSON: 2000 bytes closes with 1009, 900 bytes is processed", async () => {
    const ok = rawWs(`${server.wsUrl}/plain`);
    await ok.opened();
    const small = JSON.stringify({ event: "size", data: "x".repeat(900 - 30) });
    assert.ok(small.length <= 900);
    ok.send(small);
    assert.deepEqual(JSON.parse(await ok.next()), { event: "size", data: 900 - 30 });
    ok.close();

    const big = rawWs(`${server.wsUrl}/plain`);
    await big.opened();
    big.send(JSON.stringify({ event: "size", data: "x".repeat(2000) }));
    const closed = await big.closed();
    assert.deepEqual(closed, TOO_BIG_CLOSE);
    await witnessesServed("plain JSON 2000 bytes");
  });
});

// The sum of switchboard_closes_total over every reason.
async function closesTotal(server) {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(/^switchboard_closes_total\{reason="[a-z_]+"\} (\d+)$/gm))
    sum += Number(m[1]);
  return sum;
}

const SLOW = 'switchboard_closes_total{reason="slow_consumer"}';
const DROPS = "switchboard_queue_drops_total";

// A joined raw client whose socket stops reading, and a socket.io reader that drives a flood of
// 1 KB broadcasts with acks until the server drops the slow client's queue (at least 2000
// messages; bounded). Each `flood` broadcasts 3 blobs to everyone and its ack leaves after
// them, so the reader's own queue stays small; the kernel buffers a few MB for the paused
// socket before the server's queue fills.
//
// It returns as soon as the drop is counted (queue_drops_total moves when the server gives up
// on the queue), not when the close is: the close frame waits behind the bytes the kernel
// holds, and the server kills a client that does not read it within 5 s (README, "Limits and
// bad input"), so the caller resumes reading at once to get the close frame.
async function floodUntilDropped(server) {
  const slowBefore = await metric(server, SLOW);
  const dropsBefore = await metric(server, DROPS);
  const slow = await joined(server);
  slow.got = 0;
  slow.on("message", () => slow.got++);
  slow._socket.pause();

  const reader = await connected(sio(server));
  reader.blobs = 0;
  reader.bad = 0;
  reader.on("blob", (b) =>
    typeof b === "string" && b.length === 1024 ? reader.blobs++ : reader.bad++,
  );
  const PER_BATCH = 3;
  const MIN_BATCHES = Math.ceil(2000 / PER_BATCH);
  const MAX_BATCHES = 4000; // 12000 messages, 12 MB
  const t0 = Date.now();
  let sent = 0;
  for (let i = 0; i < MAX_BATCHES && Date.now() - t0 < 30000; i++) {
    sent += await reader.timeout(5000).emitWithAck("flood", { n: PER_BATCH, size: 1024 });
    if (i >= MIN_BATCHES && i % 5 === 0 && (await metric(server, DROPS)) > dropsBefore) break;
  }
  return { slow, reader, sent, slowBefore, dropsBefore };
}

// Waits until the reader got the `sent` blobs (or 5 s passed).
async function readerDone(reader, sent) {
  const end = Date.now() + 5000;
  while (reader.blobs + reader.bad < sent && Date.now() < end) await sleep(10);
}

describe("--max-queue: a client that stops reading", () => {
  let server;
  before(async () => {
    server = await startServer({
      scripts: SCRIPTS,
      args: ["--max-queue", "4096", "--ping-interval", "20000", "--ping-timeout", "20000"],
    });
  });
  after(async (t) => {
    await stopClean(t, server);
  });

  test('is closed 1008 "outbound queue full"; a reader gets every message', async () => {
    const { slow, reader, sent, slowBefore, dropsBefore } = await floodUntilDropped(server);
    assert.ok((await metric(server, DROPS)) > dropsBefore, "the slow client's queue was dropped");

    // Once it reads again, the slow client gets what the kernel held, short of messages, then
    // the documented close frame.
    slow._socket.resume();
    const closed = await slow.closed(10000);
    assert.deepEqual(closed, { code: 1008, reason: "outbound queue full" });
    assert.ok(slow.got < sent + 2, `the slow client got ${slow.got} of ${sent}`);
    await waitMetric(server, SLOW, slowBefore + 1);

    await readerDone(reader, sent);
    assert.ok(sent >= 2000, `${sent} messages sent`);
    assert.equal(reader.bad, 0);
    assert.equal(reader.blobs, sent, "the reading client received every message");
    assert.equal(reader.connected, true);
    assert.equal(await reader.timeout(5000).emitWithAck("echo", "after"), "after");
    reader.close();
  });

  test("bounds a backlog, not a message: one reply larger than it reaches a client that reads", async () => {
    const s = await connected(sio(server));
    try {
      // 1 MB against --max-queue 4096; the small ones behind it fit.
      const [big, a, b] = await Promise.all([
        s.timeout(20000).emitWithAck("big", 1 << 20),
        s.timeout(20000).emitWithAck("echo", "a"),
        s.timeout(20000).emitWithAck("echo", "b"),
      ]);
      assert.equal(big.length, 1 << 20);
      assert.deepEqual([a, b], ["a", "b"]);
      assert.equal(s.connected, true);
    } finally {
      s.close();
    }
  });

  test("a slow-consumer close counts once in closes_total (over all reasons)", async () => {
    // Let the closes of earlier tests land first.
    const start = Date.now() + 5000;
    while ((await metric(server, SIO_CONNS)) > 0 && Date.now() < start)
      await sleep(20);
    const totalBefore = await closesTotal(server);
    const { slow, reader } = await floodUntilDropped(server);
    slow._socket.resume();
    await slow.closed(10000);
    // lws reports the close once the socket is gone; then the count must have moved by one.
    const end = Date.now() + 5000;
    while ((await metric(server, SIO_CONNS)) > 1 && Date.now() < end)
      await sleep(20);
    assert.equal((await closesTotal(server)) - totalBefore, 1);
    reader.close();
  });
});

describe("--max-connections", () => {
  let server;
  before(async () => {
    server = await startServer({ scripts: SCRIPTS, args: ["--max-connections", "3"] });
  });
  after(async (t) => {
    await stopClean(t, server);
  });

  test("the 4th upgrade gets 503 'too many connections'; after a close one succeeds", async () => {
    const before = await metric(server, 'switchboard_refusals_total{reason="connection_limit"}');
    const a = await connected(sio(server));
    const b = await connected(sio(server));
    const c = rawWs(`${server.wsUrl}/plain`);
    await c.opened();

    for (const url of [`${server.wsUrl}${SIO_PATH}`, `${server.wsUrl}/plain`]) {
      const res = await refusedUpgrade(url);
      assert.equal(res.status, 503, url);
      assert.deepEqual(JSON.parse(res.body), { message: "too many connections" });
    }
    const refused = sio(server);
    await assert.rejects(connected(refused));
    refused.close();
    assert.equal(
      (await metric(server, 'switchboard_refusals_total{reason="connection_limit"}')) - before,
      3,
    );
    // Plain HTTP is still served at the cap.
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);

    a.close();
    const end = Date.now() + 5000;
    while ((await metric(server, 'switchboard_connections{protocol="socketio"}')) > 1) {
      assert.ok(Date.now() < end, "the closed connection was never released");
      await sleep(20);
    }
    const d = await connected(sio(server));
    assert.equal(await d.timeout(5000).emitWithAck("echo", "in"), "in");
    for (const s of [b, d]) s.close();
    c.close();
  });
});
