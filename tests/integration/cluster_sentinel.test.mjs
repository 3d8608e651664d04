// Redis Sentinel (issue 14.3): one master, one replica and three sentinels, all Debian's
// redis-server 7 (`redis-server <conf> --sentinel`), and two switchboard instances on
// `redis+sentinel://S1,S2,S3/mymaster`. The instances find the master through the sentinels,
// follow a SENTINEL FAILOVER, the death of the sentinel they listen to, and then the failover
// the sentinels start themselves when the master is SIGKILLed; clients stay connected, /readyz says 503 while no master is reachable
// and 200 once both follow, and the delivery gap of each failover is reported. Without an
// answering sentinel at start an instance serves its own clients, is not ready, and keeps
// asking (the next sentinel of the list, with backoff).
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT, SANITIZED, closedPort, connected, freePort, record, sio, sleep } from "./helpers.mjs";
import {
  CLUSTER_GATEWAYS,
  SETTLE_MS,
  readyz,
  redisClient,
  startInstance,
  startRedis,
  stopAll,
  tickToUser,
  waitFor,
  waitReadyz,
} from "./redis.mjs";

const TOKENS = path.join(ROOT, "examples/demo/tokens.txt");
const OPTS = { scripts: CLUSTER_GATEWAYS, plugins: [`auth-static=${TOKENS}`] };
const NAME = "mymaster";
const DOWN_AFTER_MS = 1000;
// A failover's delivery gap, as bounded here: the sentinels' own work (down-after, the vote,
// the promotion) plus one reconnect of each instance. Measured values go to the diagnostics.
const GAP_MAX_MS = 10000 * (SANITIZED ? 2 : 1);
const FAILOVER_MS = 15000 * (SANITIZED ? 2 : 1);

const open = [];
function client(server, opts = {}) {
  const s = sio(server, opts);
  open.push(s);
  return connected(s);
}

// One sentinel watching the master at `masterPort`, with a writable config file (sentinels
// rewrite theirs).
async function startSentinel(dir, masterPort, { port, quorum = 2 } = {}) {
  port = port || (await freePort());
  const config = path.join(dir, `sentinel-${port}.conf`);
  fs.writeFileSync(
    config,
    [
      `port ${port}`,
      "bind 127.0.0.1",
      `sentinel monitor ${NAME} 127.0.0.1 ${masterPort} ${quorum}`,
      `sentinel down-after-milliseconds ${NAME} ${DOWN_AFTER_MS}`,
      `sentinel failover-timeout ${NAME} 5000`,
      "",
    ].join("\n"),
  );
  return startRedis({ port, config, args: ["--sentinel"] });
}

// SENTINEL replies are flat [key, value, …] arrays.
const fields = (flat) => Object.fromEntries(flat.reduce((a, v, i) => (i % 2 ? a : [...a, [v, flat[i + 1]]]), []));

// One command of the test's own; retried for a while, as the sentinels' reconfiguration of a
// server drops its clients (CLIENT KILL TYPE normal), the test's too.
async function cmd(client, args, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await client.sendCommand(args);
    } catch (e) {
      if (Date.now() > end) throw e;
      await sleep(50);
    }
  }
}

async function role(client) {
  return cmd(client, ["ROLE"]);
}

// The gaps between consecutive arrivals of `times` that start at or after `from`: the longest.
function longestGap(times, from) {
  let gap = 0;
  for (let k = 1; k < times.length; k++)
    if (times[k] >= from) gap = Math.max(gap, times[k] - Math.max(times[k - 1], from));
  return gap;
}

