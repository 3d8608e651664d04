// Hardening of the HTTP and WebSocket edge against what a hostile or broken client sends:
// - an answer followed by a close says `Connection: close`;
// - the shapes of request smuggling are refused (400) before anything after their headers is
//   read, so a request hidden in a body is never served;
// - the RFC 6455 handshake rules (Sec-WebSocket-Key, Sec-WebSocket-Version);
// - the RFC 6455 close-frame rules (codes, a UTF-8 reason) and frames libwebsockets refuses;
// - an invalid packet closes only after the replies owed to what came before it, and the client
//   gets the close frame (no reset);
// - slow headers (slowloris) neither stall other clients nor hold a connection past the header
//   timeout;
// - POST /api/emit takes the room cap of a gateway's emit.
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { GATEWAYS, metric, rawWs, sleep, startServer, stopClean } from "./helpers.mjs";
import { OP, closePayload, rawSocket } from "./wire.mjs";

const SCRIPTS = path.join(GATEWAYS, "http_hardening");
const KEY = "hardening-key-3b1f";
const SIO_PATH = "/socket.io/?EIO=4&transport=websocket";
// The request a smuggler hides in a body: served, it would show the metrics text.
const HIDDEN = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
const METRICS_TEXT = "# HELP switchboard_";

let server;
before(async () => {
  server = await startServer({
    scripts: SCRIPTS,
    args: ["--api-key", KEY, "--static", `/files=${path.join(GATEWAYS, "http_hardening")}`],
  });
});
after(async (t) => {
  await stopClean(t, server);
});

// Sends `request` (sent as is) on a new connection and collects what comes back until the
// server closes it or `ms` pass. Resolves with the raw text, the responses parsed from it
// (by their Content-Length), and whether the server closed the connection (`closed`), reset it
// (`reset`), or left it open.
function exchange(port, request, ms = 1500) {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    const chunks = [];
    let closed = false;
    let reset = false;
    const finish = () => {
      clearTimeout(timer);
      sock.destroy();
      const raw = Buffer.concat(chunks).toString("latin1");
      resolve({ raw, responses: parseResponses(raw), closed, reset });
    };
    const timer = setTimeout(finish, ms);
    sock.on("data", (d) => chunks.push(d));
    sock.on("end", () => (closed = true));
    sock.on("error", (e) => (reset = e.code === "ECONNRESET"));
    sock.on("close", () => {
      closed = true;
      finish();
    });
    sock.write(request);
  });
}

function parseResponses(raw) {
  const out = [];
  let rest = raw;
  for (;;) {
    const end = rest.indexOf("\r\n\r\n");
    if (end < 0) return out;
    const lines = rest.slice(0, end).split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    if (!m) return out;
    const headers = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(":");
      if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const len = Number(headers["content-length"] || 0);
    out.push({ status: Number(m[1]), headers, body: rest.slice(end + 4, end + 4 + len) });
    rest = rest.slice(end + 4 + len);
  }
}

// A request line and headers (each a "Name: value" string, sent as is), then `body`.
function request(method, target, headers, body = "") {
  return `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers.map((h) => `${h}\r\n`).join("")}\r\n${body}`;
}

// One request with Node's http module (its default agent keeps connections alive).
function nodeRequest(port, method, p, headers = {}, body) {
  return new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port, method, path: p, headers }, (res) => {
      let data = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (data += d));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
      res.on("error", (e) => resolve({ error: e.code || e.message }));
    });
    req.on("error", (e) => resolve({ error: e.code || e.message }));
    req.end(body);
  });
}

const EMIT_HEADERS = [`Authorization: Bearer ${KEY}`, "Content-Type: application/json"];

