//! Counters for `GET /metrics`, and their Prometheus text exposition.
//!
//! Each worker thread owns a [`WorkerMetrics`] and is the only one writing it: a count is a load
//! and a store on a cache line no other thread writes (no atomic read-modify-write, no sharing
//! on the request path). A scrape reads every worker's counters and sums them, so a value may
//! lag by the requests in flight, never go backwards. Other parts (the database, the log writer)
//! report through [`Source`]s, read at scrape time. Nothing here knows about HTTP.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A count only its owner thread increments (see the module's first paragraph).
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Call only from the owning thread: concurrent adds would lose counts.
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A level only its owner thread changes (open connections).
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// Adds `n` (negative to lower it). Owner thread only, as for [`Counter::add`].
    pub fn add(&self, n: i64) {
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds, in seconds, of the request-duration histogram's buckets (`+Inf` follows).
/// Durations are taken on the worker loop's clock, which is read once per wakeup: a request
/// answered in the wakeup that read it counts as 0 — the histogram shows time spent waiting
/// (for the database, the blocking pool, a deferred handler), which is where latency hides.
pub const DURATION_BUCKETS: [f64; 12] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// [`DURATION_BUCKETS`] in microseconds, as requests are counted.
const BUCKET_MICROS: [u64; 12] =
    [500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000];

/// The five status classes, `1xx` to `5xx`.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Route labels besides the app's patterns: requests that matched no route, and requests the
/// connection refused before routing them (malformed, too large, too slow).
pub const UNMATCHED: &str = "(unmatched)";
/// See [`UNMATCHED`].
pub const REJECTED: &str = "(rejected)";

/// Why a request timed out with 408.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// The head did not arrive in time.
    Header,
    /// The body paused too long.
    Body,
}

/// One worker's counters.
#[derive(Debug)]
pub struct WorkerMetrics {
    /// Requests by route (the registry's labels, in order) and status class.
    requests: Box<[[Counter; 5]]>,
    /// Request durations: one counter per bucket of [`DURATION_BUCKETS`], then `+Inf`.
    durations: [Counter; DURATION_BUCKETS.len() + 1],
    duration_sum_micros: Counter,
    /// Connections open on this worker.
    pub open_connections: Gauge,
    /// Connections accepted over the limit and answered 503.
    pub refused_at_capacity: Counter,
    /// 408s for a slow head, and for a slow body.
    timeouts: [Counter; 2],
}

impl WorkerMetrics {
    fn new(routes: usize) -> WorkerMetrics {
        WorkerMetrics {
            requests: (0..routes).map(|_| Default::default()).collect(),
            durations: Default::default(),
            duration_sum_micros: Counter::default(),
            open_connections: Gauge::default(),
            refused_at_capacity: Counter::default(),
            timeouts: Default::default(),
        }
    }

    /// One request answered: its route (an index into the registry's labels; out of range
    /// counts as unmatched), its status code and how long it took. Runs for every request:
    /// integers only, and a request answered within its wakeup (0 µs) takes no search.
    pub fn record(&self, route: usize, status: u16, took: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        let unmatched = self.requests.len().saturating_sub(2);
        if let Some(counts) = self.requests.get(route).or_else(|| self.requests.get(unmatched)) {
            counts[class].add(1);
        }
        if took.is_zero() {
            return self.durations[0].add(1);
        }
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = BUCKET_MICROS.iter().position(|&bound| micros <= bound).unwrap_or(BUCKET_MICROS.len());
        self.durations[bucket].add(1);
        self.duration_sum_micros.add(micros);
    }

    /// The time from `from` to `to`, zero when `to` is not later: on the loop's clock a request
    /// is mostly answered at the instant it was read, and this test is cheaper than
    /// `Instant::saturating_duration_since` (~90 instructions), which runs for every request.
    pub fn elapsed(from: Instant, to: Instant) -> Duration {
        if to > from { to - from } else { Duration::ZERO }
    }

    /// A request timed out.
    pub fn timed_out(&self, timeout: Timeout) {
        self.timeouts[timeout as usize].add(1);
    }
}

/// Something that reports its own figures at scrape time (a database's queue, the log writer).
pub trait Source: Send + Sync {
    /// Writes its metrics.
    fn report(&self, out: &mut Exposition);
}

/// The metrics of one server: the route labels, every worker's counters, and the sources.
pub struct Metrics {
    /// The app's route patterns, then [`UNMATCHED`] and [`REJECTED`].
    routes: Vec<String>,
    workers: Mutex<Vec<Arc<WorkerMetrics>>>,
    sources: Vec<Arc<dyn Source>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("routes", &self.routes).finish_non_exhaustive()
    }
}

impl Metrics {
    /// Metrics for an app with these route patterns, and these other sources.
    pub fn new(routes: impl IntoIterator<Item = String>, sources: Vec<Arc<dyn Source>>) -> Metrics {
        let mut routes: Vec<String> = routes.into_iter().collect();
        routes.extend([UNMATCHED.to_owned(), REJECTED.to_owned()]);
        Metrics { routes, workers: Mutex::new(Vec::new()), sources }
    }

