//! The cockpit on every `serve`'s metrics port: `/status` (an HTML page
//! with no external assets that refreshes itself every few seconds) and
//! `/status.json`, both rendered from one gathered
//! [`switchyard_control::status::Status`], with this instance's shadow-read
//! outcomes filled in. The metrics of a `--backfill` run in this process
//! follow the proxy's own on `/metrics`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use switchyard_control::status::{self, Count, Status, StatusOptions};
use switchyard_proxy::{HttpFuture, HttpHandler, HttpResponse, Metrics, ShadowOutcome, SkipReason};

/// How often the page fetches itself again.
const REFRESH: Duration = Duration::from_secs(2);

/// The cockpit's pages for one proxy instance.
pub struct StatusPages {
    pub database_url: String,
    pub table: String,
    pub metrics: Arc<Metrics>,
    /// Job metrics (the backfill's) exported with the proxy's.
    pub job_metrics: Option<PrometheusHandle>,
}

impl HttpHandler for StatusPages {
    fn get<'a>(&'a self, path: &'a str) -> HttpFuture<'a> {
        Box::pin(async move {
            match path {
                "/" | "/status" => Some(match self.status().await {
                    Ok(s) => HttpResponse::ok("text/html; charset=utf-8", render_html(&s)),
                    Err(e) => unavailable(format!("status not available: {e:#}\n")),
                }),
                "/status.json" => Some(match self.status().await {
                    Ok(s) => HttpResponse::ok(
                        "application/json",
                        serde_json::to_string_pretty(&s).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")),
                    ),
                    Err(e) => unavailable(format!("status not available: {e:#}\n")),
                }),
                _ => None,
            }
        })
    }

    fn metrics(&self) -> String {
        self.job_metrics.as_ref().map(|h| h.render()).unwrap_or_default()
    }
}

fn unavailable(body: String) -> HttpResponse {
    HttpResponse { status: "503 Service Unavailable", content_type: "text/plain", body }
}

impl StatusPages {
    /// The pages of the `todos` migration; with `backfill`, the backfill's
    /// metrics (recorded in this process) follow the proxy's.
    pub fn new(database_url: String, metrics: Arc<Metrics>, backfill: bool) -> StatusPages {
        let job_metrics = backfill.then(super::job_metrics::install);
        StatusPages { database_url, table: "todos".into(), metrics, job_metrics }
    }

    /// Gathers the status on a short-lived side connection.
    async fn status(&self) -> anyhow::Result<Status> {
        let client = tokio::time::timeout(Duration::from_secs(5), super::connect(&self.database_url))
            .await
            .map_err(|_| anyhow::anyhow!("connecting to the control database timed out"))??;
        let mut s = status::gather(&client, &self.table, &StatusOptions::default()).await?;
        s.shadow.outcomes = Some(counts(ShadowOutcome::ALL.iter().map(|o| (o.label(), self.metrics.shadow_count(*o)))));
        s.shadow.skipped =
            Some(counts(SkipReason::ALL.iter().map(|r| (r.label(), self.metrics.shadow_skipped_count(*r)))));
        Ok(s)
    }
}

fn counts<'a>(by_label: impl Iterator<Item = (&'a str, u64)>) -> Vec<Count> {
    by_label.map(|(kind, count)| Count { kind: kind.to_string(), count }).collect()
}

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The whole page: styles and the refresh script inline.
pub fn render_html(s: &Status) -> String {
    let mut out = String::with_capacity(8192);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>switchyard: {table} in {phase}</title><style>{STYLE}</style></head>\
         <body><main id=\"cockpit\" data-phase=\"{phase}\" data-epoch=\"{epoch}\">",
        table = esc(&s.table),
        phase = s.phase.as_str(),
        epoch = s.epoch
    );
    render_body(&mut out, s);
    let _ = writeln!(
        out,
        "</main><p class=\"foot\">gathered {} · <span id=\"refreshed\">not refreshed yet</span></p>\
         <script>{}</script></body></html>",
        s.gathered_at.format("%Y-%m-%d %H:%M:%S UTC"),
        SCRIPT.replace("REFRESH_MS", &REFRESH.as_millis().to_string())
    );
    out
}

