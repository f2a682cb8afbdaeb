//! The run driver's rules: when a run saves its checkpoints. The native loop ([`super::fit`])
//! and the page's Web Worker (`web/worker.js`, through `Session::step`) both drive a
//! [`Trainer`] step by step and ask [`Saver::due`] after each step, so a run checkpoints the
//! same way wherever it runs; only where the files go differs (a run directory, or OPFS).

use super::events::Progress;
use super::trainer::Trainer;
use serde::Serialize;
use web_time::Instant;

/// Without `checkpoint_every`, the `last` checkpoint is also written when this long has passed
/// since the previous one: an interrupted run (a killed process, a closed tab, a lost GPU)
/// loses at most this much training, and a fast run is not slowed by writing every few steps.
pub const CHECKPOINT_SECONDS: f64 = 120.0;

/// What to save after a step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Saves {
    /// The parameters of the best validation so far (`best`, without optimiser state).
    pub best: bool,
    /// The run as it is (`last`, with optimiser state, to resume from).
    pub last: bool,
}

/// Tracks when the run last saved.
pub struct Saver {
    last_save: Instant,
}

impl Default for Saver {
    fn default() -> Self {
        Saver { last_save: Instant::now() }
    }
}

impl Saver {
    /// What to save after the step that gave `p`: at an epoch end `best` when validation
    /// improved and `last` always; between epoch ends `last` every `checkpoint_every` steps, or
    /// (0) every [`CHECKPOINT_SECONDS`]. The head-only fast path trains for seconds and each
    /// checkpoint holds the whole body: it saves `last` once, at the end (its caller then saves
    /// the best parameters too).
    pub fn due(&mut self, t: &Trainer, p: &Progress) -> Saves {
        let end = p.epoch.as_ref().map(|e| e.improved);
        self.due_after(t.uses_features(), t.is_finished(), t.cfg.checkpoint_every, t.state.global_step, p.step.is_some(), end)
    }

    /// [`Saver::due`] from the facts it goes by, for any trainer (the generative one too):
    /// whether the run is on the fast path and finished, `checkpoint_every`, the step count,
    /// whether a step was taken, and at an epoch end whether validation improved.
    pub fn due_after(&mut self, fast: bool, finished: bool, every: usize, global_step: usize, stepped: bool, epoch_end: Option<bool>) -> Saves {
        let saves = match epoch_end {
            Some(improved) => Saves { best: improved && !fast, last: !fast || finished },
            None if fast || !stepped => Saves::default(),
            None => {
                let last = match every {
                    0 => self.last_save.elapsed().as_secs_f64() >= CHECKPOINT_SECONDS,
                    n => global_step % n == 0,
                };
                Saves { best: false, last }
            }
        };
        if saves.last {
            self.last_save = Instant::now();
        }
        saves
    }
}
