// Outbound writes: frames queued for one connection during one turn of the loop leave in one
// write (switchboard_writes_total counts writes, messages_out_total frames), in order, big
// frames included; --write-delay holds them for the given time.
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";

import { GATEWAYS, connected, metric, rawWs, sio, startServer, stopClean } from "./helpers.mjs";
import { OP, closePayload, encodeFrame, rawSocket } from "./wire.mjs";

const SCRIPTS = path.join(GATEWAYS, "output");

async function counters(server) {
  return {
    writes: await metric(server, 'switchboard_writes_total{protocol="socketio"}'),
    messages: await metric(server, 'switchboard_messages_out_total{protocol="socketio"}'),
  };
}

test("a burst of 200 events leaves in a few writes, in order, with a 100 KB frame in the middle", async (t) => {
  const server = await startServer({ scripts: SCRIPTS, args: ["--lua-time-limit", "0"] });
  t.after(() => server.stop("SIGKILL"));
  const s = await connected(sio(server));
  const seq = [];
  let big = null;
  s.on("seq", (i) => seq.push(i));
  s.on("big", (b) => (big = { b, after: seq.length }));

  const before = await counters(server);
  const n = await s.timeout(5000).emitWithAck("burst", { n: 200, big: 100000 });
  assert.equal(n, 200);
  // The ack was queued after every event: they all came before it, in order.
  assert.deepEqual(seq, Array.from({ length: 200 }, (_, i) => i + 1));
  assert.equal(big.b.length, 100000);
  assert.equal(big.after, 100, "the big frame kept its place between 100 and 101");

  const after = await counters(server);
  const messages = after.messages - before.messages;
  const writes = after.writes - before.writes;
  assert.equal(messages, 202, "200 events, the big one and the ack");
  // Written one by one this would be 202 writes; joined, 64 KiB per write at most: the 101
  // small frames before the big one, the big one alone, then the rest with the ack.
  assert.ok(writes >= 3 && writes <= 8, `202 messages took ${writes} writes`);
  s.disconnect();
  await stopClean(t, server);
});

test("a client that stops reading gets all of 30 MB in order once it reads again", async (t) => {
  // The kernel takes a few MB of it; the rest is refused, so the server's send() is partial and
  // lws keeps the remainder, then our queue waits: every frame must still arrive whole, once,
  // in order.
  const server = await startServer({
    scripts: SCRIPTS,
    args: ["--lua-time-limit", "0", "--max-queue", String(256 << 20)],
  });
  t.after(() => server.stop("SIGKILL"));
  const ws = rawWs(`${server.wsUrl}/`);
  await ws.opened();
  const n = 60;
  ws.send(JSON.stringify({ event: "flood", data: { n } }));
  ws.pause();
  await new Promise((r) => setTimeout(r, 500));
  ws.resume();
  const sizes = [10, 30000, 1500000];
  for (let i = 1; i <= n; i++) {
    const m = JSON.parse(await ws.next(10000));
    assert.equal(m.event, "chunk");
    assert.equal(m.data.i, i);
    assert.equal(m.data.pad.length, sizes[(i - 1) % 3], `chunk ${i}`);
  }
  assert.equal(await ws.next(10000), String(n), "the return value comes last");
  const out = await metric(server, 'switchboard_messages_out_total{protocol="json"}');
  assert.equal(out, n + 1);
  ws.close();
  await stopClean(t, server);
});

test("a client's close drops what was queued for it: only the close echo follows", async (t) => {
  // The request and the close arrive in one TCP segment: the handler queues 60 frames (30 MB),
  // then lws reads the close. RFC 6455: no data after the close echo; we send none at all.
  const server = await startServer({
    scripts: SCRIPTS,
    args: ["--lua-time-limit", "0", "--max-queue", String(256 << 20)],
  });
  t.after(() => server.stop("SIGKILL"));
  const r = await rawSocket(server.port, "/");
  const request = Buffer.from(JSON.stringify({ event: "flood", data: { n: 60 } }));
  r.sock.write(
    Buffer.concat([encodeFrame(OP.TEXT, request), encodeFrame(OP.CLOSE, closePayload(1000, "bye"))]),
  );
  assert.deepEqual(await r.closed(), { code: 1000, reason: "bye" });
  await r.ended();
  assert.deepEqual(
    r.frames.map((f) => f.opcode),
    [OP.CLOSE],
    "nothing but the close echo",
  );
  assert.equal(await metric(server, 'switchboard_messages_out_total{protocol="json"}'), 0);
  await stopClean(t, server);
});

test("a fan-out to 100 sockets: each gets all 50 broadcasts of one handler, once, in order", async (t) => {
  // 100 connections in one flush: the flush list is sorted by socket before it is written.
  const server = await startServer({ scripts: SCRIPTS });
  t.after(() => server.stop("SIGKILL"));
  const clients = [];
  for (let i = 0; i < 100; i++) {
    const ws = rawWs(`${server.wsUrl}/`);
    await ws.opened();
    clients.push(ws);
  }
  const n = 50;
  clients[37].send(JSON.stringify({ event: "ticks", data: { n } }));
  for (const [k, ws] of clients.entries()) {
    for (let i = 1; i <= n; i++) {
      const m = JSON.parse(await ws.next(5000));
      assert.deepEqual(m, { event: "tick", data: i }, `client ${k}, tick ${i}`);
    }
    if (k === 37) assert.equal(await ws.next(5000), String(n), "the sender's return value last");
  }
  // Nothing more for anyone (no duplicate).
  await new Promise((r) => setTimeout(r, 200));
  for (const ws of clients) await assert.rejects(ws.next(1), /timeout/);
  const out = await metric(server, 'switchboard_messages_out_total{protocol="json"}');
  assert.equal(out, 100 * n + 1);
  for (const ws of clients) ws.close();
  await stopClean(t, server);
});

test("a lone reply is one message in one write", async (t) => {
  const server = await startServer({ scripts: SCRIPTS });
  t.after(() => server.stop("SIGKILL"));
  const clients = [await connected(sio(server))];
  const before = await counters(server);
  // Ten round trips: each ack is one message in one write (nothing else queued).
  for (let i = 0; i < 10; i++) assert.equal(await clients[0].timeout(5000).emitWithAck("ping", i), i);
  const after = await counters(server);
  assert.equal(after.messages - before.messages, 10);
  assert.equal(after.writes - before.writes, 10);
  for (const c of clients) c.disconnect();
  await stopClean(t, server);
});

test("--write-delay holds a reply for at least the delay", async (t) => {
  const delayed = await startServer({ scripts: SCRIPTS, args: ["--write-delay", "60"] });
  t.after(() => delayed.stop("SIGKILL"));
  const s = await connected(sio(delayed));
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    assert.equal(await s.timeout(5000).emitWithAck("ping", i), i);
    const ms = performance.now() - t0;
    // A lower bound only: a loaded machine makes it later, never earlier.
    assert.ok(ms >= 50, `reply after ${ms.toFixed(1)} ms with --write-delay 60`);
  }
  s.disconnect();
  await stopClean(t, delayed);
});

test("--write-delay above 100 is refused with the usage", async () => {
  const { runBinary } = await import("./wire.mjs");
  const r = await runBinary(["--write-delay", "101"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /write-delay/);
});
