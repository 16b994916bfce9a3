//! Shipped configurations and the timeouts around them.

use super::invocations::{k8s_invocations, yaml_list_or_string};
use super::*;

/// The proxy configurations shipped under deploy/, loaded by the proxy's loader.
pub(super) fn shipped_configs() -> Vec<(String, switchyard_proxy::Config)> {
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
