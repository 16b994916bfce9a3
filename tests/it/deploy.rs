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

// ---------------------------------------------------------------------------
// Metrics used by the alerts and the dashboard are exported.

/// Base metric name (histogram suffixes stripped) to the label pairs the
/// proxy renders for it.
fn exported_metrics() -> BTreeMap<String, BTreeSet<(String, String)>> {
    let text = switchyard_proxy::Metrics::default().render();
    let mut out: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = base_name(&line[..name_end]);
        let labels = out.entry(name.to_string()).or_default();
        if let Some(rest) = line[name_end..].strip_prefix('{') {
            let body = rest.split('}').next().unwrap_or_default();
            for pair in body.split(',').filter(|p| !p.is_empty()) {
                if let Some((k, v)) = pair.split_once('=') {
                    labels.insert((k.trim().to_string(), v.trim().trim_matches('"').to_string()));
                }
            }
        }
    }
    out
}

fn base_name(n: &str) -> &str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(b) = n.strip_suffix(suffix) {
            return b;
        }
    }
    n
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Problems with one PromQL expression: metric names that are not exported,
/// and exact label matchers (`label="value"`) on a switchyard metric whose
/// value it never renders. Returns the switchyard metrics it used.
fn check_promql(
    expr: &str,
    exported: &BTreeMap<String, BTreeSet<(String, String)>>,
    allowed_foreign: &[&str],
    errors: &mut Vec<String>,
    what: &str,
) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    // Grouping labels (`by (...)`, `ignoring (...)`, ...) must be labels the
    // proxy renders, or ones Prometheus adds.
    let known: BTreeSet<&str> = exported
        .values()
        .flatten()
        .map(|(k, _)| k.as_str())
        .chain(["job", "instance", "le", "environment", "namespace", "pod"])
        .collect();
    for kw in ["by", "without", "ignoring", "on"] {
        let mut rest = expr;
        while let Some(i) = rest.find(kw) {
            let before = rest[..i].chars().next_back();
            let after = rest[i + kw.len()..].trim_start();
            rest = &rest[i + kw.len()..];
            if before.is_some_and(is_ident_char) || !after.starts_with('(') {
                continue;
            }
            let list = after[1..].split(')').next().unwrap_or_default();
            for label in list.split(',').map(str::trim).filter(|l| !l.is_empty()) {
                if !known.contains(label) {
                    errors.push(format!("{what}: groups by {label}, which no exported metric has"));
                }
            }
        }
    }
    let chars: Vec<(usize, char)> = expr.char_indices().collect();
    let mut i = 0;
    // Walk identifiers outside string literals.
    let mut in_str: Option<char> = None;
    while i < chars.len() {
        let (pos, c) = chars[i];
        if let Some(q) = in_str {
            if c == '\\' {
                i += 2;
                continue;
            }
            if c == q {
                in_str = None;
            }
            i += 1;
            continue;
        }
        if c == '"' || c == '\'' || c == '`' {
            in_str = Some(c);
            i += 1;
            continue;
        }
        if is_ident_char(c) && !c.is_ascii_digit() && (i == 0 || !is_ident_char(chars[i - 1].1)) {
            let start = pos;
            let mut j = i;
            while j < chars.len() && is_ident_char(chars[j].1) {
                j += 1;
            }
            let end = chars.get(j).map_or(expr.len(), |(p, _)| *p);
            let ident = &expr[start..end];
            let next = expr[end..].trim_start().chars().next();
            if ident.starts_with("switchyard_") {
                let base = base_name(ident);
                used.insert(base.to_string());
                match exported.get(base) {
                    None => errors.push(format!("{what}: {ident} is not a metric the proxy exports")),
                    Some(labels) => {
                        if next == Some('{') {
                            let body_start = end + expr[end..].find('{').unwrap_or(0) + 1;
                            let body_end = body_start + expr[body_start..].find('}').unwrap_or(0);
                            for m in expr[body_start..body_end].split(',') {
                                let m = m.trim();
                                if m.contains("!=") || m.contains("=~") || m.contains("!~") {
                                    continue;
                                }
                                let Some((k, v)) = m.split_once('=') else {
                                    continue;
                                };
                                let (k, v) = (k.trim(), v.trim().trim_matches('"'));
                                if k == "job" || k == "instance" || k == "le" {
                                    continue;
                                }
                                if !labels.contains(&(k.to_string(), v.to_string())) {
                                    errors.push(format!("{what}: {base} has no series with {k}=\"{v}\""));
                                }
                            }
                        }
                    }
                }
            } else if next == Some('{') && !allowed_foreign.contains(&ident) {
                errors.push(format!("{what}: {ident} is not a metric the proxy exports"));
            }
            i = j;
            continue;
        }
        i += 1;
    }
    used
}

