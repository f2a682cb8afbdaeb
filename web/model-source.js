// Where a model's files come from: a URL (downloaded with progress, kept in the Cache API so a
// reload costs nothing) or a local folder (picked with <input webkitdirectory> or dropped).
// Every path ends in the same shape, { source, files: { name: ArrayBuffer }, fromCache }, which
// app.js keeps and hands to the worker.

export const CACHE_NAME = 'edgetune-models-v1';

// The weights are always needed. A text model also needs config.json and its tokenizer (one of
// tokenizer.json or vocab.txt; tokenizer_config.json only refines it: lower-casing, special
// tokens). An image model is its weights, with the config.json an edgetune export
// writes or none (a bare upstream checkpoint), or a transformers config.json with its
// preprocessor_config.json (ViT): the core tells them apart.
const REQUIRED = ['model.safetensors'];
const TOKENIZERS = ['tokenizer.json', 'vocab.txt'];
const OPTIONAL = ['config.json', 'tokenizer_config.json', 'preprocessor_config.json'];
export const MODEL_FILES = [...REQUIRED, ...TOKENIZERS, ...OPTIONAL];
// Noticed in folders only to say what to do about it: the wasm side reads safetensors only.
const PYTORCH_WEIGHTS = 'pytorch_model.bin';
// An export's replay sample ("Add examples" mixes it in); taken from folders, not fetched.
const REPLAY_FILES = ['replay.jsonl', 'replay.zip'];
const FOLDER_FILES = [...MODEL_FILES, ...REPLAY_FILES, PYTORCH_WEIGHTS];

/** Turns what people paste into a base URL that ends in "/" and serves raw files.
 *  https://huggingface.co/ORG/NAME (or …/tree/main) → https://huggingface.co/ORG/NAME/resolve/main/
 *  hf:ORG/NAME (the CLI's spelling) → the same. */
