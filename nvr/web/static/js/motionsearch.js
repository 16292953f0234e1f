// Motion search on the camera page: drag a rectangle over the picture; the
// seconds of the shown day with motion inside it (GET /api/cameras/{name}/motion)
// are highlighted on the timeline, and "Next match" plays from one to the next.
// The rectangle is in fractions of the video's own picture (letterboxing left
// out), which is what the server's 16x9 motion grid covers.

const MIN_SIZE = 0.02; // a click, not a rectangle: ignored

export class MotionSearch {
  constructor(stage, video, { onRegion, onCancel }) {
    this.stage = stage;
    this.video = video;
    this.onRegion = onRegion;
    this.onCancel = onCancel;
    this.region = null; // [x0, y0, x1, y1] in 0..1 of the picture
    this.overlay = document.createElement("div");
    this.overlay.className = "region-overlay";
    this.overlay.hidden = true;
    this.box = document.createElement("div");
    this.box.className = "region-box";
    this.box.hidden = true;
    this.overlay.append(this.box);
    stage.append(this.overlay);
    this._bind();
    new ResizeObserver(() => this._show()).observe(stage);
  }

  get drawing() {
    return this.stage.classList.contains("drawing-region");
  }

  start() {
    this.stage.classList.add("drawing-region");
    this.overlay.hidden = false;
  }

  stop() {
    this.stage.classList.remove("drawing-region");
    this.overlay.hidden = !this.region;
  }

  clear() {
    this.region = null;
    this.box.hidden = true;
    this.stop();
    this.overlay.hidden = true;
  }

  // the picture's box inside the stage (object-fit: contain), in stage pixels
  _picture() {
    const rect = this.stage.getBoundingClientRect();
    const vw = this.video.videoWidth || 16;
    const vh = this.video.videoHeight || 9;
    const scale = Math.min(rect.width / vw, rect.height / vh);
    const width = vw * scale;
    const height = vh * scale;
    return { left: (rect.width - width) / 2, top: (rect.height - height) / 2, width, height, rect };
  }

  _fraction(event) {
    const p = this._picture();
    const x = (event.clientX - p.rect.left - p.left) / p.width;
    const y = (event.clientY - p.rect.top - p.top) / p.height;
    return [Math.max(0, Math.min(1, x)), Math.max(0, Math.min(1, y))];
  }

  _show(region = this.region) {
    if (!region) { this.box.hidden = true; return; }
    const p = this._picture();
    const [x0, y0, x1, y1] = region;
    this.box.hidden = false;
    this.box.style.left = `${p.left + x0 * p.width}px`;
    this.box.style.top = `${p.top + y0 * p.height}px`;
    this.box.style.width = `${(x1 - x0) * p.width}px`;
    this.box.style.height = `${(y1 - y0) * p.height}px`;
  }

  _bind() {
    let from = null;
    const rectangle = (event) => {
      const [x, y] = this._fraction(event);
      return [Math.min(from[0], x), Math.min(from[1], y), Math.max(from[0], x), Math.max(from[1], y)];
    };
    this.overlay.addEventListener("pointerdown", (event) => {
      if (!this.drawing) return;
      event.preventDefault();
      this.overlay.setPointerCapture(event.pointerId);
      from = this._fraction(event);
      this._show([...from, ...from]);
    });
    this.overlay.addEventListener("pointermove", (event) => {
      if (from) this._show(rectangle(event));
    });
    this.overlay.addEventListener("pointerup", (event) => {
      if (!from) return;
      const region = rectangle(event);
      from = null;
      if (region[2] - region[0] < MIN_SIZE || region[3] - region[1] < MIN_SIZE) {
        this._show();
        return;
      }
      this.region = region.map((v) => Math.round(v * 1000) / 1000);
      this._show();
      this.stop();
      this.onRegion(this.region);
    });
    this.overlay.addEventListener("pointercancel", () => { from = null; this._show(); });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.drawing) {
        this.stop();
        this.onCancel();
      }
    });
  }
}
