// Binary events and acks (BINARY_EVENT / BINARY_ACK with placeholders) both ways, judged by the
// real clients: socket.io-client 4 on WebSocket, on polling and with its defaults (polling, then
// the upgrade), socket.io-client 2.x (Engine.IO v3: the type byte over WebSocket, `b4` base64
// over polling) and Debian's python3-socketio. A gateway (tests/integration/gateways/binary/)
// sees binary arguments as sb.binary values, and emits, acks and broadcasts them; plain JSON
// clients get a Buffer's JSON form. What crosses Redis is in cluster_mixed.test.mjs; the bad
// input of the WebSocket framing in bad_input.test.mjs.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import io2 from "socket.io-client-v2";

import {
  GATEWAYS,
  connected,
  io,
  once,
  rawWs,
  runPython,
  startServer,
  stopClean,
} from "./helpers.mjs";

const SCRIPTS = `${GATEWAYS}/binary`;
// Big enough for the 900 KB round trip over polling, whose POST carries it as base64 (the limit
// counts the body, as engine.io's maxHttpBufferSize does).
const MAX_PAYLOAD = 3_000_000;
const BIG = Buffer.alloc(900 * 1024, 0);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 7919) & 0xff;

let server;
before(async () => {
  server = await startServer({
    scripts: SCRIPTS,
    args: ["--max-payload", String(MAX_PAYLOAD), "--ping-interval", "300", "--ping-timeout", "300"],
  });
});
after(async (t) => {
  await stopClean(t, server);
});

const v4 = (transports) =>
  io(server.url, { transports, reconnection: false, forceNew: true, timeout: 5000 });

// socket.io-client 2.x: connect resolves, an error rejects.
function v3(transports) {
  const s = io2(server.url, { transports, reconnection: false, forceNew: true, timeout: 5000 });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no connect")), 5000);
    s.once("connect", () => (clearTimeout(timer), resolve(s)));
    s.once("connect_error", (e) => (clearTimeout(timer), reject(e)));
  });
}

// socket.emit with a callback, as a promise of all the ack's arguments.
function ask(s, event, ...args) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack for ${event}`)), 5000);
    s.emit(event, ...args, (...res) => (clearTimeout(timer), resolve(res)));
  });
}

// socket.io-client 2.x hands an ArrayBuffer-backed Buffer in Node; compare bytes.
const bytes = (b) => Buffer.from(b);

// The same checks for every client and transport.
async function roundTrips(s, transportWanted) {
  // A handler tells binary from text, and gets the bytes.
  assert.deepEqual(await ask(s, "inspect", Buffer.from([1, 2, 3]), "text"), [
    { kind: "binary", len: 3 },
    { kind: "string" },
  ]);
  // Nested binary comes back in the ack (BINARY_ACK), several in one.
  const [nested, second] = await ask(s, "echo", { a: [Buffer.from("hi")], b: 1 }, Buffer.alloc(0));
  assert.deepEqual({ ...nested, a: [bytes(nested.a[0])] }, { a: [Buffer.from("hi")], b: 1 });
  assert.equal(bytes(second).length, 0);
  // 900 KB each way, byte for byte.
  const [big] = await ask(s, "echo", BIG);
  assert.ok(bytes(big).equals(BIG), "900 KB came back changed");
  // An event with binary (BINARY_EVENT), inside a table and at the top.
  const got = once(s, "bytes");
  assert.deepEqual(await ask(s, "reply", Buffer.from([9, 8, 0, 255])), [true]);
  const [obj, top] = await got;
  assert.equal(obj.n, 4);
  assert.deepEqual(bytes(obj.payload), Buffer.from([9, 8, 0, 255]));
  assert.deepEqual(bytes(top), Buffer.from([9, 8, 0, 255]));
  // A binary the gateway made from a string.
  const [made, same, isBin] = await ask(s, "make", "abc\u00e9");
  assert.deepEqual(bytes(made), Buffer.from("abc\u00e9"));
  assert.equal(same, true);
  assert.equal(isBin, false);
  // The server asks, the client answers with binary (a BINARY_ACK to the server).
  s.once("question", (cb) => cb(Buffer.from([4, 2])));
  const answer = once(s, "answer");
  await ask(s, "ask");
  const [desc, echoed] = await answer;
  assert.deepEqual(desc, { kind: "binary", len: 2 });
  assert.deepEqual(bytes(echoed), Buffer.from([4, 2]));
  if (transportWanted) assert.equal(s.io.engine.transport.name, transportWanted);
}

describe("socket.io-client 4", () => {
  for (const [label, transports, name] of [
    ["WebSocket", ["websocket"], "websocket"],
    ["polling", ["polling"], "polling"],
    ["default options (polling, then the upgrade)", undefined, null],
  ]) {
    test(`binary both ways over ${label}`, async () => {
      const s = await connected(v4(transports));
      try {
        await roundTrips(s, name);
      } finally {
        s.close();
      }
    });
  }
});

describe("socket.io-client 2.x (Engine.IO v3)", () => {
  for (const [label, transports, name] of [
    ["WebSocket (the type byte)", ["websocket"], "websocket"],
    ["polling (b4 base64)", ["polling"], "polling"],
    ["default options", undefined, null],
  ]) {
    test(`binary both ways over ${label}`, async () => {
      const s = await v3(transports);
      try {
        await roundTrips(s, name);
      } finally {
        s.close();
      }
    });
  }
});

test("a broadcast with binary reaches v4, v3 and plain JSON sockets, each in its form", async () => {
  const a = await connected(v4(["polling"]));
  const b = await v3(["websocket"]);
  const plain = rawWs(server.wsUrl + "/");
  await plain.opened();
  try {
    const got = [once(a, "all"), once(b, "all")];
    const sent = Buffer.from([0, 1, 2, 250]);
    await ask(a, "broadcast", sent);
    for (const [bin, text] of await Promise.all(got)) {
      assert.deepEqual(bytes(bin), sent);
      assert.equal(text, "text");
    }
    // Plain JSON carries JSON text only: a Buffer as JSON.stringify writes it.
    assert.deepEqual(JSON.parse(await plain.next()), {
      event: "all",
      data: { type: "Buffer", data: [0, 1, 2, 250] },
    });
  } finally {
    a.close();
    b.close();
    plain.close();
  }
});

test("python3-socketio sends and receives bytes", async () => {
  const script = `
