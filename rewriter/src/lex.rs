//! A small, allocation-free PostgreSQL lexer over bytes.
//!
//! It knows exactly what the fast path and the splicer need: where words,
//! quoted identifiers, string literals (`'..'`, `E'..'`, `U&'..'`, `B'..'`),
//! dollar quotes (`$$..$$`, `$tag$..$tag$`), parameters (`$1`), comments
//! (`--` and nested `/* */`) and punctuation begin and end, as byte offsets
//! into the original text. See
//! <https://www.postgresql.org/docs/current/sql-syntax-lexical.html>.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An unquoted identifier or keyword.
    Word,
    /// A `"quoted"` identifier (without escapes).
    QuotedIdent,
    /// A `U&"..."` identifier: its value cannot be known without decoding.
    UnicodeIdent,
    /// Any string literal or dollar-quoted string.
    Str,
    /// A numeric literal.
    Number,
    /// A positional parameter `$n`.
    Param,
    /// `(`
    Open,
    /// `)`
    Close,
    /// `,`
    Comma,
    /// `;`
    Semi,
    /// `.`
    Dot,
    /// Any other operator character run.
    Op,
    /// Input the lexer could not close (unterminated quote or comment).
    Unterminated,
}

/// One token: its kind and byte range `start..end` in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// The token's text.
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        src.get(self.start..self.end).unwrap_or("")
    }

    /// Whether this is the unquoted word `kw` (ASCII case-insensitive).
    pub fn is_word(&self, src: &str, kw: &str) -> bool {
        self.kind == Kind::Word && self.text(src).eq_ignore_ascii_case(kw)
    }
}

