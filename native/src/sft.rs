//! `edgetune train` on a generative model (a GGUF file or a Hugging Face causal LM): LoRA SFT
//! on conversations, with the data report first, a progress bar (or `--json` lines), the
//! validation loss and perplexity each epoch, and the test prompts answered and scored at the
//! end. The work is the core's (`edgetune::sft::run`); this prints it.

use crate::args::TrainArgs;
use crate::init_device;
use anyhow::Result;
use clap::Args;
use edgetune::device::block_on;
use edgetune::sft::run::{self, SftRequest};
use edgetune::sft::{sft_defaults, LossOn, SftEvent, SftOutcome};
use edgetune::prepare::DataSource;
use edgetune::train::TrainConfig;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};

/// What only generative runs take.
#[derive(Args, Debug, Default, Clone)]
pub struct SftFlags {
    /// Generative models: the loss on the answers only (assistant, the default) or on every token (all).
    #[arg(long, value_parser = ["assistant", "all"])]
    pub loss_on: Option<String>,
    /// Generative models: the prompt a text,label table is asked with ({text} is the row's text).
    #[arg(long)]
    pub label_prompt: Option<String>,
    /// Generative models: the most tokens of each test answer (default 64).
    #[arg(long)]
    pub max_new_tokens: Option<usize>,
    /// Generative models: score at most this many test prompts by generation (default 200; 0: all).
    #[arg(long)]
    pub eval_limit: Option<usize>,
    /// Generative models: train every weight instead of LoRA adapters (learning rate 2e-5 unless
    /// --lr says otherwise); checkpoints and exports are then whole models.
    #[arg(long)]
    pub full: bool,
}

impl SftFlags {
    fn apply(&self, cfg: &mut TrainConfig) {
        if let Some(l) = &self.loss_on {
            cfg.sft.loss_on = if l == "all" { LossOn::All } else { LossOn::Assistant };
        }
        if let Some(p) = &self.label_prompt {
            cfg.sft.label_prompt = p.clone();
        }
        if let Some(n) = self.max_new_tokens {
            cfg.sft.max_new_tokens = n;
        }
        if let Some(n) = self.eval_limit {
            cfg.sft.eval_limit = n;
        }
    }
}

/// Trains `model` (a generative model) as the flags say.
pub fn train(a: &TrainArgs, model: PathBuf, data: &Path) -> Result<()> {
    let mut cfg = match &a.config {
        Some(p) => TrainConfig::from_file_over(p, &sft_defaults())?,
        None => sft_defaults(),
    };
    a.apply(&mut cfg)?;
    a.sft.apply(&mut cfg);
    if a.sft.full {
        if a.lora.lora || a.lora.lora_r.is_some() || a.lora.lora_targets.is_some() || a.lora.lora_adapter.is_some() {
            anyhow::bail!("--full trains every weight: drop the --lora flags");
        }
        cfg.lora = None;
        if a.lr.is_none() {
            cfg.lr = 2e-5;
        }
    }
    let req = SftRequest {
        model,
        train: DataSource::Path(data.to_path_buf()),
        valid: a.valid.clone().map(DataSource::Path),
        test: a.test.clone().map(DataSource::Path),
        config: cfg,
        run_dir: Some(a.run_dir.clone().unwrap_or_else(|| crate::default_run_dir("sft"))),
    };
    let device = init_device(req.config.device)?;
    let (lm, data) = run::load_and_prepare(&req, &device)?;
    if !a.json {
        for r in &data.reports {
            eprintln!("{}", r.describe());
        }
    }
    let mut p = Progress::new(a.json);
    let outcome = block_on(run::train(&req, lm, &data, &mut |e| p.event(e)))?;
    finish(a, &outcome)
}

/// Continues the generative run in `dir`.
pub fn resume(a: &TrainArgs, dir: &Path) -> Result<()> {
    let device = init_device(a.device.unwrap_or_default())?;
    let (req, lm, data, resume) = run::load_resume(dir, &device)?;
    if !a.json {
        eprintln!("resuming {} at step {}", dir.display(), resume.state.global_step);
    }
    let mut p = Progress::new(a.json);
    let outcome = block_on(run::resume(&req, lm, &data, resume, &mut |e| p.event(e)))?;
    finish(a, &outcome)
}

