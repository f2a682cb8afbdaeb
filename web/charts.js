// Canvas charts for the page: a line chart (training loss per step, validation metrics per epoch)
// and the confusion-matrix heat map. No dependencies. Both draw at the device's pixel density,
// redraw at most once per animation frame however often data arrives, and keep their points in
// flat arrays so a long run does not churn the garbage collector.

const FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
const INK = '#1c2330';
const MUTED = '#5b6474';
const GRID = '#e6e9ef';

/** Sizes the canvas backing store to its CSS box × devicePixelRatio; returns the context, set
 *  up to draw in CSS pixels, and the CSS size. */
function fit(canvas, cssHeight) {
  const dpr = window.devicePixelRatio || 1;
  if (cssHeight) canvas.style.height = `${cssHeight}px`;
  const w = canvas.clientWidth || 300;
  const h = cssHeight || canvas.clientHeight || 150;
  const bw = Math.round(w * dpr);
  const bh = Math.round(h * dpr);
  if (canvas.width !== bw || canvas.height !== bh) {
    canvas.width = bw;
    canvas.height = bh;
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = FONT;
  return { ctx, w, h };
}

/** About `count` round tick values (1, 2 or 5 × 10^k apart) covering [min, max]. */
export function niceTicks(min, max, count = 5) {
  if (!(max > min)) return [min];
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
  const ticks = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function tickLabel(v) {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 10000) return `${Math.round(v / 1000)}k`;
  if (a >= 100) return String(Math.round(v));
  return String(Number(v.toPrecision(3)));
}

/** A line chart of several series sharing the x axis. Options:
 *  series: [{ name, color, line = true, markers = false, dash }], xLabel,
 *  yMin / yMax: clamp the automatic y range (e.g. 0 for a loss, 0..1 for accuracy),
 *  empty: the text shown before any point arrives. */
export class LineChart {
  constructor(canvas, options) {
    this.canvas = canvas;
    this.opts = { xLabel: '', empty: 'No data yet', ...options };
    this.series = options.series.map((s) => ({ line: true, markers: false, ...s, xs: [], ys: [] }));
    this.xMax = null;
    this.frame = 0;
    new ResizeObserver(() => this.request()).observe(canvas);
    this.request();
  }

  add(index, x, y) {
    if (!Number.isFinite(x) || !Number.isFinite(y)) return;
    const s = this.series[index];
    s.xs.push(x);
    s.ys.push(y);
    this.request();
  }

  /** Drops points past x (a run resumed from an earlier checkpoint redraws from there). */
  truncate(x) {
    for (const s of this.series) {
      let n = s.xs.length;
      while (n && s.xs[n - 1] > x) n--;
      s.xs.length = n;
      s.ys.length = n;
    }
    this.request();
  }

  clear() {
    for (const s of this.series) s.xs.length = s.ys.length = 0;
    this.xMax = null;
    this.request();
  }

  /** Fixes the right end of the x axis (the total steps), so the line grows into known space. */
  setXMax(x) {
    this.xMax = x;
    this.request();
  }

  get points() {
    return this.series.reduce((n, s) => n + s.xs.length, 0);
  }

  /** Schedules a redraw. The point count is published at once (tests and hidden tabs, where
   *  animation frames pause, still see it). */
  request() {
    this.canvas.dataset.points = String(this.points);
    if (!this.frame) this.frame = requestAnimationFrame(() => ((this.frame = 0), this.draw()));
  }

  draw() {
    const { ctx, w, h } = fit(this.canvas);
    const pad = { l: 46, r: 14, t: 30, b: 34 };
    const pw = Math.max(10, w - pad.l - pad.r);
    const ph = Math.max(10, h - pad.t - pad.b);
    this.canvas.dataset.points = String(this.points);
    this.drawLegend(ctx, pad.l, 16);
    if (!this.points) {
      ctx.fillStyle = MUTED;
      ctx.textAlign = 'center';
      ctx.fillText(this.opts.empty, pad.l + pw / 2, pad.t + ph / 2);
      this.canvas.setAttribute('aria-label', `${this.opts.label}: ${this.opts.empty}`);
      return;
    }

    // Ranges: x from the data (or the known total), y from the data clamped to the options.
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const s of this.series) {
      for (let i = 0; i < s.xs.length; i++) {
        x0 = Math.min(x0, s.xs[i]); x1 = Math.max(x1, s.xs[i]);
        y0 = Math.min(y0, s.ys[i]); y1 = Math.max(y1, s.ys[i]);
      }
    }
    x0 = Math.min(x0, this.opts.xMin ?? x0);
    if (this.xMax != null) x1 = Math.max(x1, this.xMax);
    if (x1 <= x0) x1 = x0 + 1;
    const span = y1 - y0 || Math.abs(y1) * 0.1 || 1;
    y0 -= span * 0.08; y1 += span * 0.08;
    if (this.opts.yMin != null) y0 = Math.max(this.opts.yMin, y0);
    if (this.opts.yMax != null) y1 = Math.min(this.opts.yMax, y1);
    if (y1 <= y0) y1 = y0 + 1;
    const X = (x) => pad.l + ((x - x0) / (x1 - x0)) * pw;
    const Y = (y) => pad.t + ph - ((y - y0) / (y1 - y0)) * ph;

    // Grid and tick labels.
    ctx.lineWidth = 1;
    ctx.strokeStyle = GRID;
    ctx.fillStyle = MUTED;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (const t of niceTicks(y0, y1, Math.max(2, Math.floor(ph / 40)))) {
      const y = Math.round(Y(t)) + 0.5;
      ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(pad.l + pw, y); ctx.stroke();
      ctx.fillText(tickLabel(t), pad.l - 6, y);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const xTicks = niceTicks(x0, x1, Math.max(2, Math.floor(pw / 80))).filter((t) => !this.opts.xInteger || Number.isInteger(t));
    for (const t of xTicks) ctx.fillText(tickLabel(t), X(t), pad.t + ph + 6);
    ctx.fillText(this.opts.xLabel, pad.l + pw / 2, pad.t + ph + 20);
    ctx.strokeStyle = '#c4cad4';
    ctx.beginPath(); ctx.moveTo(pad.l, pad.t + ph + 0.5); ctx.lineTo(pad.l + pw, pad.t + ph + 0.5); ctx.stroke();

    ctx.save();
    ctx.beginPath(); ctx.rect(pad.l, pad.t - 6, pw + 6, ph + 12); ctx.clip();
    for (const s of this.series) {
      if (!s.xs.length) continue;
      ctx.strokeStyle = ctx.fillStyle = s.color;
      ctx.lineWidth = 2;
      ctx.lineJoin = 'round';
      ctx.setLineDash(s.dash || []);
      if (s.line) this.drawLine(ctx, s, X, Y, pw);
      ctx.setLineDash([]);
      if (s.markers) {
        for (let i = 0; i < s.xs.length; i++) {
          ctx.beginPath();
          ctx.arc(X(s.xs[i]), Y(s.ys[i]), 4, 0, Math.PI * 2);
          ctx.fill();
          ctx.lineWidth = 1.5; ctx.strokeStyle = '#fff'; ctx.stroke();
          ctx.strokeStyle = s.color;
        }
      }
    }
    ctx.restore();
    const last = this.series.filter((s) => s.ys.length)
      .map((s) => `${s.name} ${tickLabel(s.ys[s.ys.length - 1])}`).join(', ');
    this.canvas.setAttribute('aria-label', `${this.opts.label}: latest ${last}`);
  }

  /** Draws one series; with more points than pixels it draws each pixel column's min–max, so
   *  10 000 steps cost what 600 do and spikes stay visible. */
  drawLine(ctx, s, X, Y, pw) {
    const n = s.xs.length;
    ctx.beginPath();
    if (n <= pw * 2) {
      for (let i = 0; i < n; i++) (i ? ctx.lineTo : ctx.moveTo).call(ctx, X(s.xs[i]), Y(s.ys[i]));
    } else {
      let col = Math.floor(X(s.xs[0])), lo = s.ys[0], hi = s.ys[0];
      ctx.moveTo(X(s.xs[0]), Y(s.ys[0]));
      for (let i = 1; i <= n; i++) {
        const c = i < n ? Math.floor(X(s.xs[i])) : Infinity;
        if (c !== col) {
          ctx.lineTo(col + 0.5, Y(hi)); ctx.lineTo(col + 0.5, Y(lo));
          if (i < n) ((col = c), (lo = hi = s.ys[i]));
        } else {
          lo = Math.min(lo, s.ys[i]); hi = Math.max(hi, s.ys[i]);
        }
      }
    }
    ctx.stroke();
  }

  drawLegend(ctx, x, y) {
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'left';
    for (const s of this.series) {
      ctx.strokeStyle = ctx.fillStyle = s.color;
      ctx.lineWidth = 2;
      if (s.line) {
        ctx.setLineDash(s.dash || []);
        ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x + 18, y); ctx.stroke();
        ctx.setLineDash([]);
      }
      if (s.markers) { ctx.beginPath(); ctx.arc(x + 9, y, 4, 0, Math.PI * 2); ctx.fill(); }
      ctx.fillStyle = INK;
      ctx.fillText(s.name, x + 24, y);
      x += 24 + ctx.measureText(s.name).width + 18;
    }
  }
}

