//! The comparison of a client's runs through the proxy with its runs
//! against the direct twin, phase by phase, and what it concludes: every
//! place they differ must be equal, or be a known difference (see
//! known.rs), which is printed with its reason on every run.

use serde_json::Value;

use super::transcript::{leaf_differences, Transcript};

/// One place where the proxy's run differs from the twin's.
pub struct Difference<'a> {
    pub client: &'a str,
    pub phase: &'a str,
    pub step: &'a str,
    pub observation: &'a str,
    /// Where inside the observation, like `.fields[2].tableID` (empty: all of it).
    pub path: &'a str,
    pub expected: &'a Value,
    pub got: &'a Value,
}

impl Difference<'_> {
    /// Where, and expected against got, values cut at `width` characters.
    fn shown(&self, width: usize) -> String {
        let compact = |v: &Value| {
            let s = v.to_string();
            if s.len() > width {
                format!("{}... ({} characters)", &s[..s.floor_char_boundary(width)], s.len())
            } else {
                s
            }
        };
        format!(
            "{} {} {}.{}{}:\n  expected (direct): {}\n  got (proxy):       {}",
            self.client,
            self.phase,
            self.step,
            self.observation,
            self.path,
            compact(self.expected),
            compact(self.got)
        )
    }
}

/// A difference the suite knows of and does not fail on: which item of the
/// open work it waits for, why, and which differences it covers.
pub struct Known {
    pub item: &'static str,
    pub reason: &'static str,
    pub matches: fn(&Difference) -> bool,
}

/// Observations compared in one phase.
pub struct Tally {
    pub phase: String,
    pub compared: usize,
    pub equal: usize,
    pub known: usize,
}

/// The outcome of comparing every phase's runs of one client.
pub struct Verdict<'k> {
    client: String,
    known: &'k [Known],
    pub tallies: Vec<Tally>,
    unexpected: Vec<String>,
    known_seen: Vec<String>,
}

impl<'k> Verdict<'k> {
    pub fn new(client: &str, known: &'k [Known]) -> Verdict<'k> {
        Verdict {
            client: client.to_string(),
            known,
            tallies: Vec::new(),
            unexpected: Vec::new(),
            known_seen: Vec::new(),
        }
    }

    /// Compares the proxy's run of `phase` (`got`) with the twin's (`expected`).
    pub fn compare(&mut self, phase: &str, expected: &Transcript, got: &Transcript) {
        self.tallies.push(Tally { phase: phase.to_string(), compared: 0, equal: 0, known: 0 });
        let client = self.client.clone();
        if expected.steps.len() != got.steps.len() {
            let names = |t: &Transcript| t.steps.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>().join(", ");
            self.unexpected.push(format!(
                "{client} {phase}: different steps: direct [{}], proxy [{}]",
                names(expected),
                names(got)
            ));
        }
        for ((step, want), (got_step, have)) in expected.steps.iter().zip(&got.steps) {
            if step != got_step {
                self.unexpected.push(format!("{client} {phase}: step {step} direct, {got_step} through the proxy"));
                continue;
            }
            let mut keys: Vec<&String> = want.keys().chain(have.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let (w, h) = (want.get(key).unwrap_or(&Value::Null), have.get(key).unwrap_or(&Value::Null));
                let mut leaves = Vec::new();
                leaf_differences(String::new(), w, h, &mut leaves);
                let differences: Vec<Difference> = leaves
                    .iter()
                    .map(|(path, expected, got)| Difference {
                        client: &client,
                        phase,
                        step,
                        observation: key,
                        path,
                        expected,
                        got,
                    })
                    .collect();
                self.count(&differences);
            }
        }
    }

    /// Counts a check of the proxied database itself: `failure` says what is wrong, if anything.
    pub fn require(&mut self, phase: &str, step: &str, observation: &str, failure: Option<String>) {
        let got = failure.map(Value::String).unwrap_or(Value::Null);
        let client = self.client.clone();
        let difference =
            Difference { client: &client, phase, step, observation, path: "", expected: &Value::Null, got: &got };
        let differences = if got.is_null() { vec![] } else { vec![difference] };
        self.count(&differences);
    }

    /// One observation, equal when `differences` is empty.
    fn count(&mut self, differences: &[Difference]) {
        let tally = self.tallies.last_mut().expect("a phase is being compared");
        tally.compared += 1;
        if differences.is_empty() {
            tally.equal += 1;
            return;
        }
        let classified: Vec<Option<&Known>> =
            differences.iter().map(|d| self.known.iter().find(|k| (k.matches)(d))).collect();
        if classified.iter().all(Option::is_some) {
            tally.known += 1;
            // One line per known item in this observation, with its first place.
            let mut items: Vec<&str> = classified.iter().flatten().map(|k| k.item).collect();
            items.dedup();
            for item in items {
                let places: Vec<(&Difference, &Known)> = differences
                    .iter()
                    .zip(&classified)
                    .filter_map(|(d, k)| k.filter(|k| k.item == item).map(|k| (d, k)))
                    .collect();
                let (d, k) = places[0];
                let more =
                    if places.len() > 1 { format!(" (and {} more places)", places.len() - 1) } else { String::new() };
                self.known_seen.push(format!("known difference [{}: {}] {}{more}", k.item, k.reason, d.shown(160)));
            }
        } else {
            let unknown = differences.iter().zip(classified).filter(|(_, k)| k.is_none());
            self.unexpected.extend(unknown.map(|(d, _)| d.shown(1200)));
        }
    }

    /// Prints the tallies and every known difference, also when the test
    /// passes (written to stderr directly: the test harness captures only
    /// the print macros); fails on any other difference.
    pub fn finish(self) {
        let client = &self.client;
        let mut report = String::new();
        for t in &self.tallies {
            report += &format!(
                "{client} {}: {} observations compared, {} equal, {} known differences\n",
                t.phase, t.compared, t.equal, t.known
            );
        }
        for k in &self.known_seen {
            report += &format!("{k}\n");
        }
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), report.as_bytes());
        assert!(
            self.unexpected.is_empty(),
            "{client}: {} differences between the direct twin and the proxy that no known difference covers:\n\n{}",
            self.unexpected.len(),
            self.unexpected.join("\n\n")
        );
    }
}
