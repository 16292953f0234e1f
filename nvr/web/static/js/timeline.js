// The timeline of one day on a canvas: recorded spans, gaps, motion bars (per
// minute), event markers (a row above the bar, one colour per type; hover for
// details, click to play from just before the event), motion search matches, the
// playhead and a selected range. Zoom 24 h / 6 h / 1 h / 10 min with the buttons,
// the mouse wheel or a pinch; drag to scrub (with a preview), click to seek.

const DAY = 86400000;
const BAR_TOP = 24;
const MARKER_HEIGHT = 7;
const MARKER_SLOP = 8; // px either side of a marker that still hits it
const DETAIL_SPAN = 3600000; // zoomed to an hour or less: motion per second, not per minute
export const EVENT_COLOURS = { motion: "#f1b443", camera_offline: "#e5484d", other: "#b98bff" };
const EVENT_NAMES = { motion: "Motion", camera_offline: "Camera offline" };

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function describeEvent(e) {
  const name = EVENT_NAMES[e.type] || e.type.replace(/_/g, " ");
  const when = e.end === null ? `${clock(e.start)} – ongoing` : `${clock(e.start)} – ${clock(e.end)}`;
  const score = e.score === null || e.score === undefined ? "" : `, score ${Math.round(e.score * 100)} %`;
  const zones = e.zones && e.zones.length ? `, zones: ${e.zones.join(", ")}` : "";
  return `${name} ${when}${score}${zones}`;
}

export class Timeline {
  constructor(element, canvas, { onSeek, onScrub, onScrubEnd, onSelect, onMarker, onDetail }) {
    this.element = element;
    this.canvas = canvas;
    this.onSeek = onSeek;
    this.onScrub = onScrub;
    this.onScrubEnd = onScrubEnd;
    this.onSelect = onSelect;
    this.onMarker = onMarker;
    this.onDetail = onDetail; // (start ms, end ms): wants the seconds with motion in there
    this.dayStart = 0; // ms, local midnight
    this.dayEnd = DAY;
    this.spans = [];
    this.gaps = [];
    this.events = []; // {id, type, start (ms), end (ms or null), score, zones}
    this.motion = []; // per motionStep ms from dayStart, 0..100
    this.motionStep = 60000;
    this.matches = []; // motion search: [[ms, ms]]
    this.detail = null; // {start, end, seconds: [ms]}: motion per second, when zoomed in
    this._detailWanted = null;
    this.playhead = null; // ms
    this.selection = null; // [ms, ms]
    this.selecting = false;
    this.span = DAY; // visible window length, ms
    this.viewStart = 0;
    this.pointers = new Map();
    this._drag = null;
    this._bind();
    new ResizeObserver(() => this.draw()).observe(element);
  }

  setDay(start, end, data) {
    this.dayStart = start;
    this.dayEnd = end;
    this.spans = data.spans.map((s) => [Date.parse(s.start), Date.parse(s.end)]);
    this.gaps = data.gaps.map((s) => [Date.parse(s.start), Date.parse(s.end)]);
    this.events = (data.events || []).map((e) => ({ ...e, start: Date.parse(e.start),
                                                    end: e.end === null ? null : Date.parse(e.end) }));
    this.motion = data.motion || [];
    this.detail = null;
    this._detailWanted = null;
    this.motionStep = (data.motion_step || 60) * 1000;
    this.zoom(this.dayEnd - this.dayStart, this.playhead ?? this.dayStart);
  }

  zoom(span, around) {
    const total = this.dayEnd - this.dayStart;
    this.span = Math.max(60000, Math.min(total, span));
    const anchor = around ?? this.viewStart + this.span / 2;
    this.viewStart = Math.max(this.dayStart, Math.min(this.dayEnd - this.span, anchor - this.span / 2));
    this.draw();
  }

