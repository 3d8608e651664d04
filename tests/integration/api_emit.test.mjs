// POST /api/emit: server-side publishing guarded by --api-key. Real clients (socket.io-client and
// a plain JSON WebSocket) must receive what the endpoint accepts, with rooms, except and
// namespaces honoured; every refusal has its status and message; requests are counted in
// /metrics; the key never reaches the log, even at --log-level debug.
import assert from "node:assert/strict";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import {
  GATEWAYS,
  connected,
  metric,
  once,
  rawWs,
  record,
  sio,
  sleep,
  startServer,
  stopClean,
} from "./helpers.mjs";
import { rawHttp } from "./wire.mjs";

const SCRIPTS = path.join(GATEWAYS, "api_emit");
const KEY = "api-key-7f3a9c21e4b8d6053f1e2a9b";
const BASIC = Buffer.from(`x:${KEY}`).toString("base64");
const WRONG_KEYS = [
  "api-key-7f3a9c21e4b8d6053f1e2a9c", // last character differs
  "api-key-7f3a9c21e4b8d6053f1e2a9", // a prefix
  "api-key-7f3a9c21e4b8d6053f1e2a9bX", // one character more
  "",
];
// What arrives late would have arrived by now: the server queues a broadcast on every target
// before it answers the request.
const QUIET_MS = 150;

// POSTs to /api/emit. `body` is an object (sent as JSON) or a string (sent as is).
async function post(server, body, { key = KEY, type = "application/json", headers = {} } = {}) {
  const h = { ...headers };
  if (key !== null) h.authorization = `Bearer ${key}`;
  if (type !== null) h["content-type"] = type;
  const res = await fetch(`${server.url}/api/emit`, {
    method: "POST",
    headers: h,
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, text, json };
}

// Sends `requests` one after the other on one TCP connection, each after the answer to the
// previous one, and resolves with their statuses (stops early when the server closes).
function sequential(port, requests, ms = 5000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1");
    const statuses = [];
    let buf = "";
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`timeout after ${JSON.stringify(statuses)}`));
    }, ms);
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(statuses);
    };
    sock.on("error", () => {});
    sock.on("close", done);
    sock.on("data", (d) => {
      buf += d.toString("latin1");
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buf.slice(0, end);
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        const len = cl ? Number(cl[1]) : 0;
        if (buf.length < end + 4 + len) return;
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)[1]);
        buf = buf.slice(end + 4 + len);
        if (status === 100) continue;
        statuses.push(status);
        if (statuses.length === requests.length) return done();
        sock.write(requests[statuses.length]);
      }
    });
    sock.write(requests[0]);
  });
}

