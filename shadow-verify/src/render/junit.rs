//! JUnit XML: one `<testsuite>`, one `<testcase>` per chunk, whole-table check
//! and representative read, one `<failure>` per listed difference, and an
//! `<error>` testcase when the run could not complete. The schema CI tools
//! read is the de-facto one of Ant/Surefire (GitHub's and GitLab's test
//! reports accept it): <https://github.com/testmoapp/junitxml>.

use std::fmt::Write;

use crate::diff::Difference;
use crate::report::Report;

/// Escapes text for XML attribute values and character data. Characters XML
/// 1.0 cannot carry at all (most C0 controls) become U+FFFD.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

struct Case {
    name: String,
    classname: &'static str,
    seconds: f64,
    failures: Vec<(String, String)>,
    error: Option<String>,
}

fn failure(d: &Difference) -> (String, String) {
    let mut message = format!("{} {}", d.kind, d.id);
    if !d.columns.is_empty() {
        message.push_str(&format!(" (columns: {})", d.columns.join(", ")));
    }
    let mut body = format!("{}: {}\nid: {}\n", d.kind, d.kind.explain(), d.id);
    if let Some(t) = &d.table {
        body.push_str(&format!("table: {t}\n"));
    }
    if !d.columns.is_empty() {
        body.push_str(&format!("columns: {}\n", d.columns.join(", ")));
    }
    if let Some(detail) = &d.detail {
        body.push_str(&format!("detail: {detail}\n"));
    }
    (message, body)
}

fn cases(report: &Report) -> Vec<Case> {
    let mut out = Vec::new();
    let more = |listed: usize, found: u64, failures: &mut Vec<(String, String)>| {
        if found > listed as u64 {
            let n = found - listed as u64;
            failures
                .push((format!("{n} more differences not listed"), "raise --max-differences to list them\n".into()));
        }
    };
    for c in &report.chunks {
        let name = c.name();
        let mut failures: Vec<_> = report.differences_of(&name).map(failure).collect();
        let listed = failures.len();
        more(listed, c.differences, &mut failures);
        if !c.matched && c.differences == 0 {
            failures.push((
                "counts or hashes differed but the drill-down found no row".into(),
                "a concurrent change outside the proxy? run verify again\n".into(),
            ));
        }
        out.push(Case {
            name: format!(
                "{name} [{}, {}] legacy {} rows, new {} rows",
                c.lo,
                c.hi,
                c.legacy_rows,
                c.active_rows + c.archived_rows
            ),
            classname: "switchyard.verify.chunks",
            seconds: c.seconds,
            failures,
            error: None,
        });
    }
    for c in &report.checks {
        let mut failures: Vec<_> = report.differences_of(&c.name).map(failure).collect();
        let listed = failures.len();
        more(listed, c.differences, &mut failures);
        let classname =
            if c.name.starts_with("query ") { "switchyard.verify.queries" } else { "switchyard.verify.checks" };
        out.push(Case { name: c.name.clone(), classname, seconds: c.seconds, failures, error: c.error.clone() });
    }
    // A check that could not run is its own error case already.
    let check_errors: Vec<String> = report.checks.iter().filter_map(|c| c.run_error()).collect();
    for e in report.errors.iter().filter(|e| !check_errors.contains(e)) {
        out.push(Case {
            name: "verify could not run".into(),
            classname: "switchyard.verify",
            seconds: 0.0,
            failures: vec![],
            error: Some(e.clone()),
        });
    }
    out
}

/// The report as a JUnit XML document.
pub fn junit(report: &Report) -> String {
    let cases = cases(report);
    let failed = cases.iter().filter(|c| !c.failures.is_empty()).count();
    let errors = cases.iter().filter(|c| c.error.is_some()).count();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let suite_attrs = format!(
        "name=\"switchyard verify\" tests=\"{}\" failures=\"{failed}\" errors=\"{errors}\" skipped=\"0\" time=\"{:.3}\"",
        cases.len(),
        report.elapsed_seconds
    );
    let _ = writeln!(x, "<testsuites {suite_attrs}>");
    let _ = writeln!(
        x,
        "  <testsuite {suite_attrs} timestamp=\"{}\" hostname=\"{}\">",
        xml_escape(&report.started_at),
        xml_escape(&report.database)
    );
    properties(&mut x, report);
    for c in &cases {
        testcase(&mut x, c);
    }
    let _ = writeln!(x, "  </testsuite>");
    let _ = writeln!(x, "</testsuites>");
    x
}

