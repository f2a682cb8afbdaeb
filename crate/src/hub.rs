//! Downloads models from the Hugging Face Hub into the cache that `huggingface_hub` uses, so a
//! model fetched by Python is reused here and the other way round (native builds, feature `hub`).
//!
//! Layout: `{cache}/models--{org}--{name}/snapshots/{revision}/{file}`, with `refs/{revision}`
//! naming the snapshot directory and empty `.no_exist/{snapshot}/{file}` markers for optional
//! files the Hub does not have, so they are not asked for again. Environment, as in Python:
//! `HF_ENDPOINT`, `HF_HUB_CACHE` / `HF_HOME`, `HF_HUB_OFFLINE`, `HF_TOKEN`.

use crate::error::{Error, Result};
use crate::model::load::family_of_config;
use crate::model::ModelKind;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Files a model needs, and those fetched when present (a tokenizer needs one of the first two).
const REQUIRED: [&str; 2] = ["config.json", "model.safetensors"];
const OPTIONAL: [&str; 5] = [
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "preprocessor_config.json",
];

/// Where models come from and where they are kept. [`Hub::from_env`] reads the usual variables;
/// tests build one directly so they never touch the process environment.
#[derive(Clone, Debug)]
pub struct Hub {
    /// Base URL without a trailing slash, e.g. `https://huggingface.co`.
    pub endpoint: String,
    /// The hub cache directory (holding `models--org--name` directories).
    pub cache: PathBuf,
    /// Sent as `Authorization: Bearer ...` for private and gated models.
    pub token: Option<String>,
    /// Use the cache only; never open a connection.
    pub offline: bool,
}

/// "hf:org/name" or "hf:org/name@revision" → the local directory holding the model's files.
pub fn resolve(spec: &str) -> Result<PathBuf> {
    Hub::from_env()?.resolve(spec)
}

/// Makes sure `files` (and whichever of `optional` the Hub has) are in the local snapshot of
/// `repo` at `revision`, downloading what is missing; returns the snapshot directory.
pub fn download(repo: &str, revision: &str, files: &[&str], optional: &[&str]) -> Result<PathBuf> {
    Hub::from_env()?.download(repo, revision, files, optional)
}

/// Splits "hf:org/name@revision" into (repo, revision), the revision defaulting to "main".
pub fn parse_spec(spec: &str) -> Result<(String, String)> {
    let bad = |why: &str| {
        Error::Hub(format!(
            "'{spec}' is not a Hub model ({why}): expected hf:org/name or hf:org/name@revision"
        ))
    };
    let rest = spec.strip_prefix("hf:").ok_or_else(|| bad("no hf: prefix"))?;
    let (repo, revision) = rest.split_once('@').unwrap_or((rest, "main"));
    check_repo(repo).map_err(|why| bad(&why))?;
    check_revision(revision).map_err(|why| bad(&why))?;
    Ok((repo.to_string(), revision.to_string()))
}

/// Repository ids as `huggingface_hub` accepts them: "name" or "org/name", no "..", no "--".
fn check_repo(repo: &str) -> std::result::Result<(), String> {
    let parts: Vec<&str> = repo.split('/').collect();
    let part_ok = |p: &&str| {
        !p.is_empty()
            && !p.starts_with(['.', '-'])
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    };
    if parts.len() > 2
        || !parts.iter().all(part_ok)
        || repo.contains("..")
        || repo.contains("--")
        || repo.len() > 96
    {
        return Err(format!("bad repository id '{repo}'"));
    }
    Ok(())
}

/// Revisions become directory names: no "..", no empty or hidden path components.
fn check_revision(rev: &str) -> std::result::Result<(), String> {
    let ok = !rev.is_empty()
        && rev.len() <= 255
        && rev.split('/').all(|p| !p.is_empty() && !p.starts_with('.'))
        && rev.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!("bad revision '{rev}'"))
    }
}

/// File names stay inside the snapshot directory.
fn check_file(file: &str) -> Result<()> {
    let ok = !file.is_empty()
        && !file.contains('\\')
        && file.split('/').all(|p| !p.is_empty() && p != "." && p != "..");
    if ok {
        Ok(())
    } else {
        Err(Error::Hub(format!(
            "bad file name '{file}' (must be a relative path inside the repository)"
        )))
    }
}