/// Whether an alert expression is the kind of alert wanted.
type Matcher = dyn Fn(&str) -> bool;

#[test]
fn alert_rules_use_only_exported_metrics() {
    let exported = exported_metrics();
    assert!(exported.contains_key("switchyard_request_duration_seconds"), "{exported:?}");
    let path = root().join("deploy/prometheus/alerts.yml");
    let doc = yaml_one(&path).expect("alerts.yml parses");
    let mut errors = Vec::new();
    let mut exprs = Vec::new();
    for group in doc.get("groups").and_then(Yaml::as_sequence).expect("groups") {
        let gname = ystr(group, "name").unwrap_or("?");
        for rule in group.get("rules").and_then(Yaml::as_sequence).expect("rules") {
            let name =
                ystr(rule, "alert").map(str::to_string).unwrap_or_else(|| format!("a rule of {gname} without alert"));
            let Some(expr) = ystr(rule, "expr") else {
                errors.push(format!("{name}: no expr"));
                continue;
            };
            match rule.get("labels").and_then(|l| ystr(l, "severity")) {
                Some("warning" | "critical") => {}
                other => errors.push(format!("{name}: severity {other:?}, expected warning or critical")),
            }
            if rule.get("annotations").and_then(|a| ystr(a, "summary")).is_none() {
                errors.push(format!("{name}: no summary annotation"));
            }
            if let Some(f) = ystr(rule, "for") {
                if humantime::parse_duration(f).is_err() {
                    errors.push(format!("{name}: for: {f:?} is not a duration"));
                }
            }
            check_promql(expr, &exported, &["up"], &mut errors, &name);
            exprs.push((name, expr.to_string()));
        }
    }
    // The alerts the runbook promises.
    let wanted: [(&str, &Matcher); 5] = [
        ("proxy down (up == 0)", &|e| e.contains("up{") && e.contains("== 0")),
        ("error rate by kind", &|e| e.contains("switchyard_errors_total") && e.contains("kind")),
        ("p99 request latency", &|e| {
            e.contains("histogram_quantile(0.99") && e.contains("switchyard_request_duration_seconds_bucket")
        }),
        ("refused statements", &|e| {
            e.contains("switchyard_statements_routed_total") && e.contains("action=\"refuse\"")
        }),
        ("connection saturation", &|e| e.contains("switchyard_client_connections{")),
    ];
    for (what, found) in wanted {
        if !exprs.iter().any(|(_, e)| found(e)) {
            errors.push(format!("no alert for {what}"));
        }
    }
    check(errors);
}

#[test]
fn saturation_alert_matches_the_shipped_connection_limit() {
    let limit = shipped_configs().iter().map(|(_, c)| c.max_client_connections).collect::<BTreeSet<_>>();
    assert_eq!(limit.len(), 1, "the shipped configs disagree on max_client_connections: {limit:?}");
    let limit = *limit.iter().next().expect("one");
    let text = read(&root().join("deploy/prometheus/alerts.yml")).expect("alerts");
    assert!(text.contains(&format!("0.8 * {limit}")), "the saturation alert should compare with 0.8 * {limit}");
}

