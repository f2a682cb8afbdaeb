//! Crash safety: the native runner is killed with SIGKILL at random moments of training,
//! checkpointing and export, 20 times and more; after each kill the run directory is usable
//! (`--resume` carries on, or a run killed before it wrote anything starts again), and the run
//! that finally completes gives the metrics and the exported weights of an uninterrupted run
//! with the same seed (CPU training is deterministic).

mod cli_common;
mod common;

use cli_common::{digit_folders, edgetune};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const KILLS: usize = 20;


fn train(data: &Path, run: &Path, export: &Path) -> Command {
    let mut c = edgetune();
    c.args(["train", "--json", "--device", "cpu", "--model"]).arg(common::repo("crate/assets/demo/resnet20-cifar10"));
    c.arg("--data").arg(data).arg("--run-dir").arg(run).arg("--export").arg(export);
    c.args(["--epochs", "3", "--batch-size", "16", "--checkpoint-every", "2", "--seed", "5", "--test-split", "0.2", "--valid-split", "0.1"]);
    c
}

fn resume(run: &Path, export: &Path) -> Command {
    let mut c = edgetune();
    c.args(["train", "--json", "--resume"]).arg(run).arg("--export").arg(export);
    c
}

/// The `done` event of a run that must complete.
fn done(mut cmd: Command) -> Value {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let last = text.lines().last().unwrap();
    let e: Value = serde_json::from_str(last).unwrap();
    assert_eq!(e["event"], "done", "{last}");
    e
}

/// A small seeded generator (the test's kill times are reproducible).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn sigkill_at_random_moments_then_resume_gives_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let data = digit_folders(tmp.path(), 4, 40);
    let t0 = std::time::Instant::now();
    let reference = done(train(&data, &tmp.path().join("ref-run"), &tmp.path().join("ref-export")));
    let whole = t0.elapsed().as_secs_f64();

    let (run, export) = (tmp.path().join("run"), tmp.path().join("export"));
    let mut rng = Lcg(2026);
    let (mut kills, mut attempts, mut finished_early) = (0, 0, 0);
    while kills < KILLS {
        attempts += 1;
        assert!(attempts < 5 * KILLS, "{kills} kills in {attempts} attempts");
        // A run killed before it wrote run.json left nothing to resume: start it again.
        let mut cmd = if run.join("run.json").exists() { resume(&run, &export) } else { train(&data, &run, &export) };
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        // Anywhere in a whole run's time: loading, a step, a checkpoint, the export.
        std::thread::sleep(Duration::from_secs_f64(rng.next() * whole));
        match child.try_wait().unwrap() {
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
            }
            Some(status) => {
                let mut err = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
                assert!(status.success(), "a run after a kill failed: {err}");
                finished_early += 1;
                // A completed run starts over, so that the kills go on falling everywhere.
                std::fs::remove_dir_all(&run).unwrap();
                let _ = std::fs::remove_dir_all(&export);
            }
        }
        // What a killed run leaves must parse: its settings, and a checkpoint's state if any.
        if run.join("run.json").exists() {
            for f in ["run.json", "config.json"] {
                let bytes = std::fs::read(run.join(f)).unwrap();
                serde_json::from_slice::<Value>(&bytes).unwrap_or_else(|e| panic!("{f} after kill {kills}: {e}"));
            }
        }
    }
    let last = done(if run.join("run.json").exists() { resume(&run, &export) } else { train(&data, &run, &export) });
    println!("{kills} kills in {attempts} attempts ({finished_early} runs finished first); a whole run takes {whole:.1} s");
    assert_eq!(last["test"]["accuracy"], reference["test"]["accuracy"]);
    let (a, b) = (reference["test"]["loss"].as_f64().unwrap(), last["test"]["loss"].as_f64().unwrap());
    assert!((a - b).abs() < 1e-5, "test loss {a} (uninterrupted) vs {b} (killed {kills} times)");
    // The export is whole, and holds the uninterrupted run's weights.
    let read = |dir: &Path, f: &str| std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()));
    assert_eq!(read(&export, "config.json"), read(&tmp.path().join("ref-export"), "config.json"));
    let weights = |dir: &Path| {
        let bytes = read(dir, "model.safetensors");
        let st = edgetune::weights::SafeTensors::parse(bytes, "model.safetensors").unwrap();
        let mut names: Vec<String> = st.names().map(str::to_string).collect();
        names.sort();
        names.into_iter().map(|n| (n.clone(), st.f32_any(&n).map(|(v, _)| v).unwrap_or_default())).collect::<Vec<_>>()
    };
    let (wa, wb) = (weights(&tmp.path().join("ref-export")), weights(&export));
    assert_eq!(wa.len(), wb.len());
    let worst = wa.iter().zip(&wb).flat_map(|((_, x), (_, y))| x.iter().zip(y).map(|(p, q)| (p - q).abs())).fold(0f32, f32::max);
    assert!(worst < 1e-5, "largest weight difference {worst}");
}
