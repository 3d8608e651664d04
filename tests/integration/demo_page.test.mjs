// The demo page (examples/demo/index.html) in a real browser: headless Chromium driven by
// playwright-core, against the server started as `make run` starts it. Two tabs of alice and an
// anonymous tab, each connecting with the client's default options (HTTP long-polling, then the
// upgrade to WebSocket): "send events" in the first tab shows events 1, 2, 3 exactly once in both of
// alice's tabs and never in the anonymous one; then a chat message from the guest reaches alice.
// Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM); `make test` installs it, so a missing
// Chromium fails this test instead of skipping it. SB_KEEP_SCREENSHOT=file.png keeps the final
// screenshot (otherwise it goes to a temporary directory, removed at the end).
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { DEMO_PLUGINS, SANITIZED, metric, sleep, startServer, stopClean } from "./helpers.mjs";

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
// Chromium as root in a sandbox-less container, with no network beyond loopback: without the
// background-networking flags its own connections are refused at every start.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const SLOW = SANITIZED ? 4 : 1; // the ASan+UBSan server is several times slower
const WAIT = 10000 * SLOW; // every wait below is bounded by this
const QUIET = 300 * SLOW; // a duplicate or stray event would arrive within this

let server;
let browser;
let shot;
const tabs = []; // {name, page, errors}

before(async () => {
  try {
    fs.accessSync(CHROMIUM, fs.constants.X_OK);
  } catch {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: install Debian's chromium package ` +
        "(tools/install-deps.sh, which make test runs, does) or set CHROMIUM to a Chromium binary",
    );
  }
  // Exactly the server of `make run`, on a free port (the server's cwd is the repository root).
  server = await startServer({
    plugins: DEMO_PLUGINS,
    args: [
      "--static", "examples/demo",
      "--static", "/vendor/socket.io-client=node_modules/socket.io-client/dist",
    ],
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    timeout: 60000,
  });
});

after(async (t) => {
  try {
    if (browser) {
      // Bounded: a browser that does not close is left to playwright's exit handler.
      let timer;
      await Promise.race([
        browser.close().catch(() => {}),
        new Promise((resolve) => (timer = setTimeout(resolve, 15000))),
      ]);
      clearTimeout(timer);
    }
  } finally {
    if (shot) fs.rmSync(path.dirname(shot), { recursive: true, force: true });
    if (server) await stopClean(t, server);
  }
});

// The log of a tab, oldest line first, without the timestamps: [{cls, text}].
async function logOf(tab) {
  const lines = await tab.page.$$eval("#log > div", (els) =>
    els.map((e) => ({ cls: e.className, text: e.textContent })),
  );
  return lines.reverse().map((l) => ({ cls: l.cls, text: l.text.replace(/^[\d:.]+\s+/, "") }));
}

async function dump() {
  const out = [];
  for (const tab of tabs) {
    const lines = await logOf(tab).catch((e) => [{ cls: "?", text: String(e) }]);
    out.push(`--- ${tab.name} (page errors: ${JSON.stringify(tab.errors)})`);
    for (const l of lines) out.push(`  [${l.cls}] ${l.text}`);
  }
  out.push("--- server log", server ? server.log() : "");
  return out.join("\n");
}

