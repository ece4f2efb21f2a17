//! The index's fields and the one text analyzer, shared by indexing, querying and snippets.
//!
//! Everything here is part of [`SEARCH_SCHEMA_VERSION`]: changing a field, its options or the
//! analyzer changes what is on disk or how the same words are found, so it needs a bump (an
//! index of another version is wiped and rebuilt from the store at open).

use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, Stemmer, TextAnalyzer, Token, TokenStream, Tokenizer,
};

/// The version of the index layout: fields, their options and the analyzer. Bump it whenever
/// any of them changes; an index of another version is rebuilt.
pub const SEARCH_SCHEMA_VERSION: u32 = 2;

/// The name the body analyzer is registered under. It carries the version so that an index
/// written by another layout can never silently run with this analyzer.
pub(crate) const BODY_ANALYZER: &str = "acorn_en_v2";

/// Tokens longer than this are dropped (base64 blobs, long hashes); 64 keeps a sha256 digest
/// (an image digest in a pod spec) findable.
const MAX_TOKEN_BYTES: usize = 64;

/// The analyzer of `body`: [`WordTokenizer`], drop overlong tokens, lowercase, English stem.
/// Queries go through the same analyzer, so "crashing" finds "crashes", and `checkout-worker`
/// becomes the phrase `checkout worker`. No stop words: operators search for "not ready" and
/// "no endpoints".
pub(crate) fn body_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(WordTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES + 1))
        .filter(LowerCaser)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// Handles to every field of the schema.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fields {
    pub gseq: Field,
    pub workspace: Field,
    pub cluster: Field,
    pub session: Field,
    pub run: Field,
    pub seq: Field,
    pub kind: Field,
    pub author: Field,
    pub model: Field,
    pub created_at_ms: Field,
    pub body: Field,
}

pub(crate) const F_GSEQ: &str = "gseq";
pub(crate) const F_CREATED_AT: &str = "created_at_ms";

/// Builds the schema and its field handles.
///
/// Identifiers are raw (`STRING`: one untokenized term) so that a workspace or run filter is an
/// exact term match; `created_at_ms` is a fast field for range filters and the recency
/// tie-break; `body` keeps positions for phrases and is stored for snippets.
pub(crate) fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let gseq = b.add_u64_field(F_GSEQ, INDEXED | STORED | FAST);
    let workspace = b.add_text_field("workspace", STRING | STORED);
    let cluster = b.add_text_field("cluster", STRING | STORED);
    let session = b.add_text_field("session", STRING | STORED);
    let run = b.add_text_field("run", STRING | STORED);
    let seq = b.add_u64_field("seq", STORED);
    let kind = b.add_text_field("kind", STRING | STORED);
    let author = b.add_text_field("author", STRING | STORED);
    let model = b.add_text_field("model", STRING | STORED);
    let created_at_ms = b.add_i64_field(F_CREATED_AT, INDEXED | STORED | FAST);
    let body_indexing = TextFieldIndexing::default()
        .set_tokenizer(BODY_ANALYZER)
        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
    let body = b.add_text_field(
        "body",
        TextOptions::default()
            .set_indexing_options(body_indexing)
            .set_stored(),
    );
    let fields = Fields {
        gseq,
        workspace,
        cluster,
        session,
        run,
        seq,
        kind,
        author,
        model,
        created_at_ms,
        body,
    };
    (b.build(), fields)
}

/// The identifier fields a query may filter on with `name:value`. `workspace` is deliberately
/// absent: the caller decides the workspaces ([`super::SearchQuery::workspaces`]), never the
/// query text.
pub(crate) const FILTER_FIELDS: &[&str] = &["kind", "cluster", "session", "run", "author", "model"];

impl Fields {
    /// The field behind a query filter name (one of [`FILTER_FIELDS`]).
    pub(crate) fn filter_field(&self, name: &str) -> Option<Field> {
        match name {
            "kind" => Some(self.kind),
            "cluster" => Some(self.cluster),
            "session" => Some(self.session),
            "run" => Some(self.run),
            "author" => Some(self.author),
            "model" => Some(self.model),
            _ => None,
        }
    }
}