/** Shortens `text` with "…" to fit `width` CSS pixels in the current font. */
function clipText(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  let lo = 0, hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ctx.measureText(text.slice(0, mid) + '…').width <= width) lo = mid; else hi = mid - 1;
  }
  return text.slice(0, lo) + '…';
}

/** Colour of a cell: blue for correct predictions, warm for confusions, stronger for a larger
 *  share of the true class (row-normalised, so small classes show their errors too). */
function cellColour(share, diagonal) {
  if (share === 0) return '#f7f8fa';
  const t = 0.12 + 0.88 * Math.sqrt(share);
  const [r, g, b] = diagonal ? [29, 78, 216] : [217, 72, 15];
  const mix = (c) => Math.round(255 + (c - 255) * t);
  return `rgb(${mix(r)},${mix(g)},${mix(b)})`;
}

/** Confusion matrix heat map: rows are true classes, columns predicted ones. A tooltip element
 *  (absolutely positioned inside the canvas's positioned parent) shows a cell on hover. */
export class ConfusionChart {
  constructor(canvas, tooltip) {
    this.canvas = canvas;
    this.tooltip = tooltip;
    this.labels = [];
    this.matrix = [];
    this.layout = null;
    this.hover = null;
    this.frame = 0;
    new ResizeObserver(() => this.request()).observe(canvas.parentElement);
    canvas.addEventListener('pointermove', (e) => this.onMove(e));
    canvas.addEventListener('pointerleave', () => this.onMove(null));
  }

