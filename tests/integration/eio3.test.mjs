// socket.io 2.x clients (Engine.IO v3, Socket.IO protocol v4), judged by the real client from npm
// (socket.io-client 2.5, the `socket.io-client-v2` alias): polling with its `<length>:` payloads,
// the upgrade, WebSocket, client-driven heartbeats, the implicit connection to `/`, a namespace
// with its query, string refusals, acks both ways, non-ASCII text; and `--allow-eio3=false`.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import io2 from "socket.io-client-v2";

import {
  DEMO_PLUGINS,
  GATEWAYS,
  metric,
  sleep,
  startServer,
  stopClean,
} from "./helpers.mjs";

// A socket.io-client 2.x socket; its default transports (polling, then the upgrade) unless
// `transports` says otherwise. No reconnection: a failure is the test's.
function client2(server, nsp = "/", opts = {}) {
  return io2(server.url + (nsp === "/" ? "" : nsp), {
    reconnection: false,
    forceNew: true,
    timeout: 5000,
    ...opts,
  });
}

// Resolves at `connect`, rejects at the first `error` / `connect_error` (2.x has both).
function connected2(s, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no connect")), ms);
    s.once("connect", () => (clearTimeout(timer), resolve(s)));
    s.once("connect_error", (e) => (clearTimeout(timer), reject(e)));
    s.once("error", (e) => (clearTimeout(timer), reject(new Error(String(e)))));
  });
}