/// Exports the best adapter (or with --merge the merged model) if asked.
fn finish(a: &TrainArgs, outcome: &SftOutcome) -> Result<()> {
    if let Some(out) = &a.export {
        block_on(outcome.lm.export_dir(out, a.merge))?;
        if !a.json {
            eprintln!("{}", exported(out, a.merge || outcome.lm.lora.is_none()));
        }
    }
    Ok(())
}

/// What an export wrote and how to use it.
pub fn exported(out: &Path, merge: bool) -> String {
    if merge {
        format!("exported the model with its adapter merged to {} (a Hugging Face directory: AutoModelForCausalLM.from_pretrained, or edgetune generate --model {0})", out.display())
    } else {
        format!("exported the LoRA adapter to {} (edgetune generate --model BASE --adapter {0}; in Python: PeftModel.from_pretrained(model, dir))", out.display())
    }
}

/// The progress bar and lines of a generative run (or `--json` lines).
struct Progress {
    json: bool,
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(json: bool) -> Self {
        Progress { json, bar: None }
    }

    fn say(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    fn event(&mut self, e: &SftEvent) {
        if self.json {
            if let Ok(line) = serde_json::to_string(e) {
                println!("{line}");
            }
            return;
        }
        let style = |t: &str| ProgressStyle::with_template(t).unwrap_or_else(|_| ProgressStyle::default_bar());
        match e {
            SftEvent::Start { model, train, valid, test, epochs, total_steps, resumed_at_step, trainable_params, total_params, .. } => {
                eprintln!(
                    "fine-tuning {model} on {train} examples (validation {valid}, test {test}), {epochs} epoch(s), {total_steps} steps; {trainable_params} of {total_params} parameters trainable"
                );
                let bar = ProgressBar::new(*total_steps as u64);
                bar.set_style(style("{bar:30.cyan/blue} {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]"));
                bar.set_position(*resumed_at_step as u64);
                self.bar = Some(bar);
            }
            SftEvent::Step { epoch, step, total_steps, loss, tokens_per_s, eta_s, .. } => {
                let msg = format!("epoch {epoch} loss {loss:.4} {tokens_per_s:.0} tokens/s");
                if let Some(bar) = &self.bar {
                    bar.set_position(*step as u64);
                    if bar.is_hidden() && (step % (total_steps / 10).max(1) == 0 || step == total_steps) {
                        eprintln!("step {step}/{total_steps}: {msg}, ETA {eta_s:.0} s");
                    }
                    bar.set_message(msg);
                }
            }
            SftEvent::Epoch { epoch, epochs, train_loss, valid, best, .. } => {
                let v = valid.map_or("no validation split".to_string(), |v| format!("valid loss {:.4}, perplexity {:.2}", v.loss, v.perplexity));
                self.say(&format!("epoch {epoch}/{epochs}: train loss {train_loss:.4} | {v}{}", if *best { " (best)" } else { "" }));
            }
            SftEvent::Scoring { done, total, exact_so_far } => {
                if *done == 1 {
                    if let Some(bar) = self.bar.take() {
                        bar.finish_and_clear();
                    }
                    let bar = ProgressBar::new(*total as u64);
                    bar.set_style(style("answering the test prompts {bar:30.cyan/blue} {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]"));
                    self.bar = Some(bar);
                }
                if let Some(bar) = &self.bar {
                    bar.set_position(*done as u64);
                    bar.set_message(format!("{exact_so_far} exact"));
                }
            }
            SftEvent::Done { run_dir, best_epoch, valid, test_loss, test, train_s, .. } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                eprintln!("trained in {train_s:.1} s");
                if let Some(v) = valid {
                    println!("validation: loss {:.4}, perplexity {:.2} ({} tokens)", v.loss, v.perplexity, v.tokens);
                }
                if let Some(t) = test_loss {
                    println!("test: loss {:.4}, perplexity {:.2} ({} tokens)", t.loss, t.perplexity, t.tokens);
                }
                if let Some(g) = test {
                    println!("test answers ({:.1} tokens/s): {}", g.tokens_per_s, g.table(10));
                }
                if let Some(dir) = run_dir {
                    println!("run directory: {} (best epoch {})", dir.display(), best_epoch.map_or("-".into(), |e| e.to_string()));
                }
            }
        }
    }
}
