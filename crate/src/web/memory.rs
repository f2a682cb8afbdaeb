//! Whether a text run fits the page's device before it starts, and if not, what to change.

use crate::model::ModelFiles;
use crate::prepare::{DataSource, Prepared};
use crate::model::face::Adaptable;
use crate::model::Body;
use crate::train::memory::{for_shape, MemoryEstimate, Shape};
use crate::train::TrainConfig;
use serde::Serialize;

/// What wasm can hold: 4 GiB of linear memory, less room for the data and the runtime.
const WASM_BUDGET_MB: f64 = 3000.0;

/// Bytes of the data the page holds (they count against wasm's memory too).
pub(super) fn data_len(d: &DataSource) -> usize {
    match d {
        DataSource::Bytes { bytes, .. } => bytes.len(),
        DataSource::Files { entries, .. } => entries.iter().map(|(_, b)| b.len()).sum(),
        DataSource::Path(_) => 0,
    }
}

#[derive(Serialize)]
pub(super) struct MemoryCheck {
    #[serde(flatten)]
    estimate: MemoryEstimate,
    fits: bool,
    advice: Option<String>,
}

/// Whether the run fits the device, and if not, what to change.
pub(super) fn memory_check(body: &dyn Body, files: &ModelFiles, data: &Prepared, cfg: &TrainConfig, data_bytes: usize, max_buffer_mb: Option<f64>, budget_mb: Option<f64>) -> MemoryCheck {
    let params = files.weights.len() / 4;
    let head = body.width() * (data.labels.len().max(1) + 1);
    let trainable = match &cfg.lora {
        _ if cfg.head_only => head,
        // Two rank-r matrices per adapted layer (A: r × in, B: out × r).
        Some(l) => {
            let mut b = body.clone_box();
            let targets = crate::model::lora::target_kinds(&crate::model::lora::body_kinds(b.as_mut()), &l.target_modules, "lora.target_modules").unwrap_or_default();
            let adapters: usize = b.adaptable().iter().filter(|a: &&Adaptable| targets.contains(&a.kind)).map(|a| l.r * (a.inp + a.out)).sum();
            head + adapters
        }
        None => params,
    };
    let shape = Shape { body, params, trainable };
    let est = |c: &TrainConfig| for_shape(&shape, data, c);
    let e = est(cfg);
    // The run's own limit (the settings' memory limit), when lower than the device's.
    let budget = budget_mb.unwrap_or(WASM_BUDGET_MB);
    let budget = cfg.max_memory_mb.map_or(budget, |m| m.min(budget));
    let data_mb = data_bytes as f64 / (1024.0 * 1024.0);
    let fits_with = |m: &MemoryEstimate| m.estimate_mb + data_mb * 4.0 <= budget && max_buffer_mb.is_none_or(|max| m.largest_buffer_mb <= max);
    if fits_with(&e) {
        return MemoryCheck { estimate: e, fits: true, advice: None };
    }
    // Find the largest batch size that fits, halving from the one asked for.
    let mut c = cfg.clone();
    while c.batch_size > 1 && !fits_with(&est(&c)) {
        c.batch_size /= 2;
    }
    let advice = if fits_with(&est(&c)) {
        format!("training needs about {:.0} MB (largest buffer {:.0} MB) but this device allows {budget:.0} MB{}: lower the batch size to {} (or max length)",
            e.estimate_mb, e.largest_buffer_mb, max_buffer_mb.map_or(String::new(), |m| format!(" with buffers up to {m:.0} MB")), c.batch_size)
    } else {
        format!("the data file ({data_mb:.0} MB) and the model need about {:.0} MB, more than this device's {budget:.0} MB: use a smaller file or the native runner", e.estimate_mb + data_mb * 4.0)
    };
    MemoryCheck { estimate: e, fits: false, advice: Some(advice) }
}
