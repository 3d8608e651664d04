// Errors in gateways (tests/integration/gateways/errors/): what the client gets (`exception`
// events shaped like NestJS's WsException), what the log gets (a traceback with file:line), and
// that nothing else breaks: the same socket keeps working and the other sockets are untouched.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
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

const DIR = path.join(GATEWAYS, "errors");

let server;
before(async () => {
  server = await startServer({ scripts: DIR });
});
after(async (t) => {
  await stopClean(t, server);
});

// Emits `event` on `s` and resolves with the payload of the `exception` that follows; fails if
// an ack comes instead.
async function exceptionOf(s, event, ...args) {
  const exc = once(s, "exception");
  let acked = null;
  s.emit(event, ...args, (...a) => (acked = a));
  const [payload] = await exc;
  assert.equal(acked, null, "an erroring handler sends no ack");
  return payload;
}

// The socket still answers, and an unrelated socket is unaffected.
async function stillWorks(s, other, otherExceptions) {
  assert.equal(s.connected, true);
  assert.equal(await s.timeout(5000).emitWithAck("echo", "after"), "after");
  assert.equal(await other.timeout(5000).emitWithAck("echo", "other"), "other");
  assert.deepEqual(otherExceptions, [], "the other socket got no exception");
}

test("a Lua error -> exception 'Internal server error', traceback with file:line in the log", async () => {
  const s = await connected(sio(server));
  const other = await connected(sio(server));
  const otherExc = record(other, "exception");
  try {
    const errorsBefore = await metric(server, "switchboard_lua_errors_total");
    assert.deepEqual(await exceptionOf(s, "boom", 1), {
      status: "error",
      message: "Internal server error",
    });
    // The log has the message with the script's file:line and a stack traceback naming the
    // handler's line too. Nothing of it reaches the client. Files are named relative to the
    // scripts directory, so a long absolute path (CI clones deep) is never cut to "...tail".
    await server.waitForLog(/gateway errors, event 'boom' failed: errors\.lua:3: attempt to index/);
    const log = server.log();
    const at = log.indexOf("event 'boom' failed");
    const entry = log.slice(at, at + 2000);
    assert.doesNotMatch(entry, /\.\.\./, "no file name is truncated");
    assert.match(entry, /stack traceback:/);
    assert.match(entry, /errors\.lua:11:/, "the traceback names the handler's line (deep() call)");
    assert.equal(await metric(server, "switchboard_lua_errors_total"), errorsBefore + 1);
    await stillWorks(s, other, otherExc);

    // error("kaboom"): the message stays in the log, the client sees the generic text.
    assert.deepEqual(await exceptionOf(s, "raise"), {
      status: "error",
      message: "Internal server error",
    });
    await server.waitForLog(/event 'raise' failed: errors\.lua:15: kaboom/);
    await stillWorks(s, other, otherExc);
  } finally {
    s.close();
    other.close();
  }
});

test("sb.throw('nope') -> exception with message 'nope', not logged as a Lua error", async () => {
  const s = await connected(sio(server));
  const other = await connected(sio(server));
  const otherExc = record(other, "exception");
  try {
    const errorsBefore = await metric(server, "switchboard_lua_errors_total");
    assert.deepEqual(await exceptionOf(s, "nope"), { status: "error", message: "nope" });
    assert.equal(await metric(server, "switchboard_lua_errors_total"), errorsBefore);
    await stillWorks(s, other, otherExc);
  } finally {
    s.close();
    other.close();
  }
});

test("error(sb.exception({code=1})) -> the exception payload is that table", async () => {
  const s = await connected(sio(server));
  const other = await connected(sio(server));
  const otherExc = record(other, "exception");
  try {
    assert.deepEqual(await exceptionOf(s, "object"), { code: 1, detail: "structured" });
    await stillWorks(s, other, otherExc);
  } finally {
    s.close();
    other.close();
  }
});

test("a return value that cannot be encoded -> 'Internal server error' and a log line", async () => {
  const s = await connected(sio(server));
  const other = await connected(sio(server));
  const otherExc = record(other, "exception");
  try {
    assert.deepEqual(await exceptionOf(s, "unsendable"), {
      status: "error",
      message: "Internal server error",
    });
    await server.waitForLog(/event 'unsendable' returned a value that cannot be sent/);
    await stillWorks(s, other, otherExc);
  } finally {
    s.close();
    other.close();
  }
});

test("an unknown event -> exception \"no handler for event 'x'\"", async () => {
  const s = await connected(sio(server));
  const other = await connected(sio(server));
  const otherExc = record(other, "exception");
  try {
    assert.deepEqual(await exceptionOf(s, "x", 1, 2), {
      status: "error",
      message: "no handler for event 'x'",
    });
    await stillWorks(s, other, otherExc);
  } finally {
    s.close();
    other.close();
  }
});

test("on_connect raising sb.throw('banned') -> exception, then 'io server disconnect'", async () => {
  const other = await connected(sio(server));
  const otherExc = record(other, "exception");
  const s = sio(server, {}, "/banned");
  const events = [];
  s.on("connect", () => events.push(["connect"]));
  s.on("exception", (e) => events.push(["exception", e]));
  s.on("connect_error", (e) => events.push(["connect_error", e.message]));
  const disconnected = once(s, "disconnect");
  try {
    const [reason] = await disconnected;
    assert.equal(reason, "io server disconnect");
    // socket.io-client drops events that arrive before "connect"; the server sends CONNECT
    // first (as socket.io runs connection handlers after the client knows it is in), so the
    // exception is seen.
    assert.deepEqual(events, [
      ["connect"],
      ["exception", { status: "error", message: "banned" }],
    ]);
    assert.equal(s.connected, false);
    await stillWorks(other, other, otherExc);
  } finally {
    s.close();
    other.close();
  }
});

test("on_connect refusal on the raw wire: 40 reply, exception, 41; the connection stays", async () => {
  const ws = rawWs(`${server.wsUrl}/socket.io/?EIO=4&transport=websocket`);
  try {
    await ws.opened();
    assert.match(await ws.next(), /^0\{/);
    ws.send("40/banned,");
    assert.match(await ws.next(), /^40\/banned,\{"sid":/);
    const exc = await ws.next();
    assert.ok(exc.startsWith("42/banned,"), exc);
    assert.deepEqual(JSON.parse(exc.slice("42/banned,".length)), [
      "exception",
      { status: "error", message: "banned" },
    ]);
    assert.equal(await ws.next(), "41/banned,");
    // Events to /banned are now ignored; "/" is still reachable on this connection.
    ws.send('42/banned,1["echo",1]');
    ws.send("40");
    assert.match(await ws.next(), /^40\{"sid":/);
    ws.send('422["echo","ok"]');
    assert.equal(await ws.next(), '432["ok"]');
  } finally {
    ws.close();
  }
});

test("many errors in a row do not wear anything out", async () => {
  const s = await connected(sio(server));
  try {
    const exc = record(s, "exception");
    for (let i = 0; i < 20; i++) s.emit(i % 2 ? "boom" : "nope");
    assert.equal(await s.timeout(5000).emitWithAck("echo", "done"), "done");
    assert.equal(exc.length, 20);
    assert.equal(exc.filter((e) => e.message === "nope").length, 10);
    assert.equal(exc.filter((e) => e.message === "Internal server error").length, 10);
    await sleep(10);
  } finally {
    s.close();
  }
});
