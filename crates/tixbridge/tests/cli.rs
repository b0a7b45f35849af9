//! The `tixbridge` binary as a user drives it.

use std::path::Path;
use std::process::{Command, Output};

fn tixbridge(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tixbridge"))
        .args(args)
        .current_dir(dir)
        .env_remove("TIXBRIDGE_DB")
        .env_remove("TIXBRIDGE_WALLET_DB")
        .env_remove("TIXBRIDGE_ORG")
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn count_after(out: &str, label: &str) -> Option<u64> {
    out.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            (it.next() == Some(label)).then(|| it.next()?.parse().ok())?
        })
        .next()
}

#[test]
fn the_demo_runs_the_whole_lifecycle() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let o = tixbridge(
        tmp.path(),
        &["demo", "--tickets", "500", "--dir", dir.to_str().unwrap()],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    // Ticketing acted on the 500 tickets (10 cancelled, 5 invalidated, 3 reprinted and
    // one more that a spectator holds after a transfer, 5 posted for resale of which 3
    // sold and 2 withdrawn, 25 scanned at the gate) and imported 10 cards; the 9 new
    // tickets (reprints and resales) and the cards are printed by their functions.
    assert_eq!(count_after(&out, "PRINTED"), Some(470), "{out}");
    assert_eq!(count_after(&out, "INVALIDATED"), Some(14), "{out}");
    assert_eq!(count_after(&out, "CANCELLED"), Some(10), "{out}");
    for (schedule, succeeded) in [
        ("privileges", 10),
        ("push-cancelled", 24),
        ("push-controlled", 25),
    ] {
        let at = out
            .lines()
            .position(|l| l.contains(&format!(" of {schedule} (")) && l.ends_with(": OK"))
            .unwrap_or_else(|| panic!("no OK execution of {schedule}: {out}"));
        let counts = out.lines().nth(at + 1).unwrap();
        assert!(
            counts.contains(&format!("succeeded {succeeded} ")),
            "{schedule}: {counts}"
        );
    }
    assert!(
        out.contains("succeeded 9 "),
        "the new tickets injected: {out}"
    );
    // Feedback runs three times, each OK: after the spectators (the 500 tickets), then
    // before and after the wallet's time-outs and deletion confirmations.
    let feedbacks = out
        .lines()
        .filter(|l| l.contains(" of feedback (Retrieve ticket status): OK"))
        .count();
    assert_eq!(feedbacks, 3, "{out}");
    assert!(out.contains("succeeded 500 "), "{out}");
    // The reprint of a transferred ticket went to its last owner.
    assert!(
        out.contains("(the last owner, as Feedback brought it back)"),
        "{out}"
    );
    // The loop is closed: both sides agree ticket by ticket.
    assert!(out.contains("both sides agree: 0 mismatches"), "{out}");
    assert!(!out.contains("outside the mapping"), "{out}");
    let rows = out
        .lines()
        .find(|l| l.contains("cultural-contact distribution rows:"))
        .unwrap_or_else(|| panic!("no distribution rows: {out}"));
    assert!(rows.contains("CONFIRMED"), "{rows}");
    // The wallet's side: every ticket somewhere in its lifecycle.
    let wallet: Vec<(String, u64)> = out
        .lines()
        .skip_while(|l| !l.contains("wallet (organizer"))
        .skip(1)
        .map_while(|l| {
            let mut it = l.split_whitespace();
            let status = it.next()?;
            let n = it.next()?.parse().ok()?;
            status
                .chars()
                .all(|c| c.is_ascii_uppercase() || c == '_')
                .then(|| (status.to_owned(), n))
        })
        .collect();
    assert_eq!(wallet.iter().map(|(_, n)| n).sum::<u64>(), 509, "{out}");
    for status in [
        "INJECTED",
        "DOWNLOADED",
        "ASSIGNED",
        "TRANSFERRED",
        "CONTROLLED",
        "DELETED",
    ] {
        assert!(
            wallet.iter().any(|(s, n)| s == status && *n > 0),
            "no {status} ticket in the wallet: {out}"
        );
    }
    assert!(
        wallet.iter().any(|(s, _)| s.ends_with("_ACTIVATED")),
        "{out}"
    );
    assert_eq!(count_after(&out, "CONTROLLED"), Some(25), "{out}");
    assert_eq!(count_after(&out, "DELETED"), Some(24), "{out}");
    assert!(out.contains("chain valid"), "{out}");
    assert!(out.contains("simulate actions="), "{out}");
    assert!(out.contains("tickets/s"), "{out}");
    assert!(dir.join("ticketing.db").exists());
    // The key is in its file, never on the screen.
    let key = std::fs::read_to_string(dir.join("wallet-api-key.txt")).unwrap();
    assert!(!out.contains(key.trim()) && !err.contains(key.trim()));
    // A second demo in the same directory is refused rather than mixed in.
    let o = tixbridge(tmp.path(), &["demo", "--dir", dir.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(text(&o).1.contains("not empty"));
}

#[test]
fn organizer_create_prints_the_key_last_and_once() {
    let tmp = tempfile::tempdir().unwrap();
    let o = tixbridge(
        tmp.path(),
        &[
            "wallet",
            "organizer",
            "create",
            "--name",
            "Org",
            "--db",
            "sqlite:w.db",
        ],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let key = out.lines().last().unwrap().trim().to_owned();
    assert!(key.len() >= 32, "{out}");
    assert_eq!(out.matches(&key).count(), 1);
}

#[test]
fn interface_configuration_is_checked_and_the_key_never_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", tmp.path().join("t.db").display());
    let csv = tmp.path().join("t.csv");
    std::fs::write(&csv, minimal_csv()).unwrap();
    let o = tixbridge(
        tmp.path(),
        &[
            "import",
            "tickets",
            csv.to_str().unwrap(),
            "--db",
            &db,
            "--org",
            "ORG",
        ],
    );
    assert!(o.status.success(), "{:?}", text(&o));

    let create = |extra: &[&str]| {
        let mut args = vec![
            "interface",
            "create",
            "--db",
            &db,
            "--org",
            "ORG",
            "--name",
            "w",
        ];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_tixbridge"))
            .args(&args)
            .env("TIXBRIDGE_API_KEY", "tnk_very_secret_value")
            .output()
            .unwrap()
    };
    let o = create(&["--url", "http://127.0.0.1:9/organizer"]);
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains("must end with organizer/tickets"),
        "{:?}",
        text(&o)
    );

    let o = create(&[
        "--url",
        "http://127.0.0.1:9/organizer/tickets",
        "--param",
        "ticketIterationSize=10",
        "--param",
        "colour=blue",
    ]);
    assert!(!o.status.success());
    let err = text(&o).1;
    assert!(
        err.contains("\"colour\"") && err.contains("known keys: ticketIterationSize"),
        "{err}"
    );

    let o = create(&[
        "--url",
        "http://127.0.0.1:9/organizer/tickets",
        "--emails",
        "ops@example.org",
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    let o = create(&["--url", "http://127.0.0.1:9/organizer/tickets"]);
    assert!(
        !o.status.success(),
        "a second interface for the organization is refused"
    );

    let o = tixbridge(tmp.path(), &["interface", "list", "--db", &db]);
    let (out, err) = text(&o);
    assert!(out.contains("api key: set"), "{out}");
    assert!(!out.contains("very_secret") && !err.contains("very_secret"));

    // The wallet is down (port 9 on loopback refuses): run exits non-zero, names it.
    let o = tixbridge(
        tmp.path(),
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
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let o = tixbridge(tmp.path(), &["run", "inj", "--db", &db]);
    let (out, err) = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("ERROR") && out.contains("WALLET_UNREACHABLE"),
        "{out}"
    );
    assert!(!out.contains("very_secret") && !err.contains("very_secret"));
    let o = tixbridge(tmp.path(), &["status", "--db", &db, "--org", "ORG"]);
    assert_eq!(count_after(&text(&o).0, "NOT_PRINTED"), Some(2));

    let o = tixbridge(
        tmp.path(),
        &[
            "schedule",
            "create-injection",
            "--db",
            &db,
            "--interface",
            "w",
            "--name",
            "bad",
            "--pos",
            "WEB",
        ],
    );
    assert!(text(&o).1.contains("salesChannelCode;posCode"));
    let o = tixbridge(tmp.path(), &["run", "nope", "--db", &db]);
    assert!(text(&o).1.contains("no schedule is named \"nope\""));
}

#[test]
fn a_bad_csv_imports_nothing_and_names_row_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", tmp.path().join("t.db").display());
    let csv = tmp.path().join("bad.csv");
    let good = minimal_csv();
    let mut lines: Vec<String> = good.lines().map(str::to_owned).collect();
    lines[2] = lines[2].replace("2026-06-14T19:00:00Z", "tomorrow");
    std::fs::write(&csv, lines.join("\n")).unwrap();
    let o = tixbridge(
        tmp.path(),
        &[
            "import",
            "tickets",
            csv.to_str().unwrap(),
            "--db",
            &db,
            "--org",
            "ORG",
        ],
    );
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("row 3") && err.contains("performance_start"),
        "{err}"
    );
    assert!(err.contains("nothing was imported"), "{err}");
    // Not even the organization the import would have created.
    let o = tixbridge(tmp.path(), &["status", "--db", &db, "--org", "ORG"]);
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains("no organization \"ORG\""),
        "{:?}",
        text(&o)
    );
}

