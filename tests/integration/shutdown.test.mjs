// Graceful shutdown on SIGTERM and SIGINT: clients are told (Socket.IO DISCONNECT, WebSocket
// close 1001), queued messages are flushed, readiness turns 503, new connections are refused,
// and the process exits 0 within the shutdown timeout.
import assert from "node:assert/strict";
import net from "node:net";
import path from "node:path";
import { test } from "node:test";

import { GATEWAYS, connected, once, rawWs, sio, sleep, startServer } from "./helpers.mjs";

const SCRIPTS = path.join(GATEWAYS, "shutdown");
const SIO_PATH = "/socket.io/?EIO=4&transport=websocket";
const SHUTDOWN_TIMEOUT = 3000;

function start(args = []) {
  return startServer({
    scripts: SCRIPTS,
    // The burst handlers queue thousands of messages in one run: no time limit for them (the
    // limit itself is tested in gateway_limits.test.mjs).
    args: ["--shutdown-timeout", String(SHUTDOWN_TIMEOUT), "--ping-interval", "20000",
      "--lua-time-limit", "0", ...args],
  });
}

// Sends `signal` and resolves with {code, signal, ms} once the process exited (SIGKILL after
// 15 s so a hung server fails the test instead of hanging it).
async function signalAndWait(server, signal) {
  const t0 = Date.now();
  const res = await server.stop(signal, 15000);
  return { ...res, ms: Date.now() - t0 };
}

// A keep-alive HTTP/1.1 connection: request() writes raw request text and resolves with the
// next complete response {status, headers, body}.
async function keepAlive(port) {
  const sock = net.connect(port, "127.0.0.1");
  await new Promise((resolve, reject) => {
    sock.once("connect", resolve);
    sock.once("error", reject);
  });
  let buf = "";
  let waiter = null;
  const check = () => {
    const end = buf.indexOf("\r\n\r\n");
    if (!waiter || end < 0) return;
    const head = buf.slice(0, end);
    const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (buf.length < end + 4 + len) return;
    const body = buf.slice(end + 4, end + 4 + len);
    buf = buf.slice(end + 4 + len);
    const headers = {};
    for (const l of head.split("\r\n").slice(1)) {
      const i = l.indexOf(":");
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const w = waiter;
    waiter = null;
    w.resolve({ status: Number(head.split(" ")[1]), headers, body });
  };
  sock.on("data", (d) => {
    buf += d.toString("latin1");
    check();
  });
  sock.on("error", () => {});
  sock.on("close", () => waiter?.reject(new Error("connection closed")));
  return {
    request(text, ms = 5000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no response")), ms);
        waiter = {
          resolve: (r) => (clearTimeout(timer), resolve(r)),
          reject: (e) => (clearTimeout(timer), reject(e)),
        };
        sock.write(text);
        check();
      });
    },
    close: () => sock.destroy(),
  };
}

