#!/usr/bin/env node
// Reference benchmark for `accord bench`: graphile-worker running no-op jobs.
//
//   node noop.js --url postgres://user@host:5432/db --jobs N --concurrency C
//                [--schema NAME] [--timeout SECONDS] [--verbose]
//
// Steps: migrate graphile-worker into its own schema (default
// `graphile_worker_bench`), remove any jobs left over from an earlier run,
// enqueue N `noop` jobs in a single bulk `add_jobs` call, then start a worker
// pool with concurrency C and time it from start until every job has been
// completed and deleted from the queue table.
//
// stdout receives exactly one line of JSON:
//   {"jobs":N,"concurrency":C,"seconds":S,"jobs_per_s":R,"version":"x.y.z"}
// Everything else goes to stderr. Exit code is non-zero on any failure.
"use strict";

// graphile-worker logs one INFO line per completed job unless this is set;
// our logger drops INFO anyway, this just skips formatting those messages.
process.env.NO_LOG_SUCCESS = process.env.NO_LOG_SUCCESS || "1";

const { parseArgs } = require("node:util");
const { EventEmitter } = require("node:events");
const fs = require("node:fs");
const path = require("node:path");
const { pathToFileURL } = require("node:url");

const PREFIX = "graphile bench:";

function fail(message) {
  process.stderr.write(`${PREFIX} error: ${message}\n`);
  process.exit(1);
}

function usage() {
  return (
    "usage: node noop.js --url postgres://... --jobs N --concurrency C " +
    "[--schema NAME] [--timeout SECONDS] [--verbose]"
  );
}

function parseOptions(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        url: { type: "string" },
        jobs: { type: "string" },
        concurrency: { type: "string" },
        schema: { type: "string", default: "graphile_worker_bench" },
        timeout: { type: "string", default: "300" },
        verbose: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    fail(`${e.message}\n${usage()}`);
  }
  if (values.help) {
    process.stderr.write(usage() + "\n");
    process.exit(0);
  }
  const url = values.url || process.env.DATABASE_URL;
  if (!url) fail(`--url is required\n${usage()}`);
  const positiveInt = (name, raw) => {
    if (raw === undefined) fail(`--${name} is required\n${usage()}`);
    if (!/^[0-9]+$/.test(raw) || Number(raw) < 1 || !Number.isSafeInteger(Number(raw))) {
      fail(`--${name} must be a positive integer, got ${JSON.stringify(raw)}`);
    }
    return Number(raw);
  };
  const jobs = positiveInt("jobs", values.jobs);
  const concurrency = positiveInt("concurrency", values.concurrency);
  const timeout = positiveInt("timeout", values.timeout);
  // Restrict to plain identifiers so the name never needs quoting tricks and
  // can never accidentally point at a foreign schema.
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(values.schema)) {
    fail(`--schema must match [a-z_][a-z0-9_]* (got ${JSON.stringify(values.schema)})`);
  }
  return { url, jobs, concurrency, timeout, schema: values.schema, verbose: values.verbose };
}

