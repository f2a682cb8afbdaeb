//! Helpers for the `edgetune serve` tests: a trained test model, starting the server on a free
//! port (it prints the bound address on stderr), and a minimal HTTP/1.1 client.
#![allow(dead_code)]

pub use crate::cli_common::digit_files;
use crate::cli_common::edgetune;
use crate::common;
use base64::Engine;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub const DEMO_MODEL: &str = "crate/assets/demo/resnet20-cifar10";

pub fn b64(path: &Path) -> String {
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(path).unwrap())
}

/// The ResNet-20 demo fine-tuned for one epoch on 30 images of digits 0, 1 and 2 (once per
/// test binary): an export with classes and a replay sample.
pub fn test_model() -> PathBuf {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap().keep();
            for class in 0..3 {
                let to = dir.join("data").join(format!("d{class}"));
                std::fs::create_dir_all(&to).unwrap();
                for f in digit_files(class).iter().take(30) {
                    std::fs::copy(f, to.join(f.file_name().unwrap())).unwrap();
                }
            }
            let export = dir.join("model");
            let out = edgetune()
                .args(["train", "--json", "--device", "cpu", "--epochs", "1", "--test-split", "0", "--valid-split", "0", "--model"])
                .arg(common::repo(DEMO_MODEL))
                .arg("--data")
                .arg(dir.join("data"))
                .arg("--run-dir")
                .arg(dir.join("run"))
                .arg("--export")
                .arg(&export)
                .output()
                .unwrap();
            assert!(out.status.success(), "training the test model failed: {}", String::from_utf8_lossy(&out.stderr));
            export
        })
        .clone()
}

pub struct Server {
    pub child: Child,
    pub addr: String,
    pub log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `edgetune serve` with `args` on 127.0.0.1:0 and waits for its address.
    pub fn start(model: &Path, data_dir: &Path, args: &[&str]) -> Server {
        let mut cmd = edgetune();
        cmd.args(["serve", "--device", "cpu", "--listen", "127.0.0.1:0", "--model"]).arg(model).arg("--data-dir").arg(data_dir).args(args);
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::new(Mutex::new(String::new()));
        let mut addr = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            log.lock().unwrap().push_str(&format!("{line}\n"));
            if let Some(a) = line.strip_prefix("listening on http://") {
                addr = Some(a.to_string());
                break;
            }
        }
        let Some(addr) = addr else {
            let _ = child.wait();
            panic!("the server did not start: {}", log.lock().unwrap());
        };
        // Keep reading stderr so the server never blocks on a full pipe.
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        Server { child, addr, log }
    }

    pub fn req(&self, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, Value) {
        request(&self.addr, method, path, token, body).unwrap_or_else(|e| panic!("{method} {path}: {e}\nserver log:\n{}", self.log.lock().unwrap()))
    }

    pub fn json(&self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        self.req(method, path, None, body.to_string().as_bytes())
    }

    /// SIGKILL, as a power cut would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on a fresh connection: (status, body as JSON, or as a string).
pub fn request(addr: &str, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> std::io::Result<(u16, Value)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n", body.len());
    s.write_all(head.as_bytes())?;
    // A server refusing the body may answer before reading all of it: the answer still counts.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    if let Err(e) = s.read_to_end(&mut raw) {
        if raw.is_empty() {
            return Err(e);
        }
    }
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| std::io::Error::other(format!("no HTTP answer: {text:?}")))?;
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| std::io::Error::other(format!("no status in {head:?}")))?;
    Ok((status, serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string()))))
}