/// The part the script replaces on each refresh.
fn render_body(out: &mut String, s: &Status) {
    let _ = write!(
        out,
        "<h1>{} <small>epoch {} · since {} by {}</small></h1>",
        esc(&s.table),
        s.epoch,
        s.since.format("%Y-%m-%d %H:%M:%S UTC"),
        esc(&s.updated_by)
    );
    out.push_str("<ol class=\"ladder\">");
    for r in &s.ladder {
        let _ = write!(out, "<li class=\"{}\" data-phase=\"{}\">{}</li>", r.state, r.phase.as_str(), r.phase.as_str());
    }
    out.push_str("</ol>");
    render_next(out, s);
    render_backfill(out, s);
    render_verify(out, s);
    render_instances(out, s);
    render_shadow(out, s);
    render_history(out, s);
}

fn render_next(out: &mut String, s: &Status) {
    out.push_str("<section id=\"next\"><h2>Next step</h2>");
    match &s.next {
        None => out.push_str("<p>new_only is the last phase: the migration is done.</p>"),
        Some(n) if n.blocked_by.is_empty() => {
            let _ = write!(out, "<p class=\"ok\">{} is allowed now.</p>", n.phase.as_str());
        }
        Some(n) => {
            let _ = write!(out, "<p>{} still needs:</p><ul class=\"blocked\">", n.phase.as_str());
            for b in &n.blocked_by {
                let _ = write!(out, "<li>{}</li>", esc(b));
            }
            out.push_str("</ul>");
        }
    }
    out.push_str("</section>");
}

fn render_backfill(out: &mut String, s: &Status) {
    out.push_str("<section id=\"backfill\"><h2>Backfill</h2>");
    match &s.backfill {
        None => out.push_str("<p>not started</p>"),
        Some(b) => {
            let _ = write!(
                out,
                "<progress max=\"100\" value=\"{pct:.1}\"></progress> <span class=\"pct\">{pct:.1}%</span>\
                 <p>{} of ~{} rows in {} batches{}{}; {}; {}</p>",
                b.rows_copied,
                b.legacy_rows_estimate,
                b.batches,
                if b.completed { ", complete" } else { "" },
                if b.paused { ", <b>paused</b>" } else { "" },
                b.rows_per_sec.map_or("rate unknown".into(), |r| format!("{r:.0} rows/s")),
                b.eta_secs.map_or("no ETA".into(), |e| format!("ETA {}", secs(e))),
                pct = b.percent,
            );
            if b.ranges.len() > 1 {
                let _ = write!(
                    out,
                    "<p>{} key ranges, {} done</p>",
                    b.ranges.len(),
                    b.ranges.iter().filter(|r| r.done).count()
                );
            }
        }
    }
    out.push_str("</section>");
}

fn render_verify(out: &mut String, s: &Status) {
    out.push_str("<section id=\"verify\"><h2>Last verify</h2>");
    match &s.last_verify {
        None => out.push_str("<p>none yet</p>"),
        Some(v) => {
            let class = match v.clean {
                Some(true) => "ok",
                Some(false) => "bad",
                None if v.finished_at.is_some() => "bad",
                None => "",
            };
            let _ = write!(out, "<p><span class=\"{class}\">{}</span>, {} ago</p>", v.result(), secs(v.age_secs));
        }
    }
    out.push_str("</section>");
}

fn render_instances(out: &mut String, s: &Status) {
    out.push_str("<section id=\"instances\"><h2>Proxy instances</h2><table><tr><th>instance</th><th>acknowledged</th><th>heartbeat</th></tr>");
    for i in &s.instances {
        let _ = write!(
            out,
            "<tr class=\"{}\"><td>{}</td><td>{} at epoch {}</td><td>{} ago{}</td></tr>",
            if i.current { "ok" } else { "bad" },
            esc(&i.instance_id),
            esc(i.acknowledged_phase.as_deref().unwrap_or("-")),
            i.acknowledged_epoch.map_or("-".into(), |e| e.to_string()),
            secs(i.heartbeat_age_secs),
            if i.live { "" } else { " (not live)" }
        );
    }
    if s.instances.is_empty() {
        out.push_str("<tr><td colspan=\"3\">none registered</td></tr>");
    }
    out.push_str("</table></section>");
}

