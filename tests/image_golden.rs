//! ResNet bodies compute PyTorch's numbers (MobileNetV2's are checked in `tests/families.rs`;
//! its broken files here). Golden values come from
//! `tests/golden/make_resnet_golden.py`: the pre-trained CIFAR ResNet-20 (`shared/models`) against
//! the committed `tests/golden/resnet20.json`, and torchvision ResNets with random weights (written
//! by the script into a temporary directory when the test runs, Python from scripts/setup-python.sh).
//! Checked: evaluation logits, one training-mode forward (batch statistics), the running-statistics
//! update it causes, and gradients of a cross-entropy loss through the whole body (against PyTorch
//! in float64: some are ill-conditioned enough that float32 implementations disagree at 2e-3).
//!
//! Inputs are a closed formula both sides compute, so no image tensor is stored.
//! Benchmark: `cargo test --release -p edgetune --test image_golden -- --ignored --nocapture bench`.

mod common;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Tensor, TensorData};
use edgetune::device::{self, block_on, Backend, Device};
use edgetune::model::image::mobilenet::{load_body as load_mobilenet, MobileNetConfig};
use edgetune::model::image::resnet::{load_body, BlockKind, Family, ResNet, ResNetConfig, Shortcut};
use edgetune::model::layers::Dense;
use edgetune::model::params::{transpose, Group, ParamStore};
use edgetune::model::{apply_buffer_updates as apply_bn_updates, BufferUpdate};
use edgetune::weights::SafeTensors;
use serde_json::Value;
use std::path::Path;
use std::time::Instant;

/// x[n, c, h, w] = sin(0.1 (n+1)(h+1) + 0.07 (c+1)(w+1)) * (1 + 0.1 n), as the script computes it.
fn inputs(batch: usize, size: usize, device: &Device) -> Tensor<4> {
    let mut v = Vec::with_capacity(batch * 3 * size * size);
    for n in 0..batch {
        for c in 0..3 {
            for h in 0..size {
                for w in 0..size {
                    let (n, c, h, w) = (n as f64, c as f64, h as f64, w as f64);
                    v.push(((0.1 * (n + 1.0) * (h + 1.0) + 0.07 * (c + 1.0) * (w + 1.0)).sin() * (1.0 + 0.1 * n)) as f32);
                }
            }
        }
    }
    Tensor::from_data(TensorData::new(v, [batch, 3, size, size]), device)
}

fn floats(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(a) => a.iter().flat_map(floats).collect(),
        x => vec![x.as_f64().expect("a number") as f32],
    }
}

fn read<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    block_on(device::read_f32(t, "test")).unwrap()
}

