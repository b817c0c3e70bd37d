#!/usr/bin/env node
// invoke.mjs runs one of agentq's built Lambda functions under @vercel/fun, a local
// implementation of the Lambda Runtime API, and prints what Lambda's Invoke API would answer.
//
//   node invoke.mjs [--timeout=SECONDS] [--out=FILE] FUNCTION_DIR ENV_JSON EVENT_JSON...
//
// FUNCTION_DIR holds the `bootstrap` executable (runtime `provided`, handler `bootstrap`).
// ENV_JSON is a file with one JSON object: the environment the function sees, as in the
// function's configuration. AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are reserved
// in Lambda (fun refuses them as variables too): they are handed to fun as the function's region
// and credentials instead, which is how the process gets them on Lambda. Nothing else of this
// process's environment reaches the function: fun passes PATH and the Lambda variables only.
// Each EVENT_JSON is a file with one event; the events are invoked in order on the same function,
// so the second one finds the process warm, as Lambda would.
//
// For each event one line of JSON is written, {"StatusCode":200,"FunctionError":"Handled",
// "ExecutedVersion":"$LATEST","Payload":...}, with Payload decoded when it is JSON. The lines go to
// FILE when --out is given, otherwise to stdout, which the function's own stdout shares.
//
// Before it exits the function is destroyed and every process it started has exited: the exit
// status is 0 when every event got an answer (a function error is an answer), 1 otherwise, and 2
// when the whole run exceeded its time limit (TIMEOUT + 30 s), which kills the function first.

import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, resolve } from "node:path";

const require = createRequire(import.meta.url);
const fun = require("@vercel/fun");
const { RuntimeServer } = require("@vercel/fun/dist/src/runtime-server.js");
const NativeProvider = require("@vercel/fun/dist/src/providers/native/index.js").default;

// Lambda's reserved variables, which fun takes as createFunction parameters.
const reserved = {
  AWS_REGION: "Region",
  AWS_ACCESS_KEY_ID: "AccessKeyId",
  AWS_SECRET_ACCESS_KEY: "SecretAccessKey",
};

function usage(msg) {
  if (msg) console.error(`invoke.mjs: ${msg}`);
  console.error("usage: node invoke.mjs [--timeout=SECONDS] [--out=FILE] FUNCTION_DIR ENV_JSON EVENT_JSON...");
  process.exit(64);
}

let timeout = 30;
let out = "";
const args = [];
for (const a of process.argv.slice(2)) {
  if (a.startsWith("--timeout=")) {
    timeout = Number(a.slice("--timeout=".length));
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > 900) usage(`bad ${a}: want 1 to 900 seconds`);
  } else if (a.startsWith("--out=")) {
    out = a.slice("--out=".length);
  } else if (a.startsWith("--")) {
    usage(`unknown flag ${a}`);
  } else {
    args.push(a);
  }
}
if (args.length < 3) usage();
const [dir, envFile, ...eventFiles] = args;

const env = JSON.parse(readFileSync(envFile, "utf8"));
if (env === null || typeof env !== "object" || Array.isArray(env)) usage(`${envFile}: want one JSON object`);
const params = {
  FunctionName: basename(resolve(dir)),
  Runtime: "provided",
  Handler: "bootstrap",
  Code: { Directory: resolve(dir) },
  MemorySize: 256,
  Timeout: timeout,
  Environment: { Variables: {} },
};
for (const [name, value] of Object.entries(env)) {
  if (typeof value !== "string") usage(`${envFile}: ${name} is not a string`);
  if (reserved[name]) params[reserved[name]] = value;
  else params.Environment.Variables[name] = value;
}
const events = eventFiles.map((f) => readFileSync(f, "utf8"));

// fun 1.3.6 sends a fixed Lambda-Runtime-Deadline-Ms of 5000, which the runtime reads as an
// absolute time in Unix milliseconds: 1970, so every invocation's context would be over before
// it starts (its source marks it "TODO: use dynamic values"). Lambda sends now + the function's
// timeout; so does this wrapper.
const nextInvocation = RuntimeServer.prototype.handleNextInvocation;
RuntimeServer.prototype.handleNextInvocation = function (req, res) {
  const setHeader = res.setHeader.bind(res);
  const timeoutMs = this.lambda.timeout * 1000;
  res.setHeader = (name, value) =>
    setHeader(name, String(name).toLowerCase() === "lambda-runtime-deadline-ms" ? String(Date.now() + timeoutMs) : value);
  return nextInvocation.call(this, req, res);
};

// fun's destroy sends SIGTERM (tree-kill) and returns without waiting; every process it starts is
// kept here, so that the driver waits for them to exit and kills what does not.
const started = new Set();
const createProcess = NativeProvider.prototype.createProcess;
NativeProvider.prototype.createProcess = async function () {
  const proc = await createProcess.call(this);
  started.add(proc);
  proc.once("exit", () => started.delete(proc));
  return proc;
};

function killAll() {
  for (const proc of started) {
    try {
      proc.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
}

async function waitExited(ms) {
  const deadline = Date.now() + ms;
  while (started.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (started.size > 0) {
    console.error(`invoke.mjs: ${started.size} function process(es) ignored SIGTERM; killing them`);
    killAll();
    while (started.size > 0 && Date.now() < deadline + 2000) await new Promise((r) => setTimeout(r, 20));
  }
}

const guard = setTimeout(() => {
  console.error(`invoke.mjs: no answer within ${timeout + 30} s; killing the function`);
  killAll();
  process.exit(2);
}, (timeout + 30) * 1000);

let fn;
let status = 0;
const lines = [];
try {
  fn = await fun.createFunction(params);
  for (const payload of events) {
    const result = await fn.invoke({ InvocationType: "RequestResponse", Payload: payload });
    let decoded = String(result.Payload);
    try {
      decoded = JSON.parse(decoded);
    } catch {
      // not JSON: kept as the string it is
    }
    lines.push(JSON.stringify({ ...result, Payload: decoded }));
  }
} catch (err) {
  console.error(`invoke.mjs: ${err && err.stack ? err.stack : err}`);
  status = 1;
} finally {
  if (fn) {
    try {
      await fn.destroy();
    } catch (err) {
      console.error(`invoke.mjs: destroy: ${err && err.message ? err.message : err}`);
    }
  }
  await waitExited(5000);
  clearTimeout(guard);
}

const text = lines.map((l) => l + "\n").join("");
if (out) writeFileSync(out, text);
else process.stdout.write(text);
process.exit(status);
