// The plain JSON WebSocket protocol (NestJS WsAdapter frames {"event":…,"data":…}) on every path
// but /socket.io/ (tests/integration/gateways/plain_json/): replies, raw values, exceptions for
// bad input, binary frames, tokens from the query and the Authorization header, and the
// WebSocket ping/pong heartbeat.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  GATEWAYS,
  WebSocket,
  connected,
  rawWs,
  sio,
  sleep,
  startServer,
  stopClean,
} from "./helpers.mjs";

const DIR = path.join(GATEWAYS, "plain_json");
const PLUGINS = [`auth-static=${path.join(DIR, "tokens.txt")}`]; // json-token-1 jane, other-json-token-2 joe
const PING_MS = 200;

let server; // default heartbeat
let fast; // --ping-interval 200 --ping-timeout 200
before(async () => {
  [server, fast] = await Promise.all([
    startServer({ scripts: DIR, plugins: PLUGINS }),
    startServer({
      scripts: DIR,
      plugins: PLUGINS,
      args: ["--ping-interval", String(PING_MS), "--ping-timeout", String(PING_MS)],
    }),
  ]);
});
after(async (t) => {
  await stopClean(t, server);
  await stopClean(t, fast);
});

async function open(urlPath = "/", opts = {}, srv = server) {
  const ws = rawWs(`${srv.wsUrl}${urlPath}`, opts);
  await ws.opened();
  return ws;
}

const send = (ws, event, data) => ws.send(JSON.stringify({ event, data }));
const next = async (ws) => JSON.parse(await ws.next());
const exception = (message) => ({ event: "exception", data: { status: "error", message } });

for (const p of ["/", "/anything", "/deep/path?x=1"]) {
  test(`on ${p}: {"event":"events"} -> three {"event":"events","data":N} frames`, async () => {
    const ws = await open(p);
    try {
      send(ws, "events", 1);
      assert.deepEqual(await next(ws), { event: "events", data: 1 });
      assert.deepEqual(await next(ws), { event: "events", data: 2 });
      assert.deepEqual(await next(ws), { event: "events", data: 3 });
      // Exactly three: the next frame is the answer to the next request.
      send(ws, "number");
      assert.equal(await ws.next(), "7");
    } finally {
      ws.close();
    }
  });
}

test("a handler returning a plain value -> that value as a raw JSON frame", async () => {
  const ws = await open("/");
  try {
    send(ws, "value", { x: [1, null, "s"] });
    const frame = await ws.next();
    assert.deepEqual(JSON.parse(frame), { got: { x: [1, null, "s"] }, answer: 42 });
    send(ws, "number");
    assert.equal(await ws.next(), "7");
    // A frame without "data": the handler gets nil.
    ws.send('{"event":"value"}');
    assert.deepEqual(await next(ws), { answer: 42 });
  } finally {
    ws.close();
  }
});

test("socket.protocol is 'json' and the namespace '/'", async () => {
  const ws = await open("/anything");
  try {
    send(ws, "whoami");
    assert.deepEqual(await next(ws), {
      event: "whoami",
      data: { user: null, protocol: "json", namespace: "/" },
    });
  } finally {
    ws.close();
  }
});

test("unknown event -> exception \"no handler for event 'x'\", connection stays", async () => {
  const ws = await open("/");
  try {
    send(ws, "x", 1);
    assert.deepEqual(await next(ws), exception("no handler for event 'x'"));
    send(ws, "number");
    assert.equal(await ws.next(), "7");
  } finally {
    ws.close();
  }
});

test("invalid JSON -> exception 'invalid JSON', connection stays open", async () => {
  // Bystanders of both protocols, connected before the bad input.
  const other = await open("/other");
  const sioOther = await connected(sio(server));
  const sioDisconnects = [];
  sioOther.on("disconnect", (r) => sioDisconnects.push(r));
  const ws = await open("/");
  try {
    for (const bad of ["{nope", "", '{"event":"events"', "\u00e9"]) {
      ws.send(bad);
      assert.deepEqual(await next(ws), exception("invalid JSON"), `for ${JSON.stringify(bad)}`);
    }
    assert.equal(ws.readyState, WebSocket.OPEN);
    send(ws, "number");
    assert.equal(await ws.next(), "7");
    // The bystanders got nothing meanwhile (the exceptions went only to the sender), are still
    // open and still answered.
    assert.equal(other.closeInfo, null, "the plain JSON bystander was closed");
    send(other, "number");
    assert.equal(await other.next(), "7", "the bystander's first frame is its own answer");
    assert.deepEqual(sioDisconnects, [], "the Socket.IO bystander was disconnected");
    assert.equal(await sioOther.timeout(5000).emitWithAck("number"), 7);
  } finally {
    ws.close();
    other.close();
    sioOther.close();
  }
});

