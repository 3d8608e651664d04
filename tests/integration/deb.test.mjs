// The Debian package (`make deb`): unpacked with `dpkg-deb -x` into a temp root, never installed.
// Its control fields and conffiles, the files it ships, the packaged binary run against the
// packaged gateways, plugins and config file, examples/plugin-template built against the
// packaged SDK (pkg-config and CMake) and loaded into the packaged server, and lintian: any
// error or warning fails. The .deb is $SWITCHBOARD_DEB (`make test` sets it), else the newest
// build-release/switchboard_*.deb; without either the tests are skipped (they fail under CI). Skipped under the
// sanitizers too: the package holds the Release build, which the first pass already checked.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { after, before, describe, test } from "node:test";

import {
  DEMO_PLUGINS,
  GATEWAYS,
  ROOT,
  SANITIZED,
  connected,
  record,
  sio,
  sleep,
  startServer,
  stopClean,
} from "./helpers.mjs";

const STEP_MS = 180000;

function newestDeb() {
  const dir = path.join(ROOT, "build-release");
  if (!fs.existsSync(dir)) return null;
  const debs = fs
    .readdirSync(dir)
    .filter((f) => /^switchboard_.*\.deb$/.test(f))
    .map((f) => path.join(dir, f))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return debs[0] || null;
}
const DEB = process.env.SWITCHBOARD_DEB || newestDeb();
// Under CI (`make test`, which builds the .deb first) a missing package fails instead.
const skip = SANITIZED
  ? "the package holds the Release build, checked in the first pass"
  : !DEB && !process.env.CI && "no .deb: run `make deb` (or set SWITCHBOARD_DEB)";

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: STEP_MS, ...opts });
  if (r.error) throw r.error;
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const PROJECT_VERSION = /project\(switchboard VERSION ([0-9.]+)/.exec(
  fs.readFileSync(path.join(ROOT, "CMakeLists.txt"), "utf8"),
)[1];
// The shipped plugins: every plugins/<name>/ with a CMakeLists.txt that adds one.
const PLUGINS = fs
  .readdirSync(path.join(ROOT, "plugins"))
  .filter((d) => {
    const f = path.join(ROOT, "plugins", d, "CMakeLists.txt");
    return fs.existsSync(f) && /sb_add_plugin\(/.test(fs.readFileSync(f, "utf8"));
  });

// `name value` lines of the config file, comments and blank lines dropped.
function confEntries(text) {
  return text
    .split("\n")
    .map((l) => l.replace(/#.*/, "").trim())
    .filter(Boolean)
    .map((l) => {
      const m = /^([a-z-]+)\s*(?:=\s*|\s+)(.*)$/.exec(l);
      return [m[1], m[2]];
    });
}

describe("the Debian package", { skip, timeout: 8 * STEP_MS }, () => {
  let tmp, root, control, multiarch, pluginDir, scriptsDir, bin;

  before(() => {
    assert.ok(DEB, "no .deb: `make test` builds it with `make deb` (or set SWITCHBOARD_DEB)");
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sb-deb-"));
    root = path.join(tmp, "root");
    control = path.join(tmp, "control");
    run("dpkg-deb", ["-x", DEB, root]);
    run("dpkg-deb", ["-e", DEB, control]);
    multiarch = fs.readdirSync(path.join(root, "usr/lib")).find((d) => /-linux-/.test(d)) || "";
    pluginDir = path.join("/usr/lib", multiarch, "switchboard/plugins");
    scriptsDir = "/usr/share/switchboard/scripts";
    bin = path.join(root, "usr/bin/switchboard");
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test("file name and control fields", () => {
    const arch = run("dpkg", ["--print-architecture"]).trim();
    assert.equal(path.basename(DEB), `switchboard_${PROJECT_VERSION}_${arch}.deb`);
    const field = (f) => run("dpkg-deb", ["-f", DEB, f]).trim();
    assert.equal(field("Package"), "switchboard");
    assert.equal(field("Version"), PROJECT_VERSION);
    assert.equal(field("Architecture"), arch);
    assert.equal(field("Section"), "net");
    assert.equal(field("Priority"), "optional");
    assert.match(field("Maintainer"), /^.+ <[^@\s]+@[^@\s]+>$/);
    assert.match(field("Description"), /^real-time server for Socket\.IO and WebSocket clients\n /);
    // dpkg-shlibdeps' libraries, and adduser for the postinst.
    const depends = field("Depends");
    for (const lib of ["adduser", "libc6", "libwebsockets", "libuv1", "libjansson4", "libluajit"])
      assert.match(depends, new RegExp(`(^|, )${lib}`), depends);
  });

  test("the config file is a conffile; the maintainer scripts create the user", () => {
    const conffiles = fs.readFileSync(path.join(control, "conffiles"), "utf8").trim().split("\n");
    assert.deepEqual(conffiles, ["/etc/switchboard/switchboard.conf"]);
    for (const f of conffiles) assert.ok(fs.existsSync(path.join(root, f)), f);
    for (const s of ["postinst", "prerm", "postrm"]) {
      const st = fs.statSync(path.join(control, s));
      assert.equal(st.mode & 0o777, 0o755, s);
      run("sh", ["-n", path.join(control, s)]);
    }
    const postinst = fs.readFileSync(path.join(control, "postinst"), "utf8");
    assert.match(postinst, /getent passwd switchboard/);
    assert.match(postinst, /adduser --system --group --no-create-home/);
    assert.match(postinst, /deb-systemd-helper enable 'switchboard\.service'/);
    assert.match(fs.readFileSync(path.join(control, "postrm"), "utf8"), /"purge"/);
  });

  test("it ships the binary, the plugins, the SDK, the gateways, the unit and the docs", () => {
    assert.ok(multiarch, "usr/lib/<multiarch>/");
    assert.ok(fs.statSync(bin).mode & 0o111, "usr/bin/switchboard is executable");
    for (const p of PLUGINS)
      assert.ok(fs.existsSync(path.join(root, pluginDir, `${p}.so`)), `${p}.so`);
    for (const h of ["plugin.h", "errors.h"])
      assert.equal(
        fs.readFileSync(path.join(root, "usr/include/switchboard", h), "utf8"),
        fs.readFileSync(path.join(ROOT, "include/switchboard", h), "utf8"),
      );
    const lib = path.join(root, "usr/lib", multiarch);
    for (const f of [
      "pkgconfig/switchboard-plugin.pc",
      "cmake/switchboard-plugin/switchboard-plugin-config.cmake",
      "cmake/switchboard-plugin/switchboard-plugin-config-version.cmake",
    ])
      assert.ok(fs.existsSync(path.join(lib, f)), f);
    for (const f of fs.readdirSync(path.join(ROOT, "scripts")).filter((f) => f.endsWith(".lua")))
      assert.ok(fs.existsSync(path.join(root, scriptsDir, f)), f);
    assert.ok(fs.existsSync(path.join(root, scriptsDir, "lib/README.md")));
    for (const f of [
      "lib/systemd/system/switchboard.service",
      "usr/share/doc/switchboard/copyright",
      "usr/share/doc/switchboard/README.md",
      "usr/share/man/man1/switchboard.1.gz",
    ])
      assert.ok(fs.existsSync(path.join(root, f)), f);
    // A native package's changelog, its last entry the package's version.
    const changelog = zlib
      .gunzipSync(fs.readFileSync(path.join(root, "usr/share/doc/switchboard/changelog.gz")))
      .toString();
    assert.match(changelog, new RegExp(`^switchboard \\(${PROJECT_VERSION.replace(/\./g, "\\.")}\\) `));
    // Stripped (CPACK_STRIP_FILES): no symbol table in the binary or the plugins.
    for (const f of [bin, path.join(root, pluginDir, "propagate.so")])
      assert.doesNotMatch(run("readelf", ["-S", "-W", f]), /\.symtab/, f);
    // The plugin directory compiled into the binary is the packaged one.
    assert.ok(fs.readFileSync(bin).includes(Buffer.from(`${pluginDir}\0`)), pluginDir);
  });

  test("the config file points at the packaged gateways and plugins, on loopback", () => {
    const entries = confEntries(
      fs.readFileSync(path.join(root, "etc/switchboard/switchboard.conf"), "utf8"),
    );
    const get = (k) => entries.filter(([n]) => n === k).map(([, v]) => v);
    assert.deepEqual(get("listen"), ["127.0.0.1:3000"]);
    assert.deepEqual(get("scripts"), [scriptsDir]);
    assert.deepEqual(get("plugin-dir"), [pluginDir]);
    assert.deepEqual(get("plugin"), ["propagate"]);
    for (const [, v] of entries.filter(([n]) => n === "scripts" || n === "plugin-dir"))
      assert.ok(fs.statSync(path.join(root, v)).isDirectory(), v);
  });

  test("the systemd unit runs the server with that file, as the switchboard user", () => {
    const unit = fs.readFileSync(path.join(root, "lib/systemd/system/switchboard.service"), "utf8");
    const keys = {};
    for (const l of unit.split("\n")) {
      const m = /^([A-Za-z]+)=(.*)$/.exec(l);
      if (m) keys[m[1]] = m[2];
    }
    assert.equal(keys.Type, "notify"); // the server sends READY=1 (cli.test.mjs checks it)
    assert.equal(keys.User, "switchboard");
    assert.equal(keys.ExecStart, "/usr/bin/switchboard --config /etc/switchboard/switchboard.conf");
    assert.equal(keys.ExecReload, "/bin/kill -HUP $MAINPID");
    assert.equal(keys.WantedBy, "multi-user.target");
    for (const k of ["NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices"])
      assert.equal(keys[k], "yes", k);
    assert.equal(keys.ProtectSystem, "strict");
  });

  test("the packaged binary: --version", () => {
    assert.match(run(bin, ["--version"]), new RegExp(PROJECT_VERSION.replace(/\./g, "\\.")));
  });

  test("the packaged binary serves the packaged gateways with the packaged plugins", async () => {
    const server = await startServer({
      bin,
      scripts: path.join(root, scriptsDir),
      plugins: DEMO_PLUGINS,
      args: ["--plugin-dir", path.join(root, pluginDir)],
    });
    const sockets = [];
    try {
      assert.match(server.log(), new RegExp(`loaded propagate .* from ${root}${pluginDir}/`));
      // The seed demo (seed_demo.test.mjs) with events.lua: every socket of alice gets 1, 2, 3.
      const a = await connected(sio(server, { auth: { token: "alice-token" } }));
      const b = await connected(sio(server, { auth: { token: "alice-token" } }));
      sockets.push(a, b);
      const got = { a: record(a, "events"), b: record(b, "events") };
      a.emit("events", {});
      const end = Date.now() + 5000;
      while ((got.a.length < 3 || got.b.length < 3) && Date.now() < end) await sleep(10);
      assert.deepEqual(got.a, [1, 2, 3]);
      assert.deepEqual(got.b, [1, 2, 3]);
      // chat.lua answers too (without Redis: the in-process rooms).
      const ack = await a.timeout(5000).emitWithAck("join", { room: "lobby" });
      assert.equal(ack?.room, "lobby", JSON.stringify(ack));
    } finally {
      for (const s of sockets) s.close();
      await stopClean(null, server);
    }
  });

  test("the packaged config file starts it (its paths moved under the unpacked root)", async () => {
    // Flags win over the file: only where things are differs from a real install.
    const server = await startServer({
      bin,
      scripts: path.join(root, scriptsDir),
      args: [
        "--config",
        path.join(root, "etc/switchboard/switchboard.conf"),
        "--plugin-dir",
        path.join(root, pluginDir),
      ],
    });
    const s = sio(server);
    try {
      assert.match(server.log(), /loaded propagate/);
      await connected(s);
      const got = record(s, "events");
      s.emit("events", {});
      const end = Date.now() + 5000;
      while (got.length < 3 && Date.now() < end) await sleep(10);
      assert.deepEqual(got, [1, 2, 3]);
    } finally {
      s.close();
      await stopClean(null, server);
    }
  });

  // examples/plugin-template against the packaged SDK only, loaded into the packaged server.
  async function checkTag(so, tag, config) {
    const server = await startServer({
      bin,
      scripts: path.join(GATEWAYS, "sdk"),
      plugins: [config ? `${so}=${config}` : so],
      args: ["--plugin-dir", path.join(root, pluginDir)],
    });
    const s = sio(server);
    try {
      await connected(s);
      assert.deepEqual(await s.timeout(5000).emitWithAck("echo", { a: 1 }), { a: 1, _tag: tag });
      assert.match(server.log(), /loaded tag 1\.0\.0/);
    } finally {
      s.close();
      await stopClean(null, server);
    }
  }

  test("the plugin template builds with pkg-config against the packaged SDK", async () => {
    const pcDir = path.join(root, "usr/lib", multiarch, "pkgconfig");
    const env = {
      ...process.env,
      PKG_CONFIG_PATH: pcDir,
      PKG_CONFIG_LIBDIR: pcDir,
      PKG_CONFIG_SYSROOT_DIR: root,
    };
    const plugindir = run("pkg-config", ["--variable=plugindir", "switchboard-plugin"], {
      env: { ...env, PKG_CONFIG_SYSROOT_DIR: "" },
    }).trim();
    assert.equal(plugindir, pluginDir);
    const cflags = run("pkg-config", ["--cflags", "switchboard-plugin"], { env }).trim();
    assert.equal(cflags, `-I${root}/usr/include`);
    const src = path.join(tmp, "template-make");
    fs.cpSync(path.join(ROOT, "examples/plugin-template"), src, {
      recursive: true,
      filter: (f) => !f.endsWith(".so"),
    });
    run("make", ["-C", src, "CFLAGS=-O2 -Wall -Wextra -Werror"], { env });
    await checkTag(path.join(src, "tag.so"), "pkg", "pkg");
  });

  test("the plugin template builds with CMake against the packaged SDK", async () => {
    const src = path.join(tmp, "template-cmake");
    const build = path.join(tmp, "template-cmake-build");
    fs.cpSync(path.join(ROOT, "examples/plugin-template"), src, {
      recursive: true,
      filter: (f) => !f.endsWith(".so"),
    });
    run("cmake", [
      "-S", src, "-B", build,
      `-DCMAKE_PREFIX_PATH=${path.join(root, "usr")}`,
      "-DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF",
      "-DCMAKE_C_FLAGS=-Werror",
    ]);
    const cache = fs.readFileSync(path.join(build, "CMakeCache.txt"), "utf8");
    const dir = /^switchboard-plugin_DIR:[A-Z]+=(.*)$/m.exec(cache)[1];
    assert.equal(dir, path.join(root, "usr/lib", multiarch, "cmake/switchboard-plugin"));
    run("cmake", ["--build", build]);
    await checkTag(path.join(build, "tag.so"), "template");
  });

  test("lintian: no error, no warning", () => {
    const r = spawnSync("lintian", ["--info", "--no-tag-display-limit", DEB], {
      encoding: "utf8",
      timeout: STEP_MS,
    });
    if (r.error) throw r.error; // ENOENT: tools/install-deps.sh installs lintian
    const tags = r.stdout.split("\n").filter((l) => /^[EW]: /.test(l));
    assert.deepEqual(tags, [], r.stdout);
    assert.ok(r.status === 0, `lintian exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  });
});
