//! Executions, their history and the configuration commands, through the real binary:
//! `run` (exit codes, SIGTERM, one execution of a schedule at a time across
//! processes), `executions`, `execution show`, `interface show|update`,
//! `schedule list|show|update|delete`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn tixbridge_cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tixbridge"));
    c.args(args)
        .current_dir(dir)
        .env_remove("TIXBRIDGE_DB")
        .env_remove("TIXBRIDGE_WALLET_DB")
        .env_remove("TIXBRIDGE_ORG")
        .env_remove("TIXBRIDGE_LEASE")
        .env("NO_COLOR", "1")
        .env("TIXBRIDGE_API_KEY", "tnk_very_secret_value");
    c
}

fn tixbridge(dir: &Path, args: &[&str]) -> Output {
    tixbridge_cmd(dir, args).output().expect("the binary runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Asserts success and returns standard output.
fn ok(o: Output) -> String {
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    out
}

/// Asserts failure and returns standard error.
fn fails(o: Output) -> String {
    let (out, err) = text(&o);
    assert!(!o.status.success(), "{out}\n{err}");
    err
}

fn csv_of(n: u32) -> String {
    let header = "ticket_id,tax_number,barcode,product_code,product_kind,product_name,performance_code,performance_name,performance_start,site_code,site_name,site_city,site_zip,site_country,contact_number,contact_email,contact_first_name,contact_last_name";
    let mut s = format!("{header}\n");
    for id in 1..=n {
        s.push_str(&format!(
            "{id},TX{id},BC{id},M1,MATCH,Final,P1,France - Brazil,2030-06-14T19:00:00Z,STADE,Stadium,Paris,75000,FR,C{id},fan{id}@example.org,Ann,Able\n"
        ));
    }
    s
}

/// A ticketing database with `n` tickets of organization ORG and an interface `w`
/// pointing at `url`; returns the database URL.
fn ticketing(dir: &Path, n: u32, url: &str, params: &[&str]) -> String {
    ticketing_with_key(dir, n, url, params, "tnk_very_secret_value")
}

/// [`ticketing`] with the interface's wallet API key.
fn ticketing_with_key(dir: &Path, n: u32, url: &str, params: &[&str], key: &str) -> String {
    let db = format!("sqlite:{}", dir.join("t.db").display());
    let csv = dir.join("t.csv");
    std::fs::write(&csv, csv_of(n)).unwrap();
    let csv = csv.to_str().unwrap();
    ok(tixbridge(
        dir,
        &["import", "tickets", csv, "--db", &db, "--org", "ORG"],
    ));
    let mut args = vec![
        "interface",
        "create",
        "--db",
        &db,
        "--org",
        "ORG",
        "--name",
        "w",
        "--url",
        url,
    ];
    for p in params {
        args.extend(["--param", p]);
    }
    ok(tixbridge_cmd(dir, &args)
        .env("TIXBRIDGE_API_KEY", key)
        .output()
        .unwrap());
    db
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[test]
fn run_exit_codes_history_and_export() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Port 9 on loopback refuses: the wallet is down.
    let db = ticketing(dir, 2, "http://127.0.0.1:9/organizer/tickets", &[]);
    ok(tixbridge(
        dir,
        &[
            "schedule",
            "create-injection",
            "--db",
            &db,
            "--interface",
            "w",
            "--name",
            "inj",
            "--pos",
            "WEB;P1",
        ],
    ));
    let o = tixbridge(dir, &["run", "inj", "--db", &db]);
    assert_eq!(o.status.code(), Some(1), "ERROR exits 1: {:?}", text(&o));
    let o = tixbridge(dir, &["run", "nope", "--db", &db]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "could not run exits 2: {:?}",
        text(&o)
    );
    assert!(text(&o).1.contains("no schedule is named \"nope\""));

    let out = ok(tixbridge(
        dir,
        &["executions", "--schedule", "inj", "--db", &db],
    ));
    assert!(out.starts_with("#1\tERROR"), "{out}");
    let list = json(&ok(tixbridge(
        dir,
        &[
            "executions",
            "--schedule",
            "inj",
            "--db",
            &db,
            "--format",
            "json",
        ],
    )));
    assert_eq!(list[0]["state"], "ERROR");
    assert_eq!(list[0]["failed"], 2);
    assert!(list[0]["ended_at"].is_string());
    let csv = ok(tixbridge(
        dir,
        &[
            "executions",
            "--schedule",
            "inj",
            "--db",
            &db,
            "--format",
            "csv",
        ],
    ));
    assert!(
        csv.starts_with("id,schedule,state,started_at,ended_at,selected"),
        "{csv}"
    );

    let out = ok(tixbridge(dir, &["execution", "show", "1", "--db", &db]));
    assert!(out.contains("execution #1 of inj: ERROR"), "{out}");
    assert!(
        out.contains("failed 2") && out.contains("WALLET_UNREACHABLE"),
        "{out}"
    );
    let csv = ok(tixbridge(
        dir,
        &["execution", "show", "1", "--db", &db, "--format", "csv"],
    ));
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let headers: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(
        headers,
        [
            "execution_id",
            "key",
            "ticket_id",
            "tax_number",
            "code",
            "message"
        ]
    );
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert!(rows.iter().any(|r| &r[4] == "WALLET_UNREACHABLE"), "{csv}");
    // Pages: one error at a time, each page naming the key of the next.
    let mut after = 0i64;
    let mut seen = 0;
    loop {
        let page = json(&ok(tixbridge(
            dir,
            &[
                "execution",
                "show",
                "1",
                "--db",
                &db,
                "--format",
                "json",
                "--limit",
                "1",
                "--after",
                &after.to_string(),
            ],
        )));
        assert_eq!(page["execution"]["id"], 1);
        seen += page["errors"].as_array().unwrap().len();
        match page["next_after"].as_i64() {
            Some(k) => after = k,
            None => break,
        }
    }
    assert_eq!(seen, rows.len());
    let err = fails(tixbridge(dir, &["execution", "show", "99", "--db", &db]));
    assert!(err.contains("no execution has id 99"), "{err}");
}

#[test]
fn interface_show_and_update_check_like_create() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = ticketing(
        dir,
        1,
        "http://127.0.0.1:9/organizer/tickets",
        &["ticketIterationSize=10"],
    );
    let show = || ok(tixbridge(dir, &["interface", "show", "w", "--db", &db]));
    let out = show();
    assert!(out.contains("api key: set"), "{out}");
    assert!(out.contains("    ticketIterationSize=10"), "{out}");
    assert!(
        out.contains("organization: ORG") && out.contains("login: admin"),
        "{out}"
    );
    assert!(!out.contains("very_secret"));

    let update = |args: &[&str]| {
        let mut a = vec!["interface", "update", "w", "--db", &db];
        a.extend_from_slice(args);
        tixbridge(dir, &a)
    };
    let err = fails(update(&["--url", "http://127.0.0.1:9/organizer"]));
    assert!(err.contains("must end with organizer/tickets"), "{err}");
    let err = fails(update(&["--param", "colour=blue"]));
    assert!(
        err.contains("\"colour\"") && err.contains("known keys"),
        "{err}"
    );
    let err = fails(update(&["--emails", "not-an-address"]));
    assert!(err.contains("not-an-address"), "{err}");
    let o = tixbridge_cmd(
        dir,
        &[
            "interface",
            "update",
            "w",
            "--db",
            &db,
            "--api-key-env",
            "EMPTY_KEY",
        ],
    )
    .env("EMPTY_KEY", " ")
    .output()
    .unwrap();
    assert!(fails(o).contains("API key"));
    // Nothing of the refused updates was stored.
    assert_eq!(show(), out);

    let o = tixbridge_cmd(
        dir,
        &[
            "interface",
            "update",
            "w",
            "--db",
            &db,
            "--param",
            "killRatio=0.2",
            "--login",
            "ops",
            "--emails",
            "night@example.org",
            "--api-key-env",
            "NEW_KEY",
        ],
    )
    .env("NEW_KEY", "tnk_another_secret")
    .output()
    .unwrap();
    let (o_out, o_err) = text(&o);
    assert!(o.status.success(), "{o_out}{o_err}");
    assert!(!o_out.contains("another_secret") && !o_err.contains("another_secret"));
    let out = show();
    assert!(
        out.contains("    ticketIterationSize=10\n    killRatio=0.2"),
        "{out}"
    );
    assert!(
        out.contains("login: ops") && out.contains("night@example.org"),
        "{out}"
    );
    ok(update(&["--param", "killRatio=0.5", "--replace-params"]));
    let out = show();
    assert!(
        out.contains("    killRatio=0.5") && !out.contains("ticketIterationSize"),
        "{out}"
    );
    assert!(
        fails(tixbridge(dir, &["interface", "show", "x", "--db", &db])).contains("no interface")
    );
}

#[test]
fn schedules_are_listed_shown_updated_and_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = ticketing(dir, 1, "http://127.0.0.1:9/organizer/tickets", &[]);
    ok(tixbridge(
        dir,
        &[
            "schedule",
            "create-injection",
            "--db",
            &db,
            "--interface",
            "w",
            "--name",
            "inj",
            "--pos",
            "WEB;P1",
            "--category",
            "CAT1",
            "--simulation",
        ],
    ));
    let out = ok(tixbridge(
        dir,
        &["schedule", "list", "--db", &db, "--interface", "w"],
    ));
    assert!(
        out.contains(
            "inj\tTickets injection\tmanual\tbatch 1000\tfilters: category CAT1\tsimulation: yes\tnever run"
        ),
        "{out}"
    );
    let update = |args: &[&str]| {
        let mut a = vec!["schedule", "update", "inj", "--db", &db];
        a.extend_from_slice(args);
        tixbridge(dir, &a)
    };
    assert!(fails(update(&["--batch-size", "0"])).contains("batch size 0"));
    assert!(fails(update(&["--pos", "WEB"])).contains("salesChannelCode;posCode"));
    assert!(fails(update(&["--main-applicant", "SOME"])).contains("main applicant rule"));
    let out = ok(update(&[
        "--category",
        "",
        "--performance",
        "P1",
        "--simulation",
        "false",
        "--every-secs",
        "300",
        "--batch-size",
        "50",
    ]));
    assert!(out.contains("schedule inj updated"), "{out}");
    let out = ok(tixbridge(dir, &["schedule", "show", "inj", "--db", &db]));
    for want in [
        "function: Tickets injection",
        "launch: every 300s",
        "batch size: 50",
        "filters: performance P1",
        "simulation: no",
        "\"WEB\"",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    ok(update(&["--manual"]));
    let out = ok(tixbridge(dir, &["schedule", "show", "inj", "--db", &db]));
    assert!(out.contains("launch: manual"), "{out}");
    assert!(fails(update(&["--notify-spectator", "true"])).contains("--notify-spectator"));

    // Every function's schedule is updated the same way; options it lacks are refused.
    ok(tixbridge(
        dir,
        &[
            "schedule",
            "create-push-cancelled",
            "--db",
            &db,
            "--interface",
            "w",
            "--name",
            "pc",
        ],
    ));
    let update_pc = |args: &[&str]| {
        let mut a = vec!["schedule", "update", "pc", "--db", &db];
        a.extend_from_slice(args);
        tixbridge(dir, &a)
    };
    let err = fails(update_pc(&["--barcode-prefix", "X"]));
    assert!(
        err.contains("runs Push cancelled: --barcode-prefix") && err.contains("does not apply"),
        "{err}"
    );
    assert!(fails(update_pc(&["--date-from", "yesterday"])).contains("--date-from"));
    ok(update_pc(&[
        "--notify-spectator",
        "true",
        "--date-from",
        "2026-06-01T00:00:00Z",
        "--skip",
        "TX9",
    ]));
    // Feedback's file to upload is a page of the change feed: a malformed one is
    // refused naming what is wrong, before anything runs.
    ok(tixbridge(
        dir,
        &[
            "schedule",
            "create-feedback",
            "--db",
            &db,
            "--interface",
            "w",
            "--name",
            "fb",
        ],
    ));
    let page = dir.join("page.json");
    std::fs::write(&page, "{\"tickets\": [{\"ticketId\": \"1\"}]}").unwrap();
    let err = fails(tixbridge(
        dir,
        &["run", "fb", "--db", &db, "--file", page.to_str().unwrap()],
    ));
    assert!(
        err.contains("not a page of the change feed") && err.contains("missing field"),
        "{err}"
    );
    // A malformed file to upload is refused naming its line, before anything runs.
    let bad = dir.join("upload.txt");
    std::fs::write(&bad, "# tickets to push\nid:x\n").unwrap();
    let err = fails(tixbridge(
        dir,
        &["run", "pc", "--db", &db, "--file", bad.to_str().unwrap()],
    ));
    assert!(err.contains("upload.txt line 2: entry \"id:x\""), "{err}");
    let out = ok(tixbridge(dir, &["schedule", "show", "pc", "--db", &db]));
    for want in [
        "\"notify_spectator\":true",
        "\"date_from\":\"2026-06-01T00:00:00Z\"",
        "\"TX9\"",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    let out = ok(tixbridge(dir, &["schedule", "delete", "inj", "--db", &db]));
    assert!(out.contains("deleted"), "{out}");
    assert!(
        fails(tixbridge(dir, &["schedule", "show", "inj", "--db", &db])).contains("no schedule")
    );
}

/// A loopback proxy that holds every chunk the client sends for `delay` before
/// passing it on: a slow wallet in front of the real one.
fn slow_proxy(target: std::net::SocketAddr, delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(target) else {
                continue;
            };
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 16];
                while let Ok(n) = c_in.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    std::thread::sleep(delay);
                    if s_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = s_out.shutdown(std::net::Shutdown::Write);
            });
            let (mut s_in, mut c_out) = (server, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_in, &mut c_out);
                let _ = c_out.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    port
}

