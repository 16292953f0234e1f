// Playback on the camera page: a WebSocket from /api/cameras/{name}/playback
// into the same MSE sink as live, the timeline, transport controls and keys.
// Media time is continuous across segments and gaps; "span" messages map it to
// wall-clock time.

import { SIGNED_OUT, api, timeOfDay, toLogin } from "./api.js";
import { MotionSearch } from "./motionsearch.js";
import { MseSink } from "./mse.js";
import { Timeline } from "./timeline.js";

const AHEAD = 10; // seconds of media the player wants buffered (at 1x)
const MAX_RATE = 16; // what browsers allow for playbackRate
const PRE_ROLL = 3000; // ms of recording shown before an event or a motion match

export class PlaybackSession {
  constructor(video, camera, startMs, { onEnd, onError }) {
    this.video = video;
    this.camera = camera;
    this.target = startMs;
    this.spans = []; // {media (s), wall (ms), end (ms)}
    this.ended = false;
    this.speed = 1;
    this.sink = new MseSink(video);
    this.sink.onError = onError;
    this.onEnd = onEnd;
    this.positioned = false;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const start = new Date(startMs).toISOString();
    this.socket = new WebSocket(`${scheme}://${location.host}/api/cameras/${encodeURIComponent(camera)}/playback?start=${encodeURIComponent(start)}`);
    this.socket.binaryType = "arraybuffer";
    this.socket.onmessage = (event) => this._message(event.data);
    this.socket.onclose = (event) => {
      if (event.code === SIGNED_OUT) toLogin();
      if (event.code === 4404 || event.code === 4400) onError(event.reason || "cannot play this");
    };
    this.sink.onAppended = () => this._position();
    this._timer = setInterval(() => this._pump(), 250);
  }

  _message(data) {
    if (typeof data !== "string") {
      this.sink.append(data);
      return;
    }
    const message = JSON.parse(data);
    if (message.mime) {
      if (this.sink.mime) {
        // a new init (new parameters, or trick play on/off): a new MediaSource whose
        // media time carries on; take up again where the picture was
        this.target = this.wall ?? this.target;
        this.positioned = false;
      }
      this.sink.start(message.mime);
    }
    if (message.span) {
      this.spans.push({ media: message.span.media, wall: Date.parse(message.span.wall),
                        end: Date.parse(message.span.end) });
    }
    if (message.end) {
      this.ended = true;
      if (!this.spans.length) this.onEnd(true);
    }
  }

  wallAt(media) {
    let found = null;
    for (const span of this.spans) if (span.media <= media + 1e-6) found = span;
    return found ? Math.min(found.end, found.wall + (media - found.media) * 1000) : null;
  }

  mediaAt(wall) {
    let found = null;
    for (const span of this.spans) if (span.wall <= wall) found = span;
    if (!found) return this.spans.length ? this.spans[0].media : null;
    return found.media + Math.max(0, Math.min(wall, found.end) - found.wall) / 1000;
  }

  _position() {
    if (this.positioned || !this.spans.length || this.sink.end <= 0) return;
    const at = this.mediaAt(this.target);
    if (at === null) return;
    this.positioned = true;
    const b = this.sink.buffer;
    const first = b && b.buffered.length ? b.buffered.start(0) : 0;
    this.video.currentTime = Math.max(first, Math.min(at, this.sink.end - 0.05));
    this.video.playbackRate = Math.min(this.speed, MAX_RATE);
    this.video.play().catch(() => {});
  }

  setSpeed(speed) {
    this.speed = speed;
    this.video.playbackRate = Math.min(speed, MAX_RATE);
    this._send({ speed });
  }