  setPlayhead(ms) {
    this.playhead = ms;
    if (ms !== null && (ms < this.viewStart || ms > this.viewStart + this.span) && !this._drag) {
      this.zoom(this.span, ms);
    } else {
      this.draw();
    }
    this.element.setAttribute("aria-valuenow", String(Math.round(((ms ?? this.dayStart) - this.dayStart) / 1000)));
  }

  timeAt(clientX) {
    const rect = this.canvas.getBoundingClientRect();
    const x = Math.max(0, Math.min(rect.width, clientX - rect.left));
    return this.viewStart + (x / rect.width) * this.span;
  }

  xOf(ms, width) {
    return ((ms - this.viewStart) / this.span) * width;
  }

  setDetail(start, end, seconds) {
    this.detail = { start, end, seconds };
    this.draw();
  }

  // zoomed in: ask (once per window, a span either side) for the seconds with motion
  _wantDetail() {
    if (!this.onDetail || this.span > DETAIL_SPAN || !this.motion.some((v) => v)) return;
    const end = this.viewStart + this.span;
    const have = this._detailWanted;
    if (have && have[0] <= this.viewStart && have[1] >= end) return;
    const window = [Math.max(this.dayStart, this.viewStart - this.span),
                    Math.min(this.dayEnd, end + this.span)];
    this._detailWanted = window;
    clearTimeout(this._detailTimer);
    this._detailTimer = setTimeout(() => this.onDetail(window[0], window[1]), 200);
  }

  setMatches(ranges) {
    this.matches = ranges.map((r) => [Date.parse(r.start), Date.parse(r.end)]);
    this.draw();
  }

  // the event whose marker is at this point of the canvas (the row above the bar), or null
  markerAt(clientX, clientY) {
    const rect = this.canvas.getBoundingClientRect();
    if (clientY - rect.top > BAR_TOP + 2) return null;
    const x = clientX - rect.left;
    let best = null;
    let distance = Infinity;
    for (const e of this.events) {
      const [x0, x1] = this._markerX(e, rect.width);
      const d = x < x0 ? x0 - x : x > x1 ? x - x1 : 0;
      if (d <= MARKER_SLOP && d < distance) { best = e; distance = d; }
    }
    return best;
  }

  _markerX(e, width) {
    const end = e.end ?? Math.min(Date.now(), this.dayEnd);
    const x0 = this.xOf(e.start, width);
    return [x0, Math.max(x0 + 3, this.xOf(end, width))];
  }