test('wrong shapes -> exception `expected {"event": string, "data": any}`', async () => {
  const ws = await open("/");
  try {
    const expected = exception('expected {"event": string, "data": any}');
    for (const bad of ["[1,2]", '{"data":1}', '{"event":5}', '"events"', "42", "null",
                       '{"event":""}', '{"event":null,"data":1}', '{"event":"a\\u0000b"}']) {
      ws.send(bad);
      assert.deepEqual(await next(ws), expected, `for ${bad}`);
    }
    send(ws, "number");
    assert.equal(await ws.next(), "7");
  } finally {
    ws.close();
  }
});

test("a binary frame closes the connection with 1003", async () => {
  const ws = await open("/");
  const closed = ws.closed();
  ws.send(Buffer.from([1, 2, 3]), { binary: true });
  const { code } = await closed;
  assert.equal(code, 1003);
});

test("?token= identifies the user", async () => {
  const ws = await open("/?token=json-token-1");
  try {
    send(ws, "whoami");
    assert.deepEqual((await next(ws)).data.user, "jane");
  } finally {
    ws.close();
  }
});

test("Authorization: Bearer identifies the user", async () => {
  const ws = await open("/anything", { headers: { Authorization: "Bearer other-json-token-2" } });
  try {
    send(ws, "whoami");
    assert.deepEqual((await next(ws)).data.user, "joe");
  } finally {
    ws.close();
  }
});

test("a bad token -> HTTP 401 before the upgrade", async () => {
  for (const [p, opts] of [
    ["/?token=not-a-token", {}],
    ["/x", { headers: { Authorization: "Bearer not-a-token" } }],
  ]) {
    const ws = rawWs(`${server.wsUrl}${p}`, opts);
    const status = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no response")), 5000);
      ws.once("unexpected-response", (req, res) => {
        clearTimeout(timer);
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ code: res.statusCode, body }));
      });
      ws.once("open", () => {
        clearTimeout(timer);
        reject(new Error("the upgrade was accepted"));
      });
    });
    assert.equal(status.code, 401, `for ${p}`);
    assert.deepEqual(JSON.parse(status.body), { message: "invalid token" });
    ws.terminate();
  }
});

test("a client's WebSocket ping is answered with a pong carrying its payload", async () => {
  const ws = await open("/");
  try {
    const pong = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no pong")), 5000);
      ws.once("pong", (data) => {
        clearTimeout(timer);
        resolve(data.toString());
      });
    });
    ws.ping("are you there");
    assert.equal(await pong, "are you there");
    send(ws, "number");
    assert.equal(await ws.next(), "7");
  } finally {
    ws.close();
  }
});

test("WebSocket pings are sent and the ws client's pongs keep the connection alive", async () => {
  const ws = await open("/", {}, fast);
  try {
    let pings = 0;
    ws.on("ping", () => pings++);
    // Well past ping-interval + ping-timeout (400 ms).
    await sleep(3 * (2 * PING_MS) + 100);
    assert.equal(ws.readyState, WebSocket.OPEN, "still open");
    assert.ok(pings >= 2, `the server pinged (${pings} pings)`);
    send(ws, "number");
    assert.equal(await ws.next(), "7");
  } finally {
    ws.close();
  }
});

test("a client that does not answer pings is closed after ping-interval + ping-timeout", async () => {
  const ws = await open("/", { autoPong: false }, fast);
  const t0 = Date.now();
  await ws.closed(5000);
  const elapsed = Date.now() - t0;
  assert.ok(elapsed >= 2 * PING_MS - 50, `closed after ${elapsed} ms`);
});

test("the ping-timeout close carries a close frame with 1008", async () => {
  const ws = await open("/", { autoPong: false }, fast);
  const closed = await ws.closed(5000);
  // 1006 would mean that no close frame was sent.
  assert.deepEqual(closed, { code: 1008, reason: "ping timeout" });
});