// Waits until the server has processed at least `atLeast` inbound messages of `proto`
// ("socketio" or "json"), asking /metrics over the keep-alive connection `ka`.
async function waitMessagesIn(ka, atLeast, proto = "socketio", ms = 5000) {
  const end = Date.now() + ms;
  const re = new RegExp(`^switchboard_messages_in_total\\{protocol="${proto}"\\} (\\d+)$`, "m");
  for (;;) {
    const res = await ka.request("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    const m = re.exec(res.body);
    if (Number(m[1]) >= atLeast) return;
    assert.ok(Date.now() < end, "the server never processed the request");
    await sleep(10);
  }
}

for (const signal of ["SIGTERM", "SIGINT"]) {
  test(`${signal}: 'io server disconnect' for Socket.IO, 1001 for plain JSON, exit 0`, async () => {
    const server = await start();
    const a = await connected(sio(server));
    const b = await connected(sio(server));
    const j = rawWs(`${server.wsUrl}/plain`);
    await j.opened();
    const reasons = Promise.all([once(a, "disconnect", 10000), once(b, "disconnect", 10000)]);
    const res = await signalAndWait(server, signal);
    const [[ra], [rb]] = await reasons;
    const closed = await j.closed();
    assert.equal(res.code, 0, `exit ${res.code ?? res.signal}:\n${server.log()}`);
    assert.ok(res.ms < SHUTDOWN_TIMEOUT, `exited after ${res.ms} ms`);
    assert.equal(ra, "io server disconnect");
    assert.equal(rb, "io server disconnect");
    assert.match(server.log(), new RegExp(`${signal} received`));
    // socket.io-client does not reconnect after a server disconnect (and reconnection is off).
    assert.equal(a.connected, false);
    assert.equal(closed.code, 1001, `plain JSON close ${JSON.stringify(closed)}`);
  });
}

test("with no clients the process exits 0 at once", async () => {
  const server = await start();
  const res = await signalAndWait(server, "SIGTERM");
  assert.equal(res.code, 0, server.log());
  assert.ok(res.ms < SHUTDOWN_TIMEOUT, `exited after ${res.ms} ms`);
});

for (const proto of ["socket.io", "json"]) {
  test(`${proto}: messages queued before SIGTERM are all delivered, then the close`, async () => {
    // A big outbound queue so nothing is dropped, and a client that does not read while the
    // burst is queued: at SIGTERM a few MB wait in the server's queue and the kernel buffers.
    const server = await start(["--max-queue", "64000000"]);
    const ka = await keepAlive(server.port);
    const N = 4000;
    const ws = rawWs(server.wsUrl + (proto === "json" ? "/plain" : SIO_PATH));
    await ws.opened();
    if (proto !== "json") {
      assert.match(await ws.next(), /^0\{"sid"/);
      ws.send("40");
      assert.match(await ws.next(), /^40\{"sid"/);
    }
    const seen = [];
    const other = [];
    ws.removeAllListeners("message");
    ws.on("message", (data) => {
      const m = data.toString();
      let item = null;
      if (proto === "json") {
        const v = JSON.parse(m);
        if (v.event === "item") item = v.data;
      } else if (m.startsWith('42["item"')) {
        item = JSON.parse(m.slice(2))[1];
      }
      if (item) seen.push(item.i);
      else other.push(m.slice(0, 60));
    });
    ws._socket.pause();
    ws.send(
      proto === "json"
        ? JSON.stringify({ event: "burst", data: { n: N, size: 1000 } })
        : `421["burst",{"n":${N},"size":1000}]`,
    );
    if (proto !== "json") await waitMessagesIn(ka, 2); // "40" and the burst
    else await waitMessagesIn(ka, 1, "json");

    const t0 = Date.now();
    process.kill(server.proc.pid, "SIGTERM");
    await sleep(50);
    ws._socket.resume();
    const closed = await ws.closed(15000);
    const res = await server.exited;
    ka.close();
    assert.equal(res.code, 0, server.log());
    assert.ok(Date.now() - t0 < SHUTDOWN_TIMEOUT + 2000, "exited within the shutdown timeout");
    assert.equal(seen.length, N, `received ${seen.length} of ${N} queued messages`);
    assert.deepEqual(seen.slice(0, 3), [1, 2, 3]);
    assert.equal(seen[N - 1], N);
    if (proto === "json") {
      assert.deepEqual(other, [JSON.stringify({ event: "burst", data: N })]);
      assert.equal(closed.code, 1001, `close ${JSON.stringify(closed)}`);
    } else {
      // The ack, then the namespace DISCONNECT that tells socket.io-client not to reconnect.
      assert.deepEqual(other, [`431[${N}]`, "41"]);
    }
  });
}

test("while draining: /readyz 503, upgrades 503, new TCP connections refused", async () => {
  const server = await start(["--max-queue", "64000000"]);
  const ka = await keepAlive(server.port);
  const ready = await ka.request("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
  assert.equal(ready.status, 200);

  // A client that does not read keeps the server draining until we let it read.
  const ws = rawWs(server.wsUrl + SIO_PATH);
  await ws.opened();
  await ws.next();
  ws.send("40");
  await ws.next();
  ws._socket.pause();
  ws.send('421["burst",{"n":4000,"size":1000}]');
  await waitMessagesIn(ka, 2);

  process.kill(server.proc.pid, "SIGTERM");
  await server.waitForLog(/shutting down/);

  const draining = await ka.request("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
  assert.equal(draining.status, 503);
  const upgrade = await ka.request(
    `GET ${SIO_PATH} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  assert.equal(upgrade.status, 503);
  assert.deepEqual(JSON.parse(upgrade.body), { message: "server shutting down" });

  // A brand-new connection: refused at TCP level, or by an HTTP 503.
  const fresh = rawWs(server.wsUrl + SIO_PATH);
  const outcome = await fresh.opened().then(
    () => "accepted",
    (e) => (e.status ? `HTTP ${e.status}` : e.code || e.message),
  );
  fresh.terminate();
  assert.ok(["ECONNREFUSED", "HTTP 503"].includes(outcome), `a new connection got: ${outcome}`);

  ws._socket.resume();
  await ws.closed(15000);
  const res = await server.exited;
  ka.close();
  assert.equal(res.code, 0, server.log());
});

test("a client that never reads does not hold the process past the shutdown timeout", async () => {
  const TIMEOUT = 1500;
  const server = await start(["--max-queue", "64000000", "--shutdown-timeout", String(TIMEOUT)]);
  const ka = await keepAlive(server.port);
  const ws = rawWs(server.wsUrl + SIO_PATH);
  await ws.opened();
  await ws.next();
  ws.send("40");
  await ws.next();
  ws._socket.pause(); // and never resumed
  ws.send('421["burst",{"n":8000,"size":1000}]');
  await waitMessagesIn(ka, 2);
  ka.close();
  const res = await signalAndWait(server, "SIGTERM");
  ws.terminate();
  assert.equal(res.code, 0, `exit ${res.code ?? res.signal}:\n${server.log()}`);
  assert.ok(res.ms >= TIMEOUT * 0.8, `exited after ${res.ms} ms, before the timeout`);
  assert.ok(res.ms < TIMEOUT + 5000, `exited after ${res.ms} ms`);
  assert.match(server.log(), /shutdown timeout/);
});
