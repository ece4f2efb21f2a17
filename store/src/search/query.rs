//! The run-search query language: our own lexer and parser, then lowering to tantivy queries.
//!
//! tantivy's `QueryParser` is lenient (it silently drops what it cannot parse) and reports no
//! positions, and it would accept any field name. Operators need the opposite: a query either
//! means exactly what it says or is refused with the character where it went wrong. So the
//! grammar is small and ours:
//!
//! ```text
//! query   := or_expr?
//! or_expr := and_expr ( "OR" and_expr )*
//! and_expr:= unary ( "AND"? unary )*          juxtaposition means AND
//! unary   := ( "-" | "NOT" ) unary | primary
//! primary := "(" or_expr ")" | "\"phrase\"" | field ":" value | word
//! ```
//!
//! Operators are upper case only (`and`, `or`, `not` are words one may search for). A word is
//! analyzed like the indexed text (lowercase, English stem); a word that splits into several
//! tokens (`checkout-worker`, `10.0.3.7`) becomes a phrase. `field:value` filters are exact
//! matches on identifier fields listed in [`FILTER_FIELDS`]; anything else before a `:` is an
//! error that says to quote the text. Positions in errors are character (not byte) offsets.
//!
//! Layout: [`lex`] (characters → tokens with positions), [`Parser`] (tokens → [`Node`]),
//! [`Lowering`] (nodes → a tantivy query plus the positive terms that snippets highlight),
//! [`ForwardOnly`] (keeps tantivy's phrase scorer out of its `seek_danger` path).

use std::collections::BTreeSet;

use tantivy::query::{
    AllQuery, BooleanQuery, ConstScoreQuery, EnableScoring, Explanation, Occur, PhraseQuery, Query,
    Scorer, TermQuery, Weight,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocId, DocSet, Score, SegmentReader, Term};

use super::schema::{FILTER_FIELDS, Fields};

/// Queries longer than this many characters are refused (a pasted log file is not a query).
pub(crate) const MAX_QUERY_CHARS: usize = 1000;
/// At most this many words, phrases and filters in one query: bounds the work of one search.
pub(crate) const MAX_LEAVES: usize = 64;
/// Parentheses and prefix operators nest at most this deep (the parser is recursive).
pub(crate) const MAX_DEPTH: usize = 32;

/// A refused query: where (character offset) and why, in an operator's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub position: usize,
    pub message: String,
}