/// `tixbridge wallet serve` on a free loopback port; returns the child and the address.
fn wallet_serve(dir: &Path, db: &str) -> (Child, std::net::SocketAddr) {
    wallet_serve_with(dir, db, &[])
}

/// [`wallet_serve`] with more options (`--sandbox`).
fn wallet_serve_with(dir: &Path, db: &str, extra: &[&str]) -> (Child, std::net::SocketAddr) {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let listen = addr.to_string();
    let mut args = vec!["wallet", "serve", "--listen", &listen, "--db", db];
    args.extend(extra);
    let child = tixbridge_cmd(dir, &args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "the wallet service did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, addr)
}

fn sigterm(child: &Child) {
    let s = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(s.success());
}

fn wait(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wallet_ticket_count(db: &str) -> u64 {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = tixbridge_store::open_wallet(db).await.unwrap();
        let org = store.organizers().await.unwrap().remove(0);
        store
            .count_by_status(org.id)
            .await
            .unwrap()
            .iter()
            .map(|(_, n)| n)
            .sum()
    })
}

#[test]
fn sigterm_during_run_stops_sending_marks_what_was_accepted_and_records_the_end() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let wallet_db = format!("sqlite:{}", dir.join("w.db").display());
    let out = ok(tixbridge(
        dir,
        &[
            "wallet",
            "organizer",
            "create",
            "--name",
            "Org",
            "--db",
            &wallet_db,
        ],
    ));
    let key = out.lines().last().unwrap().trim().to_owned();
    let (mut wallet, addr) = wallet_serve(dir, &wallet_db);
    let port = slow_proxy(addr, Duration::from_millis(300));
    let url = format!("http://127.0.0.1:{port}/organizer/tickets");
    let db = {
        let n = 200;
        let d = format!("sqlite:{}", dir.join("t.db").display());
        let csv = dir.join("t.csv");
        std::fs::write(&csv, csv_of(n)).unwrap();
        ok(tixbridge(
            dir,
            &[
                "import",
                "tickets",
                csv.to_str().unwrap(),
                "--db",
                &d,
                "--org",
                "ORG",
            ],
        ));
        let o = tixbridge_cmd(
            dir,
            &[
                "interface",
                "create",
                "--db",
                &d,
                "--org",
                "ORG",
                "--name",
                "w",
                "--url",
                &url,
                "--param",
                "ticketIterationSize=10",
            ],
        )
        .env("TIXBRIDGE_API_KEY", &key)
        .output()
        .unwrap();
        ok(o);
        d
    };
    ok(tixbridge(
        dir,
        &[
            "schedule",
            "create-injection",
            "--db",
            &db,
            "--interface",
            "w",
            "--name",
            "inj",
            "--pos",
            "WEB;P1",
        ],
    ));
    let mut run = tixbridge_cmd(
        dir,
        &[
            "run",
            "inj",
            "--db",
            &db,
            "--in-flight",
            "1",
            "--lease",
            "5s",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(run.try_wait().unwrap().is_none(), "the run ended too early");
    // Another process cannot start a second execution of the schedule, nor delete it.
    let o = tixbridge(dir, &["run", "inj", "--db", &db]);
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
    assert!(
        text(&o).1.contains("execution #1 is running"),
        "{:?}",
        text(&o)
    );
    let err = fails(tixbridge(dir, &["schedule", "delete", "inj", "--db", &db]));
    assert!(err.contains("execution #1 is running"), "{err}");

    sigterm(&run);
    let status = wait(&mut run, Duration::from_secs(20));
    let mut out = String::new();
    run.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert_eq!(status.code(), Some(0), "WARNING exits 0: {out}");
    assert!(
        out.contains("WARNING") && out.contains("stopped by the operator"),
        "{out}"
    );

    let list = json(&ok(tixbridge(
        dir,
        &[
            "executions",
            "--schedule",
            "inj",
            "--db",
            &db,
            "--format",
            "json",
        ],
    )));
    let e = &list[0];
    assert_eq!(e["state"], "WARNING", "{e}");
    assert!(
        e["ended_at"].is_string() && e["lease_owner"].is_null(),
        "{e}"
    );
    let n = |k: &str| e[k].as_u64().unwrap();
    assert!(n("succeeded") > 0 && n("succeeded") < 200, "{e}");
    assert_eq!(
        n("succeeded"),
        n("sent"),
        "every call in flight finished: {e}"
    );
    assert_eq!(n("selected"), n("sent") + n("unsent"), "{e}");
    let status = ok(tixbridge(dir, &["status", "--db", &db, "--org", "ORG"]));
    let printed = n("succeeded").to_string();
    assert!(
        status
            .lines()
            .any(|l| l.split_whitespace().eq(["PRINTED", printed.as_str()])),
        "{status}"
    );
    sigterm(&wallet);
    wait(&mut wallet, Duration::from_secs(20));
    // What the wallet accepted is exactly what ticketing marked.
    assert_eq!(wallet_ticket_count(&wallet_db), n("succeeded"));
}

/// The organizer's view of a wallet ticket.
fn wallet_ticket(addr: std::net::SocketAddr, key: &str, id: &str) -> serde_json::Value {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        reqwest::Client::new()
            .get(format!("http://{addr}/organizer/tickets/{id}"))
            .header("X-Api-Key", key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

/// The spectator `email` downloads ticket `id` in the app (sandbox session).
fn download(addr: std::net::SocketAddr, email: &str, id: &str) {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let http = reqwest::Client::new();
        let session: serde_json::Value = http
            .post(format!("http://{addr}/app/session"))
            .json(&serde_json::json!({ "email": email }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = session["token"].as_str().expect("a session token");
        let r = http
            .post(format!("http://{addr}/app/tickets/{id}/download"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "download: {}",
            r.text().await.unwrap()
        );
    })
}

/// `import tickets --update` (issue 7 item 20): a corrected ticket already downloaded
/// reaches the phone with the new seat and the same owner at the next injection; the
/// unchanged tickets are not sent again; a row changing what needs an operation is
/// refused naming row and column, and changes nothing.
#[test]
fn a_corrected_ticket_is_sent_again_and_keeps_its_owner() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let wallet_db = format!("sqlite:{}", dir.join("w.db").display());
    let out = ok(tixbridge(
        dir,
        &[
            "wallet",
            "organizer",
            "create",
            "--name",
            "Org",
            "--db",
            &wallet_db,
        ],
    ));
    let key = out.lines().last().unwrap().trim().to_owned();
    let (mut wallet, addr) = wallet_serve_with(dir, &wallet_db, &["--sandbox"]);
    let url = format!("http://{addr}/organizer/tickets");
    let db = ticketing_with_key(dir, 3, &url, &[], &key);
    ok(tixbridge(
        dir,
        &[
            "schedule",
            "create-injection",
            "--db",
            &db,
            "--interface",
            "w",
            "--name",
            "inj",
            "--pos",
            "WEB;P1",
        ],
    ));
    let first = ok(tixbridge(dir, &["run", "inj", "--db", &db]));
    assert_eq!(
        wallet_ticket(addr, &key, "1")["status"],
        "INJECTED",
        "{first}"
    );
    download(addr, "fan1@example.org", "1");

    // The same file with a seat column: ticket 1 moves to seat 13; 2 and 3 get none.
    let original = csv_of(3);
    let mut lines = original.lines();
    let mut corrected = format!("{},seat\n", lines.next().unwrap());
    for (i, line) in lines.enumerate() {
        let seat = if i == 0 { "13" } else { "" };
        corrected.push_str(&format!("{line},{seat}\n"));
    }
    let file = dir.join("corrected.csv");
    std::fs::write(&file, &corrected).unwrap();
    let file = file.to_str().unwrap();
    let out = ok(tixbridge(
        dir,
        &[
            "import", "tickets", file, "--update", "--db", &db, "--org", "ORG",
        ],
    ));
    assert!(
        out.contains("3 rows read, 1 ticket changed, 1 already in the wallet"),
        "{out}"
    );
    let second = ok(tixbridge(dir, &["run", "inj", "--db", &db]));
    let t = wallet_ticket(addr, &key, "1");
    assert_eq!(t["status"], "DOWNLOADED", "{t}");
    assert_eq!(
        t["owner"]["email"], "fan1@example.org",
        "the owner stays: {t}"
    );
    assert_eq!(
        t["ticket"]["ticketDetails"]["main"],
        serde_json::json!([{"key": "Seat", "value": "13"}]),
        "the new seat reaches the phone: {t}"
    );
    let actions: Vec<&str> = t["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["INJECT", "DOWNLOAD", "UPDATE"], "{t}");
    let history = ok(tixbridge(
        dir,
        &[
            "executions",
            "--schedule",
            "inj",
            "--db",
            &db,
            "--format",
            "json",
        ],
    ));
    let history = json(&history);
    let latest = history
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|e| e["id"].as_i64())
        .unwrap()
        .clone();
    assert_eq!(
        latest["sent"], 1,
        "only the corrected ticket: {latest}\n{second}"
    );

    // A status change needs an operation: refused, naming row and column.
    let refused = corrected.replacen("\n1,TX1,", "\n1,TX1b,", 1);
    std::fs::write(dir.join("bad.csv"), refused).unwrap();
    let bad = dir.join("bad.csv");
    let err = fails(tixbridge(
        dir,
        &[
            "import",
            "tickets",
            bad.to_str().unwrap(),
            "--update",
            "--db",
            &db,
            "--org",
            "ORG",
        ],
    ));
    assert!(err.contains("row 2, column tax_number"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    let _ = wallet.kill();
    let _ = wallet.wait();
}