  recordedAt(ms) {
    return this.spans.some(([a, b]) => ms >= a && ms < b);
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = this.element.clientWidth;
    const height = this.element.clientHeight;
    if (!width || !height) return;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    const barTop = BAR_TOP;
    const barHeight = height - barTop - 6;
    g.fillStyle = "#11151c";
    g.fillRect(0, barTop, width, barHeight);
    // gaps: fine diagonal hatching, so a hole in the recording reads as a hole
    // without the bar turning into a barcode
    g.strokeStyle = "#252c38";
    g.lineWidth = 1;
    for (const [a, b] of this.gaps) {
      const x0 = Math.max(0, this.xOf(a, width));
      const x1 = Math.min(width, this.xOf(b, width));
      if (x1 <= x0) continue;
      g.save();
      g.beginPath();
      g.rect(x0, barTop, x1 - x0, barHeight);
      g.clip();
      g.beginPath();
      for (let x = Math.floor((x0 - barHeight) / 8) * 8; x < x1; x += 8) {
        g.moveTo(x + 0.5, barTop + barHeight);
        g.lineTo(x + barHeight + 0.5, barTop);
      }
      g.stroke();
      g.restore();
    }
    g.fillStyle = "#2f6fe4";
    for (const [a, b] of this.spans) {
      const x0 = Math.max(0, this.xOf(a, width));
      const x1 = Math.min(width, this.xOf(b, width));
      if (x1 > x0) g.fillRect(x0, barTop, Math.max(1, x1 - x0), barHeight);
    }
    this._motion(g, width, barTop, barHeight);
    for (const [a, b] of this.matches) {
      const x0 = Math.max(0, this.xOf(a, width));
      const x1 = Math.min(width, this.xOf(b, width));
      if (x1 < 0 || x0 > width) continue;
      g.fillStyle = "rgb(63 207 130 / 30%)";
      g.fillRect(x0, barTop, Math.max(2, x1 - x0), barHeight);
      g.fillStyle = "#3fcf82";
      g.fillRect(x0, barTop, Math.max(2, x1 - x0), 4);
    }
    for (const e of this.events) {
      const [x0, x1] = this._markerX(e, width);
      if (x1 < 0 || x0 > width) continue;
      g.fillStyle = EVENT_COLOURS[e.type] || EVENT_COLOURS.other;
      g.fillRect(Math.max(0, x0), barTop - MARKER_HEIGHT - 1, Math.min(width, x1) - Math.max(0, x0), MARKER_HEIGHT);
    }
    if (this.selection) {
      const [a, b] = this.selection[0] < this.selection[1] ? this.selection : [this.selection[1], this.selection[0]];
      g.fillStyle = "rgb(241 180 67 / 28%)";
      g.fillRect(this.xOf(a, width), barTop, this.xOf(b, width) - this.xOf(a, width), barHeight);
    }
    this._ticks(g, width, barTop);
    if (this.playhead !== null) {
      const x = this.xOf(this.playhead, width);
      if (x >= 0 && x <= width) {
        g.fillStyle = "#ff5252";
        g.fillRect(x - 1, 4, 2, height - 8);
      }
    }
  }

  // motion bars from the bottom of the bar: the busiest minute under each pixel column
  _motion(g, width, barTop, barHeight) {
    if (!this.motion.length) return;
    this._wantDetail();
    const d = this.detail;
    if (this.span <= DETAIL_SPAN && d && d.start <= this.viewStart && d.end >= this.viewStart + this.span) {
      // each second with motion, at 70 % of the bar: where in the minute it moved
      g.fillStyle = "rgb(255 220 140 / 85%)";
      const wide = Math.max(1, width * 1000 / this.span);
      for (const at of d.seconds) {
        const x = this.xOf(at, width);
        if (x + wide >= 0 && x <= width) g.fillRect(x, barTop + barHeight * 0.3, wide, barHeight * 0.7);
      }
      return;
    }
    const first = Math.max(0, Math.floor((this.viewStart - this.dayStart) / this.motionStep));
    const last = Math.min(this.motion.length, Math.ceil((this.viewStart + this.span - this.dayStart) / this.motionStep));
    const columns = new Map();
    for (let i = first; i < last; i += 1) {
      const value = this.motion[i];
      if (!value) continue;
      const x0 = Math.floor(this.xOf(this.dayStart + i * this.motionStep, width));
      const x1 = Math.max(x0 + 1, Math.floor(this.xOf(this.dayStart + (i + 1) * this.motionStep, width)));
      for (let x = Math.max(0, x0); x < Math.min(width, x1); x += 1) {
        columns.set(x, Math.max(columns.get(x) || 0, value));
      }
    }
    const tall = barHeight * 0.7;
    g.fillStyle = "rgb(255 220 140 / 85%)";
    for (const [x, value] of columns) {
      const h = Math.max(2, (value / 100) * tall);
      g.fillRect(x, barTop + barHeight - h, 1, h);
    }
  }

  _ticks(g, width, barTop) {
    const steps = [60, 300, 600, 1800, 3600, 7200, 10800].map((s) => s * 1000);
    const step = steps.find((s) => (s / this.span) * width >= 70) || 21600000;
    g.fillStyle = "#8a94a6";
    g.font = "11px system-ui, sans-serif";
    g.textBaseline = "top";
    const first = Math.ceil((this.viewStart - this.dayStart) / step) * step + this.dayStart;
    for (let t = first; t <= this.viewStart + this.span; t += step) {
      const x = this.xOf(t, width);
      g.fillRect(x, barTop - MARKER_HEIGHT - 4, 1, 3);
      const label = new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      const half = g.measureText(label).width / 2;
      if (x - half >= 0 && x + half <= width) g.fillText(label, x - half, 2);
    }
  }