fn err<T>(position: usize, message: impl Into<String>) -> Result<T, SyntaxError> {
    Err(SyntaxError {
        position,
        message: message.into(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    LParen,
    RParen,
    Minus,
    And,
    Or,
    Not,
    /// A bare word (may still split into several tokens when analyzed).
    Word(String),
    /// A quoted phrase, without its quotes.
    Phrase(String),
    /// `name:value` with a known filter field.
    Filter {
        name: &'static str,
        value: String,
    },
}

#[derive(Debug, Clone)]
struct Lexed {
    tok: Tok,
    pos: usize,
}

fn is_word_char(c: char) -> bool {
    !(c.is_whitespace() || c == '(' || c == ')' || c == '"')
}

fn is_field_name(name: &[char]) -> bool {
    match name.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
            name.iter().all(|c| c.is_ascii_alphanumeric() || *c == '_')
        }
        _ => false,
    }
}

/// Reads a quoted phrase whose opening quote is at `open`; returns its text and the index
/// after the closing quote.
fn read_quoted(chars: &[char], open: usize) -> Result<(String, usize), SyntaxError> {
    let start = open + 1;
    match chars[start.min(chars.len())..]
        .iter()
        .position(|c| *c == '"')
    {
        Some(len) => Ok((chars[start..start + len].iter().collect(), start + len + 1)),
        None => err(
            open,
            "unbalanced quote: the phrase that starts here is never closed (add a closing \")",
        ),
    }
}

fn lex(chars: &[char]) -> Result<Vec<Lexed>, SyntaxError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let pos = i;
        match c {
            '(' => {
                out.push(Lexed {
                    tok: Tok::LParen,
                    pos,
                });
                i += 1;
            }
            ')' => {
                out.push(Lexed {
                    tok: Tok::RParen,
                    pos,
                });
                i += 1;
            }
            '"' => {
                let (text, next) = read_quoted(chars, i)?;
                out.push(Lexed {
                    tok: Tok::Phrase(text),
                    pos,
                });
                i = next;
            }
            '-' => {
                match chars.get(i + 1) {
                    Some(n) if !n.is_whitespace() && *n != ')' => {}
                    _ => {
                        return err(
                            pos,
                            "`-` must be followed directly (no space) by the word, phrase or \
                             filter to exclude",
                        );
                    }
                }
                out.push(Lexed {
                    tok: Tok::Minus,
                    pos,
                });
                i += 1;
            }
            _ => {
                let mut end = i;
                while end < chars.len() && is_word_char(chars[end]) {
                    end += 1;
                }
                let word = &chars[i..end];
                let colon = word.iter().position(|c| *c == ':');
                match colon {
                    Some(k) if is_field_name(&word[..k]) => {
                        let name: String = word[..k].iter().collect();
                        let Some(field) = FILTER_FIELDS.iter().find(|f| **f == name) else {
                            if name == "workspace" {
                                return err(
                                    pos,
                                    "`workspace:` cannot be used in a query: the workspaces \
                                     searched are chosen with the search's workspace filter",
                                );
                            }
                            return err(
                                pos,
                                format!(
                                    "unknown field `{name}`: the fields you can filter on are {}; \
                                     to search for text that contains `:`, put it in quotes",
                                    FILTER_FIELDS.join(", ")
                                ),
                            );
                        };
                        let value: String = word[k + 1..].iter().collect();
                        let (value, next) = if !value.is_empty() {
                            (value, end)
                        } else if chars.get(end) == Some(&'"') {
                            read_quoted(chars, end)?
                        } else {
                            return err(
                                pos,
                                format!("`{name}:` needs a value, e.g. {name}:{}", example(field)),
                            );
                        };
                        out.push(Lexed {
                            tok: Tok::Filter { name: field, value },
                            pos,
                        });
                        i = next;
                        continue;
                    }
                    _ => {}
                }
                let text: String = word.iter().collect();
                let tok = match text.as_str() {
                    "AND" => Tok::And,
                    "OR" => Tok::Or,
                    "NOT" => Tok::Not,
                    _ => Tok::Word(text),
                };
                out.push(Lexed { tok, pos });
                i = end;
            }
        }
    }
    Ok(out)
}

fn example(field: &str) -> &'static str {
    match field {
        "kind" => "tool_result",
        "model" => "openai/gpt-4o",
        _ => "ID",
    }
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// A word or a quoted phrase; analyzed when lowered.
    Text {
        text: String,
        pos: usize,
    },
    /// An exact match on an identifier field.
    Filter {
        name: &'static str,
        value: String,
    },
    Not(Box<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
}

struct Parser {
    toks: Vec<Lexed>,
    at: usize,
    /// Where the query ends (for "expected … at the end" errors).
    end: usize,
    leaves: usize,
}

