// The camera page: live view with sound, snapshot and fullscreen; the playback
// area (timeline, transport) is wired by playback.js when recordings exist.

import { setStatus } from "./api.js";
import { plainError } from "./errors.js";
import { LiveView } from "./live.js";

const viewer = document.getElementById("viewer");
const camera = viewer.dataset.camera;
const video = document.getElementById("video");
const stageMessage = document.getElementById("stage-message");
const lagLabel = document.getElementById("lag");
const statusBadge = document.getElementById("status");
const audioButton = document.getElementById("audio");

export const state = { mode: "live", live: null };

function say(text) {
  stageMessage.hidden = !text;
  stageMessage.textContent = text || "";
}

export function startLive() {
  if (state.live) return;
  state.mode = "live";
  document.body.classList.add("mode-live");
  document.body.classList.remove("mode-playback");
  document.getElementById("mode-label").textContent = "Live";
  state.live = new LiveView(video, camera, {
    onStatus: (status, error) => {
      if (["online", "offline", "connecting", "auth_failed", "error"].includes(status)) {
        setStatus(statusBadge, status);
      }
      if (status === "online") say("");
      else if (status === "reconnecting") say("Connection lost — reconnecting…");
      else if (status === "missing") say("This camera does not exist.");
      else if (status !== "connecting") say(plainError(error) || "The camera is offline.");
    },
    onNote: (text) => {
      const note = document.getElementById("stage-note");
      note.hidden = !text;
      note.textContent = text;
    },
    onLag: (lag, lastFrame) => {
      const stale = lastFrame && Date.now() - lastFrame > 3000;
      lagLabel.textContent = stale ? "no new frames" : lastFrame ? `${lag.toFixed(1)} s behind live` : "";
    },
  }).start();
}

export function stopLive() {
  if (!state.live) return;
  state.live.stop();
  state.live = null;
  lagLabel.textContent = "";
}

audioButton.addEventListener("click", () => {
  video.muted = !video.muted;
  audioButton.setAttribute("aria-pressed", String(!video.muted));
  audioButton.textContent = video.muted ? "Sound off" : "Sound on";
  if (!video.muted) video.play().catch(() => {});
});

document.getElementById("fullscreen").addEventListener("click", () => {
  const stage = viewer.querySelector(".stage");
  if (document.fullscreenElement) document.exitFullscreen();
  else stage.requestFullscreen().catch(() => {});
});

startLive();
import("./playback.js").then((module) => module.setup({ video, camera, viewer, startLive, stopLive, state, say }));
