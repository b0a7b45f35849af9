//! A small Prometheus registry for `GET /metrics`, in the text exposition format
//! 0.0.4, without a metrics crate: the service needs a request counter, a latency
//! histogram and a few counters and gauges of its own, which fit in a page.
//!
//! - [`track`] is a middleware (`axum::middleware::from_fn_with_state`) that counts
//!   every request by method, route template and status, and times it by method and
//!   route. The route is the template axum matched (`/organizer/tickets/{ticket_id}`),
//!   never the raw path, so ticket ids do not each make a series; a request no route
//!   matched is `unmatched`.
//! - [`Metrics::add`] and [`Metrics::set_gauge`] let the service count what it likes.
//! - [`Metrics::render`] writes everything out, every name prefixed `tixbridge_wallet_`,
//!   in a deterministic order.
//!
//! Each lock is held only for one update or one render; a poisoned lock is taken over
//! rather than propagated, since a counter half-incremented by a panicking thread is
//! still a valid counter.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Prefix of every metric name.
pub const PREFIX: &str = "tixbridge_wallet_";

/// Upper bounds, in seconds, of the request duration histogram's buckets.
pub const DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Route label of a request that no route matched.
pub const UNMATCHED: &str = "unmatched";

/// Content type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const REQUESTS: &str = "http_requests_total";
const REQUESTS_HELP: &str = "HTTP requests answered, by method, route template and status code.";
const DURATION: &str = "http_request_duration_seconds";
const DURATION_HELP: &str = "Time from receiving an HTTP request to sending its response head, by method and route template.";

/// The registry. Share it as `Arc<Metrics>`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// route → method → figures.
    http: Mutex<BTreeMap<String, BTreeMap<&'static str, RouteFigures>>>,
    /// Counters and gauges the service names itself.
    families: Mutex<BTreeMap<&'static str, Family>>,
    /// `POST` requests answered so far: the API's write activity, which the sweeper
    /// yields to.
    writes: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Default)]
struct RouteFigures {
    by_status: BTreeMap<u16, u64>,
    duration: Histogram,
}

#[derive(Debug, Default)]
struct Histogram {
    /// Observations per bucket, not cumulative: `buckets[i]` counts those in
    /// `(DURATION_BUCKETS[i-1], DURATION_BUCKETS[i]]`.
    buckets: [u64; DURATION_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        if let Some(i) = DURATION_BUCKETS.iter().position(|le| v <= *le) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += v;
    }
}

