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

  test("init_fails.so=xyz: one line names the file and gives init's message", async () => {
    const so = fixture("init_fails.so");
    const r = await runWith([`${so}=xyz`]);
    assertRefused(r, /refusing on purpose \(config: xyz\)/);
    const line = r.stderr.split("\n").find((l) => l.includes("refusing on purpose"));
    assert.ok(
      line.endsWith(`${so}: init failed: refusing on purpose (config: xyz)`),
      `the line is "<file>: init failed: <reason>": ${line}`,
    );
  });

  test("init_fails.so without config", async () => {
    const so = fixture("init_fails.so");
    const r = await runWith([so]);
    assertRefused(r, /refusing on purpose \(config: none\)/);
    assert.ok(r.stderr.includes(`${so}: init failed: `), r.stderr);
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
  test("extra_exports.so loads with a warning naming the file and its symbols", async () => {
    const so = fixture("extra_exports.so");
    const server = await startServer({ scripts: OK_SCRIPTS, plugins: [so] });
    try {
      const log = server.log();
      const warn = log.split("\n").find((l) => l.includes("besides sb_plugin_entry"));
      assert.ok(warn, `no warning about the extra exports:\n${log}`);
      assert.match(warn, /\bwarn\b/);
      assert.ok(warn.includes(`${so}: exports 2 symbols besides sb_plugin_entry`), warn);
      assert.match(warn, /extra_helper/);
      assert.match(warn, /extra_counter/);
      assert.match(warn, /-fvisibility=hidden/);
      assert.match(log, /loaded extra-exports 0 from /);
      // The server runs with it.
      const s = await connected(sio(server));
      assert.equal(await s.timeout(5000).emitWithAck("echo", "still-up"), "still-up");
      s.close();
    } finally {
      await stopClean(null, server);
    }
  });

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

describe("--help", () => {
  test("names every shipped plugin", async () => {
    // The shipped plugins are the sb_add_plugin(NAME …) lines of plugins/*/CMakeLists.txt.
    const dir = path.join(ROOT, "plugins");
    const shipped = fs
      .readdirSync(dir)
      .map((d) => path.join(dir, d, "CMakeLists.txt"))
      .filter((f) => fs.existsSync(f))
      .flatMap((f) => [...fs.readFileSync(f, "utf8").matchAll(/sb_add_plugin\(\s*([\w-]+)/g)])
      .map((m) => m[1]);
    assert.ok(shipped.length >= 7, `found ${shipped}`);
    const r = await runBinary(["--help"]);
    assert.equal(r.code, 0, r.stderr);
    // The --plugin entry, up to the next option.
    const out = r.stdout;
    const entry = out.slice(out.indexOf("--plugin NAME"), out.indexOf("--interceptor"));
    const named = entry.match(/shipped name \(([^)]*)\)/);
    assert.ok(named, entry);
    const listed = named[1].split(/,\s*/).map((n) => n.trim());
    assert.deepEqual([...listed].sort(), [...shipped].sort());
  });
});
