// Drives Debian's headless Chromium (playwright-core, never its own browser download) through
// tsctl console's page, as an operator would look at it:
//  - a card per instance; the broadcast's and the viewer's say "running", every stage row "ready";
//  - the broadcast's card links its magnet (magnet:?xt=urn:btih:INFOHASH);
//  - each card's history has sparklines with several points (the console keeps history);
//  - the peer lists: the broadcast's lists one peer uploading to it (up > 0), the viewer's lists
//    the broadcaster, downloading from it (down > 0);
//  - the failed instance's card says why its stage failed;
//  - the viewer's play button starts a video that plays (currentTime advances > 1 s in 3 s).
// usage: node console_page.mjs URL BROADCAST VIEWER INFOHASH FAILED FAILED_STAGE REASON_REGEX [SCREENSHOT.png]
import { createRequire } from "module";
const require = createRequire(process.env.TS_WEB_MODULES + "/");
const { chromium } = require("playwright-core");

const [url, bname, vname, infohash, fname, fstage, freason, shot] = process.argv.slice(2);
const fail = (msg) => { console.error("FAIL: " + msg); process.exitCode = 1; };
const card = (n) => `.card[data-name="${n}"]`;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic", "--autoplay-policy=no-user-gesture-required"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);

  // Running, every stage ready, and a few history samples (one every 2 s).
  const settled = (names) => names.every((n) => {
    const c = document.querySelector(`.card[data-name="${n}"]`);
    // every figure: a viewer's lag starts once its player-bridge has handed on pieces
    const sparks = c ? [...c.querySelectorAll(".spark")] : [];
    return c && c.dataset.verdict === "0" && sparks.length >= 4 && sparks.every((s) => Number(s.dataset.points) >= 3) &&
      [...c.querySelectorAll("tr[data-stage]")].every((r) => r.dataset.state === "ready");
  });
  await page.waitForFunction(settled, [bname, vname], { timeout: 45000 }).catch(() => {});
  for (const n of [bname, vname]) {
    const got = await page.$eval(card(n), (c) => ({
      verdict: c.dataset.verdict,
      stages: [...c.querySelectorAll("tr[data-stage]")].map((r) => r.dataset.stage + ":" + r.dataset.state),
      sparks: [...c.querySelectorAll(".spark")].map((s) => s.dataset.key + ":" + s.dataset.points),
    })).catch(() => null);
    console.log(`card ${n}: ${JSON.stringify(got)}`);
    if (!got) { fail(`no card for ${n}`); continue; }
    if (got.verdict !== "0") fail(`${n} is not shown running (verdict ${got.verdict})`);
    if (!got.stages.length || got.stages.some((s) => !s.endsWith(":ready"))) fail(`${n}: stages not all ready`);
    if (got.sparks.length < 4 || got.sparks.some((s) => Number(s.split(":")[1]) < 3)) fail(`${n}: history too short`);
  }

  const magnet = await page.$eval(`${card(bname)} a.magnet`, (a) => a.href).catch(() => "");
  console.log("magnet link: " + magnet);
  if (!magnet.startsWith("magnet:?xt=urn:btih:" + infohash)) fail("the broadcast's card has no magnet link of its infohash");
  if (await page.$(`${card(vname)} a.magnet`)) fail("a viewer's card shows a magnet link (broadcasts only)");

  // Peers with rates: wait for a sample in which both ends measured the stream.
  const peersOk = ([b, v]) => {
    const rows = (n) => [...document.querySelectorAll(`.card[data-name="${n}"] tr[data-addr]`)];
    const num = (r, cls) => Number(r.querySelector("td." + cls).textContent);
    const br = rows(b), vr = rows(v);
    return br.length === 1 && num(br[0], "rate-up") > 0 && vr.length >= 1 && vr.some((r) => /broadcaster/.test(r.textContent) && num(r, "rate-down") > 0);
  };
  await page.waitForFunction(peersOk, [bname, vname], { timeout: 30000 }).catch(() => {});
  for (const n of [bname, vname]) {
    const rows = await page.$$eval(`${card(n)} tr[data-addr]`, (rs) => rs.map((r) => r.textContent.replace(/\s+/g, " ")));
    console.log(`peers of ${n}: ${JSON.stringify(rows)}`);
  }
  if (!(await page.evaluate(peersOk, [bname, vname]))) fail("the peer lists do not show the viewer uploading-to and the broadcaster downloading-from with rates");

  // The failed stage's reason, as tsctl status prints it.
  await page.waitForFunction(([n, s, re]) => {
    const w = document.querySelector(`.card[data-name="${n}"] tr[data-stage="${s}"] .why`);
    return w && new RegExp(re).test(w.textContent);
  }, [fname, fstage, freason], { timeout: 30000 }).catch(() => {});
  const why = await page.$eval(`${card(fname)} tr[data-stage="${fstage}"]`,
                               (r) => r.dataset.state + ": " + (r.querySelector(".why")?.textContent ?? "")).catch(() => "missing");
  console.log(`${fname}/${fstage} on the page: ${why}`);
  if (!new RegExp(freason).test(why)) fail(`${fname}/${fstage} shows no reason matching /${freason}/`);
  const fv = await page.$eval(card(fname), (c) => c.dataset.verdict).catch(() => "");
  if (fv !== "4") fail(`${fname} with a failed stage is not shown down (verdict ${fv})`);

  // The viewer's player, on demand.
  await page.click(`${card(vname)} button.play`);
  const vt = () => page.$eval(`${card(vname)} video`, (v) => v.currentTime).catch(() => -1);
  await page.waitForFunction((n) => { const v = document.querySelector(`.card[data-name="${n}"] video`); return v && v.currentTime > 0; },
                             vname, { timeout: 30000 }).catch(() => {});
  const t1 = await vt();
  await page.waitForTimeout(3000);
  const t2 = await vt();
  console.log(`video currentTime ${t1.toFixed(2)} -> ${t2.toFixed(2)} over 3 s`);
  if (!(t1 > 0 && t2 - t1 > 1)) fail("the viewer's video is not playing");
  if (shot) await page.screenshot({ path: shot, fullPage: true });
  if (errors.length) fail("JavaScript errors: " + errors.join("; "));
} finally {
  await browser.close();
}
