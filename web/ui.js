// The page's small helpers, shared by every module: `$` (an element by id), the page's query
// string (`params`), `h` (builds elements; text always as text nodes), the number, size and time
// formats of the reports, `debounce`, `lineList` and `dropZone`. They keep no state and import
// nothing, so any module can use them while it is evaluated.

export const $ = (id) => document.getElementById(id);
export const params = new URLSearchParams(location.search);

// ---------------------------------------------------------------- small helpers

/** Builds an element: h('td', { class: 'num', title: 'x' }, 'text', child). Text always goes in
 *  as text nodes, never as HTML: file contents must not be able to inject markup. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'style') el.style.cssText = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  el.append(...children.flat().filter((c) => c != null && c !== false).map((c) => (c instanceof Node ? c : String(c))));
  return el;
}
export const int = (n) => Number(n).toLocaleString('en-US');
/** "1 row", "3 rows": counts in reports read as sentences. */
export const count = (n, noun, plural = `${noun}s`) => `${int(n)} ${n === 1 ? noun : plural}`;
export const pct = (x, digits = 1) => `${(x * 100).toFixed(digits)} %`;
export const mb = (bytes) => (bytes / 1e6).toFixed(1);
export const size = (bytes) => (bytes < 1e6 ? `${Math.max(1, Math.round(bytes / 1e3))} kB` : `${mb(bytes)} MB`);
export function clock(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  const s = Math.round(seconds);
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}
export const debounce = (fn, ms, timer = 0) => (...args) => (clearTimeout(timer), (timer = setTimeout(fn, ms, ...args)));
/** "line 4" or "lines 3, 8, 12, …" (the report keeps the first few line numbers only). */
export function lineList(lines, total) {
  if (!lines?.length) return '';
  return ` (line${total === 1 ? '' : 's'} ${lines.join(', ')}${total > lines.length ? ', …' : ''})`;
}

/** Highlights a drop zone while something is dragged over it and hands the drop on. */
export function dropZone(zone, onDrop) {
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    if (!zone.closest('fieldset')?.disabled) onDrop(e.dataTransfer);
  });
}
