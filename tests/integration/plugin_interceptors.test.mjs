// Chains of interceptors, loaded as .so files by a real server and driven by socket.io-client:
// the fixture plugins mark-a (priority 30), mark-b (10) and mark-c (20) of
// tests/fixtures/plugins/mark.c append their mark to an event's string argument (before_event)
// and send an "after" event [mark, reply event] before each reply they let through
// (after_reply), so the client reads which interceptors ran and in what order. The gateways of
// tests/integration/gateways/plugin_interceptors/ list them: "/" {mark-a, mark-b}, "/b"
// {mark-b}, "/twice" {mark-c, mark-a, mark-c}, "/plain" none. Checked: the order is the
// priority order, not the load or list order; a global interceptor (--interceptor) is merged
// into each gateway's list at its priority; a plugin named both ways (or twice) runs once; an
// interceptor runs only for the gateways that list it; after_reply's SB_DROP and SB_REFUSE
// withhold that reply only, silently.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";

import { BIN, GATEWAYS, ROOT, connected, once, sio, startServer, stopClean } from "./helpers.mjs";

// The fixtures built next to the binary under test (build/ or build-asan/), else build/'s.
const FIXTURES = [
  path.join(path.dirname(BIN), "tests/fixtures"),
  path.join(ROOT, "build/tests/fixtures"),
].find((d) => fs.existsSync(path.join(d, "mark_a.so")));
const mark = (m) => path.join(FIXTURES ?? "", `mark_${m}.so`);
const SCRIPTS = path.join(GATEWAYS, "plugin_interceptors");

// Starts a server with the mark plugins loaded in `order` and `args`, runs fn(client), then
// closes every client and stops the server, asserting a clean exit (no leak under ASan).
async function withServer({ order = ["a", "b", "c"], args = [] }, fn) {
  assert.ok(FIXTURES, "build the fixtures (cmake --build build) first");
  const server = await startServer({ scripts: SCRIPTS, plugins: order.map(mark), args });
  const open = [];
  // A connected client of namespace `nsp` that records every event it gets, in order.
  const client = async (nsp = "/") => {
    const s = sio(server, {}, nsp);
    open.push(s);
    s.got = [];
    s.onAny((event, ...a) => s.got.push([event, ...a]));
    return connected(s);
  };
  try {
    await fn(client, server);
  } finally {
    for (const s of open) s.close();
    await stopClean(null, server);
  }
}

// Sends `trail` "x" to namespace `nsp`. Resolves with the string the handler got back to us
// (its marks are the before-interceptors that ran) and the marks of the "after" events that
// preceded the reply (the after-interceptors that ran).
async function trail(client, nsp) {
  const s = await client(nsp);
  const reply = once(s, "trail");
  s.emit("trail", "x");
  const [data] = await reply;
  const after = s.got.filter(([e]) => e === "after").map(([, m, ev]) => `${m}:${ev}`);
  assert.deepEqual(s.got.at(-1), ["trail", data], "the reply comes after the after-events");
  return { data, after: after.map((a) => a.split(":")[0]), afterEvents: after };
}

describe("per-gateway interceptors", () => {
  test("two on one gateway run by priority, not by load or list order", async () => {
    // Loaded a, b, c and listed {mark-a, mark-b}: priority puts mark-b (10) first.
    await withServer({}, async (client) => {
      const r = await trail(client, "/");
      assert.equal(r.data, "x>b>a");
      assert.deepEqual(r.afterEvents, ["b:trail", "a:trail"]);
    });
  });

  test("the order stays the same with the load order reversed", async () => {
    await withServer({ order: ["c", "b", "a"] }, async (client) => {
      const r = await trail(client, "/");
      assert.equal(r.data, "x>b>a");
      assert.deepEqual(r.after, ["b", "a"]);
    });
  });

  test("an interceptor runs only for the gateways that list it", async () => {
    await withServer({}, async (client) => {
      const b = await trail(client, "/b"); // lists mark-b only
      assert.equal(b.data, "x>b");
      assert.deepEqual(b.after, ["b"]);
      const plain = await trail(client, "/plain"); // lists nothing
      assert.equal(plain.data, "x");
      assert.deepEqual(plain.after, []);
    });
  });

  test("a plugin listed twice by a gateway runs once", async () => {
    await withServer({}, async (client) => {
      const r = await trail(client, "/twice"); // {mark-c, mark-a, mark-c}
      assert.equal(r.data, "x>c>a");
      assert.deepEqual(r.after, ["c", "a"]);
    });
  });

  test("a before_event verdict outside the enum refuses the event (fail closed), logged", async () => {
    await withServer({}, async (client, server) => {
      const s = await client("/");
      const exc = once(s, "exception");
      s.emit("trail", "bogus:b"); // mark-b (the first, priority 10) answers 42
      assert.deepEqual(await exc, [{ status: "error", message: "event refused by mark-b" }]);
      await server.waitForLog(/mark-b returned unknown verdict 42 from before_event; refused/);
      // The same socket goes on; its one reply is this one (the refused event had none).
      const reply = once(s, "trail");
      s.emit("trail", "x");
      assert.deepEqual(await reply, ["x>b>a"]);
      assert.deepEqual(s.got.filter(([e]) => e === "trail"), [["trail", "x>b>a"]]);
    });
  });
});

