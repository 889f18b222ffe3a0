//! Prometheus text exposition (0.0.4) and OpenMetrics 1.0 of a merged
//! [`Snapshot`]. The README's metrics table lists what is written here.

use std::fmt::Write;
use std::time::Duration;

use super::{Histogram, Snapshot, BUCKETS};

/// Which exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`.
    Prometheus,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    /// The one a scrape's `Accept` asks for.
    pub fn from_accept(accept: Option<&[u8]>) -> Format {
        match accept {
            Some(a) if a.windows(23).any(|w| w == b"application/openmetrics") => {
                Format::OpenMetrics
            }
            _ => Format::Prometheus,
        }
    }

    /// Its `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// What the process knows beyond the workers' counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Process {
    /// The plan generation in force.
    pub generation: u64,
    /// Reloads that put a new generation in force.
    pub reloads_ok: u64,
    /// Reloads refused (the running config stayed).
    pub reloads_failed: u64,
    /// Since the process started.
    pub uptime: Duration,
}

/// A label value, escaped.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out {
    text: String,
    format: Format,
}

impl Out {
    /// `# HELP` and `# TYPE` of a family; a counter's family name drops
    /// `_total` in OpenMetrics.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let name = match (self.format, kind) {
            (Format::OpenMetrics, "counter") => name.trim_end_matches("_total"),
            _ => name,
        };
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &str, value: impl std::fmt::Display) {
        if labels.is_empty() {
            let _ = writeln!(self.text, "{name} {value}");
        } else {
            let _ = writeln!(self.text, "{name}{{{labels}}} {value}");
        }
    }

    fn histogram(&mut self, name: &str, labels: &str, h: &Histogram) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, c) in h.counts.iter().enumerate() {
            cumulative += c;
            let le = BUCKETS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(
                self.text,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        let sum = h.sum_ns as f64 / 1e9;
        self.sample(&format!("{name}_sum"), labels, sum);
        self.sample(&format!("{name}_count"), labels, h.count());
    }
}

const CLASSES: [&str; 6] = ["none", "1xx", "2xx", "3xx", "4xx", "5xx"];