/// Iterator over the tokens of `src`; comments and whitespace are skipped.
pub struct Lexer<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Self {
        Lexer { b: src.as_bytes(), pos: 0 }
    }

    fn at(&self, i: usize) -> u8 {
        self.b.get(i).copied().unwrap_or(0)
    }

    /// Skips whitespace and comments; false when a comment is unterminated.
    fn skip_trivia(&mut self) -> bool {
        loop {
            let c = self.at(self.pos);
            if c == b' ' || c == b'\n' || c == b'\t' || c == b'\r' || c == 0x0c {
                self.pos += 1;
            } else if c == b'-' && self.at(self.pos + 1) == b'-' {
                while self.pos < self.b.len() && self.b[self.pos] != b'\n' {
                    self.pos += 1;
                }
            } else if c == b'/' && self.at(self.pos + 1) == b'*' {
                let mut depth = 1usize;
                self.pos += 2;
                while depth > 0 {
                    if self.pos >= self.b.len() {
                        return false;
                    }
                    if self.b[self.pos] == b'/' && self.at(self.pos + 1) == b'*' {
                        depth += 1;
                        self.pos += 2;
                    } else if self.b[self.pos] == b'*' && self.at(self.pos + 1) == b'/' {
                        depth -= 1;
                        self.pos += 2;
                    } else {
                        self.pos += 1;
                    }
                }
            } else {
                return true;
            }
        }
    }

    /// Scans a quoted run closed by `q` (doubling `q` escapes it; with
    /// `backslash`, `\` escapes the next byte). Returns the end or None.
    fn quoted(&self, from: usize, q: u8, backslash: bool) -> Option<usize> {
        let mut i = from;
        loop {
            let c = *self.b.get(i)?;
            if backslash && c == b'\\' {
                i += 2;
            } else if c == q {
                if self.at(i + 1) == q {
                    i += 2;
                } else {
                    return Some(i + 1);
                }
            } else {
                i += 1;
            }
        }
    }

    /// At a `$`: the end of a dollar-quoted string starting here, if it is one.
    fn dollar_quote(&self, start: usize) -> Option<Option<usize>> {
        let mut i = start + 1;
        while i < self.b.len() && (self.b[i].is_ascii_alphanumeric() || self.b[i] == b'_' || self.b[i] >= 0x80) {
            if i == start + 1 && self.b[i].is_ascii_digit() {
                return None;
            }
            i += 1;
        }
        if self.at(i) != b'$' {
            return None;
        }
        let tag = &self.b[start..=i];
        let mut j = i + 1;
        while j + tag.len() <= self.b.len() {
            if &self.b[j..j + tag.len()] == tag {
                return Some(Some(j + tag.len()));
            }
            j += 1;
        }
        Some(None)
    }

    fn tok(&mut self, kind: Kind, start: usize, end: usize) -> Token {
        self.pos = end;
        Token { kind, start, end }
    }

    fn unterminated(&mut self, start: usize) -> Token {
        let end = self.b.len();
        self.tok(Kind::Unterminated, start, end)
    }
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_ident_cont(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

impl Lexer<'_> {
    /// Prefixed strings and identifiers: E'..', B'..', X'..', N'..', U&'..', U&"..".
    fn prefixed(&mut self, s: usize, c: u8) -> Option<Token> {
        let (open, quote, escapes) = match (c, self.at(s + 1)) {
            (b'e' | b'E', b'\'') => (s + 2, b'\'', true),
            (b'b' | b'B' | b'x' | b'X' | b'n' | b'N', b'\'') => (s + 2, b'\'', false),
            (b'u' | b'U', b'&') if matches!(self.at(s + 2), b'\'' | b'"') => (s + 3, self.at(s + 2), false),
            _ => return None,
        };
        let kind = if quote == b'"' { Kind::UnicodeIdent } else { Kind::Str };
        Some(self.quoted_token(kind, s, open, quote, escapes))
    }

    /// The quoted token starting at `s` whose body opens at `open`.
    fn quoted_token(&mut self, kind: Kind, s: usize, open: usize, quote: u8, escapes: bool) -> Token {
        match self.quoted(open, quote, escapes) {
            Some(e) => self.tok(kind, s, e),
            None => self.unterminated(s),
        }
    }

    /// The end of the run of bytes from `from` that `keep` accepts.
    fn scan_while(&self, from: usize, keep: impl Fn(u8) -> bool) -> usize {
        let mut e = from;
        while e < self.b.len() && keep(self.b[e]) {
            e += 1;
        }
        e
    }

    /// The token at `s` that is neither prefixed nor a word, by its first byte.
    fn by_first_byte(&mut self, s: usize, c: u8) -> Token {
        let next = self.at(s + 1);
        match c {
            b'\'' => self.quoted_token(Kind::Str, s, s + 1, b'\'', false),
            b'"' => self.quoted_token(Kind::QuotedIdent, s, s + 1, b'"', false),
            b'$' if next.is_ascii_digit() => {
                let e = self.scan_while(s + 1, |b| b.is_ascii_digit());
                self.tok(Kind::Param, s, e)
            }
            b'$' => match self.dollar_quote(s) {
                Some(Some(e)) => self.tok(Kind::Str, s, e),
                Some(None) => self.unterminated(s),
                None => self.tok(Kind::Op, s, s + 1),
            },
            b'0'..=b'9' => {
                let e = self.scan_while(s + 1, |b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_');
                self.tok(Kind::Number, s, e)
            }
            b'.' if next.is_ascii_digit() => {
                let e = self.scan_while(s + 1, |b| b.is_ascii_alphanumeric() || b == b'_');
                self.tok(Kind::Number, s, e)
            }
            b'(' | b'[' => self.tok(Kind::Open, s, s + 1),
            b')' | b']' => self.tok(Kind::Close, s, s + 1),
            b',' => self.tok(Kind::Comma, s, s + 1),
            b';' => self.tok(Kind::Semi, s, s + 1),
            b'.' => self.tok(Kind::Dot, s, s + 1),
            _ => {
                // One operator character at a time, except that comment starts
                // must not be swallowed: `*/`-free runs are fine char by char.
                let len =
                    std::str::from_utf8(&self.b[s..]).ok().and_then(|t| t.chars().next()).map_or(1, char::len_utf8);
                self.tok(Kind::Op, s, s + len)
            }
        }
    }
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        if !self.skip_trivia() {
            let start = self.pos.min(self.b.len());
            self.pos = self.b.len() + 1;
            return Some(Token { kind: Kind::Unterminated, start, end: self.b.len() });
        }
        let s = self.pos;
        let c = *self.b.get(s)?;
        if let Some(t) = self.prefixed(s, c) {
            return Some(t);
        }
        if is_ident_start(c) {
            let e = self.scan_while(s + 1, is_ident_cont);
            return Some(self.tok(Kind::Word, s, e));
        }
        Some(self.by_first_byte(s, c))
    }
}

/// All tokens of `src`.
pub fn tokens(src: &str) -> Vec<Token> {
    Lexer::new(src).collect()
}

/// Paren depth before each token (depth of `(` itself is the outer depth).
pub fn depths(toks: &[Token]) -> Vec<i32> {
    let mut d = 0i32;
    toks.iter()
        .map(|t| match t.kind {
            Kind::Open => {
                d += 1;
                d - 1
            }
            Kind::Close => {
                d -= 1;
                d
            }
            _ => d,
        })
        .collect()
}

