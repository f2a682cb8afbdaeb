//! A run's running figures, kept the same way by every trainer (classifiers' and generative):
//! the epoch's mean loss, examples (and tokens) per second of training — time in steps and
//! validation, not pauses or checkpoints — and the time left at that rate.

use super::checkpoint::RunState;
use web_time::Instant;

pub struct Tally {
    /// Seconds spent training (steps and validation).
    pub busy_s: f64,
    started: Instant,
    /// The step the run (re)started at: the rate counts only steps taken since.
    first_step: usize,
    samples: usize,
    tokens: usize,
    loss_sum: f64,
    loss_n: usize,
}

impl Tally {
    pub fn new(state: &RunState) -> Self {
        Tally { busy_s: 0.0, started: Instant::now(), first_step: state.global_step, samples: 0, tokens: 0, loss_sum: 0.0, loss_n: 0 }
    }

    /// A new epoch: its loss average starts over.
    pub fn new_epoch(&mut self) {
        (self.loss_sum, self.loss_n) = (0.0, 0);
    }

    /// Counts an optimiser step of `samples` examples (`tokens` tokens) with mean `loss` that
    /// took `seconds`, and moves `state` past it.
    pub fn step(&mut self, state: &mut RunState, samples: usize, tokens: usize, loss: f64, seconds: f64) {
        state.global_step += 1;
        state.step_in_epoch += 1;
        self.samples += samples;
        self.tokens += tokens;
        self.loss_sum += loss;
        self.loss_n += 1;
        self.busy_s += seconds;
    }

    /// The epoch's mean step loss so far.
    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.loss_n.max(1) as f64
    }

    pub fn samples_per_s(&self) -> f64 {
        self.samples as f64 / self.busy_s.max(1e-9)
    }

    pub fn tokens_per_s(&self) -> f64 {
        self.tokens as f64 / self.busy_s.max(1e-9)
    }

    /// Seconds left for the steps up to `total`, at the rate of the steps taken since the start.
    pub fn eta_s(&self, state: &RunState, total: usize) -> f64 {
        let done = state.global_step.saturating_sub(self.first_step).max(1) as f64;
        self.busy_s / done * total.saturating_sub(state.global_step) as f64
    }

    /// Wall seconds since the run (re)started.
    pub fn elapsed_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}