describe("Redis Sentinel: one master, one replica, three sentinels", () => {
  let dir, master, replica, sentinels = [], sc = [], mc, rcl, s1, s2;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-sentinel-"));
    master = await startRedis();
    replica = await startRedis({ args: ["--replicaof", "127.0.0.1", String(master.port)] });
    mc = await redisClient(master.url);
    rcl = await redisClient(replica.url);
    // The replica is in sync before the sentinels look, so the first INFO they ask the master
    // names it.
    await waitFor(async () => {
      const r = await role(rcl);
      return r[0] === "slave" && r[3] === "connected";
    }, SETTLE_MS, "the replica in sync");
    for (let k = 0; k < 3; k++) sentinels.push(await startSentinel(dir, master.port));
    for (const s of sentinels) sc.push(await redisClient(s.url));
    // Every sentinel knows the master, sees the replica and the two other sentinels.
    await waitFor(async () => {
      for (const c of sc) {
        const addr = await cmd(c, ["SENTINEL", "get-master-addr-by-name", NAME]);
        const replicas = (await cmd(c, ["SENTINEL", "replicas", NAME])).map(fields);
        const others = await cmd(c, ["SENTINEL", "sentinels", NAME]);
        if (!addr || addr[1] !== String(master.port)) return false;
        if (!replicas.some((r) => r.port === String(replica.port) && r.flags === "slave")) return false;
        if (others.length !== 2) return false;
      }
      return true;
    }, SETTLE_MS * 2, "the sentinels to see the master, the replica and each other");
  });
  after(async (t) => {
    for (const s of open.splice(0)) s.close();
    try {
      await stopAll(t, [s1, s2]);
    } finally {
      for (const c of [mc, rcl, ...sc]) await c?.close();
      for (const r of [...sentinels, master, replica]) await r?.kill();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the instances find the master, follow two failovers, and keep their clients", async (t) => {
    const url = `redis+sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(",")}/${NAME}`;
    s1 = await startInstance(url, OPTS);
    s2 = await startInstance(url, OPTS);
    for (const s of [s1, s2])
      assert.match(s.log(), new RegExp(`master '${NAME}' is at 127\\.0\\.0\\.1:${master.port}`));

    const sender = await client(s1, { auth: { token: "bob-token" } });
    const a2 = await client(s2, { auth: { token: "alice-token" } });
    const disconnects = [];
    for (const [k, s] of Object.entries({ sender, a2 })) s.on("disconnect", (r) => disconnects.push(`${k}: ${r}`));
    const ticks = record(a2, "tick");
    const times = [];
    a2.on("tick", () => times.push(Date.now()));
    // /readyz of both, every 50 ms: what it said, and when.
    const statuses = [[], []];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const st = await Promise.all([readyz(s1), readyz(s2)]);
        st.forEach((v, k) => statuses[k].push([Date.now(), v]));
        await sleep(50);
      }
    })();
    const ticker = tickToUser(sender, "alice");

    try {
      // A send-to-user from instance 1 reaches alice on instance 2.
      await waitFor(() => ticks.length >= 5, SETTLE_MS, "ticks through the first master");

      // 1. A SENTINEL FAILOVER: the replica becomes the master, both instances follow.
      const t1 = Date.now();
      const sent1 = ticker.sent;
      assert.equal(await cmd(sc[0], ["SENTINEL", "FAILOVER", NAME]), "OK");
      await waitFor(async () => (await role(rcl))[0] === "master", FAILOVER_MS, "the replica promoted");
      const moved = new RegExp(`master '${NAME}' changed: 127\\.0\\.0\\.1:${master.port} -> 127\\.0\\.0\\.1:${replica.port}`);
      await waitFor(() => moved.test(s1.log()) && moved.test(s2.log()), FAILOVER_MS, "both instances to follow");
      await Promise.all([waitReadyz(s1, 200), waitReadyz(s2, 200)]);
      const n1 = ticks.length;
      await waitFor(() => ticks.length > n1 + 5, SETTLE_MS, "ticks through the new master");
      const gap1 = longestGap(times, t1);
      const lost1 = ticker.sent - sent1 - ticks.filter((v) => v > sent1).length;
      t.diagnostic(`SENTINEL FAILOVER: delivery gap ${gap1} ms, at most ${Math.max(0, lost1)} tick(s) missing of ${ticker.sent - sent1}`);
      assert.ok(gap1 < GAP_MAX_MS, `delivery gap ${gap1} ms`);

      // The demoted master becomes the new master's replica: the sentinels do it themselves
      // after 8 s and an INFO; the test does it now, to stay short.
      await cmd(mc, ["REPLICAOF", "127.0.0.1", String(replica.port)]);
      await waitFor(async () => {
        const r = await role(mc);
        return r[0] === "slave" && r[3] === "connected";
      }, SETTLE_MS, "the old master in sync as a replica");
      await waitFor(async () => {
        for (const c of sc) {
          const replicas = (await cmd(c, ["SENTINEL", "replicas", NAME])).map(fields);
          if (!replicas.some((r) => r.port === String(master.port) && r.flags === "slave" && r["master-link-status"] === "ok"))
            return false;
        }
        return true;
      }, SETTLE_MS * 2, "the sentinels to see the old master as a replica");

      // The sentinel both instances listen to dies: they go on with the next one of the list
      // (two of three still make the quorum and the majority of a vote), staying ready.
      const logMarks = [s1.log().length, s2.log().length];
      await sentinels[0].kill();
      const next = new RegExp(`sentinel connected to 127\\.0\\.0\\.1:${sentinels[1].port}`);
      await waitFor(() => next.test(s1.log().slice(logMarks[0])) && next.test(s2.log().slice(logMarks[1])),
        SETTLE_MS, "both instances on the second sentinel");
      assert.equal(await readyz(s1), 200);
      assert.equal(await readyz(s2), 200);

      // 2. The master is SIGKILLed: both instances say they are not ready, the sentinels fail
      // over to the old master after down-after, the instances follow and are ready again.
      const marks = [statuses[0].length, statuses[1].length];
      const t2 = Date.now();
      const sent2 = ticker.sent;
      await replica.kill();
      const killedAt = Date.now();
      const back = new RegExp(`master '${NAME}' changed: 127\\.0\\.0\\.1:${replica.port} -> 127\\.0\\.0\\.1:${master.port}`);
      await waitFor(() => back.test(s1.log()) && back.test(s2.log()), FAILOVER_MS * 2, "both instances to follow the second failover");
      t.diagnostic(`SIGKILL: the instances followed ${Date.now() - killedAt} ms after the kill (down-after ${DOWN_AFTER_MS} ms)`);
      assert.equal((await role(mc))[0], "master");
      await Promise.all([waitReadyz(s1, 200), waitReadyz(s2, 200)]);
      const n2 = ticks.length;
      await waitFor(() => ticks.length > n2 + 5, SETTLE_MS, "ticks through the third master");
      const gap2 = longestGap(times, t2);
      const lost2 = ticker.sent - sent2 - ticks.filter((v) => v > sent2).length;
      t.diagnostic(`SIGKILL failover: delivery gap ${gap2} ms, at most ${Math.max(0, lost2)} tick(s) missing of ${ticker.sent - sent2}`);
      assert.ok(gap2 < GAP_MAX_MS * 1.5, `delivery gap ${gap2} ms`);
      // /readyz was honest: 503 on both while the killed master was the only one named.
      for (const k of [0, 1]) {
        const after = statuses[k].slice(marks[k]);
        assert.ok(after.some(([, v]) => v === 503), `instance ${k + 1} said 503 while no master was reachable`);
        assert.equal(after.at(-1)[1], 200);
      }
    } finally {
      polling = false;
      await ticker.stop();
      await poller;
    }
    // /readyz answered throughout both failovers (200 or 503, never a failed request).
    for (const k of [0, 1]) {
      const bad = statuses[k].filter(([, v]) => v !== 200 && v !== 503);
      assert.deepEqual(bad, [], `instance ${k + 1}`);
      const n503 = statuses[k].filter(([, v]) => v === 503).length;
      t.diagnostic(`instance ${k + 1}: /readyz polled ${statuses[k].length} times, 503 in ${n503}`);
    }

    // A PUBLISH unconfirmed when a link is dropped goes out again (docs/cluster.md, "Delivery":
    // at least once for those), so a tick may come twice; say how often.
    const dups = ticks.length - new Set(ticks).size;
    t.diagnostic(`${ticks.length} tick(s) received of ${ticker.sent} sent, ${dups} duplicate(s)`);
    // Nobody was disconnected.
    assert.deepEqual(disconnects, []);
    assert.equal(sender.connected && a2.connected, true);
  });
});