fn op_name(tok: &Tok) -> &'static str {
    match tok {
        Tok::And => "AND",
        Tok::Or => "OR",
        Tok::Not => "NOT",
        Tok::Minus => "-",
        _ => "",
    }
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|l| &l.tok)
    }

    /// True when what comes next cannot start an operand.
    fn operand_missing(&self) -> bool {
        matches!(
            self.peek(),
            None | Some(Tok::RParen) | Some(Tok::And) | Some(Tok::Or)
        )
    }

    fn parse_or(&mut self, depth: usize) -> Result<Node, SyntaxError> {
        let mut items = vec![self.parse_and(depth)?];
        while let Some(Lexed { tok: Tok::Or, pos }) = self.toks.get(self.at).cloned() {
            self.at += 1;
            if self.operand_missing() {
                return err(
                    pos,
                    "dangling `OR`: add the word, phrase or filter it should match after it",
                );
            }
            items.push(self.parse_and(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::Or(items)
        })
    }

    fn parse_and(&mut self, depth: usize) -> Result<Node, SyntaxError> {
        let mut items = vec![self.parse_unary(depth)?];
        loop {
            match self.toks.get(self.at).cloned() {
                None
                | Some(Lexed {
                    tok: Tok::RParen | Tok::Or,
                    ..
                }) => break,
                Some(Lexed { tok: Tok::And, pos }) => {
                    self.at += 1;
                    if self.operand_missing() {
                        return err(
                            pos,
                            "dangling `AND`: add the word, phrase or filter it should match \
                             after it",
                        );
                    }
                    items.push(self.parse_unary(depth)?);
                }
                Some(_) => items.push(self.parse_unary(depth)?),
            }
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::And(items)
        })
    }

    fn parse_unary(&mut self, depth: usize) -> Result<Node, SyntaxError> {
        let Some(Lexed { tok, pos }) = self.toks.get(self.at).cloned() else {
            return err(self.end, "the query ends where a word was expected");
        };
        if depth >= MAX_DEPTH {
            return err(
                pos,
                format!("the query nests parentheses or exclusions more than {MAX_DEPTH} deep"),
            );
        }
        match tok {
            Tok::Minus | Tok::Not => {
                self.at += 1;
                if self.operand_missing() {
                    return err(
                        pos,
                        format!(
                            "`{}` must be followed by the word, phrase or filter to exclude",
                            op_name(&tok)
                        ),
                    );
                }
                Ok(Node::Not(Box::new(self.parse_unary(depth + 1)?)))
            }
            _ => self.parse_primary(depth),
        }
    }

    fn parse_primary(&mut self, depth: usize) -> Result<Node, SyntaxError> {
        let Some(Lexed { tok, pos }) = self.toks.get(self.at).cloned() else {
            return err(self.end, "the query ends where a word was expected");
        };
        self.at += 1;
        match tok {
            Tok::LParen => {
                if self.peek() == Some(&Tok::RParen) {
                    return err(
                        pos,
                        "empty parentheses: put words between them or remove them",
                    );
                }
                let inner = self.parse_or(depth + 1)?;
                if self.peek() != Some(&Tok::RParen) {
                    return err(
                        pos,
                        "unbalanced parenthesis: the `(` here is never closed (add a `)`)",
                    );
                }
                self.at += 1;
                Ok(inner)
            }
            Tok::RParen => err(pos, "unbalanced parenthesis: this `)` has no matching `(`"),
            Tok::And | Tok::Or => err(
                pos,
                format!(
                    "`{}` needs a word, phrase or filter on its left",
                    op_name(&tok)
                ),
            ),
            Tok::Minus | Tok::Not => self.parse_unary(depth),
            Tok::Word(text) | Tok::Phrase(text) => {
                self.leaf(pos)?;
                Ok(Node::Text { text, pos })
            }
            Tok::Filter { name, value } => {
                self.leaf(pos)?;
                Ok(Node::Filter { name, value })
            }
        }
    }

    fn leaf(&mut self, pos: usize) -> Result<(), SyntaxError> {
        self.leaves += 1;
        if self.leaves > MAX_LEAVES {
            return err(
                pos,
                format!("the query has more than {MAX_LEAVES} words, phrases and filters"),
            );
        }
        Ok(())
    }
}

/// Parses query text. `Ok(None)` means the text is blank (match everything in the filters).
pub(crate) fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() > MAX_QUERY_CHARS {
        return err(
            MAX_QUERY_CHARS,
            format!("the query is longer than {MAX_QUERY_CHARS} characters"),
        );
    }
    let toks = lex(&chars)?;
    if toks.is_empty() {
        return Ok(None);
    }
    let mut p = Parser {
        toks,
        at: 0,
        end: chars.len(),
        leaves: 0,
    };
    let node = p.parse_or(0)?;
    if let Some(l) = p.toks.get(p.at) {
        // parse_or stops only at the end or at a `)` it cannot close.
        return err(
            l.pos,
            "unbalanced parenthesis: this `)` has no matching `(`",
        );
    }
    Ok(Some(node))
}

/// Lowers a parsed query into a tantivy query over the index's fields.
pub(crate) struct Lowering<'a> {
    pub fields: &'a Fields,
    pub analyzer: TextAnalyzer,
    /// Analyzed tokens of the words and phrases that are not excluded: what snippets highlight.
    pub positive_terms: BTreeSet<String>,
}

/// A clause that matches and does not change the score (filters must not distort relevance).
pub(crate) fn unscored(q: Box<dyn Query>) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(q, 0.0))
}

