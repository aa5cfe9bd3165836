//! Prometheus metrics: counters and histograms with labels, rendered in the text exposition
//! format (version 0.0.4) that every Prometheus scraper reads.
//!
//! Written here rather than taken from a crate because it is small, has no parser (it only
//! writes), and a server must not pull a metrics framework's global registry into a security
//! component. Label values come from the services (decisions, error kinds), never from
//! request bytes unbounded: a service that labels by image must bound the set itself.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

/// All metrics of one server, rendered together.
#[derive(Default, Clone)]
pub struct Registry {
    metrics: Arc<Mutex<Vec<Metric>>>,
}

#[derive(Clone)]
enum Metric {
    Counter(Counter),
    Histogram(Histogram),
}

/// A monotonically increasing count per label set.
#[derive(Clone)]
pub struct Counter {
    inner: Arc<CounterInner>,
}

struct CounterInner {
    name: String,
    help: String,
    labels: Vec<String>,
    values: Mutex<BTreeMap<Vec<String>, u64>>,
}

/// Observations counted into cumulative buckets, per label set.
#[derive(Clone)]
pub struct Histogram {
    inner: Arc<HistogramInner>,
}

struct HistogramInner {
    name: String,
    help: String,
    labels: Vec<String>,
    buckets: Vec<f64>,
    values: Mutex<BTreeMap<Vec<String>, HistogramValue>>,
}

#[derive(Clone, Default)]
struct HistogramValue {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// Latency buckets in seconds, from a warm-cache decision (under a millisecond) to a cold
/// verification near the deadline.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Registry {
    /// A new, empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Registers a counter with these label names.
    pub fn counter(&self, name: &str, help: &str, labels: &[&str]) -> Counter {
        let counter = Counter {
            inner: Arc::new(CounterInner {
                name: name.to_string(),
                help: help.to_string(),
                labels: labels.iter().map(|l| l.to_string()).collect(),
                values: Mutex::new(BTreeMap::new()),
            }),
        };
        self.push(Metric::Counter(counter.clone()));
        counter
    }

    /// Registers a histogram with these label names and bucket upper bounds (ascending).
    pub fn histogram(&self, name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> Histogram {
        let histogram = Histogram {
            inner: Arc::new(HistogramInner {
                name: name.to_string(),
                help: help.to_string(),
                labels: labels.iter().map(|l| l.to_string()).collect(),
                buckets: buckets.to_vec(),
                values: Mutex::new(BTreeMap::new()),
            }),
        };
        self.push(Metric::Histogram(histogram.clone()));
        histogram
    }

    fn push(&self, metric: Metric) {
        lock(&self.metrics).push(metric);
    }

    /// Every metric in the text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for metric in lock(&self.metrics).iter() {
            match metric {
                Metric::Counter(c) => c.render(&mut out),
                Metric::Histogram(h) => h.render(&mut out),
            }
        }
        out
    }
}

/// The content type of [`Registry::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while counting cannot leave a count half-written; keep serving.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Counter {
    /// Adds one for these label values (in the order the names were registered).
    pub fn inc(&self, labels: &[&str]) {
        self.add(labels, 1);
    }

    /// Adds `n` for these label values.
    pub fn add(&self, labels: &[&str], n: u64) {
        let key = labels.iter().map(|l| l.to_string()).collect();
        *lock(&self.inner.values).entry(key).or_default() += n;
    }

    /// The current count for these label values.
    pub fn get(&self, labels: &[&str]) -> u64 {
        let key: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
        lock(&self.inner.values).get(&key).copied().unwrap_or(0)
    }

    fn render(&self, out: &mut String) {
        let i = &self.inner;
        header(out, &i.name, &i.help, "counter");
        for (values, n) in lock(&i.values).iter() {
            let _ = writeln!(out, "{}{} {n}", i.name, label_set(&i.labels, values, None));
        }
    }
}

impl Histogram {
    /// Records one observation (seconds, for latencies) for these label values.
    pub fn observe(&self, labels: &[&str], value: f64) {
        let key = labels.iter().map(|l| l.to_string()).collect();
        let mut values = lock(&self.inner.values);
        let v = values.entry(key).or_insert_with(|| HistogramValue {
            counts: vec![0; self.inner.buckets.len()],
            ..HistogramValue::default()
        });
        for (bound, count) in self.inner.buckets.iter().zip(v.counts.iter_mut()) {
            if value <= *bound {
                *count += 1;
            }
        }
        v.sum += value;
        v.count += 1;
    }

    fn render(&self, out: &mut String) {
        let i = &self.inner;
        header(out, &i.name, &i.help, "histogram");
        for (values, v) in lock(&i.values).iter() {
            for (bound, count) in i.buckets.iter().zip(&v.counts) {
                let le = format_float(*bound);
                let labels = label_set(&i.labels, values, Some(&le));
                let _ = writeln!(out, "{}_bucket{labels} {count}", i.name);
            }
            let labels = label_set(&i.labels, values, Some("+Inf"));
            let _ = writeln!(out, "{}_bucket{labels} {}", i.name, v.count);
            let labels = label_set(&i.labels, values, None);
            let _ = writeln!(out, "{}_sum{labels} {}", i.name, format_float(v.sum));
            let _ = writeln!(out, "{}_count{labels} {}", i.name, v.count);
        }
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn label_set(names: &[String], values: &[String], le: Option<&str>) -> String {
    let mut pairs: Vec<String> = names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        pairs.push(format!("le=\"{le}\""));
    }
    if pairs.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", pairs.join(","))
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn format_float(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let s = format!("{v}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_text_exposition_format() {
        let r = Registry::new();
        let c = r.counter("vouch_requests_total", "Requests.", &["decision"]);
        c.inc(&["allow"]);
        c.add(&["deny \"x\"\n"], 2);
        let h = r.histogram("vouch_latency_seconds", "Latency.", &[], &[0.01, 1.0]);
        h.observe(&[], 0.005);
        h.observe(&[], 0.5);
        h.observe(&[], 3.0);
        let text = r.render();
        let expected = "\
# HELP vouch_requests_total Requests.
# TYPE vouch_requests_total counter
vouch_requests_total{decision=\"allow\"} 1
vouch_requests_total{decision=\"deny \\\"x\\\"\\n\"} 2
# HELP vouch_latency_seconds Latency.
# TYPE vouch_latency_seconds histogram
vouch_latency_seconds_bucket{le=\"0.01\"} 1
vouch_latency_seconds_bucket{le=\"1.0\"} 2
vouch_latency_seconds_bucket{le=\"+Inf\"} 3
vouch_latency_seconds_sum 3.505
vouch_latency_seconds_count 3
";
        assert_eq!(text, expected);
        assert_eq!(c.get(&["allow"]), 1);
    }
}