// socket.emit with an ack callback, as a promise of the ack's arguments.
function ask(s, event, ...args) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack for ${event}`)), 3000);
    s.emit(event, ...args, (...answer) => (clearTimeout(timer), resolve(answer)));
  });
}

function record(s, event) {
  const got = [];
  s.on(event, (d) => got.push(d));
  return got;
}

async function until(cond, what, ms = 3000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const upgraded = (s) =>
  new Promise((resolve) => {
    if (s.io.engine.transport.name === "websocket") return resolve();
    s.io.engine.once("upgrade", resolve);
  });

describe("the seed's demo with socket.io 2.x clients", () => {
  let server;
  before(async () => {
    server = await startServer({ plugins: DEMO_PLUGINS });
  });
  after(async (t) => {
    await stopClean(t, server);
  });

  test("default options poll then upgrade; alice's polling and WebSocket sockets get 1, 2, 3 once, the anonymous none", async () => {
    const upgrades = await metric(server, "switchboard_upgrades_total");
    const a = client2(server, "/", { query: { token: "alice-token" } });
    await connected2(a);
    await upgraded(a);
    assert.equal(a.io.engine.transport.name, "websocket");
    assert.equal(await metric(server, "switchboard_upgrades_total"), upgrades + 1);
    const b = await connected2(
      client2(server, "/", { transports: ["polling"], query: { token: "alice-token" } }),
    );
    const anon = await connected2(client2(server, "/", { transports: ["websocket"] }));
    const got = { a: record(a, "events"), b: record(b, "events"), anon: record(anon, "events") };
    b.emit("events", {});
    await until(() => got.a.length >= 3 && got.b.length >= 3, "events 1, 2, 3");
    await sleep(200); // a duplicate would be here by now
    assert.deepEqual(got, { a: [1, 2, 3], b: [1, 2, 3], anon: [] });
    assert.equal(b.io.engine.transport.name, "polling");
    for (const s of [a, b, anon]) s.close();
  });
});

describe("socket.io 2.x: the protocol", () => {
  let server;
  before(async () => {
    server = await startServer({
      scripts: `${GATEWAYS}/eio3`,
      plugins: DEMO_PLUGINS.slice(0, 1),
      args: ["--ping-interval", "300", "--ping-timeout", "400"],
    });
  });
  after(async (t) => {
    await stopClean(t, server);
  });

  for (const transports of [["polling"], ["websocket"]]) {
    const over = transports[0];
    test(`${over}: acks both ways, non-ASCII text (UTF-16 lengths over polling)`, async () => {
      const s = await connected2(client2(server, "/", { transports }));
      const text = "é 中 😀 \u2028 end"; // 2-byte, 3-byte, outside the BMP, a line separator
      assert.deepEqual(await ask(s, "echo", text, { n: 1, s: text }), [text, { n: 1, s: text }]);
      // server -> client: the handler asks, the client answers, the answer comes back
      const answers = record(s, "answer");
      s.on("question", (x, cb) => cb(`re: ${x}`));
      assert.deepEqual(await ask(s, "ask", text), ["asked"]);
      await until(() => answers.length === 1, "the answer");
      assert.deepEqual(answers[0], { err: null, a: `re: ${text}` });
      assert.deepEqual(await ask(s, "whoami"), [
        { namespace: "/", user: null, transport: over },
      ]);
      s.close();
    });

    test(`${over}: the client's pings keep a session alive past pingInterval + pingTimeout`, async () => {
      const s = await connected2(client2(server, "/", { transports }));
      let pongs = 0;
      s.on("pong", () => pongs++);
      const gone = record(s, "disconnect");
      await sleep(1500); // over twice 300 + 400 ms
      assert.deepEqual(gone, []);
      assert.ok(pongs >= 3, `${pongs} pongs`);
      assert.deepEqual(await ask(s, "echo", 1), [1]);
      s.close();
    });
  }

  test("a namespace with a query: its socket.auth, its token the namespace's own (the handshake's stays /'s)", async () => {
    const manager = new io2.Manager(server.url, {
      reconnection: false,
      forceNew: true,
      query: { token: "alice-token" },
    });
    const root = manager.socket("/");
    const admin = manager.socket("/admin", { query: { token: "bob-token", role: "ops" } });
    await Promise.all([connected2(root), connected2(admin)]);
    const [rootMe] = await ask(root, "whoami");
    assert.deepEqual([rootMe.namespace, rootMe.user], ["/", "alice"]);
    const [me] = await ask(admin, "whoami");
    assert.equal(me.namespace, "/admin");
    assert.equal(me.user, "bob");
    // The namespace's query is its auth object, without the token (socket.auth).
    assert.deepEqual(me.auth, { role: "ops" });
    root.close();
    admin.close();
  });

  test("refusals are strings: an unknown namespace, a refused namespace token", async () => {
    for (const [nsp, opts, want] of [
      ["/nope", {}, "Invalid namespace"],
      ["/admin", { query: { token: "wrong-token" } }, "invalid token"],
    ]) {
      const manager = new io2.Manager(server.url, { reconnection: false, forceNew: true });
      const s = manager.socket(nsp, opts);
      const err = await new Promise((resolve) => s.once("error", resolve));
      assert.equal(err, want, nsp);
      manager.engine.close();
    }
  });

  test("a v3 session that sends nothing is closed after pingInterval + pingTimeout", async () => {
    // By hand: open a polling session and never ping; the next GET gets the close packet.
    const start = Date.now(); // the server arms the deadline after this, at the open
    const res = await fetch(`${server.url}/socket.io/?EIO=3&transport=polling`);
    assert.equal(res.status, 200);
    const body = await res.text();
    // <length>:0{open}, then the implicit CONNECT of /: <length>:40
    const m = /^(\d+):0(\{[^}]*\})2:40$/.exec(body);
    assert.ok(m, body);
    const open = JSON.parse(m[2]);
    assert.equal(Number(m[1]), m[2].length + 1);
    assert.equal(open.maxPayload, undefined, "no maxPayload in v3's open packet");
    assert.deepEqual(open.upgrades, ["websocket"]);
    const next = await (
      await fetch(`${server.url}/socket.io/?EIO=3&transport=polling&sid=${open.sid}`, {
        signal: AbortSignal.timeout(5000),
      })
    ).text();
    assert.equal(next, "1:1");
    // pingInterval 300 + pingTimeout 400 after the open (a little slack for the timer's clock)
    assert.ok(Date.now() - start >= 650, `closed after ${Date.now() - start} ms`);
  });
});

