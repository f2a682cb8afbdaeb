//! Progress output: a progress bar with epoch, step, loss, samples/s and ETA, a validation line
//! per epoch — or, with `--json`, one JSON object per line on stdout.

use edgetune::train::{Event, FitOutcome};
use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    json: bool,
    bar: Option<ProgressBar>,
    run_dir: Option<std::path::PathBuf>,
}

impl Progress {
    pub fn new(json: bool) -> Self {
        Progress { json, bar: None, run_dir: None }
    }

    pub fn event(&mut self, e: &Event) {
        if self.json {
            if let Ok(line) = serde_json::to_string(e) {
                println!("{line}");
            }
            return;
        }
        match e {
            Event::Start { run_dir, train, valid, test, total_steps, resumed_at_step, trainable_params, total_params, epochs, estimated_memory_mb, .. } => {
                self.run_dir = run_dir.clone();
                eprintln!(
                    "training on {train} examples (validation {valid}, test {test}), {epochs} epoch(s), {total_steps} steps; {trainable_params} of {total_params} parameters trainable; about {estimated_memory_mb:.0} MB of memory"
                );
                let bar = ProgressBar::new(*total_steps as u64);
                bar.set_style(
                    ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.set_position(*resumed_at_step as u64);
                self.bar = Some(bar);
            }
            Event::Embedded { rows, dim, cache, cache_path, warning, elapsed_s } => {
                if let Some(w) = warning {
                    eprintln!("warning: {w}");
                }
                let place = cache_path.as_ref().map_or(String::new(), |p| format!(" ({})", p.display()));
                let how = match *cache {
                    "hit" => "read from the cache",
                    "miss" => "embedded and cached",
                    _ => "embedded",
                };
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                eprintln!("head-only: {rows} examples {how} as {dim}-wide vectors in {elapsed_s:.1} s{place}");
            }
            Event::Embedding { embedded, total } => {
                // The frozen body's pass over every split, before the head trains.
                let bar = self.bar.get_or_insert_with(|| {
                    let bar = ProgressBar::new(*total as u64);
                    bar.set_style(ProgressStyle::with_template("embedding {bar:30.cyan/blue} {pos}/{len} [{elapsed_precise} < {eta_precise}]").unwrap_or_else(|_| ProgressStyle::default_bar()));
                    bar
                });
                bar.set_position(*embedded as u64);
            }
            Event::Step { epoch, step, total_steps, loss, samples_per_s, eta_s, .. } => {
                let msg = format!("epoch {epoch} loss {loss:.4} {samples_per_s:.1} samples/s");
                if let Some(bar) = &self.bar {
                    bar.set_position(*step as u64);
                    if bar.is_hidden() && (step % (total_steps / 10).max(1) == 0 || step == total_steps) {
                        // Logs get a line every tenth of the run instead of a bar.
                        eprintln!("step {step}/{total_steps}: {msg}, ETA {eta_s:.0} s");
                    }
                    bar.set_message(msg);
                }
            }
            Event::Epoch { epoch, epochs, train_loss, valid, best, .. } => {
                let line = format!(
                    "epoch {epoch}/{epochs}: train loss {train_loss:.4} | valid {}{}",
                    valid.summary(),
                    if *best { " (best)" } else { "" }
                );
                self.say(&line);
            }
            Event::Skipped { step, total_steps, reason, skipped, .. } => {
                self.say(&format!("warning: step {step}/{total_steps} skipped (--on-nan skip): {reason}; {skipped} batch(es) skipped so far"));
            }
            Event::Done { train_s, skipped, .. } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                let skips = if *skipped > 0 { format!(" ({skipped} batch(es) skipped for NaN or infinity)") } else { String::new() };
                eprintln!("trained in {train_s:.1} s{skips}");
            }
        }
    }

    /// A line above the progress bar (suspend() also prints when the bar is hidden: stderr not a
    /// terminal).
    fn say(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    pub fn finish(&mut self, outcome: &FitOutcome) {
        if self.json {
            return;
        }
        if let Some(t) = &outcome.test {
            println!("test:\n{t}");
        } else if let Some(v) = &outcome.valid {
            println!("validation:\n{v}");
        }
        if let Some(dir) = &self.run_dir {
            println!("run directory: {} (best epoch {})", dir.display(), outcome.state.best_epoch.map_or("-".into(), |e| e.to_string()));
        }
    }
}