/// Percent-encodes a URL path segment; `/` is kept when `keep_slash` (file paths) and encoded
/// otherwise (revisions such as "refs/pr/1", as `huggingface_hub` does).
fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Hub {
    /// Reads HF_ENDPOINT, HF_HUB_CACHE / HF_HOME / XDG_CACHE_HOME / HOME, HF_HUB_OFFLINE, HF_TOKEN.
    pub fn from_env() -> Result<Hub> {
        Hub::from_vars(|k| std::env::var(k).ok())
    }

    /// [`Hub::from_env`] with the variables supplied by `var` (empty values count as unset).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Hub> {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let endpoint = var("HF_ENDPOINT").unwrap_or_else(|| "https://huggingface.co".into());
        let cache = if let Some(c) = var("HF_HUB_CACHE") {
            PathBuf::from(c)
        } else if let Some(h) = var("HF_HOME") {
            Path::new(&h).join("hub")
        } else if let Some(x) = var("XDG_CACHE_HOME") {
            Path::new(&x).join("huggingface").join("hub")
        } else if let Some(home) = var("HOME").or_else(|| var("USERPROFILE")) {
            Path::new(&home).join(".cache").join("huggingface").join("hub")
        } else {
            return Err(Error::Hub(
                "no cache directory for Hub downloads: set HF_HOME or HF_HUB_CACHE".into(),
            ));
        };
        let offline = var("HF_HUB_OFFLINE").is_some_and(|v| {
            ["1", "true", "yes", "on"].contains(&v.trim().to_ascii_lowercase().as_str())
        });
        Ok(Hub {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            cache,
            token: var("HF_TOKEN"),
            offline,
        })
    }

    /// See [`resolve`]: config and weights are required, and for a text model at least one of
    /// tokenizer.json / vocab.txt must exist.
    pub fn resolve(&self, spec: &str) -> Result<PathBuf> {
        let (repo, revision) = parse_spec(spec)?;
        let dir = self.download(&repo, &revision, &REQUIRED, &OPTIONAL)?;
        let config: Option<serde_json::Value> =
            std::fs::read(dir.join("config.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let image = config.as_ref().and_then(|c| family_of_config(c).ok()).is_some_and(|f| f.kind == ModelKind::Image);
        if !image && !dir.join("tokenizer.json").is_file() && !dir.join("vocab.txt").is_file() {
            let where_ = if self.offline {
                format!(
                    "in the cache at {} (HF_HUB_OFFLINE is set, so the Hub was not asked)",
                    dir.display()
                )
            } else {
                format!("at revision {revision}")
            };
            return Err(Error::Hub(format!(
                "hf:{repo}: neither tokenizer.json nor vocab.txt {where_}; a tokenizer is needed to read text"
            )));
        }
        Ok(dir)
    }

    /// The snapshot directory for `revision`: the one `refs/{revision}` names (a commit hash when
    /// Python downloaded it), else `snapshots/{revision}`.
    fn snapshot_dir(&self, repo_dir: &Path, revision: &str) -> (PathBuf, String) {
        let named = std::fs::read_to_string(repo_dir.join("refs").join(revision)).ok();
        let snap = named.map(|s| s.trim().to_string()).filter(|s| check_revision(s).is_ok());
        let snap = snap.unwrap_or_else(|| revision.to_string());
        (repo_dir.join("snapshots").join(&snap), snap)
    }

    /// See [`download`]. A cached file is never fetched again: delete the snapshot to refresh a
    /// branch such as "main".
    pub fn download(
        &self,
        repo: &str,
        revision: &str,
        files: &[&str],
        optional: &[&str],
    ) -> Result<PathBuf> {
        check_repo(repo).map_err(Error::Hub)?;
        check_revision(revision).map_err(Error::Hub)?;
        for f in files.iter().chain(optional) {
            check_file(f)?;
        }
        let repo_dir = self.cache.join(format!("models--{}", repo.replace('/', "--")));
        let (dir, snap) = self.snapshot_dir(&repo_dir, revision);
        let no_exist = repo_dir.join(".no_exist").join(&snap);
        let missing: Vec<&str> = files.iter().copied().filter(|f| !dir.join(f).is_file()).collect();
        let wanted: Vec<&str> = optional
            .iter()
            .copied()
            .filter(|f| !dir.join(f).is_file() && !no_exist.join(f).exists())
            .collect();
        if missing.is_empty() && wanted.is_empty() {
            return Ok(dir);
        }
        if self.offline {
            if missing.is_empty() {
                return Ok(dir); // optional files may be absent; the caller decides
            }
            return Err(Error::Hub(format!(
                "hf:{repo}: HF_HUB_OFFLINE is set and the cache at {} lacks {}; unset HF_HUB_OFFLINE to \
                 download them, or pass a model directory with --model DIR",
                dir.display(),
                missing.join(", ")
            )));
        }
        let agent = self.agent();
        for f in &missing {
            if !self.fetch(&agent, repo, revision, f, &dir.join(f))? {
                return Err(Error::Hub(format!(
                    "hf:{repo}: no file {f} at revision {revision} (HTTP 404)"
                )));
            }
        }
        for f in &wanted {
            if !self.fetch(&agent, repo, revision, f, &dir.join(f))? {
                crate::fsutil::write_atomic(&no_exist.join(f), b"")?;
            }
        }
        let refs = repo_dir.join("refs").join(revision);
        if !refs.exists() {
            crate::fsutil::write_atomic(&refs, snap.as_bytes())?;
        }
        Ok(dir)
    }

    fn agent(&self) -> ureq::Agent {
        let mut config = ureq::Agent::config_builder()
            // Statuses are handled below, with messages that say what to do.
            .http_status_as_error(false)
            // Renamed repositories redirect on the same host and still need the token; the CDN
            // that serves large files gets a signed URL instead and must not see it.
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
            .timeout_connect(Some(Duration::from_secs(20)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .user_agent(concat!("edgetune/", env!("CARGO_PKG_VERSION")));
        let local = ["http://127.0.0.1", "http://localhost", "http://[::1]"];
        if local.iter().any(|l| self.endpoint.starts_with(l)) {
            config = config.proxy(None); // a proxy from the environment cannot reach our loopback
        }
        ureq::Agent::new_with_config(config.build())
    }

    /// Downloads one file to `dest`, streaming it through a temporary file. Ok(false) on 404.
    fn fetch(
        &self,
        agent: &ureq::Agent,
        repo: &str,
        revision: &str,
        file: &str,
        dest: &Path,
    ) -> Result<bool> {
        let url = format!(
            "{}/{repo}/resolve/{}/{}",
            self.endpoint,
            encode(revision, false),
            encode(file, true)
        );
        let mut request = agent.get(&url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let offline_hint =
            "Are you offline? Download the model yourself and pass its directory with --model DIR";
        let response = request.call().map_err(|e| {
            let reason = match e {
                ureq::Error::Io(io) => io.to_string(),
                other => other.to_string(),
            };
            Error::Hub(format!("cannot reach {url}: {reason}. {offline_hint}"))
        })?;
        let status = response.status().as_u16();
        let code = |name: &str| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
        };
        let token_hint = if self.token.is_some() {
            "the token in HF_TOKEN cannot read it"
        } else {
            "if it is private or gated, set HF_TOKEN to an access token (https://huggingface.co/settings/tokens)"
        };
        match status {
            200..=299 => {}
            404 if code("x-error-code").as_deref() == Some("RevisionNotFound") => {
                return Err(Error::Hub(format!("hf:{repo}: no revision '{revision}' (HTTP 404)")));
            }
            404 => return Ok(false),
            401 => {
                return Err(Error::Hub(format!(
                    "hf:{repo}: HTTP 401 for {file}: the repository does not exist, or {token_hint}"
                )))
            }
            403 => {
                return Err(Error::Hub(format!(
                    "hf:{repo}: access to {file} refused (HTTP 403): the model may be gated (accept its terms \
                     on the model page) and {token_hint}"
                )))
            }
            _ => {
                let hint = if status >= 500 { "; the Hub may be down, try again later" } else { "" };
                return Err(Error::Hub(format!("hf:{repo}: downloading {file} failed (HTTP {status}){hint}")));
            }
        }
        let mut reader = response.into_body().into_reader();
        stream_to_file(&mut reader, dest).map_err(|e| match e {
            Stream::Read(e) => Error::Hub(format!("downloading {url} failed: {e}. {offline_hint}")),
            Stream::Write(e) => Error::io(dest, e),
        })?;
        Ok(true)
    }
}

enum Stream {
    /// The connection failed mid-download.
    Read(std::io::Error),
    /// The local disk refused the file.
    Write(std::io::Error),
}

/// Copies `reader` into `dest` through a temporary file in the same directory, then renames it:
/// a large file is never held in memory, and an interrupted download leaves no partial `dest`.
fn stream_to_file(reader: &mut impl Read, dest: &Path) -> std::result::Result<(), Stream> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(Stream::Write)?;
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.part-{}", std::process::id()));
    let result = (|| {
        let mut out = std::fs::File::create(&tmp).map_err(Stream::Write)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Stream::Read(e)),
            };
            out.write_all(&buf[..n]).map_err(Stream::Write)?;
        }
        out.sync_all().map_err(Stream::Write)?;
        std::fs::rename(&tmp, dest).map_err(Stream::Write)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::io::BufRead;
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    const MINILM: &str =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/models/all-MiniLM-L6-v2");
    const ALL_FILES: [&str; 6] = [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "vocab.txt",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ];

    /// A minimal Hub on 127.0.0.1: `/{repo}/resolve/main/{file}` serves `repos[repo]/file`
    /// (model.safetensors via a redirect, like the real Hub's CDN), repo "test/private" answers
    /// 401, anything else 404. Stops when dropped, and after 120 s whatever happens.
    struct Server {
        endpoint: String,
        hits: Arc<AtomicUsize>,
        auth: Arc<Mutex<Vec<String>>>,
        stop: Arc<AtomicBool>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn serve(repos: HashMap<String, PathBuf>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let auth: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (h, a, s) = (Arc::clone(&hits), Arc::clone(&auth), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            while !s.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(120) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        h.fetch_add(1, Ordering::SeqCst);
                        let _ = answer(stream, &repos, &a);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => break,
                }
            }
        });
        Server { endpoint, hits, auth, stop, thread: Some(thread) }
    }

    fn answer(
        stream: TcpStream,
        repos: &HashMap<String, PathBuf>,
        auth: &Mutex<Vec<String>>,
    ) -> std::io::Result<()> {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut reader = std::io::BufReader::new(stream.try_clone()?);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let path = line.split(' ').nth(1).unwrap_or("").to_string();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                if k.eq_ignore_ascii_case("authorization") {
                    auth.lock().unwrap().push(format!("{path} {}", v.trim()));
                }
            }
        }
        let mut out = stream;
        let respond = |out: &mut TcpStream, status: &str, extra: &str, body: &[u8]| {
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
                body.len()
            );
            out.write_all(head.as_bytes())?;
            out.write_all(body)
        };
        if let Some(file) = path.strip_prefix("/cdn/") {
            let body = std::fs::read(Path::new(MINILM).join(file))?;
            return respond(&mut out, "200 OK", "", &body);
        }
        let parts = path.splitn(5, '/').collect::<Vec<_>>(); // "", org, name, "resolve", rest
        if let ["", org, name, "resolve", rest] = parts[..] {
            let repo = format!("{org}/{name}");
            if repo == "test/private" {
                return respond(&mut out, "401 Unauthorized", "", b"Invalid credentials");
            }
            if let (Some(dir), Some(file)) = (repos.get(&repo), rest.strip_prefix("main/")) {
                if file == "model.safetensors" && repo.starts_with("sentence-transformers/") {
                    let location = "Location: /cdn/model.safetensors\r\n";
                    return respond(&mut out, "302 Found", location, b"");
                }
                if let Ok(body) = std::fs::read(dir.join(file)) {
                    return respond(&mut out, "200 OK", "X-Repo-Commit: 0123abcd\r\n", &body);
                }
            }
        }
        respond(&mut out, "404 Not Found", "X-Error-Code: EntryNotFound\r\n", b"Entry not found")
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let d =
            std::env::temp_dir().join(format!("edgetune-hub-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn err(r: Result<PathBuf>) -> String {
        r.expect_err("expected an error").to_string()
    }

    #[test]
    fn download_from_local_hub() {
        let tmp = temp_dir("dl");
        // A repo without tokenizer files: config and a tiny weights file only.
        let bare = tmp.join("bare");
        std::fs::create_dir_all(&bare).unwrap();
        std::fs::write(bare.join("config.json"), "{}").unwrap();
        let tiny =
            crate::weights::to_bytes(&[("w".into(), vec![1], vec![1.0])], &Default::default());
        std::fs::write(bare.join("model.safetensors"), &tiny).unwrap();
        // An image model: no tokenizer, an image processor instead.
        let vit = tmp.join("vit");
        std::fs::create_dir_all(&vit).unwrap();
        std::fs::write(vit.join("config.json"), r#"{"model_type": "vit"}"#).unwrap();
        std::fs::write(vit.join("preprocessor_config.json"), r#"{"size": 224}"#).unwrap();
        std::fs::write(vit.join("model.safetensors"), &tiny).unwrap();
        let server = serve(HashMap::from([
            ("sentence-transformers/all-MiniLM-L6-v2".to_string(), PathBuf::from(MINILM)),
            ("test/bare".to_string(), bare),
            ("test/vit".to_string(), vit),
        ]));
        let cache = tmp.join("cache");
        let hub = Hub {
            endpoint: server.endpoint.clone(),
            cache: cache.clone(),
            token: Some("s3cret".into()),
            offline: false,
        };
        let hits = || server.hits.load(Ordering::SeqCst);

        let dir = hub.resolve("hf:sentence-transformers/all-MiniLM-L6-v2").unwrap();
        assert_eq!(
            dir,
            cache.join("models--sentence-transformers--all-MiniLM-L6-v2/snapshots/main")
        );
        for f in ALL_FILES {
            assert_eq!(
                std::fs::read(dir.join(f)).unwrap(),
                std::fs::read(Path::new(MINILM).join(f)).unwrap(),
                "{f}"
            );
        }
        assert_eq!(hits(), 8, "six files, one of them through a redirect, and no preprocessor_config.json");
        let refs = cache.join("models--sentence-transformers--all-MiniLM-L6-v2/refs/main");
        assert_eq!(std::fs::read_to_string(refs).unwrap(), "main");
        {
            let auth = server.auth.lock().unwrap();
            assert_eq!(auth.len(), 8, "the token goes along same-host redirects: {auth:?}");
            assert!(auth.iter().all(|a| a.ends_with(" Bearer s3cret")));
        }
        // Leftover temporary files would mean a write path that does not rename.
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");

        // Cached: no request at all, also in offline mode.
        assert_eq!(hub.resolve("hf:sentence-transformers/all-MiniLM-L6-v2").unwrap(), dir);
        let offline = Hub { offline: true, ..hub.clone() };
        assert_eq!(offline.resolve("hf:sentence-transformers/all-MiniLM-L6-v2").unwrap(), dir);
        assert_eq!(hits(), 8);

        // An optional file the Hub lacks is asked for once, then remembered in .no_exist.
        let repo = "sentence-transformers/all-MiniLM-L6-v2";
        hub.download(repo, "main", &["config.json"], &["absent.txt"]).unwrap();
        assert_eq!(hits(), 9);
        assert!(cache
            .join("models--sentence-transformers--all-MiniLM-L6-v2/.no_exist/main/absent.txt")
            .is_file());
        hub.download(repo, "main", &["config.json"], &["absent.txt"]).unwrap();
        assert_eq!(hits(), 9);

        // A snapshot made by Python (refs/main holds a commit hash) is found through refs.
        let py = cache.join("models--org--py");
        std::fs::create_dir_all(py.join("refs")).unwrap();
        std::fs::write(py.join("refs/main"), "abc123\n").unwrap();
        std::fs::create_dir_all(py.join("snapshots/abc123")).unwrap();
        std::fs::write(py.join("snapshots/abc123/config.json"), "{}").unwrap();
        assert_eq!(
            hub.download("org/py", "main", &["config.json"], &[]).unwrap(),
            py.join("snapshots/abc123")
        );
        assert_eq!(hits(), 9);

        // An image model needs no tokenizer; its processor comes along.
        let dir = hub.resolve("hf:test/vit").unwrap();
        assert!(dir.join("preprocessor_config.json").is_file());

        // Errors.
        assert_eq!(
            err(hub.resolve("hf:nobody/nothing")),
            "hf:nobody/nothing: no file config.json at revision main (HTTP 404)"
        );
        assert_eq!(
            err(hub.resolve("hf:test/bare")),
            "hf:test/bare: neither tokenizer.json nor vocab.txt at revision main; a tokenizer is needed to read text"
        );
        assert_eq!(
            err(hub.resolve("hf:test/private")),
            "hf:test/private: HTTP 401 for config.json: the repository does not exist, or the token in HF_TOKEN cannot read it"
        );
        let anonymous = Hub { token: None, ..hub.clone() };
        assert!(err(anonymous.resolve("hf:test/private")).ends_with(
            "or if it is private or gated, set HF_TOKEN to an access token (https://huggingface.co/settings/tokens)"
        ));
        let empty_cache = Hub { offline: true, cache: tmp.join("empty"), ..hub.clone() };
        let hits_before = hits();
        assert_eq!(
            err(empty_cache.resolve("hf:org/model")),
            format!(
                "hf:org/model: HF_HUB_OFFLINE is set and the cache at {} lacks config.json, model.safetensors; \
                 unset HF_HUB_OFFLINE to download them, or pass a model directory with --model DIR",
                tmp.join("empty/models--org--model/snapshots/main").display()
            )
        );
        assert_eq!(hits(), hits_before);

        // Nothing listens: the error says which URL failed and what to do instead.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(); // closed on drop
        let unreachable = Hub {
            endpoint: format!("http://127.0.0.1:{port}"),
            cache: tmp.join("c2"),
            ..hub.clone()
        };
        let e = err(unreachable.resolve("hf:org/model@v1.0"));
        let prefix =
            format!("cannot reach http://127.0.0.1:{port}/org/model/resolve/v1.0/config.json: ");
        assert!(e.starts_with(&prefix), "{e}");
        assert!(
            e.ends_with(". Are you offline? Download the model yourself and pass its directory with --model DIR"),
            "{e}"
        );
        assert!(
            !tmp.join("c2").exists() || std::fs::read_dir(tmp.join("c2")).unwrap().count() == 0
        );

        drop(server);
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn specs_and_environment() {
        let p = |s: &str| parse_spec(s).map_err(|e| e.to_string());
        assert_eq!(p("hf:org/name").unwrap(), ("org/name".into(), "main".into()));
        assert_eq!(
            p("hf:bert-base-uncased@v1.0").unwrap(),
            ("bert-base-uncased".into(), "v1.0".into())
        );
        assert_eq!(p("hf:org/name@refs/pr/1").unwrap().1, "refs/pr/1");
        assert_eq!(
            p("org/name").unwrap_err(),
            "'org/name' is not a Hub model (no hf: prefix): expected hf:org/name or hf:org/name@revision"
        );
        for bad in [
            "hf:",
            "hf:a/b/c",
            "hf:../x",
            "hf:a/..",
            "hf:a--b/c",
            "hf:a/b@",
            "hf:a/b@../x",
            "hf:a/b@x//y",
            "hf:a b/c",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
        assert_eq!(encode("refs/pr/1", false), "refs%2Fpr%2F1");
        assert_eq!(encode("1_Pooling/config.json", true), "1_Pooling/config.json");
        assert!(
            check_file("../x").is_err()
                && check_file("/etc/passwd").is_err()
                && check_file("a/b.json").is_ok()
        );

        let vars = |pairs: &[(&str, &str)]| {
            let m: HashMap<String, String> =
                pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            Hub::from_vars(move |k| m.get(k).cloned())
        };
        let h = vars(&[("HOME", "/home/u")]).unwrap();
        assert_eq!(
            (h.endpoint.as_str(), h.cache.as_path()),
            ("https://huggingface.co", Path::new("/home/u/.cache/huggingface/hub"))
        );
        assert!(!h.offline && h.token.is_none());
        let h = vars(&[
            ("HOME", "/home/u"),
            ("HF_HOME", "/hf"),
            ("HF_HUB_OFFLINE", "1"),
            ("HF_TOKEN", "t"),
            ("HF_ENDPOINT", "http://m/"),
        ])
        .unwrap();
        assert_eq!(
            (h.endpoint.as_str(), h.cache.as_path(), h.offline, h.token.as_deref()),
            ("http://m", Path::new("/hf/hub"), true, Some("t"))
        );
        let h = vars(&[
            ("HF_HOME", "/hf"),
            ("HF_HUB_CACHE", "/c"),
            ("HF_HUB_OFFLINE", "0"),
            ("HF_TOKEN", ""),
        ])
        .unwrap();
        assert_eq!((h.cache.as_path(), h.offline, h.token), (Path::new("/c"), false, None));
        assert!(vars(&[]).is_err());
    }
}
