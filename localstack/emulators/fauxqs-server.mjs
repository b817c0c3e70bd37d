// fauxqs-server.mjs runs the fauxqs SQS emulator on the loopback interface only.
//
// Usage: node fauxqs-server.mjs [PORT]
//
// PORT defaults to $FAUXQS_PORT, then 0 (the kernel picks a free port). Once the
// server is accepting connections it prints exactly one line on stdout:
//
//     fauxqs listening 127.0.0.1:PORT
//
// The process exits when its standard input reaches end-of-file, or on SIGTERM,
// SIGINT or SIGHUP, so it never outlives the process that started it with a
// pipe on stdin. (Run it by hand with stdin on a terminal; `< /dev/null`
// makes it exit at once.) fauxqs's own CLI listens on 0.0.0.0, which is why
// this file exists.

// fauxqs's package.json exports only ".", so the store modules are imported by
// path. These resolve to the same module instances that app.js uses.
import { buildApp } from "./node_modules/fauxqs/dist/app.js";
import { SqsStore } from "./node_modules/fauxqs/dist/sqs/sqsStore.js";
import { SnsStore } from "./node_modules/fauxqs/dist/sns/snsStore.js";
import { S3Store } from "./node_modules/fauxqs/dist/s3/s3Store.js";

const HOST = "127.0.0.1";

function parsePort(raw) {
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`invalid port ${JSON.stringify(raw)}`);
  }
  return port;
}

const app = buildApp({
  logger: false,
  stores: { sqsStore: new SqsStore(), snsStore: new SnsStore(), s3Store: new S3Store() },
});

let stopping = false;
async function stop(reason, code = 0) {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`fauxqs stopping: ${reason}\n`);
  // Do not let a stuck close keep the process alive.
  setTimeout(() => process.exit(code), 2000).unref();
  try {
    await app.close();
  } catch (err) {
    process.stderr.write(`fauxqs close: ${err}\n`);
  }
  process.exit(code);
}

for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) {
  process.on(signal, () => stop(signal));
}
process.stdin.on("end", () => stop("stdin closed"));
process.stdin.on("error", () => stop("stdin error"));
process.stdin.resume();

try {
  const port = parsePort(process.argv[2] ?? process.env.FAUXQS_PORT ?? "0");
  await app.listen({ port, host: HOST });
  const { port: bound } = app.server.address();
  if (!stopping) {
    process.stdout.write(`fauxqs listening ${HOST}:${bound}\n`);
  }
} catch (err) {
  process.stderr.write(`fauxqs listen: ${err?.stack ?? err}\n`);
  await stop("listen failed", 1);
}
