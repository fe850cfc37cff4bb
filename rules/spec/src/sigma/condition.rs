//! The Sigma condition grammar: `and`, `or`, `not`, parentheses, `1 of sel*`, `all of them`.
//!
//! ```text
//! expr    := and ("or" and)*
//! and     := unary ("and" unary)*
//! unary   := "not" unary | "(" expr ")" | quant | NAME
//! quant   := ("1" | "any" | "all") "of" (PATTERN | "them")
//! ```
//! Precedence is `not` over `and` over `or`, as Sigma defines it.

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Ref(String),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    /// `1 of PATTERN` (`them` is `*`).
    OneOf(String),
    /// `all of PATTERN`.
    AllOf(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    Word(String),
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<Tok>| {
        if !word.is_empty() {
            out.push(Tok::Word(std::mem::take(word)));
        }
    };
    for c in s.chars() {
        match c {
            '(' | ')' => {
                flush(&mut word, &mut out);
                out.push(if c == '(' { Tok::Open } else { Tok::Close });
            }
            '|' => {
                return Err(
                    "aggregations after | (count() ...) are Sigma v1; use a correlation rule"
                        .into(),
                );
            }
            c if c.is_whitespace() => flush(&mut word, &mut out),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut out);
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

fn is_kw(t: Option<&Tok>, kw: &str) -> bool {
    matches!(t, Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expr(&mut self) -> Result<Cond, String> {
        let mut parts = vec![self.and()?];
        while is_kw(self.peek(), "or") {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut parts = vec![self.unary()?];
        while is_kw(self.peek(), "and") {
            self.pos += 1;
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Cond, String> {
        match self.next() {
            None => Err("condition ends too early".into()),
            Some(Tok::Close) => Err("unexpected )".into()),
            Some(Tok::Open) => {
                let e = self.expr()?;
                match self.next() {
                    Some(Tok::Close) => Ok(e),
                    _ => Err("missing )".into()),
                }
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("not") => {
                Ok(Cond::Not(Box::new(self.unary()?)))
            }
            Some(Tok::Word(w)) if is_kw(self.peek(), "of") => {
                self.pos += 1;
                let pattern = match self.next() {
                    Some(Tok::Word(p)) if p.eq_ignore_ascii_case("them") => "*".to_string(),
                    Some(Tok::Word(p)) => p,
                    _ => return Err(format!("{w} of: what?")),
                };
                match w.to_ascii_lowercase().as_str() {
                    "1" | "any" => Ok(Cond::OneOf(pattern)),
                    "all" => Ok(Cond::AllOf(pattern)),
                    other => Err(format!("{other} of: only 1 of and all of are supported")),
                }
            }
            Some(Tok::Word(w)) => {
                if ["and", "or", "of"].contains(&w.to_ascii_lowercase().as_str()) {
                    return Err(format!("unexpected {w}"));
                }
                Ok(Cond::Ref(w))
            }
        }
    }
}

/// Parse one condition string.
pub fn parse(s: &str) -> Result<Cond, String> {
    let mut p = Parser {
        toks: lex(s)?,
        pos: 0,
    };
    let e = p.expr()?;
    if p.pos < p.toks.len() {
        return Err(format!("unexpected text after the condition in {s:?}"));
    }
    Ok(e)
}

/// Whether a search identifier matches a `1 of` / `all of` pattern (`*` wildcards).
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Cond {
        Cond::Ref(s.into())
    }

    #[test]
    fn not_binds_tighter_than_and_which_binds_tighter_than_or() {
        assert_eq!(
            parse("a or not b and c").expect("parses"),
            Cond::Or(vec![
                r("a"),
                Cond::And(vec![Cond::Not(Box::new(r("b"))), r("c")])
            ])
        );
    }

    #[test]
    fn parentheses_group() {
        assert_eq!(
            parse("(a or b) and not (c)").expect("parses"),
            Cond::And(vec![
                Cond::Or(vec![r("a"), r("b")]),
                Cond::Not(Box::new(r("c")))
            ])
        );
    }

    #[test]
    fn quantifiers_take_patterns_and_them() {
        assert_eq!(
            parse("1 of sel_* and not all of them").expect("parses"),
            Cond::And(vec![
                Cond::OneOf("sel_*".into()),
                Cond::Not(Box::new(Cond::AllOf("*".into())))
            ])
        );
    }

    #[test]
    fn broken_conditions_say_what_is_wrong() {
        assert!(
            parse("(a or b")
                .expect_err("missing )")
                .contains("missing )")
        );
        assert!(parse("a and").is_err());
        assert!(parse("a b").is_err());
        assert!(
            parse("sel | count() > 5")
                .expect_err("v1")
                .contains("correlation")
        );
        assert!(parse("2 of sel*").is_err());
    }

    #[test]
    fn patterns_match_with_stars() {
        assert!(pattern_matches("sel_*", "sel_a"));
        assert!(pattern_matches("*", "x"));
        assert!(!pattern_matches("sel_*", "filter"));
    }
}