    /// The route index requests refused before routing count under.
    pub fn rejected_route(&self) -> usize {
        self.routes.len() - 1
    }

    /// Counters for one more worker.
    pub fn add_worker(&self) -> Arc<WorkerMetrics> {
        let worker = Arc::new(WorkerMetrics::new(self.routes.len()));
        self.workers.lock().unwrap_or_else(PoisonError::into_inner).push(Arc::clone(&worker));
        worker
    }

    /// Everything, in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let sum = |f: &dyn Fn(&WorkerMetrics) -> u64| workers.iter().map(|w| f(w)).sum::<u64>();
        let mut out = Exposition::default();
        out.family(
            "pollserve_requests_total",
            "counter",
            "Requests answered, by route pattern and status class.",
        );
        for (index, route) in self.routes.iter().enumerate() {
            for (class, name) in CLASSES.iter().enumerate() {
                let count = sum(&|w| w.requests.get(index).map_or(0, |counts| counts[class].get()));
                if count > 0 {
                    out.sample(
                        "pollserve_requests_total",
                        &[("route", route), ("class", name)],
                        count as f64,
                    );
                }
            }
        }
        out.family(
            "pollserve_request_duration_seconds",
            "histogram",
            "Time from reading a request to queueing its response, on the worker loop's clock.",
        );
        let mut cumulative = 0;
        for (bucket, bound) in
            DURATION_BUCKETS.iter().map(f64::to_string).chain(["+Inf".to_owned()]).enumerate()
        {
            cumulative += sum(&|w| w.durations[bucket].get());
            out.sample("pollserve_request_duration_seconds_bucket", &[("le", &bound)], cumulative as f64);
        }
        let seconds = sum(&|w| w.duration_sum_micros.get()) as f64 / 1e6;
        out.sample("pollserve_request_duration_seconds_sum", &[], seconds);
        out.sample("pollserve_request_duration_seconds_count", &[], cumulative as f64);
        let open = workers.iter().map(|w| w.open_connections.get()).sum::<i64>();
        out.gauge("pollserve_open_connections", "Client connections open now.", open as f64);
        let refused = sum(&|w| w.refused_at_capacity.get());
        out.counter(
            "pollserve_connections_refused_total",
            "Connections answered 503 because the server was at its connection limit.",
            refused,
        );
        out.family("pollserve_request_timeouts_total", "counter", "Requests answered 408, by what was late.");
        for (index, kind) in ["header", "body"].iter().enumerate() {
            out.sample(
                "pollserve_request_timeouts_total",
                &[("kind", kind)],
                sum(&|w| w.timeouts[index].get()) as f64,
            );
        }
        for source in &self.sources {
            source.report(&mut out);
        }
        out.text
    }
}

/// Text being written in the Prometheus exposition format.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// Starts a metric family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample of the current family. Label values are escaped as the format asks.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        for (i, (label, value)) in labels.iter().enumerate() {
            self.text.push(if i == 0 { '{' } else { ',' });
            let escaped = value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
            let _ = write!(self.text, "{label}=\"{escaped}\"");
        }
        if !labels.is_empty() {
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    /// A family with one unlabelled counter sample.
    pub fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, "counter", help);
        self.sample(name, &[], value as f64);
    }

    /// A family with one unlabelled gauge sample.
    pub fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.family(name, "gauge", help);
        self.sample(name, &[], value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_are_summed_and_buckets_are_cumulative() {
        let metrics = Metrics::new(["/a".to_owned(), "/b\"q".to_owned()], Vec::new());
        let (one, two) = (metrics.add_worker(), metrics.add_worker());
        one.record(0, 200, Duration::ZERO);
        two.record(0, 204, Duration::from_millis(3));
        two.record(1, 503, Duration::from_secs(2));
        one.record(99, 404, Duration::ZERO);
        one.timed_out(Timeout::Body);
        two.open_connections.add(3);
        let text = metrics.render();
        for line in [
            r#"pollserve_requests_total{route="/a",class="2xx"} 2"#,
            r#"pollserve_requests_total{route="/b\"q",class="5xx"} 1"#,
            r#"pollserve_requests_total{route="(unmatched)",class="4xx"} 1"#,
            r#"pollserve_request_duration_seconds_bucket{le="0.0005"} 2"#,
            r#"pollserve_request_duration_seconds_bucket{le="0.005"} 3"#,
            r#"pollserve_request_duration_seconds_bucket{le="+Inf"} 4"#,
            "pollserve_request_duration_seconds_sum 2.003",
            "pollserve_request_duration_seconds_count 4",
            "pollserve_open_connections 3",
            r#"pollserve_request_timeouts_total{kind="body"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
    }
}
