// Generates the msgpack test vectors of tests/unit/test_adapter.c with the real Node code: the
// socket.io server with @socket.io/redis-adapter, @socket.io/redis-emitter and notepack.io from
// the repository's node_modules. The C test does not need node; run this again after upgrading
// those packages and commit what it changes:
//
//   node tests/unit/adapter_vectors.mjs --update   # rewrites the generated blocks of test_adapter.c
//                                                  # and test_bins.c, and the seeds of
//                                                  # tests/fuzz/corpus/adapter and .../bins
//   node tests/unit/adapter_vectors.mjs            # prints the block instead
//
// Nothing here talks to Redis: the adapter and the emitter get a stand-in client whose publish()
// records the channel and the bytes.
import { createRequire } from "node:module";
import { readFileSync, writeFileSync, mkdirSync, readdirSync, unlinkSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import assert from "node:assert/strict";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const require = createRequire(path.join(root, "package.json"));
const crypto = require("crypto");
const notepack = require("notepack.io");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { Emitter } = require("@socket.io/redis-emitter");
const { Encoder } = require("socket.io-parser");

// The first vector: io.emit("hello", "world") from uid "Ab3dE6".
const PROTOCOLS_HELLO =
  "93 a6 41 62 33 64 45 36 83 a4 74 79 70 65 02 a4 64 61 74 61 92 a5 68 65 6c 6c 6f a5 77 6f 72 " +
  "6c 64 a3 6e 73 70 a1 2f 83 a5 72 6f 6f 6d 73 90 a6 65 78 63 65 70 74 90 a5 66 6c 61 67 73 80";

let published = [];
const client = {
  pSubscribe() {},
  subscribe() {},
  pUnsubscribe() {},
  unsubscribe() {},
  on() {},
  off() {},
  listenerCount() {
    return 0;
  },
  publish(channel, msg) {
    published.push({ channel, msg: Buffer.from(msg) });
    return Promise.resolve(1);
  },
  // serverCount() asks PUBSUB NUMSUB: say nobody else listens.
  sendCommand() {
    return Promise.resolve(["", 0]);
  },
};

const io = new Server({ adapter: createAdapter(client, client) });
io.of("/").adapter.uid = "Ab3dE6";
io.of("/chat").adapter.uid = "Ab3dE6";
const emitter = new Emitter(client);

// Runs `fn` and returns the one message it published.
function capture(fn) {
  published = [];
  fn();
  assert.equal(published.length, 1, "expected one PUBLISH");
  return published[0];
}

// A message whose args hold raw msgpack that no Node value produces (a timestamp with
// nanoseconds, an out-of-range one, the legacy Date extension): encoded with a string marker
// in each place, then the marker's bytes are swapped for the raw bytes.
function craft(event, raws) {
  const markers = raws.map((_, i) => `@@raw${i}@@`);
  let buf = notepack.encode(["Ab3dE6", { type: 2, data: [event, ...markers], nsp: "/" }, {
    rooms: [],
    except: [],
    flags: {},
  }]);
  raws.forEach((hex, i) => {
    const m = notepack.encode(markers[i]);
    const at = buf.indexOf(m);
    assert.ok(at >= 0);
    buf = Buffer.concat([buf.subarray(0, at), Buffer.from(hex.replace(/ /g, ""), "hex"),
      buf.subarray(at + m.length)]);
  });
  return buf;
}

const vectors = [];

// `reencode`: adapter_encode() given the decoded fields must write exactly these bytes (the
// adapter's key order, flags {}, nothing that decoding changes). `big`: too large to paste;
// the message is hex + `fill` repeated `count` times + tail.
function add(name, buf, { reencode = false, big = null, comment } = {}) {
  vectors.push({ name, buf, reencode, big, comment });
}

add("hello", capture(() => io.emit("hello", "world")).msg, { reencode: true });
assert.equal(vectors[0].buf.toString("hex"), PROTOCOLS_HELLO.replace(/ /g, ""));

add("to_except", capture(() =>
  io.to("user:42").except("sid1").emit("msg", { a: 1, b: [1.5, null, true], c: "é" })).msg,
  { reencode: true });

add("nsp_rooms", capture(() => io.of("/chat").to(["a", "b"]).emit("multi", 1, "two")).msg,
  { reencode: true });

add("emitter", capture(() =>
  emitter.to(["r1", 5]).volatile.compress(true).emit("ev", { n: 1 })).msg);

add("emitter_except", capture(() =>
  emitter.of("/admin").to("room1").except(["sid9", 7]).emit("alert", "x")).msg);

add("undefined", capture(() =>
  io.emit("undef", undefined, [undefined, 1], { k: undefined, j: 2 })).msg);

add("buffer", capture(() =>
  io.emit("buf", Buffer.from([0, 1, 2, 254, 255]), Buffer.alloc(300, 0xab),
    new Uint8Array([9, 8]), Buffer.alloc(0))).msg);

add("dates", capture(() => io.emit("date",
  new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678)), // timestamp 64 (milliseconds)
  new Date(Date.UTC(2024, 0, 2, 3, 4, 5)),      // timestamp 32
  new Date(0),
  new Date(-1),                                 // timestamp 96: before 1970
  new Date(Date.UTC(1969, 6, 20, 20, 17, 40, 123)),
  new Date(2 ** 32 * 1000),                     // timestamp 64: seconds above 32 bits
  new Date("0000-01-01T00:00:00.000Z"),
  new Date("-000001-06-15T12:00:00.001Z"),
  new Date("+010000-01-01T00:00:00.000Z"),
  new Date(8.64e15),                            // the last valid Date
  new Date(-8.64e15),
  new Date(NaN),                                // an Invalid Date
)).msg);