describe("an answer followed by a close says Connection: close", () => {
  test("Node http with `connection: close`: 20 × GET /healthz and POST /api/emit, no reset", async () => {
    const body = JSON.stringify({ event: "news", data: 1 });
    const got = [];
    for (let i = 0; i < 20; i++) {
      got.push(await nodeRequest(server.port, "GET", "/healthz", { connection: "close" }));
      got.push(
        await nodeRequest(
          server.port,
          "POST",
          "/api/emit",
          {
            connection: "close",
            authorization: `Bearer ${KEY}`,
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
          },
          body,
        ),
      );
    }
    const errors = got.filter((r) => r.error).map((r) => r.error);
    assert.deepEqual(errors, [], `${errors.length} of ${got.length} requests failed`);
    assert.deepEqual(new Set(got.map((r) => r.status)), new Set([200, 202]));
    assert.ok(got.every((r) => r.headers.connection === "close"), "every answer says close");
  });

  test("HTTP/1.0 (closed after each request): the answer says so", async () => {
    const r = await exchange(server.port, "GET /healthz HTTP/1.0\r\n\r\n");
    assert.equal(r.responses.length, 1);
    assert.equal(r.responses[0].status, 200);
    assert.equal(r.responses[0].headers.connection, "close");
    assert.equal(r.closed, true);
  });

  test("a static file, a 404 and a refused upgrade say it too", async () => {
    const file = await exchange(server.port, request("GET", "/files/echo.lua", ["Connection: close"]));
    assert.equal(file.responses[0].status, 200);
    assert.match(file.responses[0].body, /^-- Fixture of http_hardening/);
    assert.equal(file.responses[0].headers.connection, "close");
    assert.equal(file.closed, true);
    const notFound = await exchange(server.port, request("GET", "/nope", ["Connection: close"]));
    assert.equal(notFound.responses[0].status, 404);
    assert.equal(notFound.responses[0].headers.connection, "close");
    // An upgrade naming the polling transport is refused: the connection closes after the 400.
    const refused = await exchange(
      server.port,
      request("GET", "/socket.io/?EIO=4&transport=polling", [
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
      ]),
    );
    assert.equal(refused.responses[0].status, 400);
    assert.equal(refused.responses[0].headers.connection, "close");
    assert.equal(refused.closed, true);
  });

  test("keep-alive still works: two requests on one connection, no close", async () => {
    const r = await exchange(server.port, request("GET", "/healthz", []) + request("GET", "/readyz", []), 500);
    assert.deepEqual(
      r.responses.map((x) => [x.status, x.headers.connection]),
      [
        [200, undefined],
        [200, undefined],
      ],
    );
    assert.equal(r.closed, false, "the server kept the connection open");
  });
});

