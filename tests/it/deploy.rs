//! The deployment artefacts under `deploy/` and the commands in the operator
//! docs, checked against the code they deploy. No database, no Docker, no
//! cluster: what can be checked here is that
//!
//! - every YAML and JSON file under `deploy/` parses;
//! - the Prometheus alert rules and the Grafana dashboard use only metrics
//!   (and label values) that `switchyard_proxy::Metrics::render` exports;
//! - every `switchyard <subcommand> ...` invocation in the systemd units, the
//!   cron script, the compose file, the Kubernetes manifests, the Dockerfile
//!   and the runbook/operations/FAQ/limitations docs is accepted by the real
//!   binary's clap parser (run with the same arguments plus `--help`: unknown
//!   flags, bad values and unknown subcommands fail before help is printed),
//!   and names every required flag that has no environment fallback;
//! - the shipped proxy configurations load with the proxy's own loader, and
//!   the stop timeouts around them exceed their drain timeout;
//! - the Kubernetes probes, rollout and CronJob schedules are what the
//!   runbook promises.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;

type Res<T> = Result<T, String>;

#[path = "deploy/configs.rs"]
mod configs;
#[path = "deploy/invocations.rs"]
mod invocations;
#[path = "deploy/metrics.rs"]
mod metrics;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> Res<String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn rel(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}

/// Every file under `dir`, recursively, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn has_ext(p: &Path, exts: &[&str]) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| exts.contains(&e))
}

/// All documents of a YAML file.
fn yaml_docs(path: &Path) -> Res<Vec<Yaml>> {
    let text = read(path)?;
    // Documents are separated by `---` lines; comment-only chunks are skipped.
    let mut chunks = vec![String::new()];
    for line in text.lines() {
        if line == "---" || line.starts_with("--- ") {
            chunks.push(String::new());
        } else if let Some(c) = chunks.last_mut() {
            c.push_str(line);
            c.push('\n');
        }
    }
    let mut docs = Vec::new();
    for chunk in chunks {
        if chunk.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
            continue;
        }
        let v: Yaml = serde_yaml_ng::from_str(&chunk).map_err(|e| format!("{}: {e}", rel(path)))?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    Ok(docs)
}

fn yaml_one(path: &Path) -> Res<Yaml> {
    let mut docs = yaml_docs(path)?;
    if docs.len() != 1 {
        return Err(format!("{}: expected one YAML document, found {}", rel(path), docs.len()));
    }
    Ok(docs.remove(0))
}

fn json_file(path: &Path) -> Res<Json> {
    serde_json::from_str(&read(path)?).map_err(|e| format!("{}: {e}", rel(path)))
}

fn ystr<'a>(v: &'a Yaml, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Yaml::as_str)
}

fn check(errors: Vec<String>) {
    assert!(errors.is_empty(), "{} problem(s):\n  - {}", errors.len(), errors.join("\n  - "));
}

// ---------------------------------------------------------------------------
// Every YAML and JSON file parses.

#[test]
fn every_yaml_and_json_file_under_deploy_parses() {
    let files = files_under(&root().join("deploy"));
    let mut errors = Vec::new();
    let (mut yaml, mut json) = (0, 0);
    for f in &files {
        if has_ext(f, &["yml", "yaml"]) {
            yaml += 1;
            match yaml_docs(f) {
                Ok(d) if d.is_empty() => errors.push(format!("{}: no YAML document", rel(f))),
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        } else if has_ext(f, &["json"]) {
            json += 1;
            if let Err(e) = json_file(f) {
                errors.push(e);
            }
        }
    }
    check(errors);
    assert!(
        yaml >= 14,
        "expected the compose file, the Kubernetes manifests and the Prometheus files; found {yaml} YAML files"
    );
    assert!(json >= 1, "expected the Grafana dashboard");
}

#[test]
fn kubernetes_manifests_name_their_kind() {
    let mut errors = Vec::new();
    for f in files_under(&root().join("deploy/kubernetes")).iter().filter(|f| has_ext(f, &["yaml", "yml"])) {
        for doc in yaml_docs(f).unwrap_or_default() {
            if ystr(&doc, "apiVersion").is_none() || ystr(&doc, "kind").is_none() {
                errors.push(format!("{}: a document without apiVersion and kind", rel(f)));
            }
            let is_kustomization = ystr(&doc, "kind") == Some("Kustomization");
            if !is_kustomization && doc.get("metadata").and_then(|m| ystr(m, "name")).is_none() {
                errors.push(format!("{}: a {} without metadata.name", rel(f), ystr(&doc, "kind").unwrap_or("?")));
            }
        }
    }
    // kustomization.yaml lists files that exist.
    let k = yaml_one(&root().join("deploy/kubernetes/kustomization.yaml")).expect("kustomization");
    for r in k.get("resources").and_then(Yaml::as_sequence).expect("resources") {
        let name = r.as_str().unwrap_or_default();
        if !root().join("deploy/kubernetes").join(name).exists() {
            errors.push(format!("kustomization.yaml lists {name}, which does not exist"));
        }
    }
    check(errors);
}
