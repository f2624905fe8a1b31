"use strict";
// The in-page player of the status page and the console: mpegts.js on a player-bridge URL, or
// hls.js on its .m3u8 (with a seek bar over the DVR window).
// tsPlay(box, url, setError) puts a muted, autoplaying <video> into box and plays url; setError(text)
// is told what is wrong and "" once the video plays again. mpegts.js gives up on a broken stream
// (a restarted bridge), so the player is made anew 3 s after an error.
function tsPlay(box, url, setError) {
  if (/\.m3u8(\?|$)/.test(url)) return tsPlayHls(box, url, setError);
  const video = document.createElement("video");
  video.muted = true;   // autoplay is allowed only muted
  video.controls = true;
  box.appendChild(video);
  if (!window.mpegts) {
    setError("mpegts.js is not installed here: the stream cannot play in this page (deploy/setup.sh " +
             "installs it into web/node_modules; " + url + " plays in mpv, vlc or ffplay)");
    return video;
  }
  if (!mpegts.getFeatureList().mseLivePlayback) {
    setError("this browser cannot play MPEG-TS (no Media Source Extensions)");
    return video;
  }
  let p = null, last = 0;
  video.addEventListener("timeupdate", () => {
    if (video.currentTime > last + 0.5) setError("");
    last = video.currentTime;
  });
  const open = () => {
    p = mpegts.createPlayer({ type: "mpegts", isLive: true, url: url },
                            { enableStashBuffer: false, liveBufferLatencyChasing: true });
    let failed = false;
    p.on(mpegts.Events.ERROR, (type, detail) => {
      setError("player: " + type + " " + detail + " (trying again every 3 s)");
      if (failed) return;
      failed = true;
      setTimeout(() => { try { p.destroy(); } catch (e) { /* already torn down */ } last = 0; open(); }, 3000);
    });
    p.attachMediaElement(video);
    p.load();
    video.play().catch(() => {});
  };
  open();
  return video;
}

// HLS with hls.js, low-latency mode on (the bridge's LL-HLS parts). The video's own controls have no
// usable scrubber for a live stream, so a range input spans video.seekable (the playlist's window:
// the DVR's with --dvr) and "live" jumps back to the live edge. video.hls is the hls.js instance
// (tests read its latency).
function tsPlayHls(box, url, setError) {
  const video = document.createElement("video");
  video.muted = true;
  video.controls = true;
  box.appendChild(video);
  if (!window.Hls) {
    setError("hls.js is not installed here: the HLS stream cannot play in this page (deploy/setup.sh " +
             "installs it into web/node_modules; " + url + " plays in mpv, vlc or ffplay)");
    return video;
  }
  if (!Hls.isSupported()) {
    setError("this browser cannot play HLS (no Media Source Extensions)");
    return video;
  }
  const bar = document.createElement("div");
  bar.className = "seekbar";
  const range = document.createElement("input");
  Object.assign(range, { type: "range", min: 0, max: 1000, step: 1, value: 1000, className: "seek" });
  range.style.width = "480px";
  const live = document.createElement("button");
  live.textContent = "live";
  live.className = "golive";
  const where = document.createElement("span");
  where.className = "behind";
  bar.append(range, " ", live, " ", where);
  box.appendChild(bar);
  let dragging = false, last = 0;
  const span = () => video.seekable.length ? [video.seekable.start(0), video.seekable.end(video.seekable.length - 1)] : null;
  video.addEventListener("timeupdate", () => {
    if (video.currentTime > last + 0.5) setError("");
    last = video.currentTime;
    const s = span();
    if (!s || dragging) return;
    range.value = s[1] > s[0] ? Math.round((video.currentTime - s[0]) / (s[1] - s[0]) * 1000) : 1000;
    where.textContent = (s[1] - video.currentTime).toFixed(1) + " s behind the newest · window " + (s[1] - s[0]).toFixed(0) + " s";
  });
  range.addEventListener("input", () => { dragging = true; });
  range.addEventListener("change", () => {
    dragging = false;
    const s = span();
    if (s) { video.currentTime = s[0] + (s[1] - s[0]) * range.value / 1000; last = video.currentTime; }
  });
  live.addEventListener("click", () => {
    const h = video.hls, s = span();
    const to = h && h.liveSyncPosition ? h.liveSyncPosition : s ? s[1] : null;
    if (to !== null) { video.currentTime = to; last = to; }
    video.play().catch(() => {});
  });
  const open = () => {
    const h = new Hls({ lowLatencyMode: true });
    video.hls = h;
    let failed = false;
    h.on(Hls.Events.ERROR, (ev, d) => {
      if (!d.fatal) return;
      setError("player: " + d.type + " " + d.details + " (trying again every 3 s)");
      if (failed) return;
      failed = true;
      setTimeout(() => { try { h.destroy(); } catch (e) { /* already torn down */ } last = 0; open(); }, 3000);
    });
    h.loadSource(url);
    h.attachMedia(video);
    video.play().catch(() => {});
  };
  open();
  return video;
}