describe("request smuggling shapes: 400, Connection: close, the hidden request is not served", () => {
  const n = HIDDEN.length; // 34, which is 0x22
  const shapes = [
    ["Transfer-Encoding and Content-Length", ["Transfer-Encoding: chunked", `Content-Length: ${n}`]],
    ["Content-Length and Transfer-Encoding", [`Content-Length: ${n}`, "Transfer-Encoding: chunked"]],
    ["an obs-folded Content-Length (space)", ["User-Agent: t", ` Content-Length: ${n}`]],
    ["an obs-folded Transfer-Encoding (tab)", ["Accept: */*", "\tTransfer-Encoding: chunked"]],
    ["a space before the colon", [`Content-Length : ${n}`]],
    ["a tab before the colon", [`Transfer-Encoding\t: chunked`, `Content-Length: ${n}`]],
    ["two Content-Length headers", ["Content-Length: 0", `Content-Length: ${n}`]],
    ["two equal Content-Length headers", [`Content-Length: ${n}`, `Content-Length: ${n}`]],
    ["Content-Length: 0x22", ["Content-Length: 0x22"]],
    ["Content-Length: +34", ["Content-Length: +34"]],
    ["an empty Content-Length", ["Content-Length:"]],
  ];
  const targets = [
    ["GET /healthz", "GET", "/healthz", []],
    ["POST /api/emit", "POST", "/api/emit", EMIT_HEADERS],
  ];
  for (const [tlabel, method, target, base] of targets)
    for (const [label, headers] of shapes)
      test(`${tlabel}: ${label}`, async () => {
        const r = await exchange(server.port, request(method, target, [...base, ...headers], HIDDEN));
        assert.ok(!r.raw.includes(METRICS_TEXT), "the request hidden in the body was served");
        assert.equal(r.responses.length, 1, `answers: ${r.raw.slice(0, 300)}`);
        assert.equal(r.responses[0].status, 400);
        assert.equal(r.responses[0].headers.connection, "close");
        assert.match(JSON.parse(r.responses[0].body).message, /^bad request: /);
        assert.equal(r.closed, true, "the server closed the connection");
      });

  test("the same on an upgrade request", async () => {
    const r = await exchange(
      server.port,
      request(
        "GET",
        "/plain",
        [
          "Upgrade: websocket",
          "Connection: Upgrade",
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
          "Sec-WebSocket-Version: 13",
          "Content-Length: 0x22",
        ],
        HIDDEN,
      ),
    );
    assert.ok(!r.raw.includes("101 Switching"), "upgraded");
    assert.ok(!r.raw.includes(METRICS_TEXT), "the hidden request was served");
    assert.equal(r.responses[0].status, 400);
    assert.equal(r.closed, true);
  });

  test("controls: a pipelined request is served; a body with a valid Content-Length is not", async () => {
    const pipelined = await exchange(server.port, request("GET", "/healthz", []) + HIDDEN, 500);
    assert.deepEqual(
      pipelined.responses.map((x) => x.status),
      [200, 200],
    );
    assert.ok(pipelined.raw.includes(METRICS_TEXT), "the second request was served");
    const body = await exchange(
      server.port,
      request("GET", "/healthz", [`Content-Length: ${n}`], HIDDEN),
      500,
    );
    assert.deepEqual(
      body.responses.map((x) => x.status),
      [200],
    );
    assert.ok(!body.raw.includes(METRICS_TEXT));
    // Whitespace around the value is allowed (RFC 9110 OWS).
    const ows = await exchange(server.port, request("GET", "/healthz", [`Content-Length:\t${n} `], HIDDEN), 500);
    assert.deepEqual(
      ows.responses.map((x) => x.status),
      [200],
    );
    const emit = JSON.stringify({ event: "news" });
    const api = await exchange(
      server.port,
      request("POST", "/api/emit", [...EMIT_HEADERS, `Content-Length:\t${emit.length} `], emit),
      500,
    );
    assert.deepEqual(
      api.responses.map((x) => x.status),
      [202],
    );
  });

  test("each refusal is counted", async () => {
    const before = await metric(server, "switchboard_http_bad_requests_total");
    await exchange(server.port, request("GET", "/healthz", ["Content-Length: 1", "Content-Length: 1"]));
    assert.equal((await metric(server, "switchboard_http_bad_requests_total")) - before, 1);
  });
});

// An upgrade request with these headers replacing the usual Sec-WebSocket-Key/-Version.
function upgrade(p, headers) {
  return request("GET", p, ["Upgrade: websocket", "Connection: Upgrade", ...headers]);
}
const GOOD_KEY = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";

