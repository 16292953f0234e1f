// Grid playback on the dashboard: pick a moment and every tile plays its camera's
// recording from there, in step: one shared clock, each tile steered to it.

import { PlaybackSession } from "./playback.js";

const STEER_EVERY = 250; // ms
const TOLERANCE = 0.25; // s a tile may be off the shared clock before it is nudged
const RESEEK = 2; // s off: jump instead of nudging

function localInputValue(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 19);
}

export function setup(tiles, { startLive, stopLive }) {
  const form = document.getElementById("grid-playback");
  const toggle = document.getElementById("grid-playback-toggle");
  const input = document.getElementById("grid-time");
  const clockLabel = document.getElementById("grid-clock");
  const sessions = new Map(); // tile → PlaybackSession
  let origin = null; // {wall: ms, at: performance.now()}
  let timer = null;

  toggle.hidden = false;
  toggle.addEventListener("click", () => {
    form.hidden = !form.hidden;
    toggle.setAttribute("aria-pressed", String(!form.hidden));
    if (!form.hidden && !input.value) input.value = localInputValue(Date.now() - 10 * 60000);
  });

  function sharedWall() {
    return origin.wall + (performance.now() - origin.at);
  }

  function stopAll() {
    clearInterval(timer);
    timer = null;
    for (const session of sessions.values()) session.close();
    sessions.clear();
    origin = null;
    clockLabel.textContent = "";
  }

  function steer() {
    const wall = sharedWall();
    clockLabel.textContent = new Date(wall).toLocaleString();
    for (const [tile, session] of sessions) {
      const video = tile.querySelector("video");
      const message = tile.querySelector(".tile-message");
      const target = session.positioned ? session.mediaAt(wall) : null;
      const inSpan = session.spans.some((s) => wall >= s.wall && wall < s.end);
      if (target === null || !inSpan) {
        message.hidden = false;
        message.textContent = session.spans.length ? "No recording at this time" : "Loading…";
        if (!video.paused && session.positioned) video.pause();
        continue;
      }
      message.hidden = true;
      const off = video.currentTime - target;
      if (Math.abs(off) > RESEEK) {
        video.currentTime = target;
      } else if (Math.abs(off) > TOLERANCE) {
        video.playbackRate = off > 0 ? 0.8 : 1.25;
      } else {
        video.playbackRate = 1;
      }
      if (video.paused) video.play().catch(() => {});
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const wall = new Date(input.value).getTime();
    if (Number.isNaN(wall)) return;
    stopAll();
    document.body.classList.add("in-grid-playback");
    for (const tile of tiles.children) {
      stopLive(tile);
      const video = tile.querySelector("video");
      sessions.set(tile, new PlaybackSession(video, tile.dataset.camera, wall, {
        onEnd: () => {},
        onError: (text) => {
          const message = tile.querySelector(".tile-message");
          message.hidden = false;
          message.textContent = text;
        },
      }));
    }
    origin = { wall, at: performance.now() };
    timer = setInterval(steer, STEER_EVERY);
  });

  document.getElementById("grid-live").addEventListener("click", () => {
    stopAll();
    document.body.classList.remove("in-grid-playback");
    for (const tile of tiles.children) {
      tile.querySelector(".tile-message").hidden = true;
      startLive(tile);
    }
    form.hidden = true;
    toggle.setAttribute("aria-pressed", "false");
  });

  window.nvrGrid = { sessions, sharedWall: () => (origin ? sharedWall() : null) };
}