// The raw timestamp extensions: 64-bit (30 bits of nanoseconds, 34 of seconds), 96-bit (32 bits
// of nanoseconds, 64 of signed seconds) and notepack's old Date (signed 64-bit milliseconds).
const hex = (n, bytes) => BigInt.asUintN(bytes * 8, BigInt(n)).toString(16).padStart(bytes * 2, "0");
const ts64 = (s, ns) => "d7ff" + hex((BigInt(ns) << 34n) | BigInt(s), 8);
const ts96 = (s, ns) => "c70cff" + hex(ns, 4) + hex(s, 8);
const legacy = (ms) => "d700" + hex(ms, 8);
const t2024 = Date.UTC(2024, 0, 2, 3, 4, 5) / 1000;

add("dates_raw", craft("ns", [
  ts64(t2024, 123456789),       // nanoseconds below the millisecond are dropped
  ts96(-1, 500000),             // -999.5 ms: new Date() truncates towards zero
  ts96(-1, 999999999),          // -0.000001 ms: truncated to 0
  ts64(0, 2 ** 30 - 1),         // nanoseconds above 10^9, which notepack does not refuse
  ts96(2 ** 43, 0),             // beyond +-8.64e15 ms: an Invalid Date, null in JSON
  ts96(-(2 ** 43), 0),
  legacy(Date.UTC(2024, 0, 2, 3, 4, 5, 678)),
  legacy(-1),
  "d6ffffffffff",               // timestamp 32: the largest
]));

add("numbers", capture(() => io.emit("num", NaN, Infinity, -Infinity, -0, 2 ** 40, -(2 ** 40),
  2 ** 53, 2 ** 63, 1.5, -1.5, 0.1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, -32,
  -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 1e300, 5e-324,
  Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER)).msg);

add("numbers_wrap", capture(() => io.emit("wrap", 2 ** 64, 1e21, -(2 ** 64))).msg);

add("nested", capture(() => io.emit("nest", [[1, [2, [3, []]]], { a: { b: { c: {} } } }],
  { x: [{ y: null }], "": "empty key", "ключ": "значение" }, [], {})).msg, { reencode: true });