  _bind() {
    const el = this.element;
    el.addEventListener("wheel", (event) => {
      event.preventDefault();
      if (Math.abs(event.deltaX) > Math.abs(event.deltaY) || event.shiftKey) {
        const delta = (event.deltaX || event.deltaY) / el.clientWidth * this.span;
        this.viewStart = Math.max(this.dayStart, Math.min(this.dayEnd - this.span, this.viewStart + delta));
        this.draw();
        return;
      }
      const at = this.timeAt(event.clientX);
      const factor = event.deltaY > 0 ? 1.5 : 1 / 1.5;
      const span = Math.max(60000, Math.min(this.dayEnd - this.dayStart, this.span * factor));
      const rect = this.canvas.getBoundingClientRect();
      const frac = (event.clientX - rect.left) / rect.width;
      this.span = span;
      this.viewStart = Math.max(this.dayStart, Math.min(this.dayEnd - span, at - frac * span));
      this.draw();
    }, { passive: false });
    el.addEventListener("pointerdown", (event) => {
      el.setPointerCapture(event.pointerId);
      this.pointers.set(event.pointerId, event.clientX);
      if (this.pointers.size === 2) {
        const [a, b] = [...this.pointers.values()];
        this._pinch = { distance: Math.abs(a - b), span: this.span };
        this._drag = null;
        return;
      }
      const at = this.timeAt(event.clientX);
      const marker = this.selecting ? null : this.markerAt(event.clientX, event.clientY);
      this._drag = { start: at, moved: false, x: event.clientX, marker };
      if (this.selecting) this.selection = [at, at];
    });
    el.addEventListener("pointermove", (event) => {
      if (this.pointers.has(event.pointerId)) this.pointers.set(event.pointerId, event.clientX);
      if (this._pinch && this.pointers.size === 2) {
        const [a, b] = [...this.pointers.values()];
        const distance = Math.max(10, Math.abs(a - b));
        this.zoom(this._pinch.span * (this._pinch.distance / distance), this.timeAt((a + b) / 2));
        return;
      }
      const at = this.timeAt(event.clientX);
      if (!this._drag) {
        const marker = this.markerAt(event.clientX, event.clientY);
        const title = marker ? describeEvent(marker) : "";
        if (this.canvas.title !== title) this.canvas.title = title;
      }
      if (this._drag) {
        if (Math.abs(event.clientX - this._drag.x) > 3) this._drag.moved = true;
        if (this.selecting) {
          this.selection[1] = at;
          this.draw();
        } else if (this._drag.moved) {
          this.playhead = at;
          this.draw();
        }
      }
      this.onScrub(at, event.clientX - this.canvas.getBoundingClientRect().left);
    });
    const end = (event) => {
      this.pointers.delete(event.pointerId);
      if (this.pointers.size < 2) this._pinch = null;
      const drag = this._drag;
      this._drag = null;
      if (!drag) return;
      const at = this.timeAt(event.clientX);
      if (this.selecting) {
        const [a, b] = [drag.start, at].sort((x, y) => x - y);
        this.selection = b - a >= 1000 ? [a, b] : null;
        this.draw();
        this.onSelect(this.selection);
      } else if (drag.marker && !drag.moved && this.onMarker) {
        this.onMarker(drag.marker);
      } else {
        this.onSeek(at);
      }
    };
    el.addEventListener("pointerup", end);
    el.addEventListener("pointercancel", (event) => { this.pointers.delete(event.pointerId); this._drag = null; });
    el.addEventListener("pointerleave", () => { if (!this._drag) this.onScrubEnd(); });
  }
}