// Polls `cond()` until true, or fails after WAIT with every tab's log and the server's.
async function until(what, cond) {
  const end = Date.now() + WAIT;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}\n${await dump()}`);
    await sleep(25);
  }
}

const eventsIn = async (tab) =>
  (await logOf(tab)).filter((l) => /^<- events\b/.test(l.text)).map((l) => l.text);
const linesIn = async (tab, re) => (await logOf(tab)).filter((l) => re.test(l.text));

// Brings a tab to the front before clicking or typing in it: Chromium throttles animation frames
// in background tabs, and playwright's actionability checks wait on them (1-2 s a click).
async function front(tab) {
  await tab.page.bringToFront();
  return tab.page;
}

async function openTab(context, name, token) {
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const tab = { name, page, errors: [] };
  page.on("pageerror", (e) => tab.errors.push(e.message));
  tab.transports = new Set(); // the Engine.IO transports of the tab's requests to switchboard
  const seen = (url) => {
    const t = new URL(url).searchParams.get("transport");
    if (t) tab.transports.add(t);
  };
  page.on("request", (r) => seen(r.url())); // HTTP requests (polling)
  page.on("websocket", (ws) => seen(ws.url())); // WebSocket handshakes (the upgrade)
  tabs.push(tab);
  const res = await page.goto(server.url + "/", { timeout: WAIT });
  assert.equal(res.status(), 200, `${name}: GET / answered ${res.status()}`);
  assert.equal(
    await page.evaluate(() => typeof window.io),
    "function",
    `${name}: socket.io-client did not load from /vendor`,
  );
  await page.fill("#token", token);
  return tab;
}

async function connectTab(tab) {
  await (await front(tab)).click("#connect");
  await until(`${tab.name} to connect`, async () =>
    (await tab.page.textContent("#status")).startsWith("connected as "),
  );
  tab.id = (await tab.page.textContent("#status")).slice("connected as ".length).trim();
  assert.ok(tab.id, `${tab.name}: no socket id in the status`);
}

test(
  "demo page: alice's two tabs see events 1,2,3 once each, the anonymous tab none; chat works",
  { timeout: 120000 * SLOW },
  async () => {
    const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
    const alice1 = await openTab(context, "alice tab 1", "alice-token");
    const alice2 = await openTab(context, "alice tab 2", "alice-token");
    const guest = await openTab(context, "anonymous tab", "");
    const upgrades = await metric(server, "switchboard_upgrades_total");
    for (const tab of tabs) await connectTab(tab);
    assert.equal(new Set(tabs.map((t) => t.id)).size, 3, "three separate socket.io connections");
    // Default options: each tab polled first and then upgraded its session to a WebSocket.
    for (const tab of tabs) {
      await until(`${tab.name} to upgrade`, async () =>
        (await tab.page.evaluate(() => socket.io.engine.transport.name)) === "websocket",
      );
      assert.deepEqual([...tab.transports].sort(), ["polling", "websocket"], tab.name);
    }
    assert.equal((await metric(server, "switchboard_upgrades_total")) - upgrades, 3);

    // The events gateway, with the propagate interceptor.
    await (await front(alice1)).click("#events");
    await until("events 1, 2, 3 in both of alice's tabs", async () =>
      (await eventsIn(alice1)).length >= 3 && (await eventsIn(alice2)).length >= 3,
    );
    await sleep(QUIET);
    const want = ["<- events 1", "<- events 2", "<- events 3"];
    assert.deepEqual(await eventsIn(alice1), want, `alice tab 1\n${await dump()}`);
    assert.deepEqual(await eventsIn(alice2), want, `alice tab 2\n${await dump()}`);
    assert.deepEqual(await eventsIn(guest), [], `anonymous tab\n${await dump()}`);

    // The chat gateway: alice (tab 1) and the guest join "lobby", the guest says hello.
    await (await front(alice1)).fill("#room", "lobby");
    await alice1.page.click("#join");
    await until("alice's join ack", async () => (await linesIn(alice1, /^join ack /)).length > 0);
    const [aliceAck] = await linesIn(alice1, /^join ack /);
    assert.deepEqual(JSON.parse(aliceAck.text.slice("join ack ".length)), {
      room: "lobby",
      members: ["alice"],
    });

    const guestName = "guest-" + guest.id.slice(0, 6);
    await (await front(guest)).fill("#room", "lobby");
    await guest.page.click("#join");
    await until("the guest's join ack", async () =>
      (await linesIn(guest, /^join ack /)).length > 0,
    );
    const [guestAck] = await linesIn(guest, /^join ack /);
    assert.deepEqual(JSON.parse(guestAck.text.slice("join ack ".length)), {
      room: "lobby",
      members: [guestName, "alice"].sort(),
    });
    await until("alice to see the guest join", async () =>
      (await linesIn(alice1, /^<- joined /)).length > 0,
    );
    const [joined] = await linesIn(alice1, /^<- joined /);
    assert.deepEqual(JSON.parse(joined.text.slice("<- joined ".length)), {
      room: "lobby",
      user: guestName,
    });

    await guest.page.fill("#text", "hello"); // still in front
    await guest.page.click("#send");
    await until("the guest's message in alice's tab", async () =>
      (await linesIn(alice1, /^<- message /)).length > 0,
    );
    await sleep(QUIET);
    const messages = await linesIn(alice1, /^<- message /);
    assert.equal(messages.length, 1, `one message in alice tab 1\n${await dump()}`);
    const msg = JSON.parse(messages[0].text.slice("<- message ".length));
    assert.equal(msg.room, "lobby");
    assert.equal(msg.from, guestName);
    assert.equal(msg.text, "hello");
    assert.equal(typeof msg.at, "number");
    // The sender is in the room too; alice's second tab never joined it.
    assert.equal((await linesIn(guest, /^<- message /)).length, 1, await dump());
    assert.equal((await linesIn(alice2, /^<- message /)).length, 0, await dump());

    // Nothing went wrong on the way: no connect_error, exception, disconnect, page error.
    for (const tab of tabs) {
      assert.deepEqual(tab.errors, [], `${tab.name}: page errors`);
      const errs = (await logOf(tab)).filter((l) => l.cls === "err");
      assert.deepEqual(errs, [], `${tab.name}: error lines in the log`);
    }

    // A screenshot of alice's first tab: a non-empty PNG of the viewport's size.
    shot = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "sb-demo-")), "demo.png");
    await (await front(alice1)).screenshot({ path: shot, fullPage: true });
    if (process.env.SB_KEEP_SCREENSHOT) fs.copyFileSync(shot, process.env.SB_KEEP_SCREENSHOT);
    const png = fs.readFileSync(shot);
    assert.ok(png.length > 1000, `screenshot is only ${png.length} bytes`);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.equal(png.toString("latin1", 12, 16), "IHDR");
    assert.ok(png.readUInt32BE(16) >= 1000 && png.readUInt32BE(20) >= 900, "screenshot size");

    await context.close();
  },
);