add("strings", capture(() => io.emit("str", "", "a".repeat(31), "b".repeat(32), "c".repeat(255),
  "d".repeat(256), "日本語", "emoji 😀", "nul\u0000inside")).msg, { reencode: true });

const map20 = {};
for (let i = 0; i < 20; i++)
  map20["k" + i] = i;
add("map20", capture(() => io.emit("map", map20)).msg, { reencode: true });

add("event_int", capture(() => io.emit(42, "n")).msg);
add("event_float", capture(() => io.emit(1.5)).msg);
add("event_tiny", capture(() => io.emit(1e-7)).msg);
add("event_small", capture(() => io.emit(-0.000001234)).msg);

// broadcastWithAck() sends a request (a msgpack map) instead; uid2() draws the request id from
// crypto.randomBytes, made constant here so that the vector is stable.
const randomBytes = crypto.randomBytes;
crypto.randomBytes = (n) => Buffer.alloc(n, 17);
const ack = capture(() => io.timeout(1000).emit("ackme", 1, () => {}));
crypto.randomBytes = randomBytes;
assert.equal(ack.channel, "socket.io-request#/#");
add("request_ack", ack.msg);

add("str70k", capture(() => io.emit("big", "x".repeat(70000))).msg,
  { reencode: true, big: { fill: 0x78, count: 70000 } });
add("arr70000", capture(() => io.emit("arr", new Array(70000).fill(7))).msg,
  { reencode: true, big: { fill: 0x07, count: 70000 } });

// Messages whose args hold Buffers, for test_bins.c: what adapter_decode_bins() must read
// (placeholders numbered as socket.io-parser's Encoder numbers them when this server sends the
// packet to its clients, and the bytes of each) and adapter_encode_bins() must write.
const binVectors = [];
function addBin(name, buf, { reencode = true } = {}) {
  binVectors.push({ name, buf, reencode });
}
addBin("bin_bytes", capture(() => io.emit("b", Buffer.from([1, 2, 3, 0, 255]))).msg);
addBin("bin_empty", capture(() => io.emit("b", Buffer.alloc(0))).msg);
addBin("bin_object", capture(() =>
  io.emit("b", { name: "f.png", file: Buffer.from("PNG"), size: 3 })).msg);
addBin("bin_array", capture(() => io.emit("b", [1, Buffer.from([0xca, 0xfe]), "x"])).msg);
addBin("bin_two", capture(() =>
  io.emit("b", Buffer.from([1]), "between", { deep: [Buffer.from([2, 3])] })).msg);
addBin("bin_same_twice", capture(() => {
  const b = Buffer.from("same");
  io.emit("b", b, b);
}).msg);
addBin("bin_bin16", capture(() => io.of("/chat").to("r").emit("big", Buffer.alloc(300, 0xab))).msg);
addBin("bin_uint8array", capture(() => io.emit("u8", new Uint8Array([7, 8, 9]))).msg);
addBin("bin_emitter", capture(() =>
  emitter.to("room1").emit("e", Buffer.from([4, 5]), { b: Buffer.from([6]) })).msg,
  { reencode: false });
// A map whose keys come as b, 2, 1: JavaScript lists the array-index keys first ("1", "2",
// then "b"), and deconstructPacket() numbers the buffers in that order.
addBin("bin_index_keys", craft("k", ["83 a1 62 c4 01 0b a1 32 c4 01 02 a1 31 c4 01 01"]),
  { reencode: false });
// A repeated key: Node keeps the last value, so the first bin never reaches a client.
addBin("bin_repeated_key", craft("r", ["82 a1 61 c4 01 aa a1 61 c4 01 bb"]), { reencode: false });

// ---------------------------------------------------------------------------------- output