#[test]
fn dashboard_queries_use_only_exported_metrics_and_cover_them_all() {
    let exported = exported_metrics();
    let dash = json_file(&root().join("deploy/grafana/switchyard-dashboard.json")).expect("dashboard parses");
    assert!(dash.get("title").and_then(Json::as_str).is_some(), "the dashboard has a title");
    let mut exprs = Vec::new();
    fn walk(v: &Json, out: &mut Vec<String>) {
        match v {
            Json::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr" | "definition", Json::String(s)) => out.push(s.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            Json::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dash, &mut exprs);
    assert!(exprs.len() >= 10, "expected a query per panel, found {}", exprs.len());
    let mut errors = Vec::new();
    let mut used = BTreeSet::new();
    for e in &exprs {
        used.extend(check_promql(
            e,
            &exported,
            &["up", "label_values"],
            &mut errors,
            &format!("dashboard query {e:?}"),
        ));
    }
    for m in exported.keys() {
        if !used.contains(m) {
            errors.push(format!("no dashboard panel shows {m}"));
        }
    }
    let latency = exprs.iter().filter(|e| e.contains("histogram_quantile(")).count();
    if latency < 3 {
        errors.push(format!("expected latency quantiles from the histogram (p50, p90, p99), found {latency}"));
    }
    for by in ["by (protocol)", "by (kind)", "by (action)", "by (direction)"] {
        if !exprs.iter().any(|e| e.contains(by)) {
            errors.push(format!("no panel breaks a metric down {by}"));
        }
    }
    check(errors);
}

// ---------------------------------------------------------------------------
// Shell words, and `switchyard ...` invocations in text.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    /// A command separator or redirection: ends an invocation.
    Sep,
}

/// A small POSIX-shell-like tokenizer: quotes, backslash escapes and line
/// continuations, comments, and operators as separators. Good enough for the
/// command lines in unit files, scripts and docs.
fn shell_tokens(text: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    let flush = |word: &mut String, in_word: &mut bool, out: &mut Vec<Tok>| {
        if *in_word {
            out.push(Tok::Word(std::mem::take(word)));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(n) => {
                    word.push(n);
                    in_word = true;
                }
                None => {}
            },
            '\'' => {
                in_word = true;
                for n in chars.by_ref() {
                    if n == '\'' {
                        break;
                    }
                    word.push(n);
                }
            }
            '"' => {
                in_word = true;
                while let Some(n) = chars.next() {
                    match n {
                        '"' => break,
                        '\\' => {
                            if let Some(m) = chars.next() {
                                if m != '\n' {
                                    word.push(m);
                                }
                            }
                        }
                        _ => word.push(n),
                    }
                }
            }
            '#' if !in_word => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
                out.push(Tok::Sep);
            }
            ' ' | '\t' | '\r' => flush(&mut word, &mut in_word, &mut out),
            '\n' | ';' | '|' | '&' | '>' | '<' | '(' | ')' | '`' => {
                // `2>&1`: a descriptor number glued to a redirection is not an argument.
                if in_word && (c == '>' || c == '<') && word.chars().all(|d| d.is_ascii_digit()) {
                    word.clear();
                    in_word = false;
                }
                flush(&mut word, &mut in_word, &mut out);
                out.push(Tok::Sep);
            }
            _ => {
                word.push(c);
                in_word = true;
            }
        }
    }
    flush(&mut word, &mut in_word, &mut out);
    out
}

fn is_binary_word(w: &str) -> bool {
    w == "switchyard" || w.ends_with("/switchyard") || w == "$BIN" || w == "${BIN}"
}

/// The subcommands the binary has (from its `--help`).
fn subcommands() -> BTreeSet<String> {
    let out = run_binary(&["--help"]);
    assert!(out.0, "switchyard --help failed: {}", out.1);
    let mut subs = BTreeSet::new();
    let mut in_commands = false;
    for line in out.1.lines() {
        if line.starts_with("Commands:") {
            in_commands = true;
            continue;
        }
        if in_commands {
            if !line.starts_with("  ") {
                break;
            }
            if let Some(w) = line.split_whitespace().next() {
                if w != "help" {
                    subs.insert(w.to_string());
                }
            }
        }
    }
    assert!(subs.contains("serve") && subs.contains("maintain"), "subcommands not found in --help: {}", out.1);
    subs
}

/// `switchyard <subcommand> args...` found in shell text: the arguments after
/// the binary, up to the next separator.
fn invocations_in_shell(text: &str, subs: &BTreeSet<String>) -> Vec<Vec<String>> {
    let toks = shell_tokens(text);
    let mut out = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        let Tok::Word(w) = t else { continue };
        if !is_binary_word(w) {
            continue;
        }
        let args: Vec<String> = toks[i + 1..]
            .iter()
            .map_while(|t| match t {
                Tok::Word(w) => Some(w.clone()),
                Tok::Sep => None,
            })
            .collect();
        if args.first().is_some_and(|a| subs.contains(a)) {
            out.push(args);
        }
    }
    out
}

/// Shell code blocks of a Markdown file (```sh, ```bash, ```shell,
/// ```console with `$ ` prompts stripped).
fn markdown_shell_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, bool)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            match current.take() {
                Some((body, _)) => blocks.push(body),
                None => {
                    let lang = info.trim();
                    if ["sh", "bash", "shell", "console"].contains(&lang) {
                        current = Some((String::new(), lang == "console"));
                    } else {
                        current = Some((String::from("\u{0}"), false));
                    }
                }
            }
            continue;
        }
        if let Some((body, console)) = current.as_mut() {
            if body.starts_with('\u{0}') {
                continue;
            }
            let l = if *console { trimmed.strip_prefix("$ ").unwrap_or("") } else { line };
            body.push_str(l);
            body.push('\n');
        }
    }
    blocks.into_iter().filter(|b| !b.starts_with('\u{0}')).collect()
}