/// Splits text into runs of letters and digits (like tantivy's `SimpleTokenizer`), and also
/// splits an ISO 8601 date from its time: `2025-11-03T19:08:34Z` gives `2025 11 03 T19 08 34Z`,
/// so that searching the date `2025-11-03` (a phrase) or `T19` finds log lines stamped that way.
/// Without it the run `03T19` would be one token that neither query produces.
#[derive(Clone, Default)]
pub(crate) struct WordTokenizer {
    token: Token,
}

pub(crate) struct WordTokenStream<'a> {
    text: &'a str,
    /// Byte offset where the search for the next token starts.
    at: usize,
    token: &'a mut Token,
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = WordTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordTokenStream<'a> {
        self.token.reset();
        WordTokenStream {
            text,
            at: 0,
            token: &mut self.token,
        }
    }
}

impl TokenStream for WordTokenStream<'_> {
    fn advance(&mut self) -> bool {
        self.token.text.clear();
        let rest = &self.text[self.at..];
        let Some((skip, _)) = rest.char_indices().find(|(_, c)| c.is_alphanumeric()) else {
            self.at = self.text.len();
            return false;
        };
        let start = self.at + skip;
        let run = &self.text[start..];
        let mut len = run
            .char_indices()
            .find(|(_, c)| !c.is_alphanumeric())
            .map_or(run.len(), |(i, _)| i);
        // `<digits>T<digit>`: end this token before the `T` (a date joined to its time).
        let bytes = &run.as_bytes()[..len];
        let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0
            && matches!(bytes.get(digits), Some(b'T' | b't'))
            && bytes.get(digits + 1).is_some_and(u8::is_ascii_digit)
        {
            len = digits;
        }
        self.token.position = self.token.position.wrapping_add(1);
        self.token.offset_from = start;
        self.token.offset_to = start + len;
        self.token.text.push_str(&run[..len]);
        self.at = start + len;
        true
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::body_analyzer;

    fn analyze(text: &str) -> Vec<(String, usize, usize, usize)> {
        let mut analyzer = body_analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while let Some(t) = stream.next() {
            out.push((t.text.clone(), t.position, t.offset_from, t.offset_to));
        }
        out
    }

    fn texts(text: &str) -> Vec<String> {
        analyze(text).into_iter().map(|t| t.0).collect()
    }

    #[test]
    fn analyzer_table() {
        let table: &[(&str, &[&str])] = &[
            (
                "Pods are crashing, CrashLoopBackOff!",
                &["pod", "are", "crash", "crashloopbackoff"],
            ),
            (
                "checkout-worker-7d9f8b6c5-x2x9z",
                &["checkout", "worker", "7d9f8b6c5", "x2x9z"],
            ),
            (
                "2025-11-03T19:08:34.019Z",
                &["2025", "11", "03", "t19", "08", "34", "019z"],
            ),
            (
                "k8s v1 sha256 10T 10Tb T19 t19",
                &["k8s", "v1", "sha256", "10t", "10tb", "t19", "t19"],
            ),
            ("Ünïcödé évictions", &["ünïcödé", "éviction"]),
            ("not no NOT", &["not", "no", "not"]),
            ("", &[]),
            (" -- ... ", &[]),
        ];
        for (text, expected) in table {
            assert_eq!(texts(text), *expected, "{text:?}");
        }
        // 64-byte tokens are kept (a sha256 digest), longer ones dropped.
        let digest = "a".repeat(64);
        assert_eq!(
            texts(&format!("{digest} {digest}b x")),
            vec![digest.as_str(), "x"]
        );
    }

    #[test]
    fn positions_and_offsets_point_into_the_text() {
        let text = "at 2025-11-03T19:08 the Pod évicted";
        let tokens = analyze(text);
        let positions: Vec<usize> = tokens.iter().map(|t| t.1).collect();
        assert_eq!(positions, (0..tokens.len()).collect::<Vec<_>>());
        let originals: Vec<&str> = tokens.iter().map(|t| &text[t.2..t.3]).collect();
        assert_eq!(
            originals,
            vec![
                "at", "2025", "11", "03", "T19", "08", "the", "Pod", "évicted"
            ]
        );
    }
}