// A C string literal: printable ASCII as is, everything else as octal escapes (which, unlike
// \x, cannot swallow the characters that follow).
function cstr(s) {
  const b = Buffer.from(s, "utf8");
  let out = '"';
  for (const c of b) {
    if (c === 0x22 || c === 0x5c)
      out += "\\" + String.fromCharCode(c);
    else if (c >= 0x20 && c < 0x7f && c !== 0x3f) // '?' would risk a trigraph warning
      out += String.fromCharCode(c);
    else
      out += "\\" + c.toString(8).padStart(3, "0");
  }
  return out + '"';
}

// A long literal split over several lines of at most `width` characters of content.
function lines(s, width, indent) {
  if (s.length <= width)
    return s;
  const parts = [];
  for (let i = 0; i < s.length; i += width)
    parts.push(s.slice(i, i + width));
  return parts.join(`"\n${indent}"`);
}

function literal(text, indent) {
  // Split the escaped form between escapes, never inside one.
  const lit = cstr(text).slice(1, -1);
  const chunks = [];
  let cur = "";
  for (let i = 0; i < lit.length;) {
    const n = lit[i] === "\\" ? (/[0-7]/.test(lit[i + 1]) ? 4 : 2) : 1;
    if (cur.length + n > 84) {
      chunks.push(cur);
      cur = "";
    }
    cur += lit.slice(i, i + n);
    i += n;
  }
  chunks.push(cur);
  return '"' + chunks.join(`"\n${indent}"`) + '"';
}

const indent = "     ";
let block = "";
for (const v of vectors) {
  let hex = v.buf.toString("hex");
  let tail = "";
  if (v.big) {
    const fill = Buffer.alloc(v.big.count, v.big.fill);
    const at = v.buf.indexOf(fill);
    assert.ok(at >= 0);
    tail = v.buf.subarray(at + v.big.count).toString("hex");
    hex = v.buf.subarray(0, at).toString("hex");
    assert.ok(Buffer.concat([v.buf.subarray(0, at), fill, v.buf.subarray(at + v.big.count)])
      .equals(v.buf));
  }
  const decoded = notepack.decode(v.buf);
  const isRequest = !Array.isArray(decoded);
  const packet = isRequest ? decoded.packet : decoded[1];
  const opts = isRequest ? decoded.opts : decoded[2];
  const node = v.big ? null : JSON.stringify(decoded);
  block += `    {\n     ${cstr(v.name)},\n`;
  block += `     "${lines(hex, 84, indent)}",\n`;
  block += `     ${v.big ? "0x" + v.big.fill.toString(16).padStart(2, "0") : 0}, ` +
           `${v.big ? v.big.count : 0}, "${tail}",\n`;
  block += `     ${node === null ? "NULL" : literal(node, indent)},\n`;
  block += `     ${literal(String(packet.data[0]), indent)},\n`;
  block += `     ${literal(JSON.stringify(opts.rooms.map(String)), indent)},\n`;
  block += `     ${literal(JSON.stringify(opts.except.map(String)), indent)},\n`;
  block += `     ${isRequest}, ${v.reencode},\n    },\n`;
}

let binBlock = "";
for (const v of binVectors) {
  const packet = notepack.decode(v.buf)[1];
  // What this Node server would send its clients: a BINARY_EVENT string, then the buffers.
  const [text, ...buffers] = new Encoder().encode({ type: 2, data: packet.data, nsp: packet.nsp });
  assert.ok(typeof text === "string" && text[0] === "5");
  const json = JSON.parse(text.slice(text.indexOf(packet.nsp === "/" ? "[" : ",") + (packet.nsp === "/" ? 0 : 1)));
  assert.equal(buffers.length <= 4, true);
  binBlock += `    {\n     ${cstr(v.name)},\n`;
  binBlock += `     "${lines(v.buf.toString("hex"), 84, indent)}",\n`;
  binBlock += `     ${literal(JSON.stringify(json.slice(1)), indent)},\n`;
  binBlock += `     ${literal(text, indent)},\n`;
  binBlock += `     ${buffers.length}, {${buffers.map((b) => `"${lines(Buffer.from(b).toString("hex"), 84, indent)}"`).join(", ")}},\n`;
  binBlock += `     ${v.reencode},\n    },\n`;
}