/// Containers running the switchyard image in any manifest: their argv
/// after the entrypoint (`command` replaces it, `args` replaces CMD).
fn k8s_invocations(v: &Yaml, subs: &BTreeSet<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Yaml::Mapping(m) => {
            for (k, val) in m {
                if matches!(k.as_str(), Some("containers" | "initContainers")) {
                    for c in val.as_sequence().into_iter().flatten() {
                        if !ystr(c, "image").is_some_and(|i| i.starts_with("switchyard")) {
                            continue;
                        }
                        let list = |key: &str| -> Vec<String> {
                            c.get(key)
                                .and_then(Yaml::as_sequence)
                                .map(|s| s.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                                .unwrap_or_default()
                        };
                        let command = list("command");
                        let args = list("args");
                        if command.is_empty() || command.first().is_some_and(|c| is_binary_word(c)) {
                            let mut argv: Vec<String> = command.into_iter().skip(1).collect();
                            argv.extend(args);
                            out.push(argv);
                        } else {
                            let script = command.into_iter().chain(args).collect::<Vec<_>>().join(" ");
                            out.extend(invocations_in_shell(&script, subs));
                        }
                    }
                } else {
                    k8s_invocations(val, subs, out);
                }
            }
        }
        Yaml::Sequence(s) => s.iter().for_each(|x| k8s_invocations(x, subs, out)),
        _ => {}
    }
}