/// Renders `s` and `p` in `format`.
pub fn render(s: &Snapshot, p: &Process, format: Format) -> String {
    let mut o = Out {
        text: String::with_capacity(8192),
        format,
    };
    let m = &s.metrics;
    let mut routes: Vec<_> = m.routes.iter().collect();
    routes.sort_by(|a, b| a.0.cmp(b.0));
    o.family(
        "weir_requests_total",
        "counter",
        "Requests by route, upstream group and status class (none: no response was sent).",
    );
    for (route, r) in &routes {
        let mut ups: Vec<_> = r.by_upstream.iter().collect();
        ups.sort_by(|a, b| a.0.cmp(b.0));
        for (up, counts) in ups {
            for (i, n) in counts.iter().enumerate() {
                if *n > 0 {
                    let labels = format!(
                        "route=\"{}\",upstream=\"{}\",code=\"{}\"",
                        esc(route),
                        esc(up),
                        CLASSES[i]
                    );
                    o.sample("weir_requests_total", &labels, n);
                }
            }
        }
    }
    o.family(
        "weir_request_duration_seconds",
        "histogram",
        "Whole exchanges, first request byte to the end, by route.",
    );
    for (route, r) in &routes {
        o.histogram(
            "weir_request_duration_seconds",
            &format!("route=\"{}\"", esc(route)),
            &r.duration,
        );
    }
    let mut ups: Vec<_> = m.upstreams.iter().collect();
    ups.sort_by(|a, b| a.0.cmp(b.0));
    o.family(
        "weir_upstream_response_seconds",
        "histogram",
        "From picking a server to its response head, by upstream group.",
    );
    for (up, u) in &ups {
        o.histogram(
            "weir_upstream_response_seconds",
            &format!("upstream=\"{}\"", esc(up)),
            &u.response_time,
        );
    }
    type OfUpstream = fn(&super::UpstreamStats) -> u64;
    let per_upstream: [(&str, &str, OfUpstream); 2] = [
        (
            "weir_upstream_retries_total",
            "Servers tried beyond the first, by upstream group.",
            |u| u.retries,
        ),
        (
            "weir_upstream_fail_open_total",
            "Requests sent to a down server because every server of the group was down (fail_open).",
            |u| u.fail_open,
        ),
    ];
    for (name, help, value) in per_upstream {
        o.family(name, "counter", help);
        for (up, u) in &ups {
            o.sample(name, &format!("upstream=\"{}\"", esc(up)), value(u));
        }
    }
    o.family(
        "weir_connections_evicted_total",
        "counter",
        "Idle or silent client connections closed to make room at max_connections.",
    );
    o.sample("weir_connections_evicted_total", "", m.connections_evicted);
    o.family(
        "weir_store_errors_total",
        "counter",
        "Requests a rate limit decided without its shared store (Redis down or slow), as on_store_error says.",
    );
    o.sample("weir_store_errors_total", "", m.store_errors);
    o.family(
        "weir_received_bytes_total",
        "counter",
        "Request bytes received from clients.",
    );
    o.sample("weir_received_bytes_total", "", m.bytes_in);
    o.family(
        "weir_sent_bytes_total",
        "counter",
        "Response bytes sent to clients.",
    );
    o.sample("weir_sent_bytes_total", "", m.bytes_out);
    o.family(
        "weir_client_connections",
        "gauge",
        "Client connections open.",
    );
    o.sample(
        "weir_client_connections",
        "",
        m.connections_opened.saturating_sub(m.connections_closed),
    );
    o.family(
        "weir_upstream_pool_connections",
        "gauge",
        "Idle upstream connections kept for reuse.",
    );
    o.sample("weir_upstream_pool_connections", "", s.pooled);
    let server = |st: &super::ServerStat| {
        format!("upstream=\"{}\",server=\"{}\"", esc(&st.upstream), st.addr)
    };
    // Per server: (name, type, help, value).
    type Of = fn(&super::ServerStat) -> u64;
    let per_server: [(&str, &str, &str, Of); 4] = [
        (
            "weir_server_up",
            "gauge",
            "1 unless passive health or the active checks marked the server down (in any worker).",
            |st| u64::from(st.up),
        ),
        (
            "weir_server_in_flight",
            "gauge",
            "Requests sent to the server and not finished.",
            |st| st.in_flight,
        ),
        (
            "weir_server_requests_total",
            "counter",
            "Requests sent to the server (retries included).",
            |st| st.requests,
        ),
        (
            "weir_server_failures_total",
            "counter",
            "Passive failures (connect, reset, timeout, bad response) of the server.",
            |st| st.failures,
        ),
    ];
    for (name, kind, help, value) in per_server {
        o.family(name, kind, help);
        for st in &s.servers {
            o.sample(name, &server(st), value(st));
        }
    }
    o.family(
        "weir_policy_rejections_total",
        "counter",
        "Answers of 400 or more made by a layer, by its kind.",
    );
    let mut rej: Vec<_> = m.rejections.iter().collect();
    rej.sort();
    for (kind, n) in rej {
        o.sample(
            "weir_policy_rejections_total",
            &format!("policy=\"{kind}\""),
            n,
        );
    }
    o.family("weir_config_reloads_total", "counter", "Reloads by result.");
    o.sample(
        "weir_config_reloads_total",
        "result=\"success\"",
        p.reloads_ok,
    );
    o.sample(
        "weir_config_reloads_total",
        "result=\"failure\"",
        p.reloads_failed,
    );
    o.family(
        "weir_config_generation",
        "gauge",
        "The config generation in force (1 at start, +1 per reload).",
    );
    o.sample("weir_config_generation", "", p.generation);
    o.family(
        "weir_uptime_seconds",
        "gauge",
        "Seconds since the process started.",
    );
    o.sample("weir_uptime_seconds", "", p.uptime.as_secs_f64());
    if format == Format::OpenMetrics {
        o.text.push_str("# EOF\n");
    }
    o.text
}
