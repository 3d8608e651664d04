// Acknowledgements both ways (tests/integration/gateways/acks/): a handler's return values
// become the client's ack (no value or nil too, as socket.io's callback() and callback(null)),
// {event, data} becomes an event instead, a failing handler sends no ack, the server asks the
// client for an ack (with and without a timeout), and emits go out before the ack.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import { GATEWAYS, connected, once, rawWs, sio, sleep, startServer, stopClean } from "./helpers.mjs";

let server;
before(async () => {
  server = await startServer({ scripts: path.join(GATEWAYS, "acks") });
});
after(async (t) => {
  await stopClean(t, server);
});

// Emits `event` with `args` and resolves with every argument of the ack.
function ackArgs(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack for '${event}'`)), 5000);
    socket.emit(event, ...args, (...res) => {
      clearTimeout(timer);
      resolve(res);
    });
  });
}

test("emitWithAck and a callback get the handler's return value", async () => {
  const s = await connected(sio(server));
  try {
    assert.deepEqual(await s.timeout(5000).emitWithAck("echo", { a: [1, "x", null] }), {
      a: [1, "x", null],
    });
    assert.equal(await s.timeout(5000).emitWithAck("echo", "text"), "text");
    assert.equal(await s.timeout(5000).emitWithAck("echo", 0), 0);
    assert.equal(await s.timeout(5000).emitWithAck("echo", false), false);
    assert.deepEqual(await ackArgs(s, "echo", [3, 2, 1]), [[3, 2, 1]]);
  } finally {
    s.close();
  }
});

test("several return values become several ack arguments", async () => {
  const s = await connected(sio(server));
  try {
    assert.deepEqual(await ackArgs(s, "multi"), [1, "two", { three: 3 }, null]);
  } finally {
    s.close();
  }
});

test("a handler returning {event, data} emits that event and sends no ack", async () => {
  const s = await connected(sio(server));
  try {
    let acked = false;
    const replied = once(s, "replied");
    s.emit("reply", { q: 1 }, () => (acked = true));
    assert.deepEqual(await replied, [{ q: 1 }]);
    // Prove the ack would have had time to arrive: a later ack does.
    assert.equal(await s.timeout(5000).emitWithAck("echo", "later"), "later");
    assert.equal(acked, false, "NestJS sends no ack when the handler returns {event, data}");
  } finally {
    s.close();
  }
});

test("a handler returning nothing acks with no argument, `return nil` with null", async () => {
  const s = await connected(sio(server));
  try {
    // socket.io's callback() and callback(null): the client's callback gets no argument, or one.
    assert.deepEqual(await ackArgs(s, "nothing"), []);
    assert.deepEqual(await ackArgs(s, "null"), [null]);
    const before = once(s, "before");
    assert.deepEqual(await ackArgs(s, "bare_return", 7), []);
    assert.deepEqual(await before, [7], "what the handler emitted came too");
    assert.equal(await s.timeout(5000).emitWithAck("nothing"), undefined);
    assert.equal(await s.timeout(5000).emitWithAck("null"), null);
  } finally {
    s.close();
  }
});

test("raw wire: 43<id>[] for nothing, 43<id>[null] for nil, once; nothing without an ack id", async () => {
  const ws = rawWs(`${server.wsUrl}/socket.io/?EIO=4&transport=websocket`);
  try {
    await ws.opened();
    assert.match(await ws.next(), /^0\{/);
    ws.send("40");
    assert.match(await ws.next(), /^40\{"sid":/);
    ws.send('421["nothing"]');
    ws.send('422["null"]');
    ws.send('423["bare_return","x"]');
    ws.send('42["nothing"]'); // no ack asked: none sent
    ws.send('42["null"]');
    ws.send('424["echo","last"]');
    // In order, each ack once, and nothing for the events that asked none.
    assert.equal(await ws.next(), "431[]");
    assert.equal(await ws.next(), "432[null]");
    assert.equal(await ws.next(), '42["before","x"]');
    assert.equal(await ws.next(), "433[]");
    assert.equal(await ws.next(), '434["last"]');
    await assert.rejects(ws.next(200), /timeout/, "nothing more");
  } finally {
    ws.close();
  }
});

test("a handler that fails sends the exception event and no ack", async () => {
  const ws = rawWs(`${server.wsUrl}/socket.io/?EIO=4&transport=websocket`);
  try {
    await ws.opened();
    await ws.next(); // open
    ws.send("40");
    await ws.next(); // CONNECT reply
    ws.send('421["boom"]');
    ws.send('422["echo","after"]');
    assert.equal(await ws.next(), '42["exception",{"status":"error","message":"Internal server error"}]');
    // The next frame is the ack of 2: none came for 1.
    assert.equal(await ws.next(), '432["after"]');
  } finally {
    ws.close();
  }
});

test("plain JSON: a handler returning nothing or nil sends no frame", async () => {
  const ws = rawWs(`${server.wsUrl}/json`);
  try {
    await ws.opened();
    ws.send(JSON.stringify({ event: "nothing" }));
    ws.send(JSON.stringify({ event: "null" }));
    ws.send(JSON.stringify({ event: "echo", data: "x" }));
    // The first frame is the echo's value: none came for the two before it.
    assert.equal(await ws.next(), '"x"');
  } finally {
    ws.close();
  }
});

test("server -> client ack: the client's answer reaches Lua", async () => {
  const s = await connected(sio(server));
  try {
    s.on("question", (x, cb) => cb(x * 2, "second"));
    const answer = once(s, "answer");
    assert.equal(await s.timeout(5000).emitWithAck("ask", 21), "asked");
    assert.deepEqual(await answer, [{ err: null, a: 42, b: "second" }]);
  } finally {
    s.close();
  }
});

test("server -> client ack on the raw wire: EVENT with an ack id, ACK back", async () => {
  const ws = rawWs(`${server.wsUrl}/socket.io/?EIO=4&transport=websocket`);
  try {
    await ws.opened();
    await ws.next(); // open
    ws.send("40");
    await ws.next(); // CONNECT reply
    ws.send('425["ask",5]');
    const q = await ws.next();
    const m = /^42(\d+)\["question",5\]$/.exec(q);
    assert.ok(m, `an EVENT with an ack id, got ${q}`);
    assert.equal(await ws.next(), '435["asked"]');
    ws.send(`43${m[1]}["raw",{"k":true}]`);
    const answer = await ws.next();
    assert.ok(answer.startsWith("42["), answer);
    assert.deepEqual(JSON.parse(answer.slice(2)), ["answer", { err: null, a: "raw", b: { k: true } }]);
    // The same ack id again matches nothing any more: ignored, the connection stays usable.
    ws.send(`43${m[1]}["again"]`);
    ws.send('426["echo","still here"]');
    assert.equal(await ws.next(), '436["still here"]');
  } finally {
    ws.close();
  }
});

test("socket:timeout(ms):emit with a client that never acks -> 'operation has timed out'", async () => {
  const s = await connected(sio(server));
  try {
    const asked = [];
    s.on("question", (text, cb) => asked.push([text, typeof cb])); // never calls cb
    const answer = once(s, "answer");
    const t0 = Date.now();
    assert.equal(await s.timeout(5000).emitWithAck("ask_timeout", 100), "asked");
    assert.deepEqual(await answer, [{ err: "operation has timed out", a: null }]);
    assert.ok(Date.now() - t0 >= 90, "the callback waited for the timeout");
    assert.deepEqual(asked, [["will you answer?", "function"]]);
  } finally {
    s.close();
  }
});

test("socket:timeout(ms):emit answered in time -> no error", async () => {
  const s = await connected(sio(server));
  try {
    s.on("question", (text, cb) => cb("yes"));
    const answer = once(s, "answer");
    await s.timeout(5000).emitWithAck("ask_timeout", 3000);
    assert.deepEqual(await answer, [{ err: null, a: "yes" }]);
    // The timer was cancelled: no second callback (a timeout) comes later.
    const late = [];
    s.on("answer", (a) => late.push(a));
    await s.timeout(5000).emitWithAck("echo", 1);
    await sleep(100);
    assert.deepEqual(late, []);
  } finally {
    s.close();
  }
});

test("a client that disconnects before acking: the server survives and goes on", async () => {
  const s = await connected(sio(server));
  s.on("question", () => {}); // never acks
  await s.timeout(5000).emitWithAck("ask_timeout", 200);
  s.close(); // the pending ack fails with "socket disconnected" and its timer must go too
  await sleep(300); // past the timeout: a timer left armed would fire on a freed socket
  const s2 = await connected(sio(server));
  try {
    assert.equal(await s2.timeout(5000).emitWithAck("echo", "alive"), "alive");
  } finally {
    s2.close();
  }
});

test("when a handler both emits and acks, the emits arrive first", async () => {
  const s = await connected(sio(server));
  try {
    const order = [];
    for (const ev of ["first", "second", "third"]) s.on(ev, (v) => order.push([ev, v]));
    const ack = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no ack")), 5000);
      s.emit("emit_then_ack", (v) => {
        clearTimeout(timer);
        order.push(["ack", v]);
        resolve(v);
      });
    });
    assert.equal(ack, "ack");
    assert.deepEqual(order, [
      ["first", 1],
      ["second", 2],
      ["third", 3],
      ["ack", "ack"],
    ]);
  } finally {
    s.close();
  }
});

test("acks still pending at shutdown (with and without a timeout): a clean exit", async () => {
  const own = await startServer({ scripts: path.join(GATEWAYS, "acks") });
  let stopped = false;
  const s = sio(own);
  try {
    await connected(s);
    const questions = [];
    s.on("question", (x) => questions.push(x)); // never acks
    assert.equal(await s.timeout(5000).emitWithAck("ask", 1), "asked");
    assert.equal(await s.timeout(5000).emitWithAck("ask_timeout", 60000), "asked");
    assert.equal(questions.length, 2);
    const disconnected = once(s, "disconnect");
    const stopping = own.stop();
    // The server says goodbye to the namespace before it goes (no reconnection attempt).
    assert.deepEqual(await disconnected, ["io server disconnect", undefined]);
    const { code, signal } = await stopping;
    stopped = true;
    assert.equal(code, 0, `exit ${code ?? signal}:\n${own.log()}`);
  } finally {
    s.close();
    if (!stopped) await own.stop("SIGKILL");
  }
});
