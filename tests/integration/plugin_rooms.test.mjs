// The plugin host's socket_join() and socket_leave(), which are given nothing but a socket: the
// joiner fixture (tests/fixtures/plugins/joiner.c, a global interceptor) joins and leaves rooms
// on a client's request, and the gateway shows the socket's rooms and broadcasts to one of them.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";

import { BIN, GATEWAYS, ROOT, connected, once, sio, sleep, startServer, stopClean } from "./helpers.mjs";

const FIXTURES = [
  path.join(path.dirname(BIN), "tests/fixtures"),
  path.join(ROOT, "build/tests/fixtures"),
].find((d) => fs.existsSync(path.join(d, "joiner.so")));

let server;
before(async () => {
  assert.ok(FIXTURES, "build the fixtures (cmake --build build) first");
  server = await startServer({
    scripts: path.join(GATEWAYS, "plugin_rooms"),
    plugins: [path.join(FIXTURES, "joiner.so")],
    args: ["--interceptor", "joiner"],
  });
});
after(async (t) => {
  await stopClean(t, server);
});

test("a plugin joins and leaves rooms for a socket; broadcasts to the room follow", async () => {
  const a = await connected(sio(server));
  const b = await connected(sio(server));
  const got = { a: [], b: [] };
  a.on("in_room", (r) => got.a.push(r));
  b.on("in_room", (r) => got.b.push(r));

  const rc = once(a, "plugin_rc");
  a.emit("plugin_join", "blue");
  assert.deepEqual(await rc, ["plugin_join", 0]);
  assert.deepEqual(await a.timeout(3000).emitWithAck("rooms"), [a.id, "blue"]);

  assert.equal(await b.timeout(3000).emitWithAck("to_room", "blue"), true);
  await sleep(200);
  assert.deepEqual(got, { a: ["blue"], b: [] });

  const left = once(a, "plugin_rc");
  a.emit("plugin_leave", "blue");
  assert.deepEqual(await left, ["plugin_leave", 0]);
  assert.deepEqual(await a.timeout(3000).emitWithAck("rooms"), [a.id]);
  assert.equal(await b.timeout(3000).emitWithAck("to_room", "blue"), true);
  await sleep(200);
  assert.deepEqual(got, { a: ["blue"], b: [] });
  a.close();
  b.close();
});
