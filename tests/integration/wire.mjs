// Byte-level clients for the tests that must send what well-behaved libraries refuse to: raw
// HTTP requests (paths with "..", which fetch and http.request normalise or reject) and
// WebSocket frames built by hand (unmasked frames, a one-byte close payload, invalid UTF-8).
// Not a test file itself (node --test only runs *.test.mjs).
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import net from "node:net";

import { BIN, ROOT, WebSocket, sleep } from "./helpers.mjs";

// Sends `request` (a string, sent as is) on a fresh TCP connection and resolves with
// {status, headers, body} once the server closes or after `ms` (then with what arrived).
export function rawHttp(port, request, ms = 5000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1");
    const chunks = [];
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      const raw = Buffer.concat(chunks).toString("latin1");
      const end = raw.indexOf("\r\n\r\n");
      const head = end >= 0 ? raw.slice(0, end) : raw;
      const lines = head.split("\r\n");
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] || "");
      const headers = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(":");
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      let body = end >= 0 ? raw.slice(end + 4) : "";
      if (headers["content-length"] !== undefined)
        body = body.slice(0, Number(headers["content-length"]));
      resolve({ status: m ? Number(m[1]) : 0, headers, body, raw });
    };
    const timer = setTimeout(done, ms);
    sock.on("data", (d) => {
      chunks.push(d);
      // A complete response with a Content-Length: no need to wait for the close.
      const raw = Buffer.concat(chunks).toString("latin1");
      const end = raw.indexOf("\r\n\r\n");
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(raw.slice(0, end));
      if (end >= 0 && cl && raw.length - end - 4 >= Number(cl[1])) done();
    });
    sock.on("end", done);
    sock.on("error", (e) => (chunks.length ? done() : (clearTimeout(timer), reject(e))));
    sock.write(request);
  });
}