/// The value of an identifier token as PostgreSQL folds it: unquoted words are
/// lower-cased (ASCII), quoted identifiers keep their case with `""` undone.
pub fn ident_value(src: &str, t: &Token) -> Option<String> {
    match t.kind {
        Kind::Word => Some(t.text(src).to_ascii_lowercase()),
        Kind::QuotedIdent => {
            let s = t.text(src);
            Some(s.get(1..s.len().saturating_sub(1)).unwrap_or("").replace("\"\"", "\""))
        }
        _ => None,
    }
}

/// Splits a script into statements for `switchyard rewrite --check`: at
/// top-level `;` when there is one, else one statement per non-empty line
/// (the shape of a pg_stat_statements export). Comment-only pieces are dropped.
/// The statements of one simple-protocol Query message, as PostgreSQL splits
/// it: at semicolons outside literals, comments and parentheses, never at
/// line ends. Empty pieces (only whitespace or comments) are left out; the
/// pieces are slices of `src`, untrimmed.
pub fn split_query(src: &str) -> Vec<&str> {
    let toks = tokens(src);
    let depth = depths(&toks);
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut has_token = false;
    for (t, d) in toks.iter().zip(&depth) {
        if t.kind == Kind::Semi && *d == 0 {
            if has_token {
                pieces.push(src.get(start..t.start).unwrap_or(""));
            }
            start = t.start + 1;
            has_token = false;
        } else {
            has_token = true;
        }
    }
    if has_token {
        pieces.push(src.get(start..).unwrap_or(""));
    }
    pieces
}

/// Statements for a pre-flight check file: `;`-separated, or one per line
/// when the text holds no top-level semicolon.
pub fn split_statements(src: &str) -> Vec<String> {
    let toks = tokens(src);
    let depth = depths(&toks);
    let semis: Vec<usize> =
        toks.iter().zip(&depth).filter(|(t, d)| t.kind == Kind::Semi && **d == 0).map(|(t, _)| t.start).collect();
    let pieces: Vec<&str> = if semis.is_empty() {
        src.lines().collect()
    } else {
        let mut v = Vec::new();
        let mut start = 0;
        for s in semis {
            v.push(src.get(start..s).unwrap_or(""));
            start = s + 1;
        }
        v.push(src.get(start..).unwrap_or(""));
        v
    };
    pieces.into_iter().filter(|p| tokens(p).iter().any(|_| true)).map(|p| p.trim().to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<(Kind, String)> {
        tokens(s).iter().map(|t| (t.kind, t.text(s).to_string())).collect()
    }

    #[test]
    fn strings_comments_and_dollar_quotes_are_single_tokens() {
        let s = "SELECT 'it''s', E'a\\'b', $$x$$, $t$ todos $t$, $1 /* a /* b */ c */ -- x\n\"Q\"\"x\"";
        let k = kinds(s);
        assert_eq!(k[1], (Kind::Str, "'it''s'".into()));
        assert_eq!(k[3], (Kind::Str, "E'a\\'b'".into()));
        assert_eq!(k[5], (Kind::Str, "$$x$$".into()));
        assert_eq!(k[7], (Kind::Str, "$t$ todos $t$".into()));
        assert_eq!(k[9], (Kind::Param, "$1".into()));
        assert_eq!(k[10], (Kind::QuotedIdent, "\"Q\"\"x\"".into()));
        assert_eq!(k.len(), 11);
    }

    #[test]
    fn a_query_splits_at_top_level_semicolons_only() {
        let q = "INSERT INTO t VALUES ('a;\nb'); -- c;\nSELECT (1;2) ;; /* x */ ";
        assert_eq!(split_query(q), vec!["INSERT INTO t VALUES ('a;\nb')", " -- c;\nSELECT (1;2) "]);
        assert_eq!(split_query("SELECT 'multi\nline'"), vec!["SELECT 'multi\nline'"]);
        assert!(split_query(" ; -- only a comment").is_empty());
    }

    #[test]
    fn unterminated_input_is_reported() {
        assert!(tokens("SELECT 'abc").iter().any(|t| t.kind == Kind::Unterminated));
        assert!(tokens("SELECT /* abc").iter().any(|t| t.kind == Kind::Unterminated));
        assert!(tokens("SELECT $a$ abc").iter().any(|t| t.kind == Kind::Unterminated));
    }

    #[test]
    fn identifier_values_fold_like_postgres() {
        let s = "TODOS \"Todos\" \"a\"\"b\"";
        let t = tokens(s);
        assert_eq!(ident_value(s, &t[0]).as_deref(), Some("todos"));
        assert_eq!(ident_value(s, &t[1]).as_deref(), Some("Todos"));
        assert_eq!(ident_value(s, &t[2]).as_deref(), Some("a\"b"));
    }
}