/// Label pairs sorted by name, so that the same labels given in another order are the
/// same series.
type Labels = Vec<(&'static str, String)>;

#[derive(Debug)]
struct Family {
    help: &'static str,
    series: Series,
}

#[derive(Debug)]
enum Series {
    Counter(BTreeMap<Labels, u64>),
    Gauge(BTreeMap<Labels, f64>),
}

impl Series {
    fn type_name(&self) -> &'static str {
        match self {
            Series::Counter(_) => "counter",
            Series::Gauge(_) => "gauge",
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The method as a label: one of the standard methods, or `OTHER`, so that a client
/// inventing methods cannot create series at will.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "OTHER",
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    valid_name(name) && !name.contains(':') && !name.starts_with("__")
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one answered request.
    pub fn observe_request(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        if *method == Method::POST {
            self.writes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let method = method_label(method);
        let mut http = lock(&self.http);
        let figures = match http.get_mut(route) {
            Some(by_method) => by_method.entry(method).or_default(),
            None => http
                .entry(route.to_owned())
                .or_default()
                .entry(method)
                .or_default(),
        };
        *figures.by_status.entry(status).or_default() += 1;
        figures.duration.observe(seconds);
    }

    /// How many `POST` requests (the API's writes) were answered so far.
    pub fn write_requests(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Adds `n` to the counter `name` (without the prefix; by convention ending in
    /// `_total`) with these labels. The first call for a name fixes its help text and
    /// kind; a call naming a gauge, one of the built-in HTTP metrics or an invalid
    /// metric or label name is dropped with a warning rather than corrupting the
    /// exposition.
    pub fn add(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, String)],
        n: u64,
    ) {
        self.update(name, help, labels, Kind::Counter, |series, key| {
            if let Series::Counter(map) = series {
                let v = map.entry(key).or_default();
                *v = v.saturating_add(n);
            }
        });
    }

    /// Sets the gauge `name` (without the prefix) with these labels to `value`. The
    /// same rules as for [`Metrics::add`] apply.
    pub fn set_gauge(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, String)],
        value: f64,
    ) {
        self.update(name, help, labels, Kind::Gauge, |series, key| {
            if let Series::Gauge(map) = series {
                map.insert(key, value);
            }
        });
    }

    fn update(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, String)],
        kind: Kind,
        apply: impl FnOnce(&mut Series, Labels),
    ) {
        if !valid_name(name) || name == REQUESTS || name == DURATION {
            tracing::warn!(
                metric = name,
                "invalid or reserved metric name; update dropped"
            );
            return;
        }
        if let Some((bad, _)) = labels.iter().find(|(l, _)| !valid_label_name(l)) {
            tracing::warn!(
                metric = name,
                label = bad,
                "invalid label name; update dropped"
            );
            return;
        }
        let mut key: Labels = labels.to_vec();
        key.sort_by(|a, b| a.0.cmp(b.0));
        let mut families = lock(&self.families);
        let family = families.entry(name).or_insert_with(|| Family {
            help,
            series: match kind {
                Kind::Counter => Series::Counter(BTreeMap::new()),
                Kind::Gauge => Series::Gauge(BTreeMap::new()),
            },
        });
        let same_kind = matches!(
            (&family.series, kind),
            (Series::Counter(_), Kind::Counter) | (Series::Gauge(_), Kind::Gauge)
        );
        if same_kind {
            apply(&mut family.series, key);
        } else {
            tracing::warn!(
                metric = name,
                "metric already registered as a {}; update dropped",
                family.series.type_name()
            );
        }
    }

    /// The whole registry in the Prometheus text exposition format 0.0.4: the HTTP
    /// metrics first, then the service's own in name order; series in label order.
    pub fn render(&self) -> String {
        let mut out = String::new();
        {
            let http = lock(&self.http);
            header_lines(&mut out, REQUESTS, REQUESTS_HELP, "counter");
            for (route, by_method) in http.iter() {
                for (method, figures) in by_method {
                    for (status, n) in &figures.by_status {
                        let _ = writeln!(
                            out,
                            "{PREFIX}{REQUESTS}{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                            escape_label(route)
                        );
                    }
                }
            }
            header_lines(&mut out, DURATION, DURATION_HELP, "histogram");
            for (route, by_method) in http.iter() {
                let route = escape_label(route);
                for (method, figures) in by_method {
                    let h = &figures.duration;
                    let labels = format!("method=\"{method}\",route=\"{route}\"");
                    let mut cumulative = 0;
                    for (le, n) in DURATION_BUCKETS.iter().zip(h.buckets) {
                        cumulative += n;
                        let _ = writeln!(
                            out,
                            "{PREFIX}{DURATION}_bucket{{{labels},le=\"{}\"}} {cumulative}",
                            format_value(*le)
                        );
                    }
                    let _ = writeln!(
                        out,
                        "{PREFIX}{DURATION}_bucket{{{labels},le=\"+Inf\"}} {}",
                        h.count
                    );
                    let _ = writeln!(
                        out,
                        "{PREFIX}{DURATION}_sum{{{labels}}} {}",
                        format_value(h.sum)
                    );
                    let _ = writeln!(out, "{PREFIX}{DURATION}_count{{{labels}}} {}", h.count);
                }
            }
        }
        let families = lock(&self.families);
        for (name, family) in families.iter() {
            header_lines(&mut out, name, family.help, family.series.type_name());
            match &family.series {
                Series::Counter(map) => {
                    for (labels, v) in map {
                        let _ = writeln!(out, "{PREFIX}{name}{} {v}", label_set(labels));
                    }
                }
                Series::Gauge(map) => {
                    for (labels, v) in map {
                        let _ = writeln!(
                            out,
                            "{PREFIX}{name}{} {}",
                            label_set(labels),
                            format_value(*v)
                        );
                    }
                }
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

fn header_lines(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {PREFIX}{name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {PREFIX}{name} {kind}");
}

/// `{a="1",b="2"}`, or nothing without labels.
fn label_set(labels: &[(&'static str, String)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// Label values escape backslash, double quote and line feed.
fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// Help text escapes backslash and line feed.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Floats as Prometheus reads them: `+Inf`, `-Inf`, `NaN`, otherwise Rust's shortest
/// round-trip form (`0.005`, `1`, `2.5`).
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// Middleware counting and timing every request. Layer it with
/// `axum::middleware::from_fn_with_state(metrics, track)` through `Router::layer`, so
/// that it runs after routing and sees the matched route template. The duration is
/// measured to the response head; a streamed body's transfer is not included.
pub async fn track(State(m): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let started = Instant::now();
    let resp = next.run(req).await;
    let seconds = started.elapsed().as_secs_f64();
    m.observe_request(
        &method,
        route.as_deref().unwrap_or(UNMATCHED),
        resp.status().as_u16(),
        seconds,
    );
    resp
}

/// `GET /metrics`.
pub async fn handler(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], m.render())
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request as HttpRequest, StatusCode};
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    fn lines(m: &Metrics) -> Vec<String> {
        m.render().lines().map(str::to_owned).collect()
    }

    fn has(m: &Metrics, line: &str) -> bool {
        lines(m).iter().any(|l| l == line)
    }

    #[test]
    fn requests_are_counted_by_method_route_and_status() {
        let m = Metrics::new();
        m.observe_request(&Method::GET, "/organizer/tickets", 200, 0.002);
        m.observe_request(&Method::GET, "/organizer/tickets", 200, 0.002);
        m.observe_request(&Method::GET, "/organizer/tickets", 401, 0.002);
        m.observe_request(&Method::POST, "/organizer/tickets", 200, 0.002);
        let out = m.render();
        assert!(out.contains("# HELP tixbridge_wallet_http_requests_total "));
        assert!(out.contains("# TYPE tixbridge_wallet_http_requests_total counter\n"));
        for line in [
            r#"tixbridge_wallet_http_requests_total{method="GET",route="/organizer/tickets",status="200"} 2"#,
            r#"tixbridge_wallet_http_requests_total{method="GET",route="/organizer/tickets",status="401"} 1"#,
            r#"tixbridge_wallet_http_requests_total{method="POST",route="/organizer/tickets",status="200"} 1"#,
        ] {
            assert!(has(&m, line), "{line} missing from\n{out}");
        }
    }

    #[test]
    fn unusual_methods_share_one_label() {
        let m = Metrics::new();
        let odd = Method::from_bytes(b"BREW").unwrap();
        m.observe_request(&odd, UNMATCHED, 404, 0.0);
        assert!(has(
            &m,
            r#"tixbridge_wallet_http_requests_total{method="OTHER",route="unmatched",status="404"} 1"#
        ));
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::new();
        for s in [0.0005, 0.003, 0.003, 0.2, 3.0, 60.0] {
            m.observe_request(&Method::GET, "/health", 200, s);
        }
        let bucket = |le: &str| {
            format!(
                r#"tixbridge_wallet_http_request_duration_seconds_bucket{{method="GET",route="/health",le="{le}"}}"#
            )
        };
        let expected = [
            ("0.001", 1),
            ("0.005", 3),
            ("0.01", 3),
            ("0.025", 3),
            ("0.05", 3),
            ("0.1", 3),
            ("0.25", 4),
            ("0.5", 4),
            ("1", 4),
            ("2.5", 4),
            ("5", 5),
            ("10", 5),
            ("+Inf", 6),
        ];
        let out = lines(&m);
        for (le, n) in expected {
            let line = format!("{} {n}", bucket(le));
            assert!(
                out.contains(&line),
                "{line} missing from\n{}",
                out.join("\n")
            );
        }
        let count = out
            .iter()
            .position(|l| l.starts_with("tixbridge_wallet_http_request_duration_seconds_count"))
            .expect("count line");
        assert!(out[count].ends_with(" 6"));
        let sum: f64 = out[count - 1]
            .strip_prefix(
                r#"tixbridge_wallet_http_request_duration_seconds_sum{method="GET",route="/health"} "#,
            )
            .expect("sum line before count")
            .parse()
            .unwrap();
        assert!((sum - 63.2065).abs() < 1e-9, "sum {sum}");
        // Bucket lines come in increasing `le` order, +Inf last, then _sum, _count.
        let first = out
            .iter()
            .position(|l| l.starts_with(&bucket("0.001")))
            .unwrap();
        assert!(out[first + 12].starts_with(&bucket("+Inf")));
        assert!(out.contains(
            &"# TYPE tixbridge_wallet_http_request_duration_seconds histogram".to_owned()
        ));
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        let m = Metrics::new();
        m.add(
            "odd_total",
            "Help with a \\ and a\nnew line.",
            &[("value", "a\\b\"c\nd".to_owned())],
            1,
        );
        m.observe_request(&Method::GET, "/x\"y", 200, 0.0);
        assert!(has(
            &m,
            r#"tixbridge_wallet_odd_total{value="a\\b\"c\nd"} 1"#
        ));
        assert!(has(
            &m,
            r#"# HELP tixbridge_wallet_odd_total Help with a \\ and a\nnew line."#
        ));
        assert!(has(
            &m,
            r#"tixbridge_wallet_http_requests_total{method="GET",route="/x\"y",status="200"} 1"#
        ));
    }

    #[test]
    fn named_counters_and_gauges() {
        let m = Metrics::new();
        let help = "Tickets injected, by result.";
        m.add(
            "tickets_injected_total",
            help,
            &[("result", "OK".into())],
            3,
        );
        m.add(
            "tickets_injected_total",
            help,
            &[("result", "OK".into())],
            2,
        );
        m.add(
            "tickets_injected_total",
            help,
            &[("result", "KO".into())],
            1,
        );
        m.set_gauge("key_cache_entries", "Keys cached.", &[], 7.0);
        m.set_gauge("key_cache_entries", "Keys cached.", &[], 4.0);
        // Label order does not make another series.
        let ab = [("a", "1".to_owned()), ("b", "2".to_owned())];
        let ba = [("b", "2".to_owned()), ("a", "1".to_owned())];
        m.add("pairs_total", "Pairs.", &ab, 1);
        m.add("pairs_total", "Pairs.", &ba, 1);
        // A name reused with another kind, a reserved name and a bad name are dropped.
        m.set_gauge("tickets_injected_total", "Other.", &[], 1.0);
        m.add("http_requests_total", "Clash.", &[], 1);
        m.add("bad-name", "Bad.", &[], 1);
        m.add("bad_label_total", "Bad.", &[("__x", String::new())], 1);

        let out = m.render();
        for line in [
            "# TYPE tixbridge_wallet_tickets_injected_total counter",
            r#"tixbridge_wallet_tickets_injected_total{result="KO"} 1"#,
            r#"tixbridge_wallet_tickets_injected_total{result="OK"} 5"#,
            "# TYPE tixbridge_wallet_key_cache_entries gauge",
            "tixbridge_wallet_key_cache_entries 4",
            r#"tixbridge_wallet_pairs_total{a="1",b="2"} 2"#,
        ] {
            assert!(has(&m, line), "{line} missing from\n{out}");
        }
        assert!(!out.contains("bad"), "{out}");
        assert_eq!(
            out.matches("# TYPE tixbridge_wallet_http_requests_total")
                .count(),
            1
        );
        assert_eq!(
            out.matches("tixbridge_wallet_tickets_injected_total")
                .count(),
            4,
            "{out}"
        );
        // Deterministic: two renders of the same registry are identical.
        assert_eq!(out, m.render());
        // Families follow the HTTP metrics in name order.
        let pos = |s: &str| out.find(s).unwrap();
        assert!(
            pos("# HELP tixbridge_wallet_http_request_duration_seconds")
                < pos("# HELP tixbridge_wallet_key_cache")
        );
        assert!(
            pos("# HELP tixbridge_wallet_key_cache") < pos("# HELP tixbridge_wallet_pairs_total")
        );
        assert!(
            pos("# HELP tixbridge_wallet_pairs_total")
                < pos("# HELP tixbridge_wallet_tickets_injected")
        );
    }

    #[test]
    fn special_floats_are_written_as_prometheus_reads_them() {
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(0.25), "0.25");
        assert_eq!(format_value(10.0), "10");
    }

    #[tokio::test]
    async fn the_middleware_records_route_templates_and_the_handler_serves_them() {
        let m = Arc::new(Metrics::new());
        let app = Router::new()
            .route("/tickets/{id}", get(|| async { "ok" }))
            .route("/metrics", get(handler).with_state(m.clone()))
            .layer(axum::middleware::from_fn_with_state(m.clone(), track));

        for uri in ["/tickets/T1", "/tickets/T2", "/nowhere/T3"] {
            let resp = app
                .clone()
                .oneshot(HttpRequest::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let expected = if uri.starts_with("/tickets") {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(resp.status(), expected, "{uri}");
        }
        let resp = app
            .oneshot(HttpRequest::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            text.contains(
                r#"tixbridge_wallet_http_requests_total{method="GET",route="/tickets/{id}",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"tixbridge_wallet_http_requests_total{method="GET",route="unmatched",status="404"} 1"#
            ),
            "{text}"
        );
        assert!(
            !text.contains("T1") && !text.contains("T3"),
            "raw paths must not become labels:\n{text}"
        );
        assert!(text.contains(
            r#"tixbridge_wallet_http_request_duration_seconds_count{method="GET",route="/tickets/{id}"} 2"#
        ));
    }

    #[test]
    fn the_registry_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Metrics>();
    }
}
