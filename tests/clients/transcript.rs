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

/// A difference the suite knows of and excludes from the verdict, with why:
/// the fix it waits for. Printed as a known difference on every run.
pub struct Known {
    pub client: &'static str,
    /// The phases it shows in.
    pub phases: &'static [&'static str],
    pub step: &'static str,
    pub observation: &'static str,
    pub reason: &'static str,
}

/// The outcome of comparing every phase's runs of one client.
#[derive(Default)]
pub struct Verdict {
    /// Per phase: observations compared, equal ones, known differences.
    pub tallies: Vec<(String, usize, usize, usize)>,
    pub unexpected: Vec<String>,
    pub known_seen: Vec<String>,
}

impl Verdict {
    /// Compares the proxy's run of `phase` (`got`) with the twin's (`expected`).
    pub fn compare(&mut self, client: &str, phase: &str, expected: &Transcript, got: &Transcript, known: &[Known]) {
        let (mut compared, mut equal, mut excused) = (0, 0, 0);
        let steps = expected.steps.len().max(got.steps.len());
        for i in 0..steps {
            let (want, have) = (expected.steps.get(i), got.steps.get(i));
            let (Some((step, want)), Some((got_step, have))) = (want, have) else {
                let name = want.or(have).map(|(s, _)| s.as_str()).unwrap_or("?");
                self.unexpected.push(format!(
                    "{client} {phase}: step {name} is in only one run (direct {} steps, proxy {} steps)",
                    expected.steps.len(),
                    got.steps.len()
                ));
                continue;
            };
            if step != got_step {
                self.unexpected
                    .push(format!("{client} {phase}: step {i} is {step} direct but {got_step} through the proxy"));
                continue;
            }
            let mut keys: Vec<&String> = want.keys().chain(have.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                compared += 1;
                let (w, h) = (want.get(key).unwrap_or(&Value::Null), have.get(key).unwrap_or(&Value::Null));
                if w == h {
                    equal += 1;
                    continue;
                }
                let shown = describe(client, phase, step, key, w, h);
                match find_known(known, client, phase, step, key) {
                    Some(k) => {
                        excused += 1;
                        self.known_seen.push(format!("known difference ({}): {shown}", k.reason));
                    }
                    None => self.unexpected.push(shown),
                }
            }
        }
        self.tallies.push((phase.to_string(), compared, equal, excused));
    }

    /// Counts a check of the proxied database itself: `failure` says what is wrong, if anything.
    pub fn require(
        &mut self,
        client: &str,
        phase: &str,
        step: &str,
        observation: &str,
        failure: Option<String>,
        known: &[Known],
    ) {
        let tally = self.tallies.iter_mut().rfind(|t| t.0 == phase).expect("the phase was compared first");
        tally.1 += 1;
        let Some(failure) = failure else {
            tally.2 += 1;
            return;
        };
        let shown = format!("{client} {phase} {step}.{observation}: {failure}");
        match find_known(known, client, phase, step, observation) {
            Some(k) => {
                tally.3 += 1;
                self.known_seen.push(format!("known difference ({}): {shown}", k.reason));
            }
            None => self.unexpected.push(shown),
        }
    }

    /// Prints the tallies and known differences; fails on any other difference.
    pub fn finish(self, client: &str) {
        for (phase, compared, equal, excused) in &self.tallies {
            println!("{client} {phase}: {compared} observations compared, {equal} equal, {excused} known differences");
        }
        for k in &self.known_seen {
            println!("{k}");
        }
        assert!(
            self.unexpected.is_empty(),
            "{client}: {} observations differ between the direct twin and the proxy:\n\n{}",
            self.unexpected.len(),
            self.unexpected.join("\n\n")
        );
    }
}

fn find_known<'k>(known: &'k [Known], client: &str, phase: &str, step: &str, observation: &str) -> Option<&'k Known> {
    known
        .iter()
        .find(|k| k.client == client && k.phases.contains(&phase) && k.step == step && k.observation == observation)
}

fn describe(client: &str, phase: &str, step: &str, key: &str, expected: &Value, got: &Value) -> String {
    let (path, w, h) = first_difference(String::new(), expected, got);
    let compact = |v: &Value| {
        let s = v.to_string();
        if s.len() > 1500 {
            format!("{}... ({} characters)", &s[..s.floor_char_boundary(1500)], s.len())
        } else {
            s
        }
    };
    format!(
        "{client} {phase} {step}.{key}{path}:\n  expected (direct): {}\n  got (proxy):       {}",
        compact(w),
        compact(h)
    )
}

/// Where two values first differ (a path like `[2].table_oid`), and what is there.
fn first_difference<'a>(path: String, a: &'a Value, b: &'a Value) -> (String, &'a Value, &'a Value) {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            match x.iter().zip(y).enumerate().find(|(_, (p, q))| p != q) {
                Some((i, (p, q))) => first_difference(format!("{path}[{i}]"), p, q),
                None => (path, a, b),
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            let differing = x.keys().chain(y.keys()).find(|k| x.get(*k) != y.get(*k));
            match differing {
                Some(k) if x.contains_key(k) && y.contains_key(k) => {
                    first_difference(format!("{path}.{k}"), &x[k], &y[k])
                }
                _ => (path, a, b),
            }
        }
        _ => (path, a, b),
    }
}
