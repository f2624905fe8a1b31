// hls.js's live latency on a viewer's playlist in headless Chromium, one mode per run: samples once a
// second for SECONDS after a 10 s warm-up and prints the medians of hls.js's `latency` (playlist
// edge to playhead) and of the lag from the source (now minus `playingDate`, the piece timestamps'
// program date time: includes the swarm's delay). usage: node hls_latency.mjs URL ll|classic SECONDS
import { createRequire } from "module";
const require = createRequire(process.env.TS_WEB_MODULES + "/");
const { chromium } = require("playwright-core");
const [url, mode, secsArg] = process.argv.slice(2);
const secs = Number(secsArg || 60);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.floor(s.length / 2)] : NaN; };

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--autoplay-policy=no-user-gesture-required"] });
try {
  const page = await browser.newPage();
  await page.setContent("<video id=v muted autoplay></video>");
  await page.addScriptTag({ path: process.env.TS_WEB_MODULES + "/hls.js/dist/hls.min.js" });
  await page.evaluate(([u, ll]) => {
    const v = document.getElementById("v"), h = new Hls({ lowLatencyMode: ll });
    window.h = h;
    h.loadSource(ll ? u : u + "?ll=0");
    h.attachMedia(v);
    v.play().catch(() => {});
  }, [url, mode === "ll"]);
  await sleep(10000);
  const lat = [], lag = [];
  let stalls = 0, lastT = -1;
  for (let i = 0; i < secs; i++) {
    await sleep(1000);
    const s = await page.evaluate(() => ({ t: document.getElementById("v").currentTime, lat: h.latency,
      lag: h.playingDate ? (Date.now() - h.playingDate.getTime()) / 1000 : NaN }));
    if (s.t <= lastT) stalls++;
    lastT = s.t;
    if (Number.isFinite(s.lat)) lat.push(s.lat);
    if (Number.isFinite(s.lag)) lag.push(s.lag);
  }
  console.log(`${mode}: median hls.js latency ${median(lat).toFixed(2)} s, median lag from the source ` +
              `${median(lag).toFixed(2)} s, ${lat.length} samples, ${stalls} seconds without progress`);
} finally {
  await browser.close();
}
