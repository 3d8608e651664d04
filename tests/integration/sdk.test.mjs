// The plugin SDK: `cmake --install` of the build under test into a temp DESTDIR, then
// examples/plugin-template built against that install only (a copy outside the repo, with its
// Makefile through pkg-config and with CMake through find_package), loaded into the server under
// test with a gateway that lists it, driven by socket.io-client. Also what the template plugin
// and the server binary export. Every build goes to a temp dir removed at the end.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import {
  BIN,
  GATEWAYS,
  ROOT,
  SANITIZED,
  connected,
  sio,
  startServer,
  stopClean,
} from "./helpers.mjs";

// The build directory of the binary under test (build/ or build-asan/), unless given.
const BUILD_DIR =
  process.env.SWITCHBOARD_BUILD_DIR ||
  [path.dirname(BIN), path.join(ROOT, "build")].find((d) =>
    fs.existsSync(path.join(d, "CMakeCache.txt")),
  );
const TEMPLATE = path.join(ROOT, "examples/plugin-template");
const SCRIPTS = path.join(GATEWAYS, "sdk");
const STEP_MS = 120000;

// Runs a command to completion (bounded), asserts exit status 0, returns its output.
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: STEP_MS, ...opts });
  if (r.error) throw r.error;
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

// The dynamic symbols an ELF file defines (`nm -D --defined-only`), names only.
function exported(file) {
  return run("nm", ["-D", "--defined-only", file])
    .split("\n")
    .map((l) => l.trim().split(/\s+/).pop())
    .filter(Boolean);
}

// Names the toolchain exports on its own: reserved identifiers (__odr_asan.*, __bss_start, ...)
// and the linker's markers. The server's loader ignores the same ones.
const TOOLCHAIN = new Set([
  "_init",
  "_fini",
  "_edata",
  "_end",
  "_etext",
  "_start",
  "_IO_stdin_used",
  "data_start",
  "__data_start",
  "__dso_handle",
  "__bss_start",
]);
const toolchain = (s) => TOOLCHAIN.has(s) || /^_[_A-Z]/.test(s);

// The first file named `name` under `dir`.
function find(dir, name) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isFile() && e.name === name) return p;
    if (e.isDirectory()) {
      const q = find(p, name);
      if (q) return q;
    }
  }
  return null;
}

// Copies the template to `dir`, outside the repo, adding a non-static function that the build
// files' hidden visibility must keep out of the exports.
function copyTemplate(dir) {
  fs.cpSync(TEMPLATE, dir, { recursive: true, filter: (f) => !f.endsWith(".so") });
  fs.appendFileSync(
    path.join(dir, "tag.c"),
    "\n/* Added by sdk.test.mjs: hidden by -fvisibility=hidden. */\n" +
      "int tag_sdk_probe(void);\nint tag_sdk_probe(void)\n{\n    return 0;\n}\n",
  );
}

function cacheValue(buildDir, key) {
  const m = new RegExp(`^${key}:[A-Z]+=(.*)$`, "m").exec(
    fs.readFileSync(path.join(buildDir, "CMakeCache.txt"), "utf8"),
  );
  return m ? m[1] : null;
}

