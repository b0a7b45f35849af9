//! `tixbridge wallet organizer list | rotate-key` through the real binary, against a
//! real `tixbridge wallet serve` process sharing the database: a rotated key stops
//! working at once on the running service. On SQLite, and on PostgreSQL when
//! `TIXBRIDGE_TEST_PG` is set (mandatory under `CI=true`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

fn tixbridge(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tixbridge"))
        .args(args)
        .current_dir(dir)
        .env_remove("TIXBRIDGE_WALLET_DB")
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A running `wallet serve` on a free port; killed when dropped.
struct Service {
    child: Child,
    addr: String,
}

impl Service {
    fn start(dir: &Path, db: &str) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tixbridge"))
            .args(["wallet", "serve", "--listen", "127.0.0.1:0", "--db", db])
            .current_dir(dir)
            .env_remove("TIXBRIDGE_WALLET_DB")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("wallet serve starts");
        let mut first = String::new();
        BufReader::new(child.stdout.as_mut().expect("stdout"))
            .read_line(&mut first)
            .expect("the service says where it listens");
        let addr = first
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_owned();
        Service { child, addr }
    }

    /// The HTTP status of `GET /organizer/events` with `X-Api-Key: key`.
    fn status_with_key(&self, key: &str) -> u16 {
        let mut s = TcpStream::connect(&self.addr).expect("connect");
        write!(
            s,
            "GET /organizer/events HTTP/1.1\r\nHost: {}\r\nX-Api-Key: {key}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .expect("send");
        let mut answer = String::new();
        s.read_to_string(&mut answer).expect("answer");
        answer
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status in {answer:?}"))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rotate_on(dir: &Path, db: &str) {
    let out = stdout(&tixbridge(
        dir,
        &[
            "wallet",
            "organizer",
            "create",
            "--name",
            "Club A",
            "--db",
            db,
        ],
    ));
    let old_key = out.lines().last().expect("key line").trim().to_owned();
    stdout(&tixbridge(
        dir,
        &[
            "wallet",
            "organizer",
            "create",
            "--name",
            "Club B",
            "--db",
            db,
        ],
    ));

    let list = stdout(&tixbridge(
        dir,
        &["wallet", "organizer", "list", "--db", db],
    ));
    let rows: Vec<Vec<&str>> = list.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows[0], ["ID", "NAME", "CREATED"], "{list}");
    assert_eq!(rows.len(), 3, "{list}");
    assert_eq!(rows[1][1], "Club A");
    assert_eq!(rows[2][1], "Club B");
    assert!(!list.contains(&old_key), "a listing never shows a key");
    let id = rows[1][0];

    let service = Service::start(dir, db);
    assert_eq!(service.status_with_key(&old_key), 200);
    let out = stdout(&tixbridge(
        dir,
        &["wallet", "organizer", "rotate-key", "--id", id, "--db", db],
    ));
    let new_key = out.lines().last().expect("key line").trim().to_owned();
    assert!(new_key.starts_with("tnk_") && new_key.len() == 68, "{out}");
    assert_eq!(out.matches(&new_key).count(), 1, "printed once");
    assert_ne!(new_key, old_key);
    // At once, on the service that was running all along.
    assert_eq!(service.status_with_key(&old_key), 401);
    assert_eq!(service.status_with_key(&new_key), 200);

    let o = tixbridge(
        dir,
        &[
            "wallet",
            "organizer",
            "rotate-key",
            "--id",
            "999999",
            "--db",
            db,
        ],
    );
    assert!(!o.status.success(), "an unknown organizer is an error");
    assert!(String::from_utf8_lossy(&o.stderr).contains("999999"));
}

#[test]
fn a_rotated_key_stops_at_once_on_a_running_service_sqlite() {
    let tmp = tempfile::tempdir().expect("temp dir");
    rotate_on(tmp.path(), "sqlite:w.db");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_stops_at_once_on_a_running_service_postgres() {
    let Some(base) = tixbridge_store::testing::pg_test_url() else {
        eprintln!("TIXBRIDGE_TEST_PG not set: skipping the PostgreSQL run");
        return;
    };
    let (url, schema) = tixbridge_store::testing::fresh_schema(&base, "cli");
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().to_owned();
    let outcome = tokio::task::spawn_blocking(move || rotate_on(&dir, &url)).await;
    tixbridge_store::testing::drop_schema(&base, &schema).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