export function normaliseModelUrl(input) {
  let url = input.trim();
  const hf = url.match(/^hf:([\w.-]+(?:\/[\w.-]+)?)(?:@([\w.-]+))?$/);
  if (hf) url = `https://huggingface.co/${hf[1]}/resolve/${hf[2] || 'main'}/`;
  const repo = url.match(/^(https?:\/\/(?:www\.)?huggingface\.co\/[^/?#]+\/[^/?#]+)\/?(?:tree\/([^/?#]+)\/?)?$/);
  if (repo && !/\/(resolve|blob|tree)$/.test(repo[1])) url = `${repo[1]}/resolve/${repo[2] || 'main'}/`;
  // A link to one file of the model ("…/resolve/main/config.json"): use its folder.
  const file = MODEL_FILES.find((name) => url.endsWith('/' + name));
  if (file) url = url.slice(0, -file.length);
  url = url.replace('/blob/', '/resolve/');
  return url.endsWith('/') ? url : url + '/';
}

/** A short name for status lines: "all-MiniLM-L6-v2" rather than the whole URL. */
export function modelName(source) {
  const hf = source.match(/huggingface\.co\/[^/]+\/([^/]+)/);
  if (hf) return hf[1];
  const parts = source.replace(/\/+$/, '').split('/');
  return parts[parts.length - 1] || source;
}

/** True when config.json describes a text model: it has a vocabulary (`vocab_size`, which no
 *  image model's config has; without a config.json, the weights decide, in the core). */
function isTextConfig(bytes) {
  if (!bytes) return false;
  try {
    return 'vocab_size' in JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return true; // the core names what is wrong with it
  }
}

/** Throws the message a person can act on when a needed file is absent. */
function checkComplete(files, where) {
  for (const name of REQUIRED) {
    if (!files[name]) throw new Error(`${where} is missing ${name}`);
  }
  if (isTextConfig(files['config.json']) && !TOKENIZERS.some((name) => files[name])) {
    throw new Error(`${where} is missing tokenizer.json (or vocab.txt)`);
  }
}

/** Opens the cache, or null where the Cache API is unavailable (plain http, private modes). */
async function openCache() {
  try {
    return self.caches ? await caches.open(CACHE_NAME) : null;
  } catch {
    return null;
  }
}

/** Reads a response body chunk by chunk, reporting bytes as they arrive. With a known length
 *  the chunks are written straight into one buffer, so a 90 MB file is held once, not twice. */
async function readBody(response, onBytes) {
  const length = Number(response.headers.get('content-length')) || 0;
  const reader = response.body.getReader();
  let buffer = length ? new Uint8Array(length) : null;
  const chunks = [];
  let done = 0;
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    if (buffer && done + value.length <= buffer.length) buffer.set(value, done);
    else {
      // Length missing or wrong (a compressed body): collect and join at the end.
      if (buffer) chunks.push(buffer.subarray(0, done)), (buffer = null);
      chunks.push(value);
    }
    done += value.length;
    onBytes(value.length);
  }
  if (buffer) return done === buffer.length ? buffer.buffer : buffer.slice(0, done).buffer;
  const out = new Uint8Array(done);
  let at = 0;
  for (const c of chunks) out.set(c, at), (at += c.length);
  return out.buffer;
}

/** Downloads a model from `base` (normalised first). `onProgress({done, total, file})` fires as
 *  bytes arrive; totals come from Content-Length (or Hugging Face's X-Linked-Size) of every file,
 *  asked for at once so the bar means the whole model from the start. */
export async function downloadModel(input, { onProgress = () => {}, signal } = {}) {
  const base = normaliseModelUrl(input);
  if (!/^https?:\/\//.test(base) && !base.startsWith('/') && !base.startsWith('.')) {
    throw new Error(`"${input}" is not a URL: expected https://… or a Hugging Face model page`);
  }
  const cache = await openCache();
  const optional = (name) => !REQUIRED.includes(name);
  // One controller for all five requests: when one fails, the others stop downloading too.
  const abort = new AbortController();
  signal?.addEventListener('abort', () => abort.abort(), { once: true });

  // 1. A response per file: from the cache when there, else from the network.
  const open = async (name) => {
    const url = new URL(name, new URL(base, location.href)).href;
    const hit = cache && (await cache.match(url).catch(() => null));
    if (hit) return { name, url, response: hit.status === 404 ? null : hit, cached: true };
    let response;
    try {
      response = await fetch(url, { signal: abort.signal });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      // Hosts often answer a missing file without CORS headers, which reads as a network error.
      if (optional(name)) return { name, url, response: null, cached: false };
      throw new Error(`could not download ${name} from ${base} (${e.message}): check the URL and your connection`);
    }
    if (optional(name) && !response.ok) {
      // Remember the absence too, so a reload asks nothing of the network.
      if (response.status === 404) await cache?.put(url, new Response(null, { status: 404 })).catch(() => {});
      return { name, url, response: null, cached: false };
    }
    if (response.status === 404) throw new Error(`model at ${base} is missing ${name} (HTTP 404)`);
    if (!response.ok) {
      const why = response.status === 401 || response.status === 403
        ? ': a private or gated model has to be downloaded first and picked as a folder' : '';
      throw new Error(`could not download ${name}: HTTP ${response.status}${why}`);
    }
    return { name, url, response, cached: false };
  };
  let opened;
  try {
    opened = await Promise.all(MODEL_FILES.map(open));
  } catch (e) {
    abort.abort();
    throw e;
  }
  const present = opened.filter((o) => o.response);

  // 2. Stream every body, adding to one progress total.
  const sizeOf = (r) => Number(r.headers.get('content-length') || r.headers.get('x-linked-size')) || 0;
  let total = present.reduce((sum, o) => sum + sizeOf(o.response), 0);
  let done = 0;
  const files = {};
  for (const o of present) {
    const expected = sizeOf(o.response);
    let got = 0;
    files[o.name] = await readBody(o.response, (n) => {
      got += n;
      done += n;
      if (got > expected) total += Math.min(n, got - expected); // length unknown or understated
      onProgress({ done, total, file: o.name });
    });
    if (cache && !o.cached) {
      // A full quota only costs the next reload a download: never fail the load for it.
      const headers = { 'content-type': o.response.headers.get('content-type') || 'application/octet-stream',
        'content-length': String(files[o.name].byteLength) };
      await cache.put(o.url, new Response(files[o.name], { headers })).catch(() => {});
    }
  }
  checkComplete(files, `model at ${base}`);
  return { source: base, files, fromCache: present.every((o) => o.cached) };
}

/** Removes every cached model file (the "forget downloads" link). */
export async function clearModelCache() {
  if (self.caches) await caches.delete(CACHE_NAME);
}

/** Model files from an <input webkitdirectory> FileList. Files nearest the picked folder's top
 *  win, so a folder that also holds e.g. a nested "onnx/" copy still reads the right files. */
export async function readPickedFolder(fileList) {
  const all = [...fileList];
  if (!all.length) throw new Error('no files were picked');
  const depth = (f) => (f.webkitRelativePath || f.name).split('/').length;
  const chosen = {};
  for (const f of all) {
    if (FOLDER_FILES.includes(f.name) && (!chosen[f.name] || depth(f) < depth(chosen[f.name]))) chosen[f.name] = f;
  }
  const first = all[0].webkitRelativePath || '';
  const source = first.includes('/') ? first.split('/')[0] : 'local files';
  return readChosen(chosen, source);
}

/** Model files from a drop: a folder (read through FileSystemEntry) or the loose files
 *  themselves. Call it synchronously from the drop handler: the DataTransfer goes stale after. */
export function readDropped(dataTransfer) {
  const entries = [...dataTransfer.items]
    .filter((item) => item.kind === 'file')
    .map((item) => item.webkitGetAsEntry?.())
    .filter(Boolean);
  return (async () => {
    if (!entries.length) throw new Error('nothing to read in the drop: drop a model folder or its files');
    const chosen = {};
    const dirs = entries.filter((e) => e.isDirectory);
    await collect(entries, 0, chosen);
    const source = dirs.length === 1 ? dirs[0].name : 'dropped files';
    return readChosen(chosen, source);
  })();
}

/** Walks entries breadth-first to a small depth, keeping the shallowest file of each name. */
async function collect(entries, depth, chosen) {
  const subdirs = [];
  for (const entry of entries) {
    if (entry.isFile && FOLDER_FILES.includes(entry.name) && !chosen[entry.name]) {
      chosen[entry.name] = await new Promise((ok, fail) => entry.file(ok, fail));
    } else if (entry.isDirectory && depth < 3) subdirs.push(entry);
  }
  for (const dir of subdirs) await collect(await listDirectory(dir), depth + 1, chosen);
}

/** readEntries hands out a directory in batches (100 in Chromium): call until it is empty. */
export async function listDirectory(dir) {
  const reader = dir.createReader();
  const out = [];
  for (;;) {
    const batch = await new Promise((ok, fail) => reader.readEntries(ok, fail));
    if (!batch.length) return out;
    out.push(...batch);
  }
}

async function readChosen(chosen, source) {
  const local = source === 'local files' || source === 'dropped files';
  const where = 'model directory';
  const named = local ? '' : ` ("${source}")`;
  if (!chosen['model.safetensors'] && chosen[PYTORCH_WEIGHTS]) {
    throw new Error(`${where} is missing model.safetensors${named}: it has ${PYTORCH_WEIGHTS} only; ` +
      'convert it with the safetensors "convert" tool, or pick a model that ships model.safetensors');
  }
  const files = {};
  for (const name of [...MODEL_FILES, ...REPLAY_FILES]) if (chosen[name]) files[name] = await chosen[name].arrayBuffer();
  try {
    checkComplete(files, where);
  } catch (e) {
    throw new Error(e.message + named);
  }
  return { source, files, fromCache: false };
}
