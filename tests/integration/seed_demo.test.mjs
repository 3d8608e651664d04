// The seed's demo on one instance: two sockets of one user, the first emits `events`; each
// socket of the user receives 1, 2, 3 exactly once; an anonymous socket receives none of them.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DEMO_PLUGINS, connected, record, sio, sleep, startServer, stopClean } from "./helpers.mjs";

let server;
before(async () => {
  server = await startServer({ plugins: DEMO_PLUGINS });
});
after(async (t) => {
  await stopClean(t, server);
});

test("both sockets of a user get 1,2,3 once; an anonymous socket gets nothing", async () => {
  const a = await connected(sio(server, { auth: { token: "alice-token" } }));
  const b = await connected(sio(server, { query: { token: "alice-token" } }));
  const anon = await connected(sio(server));
  const other = await connected(sio(server, { auth: { token: "bob-token" } }));
  const got = { a: record(a, "events"), b: record(b, "events"), anon: record(anon, "events"),
                other: record(other, "events") };

  a.emit("events", { test: true });
  const end = Date.now() + 3000;
  while ((got.a.length < 3 || got.b.length < 3) && Date.now() < end) await sleep(10);
  await sleep(200); // anything extra (a duplicate) would arrive by now

  assert.deepEqual(got.a, [1, 2, 3]);
  assert.deepEqual(got.b, [1, 2, 3]);
  assert.deepEqual(got.anon, []);
  assert.deepEqual(got.other, []);
  for (const s of [a, b, anon, other]) s.close();
});

test("an anonymous socket's replies are not propagated to anyone", async () => {
  const anon = await connected(sio(server));
  const anon2 = await connected(sio(server));
  const alice = await connected(sio(server, { auth: { token: "alice-token" } }));
  const got = { anon: record(anon, "events"), anon2: record(anon2, "events"),
                alice: record(alice, "events") };
  anon.emit("events");
  const end = Date.now() + 3000;
  while (got.anon.length < 3 && Date.now() < end) await sleep(10);
  await sleep(200);
  assert.deepEqual(got.anon, [1, 2, 3]);
  assert.deepEqual(got.anon2, []);
  assert.deepEqual(got.alice, []);
  for (const s of [anon, anon2, alice]) s.close();
});