describe("WebSocket handshake (RFC 6455 4.2.1)", () => {
  for (const [label, key] of [
    ["not base64", "notbase64!!"],
    ["4 bytes", "AAAAAA=="],
    ["15 bytes", Buffer.alloc(15, 1).toString("base64")],
    ["17 bytes", Buffer.alloc(17, 1).toString("base64")],
    ["24 characters without padding", "A".repeat(24)],
  ])
    test(`Sec-WebSocket-Key ${label} → 400`, async () => {
      for (const p of ["/plain", SIO_PATH]) {
        const r = await exchange(server.port, upgrade(p, [`Sec-WebSocket-Key: ${key}`, "Sec-WebSocket-Version: 13"]));
        assert.ok(!r.raw.includes(" 101 "), `${p} upgraded`);
        assert.equal(r.responses[0]?.status, 400, r.raw.slice(0, 200));
        assert.equal(r.responses[0].headers.connection, "close");
        assert.equal(r.closed, true);
      }
    });

  test("no Sec-WebSocket-Key → 400", async () => {
    const r = await exchange(server.port, upgrade("/plain", ["Sec-WebSocket-Version: 13"]));
    assert.equal(r.responses[0]?.status, 400, r.raw.slice(0, 200));
  });

  for (const version of ["8", "12", "99", null])
    test(`Sec-WebSocket-Version ${version ?? "missing"} → 400 with Sec-WebSocket-Version: 13`, async () => {
      const headers = [GOOD_KEY];
      if (version) headers.push(`Sec-WebSocket-Version: ${version}`);
      const r = await exchange(server.port, upgrade("/plain", headers));
      assert.ok(!r.raw.includes(" 101 "), "upgraded");
      assert.equal(r.responses[0]?.status, 400, r.raw.slice(0, 200));
      assert.equal(r.responses[0].headers["sec-websocket-version"], "13");
      assert.equal(r.closed, true);
    });

  test("a valid handshake still upgrades", async () => {
    const r = await exchange(server.port, upgrade("/plain", [GOOD_KEY, "Sec-WebSocket-Version: 13"]), 300);
    assert.match(r.raw, /^HTTP\/1\.1 101 /);
    assert.match(r.raw, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/);
  });
});

