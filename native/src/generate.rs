//! `edgetune generate` and `edgetune chat`: answers from a generative model (a GGUF file or a
//! Hugging Face directory), streamed as they are written. `generate` answers each prompt on its
//! own; `chat` keeps the conversation.

use crate::args::parse_backend;
use crate::{init_device, resolve_model};
use anyhow::{bail, Context, Result};
use clap::Args;
use edgetune::chat::Message;
use edgetune::device::{block_on, Backend};
use edgetune::model::causal::{generate, Generated, LanguageModel, Sampling};
use edgetune::sft::run::load_trained;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

/// The generative default: SmolLM2-135M-Instruct as a GGUF file, in ../shared.
const DEFAULT_MODEL: &str = "../shared/models/SmolLM2-135M-Instruct-Q4_1";

#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// A GGUF file, a directory holding one, a Hugging Face directory (config.json,
    /// model.safetensors, tokenizer.json), hf:org/name, or a run directory of `edgetune train`
    /// (its base model with its best adapter).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: String,
    /// A system message put before the conversation (through the model's chat template).
    #[arg(long)]
    pub system: Option<String>,
    /// The most tokens per answer.
    #[arg(long, default_value_t = 256)]
    pub max_new_tokens: usize,
    /// 0 answers with the most likely token each time (greedy); above 0, sampled.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// Sample among the k most likely tokens only (0: all).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Sample among the most likely tokens holding this much probability (1: all).
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    /// Above 1, makes tokens already written less likely.
    #[arg(long, default_value_t = 1.0)]
    pub repetition_penalty: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Text that ends an answer (repeatable), besides the model's own stop tokens.
    #[arg(long)]
    pub stop: Vec<String>,
    #[arg(long, value_parser = parse_backend)]
    pub device: Option<Backend>,
    /// A PEFT LoRA adapter directory (adapter_config.json, adapter_model.safetensors) to put on
    /// the model: what `edgetune train` wrote, or one made with PEFT. (A run directory as
    /// --model brings its best adapter itself.)
    #[arg(long)]
    pub adapter: Option<PathBuf>,
}

impl ModelArgs {
    fn sampling(&self) -> Sampling {
        Sampling {
            max_new_tokens: self.max_new_tokens,
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            repetition_penalty: self.repetition_penalty,
            seed: self.seed,
            stop: self.stop.clone(),
        }
    }

    fn load(&self) -> Result<LanguageModel> {
        let path = resolve_model(&self.model)?;
        if self.model == DEFAULT_MODEL && !path.exists() {
            bail!("the default model {DEFAULT_MODEL} is not here: name a GGUF file or a Hugging Face directory with --model");
        }
        let device = init_device(self.device.unwrap_or_default())?;
        Ok(load_trained(&path, self.adapter.as_deref(), &device)?)
    }
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Prompts, each answered on its own (without any: one per line of --file or standard input).
    pub prompts: Vec<String>,
    /// A file of prompts, one per line.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Feed the prompt as plain text, without the chat template (a base model's continuation).
    #[arg(long)]
    pub raw: bool,
    /// One JSON line per prompt (prompt, answer, tokens, stop reason, tokens/s) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ChatArgs {
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Answers `messages`, streaming the text to standard output unless `quiet`.
fn answer(lm: &LanguageModel, ids: &[u32], s: &Sampling, quiet: bool) -> Result<(Generated, f64)> {
    let t0 = Instant::now();
    let mut out = std::io::stdout();
    let g = block_on(generate(lm, ids, s, &mut |piece| {
        if !quiet {
            let _ = out.write_all(piece.as_bytes()).and_then(|_| out.flush());
        }
        true
    }))?;
    Ok((g, t0.elapsed().as_secs_f64()))
}

fn conversation(system: &Option<String>, turns: &[Message]) -> Vec<Message> {
    system.iter().map(|s| Message::new("system", s)).chain(turns.iter().cloned()).collect()
}

pub fn generate_cmd(a: GenerateArgs) -> Result<()> {
    let lm = a.model.load()?;
    let s = a.model.sampling();
    s.validate()?;
    let prompts: Vec<String> = if !a.prompts.is_empty() {
        a.prompts.clone()
    } else {
        let reader: Box<dyn BufRead> = match &a.file {
            Some(f) => Box::new(std::io::BufReader::new(std::fs::File::open(f).with_context(|| format!("cannot open {}", f.display()))?)),
            None => {
                if std::io::stdin().is_terminal() {
                    eprintln!("(reading prompts from standard input, one per line; Ctrl-D ends)");
                }
                Box::new(std::io::stdin().lock())
            }
        };
        reader.lines().collect::<std::io::Result<Vec<_>>>()?.into_iter().filter(|l| !l.trim().is_empty()).collect()
    };
    for p in &prompts {
        let ids = if a.raw { lm.encode_text(p)? } else { lm.prompt(&conversation(&a.model.system, &[Message::new("user", p)]))? };
        let (g, secs) = answer(&lm, &ids, &s, a.json)?;
        let rate = g.ids.len() as f64 / secs.max(1e-9);
        if a.json {
            let line = serde_json::json!({"prompt": p, "text": g.text, "tokens": g.ids.len(), "prompt_tokens": g.prompt_tokens,
                "stop": g.reason, "seconds": secs, "tokens_per_s": rate});
            println!("{line}");
        } else {
            println!();
            eprintln!("[{} tokens in {secs:.2} s, {rate:.1} tokens/s, {:?}]", g.ids.len(), g.reason);
        }
    }
    Ok(())
}

pub fn chat_cmd(a: ChatArgs) -> Result<()> {
    let lm = a.model.load()?;
    if lm.template.is_none() {
        bail!("{} has no chat template: use `edgetune generate --raw` for plain continuation", lm.source);
    }
    let s = a.model.sampling();
    s.validate()?;
    let tty = std::io::stdin().is_terminal();
    if tty {
        eprintln!("chatting with {} (/reset starts over, Ctrl-D ends)", lm.source);
    }
    let mut turns: Vec<Message> = Vec::new();
    let mut lines = std::io::stdin().lock().lines();
    loop {
        if tty {
            eprint!("> ");
        }
        let Some(line) = lines.next() else { break };
        let line = line?;
        match line.trim() {
            "" => continue,
            "/reset" => {
                turns.clear();
                continue;
            }
            _ => {}
        }
        turns.push(Message::new("user", &line));
        let ids = lm.prompt(&conversation(&a.model.system, &turns))?;
        let (g, secs) = answer(&lm, &ids, &s, false)?;
        println!();
        if tty {
            eprintln!("[{} tokens, {:.1} tokens/s]", g.ids.len(), g.ids.len() as f64 / secs.max(1e-9));
        }
        turns.push(Message::new("assistant", &g.text));
    }
    Ok(())
}