/// Largest |a - b|, after checking the lengths agree.
fn max_diff(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

fn max_abs(v: &[f32]) -> f32 {
    v.iter().map(|x| x.abs()).fold(0.0, f32::max)
}

/// A ResNet body plus its checkpoint's classifier head, as the image classifier will hold them.
struct Model {
    net: ResNet,
    head: Dense,
    params: ParamStore,
}

fn load(path: &Path, device: &Device) -> Model {
    let st = SafeTensors::read(path).unwrap();
    let cfg = ResNetConfig::detect(&st).unwrap();
    let mut params = ParamStore::default();
    let net = load_body(&st, &cfg, &mut params, device).unwrap();
    let h = &cfg.head;
    let (w, shape) = st.f32_any(&format!("{h}.weight")).unwrap();
    let b = st.f32(&format!("{h}.bias"), &shape[..1]).unwrap();
    let head = Dense::new(
        params.insert(&format!("{h}.weight"), &shape, w, true, Group::Head, device).unwrap(),
        params.insert(&format!("{h}.bias"), &shape[..1], b, false, Group::Head, device).unwrap(),
    );
    Model { net, head, params }
}

fn resnet20_path() -> std::path::PathBuf {
    common::shared("models/resnet20-cifar10/model.safetensors")
}

impl Model {
    /// `train`: batch norm on the batch's statistics, which are returned for the running ones.
    fn logits(&self, p: &ParamStore, x: Tensor<4>, train: bool) -> (Tensor<2>, Vec<BufferUpdate>) {
        let mut updates = Vec::new();
        let features = self.net.forward(p, x, train, &mut updates); // [batch, channels]
        (self.head.forward(p, features), updates)
    }
}

/// Mean cross-entropy of `logits` [batch, classes] against `targets`.
fn cross_entropy(logits: Tensor<2>, targets: &[usize]) -> Tensor<1> {
    let [batch, classes] = logits.dims();
    let mut onehot = vec![0f32; batch * classes];
    for (i, &t) in targets.iter().enumerate() {
        onehot[i * classes + t] = 1.0;
    }
    let onehot = Tensor::<2>::from_data(TensorData::new(onehot, [batch, classes]), &logits.device());
    (log_softmax(logits, 1) * onehot).sum().neg().div_scalar(batch as f64)
}

/// Compares evaluation logits with `g["eval_logits"]`; returns the max difference.
fn check_eval(name: &str, m: &Model, g: &Value, device: &Device) -> f32 {
    let x = inputs(g["batch"].as_u64().unwrap() as usize, g["size"].as_u64().unwrap() as usize, device);
    let (logits, updates) = m.logits(&m.params, x, false);
    assert!(updates.is_empty(), "evaluation reports no batch statistics");
    let want = floats(&g["eval_logits"]);
    let d = max_diff(&read(logits), &want);
    println!("{name}: eval logits max |diff| {d:.2e} (max |logit| {:.2})", max_abs(&want));
    assert!(d <= 1e-4, "{name}: eval logits differ from PyTorch by {d} (> 1e-4)");
    d
}

/// One training-mode forward + backward on an autodiff copy of the parameters, then the
/// running-statistics update, all compared with PyTorch.
fn check_train(name: &str, mut m: Model, g: &Value, device: &Device) {
    let x = inputs(g["batch"].as_u64().unwrap() as usize, g["size"].as_u64().unwrap() as usize, device);
    let live = m.params.with_grad();
    let (logits, updates) = m.logits(&live, x, true);
    let targets: Vec<usize> = g["targets"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as usize).collect();
    let loss = cross_entropy(logits.clone(), &targets);
    let grads = loss.backward();

    let d = max_diff(&read(logits.without_autodiff()), &floats(&g["train_logits"]));
    let loss = read(loss.without_autodiff())[0];
    println!("{name}: train-mode logits max |diff| {d:.2e}, loss {loss:.6} (PyTorch {:.6})", g["loss"].as_f64().unwrap());
    assert!(d <= 1e-4, "{name}: train-mode logits differ from PyTorch by {d} (> 1e-4)");

    // Judged against float64 PyTorch: some of these gradients are ill-conditioned (PyTorch's own
    // float32 result is up to ~2e-3 off for ResNet-20's conv1), so the bound is 1e-3 relative or
    // twice PyTorch float32's own error, whichever is larger.
    for (pname, want) in g["grads_f64"].as_object().unwrap() {
        let want = floats(want);
        let torch32 = floats(&g["grads"][pname]);
        let torch_err = g["grads_f32_error"][pname].as_f64().unwrap() as f32;
        let param = live.get(live.id(pname).unwrap());
        let got = read(param.value.grad(&grads).unwrap_or_else(|| panic!("no gradient for {pname}")));
        // A linear weight is stored [in, out]; PyTorch's gradient is [out, in].
        let got = if param.transposed { transpose(&got, param.shape[0], param.shape[1]) } else { got };
        let rel = max_diff(&got, &want) / max_abs(&want);
        let rel32 = max_diff(&got, &torch32) / max_abs(&want);
        let bound = (2.0 * torch_err).max(1e-3);
        println!("{name}: grad {pname} max |diff| / max |grad|: {rel:.2e} from float64 (PyTorch float32: {torch_err:.2e}), {rel32:.2e} from PyTorch float32");
        assert!(rel <= bound, "{name}: gradient of {pname} differs from PyTorch (float64) by {rel} relative (> {bound})");
    }

    apply_bn_updates(&mut m.params, updates);
    for (bname, want) in g["running"].as_object().unwrap() {
        let want = floats(want);
        let id = m.params.id(bname).unwrap();
        assert!(m.params.get(id).buffer && !m.params.get(id).trainable);
        let d = max_diff(&read(m.params.t1(id)), &want);
        println!("{name}: updated {bname} max |diff| {d:.2e}");
        assert!(d <= 1e-4, "{name}: {bname} after one training step differs from PyTorch by {d} (> 1e-4)");
    }
}

fn resnet20_golden() -> Value {
    let path = common::repo("tests/golden/resnet20.json");
    serde_json::from_slice(&std::fs::read(&path).expect("tests/golden/resnet20.json (run make_resnet_golden.py)")).unwrap()
}

fn cpu() -> Device {
    block_on(device::init(Backend::Cpu)).unwrap()
}

#[test]
fn resnet20_config_is_detected_from_the_checkpoint() {
    let st = SafeTensors::read(&resnet20_path()).unwrap();
    let cfg = ResNetConfig::detect(&st).unwrap();
    assert_eq!(cfg.model_type, Family::Cifar);
    assert_eq!(cfg.block, BlockKind::Basic);
    assert_eq!(cfg.depths, [3, 3, 3]);
    assert_eq!(cfg.widths, [16, 32, 64]);
    assert_eq!((cfg.stem_width, cfg.shortcut, cfg.head.as_str()), (16, Shortcut::Pad, "linear"));
    assert_eq!((cfg.image_size, cfg.center_crop, cfg.num_features()), (32, false, 64));
    // Every tensor of the file but the head is a body tensor, and vice versa.
    let mut params = ParamStore::default();
    load_body(&st, &cfg, &mut params, &cpu()).unwrap();
    let body: Vec<String> = params.params.iter().map(|p| p.name.clone()).collect();
    let mut file: Vec<&str> = st.names().filter(|n| !n.starts_with("linear.")).collect();
    file.sort();
    let mut sorted = body.clone();
    sorted.sort();
    assert_eq!(sorted, file);

    let fields = cfg.to_json_fields();
    assert_eq!(fields["model_type"], "resnet-cifar");
    assert_eq!(fields["block"], "basic");
    assert_eq!(fields["depths"], serde_json::json!([3, 3, 3]));
    let mut json = Value::Object(fields);
    json["id2label"] = serde_json::json!({"0": "cat"}); // the exporter's own keys are ignored
    assert_eq!(ResNetConfig::from_json(&json).unwrap(), cfg);
}

#[test]
fn resnet20_eval_logits_match_pytorch_on_cpu() {
    let device = cpu();
    check_eval("resnet20", &load(&resnet20_path(), &device), &resnet20_golden(), &device);
}

#[test]
fn resnet20_training_step_matches_pytorch_on_cpu() {
    let device = cpu();
    let m = load(&resnet20_path(), &device);
    let body = m.params.params.iter().filter(|p| p.trainable && p.group == Group::Body).count();
    let buffers = m.params.params.iter().filter(|p| p.buffer).count();
    assert_eq!((body, buffers), (19 * 3, 19 * 2), "conv + BN affine trainable, running stats buffers");
    check_train("resnet20", m, &resnet20_golden(), &device);
}

/// torchvision ResNet-18 and a Bottleneck ResNet with random weights: the script writes them and
/// their golden values into a temporary directory.
#[test]
fn torchvision_resnets_match_pytorch_on_cpu() {
    let Some(python) = common::python_or_skip("torch + torchvision") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(python)
        .arg(common::repo("tests/golden/make_resnet_golden.py"))
        .arg("--torchvision")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "make_resnet_golden.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let device = cpu();
    for (name, depths, block) in [("resnet18", vec![2, 2, 2, 2], BlockKind::Basic), ("bottleneck", vec![1, 1, 1, 1], BlockKind::Bottleneck)] {
        let dir = tmp.path().join(name);
        let g: Value = serde_json::from_slice(&std::fs::read(dir.join("golden.json")).unwrap()).unwrap();
        let m = load(&dir.join("model.safetensors"), &device);
        let c = &m.net.config;
        assert_eq!((c.model_type, c.block, &c.depths, c.shortcut), (Family::Torchvision, block, &depths, Shortcut::Conv));
        assert_eq!((c.widths.as_slice(), c.head.as_str(), c.image_size, c.center_crop), (&[64, 128, 256, 512][..], "fc", 224, true));
        check_eval(name, &m, &g, &device);
        check_train(name, m, &g, &device);
    }
}

fn err(r: edgetune::error::Result<impl Sized>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn non_resnet_and_broken_checkpoints_are_refused_with_the_reason() {
    let minilm = SafeTensors::read(&common::minilm().join("model.safetensors")).unwrap();
    let e = err(ResNetConfig::detect(&minilm));
    assert!(e.ends_with("model.safetensors: not a ResNet: no tensor 'conv1.weight' (expected torchvision or CIFAR ResNet names: conv1.weight, bn1.*, layer1.0.conv1.weight, ...)"), "{e}");

    // The ResNet-20 file, with one tensor dropped / one reshaped.
    let st = SafeTensors::read(&resnet20_path()).unwrap();
    let cfg = ResNetConfig::detect(&st).unwrap();
    type Tensors = Vec<(String, Vec<usize>, Vec<f32>)>;
    let all: Tensors =
        st.names().map(|n| { let (v, s) = st.f32_any(n).unwrap(); (n.to_string(), s, v) }).collect();
    let rewrite = |f: &dyn Fn(&mut Tensors)| {
        let mut t = all.clone();
        f(&mut t);
        SafeTensors::parse(edgetune::weights::to_bytes(&t, &Default::default()), "broken.safetensors").unwrap()
    };
    let device = cpu();
    let missing = rewrite(&|t| t.retain(|(n, _, _)| n != "layer2.0.bn1.running_var"));
    let e = err(load_body(&missing, &cfg, &mut ParamStore::default(), &device));
    assert!(e.starts_with("broken.safetensors: no tensor 'layer2.0.bn1.running_var'"), "{e}");

    let reshaped = rewrite(&|t| {
        let w = t.iter_mut().find(|(n, _, _)| n == "layer3.1.conv2.weight").unwrap();
        (w.1, w.2) = (vec![64, 32, 3, 3], vec![0.0; 64 * 32 * 9]);
    });
    let e = err(load_body(&reshaped, &cfg, &mut ParamStore::default(), &device));
    assert_eq!(e, "broken.safetensors: tensor 'layer3.1.conv2.weight' has shape [64, 32, 3, 3], expected [64, 64, 3, 3]");

    let stem = rewrite(&|t| {
        let w = t.iter_mut().find(|(n, _, _)| n == "conv1.weight").unwrap();
        (w.1, w.2) = (vec![16, 3, 5, 5], vec![0.0; 16 * 3 * 25]);
    });
    let e = err(ResNetConfig::detect(&stem));
    assert_eq!(e, "broken.safetensors: tensor 'conv1.weight' has shape [16, 3, 5, 5], expected [C, 3, 3, 3] (CIFAR ResNet) or [64, 3, 7, 7] (torchvision ResNet)");

    let bad_var = rewrite(&|t| t.iter_mut().find(|(n, _, _)| n == "bn1.running_var").unwrap().2[3] = -1.0);
    let e = err(load_body(&bad_var, &cfg, &mut ParamStore::default(), &device));
    assert_eq!(e, "broken.safetensors: tensor 'bn1.running_var' holds a negative or NaN variance");

    let e = err(ResNetConfig::from_json(&serde_json::json!({"model_type": "bert"})));
    assert!(e.starts_with("config.json: not a ResNet configuration: unknown variant `bert`"), "{e}");
}

/// MobileNetV2 files that are not torchvision's layout are refused with the reason, naming the
/// tensor: transformers' layout, a tensor of another width, a config at odds with the weights.
#[test]
fn broken_mobilenets_are_refused_with_the_reason() {
    let path = common::shared("models/mobilenet_v2-imagenet/model.safetensors");
    let st = SafeTensors::read(&path).unwrap();
    let cfg = MobileNetConfig::detect(&st).unwrap();
    assert_eq!((cfg.width_mult, cfg.num_features(), cfg.image_size, cfg.center_crop), (1.0, 1280, 224, true));
    type Tensors = Vec<(String, Vec<usize>, Vec<f32>)>;
    let all: Tensors = st.names().filter(|n| !n.ends_with("num_batches_tracked")).map(|n| { let (v, s) = st.f32_any(n).unwrap(); (n.to_string(), s, v) }).collect();
    let rewrite = |f: &dyn Fn(&mut Tensors)| {
        let mut t = all.clone();
        f(&mut t);
        SafeTensors::parse(edgetune::weights::to_bytes(&t, &Default::default()), "broken.safetensors").unwrap()
    };
    let hf = rewrite(&|t| t.iter_mut().for_each(|(n, _, _)| *n = format!("mobilenet_v2.{n}")));
    let e = err(MobileNetConfig::detect(&hf));
    assert!(e.contains("not a MobileNetV2: no tensor 'features.0.0.weight'") && e.contains("transformers' MobileNetV2 layout"), "{e}");
    let reshaped = rewrite(&|t| {
        let w = t.iter_mut().find(|(n, _, _)| n == "features.5.conv.1.0.weight").unwrap();
        (w.1, w.2) = (vec![192, 1, 5, 5], vec![0.0; 192 * 25]);
    });
    let e = err(MobileNetConfig::detect(&reshaped));
    assert!(e.ends_with("at width 1.0, tensor 'features.5.conv.1.0.weight' has shape [192, 1, 5, 5], expected [192, 1, 3, 3]"), "{e}");
    let e = err(MobileNetConfig::from_json(&serde_json::json!({"model_type": "mobilenet_v2", "width_mult": 1.0, "image_size": 16, "center_crop": false, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]})));
    assert!(e.contains("image_size 16 (at least 32)"), "{e}");
    let e = err(load_mobilenet(&st, &MobileNetConfig::imagenet(0.5), &mut ParamStore::default(), &cpu()));
    assert!(e.ends_with("model.safetensors: tensor 'features.0.0.weight' has shape [32, 3, 3, 3], expected [16, 3, 3, 3]"), "{e}");
}

#[cfg(feature = "wgpu")]
#[test]
fn resnet20_matches_pytorch_on_wgpu() {
    if let Some(device) = common::wgpu() {
        check_eval("resnet20 (wgpu)", &load(&resnet20_path(), &device), &resnet20_golden(), &device);
        check_train("resnet20 (wgpu)", load(&resnet20_path(), &device), &resnet20_golden(), &device);
    }
}

/// Training-step throughput of ResNet-20 (train-mode forward + backward + running-stat update) on a
/// [64, 3, 32, 32] batch: median of 5 steps after 2 warm-up steps.
#[test]
#[ignore]
fn bench_resnet20_train_step() {
    let device = cpu();
    let mut m = load(&resnet20_path(), &device);
    let batch = 64;
    let x = inputs(batch, 32, &device);
    let targets: Vec<usize> = (0..batch).map(|i| i % 10).collect();
    let mut times = Vec::new();
    for step in 0..7 {
        let t0 = Instant::now();
        let live = m.params.with_grad();
        let (logits, updates) = m.logits(&live, x.clone(), true);
        let loss = cross_entropy(logits, &targets);
        let mut grads = loss.backward();
        let g: Vec<Tensor<1>> = live.params.iter().filter(|p| p.trainable).filter_map(|p| p.value.grad_remove(&mut grads)).collect();
        drop(live);
        apply_bn_updates(&mut m.params, updates);
        // One read forces all the work (flex runs eagerly; a GPU backend would queue it).
        let sq = g.into_iter().map(|g| (g.clone() * g).sum()).reduce(|a, b| a + b).unwrap();
        let _ = read(sq);
        let dt = t0.elapsed().as_secs_f64();
        if step >= 2 {
            times.push(dt);
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!("resnet20 train step, batch {batch}: {:.1} ms median, {:.0} samples/s", median * 1e3, batch as f64 / median);
}

