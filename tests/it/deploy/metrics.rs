//! Metrics used by the alerts and the dashboard are exported.

use super::configs::shipped_configs;
use super::*;

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