describe("a global interceptor (--interceptor mark-c)", () => {
  const global = { args: ["--interceptor", "mark-c"] };

  test("is merged into a gateway's own list at its priority", async () => {
    await withServer(global, async (client) => {
      const r = await trail(client, "/"); // {mark-a, mark-b} + global mark-c
      assert.equal(r.data, "x>b>c>a");
      assert.deepEqual(r.afterEvents, ["b:trail", "c:trail", "a:trail"]);
      const b = await trail(client, "/b"); // {mark-b} + mark-c; mark-a still not here
      assert.equal(b.data, "x>b>c");
      assert.deepEqual(b.after, ["b", "c"]);
    });
  });

  test("runs for a gateway that lists no interceptor", async () => {
    await withServer(global, async (client) => {
      const r = await trail(client, "/plain");
      assert.equal(r.data, "x>c");
      assert.deepEqual(r.after, ["c"]);
    });
  });

  test("runs once for a gateway that also lists it (twice)", async () => {
    await withServer(global, async (client) => {
      const r = await trail(client, "/twice");
      assert.equal(r.data, "x>c>a");
      assert.deepEqual(r.after, ["c", "a"]);
    });
  });

  test("named twice with --interceptor, runs once", async () => {
    const twice = { args: ["--interceptor", "mark-c", "--interceptor", "mark-c"] };
    await withServer(twice, async (client) => {
      assert.equal((await trail(client, "/plain")).data, "x>c");
      assert.equal((await trail(client, "/")).data, "x>b>c>a");
    });
  });
});

// Emits `event` on "/" and returns everything the socket got up to its reply `last`.
async function gotUntil(client, event, last) {
  const s = await client("/");
  const done = once(s, last);
  s.emit(event);
  await done;
  return s.got;
}

describe("after_reply withholding replies", () => {
  test("SB_DROP, SB_REFUSE: that reply is withheld, silently; the others are sent", async () => {
    await withServer({ args: ["--interceptor", "mark-c"] }, async (client) => {
      const s = await client("/");
      s.emit("several"); // replies one, drop:c, refuse:c, two
      // A later event's reply: everything the first one caused has arrived before it.
      const done = once(s, "trail");
      s.emit("trail", "end");
      await done;
      assert.deepEqual(s.got, [
        // each reply goes through the chain b, c, a; mark-c withholds two of them, and mark-a
        // (after it) never sees those
        ["after", "b", "one"],
        ["after", "c", "one"],
        ["after", "a", "one"],
        ["one", 1],
        ["after", "b", "drop:c"],
        ["after", "c", "drop:c"],
        ["after", "b", "refuse:c"],
        ["after", "c", "refuse:c"],
        // no exception for the refused reply: event_set_error() has no effect there
        ["after", "b", "two"],
        ["after", "c", "two"],
        ["after", "a", "two"],
        ["two", 4],
        ["after", "b", "trail"],
        ["after", "c", "trail"],
        ["after", "a", "trail"],
        ["trail", "end>b>c>a"],
      ]);
      assert.ok(s.connected, "the socket stays connected");
    });
  });

  test("an after_reply verdict outside the enum withholds that reply (fail closed), logged", async () => {
    await withServer({}, async (client, server) => {
      // replies bogus:b, four; chain b, a
      assert.deepEqual(await gotUntil(client, "bogus_reply", "four"), [
        ["after", "b", "bogus:b"],
        ["after", "b", "four"],
        ["after", "a", "four"],
        ["four", 2],
      ]);
      await server.waitForLog(/mark-b returned unknown verdict 42 from after_reply; withheld/);
    });
  });

  test("a reply the first after-interceptor drops is not seen by the later ones", async () => {
    await withServer({}, async (client) => {
      // replies drop:b, three; chain b, a
      assert.deepEqual(await gotUntil(client, "early_drop", "three"), [
        ["after", "b", "drop:b"],
        ["after", "b", "three"],
        ["after", "a", "three"],
        ["three", 2],
      ]);
    });
  });
});