  _send(message) {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  _pump() {
    const ahead = this.sink.end - this.video.currentTime;
    if (!this.ended && ahead < AHEAD * Math.min(this.speed, 4) && !this._asked) {
      this._asked = true;
      this._send({ more: AHEAD * Math.max(1, this.speed) });
      setTimeout(() => { this._asked = false; }, 500);
    }
    if (this.speed > MAX_RATE && !this.video.paused) {
      // browsers stop at 16x: skip ahead over the keyframes-only stream
      const extra = (this.speed - MAX_RATE) * 0.25;
      this.video.currentTime = Math.min(this.sink.end - 0.05, this.video.currentTime + extra);
    }
    this.sink.trim(60);
    if (this.ended && this.positioned && this.sink.end - this.video.currentTime < 0.2) {
      this.onEnd(false);
    }
  }

  get wall() {
    return this.positioned ? this.wallAt(this.video.currentTime) : this.target;
  }

  close() {
    clearInterval(this._timer);
    this.socket.close();
    this.sink.reset();
  }
}

function localDay(dateString) {
  const start = new Date(`${dateString}T00:00:00`);
  const end = new Date(start);
  end.setDate(end.getDate() + 1);
  return [start.getTime(), end.getTime()];
}

function isoDay(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

export function setup({ video, camera, viewer, startLive, stopLive, state, say }) {
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const dayInput = document.getElementById("day");
  const clock = document.getElementById("clock");
  const speedSelect = document.getElementById("speed");
  const playButton = document.getElementById("play");
  const preview = document.getElementById("preview");
  const previewImg = document.getElementById("preview-img");
  const previewTime = document.getElementById("preview-time");
  const download = document.getElementById("download-clip");
  const selectButton = document.getElementById("select-range");
  const note = document.getElementById("timeline-note");
  let session = null;
  let segments = [];
  let fps = 25;
  let shown = null; // media time of the frame on screen
  // the recording's frame period as presented: the smallest gap between consecutive
  // frames shown lately (a busy browser skips frames, never shows them closer), which
  // the camera's measured fps (rough under load) only stands in for until known
  let gaps = [];
  const watchFrames = () => {
    if (!video.requestVideoFrameCallback) return;
    video.requestVideoFrameCallback((_now, meta) => {
      const gap = shown === null ? 0 : meta.mediaTime - shown;
      if (gap > 0.005 && gap < 1) gaps = [...gaps.slice(-49), gap];
      shown = meta.mediaTime;
      watchFrames();
    });
  };
  const framePeriod = () => (gaps.length >= 5 ? Math.min(...gaps) : 1 / (fps > 0 ? fps : 25));
  watchFrames();
  dayInput.value = isoDay(Date.now());
  dayInput.max = isoDay(Date.now());

  const timeline = new Timeline(document.getElementById("timeline"),
    document.getElementById("timeline-canvas"), {
      onSeek: (ms) => seek(ms),
      onScrub: (ms, x) => showPreview(ms, x),
      onScrubEnd: () => { preview.hidden = true; },
      onMarker: (event) => seek(event.start - PRE_ROLL),
      onDetail: async (start, end) => {
        try {
          const found = await api(`/api/cameras/${encodeURIComponent(camera)}/motion?start=${encodeURIComponent(new Date(start).toISOString())}&end=${encodeURIComponent(new Date(end).toISOString())}`);
          timeline.setDetail(start, end, found.seconds.map((t) => Date.parse(t)));
        } catch (err) {
          // the per-minute bars stay
        }
      },
      onSelect: (range) => {
        download.hidden = !range;
        if (range) {
          const [a, b] = range.map((t) => new Date(t).toISOString());
          download.href = `/api/cameras/${encodeURIComponent(camera)}/export.mp4?start=${encodeURIComponent(a)}&end=${encodeURIComponent(b)}`;
          download.textContent = `Download clip (${Math.round((range[1] - range[0]) / 1000)} s)`;
        }
      },
    });

  let previewTimer = null;
  function showPreview(ms, x) {
    if (!timeline.recordedAt(ms)) { preview.hidden = true; return; }
    preview.hidden = false;
    preview.style.setProperty("--x", `${x}px`);
    previewTime.textContent = timeOfDay(new Date(ms));
    clearTimeout(previewTimer);
    previewTimer = setTimeout(() => {
      // whole seconds: the server caches one image per keyframe anyway
      const at = new Date(Math.floor(ms / 1000) * 1000).toISOString();
      previewImg.src = `/api/cameras/${encodeURIComponent(camera)}/frame.jpg?at=${encodeURIComponent(at)}&width=160`;
    }, 60);
  }

  // motion search: a rectangle on the picture → the day's matching seconds on the timeline
  const searchButton = document.getElementById("motion-search");
  const nextMatch = document.getElementById("next-match");
  const clearSearch = document.getElementById("clear-search");
  const searchNote = document.getElementById("search-note");
  const search = new MotionSearch(video.closest(".stage"), video, {
    onRegion: () => { showSearching(false); runSearch(); },
    onCancel: () => showSearching(false),
  });

  function showSearching(drawing) {
    searchButton.setAttribute("aria-pressed", String(drawing));
    searchButton.textContent = drawing ? "Drag a box on the picture…" : "Motion search";
    clearSearch.hidden = !drawing && !search.region;
  }

  async function runSearch() {
    if (!search.region) return;
    const start = new Date(timeline.dayStart).toISOString();
    const end = new Date(timeline.dayEnd).toISOString();
    searchNote.hidden = false;
    searchNote.textContent = "Searching…";
    try {
      const found = await api(`/api/cameras/${encodeURIComponent(camera)}/motion?start=${encodeURIComponent(start)}&end=${encodeURIComponent(end)}&region=${search.region.join(",")}`);
      timeline.setMatches(found.ranges);
      const n = found.ranges.length;
      searchNote.textContent = n ? `${n} movement${n === 1 ? "" : "s"} in the marked area on this day (green on the timeline).`
        : "No motion in the marked area on this day.";
      nextMatch.hidden = !n;
    } catch (err) {
      searchNote.textContent = `Motion search failed: ${err.message}`;
    }
  }

  function jumpMatch() {
    const now = session ? session.wall : timeline.dayStart;
    const after = timeline.matches.find(([a]) => a - PRE_ROLL > now + 1000) || timeline.matches[0];
    if (after) seek(after[0] - PRE_ROLL);
  }

  searchButton.addEventListener("click", () => {
    if (search.drawing) { search.stop(); showSearching(false); return; }
    search.start();
    showSearching(true);
  });
  clearSearch.addEventListener("click", () => {
    search.clear();
    timeline.setMatches([]);
    searchNote.hidden = true;
    nextMatch.hidden = true;
    showSearching(false);
  });
  nextMatch.addEventListener("click", jumpMatch);

  async function loadDay(day) {
    const [start, end] = localDay(day);
    try {
      const data = await api(`/api/cameras/${encodeURIComponent(camera)}/timeline?day=${day}&tz=${encodeURIComponent(tz)}`);
      const changed = start !== timeline.dayStart;
      timeline.setDay(start, end, data);
      if (changed && search.region) runSearch();
      note.textContent = data.spans.length ? "" : "Nothing recorded on this day.";
      const rows = await api(`/api/recordings?camera=${encodeURIComponent(camera)}&start=${encodeURIComponent(new Date(start).toISOString())}&end=${encodeURIComponent(new Date(end).toISOString())}`);
      segments = rows.map((r) => Date.parse(r.start));
    } catch (err) {
      note.textContent = `Could not load the timeline: ${err.message}`;
    }
  }

  function seek(ms) {
    stopLive();
    if (session) session.close();
    say("");
    state.mode = "playback";
    document.body.classList.add("mode-playback");
    document.body.classList.remove("mode-live");
    document.getElementById("mode-label").textContent = "Playback";
    session = new PlaybackSession(video, camera, ms, {
      onEnd: (nothing) => say(nothing ? "No recording from this time on." : "End of the recordings. Press Live to watch live."),
      onError: (message) => say(message),
    });
    session.setSpeed(Number(speedSelect.value));
    timeline.setPlayhead(ms);
  }

  function goLive() {
    if (session) session.close();
    session = null;
    video.playbackRate = 1;
    speedSelect.value = "1";
    timeline.setPlayhead(null);
    say("");
    startLive();
  }

  function togglePlay() {
    if (state.mode === "live") {
      if (video.paused) video.play().catch(() => {}); else video.pause();
    } else if (video.paused) {
      video.play().catch(() => {});
    } else {
      video.pause();
    }
  }

  function step(direction) {
    if (state.mode === "live") seek(Date.now() - 2000);
    video.pause();
    // from the shown frame's own time (requestVideoFrameCallback) to the middle of the
    // neighbouring frame: a playhead at a frame's edge, or a measured frame rate a
    // little off, must still land on the next picture
    const period = framePeriod();
    const t = video.currentTime;
    // the shown frame starts within a period before the playhead; an older one is a
    // callback that did not come for the last frame (paused), so the playhead it is
    const base = shown !== null && shown > t - period && shown <= t + 1e-3 ? shown : t;
    video.currentTime = Math.max(0, base + (direction > 0 ? 1.5 : -0.5) * period);
    stepOver(direction, shown, 3);
  }

  // a frame the camera never sent (a dropped frame, a variable frame rate): the browser
  // presents the same picture again after the seek; then one period further, a few
  // times at most (only on that signal, so a slow callback never makes a double step)
  function stepOver(direction, before, tries) {
    if (before === null || tries <= 0 || !video.requestVideoFrameCallback) return;
    video.requestVideoFrameCallback((_now, meta) => {
      if (meta.mediaTime !== before || !video.paused || state.mode !== "playback") return;
      video.currentTime = Math.max(0, video.currentTime + direction * framePeriod());
      stepOver(direction, before, tries - 1);
    });
  }

  function jumpSegment(direction) {
    const now = session ? session.wall : Date.now();
    const target = direction < 0 ? [...segments].reverse().find((t) => t < now - 1000)
      : segments.find((t) => t > now + 500);
    if (target !== undefined) seek(target);
  }

  // [ and ]: the previous / next event marker of the day, from just before it
  function jumpEvent(direction) {
    const now = session ? session.wall : Date.now();
    const starts = timeline.events.map((e) => e.start).sort((a, b) => a - b);
    // back: the last event that started before here (its pre-roll may be where we are)
    const target = direction < 0 ? starts.reverse().find((t) => t < now - 1000)
      : starts.find((t) => t - PRE_ROLL > now + 500);
    if (target !== undefined) seek(target - PRE_ROLL);
  }

  document.getElementById("go-live").addEventListener("click", goLive);
  playButton.addEventListener("click", togglePlay);
  document.getElementById("step-back").addEventListener("click", () => step(-1));
  document.getElementById("step-forward").addEventListener("click", () => step(1));
  document.getElementById("prev-segment").addEventListener("click", () => jumpSegment(-1));
  document.getElementById("next-segment").addEventListener("click", () => jumpSegment(1));
  speedSelect.addEventListener("change", () => {
    const speed = Number(speedSelect.value);
    if (state.mode === "live" && speed !== 1) seek(Date.now() - 60000);
    if (session) session.setSpeed(speed);
  });
  dayInput.addEventListener("change", () => loadDay(dayInput.value));
  for (const button of document.querySelectorAll("#zoom .seg")) {
    button.addEventListener("click", () => {
      for (const other of document.querySelectorAll("#zoom .seg")) other.setAttribute("aria-pressed", String(other === button));
      timeline.zoom(Number(button.dataset.zoom) * 1000, timeline.playhead ?? Date.now());
    });
  }
  selectButton.addEventListener("click", () => {
    timeline.selecting = !timeline.selecting;
    selectButton.setAttribute("aria-pressed", String(timeline.selecting));
    selectButton.textContent = timeline.selecting ? "Selecting… drag on the timeline" : "Select clip";
    if (!timeline.selecting && !timeline.selection) download.hidden = true;
  });
  video.addEventListener("play", () => { playButton.dataset.state = "playing"; playButton.setAttribute("aria-label", "Pause"); });
  video.addEventListener("pause", () => { playButton.dataset.state = "paused"; playButton.setAttribute("aria-label", "Play"); });
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, select, textarea")) return;
    const keys = {
      " ": togglePlay, ",": () => step(-1), ".": () => step(1), l: goLive, L: goLive,
      "[": () => jumpEvent(-1), "]": () => jumpEvent(1),
      ArrowLeft: () => seek((session ? session.wall : Date.now()) - (event.shiftKey ? 60000 : 10000)),
      ArrowRight: () => session && seek(session.wall + (event.shiftKey ? 60000 : 10000)),
    };
    const action = keys[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });
  setInterval(() => {
    if (state.mode === "playback" && session) {
      const wall = session.wall;
      if (wall) {
        clock.textContent = new Date(wall).toLocaleString();
        timeline.setPlayhead(wall);
      }
    } else {
      clock.textContent = timeOfDay(new Date());
    }
  }, 250);
  setInterval(() => { if (dayInput.value === isoDay(Date.now())) loadDay(dayInput.value); }, 60000);
  api("/api/cameras").then((cameras) => {
    const me = cameras.find((c) => c.name === camera);
    if (me && me.fps) fps = me.fps;
  }).catch(() => {});

  loadDay(dayInput.value).then(() => {
    if (viewer.dataset.at) seek(Date.parse(viewer.dataset.at));
  });
  window.nvrPlayer = { seek, goLive, get session() { return session; }, timeline, search,
                      get shown() { return shown; } };
}