fn minimal_csv() -> String {
    let header = "ticket_id,tax_number,barcode,product_code,product_kind,product_name,product_name[fr],performance_code,performance_name,performance_start,site_code,site_name,site_city,site_zip,site_country,contact_number,contact_email,contact_first_name,contact_last_name";
    let row = |id: u32| {
        format!(
            "{id},TX{id},BC{id},M1,MATCH,Final,Finale,P1,France - Brazil,2026-06-14T19:00:00Z,STADE,Stadium,Paris,75000,FR,C{id},fan{id}@example.org,Ann,Able"
        )
    };
    format!("{header}\n{}\n{}\n", row(1), row(2))
}

/// Runs the binary with `stdin` as its standard input.
fn tixbridge_with_input(dir: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tixbridge"))
        .args(args)
        .current_dir(dir)
        .env_remove("TIXBRIDGE_DB")
        .env_remove("TIXBRIDGE_WALLET_DB")
        .env_remove("TIXBRIDGE_ORG")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// Issue 7 items 13, 1 and 3 through the binary: `import tickets -` reads standard
/// input (here a `;` file with a byte-order mark, as a spreadsheet saves it),
/// `--delimiter` is obeyed, and `--time-zone` reads offset-less times in the
/// organization's zone and is kept for the next import.
#[test]
fn import_reads_standard_input_dialects_and_time_zones() {
    let tmp = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", tmp.path().join("t.db").display());
    let semicolon = format!(
        "\u{FEFF}{}",
        minimal_csv()
            .replace(',', ";")
            .replace("2026-06-14T19:00:00Z", "2026-06-14 21:00")
    );
    let import = |extra: &[&str], input: &str| {
        let mut args = vec!["import", "tickets", "-", "--db", &db, "--org", "ORG"];
        args.extend(extra);
        tixbridge_with_input(tmp.path(), &args, input)
    };
    // A wrong separator names the right one; nothing is created.
    let o = import(&["--delimiter", "comma"], &semicolon);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("seems to be separated by semicolon (;)"),
        "{err}"
    );
    assert!(!err.contains("unknown column"), "{err}");
    let o = import(&["--time-zone", "Mars/Olympus"], &semicolon);
    assert!(!o.status.success());
    assert!(text(&o).1.contains("\"Mars/Olympus\""), "{:?}", text(&o));

    let o = import(&["--time-zone", "Europe/Paris"], &semicolon);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains("imported 2 tickets from standard input"),
        "{out}"
    );
    // The zone stays with the organization: a later file is read in it too.
    let later = semicolon
        .replace(";TX1;", ";TX3;")
        .replace(";TX2;", ";TX4;")
        .replace(";BC1;", ";BC3;")
        .replace(";BC2;", ";BC4;")
        .replace("\n1;", "\n3;")
        .replace("\n2;", "\n4;")
        .replace(";P1;", ";P2;")
        .replace("2026-06-14 21:00", "2026-12-14 21:00");
    let o = import(&["--delimiter", ";"], &later);
    assert!(o.status.success(), "{:?}", text(&o));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (p1, p2) = rt.block_on(async {
        let store = tixbridge_store::open_ticketing(&db).await.unwrap();
        let org = store.organization_by_code("ORG").await.unwrap().unwrap();
        assert_eq!(org.time_zone.name(), "Europe/Paris");
        let cat = store.catalog(org.id).await.unwrap();
        let start = |c: &str| cat.performances.iter().find(|p| p.code == c).unwrap().start;
        (start("P1"), start("P2"))
    });
    assert_eq!(p1.to_rfc3339(), "2026-06-14T19:00:00+00:00");
    assert_eq!(p2.to_rfc3339(), "2026-12-14T20:00:00+00:00");
}

