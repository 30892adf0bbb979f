// Lighthouse over many pages in one Node process and one Chromium: each page is
// audited twice (mobile, Lighthouse's default, then desktop). Called by
// tests/judges/test_lighthouse.py:
//     node lighthouse_run.mjs <node_modules folder> <job.json>
// job.json: {"chrome": path, "headers": {...}, "urls": [...], "categories": [...]}
// Prints one JSON line per audit run: {url, formFactor, scores, failing, seconds}.
import {appendFileSync, readFileSync} from "node:fs";
import {join} from "node:path";
import {pathToFileURL} from "node:url";

const [modules, jobFile] = process.argv.slice(2);
const job = JSON.parse(readFileSync(jobFile, "utf8"));
const load = (path) => import(pathToFileURL(join(modules, path)).href);
const {default: lighthouse} = await load("lighthouse/core/index.js");
const {default: desktopConfig} = await load("lighthouse/core/config/desktop-config.js");
const chromeLauncher = await load("chrome-launcher/dist/index.js");

const chrome = await chromeLauncher.launch({
  chromePath: job.chrome,
  chromeFlags: [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
  ],
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, async () => {
    await chrome.kill(); // chrome-launcher's Chromium is a process group of its own
    process.exit(1);
  });
}
const forms = {mobile: undefined, desktop: desktopConfig};
try {
  for (const url of job.urls) {
    for (const [formFactor, config] of Object.entries(forms)) {
      const started = Date.now();
      const flags = {
        port: chrome.port,
        output: "json",
        logLevel: "error",
        onlyCategories: job.categories,
        extraHeaders: job.headers,
        // what only pictures or a second navigation need: none of it is scored
        disableFullPageScreenshot: true,
        skipAudits: ["bf-cache", "screenshot-thumbnails", "final-screenshot"],
      };
      const result = await lighthouse(url, flags, config);
      const lhr = result.lhr;
      const scores = Object.fromEntries(
        Object.entries(lhr.categories).map(([id, c]) => [id, Math.round(c.score * 100)]),
      );
      // every audit that counts (weight > 0) and did not pass, or any failed
      // audit of the categories: what to fix when a score is under 100
      const failing = [];
      for (const category of Object.values(lhr.categories)) {
        for (const ref of category.auditRefs) {
          const audit = lhr.audits[ref.id];
          if (audit.score !== null && audit.score < 1 && (ref.weight > 0 || audit.scoreDisplayMode === "binary")) {
            failing.push(`${category.id}/${ref.id} (${audit.score}) ${audit.displayValue || ""}`.trim());
          }
        }
      }
      // how the server serves its own files: the items of these audits on this
      // origin (a third party's files, Stripe.js's stand-in here, are not ours)
      const extra = {};
      const origin = new URL(url).origin;
      for (const id of job.audits || []) {
        const items = (lhr.audits[id] && lhr.audits[id].details && lhr.audits[id].details.items) || [];
        extra[id] = items.map((item) => item.url).filter((u) => u && u.startsWith(origin));
      }
      const line = {
        url,
        finalUrl: lhr.finalDisplayedUrl,
        formFactor,
        scores,
        failing,
        audits: extra,
        runtimeError: lhr.runtimeError ? lhr.runtimeError.message : null,
        seconds: (Date.now() - started) / 1000,
      };
      process.stdout.write(JSON.stringify(line) + "\n");
      if (job.log) appendFileSync(job.log, JSON.stringify(line) + "\n"); // to watch it go
    }
  }
} finally {
  await chrome.kill();
}
