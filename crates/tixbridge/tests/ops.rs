//! Operating the `tixbridge` binary: choosing the organization, the database files'
//! modes, backups, the WAL at a clean shutdown, log lines.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tixbridge"));
    c.args(args)
        .current_dir(dir)
        .env_remove("TIXBRIDGE_DB")
        .env_remove("TIXBRIDGE_WALLET_DB")
        .env_remove("TIXBRIDGE_ORG")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    c
}

fn tixbridge(dir: &Path, args: &[&str]) -> Output {
    cmd(dir, args).output().expect("the binary runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn csv(ids: std::ops::RangeInclusive<u32>) -> String {
    let header = "ticket_id,tax_number,barcode,product_code,product_kind,product_name,performance_code,performance_name,performance_start,site_code,site_name,site_city,site_zip,site_country,contact_number,contact_email,contact_first_name,contact_last_name";
    let rows: Vec<String> = ids
        .map(|id| format!("{id},TX{id},BC{id},M1,MATCH,Final,P1,France - Brazil,2026-06-14T19:00:00Z,STADE,Stadium,Paris,75000,FR,C{id},fan{id}@example.org,Ann,Able"))
        .collect();
    format!("{header}\n{}\n", rows.join("\n"))
}

fn import(dir: &Path, db: &str, file: &str, extra: &[&str]) -> Output {
    let mut args = vec!["import", "tickets", file, "--db", db];
    args.extend_from_slice(extra);
    tixbridge(dir, &args)
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn org_is_required_unless_there_is_exactly_one_and_language_is_not_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", tmp.path().join("t.db").display());
    let file = tmp.path().join("a.csv");
    std::fs::write(&file, csv(1..=2)).unwrap();
    let file = file.to_str().unwrap();

    // No organization yet: no invented default.
    let o = import(tmp.path(), &db, file, &[]);
    assert!(!o.status.success());
    assert!(text(&o).1.contains("--org is required"), "{:?}", text(&o));
    let o = tixbridge(tmp.path(), &["status", "--db", &db]);
    assert!(text(&o).1.contains("--org is required"), "{:?}", text(&o));
    let o = tixbridge(tmp.path(), &["organizations", "--db", &db]);
    assert!(text(&o).0.contains("no organization"), "{:?}", text(&o));

    let o = import(tmp.path(), &db, file, &["--org", "CUP", "--language", "fr"]);
    assert!(o.status.success(), "{:?}", text(&o));
    // Exactly one: --org may be left out.
    let o = tixbridge(tmp.path(), &["status", "--db", &db]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(text(&o).0.contains("tickets of CUP"), "{:?}", text(&o));

    // Another language for the existing organization is refused, and imports nothing.
    std::fs::write(tmp.path().join("b.csv"), csv(3..=4)).unwrap();
    let b = tmp.path().join("b.csv");
    let o = import(tmp.path(), &db, b.to_str().unwrap(), &["--language", "en"]);
    assert!(!o.status.success());
    let err = text(&o).1;
    assert!(err.contains("--language en") && err.contains("fr"), "{err}");
    let o = tixbridge(tmp.path(), &["status", "--db", &db]);
    assert!(text(&o).0.contains(" 2"), "{:?}", text(&o));
    // The same language is fine.
    let o = import(tmp.path(), &db, b.to_str().unwrap(), &["--language", "fr"]);
    assert!(o.status.success(), "{:?}", text(&o));

    std::fs::write(tmp.path().join("c.csv"), csv(5..=6)).unwrap();
    let c = tmp.path().join("c.csv");
    let o = import(tmp.path(), &db, c.to_str().unwrap(), &["--org", "ARENA"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let o = tixbridge(tmp.path(), &["status", "--db", &db]);
    assert!(!o.status.success());
    let err = text(&o).1;
    assert!(
        err.contains("--org is required") && err.contains("ARENA, CUP"),
        "{err}"
    );
    let o = tixbridge(tmp.path(), &["organizations", "--db", &db]);
    let out = text(&o).0;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec!["ARENA\tARENA\tlanguage en", "CUP\tCUP\tlanguage fr"],
        "{out}"
    );
    let o = tixbridge(tmp.path(), &["status", "--db", &db, "--org", "ARENA"]);
    assert!(o.status.success(), "{:?}", text(&o));
}

#[cfg(unix)]
#[test]
fn a_store_readable_by_others_gets_a_warning_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("data/t.db");
    let db = format!("sqlite:{}", path.display());
    let file = tmp.path().join("a.csv");
    std::fs::write(&file, csv(1..=2)).unwrap();
    let o = import(tmp.path(), &db, file.to_str().unwrap(), &["--org", "CUP"]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&tmp.path().join("data")), 0o700);
    assert!(
        !text(&o).1.contains("readable by other users"),
        "{:?}",
        text(&o)
    );

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = tixbridge(tmp.path(), &["status", "--db", &db]);
    assert!(o.status.success(), "{:?}", text(&o));
    let err = text(&o).1;
    assert!(
        err.contains("readable by other users") && err.contains(path.to_str().unwrap()),
        "{err}"
    );
}

/// `wallet serve` on a free port: the child and its address, once it listens.
fn serve(dir: &Path, db: &str) -> (std::process::Child, String) {
    let mut child = cmd(
        dir,
        &["wallet", "serve", "--db", db, "--listen", "127.0.0.1:0"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = lines
        .find_map(|l| {
            l.unwrap()
                .strip_prefix("wallet service listening on http://")
                .map(|rest| rest.split('/').next().unwrap().to_owned())
        })
        .expect("the service listens");
    (child, addr)
}

#[cfg(unix)]
#[test]
fn a_live_store_is_backed_up_and_a_clean_shutdown_leaves_the_data_in_the_main_file() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("wallet.db");
    let db = format!("sqlite:{}", path.display());
    let o = tixbridge(
        tmp.path(),
        &[
            "wallet",
            "organizer",
            "create",
            "--name",
            "Cup",
            "--db",
            &db,
        ],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let key = text(&o).0.lines().last().unwrap().to_owned();

    let (mut child, addr) = serve(tmp.path(), &db);
    // While it runs: the three files are the owner's only.
    for f in ["wallet.db", "wallet.db-wal", "wallet.db-shm"] {
        assert_eq!(mode(&tmp.path().join(f)), 0o600, "{f}");
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = tixbridge_client::WalletClient::new(
        &format!("http://{addr}/organizer/tickets"),
        "admin",
        secrecy::SecretString::from(key),
        Default::default(),
    )
    .unwrap();
    let ticket = |id: String| tixbridge_core::api::Ticket {
        ticket_id: Some(id.clone()),
        event: Some(tixbridge_core::api::Event {
            id: Some("E1".into()),
            name: Some("Final".into()),
            start_time: Some("2030-07-12T21:00:00+02:00".into()),
            expiration_date: Some("2030-07-13T21:00:00+02:00".into()),
            address: Some(tixbridge_core::api::Address {
                site: Some("Stade".into()),
                city: Some("Paris".into()),
                zip: Some("75000".into()),
                country_code: Some("FR".into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        purchase_details: Some(tixbridge_core::api::PurchaseDetails {
            taxation_number: Some(format!("TAX-{id}")),
            ..Default::default()
        }),
        security: Some(tixbridge_core::api::Security {
            barcode: Some(format!("BC-{id}")),
        }),
        spectator_details: Some(tixbridge_core::api::Person {
            email: Some("ann@example.org".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    // A writer injects while the backup is taken.
    let writer = {
        let client = client.clone();
        rt.spawn(async move {
            for b in 0..40 {
                let batch: Vec<_> = (0..25).map(|i| ticket(format!("T{b}-{i}"))).collect();
                let r = client.inject(&batch).await.unwrap();
                assert!(r.iter().all(|r| r.is_ok()), "{r:?}");
            }
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(150));
    let copy = tmp.path().join("copy.db");
    let o = tixbridge(tmp.path(), &["backup", "--db", &db, copy.to_str().unwrap()]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(mode(&copy), 0o600);
    rt.block_on(writer).unwrap();
    let again = tixbridge(tmp.path(), &["backup", "--db", &db, copy.to_str().unwrap()]);
    assert!(
        !again.status.success(),
        "an existing file is not overwritten"
    );

    // The copy is a consistent wallet store.
    rt.block_on(async {
        let store = tixbridge_store::open_wallet(&format!("sqlite:{}", copy.display()))
            .await
            .unwrap();
        let org = store.organizers().await.unwrap()[0].id;
        let v = store.verify(org).await.unwrap();
        assert!(v.valid, "{v:?}");
    });

    // A clean shutdown (SIGTERM): the WAL is folded into the main file.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(child.wait().unwrap().success());
    let wal = std::fs::metadata(tmp.path().join("wallet.db-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "the WAL is checkpointed at shutdown");
    let alone = tempfile::tempdir().unwrap();
    std::fs::copy(&path, alone.path().join("wallet.db")).unwrap();
    rt.block_on(async {
        let store = tixbridge_store::open_wallet(&format!(
            "sqlite:{}",
            alone.path().join("wallet.db").display()
        ))
        .await
        .unwrap();
        let org = store.organizers().await.unwrap()[0].id;
        let n: u64 = store
            .count_by_status(org)
            .await
            .unwrap()
            .iter()
            .map(|(_, n)| n)
            .sum();
        assert_eq!(n, 1000, "every ticket is in the main file alone");
    });
}

#[test]
fn a_postgres_backup_points_to_pg_dump() {
    let tmp = tempfile::tempdir().unwrap();
    let o = tixbridge(
        tmp.path(),
        &[
            "backup",
            "--db",
            "postgres://u:secret@127.0.0.1:1/x",
            "out.dump",
        ],
    );
    assert!(!o.status.success());
    let err = text(&o).1;
    assert!(err.contains("pg_dump"), "{err}");
    assert!(!err.contains("secret"), "{err}");
    assert!(!tmp.path().join("out.dump").exists());
}

#[cfg(unix)]
#[test]
fn the_demo_keeps_its_files_private_and_logs_each_line_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let o = tixbridge(
        tmp.path(),
        &["demo", "--tickets", "200", "--dir", dir.to_str().unwrap()],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert_eq!(mode(&dir), 0o700);
    for f in ["ticketing.db", "wallet.db", "wallet-api-key.txt"] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    // Standard error is not a terminal here: log lines, each once.
    // Eight executions: injection, feedback, privileges, push cancelled, push
    // controlled, the injection of the new tickets, and feedback before and after the
    // wallet's time-outs.
    let finished = err.matches("execution finished").count();
    assert_eq!(finished, 8, "{err}");
    let mut seen = std::collections::HashSet::new();
    for line in err.lines().filter(|l| !l.trim().is_empty()) {
        assert!(seen.insert(line), "doubled log line {line:?} in:\n{err}");
    }
}