/// The README's correction step works as written: the example file, then
/// `examples/seat-change.csv` with `--update`, which changes one ticket's seat.
#[test]
fn the_example_correction_changes_one_seat() {
    let tmp = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", tmp.path().join("t.db").display());
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let file = |name: &str| examples.join(name).to_str().unwrap().to_owned();
    let tickets = file("tickets.csv");
    let o = tixbridge(
        tmp.path(),
        &[
            "import", "tickets", &tickets, "--db", &db, "--org", "EC2028",
        ],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let change = file("seat-change.csv");
    let args = ["import", "tickets", &change, "--update", "--db", &db];
    let o = tixbridge(tmp.path(), &args);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains("1 row read, 1 ticket changed, 0 already in the wallet"),
        "{out}"
    );
    let o = tixbridge(tmp.path(), &args);
    let (out, _) = text(&o);
    assert!(
        out.contains("1 row read, 0 tickets changed"),
        "again: {out}"
    );
    // A correction names existing tickets only, and never creates an organization.
    let o = tixbridge(
        tmp.path(),
        &[
            "import", "tickets", &change, "--update", "--db", &db, "--org", "NEW",
        ],
    );
    let (_, err) = text(&o);
    assert!(
        !o.status.success() && err.contains("organization NEW does not exist"),
        "{err}"
    );
}

