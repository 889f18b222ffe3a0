//! `[log] format` on records made by real exchanges on the simulator:
//! exact text for the JSON form and a template, and the config errors.

use std::time::{Duration, Instant};

use weir_core::proxy::LogFormat;
use weir_core::sim::{Sim, WALL_AT_EPOCH};

const CFG: &str = "listen = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"app\"\nservers = [{ addr = \"127.0.0.1:9001\" }]\n[[route]]\nname = \"all\"\nupstream = \"app\"\n";

fn exchange(extra: &str) -> (Sim, Vec<u8>) {
    let mut sim = Sim::from_toml(&format!("{CFG}{extra}"), Instant::now()).unwrap();
    sim.script(9001, &[b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]);
    sim.client(b"GET /a?q=\"1\" HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8 \"x\"\r\n\r\n");
    let mut out = Vec::new();
    let plan = sim.conn.plan();
    plan.config.log_format.write(
        &sim.logs[0],
        plan,
        &mut out,
        WALL_AT_EPOCH + Duration::from_millis(5),
    );
    (sim, out)
}

#[test]
fn the_json_form_is_one_object_per_line_with_every_field() {
    let (_, out) = exchange("[log]\nformat = \"json\"\npath = \"-\"\n");
    let line = String::from_utf8(out).unwrap();
    assert_eq!(
        line,
        "{\"time\":\"2025-11-26T10:40:00.005Z\",\"time_unix\":1764153600.005,\"client_ip\":\"10.0.0.7\",\"peer\":\"10.0.0.7:40000\",\"method\":\"GET\",\"target\":\"/a?q=\\\"1\\\"\",\"version\":\"HTTP/1.1\",\"host\":\"example.com\",\"status\":200,\"route\":\"all\",\"upstream\":\"app\",\"server\":\"127.0.0.1:9001\",\"bytes_in\":68,\"bytes_out\":40,\"duration_ms\":0.000,\"upstream_ms\":0.000,\"tries\":1,\"request_id\":null,\"user_agent\":\"curl/8 \\\"x\\\"\",\"principal\":null,\"note\":null}\n"
    );
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["status"], 200);
    assert_eq!(v["user_agent"], "curl/8 \"x\"");
}

#[test]
fn a_template_writes_the_named_fields_and_absent_ones_as_a_dash() {
    let (_, out) = exchange(
        "[log]\nformat = \"{time} {client_ip} {{{method} {target}}} {status} {upstream}/{server} {request_id} ua={user_agent}\"\n",
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "2025-11-26T10:40:00.005Z 10.0.0.7 {GET /a?q=?1?} 200 app/127.0.0.1:9001 - ua=curl/8 ?x?\n"
    );
}

#[test]
fn a_malformed_request_is_logged_with_what_arrived() {
    let mut sim =
        Sim::from_toml(&format!("{CFG}[log]\nformat = \"json\"\n"), Instant::now()).unwrap();
    sim.client(b"\x16\x03\x01 hello\r\n\r\n");
    let mut out = Vec::new();
    LogFormat::Json.write(&sim.logs[0], sim.conn.plan(), &mut out, WALL_AT_EPOCH);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["status"], 400);
    assert_eq!(v["target"], "\\x16\\x03\\x01 hello\\x0d\\x0a\\x0d\\x0a");
    assert_eq!(v["bytes_in"], 13);
    assert_eq!(v["method"], serde_json::Value::Null);
}

#[test]
fn bad_formats_are_config_errors() {
    for (format, message) in [
        (
            "{nope}",
            "unknown field {nope}; the fields: time, time_unix,",
        ),
        ("{status", "a `{` without its `}`"),
        ("status}", "a `}` without its `{`"),
    ] {
        let e = Sim::from_toml(
            &format!("{CFG}[log]\nformat = \"{format}\"\n"),
            Instant::now(),
        )
        .err()
        .unwrap();
        assert_eq!(e[0].line, Some(9), "{format}");
        assert_eq!(e[0].key, "log.format");
        assert!(e[0].message.starts_with(message), "{}", e[0].message);
    }
}

/// Fields that are not plain ASCII, or hold spaces where a field
/// cannot, stay on one line; the duration is rounded to the microsecond.
#[test]
fn a_line_cleans_every_field_and_rounds_the_duration() {
    let start = Instant::now();
    let mut r = weir_core::AccessRecord::new("10.0.0.7:40000".parse().unwrap(), start);
    r.method = "GET".into();
    r.target = bytes::Bytes::from_static(b"/caf\xc3\xa9/\xff\xc2\x85\"x\"");
    r.principal = "ann smith".into();
    r.request_id = "a\tb".into();
    r.end = start + Duration::from_nanos(1_234_500);
    let mut out = Vec::new();
    r.write_line(&mut out, Duration::from_millis(1_700_000_000_005));
    let line = String::from_utf8(out).unwrap();
    assert_eq!(
        line,
        "1700000000.005 10.0.0.7:40000 \"GET /caf\u{e9}/\u{fffd}??x?\" 0 - 0 0 1.235ms route=- rid=a?b user=ann?smith tries=0 -\n"
    );
    r.end = start + Duration::from_nanos(499);
    let mut out = Vec::new();
    r.write_line(&mut out, Duration::ZERO);
    assert!(String::from_utf8(out).unwrap().contains(" 0.000ms "));
}

/// Addresses and numbers are written as `Display` writes them: IPv4 and
/// IPv6 clients and upstreams, the largest values of each field.
#[test]
fn a_line_writes_addresses_and_numbers_as_display_does() {
    let start = Instant::now();
    let mut r = weir_core::AccessRecord::new("[2001:db8::7]:65535".parse().unwrap(), start);
    r.method = "POST".into();
    r.target = "/".into();
    r.status = 504;
    r.upstream = Some("255.0.10.1:8080".parse().unwrap());
    r.bytes_in = u64::MAX;
    r.bytes_out = 1_000_000_007;
    r.tries = u8::MAX;
    r.note = "upstream timeout";
    r.end = start + Duration::from_secs(3600) + Duration::from_micros(7);
    let mut out = Vec::new();
    r.write_line(&mut out, Duration::from_millis(999));
    let line = String::from_utf8(out).unwrap();
    assert_eq!(
        line,
        format!(
            "0.999 [2001:db8::7]:65535 \"POST /\" 504 255.0.10.1:8080 {} 1000000007 3600000.007ms route=- rid=- user=- tries=255 upstream timeout\n",
            u64::MAX
        )
    );
    r.client = "0.0.0.0:0".parse().unwrap();
    r.upstream = Some("[::1]:1".parse().unwrap());
    let mut out = Vec::new();
    r.write_line(&mut out, Duration::from_millis(1_000));
    let line = String::from_utf8(out).unwrap();
    assert!(
        line.starts_with("1.000 0.0.0.0:0 \"POST /\" 504 [::1]:1 "),
        "{line}"
    );
}