describe("POST /api/emit with --api-key", () => {
  let server;
  const open = [];

  before(async () => {
    server = await startServer({
      scripts: SCRIPTS,
      args: ["--api-key", KEY, "--log-level", "debug"],
    });
  });
  after(async (t) => {
    for (const s of open.splice(0)) s.close();
    await stopClean(t, server);
    // The key (and the wrong ones tried) never reach the log, whatever the level.
    const log = server.log();
    assert.ok(log.includes("/api/emit"), "the debug log mentions the API requests");
    for (const k of [KEY, ...WRONG_KEYS.filter(Boolean)])
      assert.ok(!log.includes(k), `the key ${k} appears in the log`);
  });

  async function client(nsp = "/") {
    const s = sio(server, {}, nsp);
    open.push(s);
    return connected(s);
  }
  async function jsonClient() {
    const ws = rawWs(`${server.wsUrl}/`);
    open.push(ws);
    await ws.opened();
    return ws;
  }
  async function closeAll() {
    for (const s of open.splice(0)) s.close();
    const end = Date.now() + 5000;
    while ((await metric(server, "switchboard_sockets")) !== 0 && Date.now() < end) await sleep(10);
  }

  test("an accepted emit reaches Socket.IO and plain JSON clients: 202 {delivered}", async () => {
    const a = await client();
    const b = await client();
    const j = await jsonClient();
    const gotA = once(a, "news");
    const gotB = once(b, "news");
    const res = await post(server, { event: "news", data: { title: "hello", n: 1 } });
    assert.equal(res.status, 202, res.text);
    assert.match(res.headers.get("content-type"), /^application\/json/);
    assert.deepEqual(res.json, { delivered: 3 });
    assert.deepEqual(await gotA, [{ title: "hello", n: 1 }]);
    assert.deepEqual(await gotB, [{ title: "hello", n: 1 }]);
    assert.deepEqual(JSON.parse(await j.next()), { event: "news", data: { title: "hello", n: 1 } });
    await closeAll();
  });

  test("namespace defaults to '/', and '/' explicitly is the same", async () => {
    const a = await client();
    const got = once(a, "ping2");
    const res = await post(server, { namespace: "/", event: "ping2" });
    assert.equal(res.status, 202, res.text);
    assert.deepEqual(res.json, { delivered: 1 });
    assert.deepEqual(await got, []); // no data: an event without arguments
    await closeAll();
  });

  test("data that is an array is one argument; args carries several", async () => {
    const a = await client();
    const j = await jsonClient();
    const got = record(a, "multi");
    let res = await post(server, { event: "multi", data: [1, 2, 3] });
    assert.equal(res.status, 202, res.text);
    assert.deepEqual(JSON.parse(await j.next()), { event: "multi", data: [1, 2, 3] });
    res = await post(server, { event: "multi", args: ["one", { two: 2 }, [3], null] });
    assert.equal(res.status, 202, res.text);
    // A plain JSON client gets the first argument as its data.
    assert.deepEqual(JSON.parse(await j.next()), { event: "multi", data: "one" });
    res = await post(server, { event: "multi", data: null });
    assert.equal(res.status, 202, res.text);
    assert.deepEqual(JSON.parse(await j.next()), { event: "multi", data: null });
    const end = Date.now() + 5000;
    while (got.length < 3 && Date.now() < end) await sleep(10);
    // record() unwraps a single argument.
    assert.deepEqual(got, [[1, 2, 3], ["one", { two: 2 }, [3], null], null]);
    await closeAll();
  });

  test("rooms and except are honoured (a socket id counts as a room)", async () => {
    const a = await client();
    const b = await client();
    const c = await client();
    const j = await jsonClient();
    assert.deepEqual((await a.emitWithAck("join", ["r1"])).sort(), [a.id, "r1"].sort());
    await b.emitWithAck("join", ["r1", "r2"]);
    await c.emitWithAck("join", ["r2"]);
    j.send(JSON.stringify({ event: "join", data: ["r1"] }));
    await j.next(); // its ack
    j.send(JSON.stringify({ event: "id" }));
    const jid = JSON.parse(await j.next());
    assert.equal(await a.emitWithAck("id"), a.id);

    const got = { a: record(a, "room"), b: record(b, "room"), c: record(c, "room"), j: [] };
    j.on("message", (d) => {
      const m = JSON.parse(d.toString());
      if (m.event === "room") got.j.push(m.data);
    });
    const cases = [
      [{ rooms: ["r1"] }, ["a", "b", "j"]],
      [{ rooms: ["r2"] }, ["b", "c"]],
      [{ rooms: ["r1", "r2"] }, ["a", "b", "c", "j"]],
      [{ rooms: ["r1"], except: ["r2"] }, ["a", "j"]],
      [{ rooms: ["r1"], except: [a.id, jid] }, ["b"]],
      [{ except: ["r1"] }, ["c"]],
      [{ rooms: [], except: [] }, ["a", "b", "c", "j"]],
      [{ rooms: ["nobody-here"] }, []],
    ];
    for (const [i, [target, who]] of cases.entries()) {
      const res = await post(server, { ...target, event: "room", data: i });
      assert.equal(res.status, 202, res.text);
      assert.deepEqual(res.json, { delivered: who.length }, JSON.stringify(target));
      await sleep(QUIET_MS);
      for (const name of ["a", "b", "c", "j"]) {
        const expected = who.includes(name) ? [i] : [];
        assert.deepEqual(got[name].splice(0), expected, `${name} for ${JSON.stringify(target)}`);
      }
    }
    await closeAll();
  });

  test("namespace '/other' reaches only the sockets of '/other'", async () => {
    const root = await client();
    const other = await client("/other");
    const j = await jsonClient();
    const inRoot = record(root, "ns");
    const inOther = once(other, "ns");
    const res = await post(server, { namespace: "/other", event: "ns", data: "for /other" });
    assert.equal(res.status, 202, res.text);
    assert.deepEqual(res.json, { delivered: 1 });
    assert.deepEqual(await inOther, ["for /other"]);
    await sleep(QUIET_MS);
    assert.deepEqual(inRoot, []);
    await assert.rejects(j.next(50)); // a plain JSON client lives in "/"
    // A namespace no gateway declares: accepted (other instances may serve it), nobody here.
    const none = await post(server, { namespace: "/nowhere", event: "ns" });
    assert.equal(none.status, 202, none.text);
    assert.deepEqual(none.json, { delivered: 0 });
    await closeAll();
  });

  test("no key, a wrong key or another scheme → 401 with WWW-Authenticate: Bearer", async () => {
    const a = await client();
    const got = record(a, "secret");
    const attempts = [
      { key: null },
      ...WRONG_KEYS.map((key) => ({ key })),
      { key: null, headers: { authorization: `Basic ${BASIC}` } },
      { key: null, headers: { authorization: KEY } },
    ];
    for (const opts of attempts) {
      const res = await post(server, { event: "secret", data: 1 }, opts);
      assert.equal(res.status, 401, JSON.stringify(opts));
      assert.equal(res.headers.get("www-authenticate"), "Bearer");
      assert.deepEqual(res.json, { message: "unauthorized" });
    }
    // The scheme is case-insensitive.
    const ok = await post(server, { event: "secret", data: 2 }, {
      key: null,
      headers: { authorization: `bearer ${KEY}` },
    });
    assert.equal(ok.status, 202, ok.text);
    await sleep(QUIET_MS);
    assert.deepEqual(got, [2]); // nothing refused was delivered
    await closeAll();
  });

  const BAD = [
    ["not JSON", "{event: news}", /^invalid JSON/],
    ["an empty body", "", /^invalid JSON: empty body$/],
    ["JSON that is not an object", "[1,2]", /must be a JSON object/],
    ["no event", { data: 1 }, /^event is required$/],
    ["an empty event", { event: "" }, /^event must be a non-empty string$/],
    ["an event that is not a string", { event: 42 }, /^event must be a non-empty string$/],
    ["the reserved event 'connect'", { event: "connect" }, /reserved/],
    ["the reserved event 'disconnect'", { event: "disconnect" }, /reserved/],
    ["the reserved event 'connect_error'", { event: "connect_error" }, /reserved/],
    ["rooms that is a string", { event: "e", rooms: "r1" }, /^rooms must be an array/],
    ["rooms with a number", { event: "e", rooms: ["r1", 2] }, /^rooms must be an array/],
    ["rooms with an empty name", { event: "e", rooms: [""] }, /^rooms must be an array/],
    ["except that is an object", { event: "e", except: { r: 1 } }, /^except must be an array/],
    ["except with null", { event: "e", except: [null] }, /^except must be an array/],
    ["both data and args", { event: "e", data: 1, args: [1] }, /not both/],
    ["args that is not an array", { event: "e", args: "x" }, /^args must be an array$/],
    ["a namespace without '/'", { event: "e", namespace: "other" }, /^namespace must be/],
    ["a namespace that is not a string", { event: "e", namespace: 1 }, /^namespace must be/],
    ["an unknown field (a typo of rooms)", { event: "e", room: "r1" }, /^unknown field 'room'/],
    ["a duplicate key", '{"event":"a","event":"b"}', /^invalid JSON/],
  ];
  for (const [what, body, message] of BAD) {
    test(`400 on ${what}`, async () => {
      const res = await post(server, body);
      assert.equal(res.status, 400, res.text);
      assert.match(res.headers.get("content-type"), /^application\/json/);
      assert.equal(typeof res.json?.message, "string", res.text);
      assert.match(res.json.message, message);
    });
  }

  test("a refused request delivers nothing", async () => {
    const a = await client();
    const got = record(a, "e");
    for (const [, body] of BAD) await post(server, body);
    await sleep(QUIET_MS);
    assert.deepEqual(got, []);
    await closeAll();
  });

  test("415 on a Content-Type other than application/json, or none", async () => {
    const types = ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", null];
    for (const type of types) {
      const res = await post(server, { event: "e" }, { type });
      assert.equal(res.status, 415, String(type));
      assert.equal(typeof res.json.message, "string");
    }
    const withCharset = await post(
      server,
      { event: "e" },
      { type: "application/json; charset=utf-8" },
    );
    assert.equal(withCharset.status, 202, withCharset.text);
  });

  test("405 with Allow: POST on GET (and other methods)", async () => {
    for (const method of ["GET", "PUT", "DELETE"]) {
      const res = await fetch(`${server.url}/api/emit`, {
        method,
        headers: { authorization: `Bearer ${KEY}` },
      });
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.get("allow"), "POST", method);
      await res.text();
    }
  });

  test("413 on a body over the limit (1 MiB, or --max-payload when smaller)", async () => {
    const a = await client();
    const got = record(a, "big");
    // The default --max-payload (1000000) is the smaller one.
    const over = await post(server, { event: "big", data: "x".repeat(1_000_000) });
    assert.equal(over.status, 413, over.text.slice(0, 200));
    // fetch writes the whole body before it reads: with more in flight than the socket buffers
    // hold, it must still get the answer, not a broken pipe.
    const res = await post(server, { event: "big", data: "x".repeat(6_000_000) });
    assert.equal(res.status, 413, res.text.slice(0, 200));
    assert.equal(res.headers.get("connection"), "close");
    assert.match(res.json.message, /over 1000000 bytes/);
    // A body just under the limit is fine.
    const fits = await post(server, { event: "big", data: "y".repeat(999_000) });
    assert.equal(fits.status, 202);
    await sleep(QUIET_MS);
    assert.equal(got.length, 1);
    assert.equal(got[0].length, 999_000);
    await closeAll();
  });

  test("413 is answered from the headers, before any of the body is sent", async () => {
    const t0 = Date.now();
    const res = await rawHttp(
      server.port,
      `POST /api/emit HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n` +
        `Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n`,
      3000,
    );
    assert.equal(res.status, 413);
    assert.ok(Date.now() - t0 < 2000, `answered after ${Date.now() - t0} ms`);
  });

  test("a chunked body → 411", async () => {
    const res = await rawHttp(
      server.port,
      `POST /api/emit HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n` +
        `Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n` +
        `d\r\n{"event":"e"}\r\n0\r\n\r\n`,
      3000,
    );
    assert.equal(res.status, 411);
  });

  test("several requests, accepted and refused, on one keep-alive connection", async () => {
    const a = await client();
    const got = record(a, "ka");
    const req = (body, key = KEY) =>
      `POST /api/emit HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const statuses = await sequential(server.port, [
      req('{"event":"ka","data":1}'),
      req('{"event":"connect"}'),
      req('{"event":"ka","data":2}'),
      req("{}", "wrong"), // a 401 with a body: answered, then the connection closes
    ]);
    assert.deepEqual(statuses, [202, 400, 202, 401]);
    await sleep(QUIET_MS);
    assert.deepEqual(got, [1, 2]);
    await closeAll();
  });

  test("a WebSocket upgrade on a connection that posted to /api/emit first", async () => {
    // The body of a POST and a WebSocket's connection ride on the same lws handle, one after
    // the other: the first must be gone when the second comes.
    const sock = net.connect(server.port, "127.0.0.1");
    let buf = Buffer.alloc(0);
    sock.on("data", (d) => (buf = Buffer.concat([buf, d])));
    sock.on("error", () => {});
    const until = async (pred, what) => {
      const end = Date.now() + 5000;
      while (!pred() && Date.now() < end) await sleep(10);
      assert.ok(pred(), `${what}: ${buf.toString("latin1")}`);
    };
    await new Promise((resolve) => sock.on("connect", resolve));
    const body = '{"event":"first"}';
    sock.write(
      `POST /api/emit HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    await until(() => /\{"delivered":\d+\}/.test(buf.toString("latin1")), "the POST's answer");
    assert.match(buf.toString("latin1"), /^HTTP\/1\.1 202/);
    buf = Buffer.alloc(0);
    sock.write(
      "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    await until(() => buf.includes("\r\n\r\n"), "the upgrade's answer");
    assert.match(buf.toString("latin1"), /^HTTP\/1\.1 101/);
    buf = buf.subarray(buf.indexOf("\r\n\r\n") + 4);
    const res = await post(server, { event: "second", data: 2 });
    assert.equal(res.status, 202, res.text);
    assert.ok(res.json.delivered >= 1);
    await until(() => buf.length >= 2 && buf.length >= 2 + buf[1], "the WebSocket frame");
    assert.equal(buf[0], 0x81); // a final text frame
    assert.deepEqual(JSON.parse(buf.subarray(2, 2 + buf[1]).toString()), {
      event: "second",
      data: 2,
    });
    sock.destroy();
    await closeAll();
  });

  test("clients that hang up in the middle of a body leave nothing behind", async () => {
    // Under ASan a body never freed fails the run at exit (stopClean): one hangs up while its
    // body is being received, one while the body of a refused request is being dropped.
    const head = (key, length) =>
      `POST /api/emit HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;
    for (const request of [head(KEY, 1000) + '{"event":"half', head("wrong", 1000) + "{}"]) {
      const sock = net.connect(server.port, "127.0.0.1");
      await new Promise((resolve) => sock.on("connect", resolve));
      sock.write(request);
      await sleep(50);
      sock.destroy();
    }
    await sleep(50);
    const res = await post(server, { event: "after" });
    assert.equal(res.status, 202, res.text);
  });

  test("accepted and refused requests are counted in /metrics", async () => {
    const emits = await metric(server, "switchboard_api_emits_total");
    const errors = await metric(server, "switchboard_api_errors_total");
    assert.ok(emits > 0 && errors > 0, "the earlier tests were counted");
    assert.equal((await post(server, { event: "m1" })).status, 202);
    assert.equal((await post(server, { event: "m2", rooms: ["x"] })).status, 202);
    assert.equal((await post(server, { event: "m3" }, { key: "nope" })).status, 401);
    assert.equal((await post(server, { event: "connect" })).status, 400);
    assert.equal((await post(server, { event: "m4" }, { type: "text/plain" })).status, 415);
    assert.equal((await fetch(`${server.url}/api/emit`)).status, 405);
    assert.equal(await metric(server, "switchboard_api_emits_total"), emits + 2);
    assert.equal(await metric(server, "switchboard_api_errors_total"), errors + 4);
  });
});

describe("POST /api/emit with a --max-payload under 1 MiB", () => {
  let server;
  before(async () => {
    server = await startServer({
      scripts: SCRIPTS,
      env: { SWITCHBOARD_API_KEY: KEY },
      args: ["--max-payload", "1000"],
    });
  });
  after(async (t) => {
    await stopClean(t, server);
  });

  test("the limit is --max-payload", async () => {
    const over = await post(server, { event: "e", data: "x".repeat(1000) });
    assert.equal(over.status, 413);
    assert.match(over.json.message, /over 1000 bytes/);
    const under = await post(server, { event: "e", data: "x".repeat(900) });
    assert.equal(under.status, 202, under.text);
  });
});

describe("POST /api/emit without --api-key", () => {
  let server, emptyKey;
  before(async () => {
    server = await startServer({ scripts: SCRIPTS });
    // An empty key (SWITCHBOARD_API_KEY= in a compose file) leaves the endpoint off too.
    emptyKey = await startServer({ scripts: SCRIPTS, env: { SWITCHBOARD_API_KEY: "" } });
  });
  after(async (t) => {
    await stopClean(t, server);
    await stopClean(t, emptyKey);
  });

  test("an empty key does not enable the endpoint", async () => {
    for (const key of ["", null]) {
      const res = await post(emptyKey, { event: "e" }, { key });
      assert.equal(res.status, 404);
      assert.deepEqual(res.json, { message: "not found" });
    }
  });

  test("the endpoint does not exist: 404 {message: 'not found'}", async () => {
    const a = sio(server);
    await connected(a);
    const got = record(a, "e");
    for (const key of [KEY, null, ""]) {
      const res = await post(server, { event: "e", data: 1 }, { key });
      assert.equal(res.status, 404);
      assert.deepEqual(res.json, { message: "not found" });
    }
    const get = await fetch(`${server.url}/api/emit`);
    assert.equal(get.status, 404);
    await get.text();
    await sleep(QUIET_MS);
    assert.deepEqual(got, []);
    assert.equal(await metric(server, "switchboard_api_emits_total"), 0);
    a.close();
  });
});