  set(labels, matrix) {
    this.labels = labels;
    this.matrix = matrix;
    this.hover = null;
    this.canvas.dataset.rendered = '0';
    this.request();
  }

  request() {
    if (!this.frame) this.frame = requestAnimationFrame(() => ((this.frame = 0), this.draw()));
  }

  draw() {
    const k = this.labels.length;
    if (!k) return;
    const probe = this.canvas.getContext('2d');
    probe.font = FONT;
    const labelW = Math.min(140, Math.max(...this.labels.map((l) => probe.measureText(l).width)) + 4);
    const avail = (this.canvas.parentElement.clientWidth || 600) - labelW - 40;
    const cell = Math.max(6, Math.min(56, Math.floor(avail / k)));
    // Column labels go flat when they fit in a cell, else on a slant below the grid.
    const slant = labelW > cell - 6;
    const bottom = slant ? Math.min(labelW, 140) * 0.72 + 34 : 40;
    const left = labelW + 34;
    const top = 8;
    const height = top + k * cell + bottom;
    this.canvas.style.width = `${left + k * cell + 12}px`;
    const { ctx } = fit(this.canvas, height);
    this.layout = { left, top, cell, k };

    const rowSums = this.matrix.map((row) => row.reduce((a, b) => a + b, 0));
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) {
        const n = this.matrix[i]?.[j] ?? 0;
        const share = rowSums[i] ? n / rowSums[i] : 0;
        const x = left + j * cell, y = top + i * cell;
        ctx.fillStyle = cellColour(share, i === j);
        ctx.fillRect(x, y, cell - 1, cell - 1);
        if (cell >= 22 && n > 0) {
          const text = String(n);
          if (ctx.measureText(text).width < cell - 4) {
            ctx.fillStyle = share > 0.45 ? '#fff' : INK;
            ctx.fillText(text, x + cell / 2, y + cell / 2);
          }
        }
      }
    }
    if (this.hover) {
      ctx.strokeStyle = INK;
      ctx.lineWidth = 2;
      ctx.strokeRect(left + this.hover.j * cell + 1, top + this.hover.i * cell + 1, cell - 3, cell - 3);
    }

    // Axis labels: true classes on the left, predicted below.
    ctx.fillStyle = INK;
    const every = Math.ceil(12 / cell); // with tiny cells, label every n-th class only
    ctx.textAlign = 'right';
    for (let i = 0; i < k; i += every) ctx.fillText(clipText(ctx, this.labels[i], labelW), left - 6, top + i * cell + cell / 2);
    for (let j = 0; j < k; j += every) {
      const x = left + j * cell + cell / 2, y = top + k * cell + 6;
      const text = clipText(ctx, this.labels[j], slant ? 140 : cell - 2);
      ctx.save();
      ctx.translate(x, y);
      if (slant) { ctx.rotate(-Math.PI / 4); ctx.textAlign = 'right'; ctx.textBaseline = 'middle'; }
      else { ctx.textAlign = 'center'; ctx.textBaseline = 'top'; }
      ctx.fillText(text, 0, 0);
      ctx.restore();
    }
    ctx.fillStyle = MUTED;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'bottom';
    ctx.fillText('Predicted', left + (k * cell) / 2, height - 2);
    ctx.save();
    ctx.translate(12, top + (k * cell) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = 'middle';
    ctx.fillText('True', 0, 0);
    ctx.restore();

    this.canvas.setAttribute('aria-label', this.summary(rowSums));
    this.canvas.dataset.rendered = '1';
  }

  /** One sentence for screen readers: size and the largest confusion. */
  summary(rowSums) {
    let worst = null;
    this.matrix.forEach((row, i) => row.forEach((n, j) => {
      if (i !== j && n > 0 && (!worst || n > worst.n)) worst = { i, j, n };
    }));
    const total = rowSums.reduce((a, b) => a + b, 0);
    const most = worst ? `; most frequent confusion: ${this.labels[worst.i]} predicted as ${this.labels[worst.j]} (${worst.n})` : '; no confusions';
    return `Confusion matrix of ${this.labels.length} classes over ${total} examples${most}`;
  }

  onMove(e) {
    const L = this.layout;
    let hit = null;
    if (e && L) {
      const r = this.canvas.getBoundingClientRect();
      const j = Math.floor((e.clientX - r.left - L.left) / L.cell);
      const i = Math.floor((e.clientY - r.top - L.top) / L.cell);
      if (i >= 0 && j >= 0 && i < L.k && j < L.k) hit = { i, j };
    }
    const same = hit && this.hover && hit.i === this.hover.i && hit.j === this.hover.j;
    if (!same) {
      this.hover = hit;
      this.request();
    }
    if (!hit) {
      this.tooltip.hidden = true;
      return;
    }
    const n = this.matrix[hit.i]?.[hit.j] ?? 0;
    const row = this.matrix[hit.i].reduce((a, b) => a + b, 0);
    const pct = row ? ` (${((100 * n) / row).toFixed(1)} % of ${this.labels[hit.i]})` : '';
    this.tooltip.textContent = `True: ${this.labels[hit.i]} · Predicted: ${this.labels[hit.j]} · ${n}${pct}`;
    this.tooltip.hidden = false;
    // Keep the tooltip inside the wrapper: flip to the left of the pointer near the right edge.
    const box = this.canvas.parentElement.getBoundingClientRect();
    const x = e.clientX - box.left + 14, y = e.clientY - box.top + 14;
    const tw = this.tooltip.offsetWidth;
    this.tooltip.style.left = `${x + tw > box.width ? Math.max(0, x - tw - 28) : x}px`;
    this.tooltip.style.top = `${y}px`;
  }
}

/** A horizontal bar list in HTML (class counts, prediction probabilities): few bars, so plain
 *  elements, which also read well to screen readers. items: [[label, value]]; `max` is the
 *  value of a full bar; `text(value)` writes the number shown. */
export function barList(items, { max, text, label, className = 'bars' }) {
  const ul = document.createElement('ul');
  ul.className = className;
  ul.setAttribute('aria-label', label);
  for (const [name, value] of items) {
    const li = document.createElement('li');
    const title = Object.assign(document.createElement('span'), { className: 'label', title: name, textContent: name });
    const bar = Object.assign(document.createElement('span'), { className: 'bar' });
    const fill = bar.appendChild(document.createElement('span'));
    fill.style.width = `${Math.min(100, (100 * value) / (max || 1)).toFixed(1)}%`;
    const number = Object.assign(document.createElement('span'), { className: 'count', textContent: text(value) });
    li.append(title, bar, number);
    ul.append(li);
  }
  return ul;
}
