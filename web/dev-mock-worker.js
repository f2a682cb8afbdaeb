// DEVELOPMENT MOCK, not the real worker: answers worker.js's message protocol with made-up data
// so the page can be worked on without a wasm build. Loaded by worker-client.js only with ?mock=1.
// Options (in the page's query string, passed on here): saved=1 offers a saved run,
// lost=N loses the "GPU" once at step N, fail=data|prepare|train makes that request fail,
// nofit=1 reports that training does not fit, steps=N sets the run length (default 40),
// delay=MS sets the time per step (default 60).

const opts = new URL(self.location.href).searchParams;
const post = (m) => self.postMessage(m);
let labels = ['negative', 'neutral', 'positive'];
let rows = [];
let saved = opts.has('saved') ? { data_name: 'train.csv', model_source: 'https://huggingface.co/x/mock-model/resolve/main/', step: 12, total_steps: 40, saved_at: new Date().toISOString() } : null;
let run = null;
let lostBefore = false; // the mock loses its "GPU" once per browser profile

/** A tiny CSV/TSV/JSONL reader, enough for development files (quoted fields included). */
function parse(text, name) {
  if (/\.jsonl?$/.test(name)) {
    const objs = text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
    const columns = Object.keys(objs[0] || {});
    return { format: 'jsonl', columns, rows: objs.map((o) => columns.map((c) => String(o[c] ?? ''))) };
  }
  const sep = name.endsWith('.tsv') || (text.split('\n')[0].includes('\t') && !text.split('\n')[0].includes(',')) ? '\t' : ',';
  const out = [];
  let field = '', row = [], quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') field += '"', i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === sep) row.push(field), (field = '');
    else if (c === '\n') row.push(field.replace(/\r$/, '')), out.push(row), (row = []), (field = '');
    else field += c;
  }
  if (field || row.length) row.push(field), out.push(row);
  const [columns, ...body] = out.filter((r) => r.some((f) => f.trim()));
  return { format: sep === '\t' ? 'tsv' : 'csv', columns: columns || [], rows: body };
}

function report(n) {
  const per = labels.map((_, i) => ({ label: labels[i], precision: 0.8 + 0.05 * i, recall: 0.75 + 0.07 * i, f1: 0.78 + 0.06 * i, support: 10 + 5 * i }));
  const confusion = labels.map((_, i) => labels.map((_, j) => (i === j ? 20 + 4 * i : (i + j) % 3)));
  return { accuracy: 0.7 + 0.05 * n, macro_precision: 0.82, macro_recall: 0.8, macro_f1: 0.66 + 0.05 * n, weighted_f1: 0.8,
    loss: 0.9 / (n + 1), count: 60, per_class: per, confusion, labels };
}

function train(resumeAt = 0) {
  const total = Number(opts.get('steps') || 40), epochs = 4, per = total / epochs;
  const lostAt = Number(opts.get('lost') || 0);
  run = { step: resumeAt, paused: false, stop: false };
  post({ type: 'event', event: { event: 'start', run_dir: null, train: 800, valid: 100, test: 100, classes: labels.length, epochs,
    total_steps: total, resumed_at_step: resumeAt, trainable_params: 22_713_987, total_params: 22_713_987 } });
  const tick = () => {
    if (run.paused) return;
    const s = ++run.step;
    post({ type: 'event', event: { event: 'step', epoch: Math.ceil(s / per), step: s, total_steps: total,
      loss: 1.1 * Math.exp(-s / 15) + 0.1 * Math.random(), lr: 1e-4, samples_per_s: 31.2, eta_s: (total - s) * 0.06 } });
    if (s % 20 === 0) {
      saved = { ...saved, step: s, total_steps: total, data_name: 'train.csv', model_source: 'mock' };
      post({ type: 'checkpoint', step: s, saved_at: new Date().toISOString() });
    }
    if (s % per === 0) post({ type: 'event', event: { event: 'epoch', epoch: s / per, epochs, train_loss: 0.5, valid: report(s / per), best: true, elapsed_s: s * 0.06 } });
    if (lostAt && s === lostAt && !lostBefore) {
      // The next mock worker learns of the loss through the Cache API (it shares no memory).
      const at = s - (s % 20);
      return caches.open('edgetune-mock').then((c) => Promise.all([c.put('/lost-before', new Response('1')), at && c.put('/lost', new Response(String(at)))]))
        .then(() => post({ type: 'lost', message: 'mock: GPU device was lost' }));
    }
    if (s >= total || run.stop) return finish(s / per);
    run.timer = setTimeout(tick, Number(opts.get('delay') || 60));
  };
  run.tick = tick;
  if (opts.get('fail') === 'train') return post({ type: 'error', stage: 'train', message: 'mock: training failed' });
  tick();
}

function finish(epoch) {
  const valid = report(epoch), test = report(epoch - 0.5);
  saved = null;
  post({ type: 'event', event: { event: 'done', run_dir: null, best_epoch: Math.floor(epoch), stopped_early: run.stop, valid, test } });
  post({ type: 'trained', valid, test, misclassified: [
    { text: 'Not bad at all, honestly.', label: 'positive', predicted: 'negative', confidence: 0.71, line: 17 },
    { text: 'It works.', label: 'neutral', predicted: 'positive', confidence: 0.55, line: 42 },
  ] });
}

