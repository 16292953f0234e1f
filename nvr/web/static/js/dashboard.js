// The dashboard: a grid of live tiles (1, 4, 9 or 16 per screen), statuses kept
// fresh, fullscreen, and grid playback (every tile plays its recording from one
// moment, in step).

import { api, setStatus, timeOfDay } from "./api.js";
import { plainError } from "./errors.js";
import { LiveView } from "./live.js";

const tiles = document.getElementById("tiles");
const views = new Map(); // camera → LiveView
const LAYOUTS = [1, 4, 9, 16];

function chooseLayout(n) {
  for (const k of LAYOUTS) tiles.classList.toggle(`layout-${k}`, k === n);
  for (const button of document.querySelectorAll("#layout-chooser .seg")) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.layout) === n));
  }
  localStorage.setItem("nvr.layout", String(n));
}

function tileMessage(tile, text) {
  const message = tile.querySelector(".tile-message");
  message.hidden = !text;
  message.textContent = text || "";
}

function startLive(tile) {
  const camera = tile.dataset.camera;
  if (views.has(camera)) return;
  const video = tile.querySelector("video");
  const view = new LiveView(video, camera, {
    stream: tile.dataset.stream,
    onStatus: (status, error) => {
      if (["online", "offline", "connecting", "auth_failed", "error"].includes(status)) {
        setStatus(tile.querySelector("[data-role=status]"), status);
        tile.className = tile.className.replace(/\bis-\S+/, `is-${status}`);
      }
      tileMessage(tile, status === "online" ? "" :
        status === "reconnecting" ? "Reconnecting…" :
        status === "connecting" ? plainError(error) || "Connecting…" :
        plainError(error) || "Camera offline");
    },
    onLag: (_lag, lastFrame) => {
      if (lastFrame) tile.querySelector("[data-role=time]").textContent =
        timeOfDay(new Date(lastFrame));
    },
  });
  views.set(camera, view.start());
}

function stopLive(tile) {
  const view = views.get(tile.dataset.camera);
  if (view) {
    view.stop();
    views.delete(tile.dataset.camera);
  }
}

// Only tiles on screen pull video.
const visible = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (document.body.classList.contains("in-grid-playback")) continue;
    if (entry.isIntersecting) startLive(entry.target); else stopLive(entry.target);
  }
}, { threshold: 0.01 });

// Pushed streams (admins): a publisher that left shows offline until the next load.
const pushed = document.querySelector(".pushed-list");

function refreshPushed(cameras) {
  const now = new Map(cameras.filter((c) => c.source === "pushed").map((c) => [c.name, c]));
  for (const row of pushed.children) {
    const stream = now.get(row.dataset.stream);
    setStatus(row.querySelector(".status"), stream ? stream.status : "offline");
  }
}

async function refreshStatuses() {
  try {
    const cameras = await api("/api/cameras");
    if (pushed) refreshPushed(cameras);
    if (!tiles) return;
    for (const camera of cameras) {
      const tile = tiles.querySelector(`[data-camera="${CSS.escape(camera.name)}"]`);
      if (!tile) continue;
      setStatus(tile.querySelector("[data-role=status]"), camera.status);
      if (camera.status !== "online" && !views.has(camera.name)) {
        if (camera.last_error) tileMessage(tile, plainError(camera.last_error));
      }
      if (camera.last_frame) {
        tile.querySelector("[data-role=time]").textContent = timeOfDay(new Date(camera.last_frame));
      }
    }
  } catch (_) { /* next round */ }
}

if (tiles) {
  const saved = Number(localStorage.getItem("nvr.layout"));
  chooseLayout(LAYOUTS.includes(saved) ? saved : Math.min(16, LAYOUTS.find(
    (k) => k >= tiles.children.length) || 16));
  for (const button of document.querySelectorAll("#layout-chooser .seg")) {
    button.addEventListener("click", () => chooseLayout(Number(button.dataset.layout)));
  }
  for (const tile of tiles.children) visible.observe(tile);
  document.getElementById("fullscreen").addEventListener("click", () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else tiles.requestFullscreen().catch(() => {});
  });
  setInterval(refreshStatuses, 5000);
  import("./gridplayback.js").then((module) => module.setup(tiles, { startLive, stopLive }));
} else if (pushed) {
  setInterval(refreshStatuses, 5000);
}