function redact(url) {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

function describeError(e) {
  if (!e) return "unknown error";
  if (e instanceof AggregateError && e.errors && e.errors.length) {
    return e.errors.map(describeError).join("; ");
  }
  const parts = [e.message || String(e)];
  if (e.code && !parts[0].includes(e.code)) parts.push(`(${e.code})`);
  return parts.join(" ");
}

// Resolve through require() so NODE_PATH (a node_modules outside this folder)
// works. graphile-worker <= 0.17 is CommonJS; 0.18+ is ESM-only (and needs
// Node >= 22.18), so fall back to import() of the resolved file if needed.
async function loadGraphile() {
  let entry;
  try {
    entry = require.resolve("graphile-worker");
  } catch (e) {
    fail(
      `cannot find graphile-worker (${describeError(e).split("\n")[0]}); ` +
        `run \`npm ci\` in ${__dirname} first (or point NODE_PATH at its node_modules)`,
    );
  }
  let gw;
  try {
    gw = require(entry);
  } catch (e) {
    if (e && e.code !== "ERR_REQUIRE_ESM") fail(`cannot load graphile-worker: ${describeError(e)}`);
    try {
      gw = await import(pathToFileURL(entry).href);
    } catch (e2) {
      fail(`cannot load graphile-worker (node ${process.version}): ${describeError(e2)}`);
    }
  }
  let version = "unknown";
  for (let dir = path.dirname(entry); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const candidate = path.join(dir, "package.json");
    try {
      const pkg = JSON.parse(fs.readFileSync(candidate, "utf8"));
      if (pkg.name === "graphile-worker") {
        version = pkg.version;
        break;
      }
    } catch {
      // keep walking up
    }
  }
  return { gw, version };
}

function makeLogger(Logger, verbose) {
  const levels = verbose ? ["error", "warning", "info", "debug"] : ["error", "warning"];
  return new Logger((scope) => (level, message) => {
    if (!levels.includes(level)) return;
    const label = scope && scope.label ? scope.label : "core";
    process.stderr.write(`[graphile-worker ${label}] ${level.toUpperCase()}: ${message}\n`);
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function countJobs(utils, qs) {
  return utils.withPgClient(async (client) => {
    const { rows } = await client.query(`select count(*)::int as n from ${qs}._private_jobs`);
    return rows[0].n;
  });
}

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  const { gw, version } = await loadGraphile();
  const logger = makeLogger(gw.Logger, opts.verbose);
  const qs = `"${opts.schema}"`; // safe: validated identifier above
  const log = (msg) => process.stderr.write(`${PREFIX} ${msg}\n`);

  // Pool: one connection per concurrent job, plus the LISTEN connection and
  // one spare for completions / our own progress queries.
  const maxPoolSize = opts.concurrency + 2;
  const shared = {
    connectionString: opts.url,
    maxPoolSize,
    schema: opts.schema,
    logger,
  };

  // 1. Migrate (also proves the database is reachable).
  let utils;
  try {
    utils = await gw.makeWorkerUtils(shared);
    await utils.migrate();
  } catch (e) {
    if (utils) await utils.release().catch(() => {});
    fail(`cannot connect to / migrate ${redact(opts.url)} (schema ${opts.schema}): ${describeError(e)}`);
  }

  let runner = null;
  let timer = null;
  try {
    // 2. Clear leftovers from earlier (possibly aborted) runs, then 3. bulk enqueue.
    const enqueueStart = process.hrtime.bigint();
    const inserted = await utils.withPgClient(async (client) => {
      await client.query(`truncate ${qs}._private_jobs`);
      const { rows } = await client.query(
        `select count(*)::int as n
           from ${qs}.add_jobs(array(
             select json_populate_record(null::${qs}.job_spec,
                                         json_build_object('identifier', 'noop'))
               from generate_series(1, $1::int)
           ))`,
        [opts.jobs],
      );
      // Fresh statistics so the job-fetch query plans as on a live queue, then a
      // checkpoint, as accord bench takes before each of its own measurements (a role
      // without the right to checkpoint measures without it).
      await client.query(`vacuum analyze ${qs}._private_jobs`);
      await client.query("checkpoint").catch(() => {});
      return rows[0].n;
    });
    if (inserted !== opts.jobs) {
      throw new Error(`add_jobs inserted ${inserted} jobs, expected ${opts.jobs}`);
    }
    const enqueueMs = Number(process.hrtime.bigint() - enqueueStart) / 1e6;
    log(`graphile-worker ${version}, schema ${opts.schema}: enqueued ${inserted} noop jobs in ${enqueueMs.toFixed(0)} ms`);

    // 4. Run the worker and time it until the queue is drained.
    const events = new EventEmitter();
    let succeeded = 0;
    let failed = 0;
    let firstJobAt = null;
    let resolveAllDone;
    const allDone = new Promise((resolve) => (resolveAllDone = resolve));
    events.on("job:start", () => {
      if (firstJobAt === null) firstJobAt = process.hrtime.bigint();
    });
    events.on("job:success", () => {
      succeeded += 1;
      if (succeeded + failed >= opts.jobs) resolveAllDone();
    });
    events.on("job:error", ({ error }) => {
      failed += 1;
      if (failed === 1) log(`job failed: ${describeError(error)}`);
      if (succeeded + failed >= opts.jobs) resolveAllDone();
    });

    const timeout = new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timed out after ${opts.timeout} s (${succeeded}/${opts.jobs} jobs done)`)),
        opts.timeout * 1000,
      );
    });

    const start = process.hrtime.bigint();
    runner = await gw.run({
      ...shared,
      concurrency: opts.concurrency,
      noHandleSignals: true,
      parsedCronItems: [],
      events,
      taskList: {
        noop: async () => {},
      },
    });
    const runnerDied = runner.promise.then(
      () => {
        throw new Error(`worker stopped unexpectedly (${succeeded}/${opts.jobs} jobs done)`);
      },
      (e) => {
        throw new Error(`worker failed: ${describeError(e)}`);
      },
    );

    await Promise.race([allDone, runnerDied, timeout]);
    if (failed > 0) throw new Error(`${failed} of ${opts.jobs} jobs failed`);

    // job:success fires before the completion is written back; the job is
    // only really done once its row is gone, so wait for the table to drain.
    const drained = (async () => {
      for (;;) {
        const left = await countJobs(utils, qs);
        if (left === 0) return;
        await sleep(5);
      }
    })();
    await Promise.race([drained, runnerDied, timeout]);
    const end = process.hrtime.bigint();
    clearTimeout(timer);
    timer = null;

    const seconds = Number(end - start) / 1e9;
    if (firstJobAt !== null) {
      log(`startup (run() to first job) ${(Number(firstJobAt - start) / 1e6).toFixed(0)} ms`);
    }

    // 5. Stop cleanly.
    const r = runner;
    runner = null;
    runnerDied.catch(() => {}); // stopping resolves runner.promise; not an error now
    await r.stop();
    await r.promise.catch(() => {});
    await utils.release();
    utils = null;

    const result = {
      jobs: opts.jobs,
      concurrency: opts.concurrency,
      seconds: Number(seconds.toFixed(4)),
      jobs_per_s: Number((opts.jobs / seconds).toFixed(1)),
      version,
    };
    process.stdout.write(JSON.stringify(result) + "\n");
  } catch (e) {
    if (timer) clearTimeout(timer);
    if (runner) await runner.stop().catch(() => {});
    if (utils) await utils.release().catch(() => {});
    fail(describeError(e));
  }
}

process.on("SIGINT", () => fail("interrupted"));
process.on("SIGTERM", () => fail("terminated"));

main().catch((e) => fail(describeError(e)));
