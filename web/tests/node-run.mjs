// Runs training steps of the wasm build under Node (the CPU backend): the parity test compares
// its losses with native flex, and `scripts/bench-web.sh` times it.
// usage: node web/tests/node-run.mjs MODEL_DIR DATA_FILE CONFIG_JSON STEPS
import { readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runSteps } from '../bench.js';

const [modelDir, dataPath, configJson, steps] = process.argv.slice(2);
const pkg = join(dirname(fileURLToPath(import.meta.url)), '..', 'pkg');
const mod = await import(pathToFileURL(join(pkg, 'edgetune.js')));
await mod.default({ module_or_path: readFileSync(join(pkg, 'edgetune_bg.wasm')) });
const wanted = ['config.json', 'model.safetensors', 'tokenizer.json', 'vocab.txt', 'tokenizer_config.json'];
const names = readdirSync(modelDir).filter((n) => wanted.includes(n));
const model = { source: modelDir, names, files: names.map((n) => new Uint8Array(readFileSync(join(modelDir, n)))) };
const data = { name: basename(dataPath), bytes: new Uint8Array(readFileSync(dataPath)) };
const out = await runSteps(mod, 'cpu', model, data, JSON.parse(configJson), Number(steps));
console.log(JSON.stringify({ system: 'edgetune wasm cpu (node)', ...out, start: undefined }));
