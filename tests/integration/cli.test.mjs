// The command line: --help and --version, usage errors (exit 2 with the usage on stderr), the
// config file's own errors (named file:line), and start-up failures that must name their cause
// (a missing scripts directory, a gateway with a Lua syntax error, an address in use), and the
// readiness notification systemd's Type=notify waits for.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { BIN, GATEWAYS, freePort } from "./helpers.mjs";
import { runBinary } from "./wire.mjs";

const OK_SCRIPTS = path.join(GATEWAYS, "cli/ok");

const run = runBinary;

// Arguments that would start a working server on a free loopback port.
async function base() {
  return ["--listen", `127.0.0.1:${await freePort()}`, "--scripts", OK_SCRIPTS];
}

const USAGE = /^usage: switchboard \[options\]/m;

describe("--help and --version", () => {
  for (const flag of ["--help", "-h"]) {
    test(`${flag} prints the usage on stdout and exits 0`, async () => {
      const r = await run([flag]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, USAGE);
      const opts = ["--listen", "--ping-interval", "--max-payload", "--plugin", "--config"];
      for (const opt of opts)
        assert.ok(r.stdout.includes(opt), `usage lacks ${opt}`);
    });
  }

  test("--help wins over other (even invalid) arguments", async () => {
    const r = await run(["--ping-interval", "abc", "--help"]);
    // The first pass sees --help before any value is checked.
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, USAGE);
  });

  test('--version prints "switchboard <version>" and exits 0', async () => {
    const r = await run(["--version"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^switchboard \d+\.\d+\.\d+\b/);
    assert.equal(r.stdout.trim().split("\n").length, 1);
  });
});

describe("usage errors exit 2 with the usage on stderr", () => {
  const cases = [
    ["an unknown flag", ["--no-such-flag"], /--no-such-flag/],
    ["an unknown flag with =value", ["--no-such-flag=1"], /--no-such-flag/],
    ["a positional argument", ["extra"], /extra/],
    ["a missing value", ["--ping-interval"], /ping-interval/],
    ["--ping-interval abc", ["--ping-interval", "abc"], /ping-interval.*abc/],
    ["--ping-interval=abc", ["--ping-interval=abc"], /ping-interval.*abc/],
    ["--ping-interval below its minimum", ["--ping-interval", "5"], /ping-interval/],
    ["--ping-interval -1", ["--ping-interval", "-1"], /ping-interval/],
    ["--ping-timeout 1e3", ["--ping-timeout", "1e3"], /ping-timeout/],
    ["--max-payload too small", ["--max-payload", "10"], /max-payload/],
    ["--max-connections overflowing", ["--max-connections", "1".repeat(20)], /max-connections/],
    ["--listen nope", ["--listen", "nope"], /listen.*nope/],
    ["--listen with a bad port", ["--listen", "127.0.0.1:70000"], /listen/],
    ["--log-level loud", ["--log-level", "loud"], /log-level.*loud/],
    ["--require-auth=maybe", ["--require-auth=maybe"], /require-auth.*maybe/],
    ["--static with an empty dir", ["--static", ""], /static/],
    ["--plugin with an empty name", ["--plugin", "=x"], /plugin/],
  ];
  for (const [label, args, names] of cases) {
    test(label, async () => {
      // The bad flag comes last so it overrides the valid --listen of base().
      const r = await run([...(await base()), ...args]);
      assert.equal(r.code, 2, `exit ${r.code ?? r.signal}\n${r.stderr}`);
      assert.match(r.stderr, USAGE);
      assert.match(r.stderr, names);
      assert.equal(r.stdout, "");
    });
  }

  test("a bad value in the environment exits 2 naming the variable", async () => {
    const r = await run(await base(), { env: { SWITCHBOARD_PING_INTERVAL: "abc" } });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /SWITCHBOARD_PING_INTERVAL.*abc/);
  });
});