self.onmessage = ({ data: m }) => {
  const reply = (r) => post({ ...r, id: m.id });
  const fail = (stage, message) => reply({ type: 'error', stage, message });
  switch (m.type) {
    case 'init':
      return caches.open('edgetune-mock').then(async (c) => {
        lostBefore = !!(await c.match('/lost-before'));
        const lost = await c.match('/lost');
        if (lost) saved = { data_name: 'train.csv', model_source: 'mock', step: Number(await lost.text()), total_steps: 40, saved_at: new Date().toISOString() };
        await c.delete('/lost');
      }).then(() => reply({ type: 'ready', backend: m.prefer === 'cpu' ? 'cpu' : 'webgpu',
        adapter: m.prefer === 'cpu' ? 'CPU (wasm SIMD)' : 'Mock GPU (development)', limits: null, savedRun: saved,
        notice: m.prefer === 'cpu' ? null : 'Development mock: nothing is really trained.' }));
    case 'model':
      return setTimeout(() => reply({ type: 'model', info: { source: m.source, kind: 'text', family: 'bert', architecture: 'BERT, 6 layers', hidden_size: 384, layers: 6, heads: 12,
        vocab_size: 30522, max_position: 512, params: 22_713_216, fine_tuned_labels: [] } }), 100);
    case 'data': {
      if (opts.get('fail') === 'data') return fail('data', `${m.name}: line 3: unclosed quote`);
      const t = parse(new TextDecoder().decode(m.bytes), m.name);
      rows = t.rows;
      const text = m.text_column || t.columns.find((c) => /text|sentence/i.test(c)) || t.columns[0];
      const label = m.label_column || t.columns.find((c) => /label|class/i.test(c)) || t.columns[t.columns.length - 1];
      if (!t.columns.includes(text)) return fail('data', `no column named '${text}'`);
      return reply({ type: 'data', preview: { name: m.name, format: t.format, columns: t.columns, rows: t.rows.slice(0, 50),
        total_rows: t.rows.length, text_column: text, label_column: label } });
    }
    case 'prepare': {
      if (opts.get('fail') === 'prepare') return fail('prepare', 'valid_split + test_split leave less than 10 % to train on');
      const counts = {};
      for (const r of rows) counts[r[r.length - 1]] = (counts[r[r.length - 1]] || 0) + 1;
      labels = Object.keys(counts).sort();
      const fits = !opts.has('nofit') || m.config.batch_size <= 8;
      return reply({ type: 'prepared', labels, splits: { train: Math.round(rows.length * 0.8), valid: Math.round(rows.length * 0.1), test: Math.round(rows.length * 0.1) },
        memory: { estimate_mb: fits ? 812 : 4100, largest_buffer_mb: 96, fits, advice: fits ? null : 'lower the batch size to 8 (or max length)' },
        reports: [{ source: 'train.csv', rows: rows.length, kept: rows.length - 3, classes: Object.entries(counts).sort(), duplicates_removed: 2,
          duplicate_lines: [5, 9], empty_text: 1, empty_text_lines: [12], missing_label: 0, missing_label_lines: [],
          conflicts: [{ text: 'meh', labels: ['neutral', 'negative'], lines: [3, 30] }], too_long: 4, max_length: m.config.max_length }] });
    }
    case 'train': return train(0);
    case 'resumeSaved': return saved ? (post({ type: 'log', message: `mock: resumed from step ${saved.step}` }), train(saved.step)) : fail('resume', 'there is no saved run to resume');
    case 'discardSaved': saved = null; return reply({ type: 'discarded' });
    case 'pause': run.paused = true; clearTimeout(run.timer); return post({ type: 'paused', step: run.step });
    case 'continue': run.paused = false; post({ type: 'continued' }); return run.tick();
    case 'stop': run.stop = true; if (run.paused) (run.paused = false), run.tick(); return;
    case 'predict': {
      const raw = labels.map((_, i) => 1 + ((m.texts[0].length * (i + 3)) % 7));
      const sum = raw.reduce((a, b) => a + b, 0);
      const probs = raw.map((v) => v / sum);
      return reply({ type: 'predictions', predictions: [{ text: m.texts[0], label: labels[probs.indexOf(Math.max(...probs))], probs }] });
    }
    case 'export':
    case 'exportCheckpoint':
      return reply({ type: 'exported', name: m.type === 'export' ? 'edgetune-model.zip' : 'edgetune-checkpoint.zip', bytes: new Uint8Array([80, 75, 5, 6, ...new Array(18).fill(0)]).buffer });
    // Images need the real decoder and model: the mock says so where the page expects it.
    case 'images': return fail('data', 'mock: image data needs the real worker (build web/pkg with scripts/build-web.sh)');
    case 'previewAugment': return fail('augment', 'mock: augmentation previews need the real worker');
    case 'predictImages': return fail('predict', 'mock: image predictions need the real worker');
    default:
      return fail('init', `mock: unknown request '${m.type}'`);
  }
};
