//! The `tixbridge` command: one subcommand per job, each a thin layer over the
//! library crates (parse and validate the arguments, call one library function, print).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: injection allocates and frees many small
/// strings per ticket, and glibc's malloc took a fifth of all CPU time in profiles.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cmd;
mod progress;
mod seed;

/// tixbridge keeps a ticketing system and a secure mobile wallet aligned.
#[derive(Parser)]
#[command(name = "tixbridge", version, about, long_about = None)]
struct Cli {
    /// Log format on standard error: text or json.
    #[arg(
        long,
        global = true,
        env = "TIXBRIDGE_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole chain on embedded SQLite: wallet service, tournament, injection.
    Demo(cmd::demo::Args),
    /// The wallet service: serve its API, manage organizers.
    #[command(subcommand)]
    Wallet(cmd::wallet::WalletCmd),
    /// Import data into ticketing.
    #[command(subcommand)]
    Import(cmd::import::ImportCmd),
    /// Configure the interface (wallet URL, login, API key, custom parameters).
    #[command(subcommand)]
    Interface(cmd::interface::InterfaceCmd),
    /// Configure schedules (instances of the interface functions).
    #[command(subcommand)]
    Schedule(cmd::schedule::ScheduleCmd),
    /// Run one execution of a schedule now. Exit code 0 for OK or WARNING, 1 for
    /// ERROR, 2 when it could not run. Ctrl-C or SIGTERM stops it cleanly.
    Run(cmd::run::Args),
    /// The executions of a schedule, most recent first.
    Executions(cmd::executions::ListArgs),
    /// One execution: outcome, counts, times, message, errors by pages.
    #[command(subcommand)]
    Execution(cmd::executions::ExecutionCmd),
    /// Ticketing operations on issued tickets: cancel, invalidate, reprint, gate
    /// control, resale; a ticket's history, and both sides of one ticket (`show`).
    #[command(subcommand)]
    Ticket(cmd::ticket::TicketCmd),
    /// Compare every ticket of the organization on both sides, ticketing and the
    /// wallet, and report the differences by class; `--fix` repairs them. Exit code 0
    /// when both sides agree, 1 when they differ, 2 when the comparison could not run.
    Reconcile(cmd::reconcile::Args),
    /// Contacts of ticketing: one contact and the tickets it holds.
    #[command(subcommand)]
    Contact(cmd::contact::ContactCmd),
    /// The organization's invalidation and cancellation causes.
    #[command(subcommand)]
    Causes(cmd::ticket::CausesCmd),
    /// Ticket counts per status in ticketing.
    Status(cmd::status::Args),
    /// List the organizations of ticketing (code, name, default language).
    Organizations(cmd::organizations::Args),
    /// Copy a SQLite store consistently while the services run (PostgreSQL: pg_dump).
    Backup(cmd::backup::Args),
    /// Measure throughput.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    quiet_on_closed_pipe(&cli.command);
    progress::init_tracing(&cli.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Demo(a) => cmd::demo::exec(a).await,
            Command::Wallet(c) => cmd::wallet::exec(c).await,
            Command::Import(c) => cmd::import::exec(c).await,
            Command::Interface(c) => cmd::interface::exec(c).await,
            Command::Schedule(c) => cmd::schedule::exec(c).await,
            Command::Run(a) => cmd::run::exec(a).await,
            Command::Executions(a) => cmd::executions::list(a).await,
            Command::Execution(c) => cmd::executions::exec(c).await,
            Command::Ticket(c) => cmd::ticket::exec(c).await,
            Command::Causes(c) => cmd::ticket::exec_causes(c).await,
            Command::Contact(c) => cmd::contact::exec(c).await,
            Command::Reconcile(a) => cmd::reconcile::exec(a).await,
            Command::Status(a) => cmd::status::exec(a).await,
            Command::Organizations(a) => cmd::organizations::exec(a).await,
            Command::Backup(a) => cmd::backup::exec(a).await,
            Command::Bench(c) => cmd::bench::exec(c).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The commands that only print what the stores hold end quietly when their output
/// is a closed pipe (`tixbridge ticket show … | head`), as any Unix tool does, rather
/// than panicking on a failed print (`sigpipe`: SIGPIPE back to its default). The
/// others keep Rust's default (the signal ignored, a closed pipe an error): they talk
/// to the wallet over sockets, or serve it.
fn quiet_on_closed_pipe(command: &Command) {
    if matches!(
        command,
        Command::Ticket(_)
            | Command::Contact(_)
            | Command::Executions(_)
            | Command::Execution(_)
            | Command::Status(_)
            | Command::Organizations(_)
            | Command::Causes(_)
    ) {
        sigpipe::reset();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }

    /// Every subcommand and every option of every subcommand says what it is for in
    /// `--help`: an option without a help text is a question the operator cannot answer
    /// from the tool.
    #[test]
    fn every_command_and_option_has_a_help_text() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                let sub_path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_long_about().is_none() {
                    missing.push(sub_path.clone());
                }
                walk(sub, &sub_path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "tixbridge", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }
}
