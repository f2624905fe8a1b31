// Drives Debian's headless Chromium (playwright-core, never its own browser download) through a
// supervisor's status page: every expected stage row must show "ready", and for a viewer the
// page's <video> must play: currentTime advances by more than 1 s over 3 s of real time.
// usage: node status_page.mjs URL STAGE[,STAGE...] video|novideo [SCREENSHOT.png]
//        node status_page.mjs URL --error REGEX         an error line matching REGEX shows, and is
//                                                       still there after three more polls
//        node status_page.mjs URL --reason STAGE REGEX  STAGE's row gives a reason matching REGEX
import { createRequire } from "module";
const require = createRequire(process.env.TS_WEB_MODULES + "/");
const { chromium } = require("playwright-core");

const [url, stagesArg, mode, shot] = process.argv.slice(2);
const stages = stagesArg.split(",");
const fail = (msg) => { console.error("FAIL: " + msg); process.exitCode = 1; };

// The error lines, and the stage rows' reasons: each must stay on the page while it holds (the page
// once wiped its error line on every poll: "mpegts.js is not installed" flashed for a second).
// Wait until the page has polled status.json n more times (each one a chance to wipe a line).
async function morePolls(polls, n) {
  const want = polls.n + n;
  for (let i = 0; i < 150 && polls.n < want; i++) await new Promise((r) => setTimeout(r, 200));
  if (polls.n < want) fail("the page stopped polling status.json");
}

async function checkError(page, polls, re) {
  await page.waitForFunction((r) => new RegExp(r).test(document.getElementById("err").textContent), re,
                             { timeout: 20000 }).catch(() => {});
  const seen = polls.n;
  await morePolls(polls, 3);
  const err = await page.textContent("#err");
  console.log(`error lines after ${polls.n - seen} more polls: ${err}`);
  if (!new RegExp(re).test(err)) fail(`no error matching /${re}/ stays on the page`);
}

async function checkReason(page, polls, stage, re) {
  await page.waitForFunction(([n, r]) => {
    const w = document.querySelector(`tr[data-stage="${n}"] .why`);
    return w && new RegExp(r).test(w.textContent);
  }, [stage, re], { timeout: 30000 }).catch(() => {});
  await morePolls(polls, 2);
  const row = await page.$eval(`tr[data-stage="${stage}"]`, (r) => [r.dataset.state, r.querySelector(".why")?.textContent ?? ""])
    .catch(() => ["missing", ""]);
  console.log(`stage ${stage} on the page: ${row[0]}: ${row[1]}`);
  if (!new RegExp(re).test(row[1])) fail(`stage ${stage} shows no reason matching /${re}/`);
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic", "--autoplay-policy=no-user-gesture-required"],
});
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
  const errors = [], polls = { n: 0 };
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("response", (r) => { if (r.url().endsWith("/status.json")) polls.n++; });
  await page.goto(url);
  if (stagesArg === "--error" || stagesArg === "--reason") {
    if (stagesArg === "--error") await checkError(page, polls, mode);
    else await checkReason(page, polls, mode, shot);
  } else {
    // Every stage row, in state "ready" (the page refreshes from status.json each second).
    await page.waitForFunction((names) => names.every((n) => {
      const row = document.querySelector(`tr[data-stage="${n}"]`);
      return row && row.dataset.state === "ready";
    }), stages, { timeout: 30000 }).catch(() => {});
    const states = await page.$$eval("tr[data-stage]", (rows) => rows.map((r) => [r.dataset.stage, r.dataset.state]));
    console.log("stages on the page: " + JSON.stringify(states));
    for (const n of stages) {
      const s = states.find((x) => x[0] === n);
      if (!s || s[1] !== "ready") fail(`stage ${n} is ${s ? s[1] : "missing"} on the page`);
    }
    await page.waitForFunction(() => /stream flowing/.test(document.getElementById("flow").textContent),
                               null, { timeout: 30000 }).catch(() => {});
    const flow = await page.textContent("#flow");
    console.log("flow line: " + flow);
    if (!/stream flowing/.test(flow)) fail("the page does not say the stream is flowing");
    if (mode === "video") {
      await page.waitForFunction(() => { const v = document.getElementById("video"); return v && v.currentTime > 0; },
                                 null, { timeout: 30000 }).catch(() => {});
      const t1 = await page.evaluate(() => document.getElementById("video")?.currentTime ?? -1);
      await page.waitForTimeout(3000);
      const t2 = await page.evaluate(() => document.getElementById("video")?.currentTime ?? -1);
      const err = await page.textContent("#err");
      console.log(`video currentTime ${t1.toFixed(2)} -> ${t2.toFixed(2)} over 3 s; page errors: ${err || "none"}`);
      if (!(t1 > 0 && t2 - t1 > 1)) fail("the video is not playing");
    }
    if (shot) await page.screenshot({ path: shot });
  }
  if (errors.length) fail("JavaScript errors: " + errors.join("; "));
} finally {
  await browser.close();
}
