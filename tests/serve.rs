//! `edgetune serve` end to end, with the real binary on a free port: it refuses an open address
//! without a token; 401, 413, 400 and path escapes; a predict round trip; examples, a training
//! run, its status and activating its model (also after a restart); an interrupted run marked
//! so; and a power-cut test: SIGKILL at random moments while examples are posted, 20 times,
//! every acknowledged example still there and the store parsing; a generative model's answers
//! streamed from POST /generate as JSON lines, the same as one JSON answer, bad settings a 400.

mod cli_common;
mod common;
mod serve_common;

use cli_common::edgetune;
use serde_json::{json, Value};
use serve_common::{b64, digit_files, test_model, Server};
use std::time::{Duration, Instant};

const TOKEN: &str = "0123456789abcdef-test-token";

#[test]
fn refuses_an_open_address_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let out = edgetune().args(["serve", "--listen", "0.0.0.0:0", "--model"]).arg(dir.path()).arg("--data-dir").arg(dir.path().join("d")).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to listen on 0.0.0.0:0 without a token"), "{err}");
    // A token file that is too short is refused too.
    std::fs::write(dir.path().join("t"), "short").unwrap();
    let out = edgetune().args(["serve", "--listen", "0.0.0.0:0", "--token-file"]).arg(dir.path().join("t")).arg("--model").arg(dir.path()).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("the token is 5 characters long"));
}

