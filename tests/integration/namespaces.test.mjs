// Namespaces (tests/integration/gateways/namespaces/: "/admin" and "/"): connecting, refusing an
// undeclared namespace without losing the Engine.IO connection, isolation of events, and a
// DISCONNECT from one namespace that leaves the others of the same connection alone.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import { Manager } from "socket.io-client";
import {
  GATEWAYS,
  connected,
  once,
  rawWs,
  record,
  sio,
  sleep,
  startServer,
  stopClean,
} from "./helpers.mjs";

let server;
before(async () => {
  server = await startServer({ scripts: path.join(GATEWAYS, "namespaces") });
});
after(async (t) => {
  await stopClean(t, server);
});

function manager() {
  return new Manager(server.url, {
    transports: ["websocket"],
    reconnection: false,
    timeout: 5000,
  });
}

async function waitFor(pred, ms = 5000) {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await sleep(10);
}

// Opens a raw Engine.IO connection and reads the open packet.
async function rawEio() {
  const ws = rawWs(`${server.wsUrl}/socket.io/?EIO=4&transport=websocket`);
  await ws.opened();
  const open = await ws.next();
  assert.match(open, /^0\{/);
  return ws;
}

test("CONNECT to /admin: the reply carries a sid, which is socket.id in Lua", async () => {
  const ws = await rawEio();
  try {
    ws.send("40/admin,");
    const reply = await ws.next();
    const m = /^40\/admin,(\{.*\})$/.exec(reply);
    assert.ok(m, `CONNECT reply for /admin, got ${reply}`);
    const { sid } = JSON.parse(m[1]);
    assert.equal(typeof sid, "string");
    assert.ok(sid.length > 0);
    ws.send('42/admin,1["whoami"]');
    const ack = await ws.next();
    assert.ok(ack.startsWith("43/admin,1"), ack);
    assert.deepEqual(JSON.parse(ack.slice("43/admin,1".length)), [{ id: sid, namespace: "/admin" }]);
  } finally {
    ws.close();
  }

  // The same with socket.io-client: socket.id is the sid of the reply.
  const s = await connected(sio(server, {}, "/admin"));
  try {
    assert.ok(s.id);
    assert.deepEqual(await s.timeout(5000).emitWithAck("whoami"), { id: s.id, namespace: "/admin" });
  } finally {
    s.close();
  }
});

test("an undeclared namespace gets 'Invalid namespace'; the Engine.IO connection stays usable", async () => {
  const m = manager();
  try {
    // socket.io-client closes a Manager's connection when its last socket is refused, so a
    // socket of "/" keeps it open while "/nope" is refused.
    const root = await connected(m.socket("/"));
    const engineId = m.engine.id;
    assert.ok(engineId);
    const bad = m.socket("/nope");
    const [err] = await once(bad, "connect_error");
    assert.equal(err.message, "Invalid namespace");
    assert.equal(bad.connected, false);

    assert.equal(root.connected, true);
    assert.equal(m.engine.id, engineId, "same Engine.IO session, no reconnection");
    assert.deepEqual(await root.timeout(5000).emitWithAck("whoami"), { id: root.id, namespace: "/" });
    const admin = m.socket("/admin");
    await connected(admin);
    assert.equal(m.engine.id, engineId);
    assert.deepEqual(await admin.timeout(5000).emitWithAck("whoami"), {
      id: admin.id,
      namespace: "/admin",
    });
  } finally {
    m.engine?.close();
  }
});

test("the raw refusal: 44/nope,{message} and the connection goes on", async () => {
  const ws = await rawEio();
  try {
    ws.send("40/nope,");
    const refusal = await ws.next();
    assert.ok(refusal.startsWith("44/nope,"), refusal);
    assert.deepEqual(JSON.parse(refusal.slice("44/nope,".length)), { message: "Invalid namespace" });
    // An EVENT for the refused namespace is ignored, not answered and not fatal.
    ws.send('42/nope,1["whoami"]');
    ws.send("40");
    assert.match(await ws.next(), /^40\{"sid":"[^"]+"\}$/);
    assert.equal(ws.readyState, ws.OPEN);
  } finally {
    ws.close();
  }
});

test("events of one namespace do not reach sockets of another", async () => {
  const m = manager();
  const rootOnly = sio(server);
  try {
    const root = await connected(m.socket("/"));
    const admin = await connected(m.socket("/admin"));
    await connected(rootOnly);
    const got = { root: record(root, "shout"), admin: record(admin, "shout"), rootOnly: record(rootOnly, "shout") };

    assert.equal(await admin.timeout(5000).emitWithAck("shout", "a"), 1);
    await waitFor(() => got.admin.length);
    await sleep(150);
    assert.deepEqual(got.admin, [{ from: "/admin", data: "a" }]);
    assert.deepEqual(got.root, [], "a broadcast in /admin must not reach / on the same connection");
    assert.deepEqual(got.rootOnly, []);

    assert.equal(await root.timeout(5000).emitWithAck("shout", "r"), 2);
    await waitFor(() => got.root.length && got.rootOnly.length);
    await sleep(150);
    assert.deepEqual(got.root, [{ from: "/", data: "r" }]);
    assert.deepEqual(got.rootOnly, [{ from: "/", data: "r" }]);
    assert.deepEqual(got.admin, [{ from: "/admin", data: "a" }], "nothing more for /admin");
  } finally {
    m.engine?.close();
    rootOnly.close();
  }
});

test("DISCONNECT from /admin leaves the / socket of the same Manager connected", async () => {
  const m = manager();
  try {
    const root = await connected(m.socket("/"));
    const admin = await connected(m.socket("/admin"));
    const engineId = m.engine.id;
    const adminId = admin.id;
    const left = once(root, "admin_left");
    const rootDisconnects = record(root, "disconnect");

    admin.disconnect();
    // The server ran /admin's on_disconnect (it broadcasts to "/"), so it saw the DISCONNECT.
    assert.deepEqual(await left, [{ id: adminId, reason: "client namespace disconnect" }]);
    assert.equal(root.connected, true);
    assert.deepEqual(rootDisconnects, []);
    assert.equal(m.engine.id, engineId);
    assert.deepEqual(await root.timeout(5000).emitWithAck("whoami"), { id: root.id, namespace: "/" });

    // Joining /admin again on the same connection works and gives a new id.
    admin.connect();
    await connected(admin);
    assert.notEqual(admin.id, adminId);
    assert.deepEqual(await admin.timeout(5000).emitWithAck("whoami"), {
      id: admin.id,
      namespace: "/admin",
    });
  } finally {
    m.engine?.close();
  }
});

test("40/admin without a comma is namespace /admin too", async () => {
  const ws = await rawEio();
  try {
    ws.send("40/admin");
    assert.match(await ws.next(), /^40\/admin,\{"sid":"[^"]+"\}$/);
    ws.send('42/admin,7["whoami"]');
    const ack = await ws.next();
    assert.ok(ack.startsWith("43/admin,7["), ack);
    assert.equal(JSON.parse(ack.slice("43/admin,7".length))[0].namespace, "/admin");
  } finally {
    ws.close();
  }
});

test("closing the connection disconnects every namespace socket of it ('transport close')", async () => {
  const watcher = await connected(sio(server));
  const m = manager();
  try {
    await connected(m.socket("/"));
    const admin = await connected(m.socket("/admin"));
    const adminId = admin.id;
    const left = once(watcher, "admin_left");
    m.engine.close();
    assert.deepEqual(await left, [{ id: adminId, reason: "transport close" }]);
  } finally {
    m.engine?.close();
    watcher.close();
  }
});

test("raw: 41/admin, then events to /admin are ignored while / still answers", async () => {
  const ws = await rawEio();
  try {
    ws.send("40/admin,");
    assert.match(await ws.next(), /^40\/admin,\{"sid":/);
    ws.send("40");
    assert.match(await ws.next(), /^40\{"sid":/);
    ws.send("41/admin,");
    assert.match(await ws.next(), /^42\["admin_left",/); // on_disconnect's broadcast to "/"
    ws.send('42/admin,1["whoami"]');
    ws.send('422["whoami"]');
    const ack = await ws.next();
    assert.ok(ack.startsWith("432["), `only / answers, got ${ack}`);
    assert.equal(JSON.parse(ack.slice(3))[0].namespace, "/");
  } finally {
    ws.close();
  }
});
