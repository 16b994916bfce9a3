//! What a client program saw, step by step, and how two runs of it compare.
//!
//! A client program prints one JSON object per line, `{"step": NAME,
//! KEY: OBSERVATION, ...}`. Each top-level key but `step` is one
//! observation. Before comparing, values that legitimately differ between a
//! run through the proxy and a run against the direct twin are replaced by
//! placeholders: timestamps the server took from its clock (`now()`,
//! within two days of the test's own clock) become `<now>`, and uuids the
//! server generated (the app's own ids all start with `00000000`) become
//! `<generated uuid #k>`, numbered by first appearance in the run, so
//! equal keys still have to line up.
//!
//! [`leaf_differences`] finds every place two observations differ.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// One run's observations, in order: (step, key, value).
pub struct Transcript {
    pub steps: Vec<(String, Map<String, Value>)>,
}

impl Transcript {
    /// Parses and normalizes a client program's standard output.
    pub fn parse(stdout: &str, context: &str) -> Transcript {
        let mut generated = HashMap::new();
        let now = chrono::Utc::now();
        let mut steps = Vec::new();
        for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{context}: a line that is not JSON ({e}): {line}"));
            let Value::Object(mut fields) = normalize(value, now, &mut generated) else {
                panic!("{context}: a line that is not a JSON object: {line}")
            };
            let step = match fields.remove("step") {
                Some(Value::String(step)) => step,
                _ => panic!("{context}: a line without a step name: {line}"),
            };
            steps.push((step, fields));
        }
        assert!(!steps.is_empty(), "{context}: the client program reported no step");
        Transcript { steps }
    }
}

fn normalize(value: Value, now: chrono::DateTime<chrono::Utc>, generated: &mut HashMap<String, usize>) -> Value {
    match value {
        Value::String(s) => Value::String(normalize_text(s, now, generated)),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| normalize(v, now, generated)).collect()),
        Value::Object(fields) => {
            Value::Object(fields.into_iter().map(|(k, v)| (k, normalize(v, now, generated))).collect())
        }
        other => other,
    }
}

fn normalize_text(s: String, now: chrono::DateTime<chrono::Utc>, generated: &mut HashMap<String, usize>) -> String {
    if uuid::Uuid::parse_str(&s).is_ok() && s.len() == 36 && !s.starts_with("00000000") {
        let next = generated.len() + 1;
        let k = *generated.entry(s).or_insert(next);
        return format!("<generated uuid #{k}>");
    }
    recent_timestamps_replaced(&s, now)
}

/// `s` with every timestamp in it (a whole value, or inside an error's
/// "Failing row contains (...)") that lies within two days of `now` replaced by `<now>`.
fn recent_timestamps_replaced(s: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut i = 0;
    while i + 19 <= bytes.len() {
        let Some(end) = timestamp_end(bytes, i) else {
            i += 1;
            continue;
        };
        let recent = timestamp(&s[i..end]).is_some_and(|at| (at - now).num_hours().abs() < 48);
        if recent {
            out.push_str(&s[copied..i]);
            out.push_str("<now>");
            copied = end;
        }
        i = end;
    }
    out.push_str(&s[copied..]);
    out
}

/// Where a timestamp starting at `i` ends: `YYYY-MM-DD[T ]HH:MM:SS`, an
/// optional fraction, an optional `Z` or `+HH[:MM]` offset.
fn timestamp_end(b: &[u8], i: usize) -> Option<usize> {
    const SHAPE: &[u8] = b"dddd-dd-dd?dd:dd:dd";
    let fits = SHAPE.iter().enumerate().all(|(k, want)| match (want, b.get(i + k)) {
        (b'd', Some(c)) => c.is_ascii_digit(),
        (b'?', Some(c)) => *c == b' ' || *c == b'T',
        (want, Some(c)) => want == c,
        (_, None) => false,
    });
    if !fits || (i > 0 && b[i - 1].is_ascii_digit()) {
        return None;
    }
    let mut end = i + SHAPE.len();
    let digits_from = |mut k: usize| {
        while b.get(k).is_some_and(u8::is_ascii_digit) {
            k += 1;
        }
        k
    };
    if b.get(end) == Some(&b'.') {
        end = digits_from(end + 1);
    }
    match b.get(end) {
        Some(b'Z') => end += 1,
        Some(b'+' | b'-') if b.get(end + 1).is_some_and(u8::is_ascii_digit) => {
            end = digits_from(end + 1);
            if b.get(end) == Some(&b':') {
                end = digits_from(end + 1);
            }
        }
        _ => {}
    }
    Some(end)
}

/// A timestamp as the clients print them (RFC 3339) or PostgreSQL's text
/// (`2026-01-02 03:04:05.678+00`); one without an offset is taken as UTC.
fn timestamp(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let iso = s.replacen(' ', "T", 1);
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&iso) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    let with_minutes = format!("{iso}:00");
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&with_minutes) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDateTime::parse_from_str(&iso, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|t| t.and_utc())
}

/// Every place where two values differ, as (path, expected, got): the path
/// goes down through objects and through arrays of equal length
/// (`[2].tableID`) and objects with the same keys; arrays of different
/// lengths, and objects with different keys, differ as a whole.
pub fn leaf_differences<'a>(path: String, a: &'a Value, b: &'a Value, out: &mut Vec<(String, &'a Value, &'a Value)>) {
    match (a, b) {
        _ if a == b => {}
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                leaf_differences(format!("{path}[{i}]"), p, q, out);
            }
        }
        // Objects with the same keys (a row, an error's fields) differ field by field;
        // a result against an error differs as a whole.
        (Value::Object(x), Value::Object(y)) if x.keys().eq(y.keys()) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let (p, q) = (x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null));
                leaf_differences(format!("{path}.{k}"), p, q, out);
            }
        }
        _ => out.push((path, a, b)),
    }
}
