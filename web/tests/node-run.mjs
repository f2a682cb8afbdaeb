// Runs training steps of the wasm build under Node (the CPU backend): the parity test compares
// its losses with native flex, and the README's wasm figures time it.
// usage: node web/tests/node-run.mjs MODEL_DIR DATA_FILE CONFIG STEPS
//   CONFIG: settings as JSON (over the core's defaults for the model's kind), or `text` / `image`
//   for the reference workloads (e.g. crate/assets/demo/resnet20-cifar10 crate/assets/demo/digits.zip image 12).
import { readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { IMAGE_REFERENCE, REFERENCE, runSteps } from '../bench.js';

const [modelDir, dataPath, configArg, steps] = process.argv.slice(2);
const config = { text: REFERENCE, image: IMAGE_REFERENCE }[configArg] || JSON.parse(configArg);
const pkg = join(dirname(fileURLToPath(import.meta.url)), '..', 'pkg');
const mod = await import(pathToFileURL(join(pkg, 'edgetune.js')));
await mod.default({ module_or_path: readFileSync(join(pkg, 'edgetune_bg.wasm')) });
const wanted = ['config.json', 'model.safetensors', 'tokenizer.json', 'vocab.txt', 'tokenizer_config.json', 'preprocessor_config.json'];
const names = readdirSync(modelDir).filter((n) => wanted.includes(n));
const model = { source: modelDir, names, files: names.map((n) => new Uint8Array(readFileSync(join(modelDir, n)))) };
const data = { name: basename(dataPath), bytes: new Uint8Array(readFileSync(dataPath)) };
const out = await runSteps(mod, 'cpu', model, data, config, Number(steps));
console.log(JSON.stringify({ system: 'edgetune wasm cpu (node)', ...out, start: undefined }));
