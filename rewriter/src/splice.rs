//! Splicing: replacing byte ranges of the original text, leaving every byte
//! outside them identical (comments, case, spacing, `$n` placeholders).

/// One replacement of `start..end` by `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

impl Edit {
    pub fn new(start: usize, end: usize, text: impl Into<String>) -> Self {
        Edit { start, end, text: text.into() }
    }

    /// An insertion at `at`.
    pub fn insert(at: usize, text: impl Into<String>) -> Self {
        Edit { start: at, end: at, text: text.into() }
    }
}

/// Why edits could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpliceError {
    #[error("overlapping edits at byte {0}")]
    Overlap(usize),
    #[error("an edit falls outside the text or a character boundary at byte {0}")]
    Bounds(usize),
}

/// Renders `src[lo..hi]` with the edits lying inside that range applied
/// (edits outside it are ignored). Insertions at the same offset keep their
/// order in `edits`.
pub fn render(src: &str, lo: usize, hi: usize, edits: &[Edit]) -> Result<String, SpliceError> {
    let mut inside: Vec<&Edit> = edits.iter().filter(|e| e.start >= lo && e.end <= hi).collect();
    inside.sort_by_key(|e| (e.start, e.end));
    let mut out = String::with_capacity(hi.saturating_sub(lo) + 64);
    let mut pos = lo;
    for e in inside {
        if e.start < pos {
            return Err(SpliceError::Overlap(e.start));
        }
        out.push_str(src.get(pos..e.start).ok_or(SpliceError::Bounds(e.start))?);
        out.push_str(&e.text);
        pos = e.end;
    }
    out.push_str(src.get(pos..hi).ok_or(SpliceError::Bounds(hi))?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_everything_outside_the_edits() {
        let s = "SELECT /* c */ a FROM todos WHERE id = $1";
        let at = s.find("todos").unwrap_or(0);
        let out = render(s, 0, s.len(), &[Edit::new(at, at + 5, "(x) AS todos")]).expect("renders");
        assert_eq!(out, "SELECT /* c */ a FROM (x) AS todos WHERE id = $1");
    }

    #[test]
    fn rejects_overlaps() {
        let s = "abcdef";
        assert!(render(s, 0, 6, &[Edit::new(1, 3, "x"), Edit::new(2, 4, "y")]).is_err());
    }
}