/// A store with the two tickets of [`minimal_csv`] in organization ORG, and a runner
/// of commands on it: (success, standard output, standard error).
fn two_tickets_of_org(dir: &Path) -> impl Fn(&[&str]) -> (bool, String, String) + '_ {
    let db = format!("sqlite:{}", dir.join("t.db").display());
    let csv = dir.join("t.csv");
    std::fs::write(&csv, minimal_csv()).unwrap();
    let run = move |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--db", &db]);
        let o = tixbridge(dir, &all);
        let (out, err) = text(&o);
        (o.status.success(), out, err)
    };
    assert!(run(&["import", "tickets", csv.to_str().unwrap(), "--org", "ORG"]).0);
    run
}

/// `tixbridge ticket cancel|invalidate|history` and `tixbridge causes list|add` (issue
/// 8): each command changes every ticket it names or none, refusals name the ticket
/// and its status, and the history keeps each operation.
#[test]
fn tickets_are_cancelled_and_invalidated_with_a_cause_and_a_history() {
    let tmp = tempfile::tempdir().unwrap();
    let run = two_tickets_of_org(tmp.path());

    let (ok, _, err) = run(&["ticket", "cancel", "TX1", "--cause", "lost"]);
    assert!(
        !ok && err.contains("unknown cause LOST") && err.contains("REFUND"),
        "{err}"
    );
    let (ok, out, err) = run(&["causes", "add", "lost"]);
    assert!(ok && out.contains("cause LOST added"), "{out}{err}");
    let (_, out, _) = run(&["causes", "list"]);
    assert!(
        out.starts_with("REFUND\nREPRINT\n") && out.ends_with("LOST\n"),
        "{out}"
    );

    let (ok, out, err) = run(&[
        "ticket",
        "cancel",
        "TX1",
        "--cause",
        "Lost",
        "--operator",
        "box:anna",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("ticket 1 (tax number TX1): NOT_PRINTED -> CANCELLED, cause LOST"),
        "{out}"
    );
    // BC2 is ticket 2's barcode; TX1 is cancelled already: nothing changes.
    let refs = tmp.path().join("refs.txt");
    std::fs::write(&refs, "# to invalidate\nBC2\n\nTX1\n").unwrap();
    let (ok, _, err) = run(&[
        "ticket",
        "invalidate",
        "--file",
        refs.to_str().unwrap(),
        "--cause",
        "theft",
    ]);
    assert!(
        !ok && err.contains("ticket TX1 (1): it is already CANCELLED"),
        "{err}"
    );
    let (_, out, _) = run(&["status", "--org", "ORG"]);
    assert!(!out.contains("INVALIDATED"), "nothing half-done: {out}");
    let (ok, out, err) = run(&["ticket", "invalidate", "id:2", "--cause", "theft"]);
    assert!(
        ok && out.contains("ticket 2 (tax number TX2): NOT_PRINTED -> INVALIDATED, cause THEFT"),
        "{out}{err}"
    );

    let (ok, out, _) = run(&["ticket", "history", "TX1"]);
    assert!(
        ok && out.contains("\tCANCEL\tbox:anna\tNOT_PRINTED -> CANCELLED\tcause LOST"),
        "{out}"
    );
    let (ok, _, err) = run(&["ticket", "history", "NOPE"]);
    assert!(!ok && err.contains("no ticket NOPE"), "{err}");
}

/// `tixbridge ticket reprint` (issue 8): the old ticket invalidated, a new one issued
/// with new identifiers, named in the history; a ticket is reprinted once.
#[test]
fn a_ticket_is_reprinted_once_with_new_identifiers() {
    let tmp = tempfile::tempdir().unwrap();
    let run = two_tickets_of_org(tmp.path());
    let (ok, out, err) = run(&["ticket", "reprint", "BC1", "--new-tax-number", "TX1-R"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("ticket 1 (tax number TX1): NOT_PRINTED -> INVALIDATED, cause REPRINT"),
        "{out}"
    );
    assert!(
        out.contains("new ticket 3 (tax number TX1-R, barcode "),
        "{out}"
    );
    assert!(out.contains("NOT_PRINTED, replaces ticket 1"), "{out}");
    let (_, out, _) = run(&["ticket", "history", "TX1"]);
    assert!(
        out.contains("\tREPRINT\t") && out.contains("\treplaced by ticket 3"),
        "{out}"
    );
    let (ok, _, err) = run(&["ticket", "reprint", "TX1"]);
    assert!(!ok && err.contains("it is already INVALIDATED"), "{err}");
}

/// `tixbridge ticket resale post|sold|withdraw` (issue 8): only a posted ticket is sold
/// or withdrawn; a sale issues a new ticket for a known buyer; the history keeps both
/// steps.
#[test]
fn a_ticket_is_posted_for_resale_and_sold_to_a_buyer() {
    let tmp = tempfile::tempdir().unwrap();
    let run = two_tickets_of_org(tmp.path());
    let (ok, _, err) = run(&["ticket", "resale", "sold", "TX1", "--to", "C2"]);
    assert!(
        !ok && err.contains("only a ticket posted for resale"),
        "{err}"
    );
    let (ok, out, err) = run(&["ticket", "resale", "post", "TX1"]);
    assert!(
        ok && out.contains("NOT_PRINTED -> INVALIDATED, cause RESALE_PENDING"),
        "{out}{err}"
    );
    let (ok, _, err) = run(&["ticket", "resale", "sold", "TX1", "--to", "NOBODY"]);
    assert!(!ok && err.contains("no contact numbered NOBODY"), "{err}");
    let (ok, out, err) = run(&["ticket", "resale", "sold", "TX1", "--to", "C2"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("INVALIDATED -> INVALIDATED, cause RESOLD")
            && out.contains("new ticket 3 (tax number 3, barcode "),
        "{out}"
    );
    let (ok, _, err) = run(&["ticket", "resale", "withdraw", "TX1"]);
    assert!(!ok && err.contains("cause RESOLD"), "{err}");
    let (_, out, _) = run(&["ticket", "history", "TX1"]);
    assert!(
        out.contains("\tRESALE_POST\t") && out.contains("\tRESALE_SOLD\t"),
        "{out}"
    );
    // Both sides of one ticket: never injected, so no wallet side yet.
    let (ok, out, err) = run(&["ticket", "show", "TX1"]);
    assert!(ok, "{err}");
    for want in [
        "ticket 1 (tax number TX1, barcode BC1, file -)",
        "ticketing: INVALIDATED (RESOLD), contact fan1@example.org",
        "\tRESALE_SOLD\t",
        "wallet: never injected",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    let (_, out, _) = run(&["ticket", "show", "3"]);
    assert!(
        out.contains("contact fan2@example.org, replaces ticket 1"),
        "the buyer's ticket: {out}"
    );
}

/// `tixbridge ticket control` (issue 8): a live scan controls the ticket or refuses
/// entry with the reason (exit 1); a file of scans, late and out of order with a
/// duplicate, a malformed time and a cancelled ticket, is answered line by line.
#[test]
fn gate_scans_are_answered_live_and_from_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let run = two_tickets_of_org(tmp.path());
    let (ok, out, _) = run(&[
        "ticket",
        "control",
        "BC1",
        "--at",
        "2026-06-14T18:30:00Z",
        "--performance",
        "P1",
    ]);
    assert!(
        ok && out.contains("BC1 at 2026-06-14T18:30:00Z: ticket 1 CONTROLLED"),
        "{out}"
    );
    let (ok, out, _) = run(&["ticket", "control", "BC1"]);
    assert!(
        !ok && out.contains("REFUSED: ticket 1 was already scanned at 2026-06-14T18:30:00Z"),
        "{out}"
    );
    let (ok, out, _) = run(&["ticket", "control", "BC2", "--performance", "P9"]);
    assert!(
        !ok && out.contains("not for this gate's performance P9"),
        "{out}"
    );

    let bad = tmp.path().join("bad.csv");
    std::fs::write(&bad, "barcode;scanned_at\nBC2;yesterday\n").unwrap();
    let (ok, _, err) = run(&["ticket", "control", "--file", bad.to_str().unwrap()]);
    assert!(
        !ok && err.contains("line 2, scanned_at \"yesterday\""),
        "{err}"
    );
    assert!(run(&["ticket", "cancel", "TX2", "--cause", "refund"]).0);
    let scans = tmp.path().join("scans.csv");
    std::fs::write(
        &scans,
        "barcode;scanned_at\nBC1;2026-06-14T18:45:00Z\nBC1;2026-06-14T18:10:00Z\nBC2;2026-06-14T18:20:00Z\nNOPE;2026-06-14T18:21:00Z\n",
    )
    .unwrap();
    let (ok, out, err) = run(&["ticket", "control", "--file", scans.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("line 2: BC1 at 2026-06-14T18:45:00Z: duplicate: ticket 1 was first scanned at 2026-06-14T18:10:00Z"), "{out}");
    assert!(out.contains("line 3: BC1 at 2026-06-14T18:10:00Z: ticket 1 CONTROLLED at this earlier time (was 2026-06-14T18:30:00Z)"), "{out}");
    assert!(out.contains("line 4: BC2 at 2026-06-14T18:20:00Z: ADMITTED WHILE CANCELLED: ticket 2 is CANCELLED (REFUND); not controlled"), "{out}");
    assert!(
        out.contains("line 5: NOPE at 2026-06-14T18:21:00Z: REFUSED: unknown barcode NOPE"),
        "{out}"
    );
    assert!(out.contains("4 scans, 1 refused"), "{out}");
}

/// `tixbridge contact show` finds a contact by number or by email in any case, and
/// says so when there is none; `reconcile` without an interface cannot compare (exit
/// 2); a view piped into a reader that stops early ends quietly, without a panic.
#[test]
fn contacts_are_shown_reconcile_needs_an_interface_and_closed_pipes_are_quiet() {
    let tmp = tempfile::tempdir().unwrap();
    let run = two_tickets_of_org(tmp.path());
    for who in ["C1", " FAN1@Example.ORG "] {
        let (ok, out, err) = run(&["contact", "show", who]);
        assert!(ok, "{who}: {err}");
        assert!(
            out.contains("(number C1)") && out.contains("tickets held as cultural contact: 1"),
            "{who}: {out}"
        );
    }
    let (ok, _, err) = run(&["contact", "show", "nobody@example.org"]);
    assert!(!ok);
    assert!(
        err.contains("no contact numbered or with the email"),
        "{err}"
    );

    let db = format!("sqlite:{}", tmp.path().join("t.db").display());
    let o = tixbridge(tmp.path(), &["reconcile", "--db", &db]);
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
    assert!(text(&o).1.contains("has no interface"), "{:?}", text(&o));

    let mut child = Command::new(env!("CARGO_BIN_EXE_tixbridge"))
        .args(["ticket", "show", "TX1", "--db", &db])
        .current_dir(tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the first line is printed.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
}