impl Lowering<'_> {
    /// `None` when nothing searchable is left (every word was punctuation only).
    pub(crate) fn lower(&mut self, node: &Node, negated: bool) -> Option<Box<dyn Query>> {
        match node {
            Node::Text { text, .. } => self.text(text, negated),
            Node::Filter { name, value } => {
                let field = self.fields.filter_field(name)?;
                Some(unscored(Box::new(TermQuery::new(
                    Term::from_field_text(field, value),
                    IndexRecordOption::Basic,
                ))))
            }
            Node::Not(inner) => {
                let q = self.lower(inner, !negated)?;
                Some(Box::new(BooleanQuery::new(vec![
                    (Occur::Must, unscored(Box::new(AllQuery))),
                    (Occur::MustNot, q),
                ])))
            }
            Node::And(items) => {
                let mut clauses = Vec::new();
                let mut positive = 0;
                for item in items {
                    match item {
                        Node::Not(inner) => {
                            if let Some(q) = self.lower(inner, !negated) {
                                clauses.push((Occur::MustNot, q));
                            }
                        }
                        _ => {
                            if let Some(q) = self.lower(item, negated) {
                                positive += 1;
                                clauses.push((Occur::Must, q));
                            }
                        }
                    }
                }
                if clauses.is_empty() {
                    return None;
                }
                if positive == 0 {
                    clauses.push((Occur::Must, unscored(Box::new(AllQuery))));
                }
                if clauses.len() == 1 {
                    return clauses.pop().map(|(_, q)| q);
                }
                Some(Box::new(BooleanQuery::new(clauses)))
            }
            Node::Or(items) => {
                let mut clauses: Vec<(Occur, Box<dyn Query>)> = items
                    .iter()
                    .filter_map(|item| self.lower(item, negated))
                    .map(|q| (Occur::Should, q))
                    .collect();
                match clauses.len() {
                    0 => None,
                    1 => clauses.pop().map(|(_, q)| q),
                    _ => Some(Box::new(BooleanQuery::new(clauses))),
                }
            }
        }
    }

    fn text(&mut self, text: &str, negated: bool) -> Option<Box<dyn Query>> {
        let body: Field = self.fields.body;
        let mut tokens: Vec<(usize, String)> = Vec::new();
        let mut stream = self.analyzer.token_stream(text);
        while let Some(t) = stream.next() {
            tokens.push((t.position, t.text.clone()));
        }
        if !negated {
            self.positive_terms
                .extend(tokens.iter().map(|(_, t)| t.clone()));
        }
        match tokens.len() {
            0 => None,
            1 => {
                let (_, t) = tokens.pop()?;
                Some(Box::new(TermQuery::new(
                    Term::from_field_text(body, &t),
                    IndexRecordOption::WithFreqs,
                )))
            }
            _ => {
                let first = tokens.first().map(|(p, _)| *p).unwrap_or(0);
                let terms = tokens
                    .into_iter()
                    .map(|(p, t)| (p.saturating_sub(first), Term::from_field_text(body, &t)))
                    .collect();
                Some(Box::new(ForwardOnly(PhraseQuery::new_with_offset(terms))))
            }
        }
    }
}

/// A phrase query whose scorer is only ever moved forward from a valid position.
///
/// tantivy 0.27's phrase scorer asserts (`debug_assert`) in `seek_danger` that the target is
/// not below its current document, while the `seek_danger` contract lets the intersection
/// inside it be left "invalid" (e.g. terminated) after a miss; an excluded phrase that never
/// matches (`-"not not"`, found by the fuzz test) then panics debug builds (tantivy issue
/// #2811). This wrapper hides the scorer's own `seek_danger`, so callers get the default one,
/// which seeks only when the scorer is behind the target. Results are unchanged.
#[derive(Debug, Clone)]
pub(crate) struct ForwardOnly(pub PhraseQuery);

impl Query for ForwardOnly {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(ForwardOnlyWeight(self.0.weight(enable_scoring)?)))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.0.query_terms(visitor);
    }
}

struct ForwardOnlyWeight(Box<dyn Weight>);

impl Weight for ForwardOnlyWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(ForwardOnlyScorer(self.0.scorer(reader, boost)?)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.0.explain(reader, doc)
    }
}

struct ForwardOnlyScorer(Box<dyn Scorer>);

impl DocSet for ForwardOnlyScorer {
    fn advance(&mut self) -> DocId {
        self.0.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        let doc = self.0.doc();
        if doc >= target {
            return doc;
        }
        self.0.seek(target)
    }

    // `seek_danger` is deliberately not forwarded: the default implementation calls `seek`
    // above, which keeps the inner scorer valid.

    fn doc(&self) -> DocId {
        self.0.doc()
    }

    fn size_hint(&self) -> u32 {
        self.0.size_hint()
    }

    fn cost(&self) -> u64 {
        self.0.cost()
    }
}

impl Scorer for ForwardOnlyScorer {
    fn score(&mut self) -> Score {
        self.0.score()
    }
}