fn render_shadow(out: &mut String, s: &Status) {
    out.push_str("<section id=\"shadow\"><h2>Shadow reads</h2>");
    for (title, counts) in [("outcomes", &s.shadow.outcomes), ("skipped", &s.shadow.skipped)] {
        if let Some(counts) = counts {
            let _ = write!(out, "<p>{title} (this instance): ");
            let parts: Vec<String> = counts
                .iter()
                .map(|c| format!("<span class=\"count\" data-kind=\"{0}\">{0} {1}</span>", esc(&c.kind), c.count))
                .collect();
            out.push_str(&parts.join(" · "));
            out.push_str("</p>");
        }
    }
    let _ = write!(out, "<p>{} mismatch samples recorded</p><ul class=\"samples\">", s.shadow.recorded_mismatches);
    for m in &s.shadow.samples {
        let _ = write!(
            out,
            "<li>{} {}: <code>{}</code> {} · {} only in legacy, {} only in new</li>",
            m.at.format("%H:%M:%S"),
            esc(m.phase.as_deref().unwrap_or("-")),
            esc(&m.statement),
            esc(m.params.as_deref().unwrap_or("")),
            m.only_in_legacy,
            m.only_in_new
        );
    }
    out.push_str("</ul></section>");
}

fn render_history(out: &mut String, s: &Status) {
    out.push_str("<section id=\"history\"><h2>Phase history</h2><table><tr><th>at</th><th>change</th><th>epoch</th><th>by</th><th>reason</th></tr>");
    for h in s.history.iter().rev() {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{} → {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            h.at.format("%Y-%m-%d %H:%M:%S"),
            esc(h.from.as_deref().unwrap_or("-")),
            esc(&h.to),
            h.epoch,
            esc(h.by.as_deref().unwrap_or("")),
            esc(h.reason.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</table></section>");
}

/// A duration in seconds as `1h 2m`, `3m 4s` or `5s`.
pub fn secs(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m {sec}s"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}h1 small{font-weight:normal;color:#666;font-size:60%}\
.ladder{display:flex;gap:.5em;list-style:none;padding:0}.ladder li{padding:.4em .8em;border:1px solid #999;border-radius:4px}\
.ladder .done{background:#e6f2e6}.ladder .current{background:#2a6;color:#fff;font-weight:bold}.ladder .ahead{color:#888}\
.ok{color:#185}.bad{color:#b22}table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.2em .6em;text-align:left}\
progress{width:20em}code{background:#f4f4f4}.foot{color:#888;font-size:85%}";

/// Fetches the page again and swaps the cockpit in place (no reload, no
/// flicker); says so when the proxy stops answering.
const SCRIPT: &str = "(function(){var el=document.getElementById('refreshed');\
function tick(){fetch('/status',{cache:'no-store'}).then(function(r){if(!r.ok)throw new Error('HTTP '+r.status);return r.text();})\
.then(function(t){var d=new DOMParser().parseFromString(t,'text/html');var m=d.getElementById('cockpit');\
if(m){var c=document.getElementById('cockpit');c.replaceWith(m);document.title=d.title;}\
el.textContent='refreshed '+new Date().toLocaleTimeString();el.className='ok';})\
.catch(function(e){el.textContent='not reachable at '+new Date().toLocaleTimeString()+' ('+e.message+'); showing the last state';el.className='bad';});}\
tick();setInterval(tick,REFRESH_MS);})();";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_hours_minutes_seconds() {
        assert_eq!(secs(4.4), "4s");
        assert_eq!(secs(184.0), "3m 4s");
        assert_eq!(secs(3720.0), "1h 2m");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("<a href=\"x\">&</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
    }
}
