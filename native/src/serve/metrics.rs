//! `/metrics` in the Prometheus text format: requests by route and status, request latency
//! histograms by route, examples stored and runs by state. Hand-written: a few counters do
//! not need a metrics crate.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    predictions: u64,
}

impl Metrics {
    pub fn record(&self, route: &str, status: u16, seconds: f64) {
        let Ok(mut m) = self.inner.lock() else { return };
        *m.requests.entry((route.to_string(), status)).or_default() += 1;
        let h = m.latency.entry(route.to_string()).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    pub fn predicted(&self, n: usize) {
        if let Ok(mut m) = self.inner.lock() {
            m.predictions += n as u64;
        }
    }

    /// The exposition text; `examples` and `runs` (state → count) are read at scrape time.
    pub fn render(&self, examples: usize, runs: &BTreeMap<String, usize>) -> String {
        let mut out = String::new();
        let Ok(m) = self.inner.lock() else { return out };
        let _ = writeln!(out, "# HELP edgetune_requests_total HTTP requests by route and status.\n# TYPE edgetune_requests_total counter");
        for ((route, status), n) in &m.requests {
            let _ = writeln!(out, "edgetune_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP edgetune_request_duration_seconds HTTP request latency by route.\n# TYPE edgetune_request_duration_seconds histogram");
        for (route, h) in &m.latency {
            for (b, c) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(out, "edgetune_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {c}");
            }
            let _ = writeln!(out, "edgetune_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "edgetune_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
            let _ = writeln!(out, "edgetune_request_duration_seconds_count{{route=\"{route}\"}} {}", h.count);
        }
        let _ = writeln!(out, "# HELP edgetune_predictions_total Texts or images predicted.\n# TYPE edgetune_predictions_total counter\nedgetune_predictions_total {}", m.predictions);
        let _ = writeln!(out, "# HELP edgetune_examples Labelled examples stored.\n# TYPE edgetune_examples gauge\nedgetune_examples {examples}");
        let _ = writeln!(out, "# HELP edgetune_runs Training runs by state.\n# TYPE edgetune_runs gauge");
        for (state, n) in runs {
            let _ = writeln!(out, "edgetune_runs{{state=\"{state}\"}} {n}");
        }
        out
    }
}