fn yaml_list_or_string(v: Option<&Yaml>) -> Vec<String> {
    match v {
        Some(Yaml::Sequence(s)) => s.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        Some(Yaml::String(s)) => shell_tokens(s)
            .into_iter()
            .filter_map(|t| match t {
                Tok::Word(w) => Some(w),
                Tok::Sep => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Services of the compose file built from or running the switchyard image.
fn compose_invocations(doc: &Yaml, subs: &BTreeSet<String>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let Some(services) = doc.get("services").and_then(Yaml::as_mapping) else {
        return out;
    };
    for (_, svc) in services {
        let ours = ystr(svc, "image").is_some_and(|i| i.starts_with("switchyard")) || svc.get("build").is_some();
        if !ours {
            continue;
        }
        let entrypoint = yaml_list_or_string(svc.get("entrypoint"));
        let command = yaml_list_or_string(svc.get("command"));
        if entrypoint.is_empty() || entrypoint.first().is_some_and(|e| is_binary_word(e)) {
            let mut argv: Vec<String> = entrypoint.into_iter().skip(1).collect();
            argv.extend(if command.is_empty() { vec!["serve".to_string()] } else { command });
            out.push(argv);
        } else {
            out.extend(invocations_in_shell(&command.join(" "), subs));
        }
    }
    out
}

/// `ExecStart=` lines of a unit file (continuations joined).
fn unit_exec_lines(text: &str) -> Vec<String> {
    let joined = text.replace("\\\n", " ");
    joined
        .lines()
        .filter_map(|l| {
            l.trim().strip_prefix("ExecStart=").map(|c| c.trim_start_matches(['-', '@', ':', '+', '!']).to_string())
        })
        .collect()
}

/// The Dockerfile's ENTRYPOINT + CMD, exec form.
fn dockerfile_invocation(text: &str) -> Res<Vec<String>> {
    let exec_form = |key: &str| -> Res<Vec<String>> {
        let line = text.lines().rev().find(|l| l.starts_with(key)).ok_or(format!("no {key}"))?;
        serde_json::from_str(line[key.len()..].trim()).map_err(|e| format!("{key} is not exec form: {e}"))
    };
    let entry = exec_form("ENTRYPOINT ")?;
    if !entry.first().is_some_and(|e| is_binary_word(e)) {
        return Err(format!("ENTRYPOINT {entry:?} is not the switchyard binary"));
    }
    let mut argv: Vec<String> = entry.into_iter().skip(1).collect();
    argv.extend(exec_form("CMD ")?);
    Ok(argv)
}

fn run_binary(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .env_remove("SWITCHYARD_DATABASE_URL")
        .output()
        .expect("running the switchyard binary");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Checks one invocation with the real parser: the arguments plus `--help`
/// must parse up to the help flag, and every required `--flag` of the usage
/// line must be present unless it has an environment fallback.
fn check_invocation(source: &str, argv: &[String], errors: &mut Vec<String>) {
    let mut args: Vec<&str> = argv.iter().map(String::as_str).collect();
    args.push("--help");
    let (ok, text) = run_binary(&args);
    let shown = format!("{source}: `switchyard {}`", argv.join(" "));
    if !ok || !text.contains("Usage:") {
        errors.push(format!("{shown} is not accepted: {}", text.lines().take(3).collect::<Vec<_>>().join(" | ")));
        return;
    }
    let usage = text.lines().find(|l| l.starts_with("Usage:")).unwrap_or_default();
    // Required options are outside brackets in clap's usage line.
    let mut depth = 0i32;
    let mut outside = String::new();
    for c in usage.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ if depth == 0 => outside.push(c),
            _ => {}
        }
    }
    for flag in outside.split_whitespace().filter(|w| w.starts_with("--")) {
        if argv.iter().any(|a| a == flag || a.starts_with(&format!("{flag}="))) {
            continue;
        }
        if !option_help(&text, flag).contains("[env: ") {
            errors.push(format!("{shown} lacks the required {flag}"));
        }
    }
}

/// The help text of one option: its line and its description below it, up
/// to the next option (option lines are indented at most six spaces and
/// start with `-`) or the next section.
fn option_help(help: &str, flag: &str) -> String {
    let lines: Vec<&str> = help.lines().collect();
    let is_option_line = |l: &str| {
        let indent = l.len() - l.trim_start().len();
        indent > 0 && indent <= 6 && l.trim_start().starts_with('-')
    };
    let names_flag = |l: &str| {
        l.trim_start()
            .split([',', ' '])
            .any(|w| w == flag || w.strip_prefix(flag).is_some_and(|r| r.starts_with('=') || r.starts_with('<')))
    };
    let Some(start) = lines.iter().position(|l| is_option_line(l) && names_flag(l)) else {
        return String::new();
    };
    let mut out = String::from(lines[start]);
    for l in &lines[start + 1..] {
        if is_option_line(l) || (!l.is_empty() && !l.starts_with(' ')) {
            break;
        }
        out.push('\n');
        out.push_str(l);
    }
    out
}

#[test]
fn every_switchyard_invocation_in_deploy_and_docs_is_accepted_by_the_binary() {
    let subs = subcommands();
    let mut found: Vec<(String, Vec<String>)> = Vec::new();
    let mut errors = Vec::new();
    let expect = |what: &str, n: usize, min: usize, errors: &mut Vec<String>| {
        if n < min {
            errors.push(format!("{what}: expected at least {min} switchyard invocations, found {n}"));
        }
    };

    // systemd units.
    let mut n = 0;
    for f in files_under(&root().join("deploy/systemd")).iter().filter(|f| has_ext(f, &["service"])) {
        for line in unit_exec_lines(&read(f).expect("unit")) {
            for argv in invocations_in_shell(&line, &subs) {
                n += 1;
                found.push((rel(f), argv));
            }
        }
    }
    expect("deploy/systemd", n, 3, &mut errors);

    // The cron script.
    let mut n = 0;
    for f in files_under(&root().join("deploy/cron")) {
        for argv in invocations_in_shell(&read(&f).expect("cron"), &subs) {
            n += 1;
            found.push((rel(&f), argv));
        }
    }
    expect("deploy/cron", n, 2, &mut errors);

    // docker-compose.
    let compose = root().join("deploy/docker-compose.yml");
    let inv = compose_invocations(&yaml_one(&compose).expect("compose"), &subs);
    expect("deploy/docker-compose.yml", inv.len(), 4, &mut errors);
    found.extend(inv.into_iter().map(|a| (rel(&compose), a)));

    // Kubernetes.
    let mut n = 0;
    for f in files_under(&root().join("deploy/kubernetes")).iter().filter(|f| has_ext(f, &["yaml", "yml"])) {
        let mut inv = Vec::new();
        for doc in yaml_docs(f).expect("manifest") {
            k8s_invocations(&doc, &subs, &mut inv);
        }
        n += inv.len();
        found.extend(inv.into_iter().map(|a| (rel(f), a)));
    }
    expect("deploy/kubernetes", n, 6, &mut errors);

    // The container image's default command.
    let dockerfile = root().join("deploy/container/Dockerfile");
    match dockerfile_invocation(&read(&dockerfile).expect("Dockerfile")) {
        Ok(argv) => found.push((rel(&dockerfile), argv)),
        Err(e) => errors.push(format!("deploy/container/Dockerfile: {e}")),
    }

    // The operator docs.
    for doc in ["docs/runbook.md", "docs/operations.md", "docs/faq.md", "docs/limitations.md"] {
        let text = read(&root().join(doc)).expect("doc");
        let mut n = 0;
        for block in markdown_shell_blocks(&text) {
            for argv in invocations_in_shell(&block, &subs) {
                n += 1;
                found.push((doc.to_string(), argv));
            }
        }
        let min = match doc {
            "docs/runbook.md" => 20,
            "docs/operations.md" => 3,
            _ => 0,
        };
        expect(doc, n, min, &mut errors);
    }

    for (source, argv) in &found {
        if argv.is_empty() {
            errors.push(format!("{source}: runs switchyard without a subcommand"));
            continue;
        }
        check_invocation(source, argv, &mut errors);
    }
    check(errors);
}

#[test]
fn the_invocation_checker_rejects_what_the_binary_rejects() {
    let mut errors = Vec::new();
    check_invocation("self-test", &["maintain".into(), "daily".into(), "--no-such-flag".into()], &mut errors);
    check_invocation("self-test", &["maintain".into(), "hourly".into()], &mut errors);
    check_invocation("self-test", &["backfill".into(), "--sleep-ms".into(), "soon".into()], &mut errors);
    check_invocation("self-test", &["phase".into(), "set".into(), "read_new".into()], &mut errors);
    check_invocation("self-test", &["no-such-subcommand".into()], &mut errors);
    assert_eq!(errors.len(), 5, "each bad invocation should be caught: {errors:#?}");
    assert!(errors[3].contains("--reason"), "{}", errors[3]);

    let mut errors = Vec::new();
    check_invocation(
        "self-test",
        &["phase".into(), "set".into(), "read_new".into(), "--reason".into(), "x".into()],
        &mut errors,
    );
    check_invocation("self-test", &["status".into(), "--json".into()], &mut errors);
    assert!(errors.is_empty(), "{errors:#?}");

    let subs = subcommands();
    let inv = invocations_in_shell(
        "# comment: switchyard serve --bogus\nSWITCHYARD_DATABASE_URL='x' $BIN maintain daily >> /var/log/x.log 2>&1 # m\n\
         kubectl exec deploy/switchyard -- switchyard phase set dual_write \\\n  --reason \"start, now\"",
        &subs,
    );
    assert_eq!(
        inv,
        vec![
            vec!["maintain".to_string(), "daily".into()],
            vec!["phase".to_string(), "set".into(), "dual_write".into(), "--reason".into(), "start, now".into()],
        ]
    );
}

// ---------------------------------------------------------------------------
// Shipped configurations and the timeouts around them.

/// The proxy configurations shipped under deploy/, loaded by the proxy's loader.
fn shipped_configs() -> Vec<(String, switchyard_proxy::Config)> {
    let dir = std::env::temp_dir().join(format!("switchyard-deploy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut out = Vec::new();
    let load = |name: &str, path: PathBuf| -> (String, switchyard_proxy::Config) {
        let args = switchyard_proxy::ConfigArgs { config: Some(path), ..Default::default() };
        let c = switchyard_proxy::Config::load(&args).unwrap_or_else(|e| panic!("{name} does not load: {e}"));
        (name.to_string(), c)
    };
    out.push(load("deploy/systemd/switchyard.toml", root().join("deploy/systemd/switchyard.toml")));
    let cm = yaml_one(&root().join("deploy/kubernetes/configmap.yaml")).expect("configmap");
    let toml = cm.get("data").and_then(|d| ystr(d, "switchyard.toml")).expect("data.switchyard.toml");
    let path = dir.join("configmap.toml");
    std::fs::write(&path, toml).expect("write");
    out.push(load("deploy/kubernetes/configmap.yaml", path));
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn secs(v: &Yaml) -> Option<f64> {
    v.as_f64().or_else(|| v.as_u64().map(|u| u as f64))
}

#[test]
fn shipped_configs_load_and_stop_timeouts_exceed_the_drain() {
    let configs = shipped_configs();
    let mut errors = Vec::new();
    for (name, c) in &configs {
        if c.metrics_listen.is_none() {
            errors.push(format!("{name}: no metrics_listen, so no /healthz, /readyz or /metrics"));
        }
        if c.listen.ip().is_loopback() {
            errors.push(format!("{name}: listen {} is loopback-only", c.listen));
        }
    }
    let (_, systemd) = &configs[0];
    let (_, k8s) = &configs[1];

    // systemd: TimeoutStopSec > drain_timeout, and the unit reads that file.
    let unit = read(&root().join("deploy/systemd/switchyard.service")).expect("unit");
    let stop = unit.lines().find_map(|l| l.strip_prefix("TimeoutStopSec=")).and_then(|v| v.trim().parse::<f64>().ok());
    match stop {
        Some(s) if Duration::from_secs_f64(s) > systemd.drain_timeout => {}
        other => errors.push(format!(
            "switchyard.service: TimeoutStopSec {other:?} must exceed drain_timeout {:?}",
            systemd.drain_timeout
        )),
    }
    for needed in [
        "EnvironmentFile=/etc/switchyard/switchyard.env",
        "Restart=on-failure",
        "KillSignal=SIGTERM",
        "--config /etc/switchyard/switchyard.toml",
        "NoNewPrivileges=yes",
        "User=switchyard",
    ] {
        if !unit.contains(needed) {
            errors.push(format!("switchyard.service lacks {needed}"));
        }
    }
    for timer in ["switchyard-maintain-daily.timer", "switchyard-maintain-weekly.timer"] {
        if !root().join("deploy/systemd").join(timer).exists() {
            errors.push(format!("deploy/systemd/{timer} is missing"));
        }
    }

    // Kubernetes: grace period > preStop sleep + drain; probes on the metrics port.
    let dep = yaml_one(&root().join("deploy/kubernetes/deployment.yaml")).expect("deployment");
    let spec = dep.get("spec").expect("spec");
    let ru = spec.get("strategy").and_then(|s| s.get("rollingUpdate"));
    if ru.and_then(|r| r.get("maxUnavailable")).and_then(Yaml::as_u64) != Some(0) {
        errors.push("deployment.yaml: rollingUpdate.maxUnavailable must be 0".into());
    }
    let pod = spec.get("template").and_then(|t| t.get("spec")).expect("pod spec");
    let grace = pod.get("terminationGracePeriodSeconds").and_then(secs).unwrap_or(30.0);
    let container = pod.get("containers").and_then(Yaml::as_sequence).and_then(|c| c.first()).expect("container");
    let pre_stop: f64 = container
        .get("lifecycle")
        .and_then(|l| l.get("preStop"))
        .and_then(|p| p.get("exec"))
        .and_then(|e| e.get("command"))
        .and_then(Yaml::as_sequence)
        .and_then(|c| {
            if c.first().and_then(Yaml::as_str) == Some("sleep") {
                c.get(1).and_then(Yaml::as_str)
            } else {
                None
            }
        })
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            errors.push("deployment.yaml: preStop should be exec [sleep, N]".into());
            0.0
        });
    if Duration::from_secs_f64(grace) <= Duration::from_secs_f64(pre_stop) + k8s.drain_timeout {
        errors.push(format!(
            "deployment.yaml: terminationGracePeriodSeconds {grace} must exceed preStop {pre_stop} + drain_timeout {:?}",
            k8s.drain_timeout
        ));
    }
    let metrics_port = k8s.metrics_listen.map(|a| a.port()).unwrap_or_default();
    let port_named = |name: &str| -> Option<u64> {
        container
            .get("ports")
            .and_then(Yaml::as_sequence)?
            .iter()
            .find(|p| ystr(p, "name") == Some(name))?
            .get("containerPort")?
            .as_u64()
    };
    if port_named("metrics") != Some(u64::from(metrics_port)) {
        errors.push(format!(
            "deployment.yaml: containerPort metrics {:?} is not metrics_listen's {metrics_port}",
            port_named("metrics")
        ));
    }
    if port_named("postgres") != Some(u64::from(k8s.listen.port())) {
        errors.push(format!("deployment.yaml: containerPort postgres is not listen's {}", k8s.listen.port()));
    }
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        let get = container.get(probe).and_then(|p| p.get("httpGet"));
        if get.and_then(|g| ystr(g, "path")) != Some(path) || get.and_then(|g| ystr(g, "port")) != Some("metrics") {
            errors.push(format!("deployment.yaml: {probe} should GET {path} on the metrics port"));
        }
    }
    let ready_timeout =
        container.get("readinessProbe").and_then(|p| p.get("timeoutSeconds")).and_then(secs).unwrap_or(1.0);
    if Duration::from_secs_f64(ready_timeout) <= k8s.connect_timeout {
        errors.push(format!(
            "deployment.yaml: readinessProbe timeoutSeconds {ready_timeout} should exceed connect_timeout {:?} (/readyz probes the upstream)",
            k8s.connect_timeout
        ));
    }
    let mounts = container.get("volumeMounts").and_then(Yaml::as_sequence).map(|m| m.len()).unwrap_or(0);
    if mounts == 0 {
        errors.push("deployment.yaml: the ConfigMap is not mounted".into());
    }

    // PodDisruptionBudget selects the Deployment's pods.
    let pdb = yaml_one(&root().join("deploy/kubernetes/pdb.yaml")).expect("pdb");
    let sel = |v: &Yaml| v.get("spec").and_then(|s| s.get("selector")).and_then(|s| s.get("matchLabels")).cloned();
    if ystr(&pdb, "kind") != Some("PodDisruptionBudget") || sel(&pdb) != sel(&dep) {
        errors.push("pdb.yaml: should be a PodDisruptionBudget selecting the Deployment's pods".into());
    }

    // CronJobs at the seed's times.
    for (file, schedule, procedure) in
        [("cronjob-maintain-daily.yaml", "0 2 * * *", "daily"), ("cronjob-maintain-weekly.yaml", "0 3 * * 0", "weekly")]
    {
        let cj = yaml_one(&root().join("deploy/kubernetes").join(file)).expect("cronjob");
        let spec = cj.get("spec");
        if spec.and_then(|s| ystr(s, "schedule")) != Some(schedule) {
            errors.push(format!("{file}: schedule should be {schedule:?}"));
        }
        if spec.and_then(|s| ystr(s, "concurrencyPolicy")) != Some("Forbid") {
            errors.push(format!("{file}: concurrencyPolicy should be Forbid"));
        }
        let mut inv = Vec::new();
        k8s_invocations(&cj, &BTreeSet::new(), &mut inv);
        if !inv.iter().any(|a| a.len() >= 2 && a[0] == "maintain" && a[1] == procedure) {
            errors.push(format!("{file}: does not run `switchyard maintain {procedure}`"));
        }
    }

    // Compose: stop_grace_period above the proxy's --drain-timeout.
    let compose = yaml_one(&root().join("deploy/docker-compose.yml")).expect("compose");
    let proxy = compose.get("services").and_then(|s| s.get("proxy")).expect("a proxy service");
    let cmd = yaml_list_or_string(proxy.get("command"));
    let drain = cmd
        .iter()
        .position(|a| a == "--drain-timeout")
        .and_then(|i| cmd.get(i + 1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(30.0);
    let grace = ystr(proxy, "stop_grace_period")
        .and_then(|g| humantime::parse_duration(g).ok())
        .unwrap_or(Duration::from_secs(10));
    if grace <= Duration::from_secs_f64(drain) {
        errors.push(format!("docker-compose.yml: stop_grace_period {grace:?} must exceed --drain-timeout {drain}"));
    }
    let pg = compose.get("services").and_then(|s| s.get("postgres")).and_then(|p| ystr(p, "image")).unwrap_or_default();
    if !pg.starts_with("postgres:15") {
        errors.push(format!("docker-compose.yml: the database should be PostgreSQL 15, is {pg:?}"));
    }
    check(errors);
}

#[test]
fn container_image_runs_as_non_root_and_checks_healthz_on_the_exposed_metrics_port() {
    let text = read(&root().join("deploy/container/Dockerfile")).expect("Dockerfile");
    let mut errors = Vec::new();
    let froms = text.lines().filter(|l| l.starts_with("FROM ")).count();
    if froms < 2 {
        errors.push(format!("expected a multi-stage build, found {froms} FROM"));
    }
    let user = text.lines().rev().find_map(|l| l.strip_prefix("USER ")).unwrap_or("root").trim();
    if user.is_empty() || user == "root" || user.starts_with("0") {
        errors.push(format!("the image runs as {user:?}"));
    }
    let metrics_port = text
        .split("SWITCHYARD_METRICS_LISTEN=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|a| a.rsplit(':').next())
        .unwrap_or_default()
        .to_string();
    let expose: Vec<&str> =
        text.lines().filter_map(|l| l.strip_prefix("EXPOSE ")).flat_map(str::split_whitespace).collect();
    if metrics_port.is_empty() || !expose.contains(&metrics_port.as_str()) {
        errors.push(format!("the metrics port {metrics_port:?} is not in EXPOSE {expose:?}"));
    }
    if !expose.contains(&"6432") {
        errors.push(format!("6432 is not in EXPOSE {expose:?}"));
    }
    let health = text.split("HEALTHCHECK").nth(1).unwrap_or_default().split("\n\n").next().unwrap_or_default();
    if !health.contains("/healthz") || !health.contains(&format!("/{metrics_port}")) {
        errors.push(format!("HEALTHCHECK should GET /healthz on port {metrics_port}: {health}"));
    }
    check(errors);
}