describe("the plugin SDK, installed", { timeout: 6 * STEP_MS }, () => {
  let tmp, stage, prefix, pcDir, sdkEnv, plugindir, makeSo, cmakeSo;

  before(() => {
    assert.ok(BUILD_DIR, "no build directory: set SWITCHBOARD_BUILD_DIR");
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sb-sdk-"));
    stage = path.join(tmp, "stage");
    run("cmake", ["--install", BUILD_DIR], { env: { ...process.env, DESTDIR: stage } });
    prefix = cacheValue(BUILD_DIR, "CMAKE_INSTALL_PREFIX");
    const pc = find(stage, "switchboard-plugin.pc");
    pcDir = pc && path.dirname(pc);
    // pkg-config's way to a staged install: the sysroot is prepended to the -I paths. Only the
    // staged .pc is visible (PKG_CONFIG_LIBDIR), not one installed on this machine.
    sdkEnv = {
      ...process.env,
      PKG_CONFIG_PATH: pcDir,
      PKG_CONFIG_LIBDIR: pcDir,
      PKG_CONFIG_SYSROOT_DIR: stage,
    };
    // The final plugin directory, as the SDK advertises it (without the staging sysroot).
    plugindir = run("pkg-config", ["--variable=plugindir", "switchboard-plugin"], {
      env: { ...sdkEnv, PKG_CONFIG_SYSROOT_DIR: "" },
    }).trim();
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test("cmake --install lays out the binary, headers, plugins, the gateways and the SDK", () => {
    const root = path.join(stage, prefix);
    const bin = path.join(root, "bin/switchboard");
    assert.ok(fs.statSync(bin).mode & 0o111, "bin/switchboard is executable");
    for (const h of ["plugin.h", "errors.h"]) {
      const installed = path.join(root, "include/switchboard", h);
      assert.equal(
        fs.readFileSync(installed, "utf8"),
        fs.readFileSync(path.join(ROOT, "include/switchboard", h), "utf8"),
      );
    }
    assert.ok(pcDir, "switchboard-plugin.pc installed");
    assert.ok(find(stage, "switchboard-plugin-config.cmake"), "CMake package installed");
    assert.ok(find(stage, "switchboard-plugin-config-version.cmake"));
    assert.ok(find(path.join(root, "share/switchboard/scripts/lib"), "README.md"));
    // The example gateways beside their lib/: share/switchboard/scripts is a --scripts DIR.
    for (const f of fs.readdirSync(path.join(ROOT, "scripts")).filter((f) => f.endsWith(".lua")))
      assert.ok(fs.existsSync(path.join(root, "share/switchboard/scripts", f)), f);
    // Every shipped plugin built next to the binary is installed in the plugin directory.
    const built = fs.readdirSync(path.join(BUILD_DIR, "plugins")).filter((f) => /\.so$/.test(f));
    assert.ok(built.includes("propagate.so"));
    for (const so of built) assert.ok(fs.existsSync(path.join(stage, plugindir, so)), so);
  });

  test("the installed binary looks for plugins in PREFIX's plugin directory, not DESTDIR's", () => {
    const libdir = cacheValue(BUILD_DIR, "CMAKE_INSTALL_LIBDIR");
    assert.equal(plugindir, path.join(prefix, libdir, "switchboard/plugins"));
    // The directory compiled into the server (SB_PLUGIN_DIR_INSTALLED) is the SDK's plugindir.
    const bin = fs.readFileSync(path.join(stage, prefix, "bin/switchboard"));
    assert.ok(bin.includes(Buffer.from(`${plugindir}\0`)), `the binary refers to ${plugindir}`);
  });

  test("pkg-config: include flags into the install, ABI version, no libraries", () => {
    const cflags = run("pkg-config", ["--cflags", "switchboard-plugin"], { env: sdkEnv }).trim();
    assert.ok(cflags.startsWith(`-I${stage}`), cflags);
    assert.ok(fs.existsSync(path.join(cflags.slice(2), "switchboard/plugin.h")), cflags);
    assert.equal(run("pkg-config", ["--libs", "switchboard-plugin"], { env: sdkEnv }).trim(), "");
    const h = fs.readFileSync(path.join(ROOT, "include/switchboard/plugin.h"), "utf8");
    const abi = ["MAJOR", "MINOR"].map((k) => new RegExp(`SB_PLUGIN_ABI_${k} +(\\d+)`).exec(h)[1]);
    const version = run("pkg-config", ["--modversion", "switchboard-plugin"], { env: sdkEnv });
    assert.equal(version.trim(), abi.join("."));
  });

  test("the template builds with its Makefile against the installed SDK only", () => {
    const src = path.join(tmp, "template-make");
    copyTemplate(src);
    run("make", ["-C", src, "CFLAGS=-O2 -g -Wall -Wextra -Werror"], { env: sdkEnv });
    makeSo = path.join(src, "tag.so");
    assert.ok(fs.existsSync(makeSo));
    // Without the SDK the Makefile stops with a message saying so.
    const r = spawnSync("make", ["-C", src, "-B"], {
      encoding: "utf8",
      timeout: STEP_MS,
      env: { ...process.env, PKG_CONFIG_PATH: "", PKG_CONFIG_LIBDIR: path.join(tmp, "none") },
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /switchboard-plugin not found/);
  });

  test("the template builds with CMake: find_package, switchboard_add_plugin", () => {
    const src = path.join(tmp, "template-cmake");
    const build = path.join(tmp, "template-cmake-build");
    const prefixPath = `-DCMAKE_PREFIX_PATH=${path.join(stage, prefix)}`;
    copyTemplate(src);
    run("cmake", ["-S", src, "-B", build, prefixPath, "-DCMAKE_C_FLAGS=-Werror"]);
    assert.ok(
      cacheValue(build, "switchboard-plugin_DIR").startsWith(stage),
      "the package came from the staged install",
    );
    run("cmake", ["--build", build]);
    cmakeSo = path.join(build, "tag.so");
    assert.ok(fs.existsSync(cmakeSo), "tag.so, no lib prefix");
    // The package refuses another ABI major.
    const probe = path.join(tmp, "probe");
    fs.mkdirSync(probe);
    fs.writeFileSync(
      path.join(probe, "CMakeLists.txt"),
      "cmake_minimum_required(VERSION 3.18)\nproject(p LANGUAGES C)\n" +
        "find_package(switchboard-plugin 2.0 REQUIRED)\n",
    );
    const r = spawnSync("cmake", ["-S", probe, "-B", path.join(probe, "b"), prefixPath], {
      encoding: "utf8",
      timeout: STEP_MS,
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /switchboard-plugin[\s\S]*compatible with requested version "2\.0"/);
  });

  test("the template exports only its descriptor (the build files hide everything else)", () => {
    for (const so of [makeSo, cmakeSo]) {
      assert.ok(so, "built by the tests above");
      assert.deepEqual(exported(so).filter((s) => !toolchain(s)), ["sb_plugin_entry"], so);
    }
  });

  test("the server runs the template's interceptor for a gateway that lists it", async () => {
    assert.ok(makeSo, "built by the tests above");
    const server = await startServer({ scripts: SCRIPTS, plugins: [`${makeSo}=mytag`] });
    const s = sio(server);
    try {
      await connected(s);
      const ack = (...args) => s.timeout(5000).emitWithAck(...args);
      assert.deepEqual(await ack("echo", { a: 1 }), { a: 1, _tag: "mytag" });
      assert.deepEqual(await ack("echo", {}), { _tag: "mytag" });
      // A client's own _tag is overwritten; strings and nesting survive the rewrite.
      const tricky = { _tag: "spoof", s: '}{"\\', n: { a: [1, {}, "]"] } };
      assert.deepEqual(await ack("echo", tricky), { ...tricky, _tag: "mytag" });
      assert.equal(await ack("echo", 5), 5);
      assert.deepEqual(await ack("echo", [{ a: 1 }]), [{ a: 1 }]);
      // Only the first argument is tagged.
      const all = await new Promise((resolve, reject) =>
        s.timeout(5000).emit("echo_all", { b: 2 }, { c: 3 }, (err, ...a) =>
          err ? reject(err) : resolve(a),
        ),
      );
      assert.deepEqual(all, [{ b: 2, _tag: "mytag" }, { c: 3 }]);
      assert.match(server.log(), /loaded tag 1\.0\.0/);
      assert.doesNotMatch(server.log(), /besides sb_plugin_entry/);
    } finally {
      s.close();
      await stopClean(null, server);
    }
  });

  test("the CMake-built template, without CONFIG, tags with 'template'", async () => {
    assert.ok(cmakeSo, "built by the tests above");
    const server = await startServer({ scripts: SCRIPTS, plugins: [cmakeSo] });
    const s = sio(server);
    try {
      await connected(s);
      assert.deepEqual(await s.timeout(5000).emitWithAck("echo", { a: 1 }), {
        a: 1,
        _tag: "template",
      });
    } finally {
      s.close();
      await stopClean(null, server);
    }
  });
});

// Internal (non-static) functions carry their subsystem's prefix: none may be exported, or a
// plugin could bind to them (or clash with them).
const INTERNAL = new RegExp(
  "^(registry|bus|conn|sock|luah|pipeline|net|plugins|sio|eio|wsjson|query|adapter|map|sbuf|" +
    "frame|id|fifo|config|log|metrics|redis|link|http|json|api)_",
);

test("the server binary exports nothing but sb_ symbols", () => {
  const syms = exported(BIN);
  // Unversioned only: `stdout@GLIBC_2.2.5` and the like are libc's, copied into the executable.
  const own = syms.filter((s) => !s.includes("@"));
  assert.deepEqual(own.filter((s) => INTERNAL.test(s)), [], "internal functions exported");
  if (SANITIZED) return; // the sanitizers' runtime exports its interceptors; checked above only
  assert.deepEqual(own.filter((s) => !toolchain(s) && !s.startsWith("sb_")), []);
});
