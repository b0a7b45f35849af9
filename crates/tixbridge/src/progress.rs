//! Logging and progress: a progress bar when standard error is a terminal, periodic
//! structured log lines otherwise.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tracing_subscriber::EnvFilter;

pub fn init_tracing(format: &str) {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn,tixbridge=info,tixbridge_interface=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if format == "json" {
        builder.json().init();
    } else {
        builder.with_target(false).init();
    }
}

/// Progress of a long job: `inc`/`set` from any task.
#[derive(Clone)]
pub struct Meter {
    bar: Option<ProgressBar>,
    pos: Arc<AtomicU64>,
    last_log: Arc<std::sync::Mutex<Instant>>,
    what: &'static str,
}

impl Meter {
    /// `total` when known gives a bar, otherwise a counter with a rate.
    pub fn new(what: &'static str, total: Option<u64>) -> Meter {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match total {
                Some(t) => ProgressBar::new(t).with_style(
                    ProgressStyle::with_template(
                        "{msg:>10} [{bar:40}] {human_pos}/{human_len} {per_sec} eta {eta}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                ),
                None => ProgressBar::new_spinner().with_style(
                    ProgressStyle::with_template("{spinner} {msg} {human_pos} {per_sec}")
                        .expect("valid template"),
                ),
            };
            bar.set_message(what);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Meter {
            bar,
            pos: Arc::new(AtomicU64::new(0)),
            last_log: Arc::new(std::sync::Mutex::new(Instant::now())),
            what,
        }
    }

    pub fn set(&self, pos: u64) {
        self.pos.store(pos, Ordering::Relaxed);
        match &self.bar {
            Some(b) => b.set_position(pos),
            None => self.maybe_log(),
        }
    }

    fn maybe_log(&self) {
        let mut last = self.last_log.lock().unwrap_or_else(|p| p.into_inner());
        if last.elapsed() >= Duration::from_secs(5) {
            *last = Instant::now();
            tracing::info!(
                what = self.what,
                done = self.pos.load(Ordering::Relaxed),
                "progress"
            );
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