describe("Redis Sentinel: no sentinel answers at start", () => {
  let dir, master, sentinel, s1, s2;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-sentinel-"));
    master = await startRedis();
  });
  after(async (t) => {
    for (const s of open.splice(0)) s.close();
    try {
      await stopAll(t, [s1, s2]);
    } finally {
      for (const r of [sentinel, master]) await r?.kill();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the instance serves its clients, is not ready, and finds the master once a sentinel is up", async () => {
    // The first sentinel of the list never answers; the second is started later.
    const closed = await closedPort();
    const port = await freePort();
    s1 = await startInstance(`redis+sentinel://127.0.0.1:${closed},127.0.0.1:${port}/${NAME}`, {
      ...OPTS,
      waitReady: false,
    });
    const a = await client(s1, { auth: { token: "alice-token" } });
    const b = await client(s1, { auth: { token: "bob-token" } });
    const got = record(b, "news");
    assert.equal(await a.timeout(SETTLE_MS).emitWithAck("all", "local"), 2, "local delivery without Redis");
    await waitFor(() => got.length === 1, SETTLE_MS, "the local broadcast");
    assert.equal(await readyz(s1), 503);
    assert.equal((await fetch(`${s1.url}/healthz`)).status, 200);
    await sleep(1000);
    assert.equal(await readyz(s1), 503, "still not ready: no master is known");
    assert.match(s1.log(), /sentinel cannot connect to 127\.0\.0\.1/);

    sentinel = await startSentinel(dir, master.port, { port, quorum: 1 });
    await waitReadyz(s1, 200);
    assert.match(s1.log(), new RegExp(`master '${NAME}' is at 127\\.0\\.0\\.1:${master.port} \\(sentinel 127\\.0\\.0\\.1:${port}\\)`));
    assert.equal(a.connected && b.connected, true);
  });

  test("a master the sentinels do not know: not ready, and said", async () => {
    s2 = await startInstance(`redis+sentinel://127.0.0.1:${sentinel.port}/nosuch`, { ...OPTS, waitReady: false });
    await waitFor(() => /sentinel 127\.0\.0\.1:\d+ does not know master 'nosuch'/.test(s2.log()), SETTLE_MS, "the log line");
    assert.equal(await readyz(s2), 503);
    await client(s2);
    // It keeps asking, with a growing backoff (about 5 times in the first 2 s, not every 100 ms),
    // and says so once.
    await sleep(2000);
    const asked = s2.log().match(/sentinel connected to/g).length;
    assert.ok(asked >= 2 && asked <= 10, `asked ${asked} times`);
    assert.equal(s2.log().match(/does not know master/g).length, 1);
    assert.equal(await readyz(s2), 503);
  });
});