describe("close frames and frames lws refuses (RFC 6455 5.5, 7.4)", () => {
  async function closeAnswer(send) {
    const r = await rawSocket(server.port, "/plain");
    send(r);
    const closed = await r.closed(3000);
    r.destroy();
    return closed;
  }
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 2999, 5000, 65535])
    test(`close code ${code} → close 1002`, async () => {
      assert.equal((await closeAnswer((r) => r.send(OP.CLOSE, closePayload(code, "x")))).code, 1002);
    });
  for (const code of [1000, 1001, 3000, 4999])
    test(`close code ${code} is echoed`, async () => {
      assert.equal((await closeAnswer((r) => r.send(OP.CLOSE, closePayload(code, "bye")))).code, code);
    });
  test("a close reason that is not UTF-8 → close 1007", async () => {
    const payload = Buffer.concat([closePayload(1000), Buffer.from([0xc3, 0x28])]);
    assert.equal((await closeAnswer((r) => r.send(OP.CLOSE, payload))).code, 1007);
  });
  test("a control frame over 125 bytes → close 1002", async () => {
    assert.equal((await closeAnswer((r) => r.send(OP.PING, Buffer.alloc(126, 0x61)))).code, 1002);
    const long = Buffer.concat([closePayload(1000), Buffer.alloc(200, 0x61)]);
    assert.equal((await closeAnswer((r) => r.send(OP.CLOSE, long))).code, 1002);
  });
  test("a 64-bit length with its top bit set → close 1002", async () => {
    const frame = Buffer.from([0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4]);
    assert.equal((await closeAnswer((r) => r.sock.write(frame))).code, 1002);
  });
  test("a reserved opcode → close 1002", async () => {
    assert.equal((await closeAnswer((r) => r.send(3, Buffer.from("x")))).code, 1002);
  });
  test("a text frame that is not UTF-8 still closes with 1007, fragmented or not", async () => {
    const bad = Buffer.concat([Buffer.from('{"event":"echo","data":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    assert.equal((await closeAnswer((r) => r.send(OP.TEXT, bad))).code, 1007);
    const split = await closeAnswer((r) => {
      r.send(OP.TEXT, Buffer.from([0x7b, 0xe2]), { fin: false });
      r.send(OP.CONT, Buffer.from([0x28, 0xa1, 0x7d]), { fin: true });
    });
    assert.equal(split.code, 1007);
  });
  test("a valid text message with multi-byte UTF-8 is answered", async () => {
    const ws = rawWs(`${server.wsUrl}/plain`);
    await ws.opened();
    ws.send(JSON.stringify({ event: "echo", data: "héllo ✓ 😀" }));
    assert.equal(JSON.parse(await ws.next()), "héllo ✓ 😀");
    ws.close();
  });
});

describe("slow headers (slowloris)", () => {
  // `count` connections each sending the start of a request, then one byte of a header that
  // never ends every `everyMs`; one the server closes is opened again. Stops with stop().
  function slowloris(count, everyMs = 250) {
    const socks = new Set();
    let stopped = false;
    let reopened = 0;
    const open = () => {
      if (stopped) return;
      const s = net.connect(server.port, "127.0.0.1");
      socks.add(s);
      let timer = null;
      s.on("connect", () => {
        s.write("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ");
        timer = setInterval(() => s.write("a"), everyMs);
      });
      s.on("error", () => {});
      s.on("close", () => {
        clearInterval(timer);
        socks.delete(s);
        if (!stopped) {
          reopened++;
          setTimeout(open, 10);
        }
      });
    };
    for (let i = 0; i < count; i++) open();
    return {
      open: () => socks.size,
      reopened: () => reopened,
      stop() {
        stopped = true;
        for (const s of socks) s.destroy();
      },
    };
  }

  async function timed(fn, ms = 1000) {
    const t0 = performance.now();
    let timer;
    const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`over ${ms} ms`)), ms)));
    try {
      await Promise.race([fn(), timeout]);
      return performance.now() - t0;
    } finally {
      clearTimeout(timer);
    }
  }

  test("300 slow connections: /healthz and WebSocket handshakes are still answered at once", async (t) => {
    const attack = slowloris(300);
    try {
      await sleep(500); // every slow connection has started its header
      const health = [];
      const handshakes = [];
      for (let i = 0; i < 10; i++) {
        health.push(
          await timed(async () => {
            const res = await fetch(`${server.url}/healthz`, { headers: { connection: "close" } });
            assert.equal(res.status, 200);
            await res.text();
          }),
        );
        handshakes.push(
          await timed(async () => {
            const ws = rawWs(`${server.wsUrl}/plain`);
            await ws.opened();
            ws.close();
          }),
        );
        await sleep(150);
      }
      const fmt = (a) => `max ${Math.max(...a).toFixed(1)} ms, median ${a.sort((x, y) => x - y)[a.length >> 1].toFixed(1)} ms`;
      t.diagnostic(`with ${attack.open()} slow connections open: /healthz ${fmt(health)}; handshakes ${fmt(handshakes)}`);
      assert.ok(attack.open() >= 290, `only ${attack.open()} slow connections open`);
      assert.ok(Math.max(...health, ...handshakes) < 1000);
    } finally {
      attack.stop();
    }
  });

  test("a header that is still arriving after 5 s is cut off", async (t) => {
    const s = net.connect(server.port, "127.0.0.1");
    await new Promise((resolve) => s.once("connect", resolve));
    const t0 = performance.now();
    s.write("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    const timer = setInterval(() => s.write("a"), 200);
    s.on("error", () => {});
    const closedAfter = await new Promise((resolve) => {
      const limit = setTimeout(() => resolve(null), 8000);
      s.on("close", () => {
        clearTimeout(limit);
        resolve(performance.now() - t0);
      });
    });
    clearInterval(timer);
    s.destroy();
    t.diagnostic(`closed after ${closedAfter === null ? "more than 8000" : closedAfter.toFixed(0)} ms`);
    assert.notEqual(closedAfter, null, "still open after 8 s");
    assert.ok(closedAfter > 3500 && closedAfter < 7000, `closed after ${closedAfter} ms`);
  });
});

