//! How the head-only fast path finds its features: one set of rules for the native runner and
//! the page. In order: the page's memory (it keeps recent sets), the cache file under the run's
//! key (a directory natively, OPFS in the page: [`embed_cache`]'s bytes either way; a file that
//! does not hold what this run needs is ignored with a warning), else the examples are embedded
//! a batch at a time (an `embedding` event each) and the result is kept in the cache (a cache
//! that cannot be written costs the next run time, not this one its result: a warning). One
//! `embedded` event says which, in the same shape everywhere.
//!
//! [`FastFeatures`] holds the run's side of that; the caller only moves bytes:
//! [`embed_cache::cached_features`] reads and writes files, the page's worker OPFS (through
//! `web/quick.rs`).

use super::embed_cache;
use super::events::Event;
use super::features::{rows_of, Embedder, Features};
use super::trainer::Trainer;
use crate::error::Result;
use crate::model::Classifier;
use crate::prepare::Prepared;
use std::path::PathBuf;
use web_time::Instant;

/// A fast-path run looking for its features.
pub struct FastFeatures {
    t0: Instant,
    /// The cache key (None: no cache).
    key: Option<String>,
    /// Where the cache file is, as events and warnings name it.
    place: Option<String>,
    warning: Option<String>,
    embedder: Option<Embedder>,
    batch_size: usize,
    rows: [usize; 3],
    dim: usize,
    has_test: bool,
}

impl FastFeatures {
    /// Starts looking for `t`'s features of `data`; with `cache`, under its cache key (which
    /// hashes the body's weights and the inputs: see [`embed_cache::key`]).
    pub async fn new(t: &Trainer, data: &Prepared, cache: bool) -> Result<Self> {
        let t0 = Instant::now();
        let key = if cache { Some(embed_cache::key(&t.model, data).await?) } else { None };
        Ok(FastFeatures {
            t0,
            key,
            place: None,
            warning: None,
            embedder: None,
            batch_size: t.cfg.eval_batch_size,
            rows: rows_of(data),
            dim: t.model.feature_dim(),
            has_test: data.test.is_some(),
        })
    }

    /// The cache key, when there is a cache.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The cache file's name (`<key>.f32`), when there is a cache.
    pub fn file_name(&self) -> Option<String> {
        self.key.as_deref().map(embed_cache::file_name)
    }

    /// Says where the cache file is (a path, `OPFS edgetune-embeddings/<file>`), for the events.
    pub fn at(&mut self, place: impl Into<String>) {
        self.place = Some(place.into());
    }

    /// Features the caller already held (the page's memory): the `embedded` event.
    pub fn found_in_memory(&self) -> Event {
        self.event("hit", Some("memory".into()))
    }

    /// The cache file's bytes (`None`: there is no file; `Err`: it could not be read): its
    /// features and the `embedded` event when they are this run's, else `None` (embed; why the
    /// file was ignored goes in the final event's warning).
    pub fn offer(&mut self, file: Option<std::result::Result<Vec<u8>, String>>) -> Option<(Features, Event)> {
        let key = self.key.clone()?;
        let place = self.place.clone().unwrap_or_else(|| embed_cache::file_name(&key));
        let why = match file? {
            Ok(bytes) => match embed_cache::decode(&bytes, &key, self.dim, self.rows, self.has_test) {
                Ok(f) => return Some((f, self.event("hit", Some(place)))),
                Err(why) => why,
            },
            Err(why) => format!("cannot read it: {why}"),
        };
        self.warn(format!("ignoring the embedding cache {place}: {why}"));
        None
    }

    /// Embeds the next batch with the frozen body: the `embedding` event, and once every split
    /// is embedded, the features.
    pub async fn step(&mut self, model: &Classifier, data: &Prepared) -> Result<(Event, Option<Features>)> {
        let batch_size = self.batch_size;
        let e = self.embedder.get_or_insert_with(|| Embedder::new(model, data, batch_size));
        e.step(model, data).await?;
        let event = Event::Embedding { embedded: e.done(), total: e.total() };
        if !e.is_done() {
            return Ok((event, None));
        }
        let features = self.embedder.take().map(Embedder::finish);
        Ok((event, features))
    }

    /// The cache file's bytes of `f` (embedded by [`FastFeatures::step`]), when there is a cache.
    pub fn encode(&self, f: &Features) -> Option<Result<Vec<u8>>> {
        self.key.as_deref().map(|key| embed_cache::encode(key, f))
    }

    /// The `embedded` event after embedding, once the caller kept the features in the cache
    /// (`kept`: `Err` says why it could not).
    pub fn embedded(&mut self, kept: std::result::Result<(), String>) -> Event {
        if self.key.is_none() {
            return self.event("off", None);
        }
        if let Err(why) = kept {
            let place = self.place.clone().unwrap_or_default();
            self.warn(format!("cannot write the embedding cache {place}: {why}"));
        }
        self.event("miss", self.place.clone())
    }

    fn warn(&mut self, why: String) {
        self.warning = Some(match self.warning.take() {
            Some(w) => format!("{w}; {why}"),
            None => why,
        });
    }

    fn event(&self, cache: &'static str, place: Option<String>) -> Event {
        Event::Embedded {
            rows: self.rows.iter().sum(),
            dim: self.dim,
            cache,
            cache_path: place.map(PathBuf::from),
            warning: self.warning.clone(),
            elapsed_s: self.t0.elapsed().as_secs_f64(),
        }
    }
}