// Bad input of a v3 session, by hand over polling (README, "Limits and bad input").
describe("socket.io 2.x: bad input", () => {
  let server;
  before(async () => {
    server = await startServer({ scripts: `${GATEWAYS}/eio3` });
  });
  after(async (t) => {
    await stopClean(t, server);
  });

  const url = (sid = "") =>
    `${server.url}/socket.io/?EIO=3&transport=polling${sid ? `&sid=${sid}` : ""}`;
  async function open() {
    const body = await (await fetch(url())).text();
    const m = /^\d+:0(\{[^}]*\})2:40$/.exec(body);
    assert.ok(m, body);
    return JSON.parse(m[1]).sid;
  }
  const post = async (sid, body) =>
    (await fetch(url(sid), { method: "POST", body, headers: { "content-type": "text/plain" } }))
      .text();
  const get = async (sid) =>
    (await fetch(url(sid), { signal: AbortSignal.timeout(5000) })).text();

  test("a client's pong (3) is the wrong heartbeat direction: the session closes", async () => {
    const sid = await open();
    assert.equal(await post(sid, "1:3"), "ok");
    assert.equal(await get(sid), "1:1");
  });

  test("a client's ping (2) is answered with a pong (3)", async () => {
    const sid = await open();
    assert.equal(await post(sid, "1:2"), "ok");
    assert.equal(await get(sid), "1:3");
  });

  for (const [what, body] of [
    ["a length that is not digits", "x:42"],
    ["a leading zero", "02:40"],
    ["a length past the end", "9:42"],
    ["no colon", "2"],
    ["bytes after the last packet", "1:2junk"],
    ["a length that ends inside a character (half of a surrogate pair)", "2:4😀"],
  ]) {
    test(`a malformed payload (${what}): ok, then the session closes`, async () => {
      const sid = await open();
      assert.equal(await post(sid, body), "ok");
      assert.equal(await get(sid), "1:1");
    });
  }

  // An XHR2 client's binary payload: <0 = text><length as bytes><0xff><packet>, repeated.
  const binPost = async (sid, bytes) =>
    (
      await fetch(url(sid), {
        method: "POST",
        body: Buffer.from(bytes),
        headers: { "content-type": "application/octet-stream" },
      })
    ).text();

  test("a binary payload (application/octet-stream): its text packets are read", async () => {
    const sid = await open();
    // a ping, then the event `echo` asking ack 7: 42 7 ["echo","hi"]
    const event = Buffer.from('427["echo","hi"]');
    const digits = [...String(event.length)].map(Number);
    assert.equal(
      await binPost(sid, [0, 1, 0xff, 0x32, 0, ...digits, 0xff, ...event]),
      "ok",
    );
    // The pong and the ack come back on the next GET, in the v3 text framing.
    assert.equal(await get(sid), '1:39:437["hi"]');
  });

  test("a malformed binary payload: ok, then the session closes", async () => {
    const sid = await open();
    assert.equal(await binPost(sid, [7, 1, 0xff, 0x32]), "ok");
    assert.equal(await get(sid), "1:1");
  });

  test("a CONNECT whose namespace does not start with /: the session closes", async () => {
    const sid = await open();
    assert.equal(await post(sid, "8:40admin,"), "ok");
    assert.equal(await get(sid), "1:1");
  });
});

describe("--allow-eio3=false", () => {
  let server;
  before(async () => {
    server = await startServer({ scripts: `${GATEWAYS}/eio3`, args: ["--allow-eio3=false"] });
  });
  after(async (t) => {
    await stopClean(t, server);
  });

  test('EIO=3 → 400 code 5 "Unsupported protocol version"; the 2.x client cannot connect', async () => {
    const res = await fetch(`${server.url}/socket.io/?EIO=3&transport=polling`);
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { code: 5, message: "Unsupported protocol version" });
    const s = client2(server);
    await assert.rejects(connected2(s), /xhr poll error/);
    s.close();
  });
});
