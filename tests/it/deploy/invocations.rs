//! Shell words, and `switchyard ...` invocations in the deploy files and
//! docs, run through the real binary's parser.

use super::*;

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
pub(super) fn k8s_invocations(v: &Yaml, subs: &BTreeSet<String>, out: &mut Vec<Vec<String>>) {
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

pub(super) fn yaml_list_or_string(v: Option<&Yaml>) -> Vec<String> {
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