describe("the room cap of POST /api/emit is the one of a Lua emit (1024)", () => {
  async function emit(body) {
    const res = await fetch(`${server.url}/api/emit`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() };
  }
  const rooms = (n) => Array.from({ length: n }, (_, i) => `room-${i}`);

  test("1024 rooms and 1024 excepts are taken", async () => {
    const r = await emit({ event: "news", rooms: rooms(1024), except: rooms(1024) });
    assert.equal(r.status, 202);
  });
  test("1025 rooms → 400", async () => {
    const r = await emit({ event: "news", rooms: rooms(1025) });
    assert.equal(r.status, 400);
    assert.equal(r.json.message, "rooms must hold at most 1024 rooms");
  });
  test("1025 excepts → 400", async () => {
    const r = await emit({ event: "news", except: rooms(1025) });
    assert.equal(r.status, 400);
    assert.equal(r.json.message, "except must hold at most 1024 rooms");
  });
  test("100,000 rooms → 400", async () => {
    // Short names: the body stays under the 1 MB --max-payload (else 413).
    const r = await emit({ event: "news", rooms: Array.from({ length: 100000 }, (_, i) => String(i)) });
    assert.equal(r.status, 400);
    assert.match(r.json.message, /at most 1024 rooms/);
  });
});


// Every JSON message `ws` receives until it closes (or is silent for 3 s), and its close.
async function repliesThenClose(ws) {
  const replies = [];
  try {
    for (;;) replies.push(JSON.parse(await ws.next(3000)));
  } catch {}
  return { replies, closed: await ws.closed() };
}
describe("an invalid packet closes after the replies owed to the valid ones before it", () => {
  const N = 200;

  test("Socket.IO: N acks, then close 1002, nothing for what followed the invalid packet", async () => {
    const ws = rawWs(server.wsUrl + SIO_PATH);
    await ws.opened();
    assert.match(await ws.next(), /^0\{"sid"/);
    ws.send("40");
    assert.match(await ws.next(), /^40\{"sid"/);
    for (let i = 0; i < N; i++) ws.send(`42${i}["echo",${i}]`);
    ws.send("42{"); // invalid JSON
    for (let i = 0; i < 20; i++) ws.send(`42${N + i}["echo","after"]`);
    const replies = [];
    try {
      for (;;) replies.push(await ws.next(3000));
    } catch {}
    const closed = await ws.closed();
    assert.equal(replies.length, N, `${replies.length} replies of ${N}`);
    assert.deepEqual(replies, Array.from({ length: N }, (_, i) => `43${i}[${i}]`));
    assert.equal(closed.code, 1002, `close ${JSON.stringify(closed)}`);
  });

  test("plain JSON: N replies, then close 1003 for a binary frame", async () => {
    const ws = rawWs(`${server.wsUrl}/plain`);
    await ws.opened();
    for (let i = 0; i < N; i++) ws.send(JSON.stringify({ event: "echo", data: i }));
    ws.send(Buffer.from([1, 2, 3]));
    for (let i = 0; i < 20; i++) ws.send(JSON.stringify({ event: "echo", data: "after" }));
    const { replies, closed } = await repliesThenClose(ws);
    assert.equal(replies.length, N, `${replies.length} replies of ${N}`);
    assert.deepEqual(replies, Array.from({ length: N }, (_, i) => i));
    assert.equal(closed.code, 1003, `close ${JSON.stringify(closed)}`);
  });

  test("invalid UTF-8: N replies, then close 1007", async () => {
    const ws = rawWs(`${server.wsUrl}/plain`);
    await ws.opened();
    for (let i = 0; i < N; i++) ws.send(JSON.stringify({ event: "echo", data: i }));
    // ws refuses to send invalid UTF-8 as text; write the frame on its socket, after the rest.
    const payload = Buffer.from([0x7b, 0xc3, 0x28, 0x7d]);
    const key = Buffer.from([1, 2, 3, 4]);
    const masked = Buffer.from(payload.map((b, i) => b ^ key[i & 3]));
    ws._socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), key, masked]));
    const { replies, closed } = await repliesThenClose(ws);
    assert.equal(replies.length, N, `${replies.length} replies of ${N}`);
    assert.equal(closed.code, 1007, `close ${JSON.stringify(closed)}`);
  });

  test("the server is still fine afterwards", async () => {
    const res = await fetch(`${server.url}/healthz`);
    assert.equal(res.status, 200);
  });
});