import socketio, sys
sio = socketio.Client(reconnection=False)
sio.connect(sys.argv[1], wait_timeout=5)
print(repr(sio.call('inspect', b'\\x00\\x01\\xfe', timeout=5)))
print(repr(sio.call('echo', {'k': b'\\xff\\x00'}, timeout=5)))
sio.disconnect()
`;
  const out = await runPython(script, [server.url]);
  assert.match(out, /'kind': 'binary'/);
  assert.match(out, /'len': 3/);
  assert.match(out, /\{'k': b'\\xff\\x00'\}/);
});

describe("limits and errors", () => {
  test("more than 10 binary values in one emit is the handler's error, not a packet", async () => {
    const s = await connected(v4(["websocket"]));
    try {
      const exc = once(s, "exception");
      s.emit("eleven", () => assert.fail("no ack after an error"));
      const [e] = await exc;
      assert.equal(e.status, "error");
      // Still served.
      assert.deepEqual(await ask(s, "echo", 1), [1]);
    } finally {
      s.close();
    }
  });

  test("binary where only JSON goes (sb.json.encode) is the handler's error", async () => {
    const s = await connected(v4(["websocket"]));
    try {
      const exc = once(s, "exception");
      s.emit("json_encode", Buffer.from([1]));
      const [e] = await exc;
      assert.equal(e.status, "error");
    } finally {
      s.close();
    }
  });

  test("an attachment that never comes closes with 1008 after ping-interval + ping-timeout", async () => {
    const ws = rawWs(`${server.wsUrl}/socket.io/?EIO=4&transport=websocket`);
    await ws.opened();
    assert.match(await ws.next(), /^0\{"sid"/);
    ws.send("40");
    assert.match(await ws.next(), /^40\{"sid"/);
    // Answer the heartbeat, so that only the attachments can time out.
    ws.on("message", (m) => m.toString() === "2" && ws.send("3"));
    const t0 = Date.now();
    ws.send('451-["echo",{"_placeholder":true,"num":0}]');
    const closed = await ws.closed(5000);
    assert.deepEqual(closed, { code: 1008, reason: "binary attachments timed out" });
    assert.ok(Date.now() - t0 >= 500, `closed after ${Date.now() - t0} ms`);
  });

  test("polling: an invalid base64 packet closes the session (README, Bad input)", async () => {
    const open = await (await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`)).text();
    const sid = JSON.parse(open.slice(1)).sid;
    const url = `${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
    await fetch(url, { method: "POST", body: "40" });
    assert.match(await (await fetch(url)).text(), /^40\{"sid"/);
    let res = await fetch(url, {
      method: "POST",
      body: '451-["echo",{"_placeholder":true,"num":0}]\x1eb!!!',
    });
    assert.equal(res.status, 200); // the body was read; what it held is judged after
    assert.equal(await (await fetch(url)).text(), "1", "the next GET gets the close");
    res = await fetch(url);
    assert.equal(res.status, 400, "the session is gone");
  });

  test("polling: a v4 `b` packet is an attachment, answered as base64", async () => {
    const open = await (await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`)).text();
    const sid = JSON.parse(open.slice(1)).sid;
    const url = `${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
    await fetch(url, { method: "POST", body: "40" });
    assert.match(await (await fetch(url)).text(), /^40\{"sid"/);
    const res = await fetch(url, {
      method: "POST",
      body: '451-3["echo",{"_placeholder":true,"num":0}]\x1ebAQID',
    });
    assert.equal(res.status, 200);
    assert.equal(
      await (await fetch(url)).text(),
      '461-3[{"_placeholder":true,"num":0}]\x1ebAQID',
    );
  });
});
