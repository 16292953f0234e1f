// A MediaSource fed with fMP4 from the server: the mime type first, then the
// init segment, then fragments. Our own small player (no library), shared by the
// live view and playback. Safari on iPhone has ManagedMediaSource (iOS 17.1+).

const MediaSourceClass = window.ManagedMediaSource || window.MediaSource;

export function mseSupported(mime) {
  return Boolean(MediaSourceClass) && MediaSourceClass.isTypeSupported(mime);
}

export class MseSink {
  constructor(video) {
    this.video = video;
    this.mime = null;
    this.source = null;
    this.buffer = null;
    this.queue = [];
    this.url = null;
    this.onAppended = null; // called after each append (live edge, flow control)
    this.onError = null;
    video.disableRemotePlayback = true; // ManagedMediaSource wants this or an AirPlay source
  }

  // A (new) stream: a new MediaSource, since the codec or its parameters changed.
  start(mime) {
    this.reset();
    if (!mseSupported(mime)) {
      this._fail(`this browser cannot play ${mime}`);
      return false;
    }
    this.mime = mime;
    const source = new MediaSourceClass();
    this.source = source;
    this.url = URL.createObjectURL(source);
    this.video.src = this.url;
    source.addEventListener("sourceopen", () => {
      if (this.source !== source) return;
      try {
        this.buffer = source.addSourceBuffer(mime);
        this.buffer.mode = "segments";
        this.buffer.addEventListener("updateend", () => this._next());
        this.buffer.addEventListener("error", () => this._fail("the video could not be decoded"));
        this._next();
      } catch (err) {
        this._fail(String(err));
      }
    }, { once: true });
    return true;
  }

  append(data) {
    if (!this.source) return;
    this.queue.push(data);
    this._next();
  }

  // Drop what is older than `keep` seconds behind the playhead (memory, quota).
  trim(keep) {
    const b = this.buffer;
    if (!b || b.updating || !b.buffered.length) return;
    const upTo = this.video.currentTime - keep;
    if (upTo > b.buffered.start(0) + 1) {
      try { b.remove(b.buffered.start(0), upTo); } catch (_) { /* ended source */ }
    }
  }

  // Forget everything buffered (a seek in playback) but keep the source open.
  clear() {
    this.queue = [];
    const b = this.buffer;
    if (b && !b.updating && b.buffered.length) {
      try { b.remove(0, Infinity); } catch (_) { /* ended source */ }
    }
  }

  get end() {
    const b = this.buffer;
    return b && b.buffered.length ? b.buffered.end(b.buffered.length - 1) : 0;
  }

  reset() {
    this.queue = [];
    this.buffer = null;
    if (this.source && this.source.readyState === "open") {
      try { this.source.endOfStream(); } catch (_) { /* already ended */ }
    }
    this.source = null;
    if (this.url) {
      URL.revokeObjectURL(this.url);
      this.url = null;
    }
  }

  _next() {
    const b = this.buffer;
    if (!b || b.updating || !this.queue.length) return;
    const data = this.queue.shift();
    try {
      b.appendBuffer(data);
    } catch (err) {
      if (err.name === "QuotaExceededError") {
        this.queue.unshift(data);
        this.trim(2);
        return;
      }
      this._fail(String(err));
      return;
    }
    if (this.onAppended) this.onAppended();
  }

  _fail(message) {
    if (this.onError) this.onError(message);
  }
}
