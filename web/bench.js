// Runs fixed training steps on a Session and times them: shared by the benchmark page
// (bench.html, WebGPU and wasm CPU in a browser), the Node benchmark and the parity test, for a
// text model and its CSV or an image model and its zip of class folders.

// The reference workload of ../shared/bench/torch_text.py, as `edgetune bench` runs it.
export const REFERENCE = {
  batch_size: 32, eval_batch_size: 64, max_length: 64, lr: 5e-5, head_lr: 1e-3,
  valid_split: 0, test_split: 0, patience: 0,
};

// The image workload of ../shared/bench/torch_image.py, as `edgetune bench` runs it: ResNet-20
// on the digits, batch 64, the reference's 80/20 split, random-crop augmentation only; the core
// lays these over its image defaults (AdamW 1e-3, cosine).
export const IMAGE_REFERENCE = {
  batch_size: 64, valid_split: 0, test_split: 0.2, patience: 0,
  augment: { crop_padding: 2, hflip: false, rotation_deg: 0, scale: 0, brightness: 0, contrast: 0, noise_std: 0 },
};

// `mod` is the wasm-bindgen module (already initialised); model = {source, names, files},
// data = {name, bytes}. Returns the step events' losses and train samples/s after 2 warm-up
// steps (as the native bench and PyTorch's script time it).
export async function runSteps(mod, backend, model, data, config, steps, onStep) {
  const t0 = performance.now();
  const s = await mod.Session.create(backend);
  s.loadModel(model.source, model.names, model.files);
  s.loadData(data.name, data.bytes);
  const { start } = s.startTraining({ ...config, max_steps: steps });
  const ready_s = (performance.now() - t0) / 1000;
  const losses = [];
  let timed = null;
  let seen = 0;
  for (;;) {
    const r = await s.step();
    if (r.step) {
      losses.push(r.step.loss);
      if (r.step.step === 2) {
        timed = performance.now();
        seen = 0;
      } else if (r.step.step > 2) {
        seen += config.batch_size;
      }
      if (onStep) onStep(r.step);
    }
    if (r.finished) break;
  }
  const train_s = timed ? (performance.now() - timed) / 1000 : NaN;
  s.free();
  return { backend, steps, losses, start, ready_s, train_samples_per_s: Math.round((seen / train_s) * 100) / 100 };
}
