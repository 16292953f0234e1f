// The live view: a WebSocket from /api/cameras/{name}/live into a MseSink, kept
// within half a second of the live edge, reconnecting by itself.

import { SIGNED_OUT, toLogin } from "./api.js";
import { MseSink, mseSupported } from "./mse.js";

const MAX_LAG = 0.5; // seconds behind the newest frame before we catch up
const JUMP_LAG = 1.5; // further behind than this: jump instead of speeding up
const KEEP = 8; // seconds of video kept behind the playhead

export class LiveView {
  constructor(video, camera, { stream = "main", onStatus = null, onLag = null, onNote = null } = {}) {
    this.video = video;
    this.camera = camera;
    this.stream = stream;
    this.onStatus = onStatus || (() => {});
    this.onLag = onLag || (() => {});
    this.onNote = onNote || (() => {});
    this.transcode = false; // asked the server for H.264 made from the camera's codec
    this.sink = new MseSink(video);
    this.sink.onAppended = () => this._keepUp();
    this.sink.onError = (message) => this.onStatus("error", message);
    this.socket = null;
    this.retry = 1;
    this.stopped = false;
    this.lastFrame = 0; // Date.now() of the last fragment
    this._timer = setInterval(() => this._tick(), 1000);
    this._onVisible = () => { if (!document.hidden) this._jumpToEdge(); };
    document.addEventListener("visibilitychange", this._onVisible);
    video.addEventListener("stalled", () => this._jumpToEdge());
    video.addEventListener("waiting", () => this._jumpToEdge());
  }

  start() {
    this.stopped = false;
    this._connect();
    return this;
  }

  stop() {
    this.stopped = true;
    clearInterval(this._timer);
    document.removeEventListener("visibilitychange", this._onVisible);
    if (this.socket) this.socket.close();
    this.sink.reset();
  }

  get lag() {
    return Math.max(0, this.sink.end - this.video.currentTime);
  }

  _connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const params = new URLSearchParams();
    if (this.stream === "sub") params.set("stream", "sub");
    if (this.transcode) params.set("transcode", "h264");
    const query = params.toString() ? `?${params}` : "";
    const url = `${scheme}://${location.host}/api/cameras/${encodeURIComponent(this.camera)}/live${query}`;
    const socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    this.onStatus("connecting", null);
    socket.onmessage = (event) => this._message(event.data);
    socket.onclose = (event) => {
      if (this.socket !== socket || this.stopped) return;
      if (event.code === 4404) {
        this.onStatus("missing", "no such camera");
        return;
      }
      if (event.code === SIGNED_OUT) {
        toLogin();
        return;
      }
      this.onStatus("reconnecting", null);
      setTimeout(() => { if (!this.stopped) this._connect(); }, this.retry * 1000);
      this.retry = Math.min(this.retry * 2, 10);
    };
  }

  _message(data) {
    if (typeof data === "string") {
      const message = JSON.parse(data);
      if (message.mime) {
        this.retry = 1;
        if (!mseSupported(message.mime) && !this.transcode) {
          // e.g. H.265 in Chromium: ask for the same stream as H.264
          this.transcode = true;
          this.onNote("This browser cannot play the camera's video: asking nvr for H.264…");
          const old = this.socket;
          this.socket = null;
          old.close();
          this._connect();
          return;
        }
        if (this.sink.start(message.mime)) this.onStatus("online", null);
      } else if (message.transcoded) {
        const from = { h265: "H.265", hevc: "H.265" }[message.from] || String(message.from).toUpperCase();
        this.onNote(`This browser cannot play ${from}: nvr converts the live view to H.264 while you watch.`);
      } else if (message.status) {
        this.onStatus(message.status, message.error);
      }
      return;
    }
    this.lastFrame = Date.now();
    this.sink.append(data);
  }

  _keepUp() {
    const video = this.video;
    const lag = this.lag;
    if (video.paused && this.sink.end > 0) {
      video.play().catch(() => {}); // muted autoplay is allowed
    }
    if (lag > JUMP_LAG) {
      this._jumpToEdge();
    } else if (lag > MAX_LAG) {
      video.playbackRate = 1.25;
    } else if (lag < 0.2) {
      video.playbackRate = 1;
    }
  }

  _jumpToEdge() {
    if (this.sink.end > 0) {
      this.video.currentTime = Math.max(0, this.sink.end - 0.1);
      this.video.playbackRate = 1;
    }
  }

  _tick() {
    this.sink.trim(KEEP);
    this.onLag(this.lag, this.lastFrame);
  }
}
