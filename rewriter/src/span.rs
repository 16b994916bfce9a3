//! Spans: sqlparser reports line and column (counted in characters); the
//! splicer needs byte offsets into the original text.

use sqlparser::ast::{ObjectName, ObjectNamePart};
use sqlparser::tokenizer::Location;

/// Line/column to byte offset conversion for one text.
pub struct LineIndex<'a> {
    src: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(src: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(src.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i + 1));
        LineIndex { src, starts }
    }

    /// The byte offset of a 1-based line and character column.
    pub fn offset(&self, loc: Location) -> Option<usize> {
        let line = usize::try_from(loc.line).ok()?.checked_sub(1)?;
        let col = usize::try_from(loc.column).ok()?.checked_sub(1)?;
        let start = *self.starts.get(line)?;
        let rest = self.src.get(start..)?;
        let mut chars = rest.char_indices();
        match chars.nth(col) {
            Some((i, _)) => Some(start + i),
            None if rest.chars().count() == col => Some(self.src.len()),
            None => None,
        }
    }
}

/// The bytes of an object name, from its first part to its last.
pub fn name_range(name: &ObjectName, idx: &LineIndex<'_>) -> Option<(usize, usize)> {
    let mut start = None;
    let mut end = None;
    for p in &name.0 {
        if let ObjectNamePart::Identifier(i) = p {
            let s = idx.offset(i.span.start)?;
            let e = idx.offset(i.span.end)?;
            start = Some(start.map_or(s, |x: usize| x.min(s)));
            end = Some(end.map_or(e, |x: usize| x.max(e)));
        }
    }
    Some((start?, end?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_offsets_follow_characters() {
        let s = "SELECT 'é' FROM\n  todos";
        let i = LineIndex::new(s);
        assert_eq!(i.offset(Location { line: 2, column: 3 }), Some(s.find("todos").unwrap_or(0)));
        assert_eq!(i.offset(Location { line: 1, column: 10 }), Some(s.find(" FROM").unwrap_or(0) - 1));
    }
}
