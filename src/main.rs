//! `pollserve`: parse the configuration, run the server (its first worker on this thread, which
//! also watches for the signal that drains it), exit.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use pollserve::config::{Args, Config, values};
use pollserve::db::DbLocation;
use pollserve::server::signals::SignalWatch;
use pollserve::server::{Server, ShutdownHandle};
use pollserve::site::api::Services;
use pollserve::site::health::Readiness;
use pollserve::{logging, site};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("pollserve: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// Why pollserve stopped: the line it prints, and its exit code (2 for a bad flag, 1 otherwise).
struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    fn usage(message: impl ToString) -> Failure {
        Failure { message: message.to_string(), code: 2 }
    }

    fn because(what: &str) -> impl FnOnce(std::io::Error) -> Failure + '_ {
        move |e| Failure { message: format!("{what}: {e}"), code: 1 }
    }
}

fn run() -> Result<(), Failure> {
    let Some(config) = configure()? else {
        return Ok(()); // --help or --version
    };
    // pollserve's own records and an application's, through the `log` facade (RUST_LOG).
    logging::init(config.conn.trace);
    // Each connection is a descriptor: allow as many as the hard limit permits.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("pollserve: cannot raise the open-file limit: {e}");
    }
    let services = match config.db {
        DbLocation::Off => None,
        _ => Some(
            Services::open(&config.db, &config.api)
                .map_err(|e| Failure { message: e.to_string(), code: 1 })?,
        ),
    };
    let app = match &services {
        Some(services) => site::with_api(&config.app, services),
        None => site::builtin(&config.app),
    };
    let mut shown = config.clone(); // summarised once the address is bound (port 0 → the real one)
    let (readiness, grace) = (config.app.readiness.clone(), config.shutdown_grace);
    let server =
        Server::bind(config, app).map_err(|e| Failure { message: format!("cannot start: {e}"), code: 1 })?;
    let signals = SignalWatch::install(grace, move || on_first_signal(&readiness, grace))
        .map_err(Failure::because("cannot install signal handlers"))?;
    shown.addr = server.local_addr();
    // The first worker runs on this thread: with one worker, the process has no other.
    let running = server.start_here(Some(signals)).map_err(Failure::because("cannot start workers"))?;
    announce(&shown);
    let shutdown = running.shutdown_handle();
    let result = running.join();
    finish(&shutdown, services.as_ref());
    result.map_err(Failure::because("worker failed"))
}

/// The configuration from the command line and environment (none for `--help`/`--version`).
fn configure() -> Result<Option<Config>, Failure> {
    let args = match Args::try_parse() {
        Ok(args) => args,
        // --help and --version are not errors.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return Ok(None);
        }
        Err(e) => return Err(Failure::usage(values::describe(&e))),
    };
    args.into_config().map(Some).map_err(Failure::usage)
}

/// The listening line on standard output, and the start-up summary in the log.
fn announce(config: &Config) {
    let (addr, threads) = (config.addr, config.threads);
    let plural = if threads == 1 { "" } else { "s" };
    println!("pollserve listening on http://{addr} ({threads} thread{plural})");
    log::info!("{}", config.summary());
}

/// On SIGINT or SIGTERM: not ready first, still serving (a load balancer checking /readyz stops
/// sending new requests during the grace period); the drain follows when the grace is over. A
/// second signal exits now.
fn on_first_signal(readiness: &Readiness, grace: Duration) {
    readiness.stop();
    if !grace.is_zero() {
        log::info!("shutting down: /readyz answers 503, serving {} s more", grace.as_secs());
    }
}

/// After the workers stopped: the drain's line, the last log lines, and the database's queued
/// jobs finished (and committed) before the process exits.
fn finish(shutdown: &ShutdownHandle, services: Option<&Arc<Services>>) {
    if let Some((began, open)) = shutdown.began() {
        let plural = if open == 1 { "" } else { "s" };
        let took = began.elapsed().as_millis();
        log::info!("stopped: {open} connection{plural} open at shutdown, drained in {took} ms");
    }
    logging::finish();
    if let Some(warning) = logging::take_dropped_warning() {
        eprintln!("{warning}");
    }
    if let Some(services) = services {
        services.close();
    }
}
