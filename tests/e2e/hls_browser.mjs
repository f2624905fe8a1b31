// hls.js in Debian's headless Chromium (playwright-core, never a browser download) on a viewer's
// status page with --dvr: the page plays the HLS playlist at the live edge (prints hls.js's latency,
// liveSyncPosition and the lag from the pieces' timestamps), the seek bar takes it back into the
// DVR window where it keeps playing, and "live" brings it back. Prints timings, asserts playback.
// usage: node hls_browser.mjs STATUS_URL BACK_SECONDS [SCREENSHOT.png]
import { createRequire } from "module";
const require = createRequire(process.env.TS_WEB_MODULES + "/");
const { chromium } = require("playwright-core");

const [url, backArg, shot] = process.argv.slice(2);
const back = Number(backArg);
const fail = (msg) => { console.error("FAIL: " + msg); process.exitCode = 1; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic", "--autoplay-policy=no-user-gesture-required"],
});
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 800 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForFunction(() => { const v = document.getElementById("video"); return v && v.hls && v.currentTime > 0; },
                             null, { timeout: 40000 }).catch(() => {});
  const state = () => page.evaluate(() => {
    const v = document.getElementById("video"), h = v && v.hls;
    const s = v && v.seekable.length ? [v.seekable.start(0), v.seekable.end(v.seekable.length - 1)] : [0, 0];
    return { t: v ? v.currentTime : -1, hls: !!h, latency: h ? h.latency : null, sync: h ? h.liveSyncPosition : null,
             lag: h && h.playingDate ? (Date.now() - h.playingDate.getTime()) / 1000 : null, start: s[0], end: s[1],
             bar: !!document.querySelector(".seek"), err: document.getElementById("player-err").textContent,
             ll: h && h.levels && h.levels[0] && h.levels[0].details ? h.levels[0].details.partList !== null : null };
  });
  const show = (what, s) => console.log(`${what}: currentTime ${s.t.toFixed(2)} · hls.js latency ${s.latency?.toFixed(2)} s · ` +
    `liveSyncPosition ${s.sync?.toFixed(2)} · lag from the source ${s.lag?.toFixed(2)} s · window ${s.start.toFixed(1)}..${s.end.toFixed(1)} · parts ${s.ll}` +
    (s.err ? ` · page says: ${s.err}` : ""));
  let s0 = await state();
  if (!s0.hls) { fail("the page did not play with hls.js (" + s0.err + ")"); process.exit(); }
  if (!s0.bar) fail("no seek bar on the page");
  await sleep(6000);
  let s1 = await state();
  show("live edge", s1);
  if (!(s1.t - s0.t > 3)) fail(`not playing at the live edge: ${s0.t} -> ${s1.t} over 6 s`);
  // Wait until the seek back lands after where playback began: hls.js (1.7) keeps the parts it
  // fetched before it started playing as islands in its buffer, and a seek into one plays that
  // island and then skips the hole after it to the next buffered range (the live edge).
  for (let i = 0; i < 60 && s1.end - back < s0.t + 3; i++) { await sleep(1000); s1 = await state(); }
  if (s1.end - back < s0.t + 3) fail(`the window stays ${s1.start}..${s1.end} s`);
  const to = s1.end - back;
  await page.evaluate((frac) => {
    const r = document.querySelector(".seek");
    r.value = Math.round(frac * 1000);
    r.dispatchEvent(new Event("change"));
  }, (to - s1.start) / (s1.end - s1.start));
  await sleep(1500);
  const a = await state();
  await sleep(4000);
  const b = await state();
  show(`after seeking ${back} s back`, b);
  console.log(`behind the newest: ${(b.end - b.t).toFixed(1)} s`);
  if (!(b.t - a.t > 2)) fail(`not playing after the seek: ${a.t} -> ${b.t} over 4 s`);
  if (!(b.end - b.t > back / 2)) fail(`the seek did not take it back: ${(b.end - b.t).toFixed(1)} s behind`);
  if (shot) await page.screenshot({ path: shot });
  await page.click(".golive");
  await sleep(5000);
  const c = await state();
  show("back to live", c);
  if (!(c.end - c.t < back / 2)) fail(`"live" did not go back to the live edge: ${(c.end - c.t).toFixed(1)} s behind`);
  if (errors.length) fail("JavaScript errors: " + errors.join("; "));
} finally {
  await browser.close();
}