describe("Redis Sentinel: a switch the instance missed", () => {
  let dir, master, replica, sentinel, mc, rcl, sc, s1;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-sentinel-"));
    master = await startRedis();
    replica = await startRedis({ args: ["--replicaof", "127.0.0.1", String(master.port)] });
    sentinel = await startSentinel(dir, master.port, { quorum: 1 });
    [mc, rcl, sc] = [await redisClient(master.url), await redisClient(replica.url), await redisClient(sentinel.url)];
  });
  after(async (t) => {
    try {
      await stopAll(t, [s1]);
    } finally {
      for (const c of [mc, rcl, sc]) await c?.close();
      for (const r of [sentinel, master, replica]) await r?.kill();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a demoted master is refused (ROLE), and the sentinels are asked again", async () => {
    s1 = await startInstance(`redis+sentinel://127.0.0.1:${sentinel.port}/${NAME}`, OPTS);
    // The roles swap behind the instance's back, with no +switch-master: the sentinel is told
    // to forget the master and to monitor the replica, which is promoted by hand; the old
    // master becomes its replica and drops its clients, as a sentinel's reconfiguration does.
    await cmd(sc, ["SENTINEL", "REMOVE", NAME]);
    await cmd(rcl, ["REPLICAOF", "NO", "ONE"]);
    await cmd(mc, ["REPLICAOF", "127.0.0.1", String(replica.port)]);
    assert.equal(await cmd(sc, ["SENTINEL", "MONITOR", NAME, "127.0.0.1", String(replica.port), "1"]), "OK");
    await cmd(mc, ["CLIENT", "KILL", "TYPE", "pubsub"]);
    await cmd(mc, ["CLIENT", "KILL", "TYPE", "normal"]);

    const moved = new RegExp(`master '${NAME}' changed: 127\\.0\\.0\\.1:${master.port} -> 127\\.0\\.0\\.1:${replica.port}`);
    await waitFor(() => moved.test(s1.log()), SETTLE_MS, "the instance to ask again and follow");
    assert.match(s1.log(), new RegExp(`127\\.0\\.0\\.1:${master.port} is not a master \\(role slave\\)`));
    await waitReadyz(s1, 200);
    // Its subscriptions are on the new master.
    await waitFor(async () => Number((await rcl.numsub(["socket.io-request#/#"]))["socket.io-request#/#"]) === 1,
      SETTLE_MS, "the subscriptions on the new master");
  });
});