// A GET request line with headers, as raw text.
export function getRequest(port, path, headers = {}) {
  let s = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n`;
  for (const [k, v] of Object.entries(headers)) s += `${k}: ${v}\r\n`;
  return s + "\r\n";
}

export const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 };

// Encodes one WebSocket frame. `mask` false sends it unmasked (forbidden from a client).
export function encodeFrame(opcode, payload = Buffer.alloc(0), { fin = true, mask = true } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const len = data.length;
  const head = [(fin ? 0x80 : 0) | opcode];
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 65536) head.push(m | 126, len >> 8, len & 0xff);
  else {
    head.push(m | 127, 0, 0, 0, 0);
    head.push((len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), data]);
  const key = crypto.randomBytes(4);
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i++) out[i] = data[i] ^ key[i & 3];
  return Buffer.concat([Buffer.from(head), key, out]);
}

// A close payload: the code in two bytes and a reason.
export function closePayload(code, reason = "") {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return Buffer.concat([b, Buffer.from(reason)]);
}

// A WebSocket client on a raw TCP socket: does the handshake itself and exposes the frames.
// frames(): everything parsed so far; next(): the next text/binary message;
// closed(): resolves with {code, reason} of the server's close frame, or {code: null} when the
// TCP connection ended without one.
export async function rawSocket(port, path = "/socket.io/?EIO=4&transport=websocket", ms = 5000) {
  const sock = net.connect(port, "127.0.0.1");
  await new Promise((resolve, reject) => {
    sock.once("connect", resolve);
    sock.once("error", reject);
  });
  const key = crypto.randomBytes(16).toString("base64");
  sock.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  let buf = Buffer.alloc(0);
  let upgraded = false;
  const frames = [];
  const messages = [];
  const waiters = [];
  let closeFrame = null;
  let ended = false;
  const endWaiters = [];
  const wake = () => {
    while (waiters.length && messages.length) waiters.shift().resolve(messages.shift());
    if (ended || closeFrame)
      for (const w of waiters.splice(0)) w.reject(new Error("connection closed"));
    if (ended) for (const w of endWaiters.splice(0)) w();
  };
  const parse = () => {
    for (;;) {
      if (buf.length < 2) return;
      const b0 = buf[0];
      const b1 = buf[1];
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (b1 & 0x80) off += 4; // a server never masks, but skip a key if it does
      if (buf.length < off + len) return;
      const payload = buf.subarray(off, off + len);
      buf = buf.subarray(off + len);
      const f = { fin: !!(b0 & 0x80), opcode: b0 & 0x0f, payload: Buffer.from(payload) };
      frames.push(f);
      if (f.opcode === OP.TEXT) messages.push(f.payload.toString());
      else if (f.opcode === OP.BINARY) messages.push(f.payload);
      else if (f.opcode === OP.CLOSE && !closeFrame)
        closeFrame = {
          code: f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005,
          reason: f.payload.subarray(2).toString(),
        };
    }
  };
  const handshake = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("handshake timeout")), ms);
    sock.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buf.subarray(0, end).toString("latin1");
        buf = buf.subarray(end + 4);
        clearTimeout(timer);
        if (!/^HTTP\/1\.1 101/.test(head)) {
          reject(new Error(`no upgrade: ${head.split("\r\n")[0]}`));
          return;
        }
        upgraded = true;
        resolve();
      }
      parse();
      wake();
    });
    sock.on("error", () => {});
    sock.on("close", () => {
      ended = true;
      clearTimeout(timer);
      reject(new Error("closed during the handshake"));
      wake();
    });
  });
  await handshake;
  return {
    sock,
    frames,
    send(opcode, payload, opts) {
      if (!sock.destroyed) sock.write(encodeFrame(opcode, payload, opts));
    },
    text(s, opts) {
      this.send(OP.TEXT, Buffer.from(s), opts);
    },
    next(waitMs = 5000) {
      if (messages.length) return Promise.resolve(messages.shift());
      if (ended || closeFrame) return Promise.reject(new Error("connection closed"));
      return new Promise((resolve, reject) => {
        const w = {};
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error("timeout waiting for a message"));
        }, waitMs);
        w.resolve = (m) => (clearTimeout(timer), resolve(m));
        w.reject = (e) => (clearTimeout(timer), reject(e));
        waiters.push(w);
      });
    },
    // The server's close frame (or {code: null} if the TCP connection ended without one).
    async closed(waitMs = 5000) {
      const end = Date.now() + waitMs;
      while (!closeFrame && !ended && Date.now() < end) await sleep(10);
      if (closeFrame) return closeFrame;
      if (ended) return { code: null, reason: "" };
      throw new Error("timeout waiting for close");
    },
    // Resolves once the TCP connection has ended.
    ended(waitMs = 5000) {
      if (ended) return Promise.resolve(true);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("timeout waiting for the end")), waitMs);
        endWaiters.push(() => (clearTimeout(timer), resolve(true)));
      });
    },
    isEnded: () => ended,
    destroy() {
      sock.destroy();
    },
  };
}

// Attempts a WebSocket upgrade that the server is expected to refuse and resolves with the
// HTTP answer {status, headers, body}; rejects if the upgrade is accepted or after `ms`.
export function refusedUpgrade(url, opts = {}, ms = 5000) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no answer to the upgrade of ${url}`));
    }, ms);
    ws.on("unexpected-response", (req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => {
        clearTimeout(timer);
        req.destroy();
        resolve({ status: res.statusCode, headers: res.headers, body });
      });
    });
    ws.on("open", () => {
      clearTimeout(timer);
      ws.terminate();
      reject(new Error(`the upgrade of ${url} was accepted`));
    });
    ws.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

// Runs the switchboard binary to completion and resolves with {code, signal, stdout, stderr}.
// SIGKILL after `ms`: a run that should have failed but started a server ends as a failed
// test, not a hung one.
export function runBinary(args, { env = {}, ms = 10000 } = {}) {
  return new Promise((resolve) => {
    const proc = spawn(BIN, args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (d) => (stdout += d));
    proc.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => proc.kill("SIGKILL"), ms);
    proc.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