#[test]
fn token_limits_and_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let s = Server::start(&test_model(), &dir.path().join("data"), &["--token-file", token_file.to_str().unwrap(), "--max-body-mb", "1"]);
    let tok = Some(TOKEN);
    assert_eq!(s.req("GET", "/health", None, b"").0, 200, "health needs no token");
    let body = json!({ "images": [b64(&digit_files(0)[0])] }).to_string();
    assert_eq!(s.req("POST", "/predict", None, body.as_bytes()).0, 401);
    assert_eq!(s.req("POST", "/predict", Some("0123456789abcdef-wrong-token"), body.as_bytes()).0, 401);
    assert_eq!(s.req("GET", "/metrics", None, b"").0, 401);
    let (code, v) = s.req("POST", "/predict", tok, body.as_bytes());
    assert_eq!(code, 200, "{v}");
    let big = vec![b'x'; 2 << 20];
    assert_eq!(s.req("POST", "/examples", tok, &big).0, 413);
    let (code, v) = s.req("POST", "/examples", tok, b"{\"examples\": [{\"text\": \"hi\",");
    assert_eq!(code, 400);
    assert!(v["error"].as_str().unwrap().contains("EOF while parsing"), "{v}");
    let (code, v) = s.req("POST", "/predict", tok, br#"{"texts": "not a list"}"#);
    assert_eq!(code, 400);
    assert!(v["error"].as_str().unwrap().contains("invalid type: string \"not a list\", expected a sequence"), "{v}");
    let (code, v) = s.req("POST", "/predict", tok, br#"{"images": ["aGVsbG8="]}"#);
    assert_eq!((code, v["error"].as_str().unwrap()), (400, "images[0]: not a PNG or JPEG file (its first bytes are neither format's signature)"));
    let (code, v) = s.req("POST", "/examples", tok, json!({"examples": [{"image": b64(&digit_files(1)[0]), "label": "../../etc"}]}).to_string().as_bytes());
    assert_eq!(code, 400, "{v}");
    // Model and run ids that are paths cannot leave the data directory.
    for (path, want) in [("/models/..%2F..%2Fetc/activate", 400), ("/models/../activate", 400), ("/models/.hidden/activate", 400), ("/models/nope/activate", 404), ("/runs/..", 400), ("/runs/nope", 404)] {
        let method = if path.starts_with("/runs") { "GET" } else { "POST" };
        let (code, v) = s.req(method, path, tok, b"");
        assert_eq!(code, want, "{path}: {v}");
    }
    let (code, v) = s.req("GET", "/metrics", tok, b"");
    assert_eq!(code, 200);
    let text = v.as_str().unwrap();
    assert!(text.contains("edgetune_requests_total{route=\"/predict\",status=\"401\"} 2"), "{text}");
    assert!(text.contains("edgetune_request_duration_seconds_count{route=\"/predict\"}"), "{text}");
}

fn wait_run(s: &Server, id: &str) -> Value {
    let start = Instant::now();
    loop {
        let (code, v) = s.req("GET", &format!("/runs/{id}"), None, b"");
        assert_eq!(code, 200, "{v}");
        if v["state"] != "running" {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "run still going: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn predict_examples_train_activate_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let model = test_model();
    let s = Server::start(&model, &data, &[]);
    let imgs: Vec<String> = [0, 1, 2].iter().map(|&c| b64(&digit_files(c)[100])).collect();
    let (code, v) = s.json("POST", "/predict", &json!({ "images": imgs }));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["model"], "base");
    let preds = v["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 3);
    for p in preds {
        assert!(["d0", "d1", "d2"].contains(&p["label"].as_str().unwrap()), "{p}");
        let total: f64 = p["probs"].as_object().unwrap().values().map(|x| x.as_f64().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-4, "{p}");
    }
    assert_eq!(s.json("POST", "/train", &json!({})).0, 400, "no examples yet");
    // A new class, d3, and a few more of an old one.
    let mut examples: Vec<Value> = digit_files(3).iter().take(12).map(|f| json!({ "image": b64(f), "label": "d3" })).collect();
    examples.extend(digit_files(0).iter().skip(40).take(4).map(|f| json!({ "image": b64(f), "label": "d0" })));
    let (code, v) = s.json("POST", "/examples", &json!({ "examples": examples }));
    assert_eq!((code, v["stored"].as_u64()), (201, Some(16)), "{v}");
    let (code, v) = s.json("POST", "/train", &json!({ "epochs": 2, "bogus": 1 }));
    assert_eq!(code, 400, "{v}");
    let (code, v) = s.json("POST", "/train", &json!({ "epochs": 2 }));
    assert_eq!(code, 202, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let (second, v2) = s.json("POST", "/train", &json!({}));
    let status = wait_run(&s, &id);
    assert!(second == 409 || status["finished_s"].is_number(), "{second} {v2}");
    assert_eq!(status["state"], "done", "{status}");
    assert_eq!(status["examples"], 16);
    assert!(status["step"].as_u64().unwrap() > 0 && status["loss"].as_f64().unwrap().is_finite(), "{status}");
    let (code, v) = s.req("POST", &format!("/models/{id}/activate"), None, b"");
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["active"]["labels"], json!(["d0", "d1", "d2", "d3"]));
    let (code, v) = s.json("POST", "/predict", &json!({ "images": [b64(&digit_files(3)[150])] }));
    assert_eq!((code, v["model"].as_str()), (200, Some(id.as_str())));
    assert_eq!(v["predictions"][0]["probs"].as_object().unwrap().len(), 4);

    // A run cut short by a crash is marked interrupted after the restart; the activated model
    // and the examples are still there.
    let (code, v) = s.json("POST", "/train", &json!({ "epochs": 50 }));
    assert_eq!(code, 202, "{v}");
    let cut = v["id"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(500));
    s.kill();
    let s = Server::start(&model, &data, &[]);
    let (_, health) = s.req("GET", "/health", None, b"");
    assert_eq!((health["model"]["id"].as_str(), health["examples"].as_u64()), (Some(id.as_str()), Some(16)), "{health}");
    let (_, v) = s.req("GET", &format!("/runs/{cut}"), None, b"");
    assert_eq!(v["state"], "interrupted", "{v}");
    assert_eq!(s.req("POST", "/models/base/activate", None, b"").0, 200);
}

/// A tiny deterministic generator for the kill delays (xorshift).
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn power_cut_keeps_every_acknowledged_example() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let model = test_model();
    let mut acked: Vec<String> = Vec::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut n = 0;
    for round in 0..20 {
        let s = Server::start(&model, &data, &[]);
        let (_, health) = s.req("GET", "/health", None, b"");
        assert!(health["examples"].as_u64().unwrap() >= acked.len() as u64, "round {round}: {health}");
        let kill_after = Duration::from_millis(20 + next(&mut rng) % 300);
        let addr = s.addr.clone();
        let start = Instant::now();
        let poster = std::thread::spawn(move || {
            let mut ok = Vec::new();
            loop {
                n += 1;
                let batch: Vec<Value> = (0..1 + n % 3).map(|k| json!({ "text": format!("example {round}-{n}-{k} \u{e9}\"quoted\"\n"), "label": format!("l{}", k) })).collect();
                let body = json!({ "examples": batch }).to_string();
                match serve_common::request(&addr, "POST", "/examples", None, body.as_bytes()) {
                    Ok((201, _)) => ok.extend(batch.iter().map(|e| e["text"].as_str().unwrap().to_string())),
                    _ => return (ok, n),
                }
            }
        });
        std::thread::sleep(kill_after.saturating_sub(start.elapsed()));
        s.kill();
        let (ok, last) = poster.join().unwrap();
        n = last;
        acked.extend(ok);
    }
    let s = Server::start(&model, &data, &[]);
    let stored: Vec<Value> = std::fs::read_to_string(data.join("examples.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).expect(l)).collect();
    let texts: std::collections::HashSet<&str> = stored.iter().map(|e| e["text"].as_str().unwrap()).collect();
    for t in &acked {
        assert!(texts.contains(t.as_str()), "acknowledged example {t:?} lost");
    }
    let ids: std::collections::HashSet<u64> = stored.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), stored.len(), "ids are unique");
    assert!(acked.len() >= 20, "only {} examples acknowledged in 20 rounds", acked.len());
    let (_, health) = s.req("GET", "/health", None, b"");
    assert_eq!(health["examples"].as_u64(), Some(stored.len() as u64));
    eprintln!("{} examples acknowledged over 20 kills, {} stored", acked.len(), stored.len());
}

#[test]
fn torn_last_line_is_dropped_and_damage_before_it_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let model = test_model();
    let s = Server::start(&model, &data, &[]);
    let (code, _) = s.json("POST", "/examples", &json!({ "examples": [{ "text": "kept", "label": "a" }, { "text": "also kept", "label": "b" }] }));
    assert_eq!(code, 201);
    s.kill();
    let file = data.join("examples.jsonl");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend_from_slice(br#"{"id":3,"text":"never ackno"#);
    std::fs::write(&file, &bytes).unwrap();
    let s = Server::start(&model, &data, &[]);
    assert!(s.log.lock().unwrap().contains("dropping an incomplete last line of 27 bytes"));
    let (code, v) = s.json("POST", "/examples", &json!({ "examples": [{ "text": "next", "label": "a" }] }));
    assert_eq!((code, v["ids"].clone(), v["stored"].as_u64()), (201, json!([3]), Some(3)));
    s.kill();
    let lines: Vec<String> = std::fs::read_to_string(&file).unwrap().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3);
    // Damage before the last line is not a crash's doing: refuse to guess.
    std::fs::write(&file, format!("{}\ngarbage\n{}\n", lines[0], lines[2])).unwrap();
    let out = edgetune().args(["serve", "--listen", "127.0.0.1:0", "--model"]).arg(&model).arg("--data-dir").arg(&data).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("examples.jsonl line 2: not a stored example"), "{err}");
}