describe("--redis", () => {
  test("a URL that is not redis:// is refused with exit 2 naming the option", async () => {
    const r = await run([...(await base()), "--redis", "http://127.0.0.1:1"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--redis: expected redis:\/\//);
  });

  test("SWITCHBOARD_REDIS_URL too, and a bad port is named", async () => {
    const r = await run(await base(), { env: { SWITCHBOARD_REDIS_URL: "redis://127.0.0.1:99999" } });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--redis: bad port/);
  });

  test("a password in the URL never reaches the output of a refusal", async () => {
    const r = await run([...(await base()), "--redis", "redis://:s3cr3t-pw@127.0.0.1:0/x"]);
    assert.equal(r.code, 2, r.stderr);
    assert.doesNotMatch(r.stderr + r.stdout, /s3cr3t-pw/);
  });

  test("a bad redis+sentinel:// URL exits 2 with the reason, never the password", async () => {
    const r = await run([...(await base()), "--redis", "redis+sentinel://:s3cr3t-pw@127.0.0.1:26379"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--redis: missing \/mastername/);
    assert.doesNotMatch(r.stderr + r.stdout, /s3cr3t-pw/);
    const r2 = await run([...(await base()), "--redis", "redis+sentinel://h:1,h:0/m"]);
    assert.equal(r2.code, 2, r2.stderr);
    assert.match(r2.stderr, /--redis: bad port/);
  });

  test("an empty or '#' prefix is refused", async () => {
    const r = await run([...(await base()), "--redis", "redis://127.0.0.1:1", "--redis-prefix", "a#b"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /prefix/);
  });
});

describe("--config file errors", () => {
  let dir;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-cli-"));
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const file = (name, text) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text);
    return f;
  };

  test("an unknown key exits 2 naming file:line", async () => {
    const f = file("unknown.conf", "# comment\nping-interval 300\n\nbogus-key 1\n");
    const r = await run([...(await base()), "--config", f]);
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes(`${f}:4`), `stderr does not name ${f}:4:\n${r.stderr}`);
    assert.match(r.stderr, /bogus-key/);
  });

  test("a bad value exits 2 naming file:line", async () => {
    const f = file("badvalue.conf", "ping-interval 300\nping-timeout soon\n");
    const r = await run([...(await base()), "--config", f]);
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes(`${f}:2`), `stderr does not name ${f}:2:\n${r.stderr}`);
    assert.match(r.stderr, /ping-timeout.*soon/);
  });

  test("`config` inside a config file is refused", async () => {
    const f = file("nested.conf", `config ${path.join(dir, "unknown.conf")}\n`);
    const r = await run([...(await base()), "--config", f]);
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes(`${f}:1`), r.stderr);
  });

  test("a missing config file exits 2 naming it", async () => {
    const f = path.join(dir, "absent.conf");
    const r = await run([...(await base()), "--config", f]);
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes(f), r.stderr);
  });
});

describe("start-up failures name their cause", () => {
  test("a scripts directory that does not exist", async () => {
    const missing = path.join(os.tmpdir(), `sb-no-such-dir-${process.pid}`);
    const r = await run(["--listen", `127.0.0.1:${await freePort()}`, "--scripts", missing]);
    assert.notEqual(r.code, 0, r.stderr);
    assert.equal(r.signal, null, "killed: it started a server");
    assert.ok(r.stderr.includes(missing), `the message does not name ${missing}:\n${r.stderr}`);
  });

  test("a gateway with a Lua syntax error names file:line", async () => {
    const dir = path.join(GATEWAYS, "cli/syntax_error");
    const r = await run(["--listen", `127.0.0.1:${await freePort()}`, "--scripts", dir]);
    assert.notEqual(r.code, 0, r.stderr);
    assert.equal(r.signal, null, "killed: it started a server");
    assert.match(r.stderr, /broken\.lua:4:/);
  });

  test("an address already in use", async () => {
    const blocker = net.createServer();
    await new Promise((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const { port } = blocker.address();
    try {
      const r = await run(["--listen", `127.0.0.1:${port}`, "--scripts", OK_SCRIPTS]);
      assert.notEqual(r.code, 0, r.stderr);
      assert.equal(r.signal, null, "killed: it started a server");
      assert.ok(r.stderr.includes(String(port)), r.stderr);
    } finally {
      blocker.close();
    }
  });
});

describe("systemd's readiness notification (the unit's Type=notify)", () => {
  // Node has no Unix datagram sockets: Debian's Python listens where $NOTIFY_SOCKET points, as
  // systemd does, and prints each datagram on a line of its own.
  function listen(socketPath) {
    const script = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    print(s.recv(4096).decode().replace("\\n", "|"), flush=True)
`;
    const p = spawn("/usr/bin/python3", ["-c", script, socketPath], { stdio: ["ignore", "pipe", "inherit"] });
    const lines = [];
    let buf = "";
    p.stdout.on("data", (d) => {
      buf += d;
      for (let i; (i = buf.indexOf("\n")) >= 0; buf = buf.slice(i + 1)) lines.push(buf.slice(0, i));
    });
    return { p, lines };
  }
  const waitLine = async (lines, want, ms = 5000) => {
    for (const t0 = Date.now(); !lines.includes(want); await new Promise((r) => setTimeout(r, 20)))
      if (Date.now() - t0 > ms) throw new Error(`no ${want} in ${JSON.stringify(lines)}`);
  };

  test("READY=1 once it listens, STOPPING=1 at SIGTERM", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-notify-"));
    const sock = path.join(dir, "notify");
    const l = listen(sock);
    try {
      await waitLine(l.lines, "bound");
      const args = await base();
      const port = Number(args[1].split(":")[1]);
      const proc = spawn(BIN, args, { env: { ...process.env, NOTIFY_SOCKET: sock }, stdio: "ignore" });
      const exited = new Promise((r) => proc.on("close", (code) => r(code)));
      await waitLine(l.lines, "READY=1");
      // Ready means serving: the port answers by then.
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(res.status, 200);
      proc.kill("SIGTERM");
      await waitLine(l.lines, "STOPPING=1");
      assert.equal(await exited, 0);
      assert.deepEqual(l.lines, ["bound", "READY=1", "STOPPING=1"]);
    } finally {
      l.p.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
