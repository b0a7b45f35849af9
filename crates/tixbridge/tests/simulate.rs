//! `tixbridge wallet simulate` against real wallet services (`tixbridge wallet serve
//! --sandbox` child processes): equal seeds over equal tickets end in equal states.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn tixbridge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tixbridge"));
    c.env_remove("TIXBRIDGE_DB")
        .env_remove("TIXBRIDGE_WALLET_DB")
        .env_remove("TIXBRIDGE_WALLET_URL")
        .env_remove("TIXBRIDGE_API_KEY")
        .env_remove("TIXBRIDGE_WALLET_SANDBOX")
        .env("NO_COLOR", "1");
    c
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A fresh wallet service in sandbox mode with one organizer, in its own process.
struct Service {
    child: Child,
    root: String,
    key: String,
    _dir: tempfile::TempDir,
}

impl Service {
    fn start() -> Service {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = format!("sqlite:{}", dir.path().join("wallet.db").display());
        let o = tixbridge()
            .args([
                "wallet",
                "organizer",
                "create",
                "--name",
                "Sim",
                "--db",
                &db,
            ])
            .output()
            .expect("the binary runs");
        assert!(o.status.success(), "{:?}", text(&o));
        let key = text(&o).0.lines().last().expect("a key").trim().to_owned();
        let mut child = tixbridge()
            .args([
                "wallet",
                "serve",
                "--sandbox",
                "--db",
                &db,
                "--listen",
                "127.0.0.1:0",
                "--transfer-timeout",
                // Long enough that an accept never races the time-out on a loaded
                // machine, short enough to watch the pending ones fail.
                "3s",
                "--sweep-interval",
                "100ms",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the service starts");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("the service's first line");
        // Keep the pipe open and drained: the service prints more lines.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|s| s.split('/').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Service {
            child,
            root: format!("http://{addr}"),
            key,
            _dir: dir,
        }
    }

    fn simulate(&self, args: &[&str]) -> (String, String) {
        let o = tixbridge()
            .args(["wallet", "simulate", "--url", &self.root])
            .args(args)
            .env("TIXBRIDGE_API_KEY", &self.key)
            .output()
            .expect("the binary runs");
        let (out, err) = text(&o);
        assert!(o.status.success(), "{out}\n{err}");
        (out, err)
    }

    /// `POST /organizer/tickets` in calls of 50, every ticket accepted.
    async fn inject(&self, http: &reqwest::Client, tickets: &[Value]) {
        for call in tickets.chunks(50) {
            let r: Value = http
                .post(format!("{}/organizer/tickets", self.root))
                .header("X-Api-Key", &self.key)
                .json(&json!({ "tickets": call }))
                .send()
                .await
                .expect("inject")
                .json()
                .await
                .expect("JSON");
            for x in r["results"].as_array().expect("results") {
                assert_eq!(x["result"], "OK", "{x}");
            }
        }
    }

    /// Every ticket's state by id (the test stays under one page of 1,000).
    async fn states(&self, http: &reqwest::Client) -> BTreeMap<String, Value> {
        let r: Value = http
            .get(format!("{}/organizer/tickets?limit=1000", self.root))
            .header("X-Api-Key", &self.key)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("JSON");
        r["tickets"]
            .as_array()
            .expect("tickets")
            .iter()
            .map(|t| (t["ticketId"].as_str().expect("id").to_owned(), t.clone()))
            .collect()
    }

    async fn history_actions(&self, http: &reqwest::Client, id: &str) -> Vec<String> {
        let mut url = reqwest::Url::parse(&self.root).expect("url");
        url.path_segments_mut()
            .expect("base")
            .pop_if_empty()
            .extend(["organizer", "tickets", id]);
        let r: Value = http
            .get(url)
            .header("X-Api-Key", &self.key)
            .send()
            .await
            .expect("read")
            .json()
            .await
            .expect("JSON");
        r["history"]
            .as_array()
            .unwrap_or_else(|| panic!("history of {id}: {r}"))
            .iter()
            .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Tickets whose ids need encoding in a path, several per owner, and some whose
/// transfer rules forbid transfers.
fn tickets() -> Vec<Value> {
    (0..60)
        .map(|i| {
            let id = match i % 4 {
                0 => format!("SIM-{i:03}"),
                1 => format!("SIM {i:03}/A"),
                2 => format!("SIM+{i:03}(b)"),
                _ => format!("SIM*{i:03}.c_d"),
            };
            let mut t = json!({
                "ticketId": id,
                "event": {
                    "id": format!("E{}", i % 3),
                    "name": {"en": "Final", "fr": "Finale"},
                    "startTime": "2030-07-12T21:00:00+02:00",
                    "expirationDate": "2030-07-13T21:00:00+02:00",
                    "address": {"site": "Stade", "city": "Paris", "zip": "75000", "countryCode": "FR"}
                },
                "purchaseDetails": {"taxationNumber": format!("TAX-{i}"), "currency": "EUR"},
                "security": {"barcode": format!("BC-{i}")},
                "spectatorDetails": {"email": format!("owner{}@example.org", i % 12),
                                     "firstName": "Ada", "lastName": "Lovelace"}
            });
            if i % 10 == 7 {
                t["transferRules"] = json!({"allowTransfer": false});
            }
            t
        })
        .collect()
}

/// What must be equal between the two runs: status, owner, holder, transfer level.
fn outcome(states: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    states
        .iter()
        .map(|(id, s)| {
            (
                id.clone(),
                json!([
                    s["status"],
                    s["owner"]["email"],
                    s["holder"],
                    s["transferLevel"]
                ]),
            )
        })
        .collect()
}

fn pending(states: &BTreeMap<String, Value>) -> usize {
    states
        .values()
        .filter(|s| s["status"] == "PENDING_TRANSFER")
        .count()
}

#[test]
fn equal_seeds_make_equal_outcomes_and_pending_transfers_time_out() {
    let rt = runtime();
    let http = reqwest::Client::new();
    let (a, b) = (Service::start(), Service::start());
    rt.block_on(async {
        a.inject(&http, &tickets()).await;
        b.inject(&http, &tickets()).await;
    });
    let args = [
        "--seed",
        "42",
        "--download",
        "90",
        "--assign",
        "40",
        "--transfer",
        "50",
        "--accept",
        "40",
        "--reject",
        "30",
        "--activate",
        "50",
    ];
    // Different concurrency, same choices.
    let (out_a, _) = a.simulate(&[&args[..], &["--concurrency", "8"]].concat());
    let (out_b, _) = b.simulate(&[&args[..], &["--concurrency", "1"]].concat());
    let last = |out: &str| out.lines().last().unwrap_or_default().to_owned();
    assert!(last(&out_a).starts_with("simulate actions="), "{out_a}");
    assert_eq!(last(&out_a), last(&out_b), "{out_a}\n{out_b}");
    assert!(out_a.contains("TRANSFER_NOT_ALLOWED"), "{out_a}");
    let left_pending: usize = out_a
        .lines()
        .find(|l| l.contains("transfers left pending"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no pending transfers in {out_a}"));

    rt.block_on(async {
        // The transfer time-out (3 s) fails the transfers left pending.
        let deadline = Instant::now() + Duration::from_secs(20);
        let (sa, sb) = loop {
            let (sa, sb) = (a.states(&http).await, b.states(&http).await);
            if pending(&sa) + pending(&sb) == 0 || Instant::now() > deadline {
                break (sa, sb);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(sa.len(), 60);
        assert_eq!(pending(&sa) + pending(&sb), 0, "transfers still pending");
        assert_eq!(outcome(&sa), outcome(&sb));

        let mut by_status = BTreeMap::<String, usize>::new();
        for s in sa.values() {
            *by_status
                .entry(s["status"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        for want in [
            "INJECTED",
            "DOWNLOADED",
            "ASSIGNED",
            "TRANSFERRED",
            "FAILURE_TRANSFER",
            "FAILURE",
        ] {
            assert!(by_status.contains_key(want), "no {want} in {by_status:?}");
        }
        assert!(
            by_status.keys().any(|k| k.ends_with("_ACTIVATED")),
            "{by_status:?}"
        );
        assert_eq!(by_status["FAILURE"], left_pending, "{by_status:?}\n{out_a}");
        // Accepted transfers changed owners to the simulated fans.
        assert!(sa.values().any(|s| {
            s["status"] == "TRANSFERRED"
                && s["owner"]["email"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("fan-"))
        }));
        for (id, s) in &sa {
            if s["status"] == "FAILURE" {
                let actions = a.history_actions(&http, id).await;
                assert_eq!(
                    actions.last().map(String::as_str),
                    Some("TRANSFER_TIMEOUT"),
                    "{id}: {actions:?}"
                );
            }
        }
    });
}

#[test]
fn simulate_needs_a_key_from_the_environment_or_a_file() {
    let o = tixbridge()
        .args(["wallet", "simulate", "--url", "http://127.0.0.1:9"])
        .output()
        .expect("the binary runs");
    assert!(!o.status.success());
    assert!(text(&o).1.contains("no API key"), "{:?}", text(&o));
    // There is no flag that takes the key itself.
    let o = tixbridge()
        .args(["wallet", "simulate", "--api-key", "tnk_x"])
        .output()
        .expect("the binary runs");
    assert!(!o.status.success());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key");
    std::fs::write(&file, "tnk_from_file\n").unwrap();
    // Port 9 on loopback refuses: the key was read, then the wallet named.
    let o = tixbridge()
        .args(["wallet", "simulate", "--url", "http://127.0.0.1:9"])
        .arg("--api-key-file")
        .arg(Path::new(&file))
        .output()
        .expect("the binary runs");
    let (out, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("127.0.0.1:9"), "{out}\n{err}");
    assert!(!out.contains("tnk_from_file") && !err.contains("tnk_from_file"));
}
