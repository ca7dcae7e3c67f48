//! `pollserve`: parse the configuration, start the server, wait for a signal, drain, exit.

use std::process::ExitCode;

use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use pollserve::app::App;
use pollserve::app::handlers::api::Services;
use pollserve::config::{Args, values};
use pollserve::db::DbLocation;
use pollserve::server::Server;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        // --help and --version are not errors.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("pollserve: {}", values::describe(&e));
            return ExitCode::from(2);
        }
    };
    let config = match args.into_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("pollserve: {e}");
            return ExitCode::from(2);
        }
    };
    // pollserve's own records and an application's, through the `log` facade (RUST_LOG).
    pollserve::server::log::init(config.conn.trace);
    let mut shown = config.clone(); // summarised once the address is bound (port 0 → the real one)
    // Each connection is a descriptor: allow as many as the hard limit permits.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("pollserve: cannot raise the open-file limit: {e}");
    }
    let threads = config.threads;
    let (readiness, grace) = (config.app.readiness.clone(), config.shutdown_grace);
    let services = match config.db {
        DbLocation::Off => None,
        _ => match Services::open(&config.db, &config.api) {
            Ok(services) => Some(services),
            Err(e) => {
                eprintln!("pollserve: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let app = match &services {
        Some(services) => App::with_api(&config.app, services),
        None => App::builtin(&config.app),
    };
    let server = match Server::bind(config, app) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("pollserve: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("pollserve: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = server.local_addr();
    shown.addr = addr;
    let running = match server.start() {
        Ok(running) => running,
        Err(e) => {
            eprintln!("pollserve: cannot start workers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let plural = if threads == 1 { "" } else { "s" };
    println!("pollserve listening on http://{addr} ({threads} thread{plural})");
    log::info!("{}", shown.summary());
    let shutdown = running.shutdown_handle();
    let drain = shutdown.clone();
    std::thread::spawn(move || {
        let mut received = signals.forever();
        if received.next().is_some() {
            // Not ready first, still serving: a load balancer checking /readyz stops sending
            // new requests during the grace period; then the drain.
            readiness.stop();
            if grace.is_zero() {
                shutdown.shutdown();
            } else {
                log::info!("shutting down: /readyz answers 503, serving {} s more", grace.as_secs());
                std::thread::spawn(move || {
                    std::thread::sleep(grace);
                    shutdown.shutdown();
                });
            }
        }
        // A second signal while draining means "now".
        if received.next().is_some() {
            std::process::exit(130);
        }
    });
    let result = running.join();
    if let Some((began, open)) = drain.began() {
        let plural = if open == 1 { "" } else { "s" };
        log::info!(
            "stopped: {open} connection{plural} open at shutdown, drained in {} ms",
            began.elapsed().as_millis()
        );
    }
    pollserve::server::log::finish();
    if let Some(warning) = pollserve::server::log::take_dropped_warning() {
        eprintln!("{warning}");
    }
    // Jobs already queued finish (and commit) before the process exits.
    if let Some(services) = &services {
        services.close();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pollserve: worker failed: {e}");
            ExitCode::FAILURE
        }
    }
}