const BEGIN = "/* BEGIN generated by adapter_vectors.mjs */\n";
const END = "/* END generated by adapter_vectors.mjs */";

if (process.argv.includes("--update")) {
  const file = path.join(here, "test_adapter.c");
  const src = readFileSync(file, "utf8");
  const a = src.indexOf(BEGIN), b = src.indexOf(END);
  assert.ok(a >= 0 && b > a, "markers not found in test_adapter.c");
  writeFileSync(file, src.slice(0, a + BEGIN.length) + block + src.slice(b));
  const binFile = path.join(here, "test_bins.c");
  const binSrc = readFileSync(binFile, "utf8");
  const c = binSrc.indexOf(BEGIN), d = binSrc.indexOf(END);
  assert.ok(c >= 0 && d > c, "markers not found in test_bins.c");
  writeFileSync(binFile, binSrc.slice(0, c + BEGIN.length) + binBlock + binSrc.slice(d));
  // The seeds of fuzz_bins: every binary message as raw bytes (hand-made seeds beside them
  // have other names).
  const binCorpus = path.join(root, "tests/fuzz/corpus/bins");
  mkdirSync(binCorpus, { recursive: true });
  for (const f of readdirSync(binCorpus))
    if (/^node-/.test(f))
      unlinkSync(path.join(binCorpus, f));
  for (const v of binVectors)
    writeFileSync(path.join(binCorpus, "node-" + v.name), v.buf);

  // The seed corpus of fuzz_adapter: every small vector as raw bytes.
  const corpus = path.join(root, "tests/fuzz/corpus/adapter");
  mkdirSync(corpus, { recursive: true });
  for (const f of readdirSync(corpus))
    if (/^(node|bad|json)-/.test(f))
      unlinkSync(path.join(corpus, f));
  for (const v of vectors)
    if (!v.big)
      writeFileSync(path.join(corpus, "node-" + v.name), v.buf);
  // And malformed variants, which the decoder must refuse.
  const hello = vectors[0].buf;
  const packet = { type: 2, data: ["e"], nsp: "/" };
  const opts = { rooms: [], except: [], flags: {} };
  const deep = [];
  let inner = deep;
  for (let i = 0; i < 70; i++) {
    inner.push([]);
    inner = inner[0];
  }
  const bad = {
    "truncated": hello.subarray(0, hello.length - 1),
    "trailing": Buffer.concat([hello, Buffer.from([0xc0])]),
    "two-elements": notepack.encode(["Ab3dE6", packet]),
    "data-empty": notepack.encode(["Ab3dE6", { ...packet, data: [] }, opts]),
    "event-map": notepack.encode(["Ab3dE6", { ...packet, data: [{}] }, opts]),
    "deep": notepack.encode(["Ab3dE6", { ...packet, data: ["e", deep] }, opts]),
    "utf8": Buffer.from(hello.toString("hex").replace("776f726c64", "776fff6c64"), "hex"),
    "int-key": Buffer.from("93a178" + "81" + "01" + "02" + "80", "hex"),
    "huge-count": Buffer.from("93a178ddffffffff", "hex"),
    "rooms-bool": notepack.encode(["Ab3dE6", packet, { ...opts, rooms: [true] }]),
  };
  for (const [name, buf] of Object.entries(bad))
    writeFileSync(path.join(corpus, "bad-" + name), buf);
  writeFileSync(path.join(corpus, "json-request"), '{"uid":"x","requestId":"r","type":1}');
} else {
  process.stdout.write(BEGIN + block + END + "\n");
  process.stdout.write(BEGIN + binBlock + END + "\n");
}
process.exit(0);
