// Publishes one event to a switchboard cluster straight through Redis, with the stock
// @socket.io/redis-emitter (no HTTP, no API key: whoever can PUBLISH to that Redis reaches the
// clients). Run from the repository, whose node_modules hold the packages:
//
//   node examples/cluster/emitter.mjs REDIS_URL EVENT [JSON] [--to ROOM]... [--except ROOM]...
//                                     [--of NAMESPACE] [--prefix PREFIX]
//
//   node examples/cluster/emitter.mjs redis://127.0.0.1:6379 news '{"title":"hi"}'
//   node examples/cluster/emitter.mjs redis://127.0.0.1:6379 events 42 --to user:alice
import { Emitter } from "@socket.io/redis-emitter";
import { createClient } from "redis";

const positional = [];
const to = [];
const except = [];
let nsp = "/";
let prefix = "socket.io"; // switchboard's --redis-prefix
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--to") to.push(argv[++i]);
  else if (a === "--except") except.push(argv[++i]);
  else if (a === "--of") nsp = argv[++i];
  else if (a === "--prefix") prefix = argv[++i];
  else positional.push(a);
}
const [url, event, json] = positional;
if (!url || !event) {
  console.error("usage: node emitter.mjs REDIS_URL EVENT [JSON] [--to ROOM]... [--except ROOM]...");
  process.exit(2);
}

const redis = createClient({ url });
redis.on("error", (e) => {
  console.error(`redis: ${e.message}`);
  process.exit(1);
});
await redis.connect();

// io.of(nsp).to(rooms).except(rooms).emit(event, data), as a socket.io server would.
let op = new Emitter(redis, { key: prefix }).of(nsp);
if (to.length) op = op.to(to);
if (except.length) op = op.except(except);
if (json === undefined) op.emit(event);
else op.emit(event, JSON.parse(json));

await redis.quit(); // waits until the PUBLISH went out
console.log(`published '${event}' to ${to.length ? to.join(", ") : "everyone"} in ${nsp}`);
