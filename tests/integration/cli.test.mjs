// The command line: --help and --version, usage errors (exit 2 with the usage on stderr), the
// config file's own errors (named file:line), and start-up failures that must name their cause
// (a missing scripts directory, a gateway with a Lua syntax error, an address in use).
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { GATEWAYS, freePort } from "./helpers.mjs";
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
