//! Expected vs got, readably: the twin comparisons of the suite (what the
//! legacy twin answers against what the proxy, or the rewriter's SQL, answers)
//! fail with a line diff of the two and the statement and phase they were
//! about, instead of two long `Debug` dumps side by side.

use std::fmt::{Debug, Display};

/// Asserts that `got` is what the legacy twin gave (`expected`); on a
/// difference, panics with `context` (say the phase, client and statement)
/// and a line diff of the two, pretty-printed.
#[track_caller]
pub fn assert_same_as_legacy<T: Debug + PartialEq + ?Sized>(expected: &T, got: &T, context: impl Display) {
    if expected != got {
        let diff = line_diff(&format!("{expected:#?}"), &format!("{got:#?}"));
        panic!("{context}: differs from legacy\n--- legacy (expected)\n+++ got\n{diff}");
    }
}

/// [`assert_same_as_legacy`] for text compared line by line (table images,
/// psql output).
#[track_caller]
pub fn assert_same_lines(expected: &str, got: &str, context: impl Display) {
    if expected != got {
        panic!("{context}: differs from legacy\n--- legacy (expected)\n+++ got\n{}", line_diff(expected, got));
    }
}

/// A unified-style diff (`-` only expected, `+` only got, two-space prefix
/// for lines both have) from the longest common subsequence of lines. The
/// compared values are small (a result set, a table image), so the
/// quadratic table is fine.
pub fn line_diff(expected: &str, got: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), got.lines().collect());
    // common[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut common = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] { common[i + 1][j + 1] + 1 } else { common[i + 1][j].max(common[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || common[i + 1][j] >= common[i][j + 1]) {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        }
    }
    out
}

#[test]
fn the_diff_marks_what_only_one_side_has() {
    let diff = line_diff("a\nb\nc", "a\nc\nd");
    assert_eq!(diff, "  a\n- b\n  c\n+ d\n");
}

#[test]
fn a_difference_panics_with_the_context_and_the_diff() {
    let err = std::panic::catch_unwind(|| assert_same_as_legacy(&vec![1, 2], &vec![1, 3], "read_new: SELECT"))
        .expect_err("they differ");
    let text = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.starts_with("read_new: SELECT: differs from legacy"), "{text}");
    assert!(text.contains("-     2,\n+     3,"), "{text}");
    assert_same_as_legacy(&[1, 2][..], &[1, 2][..], "equal values pass");
}
