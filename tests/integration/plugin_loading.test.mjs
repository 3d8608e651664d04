// Plugins at start-up: descriptors the loader must refuse (and say why), a plugin whose init
// refuses, an older minor ABI that must still load, unknown plugin names, and gateways naming
// interceptors that are not loaded.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";

import {
  BIN,
  GATEWAYS,
  ROOT,
  connected,
  freePort,
  sio,
  startServer,
  stopClean,
} from "./helpers.mjs";
import { runBinary } from "./wire.mjs";

// The fixtures built next to the binary under test (build/ or build-asan/), else build/'s.
const FIXTURES = [
  path.join(path.dirname(BIN), "tests/fixtures"),
  path.join(ROOT, "build/tests/fixtures"),
].find((d) => fs.existsSync(path.join(d, "old_minor.so")));
const fixture = (name) => path.join(FIXTURES, name);
const OK_SCRIPTS = path.join(GATEWAYS, "plugin_loading/ok");

async function runWith(plugins, scripts = OK_SCRIPTS) {
  const args = ["--listen", `127.0.0.1:${await freePort()}`, "--scripts", scripts];
  for (const p of plugins) args.push("--plugin", p);
  return runBinary(args);
}

// The process failed at start-up (it did not have to be killed) and its log matches `re`.
function assertRefused(r, re) {
  assert.equal(r.signal, null, `killed: the server started anyway\n${r.stderr}`);
  assert.notEqual(r.code, 0, r.stderr);
  assert.match(r.stderr, re);
}

describe("plugins the loader refuses", () => {
  test("fixtures exist", () => {
    assert.ok(FIXTURES, "build the fixtures (cmake --build build) first");
  });

  test("abi_major2.so: the log names both ABI versions", async () => {
    const so = fixture("abi_major2.so");
    const r = await runWith([so]);
    assertRefused(r, /built for plugin ABI 2\.3, this server speaks ABI 1\.\d+/);
    assert.ok(r.stderr.includes(so), "the message names the file");
  });

  test("bad_magic.so is refused as not a switchboard plugin", async () => {
    const so = fixture("bad_magic.so");
    const r = await runWith([so]);
    assertRefused(r, /bad magic/);
    assert.ok(r.stderr.includes(so));
  });

  test("no_entry.so (no descriptor symbol) is refused", async () => {
    const so = fixture("no_entry.so");
    const r = await runWith([so]);
    assertRefused(r, /not a switchboard plugin/);
    assert.ok(r.stderr.includes(so));
  });

  test("init_fails.so=xyz: init's message reaches the log with its config", async () => {
    const r = await runWith([`${fixture("init_fails.so")}=xyz`]);
    assertRefused(r, /refusing on purpose \(config: xyz\)/);
  });

  test("init_fails.so without config", async () => {
    const r = await runWith([fixture("init_fails.so")]);
    assertRefused(r, /refusing on purpose \(config: none\)/);
  });

  test("a file that is not a shared object is refused", async () => {
    const r = await runWith([path.join(OK_SCRIPTS, "echo.lua")]);
    assertRefused(r, /cannot load/);
  });

  test("the same plugin twice is refused", async () => {
    const so = fixture("old_minor.so");
    const r = await runWith([so, so]);
    assertRefused(r, /already loaded/);
  });

  test("a nonexistent plugin name is named in the message", async () => {
    const r = await runWith(["nonexistent-name"]);
    assertRefused(r, /nonexistent-name/);
  });

  test("a nonexistent .so path is named in the message", async () => {
    const so = path.join(FIXTURES, "absent-plugin.so");
    const r = await runWith([so]);
    assertRefused(r, /absent-plugin/);
  });

  test("a refused plugin after a good one still stops the start", async () => {
    const r = await runWith([fixture("old_minor.so"), `${fixture("init_fails.so")}=late`]);
    assertRefused(r, /refusing on purpose \(config: late\)/);
  });
});

describe("plugins that load", () => {
  test("old_minor.so (an older minor of ABI 1) loads and the server runs", async () => {
    const server = await startServer({ scripts: OK_SCRIPTS, plugins: [fixture("old_minor.so")] });
    try {
      assert.match(server.log(), /loaded old-minor/);
      const s = await connected(sio(server));
      assert.equal(await s.timeout(5000).emitWithAck("echo", "abi"), "abi");
      s.close();
    } finally {
      await stopClean(null, server);
    }
  });
});

describe("gateways and interceptors", () => {
  const missing = path.join(GATEWAYS, "plugin_loading/missing_interceptor");

  test("an interceptor that is not loaded stops the start and says to add --plugin", async () => {
    const r = await runWith([], missing);
    assertRefused(r, /--plugin/);
    assert.match(r.stderr, /propagate/);
    assert.match(r.stderr, /needs_propagate\.lua/);
  });

  test("the same gateway starts once the plugin is loaded", async () => {
    const server = await startServer({ scripts: missing, plugins: ["propagate"] });
    const s = await connected(sio(server));
    assert.equal(await s.timeout(5000).emitWithAck("echo", 1), 1);
    s.close();
    await stopClean(null, server);
  });

  test("a loaded plugin without interceptor hooks is refused as an interceptor", async () => {
    const noHooks = path.join(GATEWAYS, "plugin_loading/no_hooks");
    const r = await runWith([fixture("old_minor.so")], noHooks);
    assertRefused(r, /old-minor/);
    assert.match(r.stderr, /interceptor/);
  });
});