/// The run's counts as suite properties.
fn properties(x: &mut String, report: &Report) {
    let _ = writeln!(x, "    <properties>");
    let props = [
        ("database", report.database.clone()),
        ("rows.legacy", report.rows.legacy.to_string()),
        ("rows.active", report.rows.active.to_string()),
        ("rows.archived", report.rows.archived.to_string()),
        ("differences", report.total_differences.to_string()),
        ("warnings.not_yet_archived", report.warnings.not_yet_archived.to_string()),
        ("warnings.archived_within_retention", report.warnings.archived_within_retention.to_string()),
    ];
    for (k, v) in props {
        let _ = writeln!(x, "      <property name=\"{}\" value=\"{}\"/>", xml_escape(k), xml_escape(&v));
    }
    let _ = writeln!(x, "    </properties>");
}

/// One `<testcase>` with its failures and its error.
fn testcase(x: &mut String, c: &Case) {
    let open = format!(
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
        xml_escape(&c.name),
        c.classname,
        c.seconds
    );
    if c.failures.is_empty() && c.error.is_none() {
        let _ = writeln!(x, "{open}/>");
        return;
    }
    let _ = writeln!(x, "{open}>");
    for (message, body) in &c.failures {
        let _ = writeln!(
            x,
            "      <failure message=\"{}\" type=\"difference\">{}</failure>",
            xml_escape(message),
            xml_escape(body)
        );
    }
    if let Some(e) = &c.error {
        let _ =
            writeln!(x, "      <error message=\"{}\" type=\"could_not_run\">{}</error>", xml_escape(e), xml_escape(e));
    }
    let _ = writeln!(x, "    </testcase>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures;
    use crate::report::CheckResult;

    #[test]
    fn escapes_markup_quotes_and_controls() {
        assert_eq!(xml_escape("a<b>&\"c\"'d'\u{1}\n"), "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;\u{FFFD}\n");
    }

    #[test]
    fn parses_as_xml_with_one_failure_per_difference() {
        let xml = junit(&fixtures::dirty());
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).expect("testsuite");
        assert_eq!(suite.attribute("tests"), Some("3"));
        assert_eq!(suite.attribute("failures"), Some("2"));
        let failures: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("failure")).collect();
        assert_eq!(failures.len(), 3);
        let dv = failures
            .iter()
            .find(|f| f.attribute("message").unwrap_or_default().starts_with("different_values"))
            .expect("different_values");
        assert_eq!(
            dv.attribute("message"),
            Some("different_values 8b000000-0000-0000-0000-000000000002 (columns: title, tags)")
        );
        assert!(
            dv.text().unwrap_or_default().contains("<b>\"quoted\" & 'odd'|pipe"),
            "escaped detail survives a round trip"
        );
        let depth = doc
            .descendants()
            .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some("depth"))
            .expect("depth case");
        assert_eq!(depth.children().filter(|n| n.has_tag_name("failure")).count(), 1);
    }

    #[test]
    fn a_clean_report_has_no_failures_and_errors_become_error_cases() {
        let mut r = fixtures::clean();
        let xml = junit(&r);
        let doc = roxmltree::Document::parse(&xml).expect("xml");
        assert_eq!(doc.descendants().filter(|n| n.has_tag_name("failure")).count(), 0);
        assert_eq!(doc.descendants().filter(|n| n.has_tag_name("testcase")).count(), 2);
        r.add_error("relation \"todos_active\" does not exist");
        let xml = junit(&r);
        let doc = roxmltree::Document::parse(&xml).expect("xml");
        let err = doc.descendants().find(|n| n.has_tag_name("error")).expect("error");
        assert_eq!(err.attribute("message"), Some("relation \"todos_active\" does not exist"));
    }

    #[test]
    fn a_check_that_could_not_run_is_one_error_case_not_two() {
        let mut r = fixtures::clean();
        let check = CheckResult {
            name: "query sampled".into(),
            error: Some("not checkable: refused".into()),
            ..CheckResult::default()
        };
        r.add_check(check);
        assert_eq!(r.errors, vec!["query sampled: not checkable: refused".to_string()]);
        let xml = junit(&r);
        let doc = roxmltree::Document::parse(&xml).expect("xml");
        let errors: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("error")).collect();
        assert_eq!(errors.len(), 1, "{xml}");
        assert_eq!(errors[0].parent().and_then(|c| c.attribute("name")), Some("query sampled"));
    }

    #[test]
    fn unlisted_differences_still_fail_their_chunk() {
        let mut r = fixtures::clean();
        r.chunks[0].matched = false;
        r.chunks[0].differences = 5;
        let xml = junit(&r);
        assert!(xml.contains("5 more differences not listed"), "{xml}");
    }
}
