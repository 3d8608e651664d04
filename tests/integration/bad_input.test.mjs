// Bad input on a connection closes that connection with the right code, is counted, and never
// disturbs anyone else: Socket.IO parse errors (1002), binary attachments that break the rules
// (1002, 1009), binary frames on plain JSON (1003), and RFC 6455 framing errors built by hand (a
// one-byte close payload, invalid UTF-8, an unmasked client frame).
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
import { OP, closePayload, rawSocket } from "./wire.mjs";

const SCRIPTS = path.join(GATEWAYS, "bad_input");
const SIO_PATH = "/socket.io/?EIO=4&transport=websocket";
const INVALID = 'switchboard_invalid_packets_total{protocol="socketio"}';

let server;
let witness; // a well-behaved client that must keep working through every test
before(async () => {
  server = await startServer({ scripts: SCRIPTS, args: ["--ping-interval", "20000"] });
  witness = await connected(sio(server));
});
after(async (t) => {
  witness.close();
  await stopClean(t, server);
});

async function witnessStillServed(tag) {
  assert.equal(witness.connected, true, "the witness was disconnected");
  assert.equal(await witness.timeout(5000).emitWithAck("echo", tag), tag);
}

// A raw Engine.IO session, joined to "/" unless `join` is false.
async function session({ join = true } = {}) {
  const ws = rawWs(server.wsUrl + SIO_PATH);
  await ws.opened();
  assert.match(await ws.next(), /^0\{"sid"/);
  if (join) {
    ws.send("40");
    assert.match(await ws.next(), /^40\{"sid"/);
  }
  return ws;
}

describe("invalid Socket.IO / Engine.IO packets close with 1002", () => {
  const cases = [
    ["unknown Engine.IO type", "9"],
    ["empty text frame", ""],
    ["unknown Socket.IO type", "4x"],
    ["truncated JSON", "42{"],
    ["EVENT with an empty array", "42[]"],
    ["EVENT with a reserved name", '42["connect"]'],
    ["DISCONNECT with a payload", '41{"a":1}'],
    ["CONNECT_ERROR from a client", '44{"message":"x"}'],
    ["ack id too long", '420000000000000000000["e"]'],
  ];
  for (const [label, packet] of cases) {
    test(`${label}: ${JSON.stringify(packet)}`, async () => {
      const before = await metric(server, INVALID);
      const ws = await session();
      ws.send(packet);
      const closed = await ws.closed();
      assert.equal((await metric(server, INVALID)) - before, 1, "counted once as invalid");
      await witnessStillServed(label);
      assert.equal(closed.code, 1002, `close ${JSON.stringify(closed)}`);
    });
  }

  for (const [label, packet] of [
    ["unknown Engine.IO type before CONNECT", "9"],
    ["empty text frame before CONNECT", ""],
  ]) {
    test(label, async () => {
      const before = await metric(server, INVALID);
      const ws = await session({ join: false });
      ws.send(packet);
      const closed = await ws.closed();
      assert.equal((await metric(server, INVALID)) - before, 1);
      await witnessStillServed(label);
      assert.equal(closed.code, 1002, `close ${JSON.stringify(closed)}`);
    });
  }

  test("valid packets around the edges are accepted (ack id 0, numeric event name)", async () => {
    const ws = await session();
    ws.send('420["echo","zero"]');
    assert.equal(await ws.next(), '430["zero"]');
    ws.send('4299999["echo",1]');
    assert.equal(await ws.next(), '4399999[1]');
    // A number as the event name is the event of that name, as socket.io-parser reads it.
    ws.send("42[1]");
    assert.equal(
      await ws.next(),
      '42["exception",{"status":"error","message":"no handler for event \'1\'"}]',
    );
    await sleep(100);
    assert.equal(ws.closeInfo, null);
    ws.close();
  });

  // Valid JSON that jansson refuses by default: an integer outside the 64-bit range is a
  // number, as JSON.parse reads it (socket.io-client 4 sends 1e19 as 10000000000000000000).
  test("an integer outside the 64-bit range is a number, not invalid JSON", async () => {
    const before = await metric(server, INVALID);
    assert.equal(await witness.timeout(5000).emitWithAck("echo", 1e19), 1e19);
    assert.deepEqual(await witness.timeout(5000).emitWithAck("echo", [-1e20, 1, 2.5]), [-1e20, 1, 2.5]);
    const ws = await session();
    ws.send('420["echo",{"n":10000000000000000000,"k":9223372036854775807}]');
    const reply = await ws.next();
    assert.match(reply, /^430\[/);
    assert.deepEqual(JSON.parse(reply.slice(3)), [{ n: 1e19, k: 9223372036854775807 }]);
    ws.close();
    const plain = rawWs(server.wsUrl + "/");
    await plain.opened();
    plain.send('{"event":"echo","data":10000000000000000000}');
    assert.equal(JSON.parse(await plain.next()), 1e19);
    plain.close();
    assert.equal(await metric(server, INVALID), before);
  });
});

describe("binary packets and their attachments", () => {
  const PH = (n) => `{"_placeholder":true,"num":${n}}`;

  // Sends `packets` (strings are text frames, Buffers binary ones) and expects the connection
  // to close with `code`, counted as an invalid packet, the witness unaffected.
  async function closesWith(packets, code, { counted = true, reason } = {}) {
    const before = await metric(server, INVALID);
    const ws = await session();
    for (const p of packets) ws.send(p);
    const closed = await ws.closed();
    if (counted) assert.equal((await metric(server, INVALID)) - before, 1);
    await witnessStillServed("binary");
    assert.equal(closed.code, code, `close ${JSON.stringify(closed)}`);
    if (reason) assert.equal(closed.reason, reason);
  }

  test("a BINARY_EVENT and its attachment are one event; the ack is a BINARY_ACK", async () => {
    const ws = await session();
    ws.send(`451-["echo",{"f":${PH(0)}}]`);
    ws.send(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    ws.send(`451-1["echo",${PH(0)}]`);
    ws.send(Buffer.from([7]));
    assert.equal(await ws.next(), `461-1[${PH(0)}]`);
    assert.deepEqual(await ws.next(), Buffer.from([7]));
    ws.send('421["echo","after binary"]');
    assert.equal(await ws.next(), '431["after binary"]');
    assert.equal(ws.closeInfo, null);
    ws.close();
  });

  test("a binary frame with no binary packet before it closes with 1002", () =>
    closesWith([Buffer.from([1, 2, 3])], 1002));

  test("a text packet while attachments are expected closes with 1002", () =>
    closesWith([`452-["echo",${PH(0)},${PH(1)}]`, Buffer.from([1]), '421["echo",2]'], 1002));

  test("more than 10 attachments, or none, close with 1002", async () => {
    await closesWith([`4511-["echo",${PH(0)}]`], 1002, { reason: "too many attachments" });
    await closesWith(['450-["echo"]'], 1002, { reason: "invalid attachment count" });
  });

  test("a placeholder naming no attachment closes with 1002 once they came", () =>
    closesWith([`451-["echo",${PH(1)}]`, Buffer.from([1])], 1002));

  test("attachments over --max-payload in all close with 1009", async () => {
    const half = Buffer.alloc(600_000, 1); // each under the 1 MB default, both over it
    await closesWith([`452-["echo",${PH(0)},${PH(1)}]`, half, half], 1009, { counted: false });
  });

  test("plain JSON: a binary frame closes with 1003", async () => {
    const before = await metric(server, 'switchboard_invalid_packets_total{protocol="json"}');
    const ws = rawWs(`${server.wsUrl}/plain`);
    await ws.opened();
    ws.send(Buffer.from("{}"));
    const closed = await ws.closed();
    assert.equal(
      (await metric(server, 'switchboard_invalid_packets_total{protocol="json"}')) - before,
      1,
    );
    await witnessStillServed("json binary");
    assert.equal(closed.code, 1003, `close ${JSON.stringify(closed)}`);
  });
});

describe("RFC 6455 framing errors", () => {
  // A raw socket after the open packet (and CONNECT when `join`).
  async function raw(p = SIO_PATH, join = true) {
    const r = await rawSocket(server.port, p);
    if (p.startsWith("/socket.io")) {
      assert.match(await r.next(), /^0\{"sid"/);
      if (join) {
        r.text("40");
        assert.match(await r.next(), /^40\{"sid"/);
      }
    }
    return r;
  }

  test("a well-formed close frame is echoed with its code", async () => {
    const r = await raw();
    r.send(OP.CLOSE, closePayload(4000, "bye"));
    const closed = await r.closed();
    r.destroy();
    assert.equal(closed.code, 4000);
  });

  test("a close frame with a 1-byte payload gets close 1002", async () => {
    const r = await raw();
    r.send(OP.CLOSE, Buffer.from([0x03]));
    const closed = await r.closed();
    r.destroy();
    await witnessStillServed("close1");
    assert.equal(closed.code, 1002);
  });

  for (const [label, p] of [
    ["Socket.IO", SIO_PATH],
    ["plain JSON", "/plain"],
  ]) {
    test(`${label}: invalid UTF-8 in a text frame gets close 1007`, async () => {
      const r = await raw(p);
      // "42[" + an invalid sequence (0xC3 0x28) + "]"
      const bad = Buffer.from([0xc3, 0x28]);
      r.send(OP.TEXT, Buffer.concat([Buffer.from('42["'), bad, Buffer.from('"]')]));
      const closed = await r.closed();
      r.destroy();
      await witnessStillServed(`utf8 ${label}`);
      assert.equal(closed.code, 1007);
    });
  }

  test("invalid UTF-8 split across fragments gets close 1007", async () => {
    const r = await raw();
    r.send(OP.TEXT, Buffer.from([0x34, 0x32, 0xe2]), { fin: false });
    r.send(OP.CONT, Buffer.from([0x28, 0xa1]), { fin: true });
    const closed = await r.closed();
    r.destroy();
    assert.equal(closed.code, 1007);
  });

  // RFC 6455 5.1: "The server MUST close the connection upon receiving a frame that is not
  // masked", with 1002. libwebsockets 4.1.6 accepts such frames and its callback API does not
  // expose the mask bit, so this is a known gap (README, "Limits and bad input"): the test runs
  // and reports as TODO until the server can refuse them.
  test("an unmasked client frame gets close 1002 (RFC 6455 5.1)", {
    todo: "libwebsockets 4.1.6 accepts unmasked client frames and does not expose the mask bit",
  }, async () => {
    const r = await raw(SIO_PATH, false);
    r.send(OP.TEXT, Buffer.from("40"), { mask: false });
    let answered = null;
    try {
      answered = await r.next(3000);
    } catch {}
    // A server that answered will not close it: do not wait for that.
    const closed =
      answered === null
        ? await r.closed(3000).catch(() => ({ code: "still open" }))
        : { code: "still open" };
    r.destroy();
    await witnessStillServed("unmasked");
    assert.equal(answered, null, `the server processed the unmasked frame, answering ${answered}`);
    assert.equal(closed.code, 1002);
  });
});