/// A chunked HTTP body put back together.
fn dechunk(body: &str) -> String {
    let (mut out, mut rest) = (String::new(), body);
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&tail[..n]);
        rest = &tail[n..].trim_start_matches("\r\n");
    }
    out
}

#[test]
fn generate_streams_answers() {
    let gguf = common::shared("models/SmolLM2-135M-Instruct-Q4_1/SmolLM2-135M-Instruct.Q4_1.gguf");
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&gguf, dir.path(), &[]);
    let (code, health) = s.req("GET", "/health", None, b"");
    assert_eq!((code, health["generator"]["family"].as_str(), health["generator"]["chat_template"].as_bool()), (200, Some("llama"), Some(true)));

    let ask = json!({"messages": [{"role": "user", "content": "What is the capital of France?"}], "max_new_tokens": 8});
    let (code, body) = s.json("POST", "/generate", &ask);
    assert_eq!(code, 200, "{body}");
    let lines: Vec<Value> = dechunk(body.as_str().unwrap()).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let (last, pieces) = lines.split_last().unwrap();
    assert!(pieces.len() >= 2 && last["done"] == json!(true), "{lines:?}");
    let streamed: String = pieces.iter().map(|p| p["text"].as_str().unwrap()).collect();
    assert_eq!(streamed, last["text"].as_str().unwrap());
    assert!(last["tokens"].as_u64().unwrap() <= 8);
    // Greedy: the same answer in one piece.
    let mut once = ask.clone();
    once["stream"] = json!(false);
    let (code, one) = s.json("POST", "/generate", &once);
    assert_eq!((code, one["text"].as_str()), (200, last["text"].as_str()));
    assert!(streamed.contains("Paris"), "{streamed}");

    // Refused before anything streams, by name; the classifier's routes say what is served.
    let (code, e) = s.json("POST", "/generate", &json!({"prompt": "Hi", "temperature": -1}));
    assert!(code == 400 && e["error"].as_str().unwrap().contains("temperature"), "{e}");
    let (code, e) = s.json("POST", "/generate", &json!({"prompt": "Hi", "max_new_token": 3}));
    assert!(code == 400 && e["error"].as_str().unwrap().contains("max_new_token"), "{e}");
    let (code, e) = s.json("POST", "/generate", &json!({"messages": [{"role": "robot", "content": "beep"}]}));
    assert!(code == 400 && e["error"].as_str().unwrap().contains("role"), "{e}");
    let (code, e) = s.json("POST", "/predict", &json!({"texts": ["hi"]}));
    assert!(code == 409 && e["error"].as_str().unwrap().contains("/generate"), "{e}");
}
