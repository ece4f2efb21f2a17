//! The index's fields and the one text analyzer, shared by indexing, querying and snippets.
//!
//! Everything here is part of [`SEARCH_SCHEMA_VERSION`]: changing a field, its options or the
//! analyzer changes what is on disk or how the same words are found, so it needs a bump (an
//! index of another version is wiped and rebuilt from the store at open).

use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer,
};

/// The version of the index layout: fields, their options and the analyzer. Bump it whenever
/// any of them changes; an index of another version is rebuilt.
pub const SEARCH_SCHEMA_VERSION: u32 = 1;

/// The name the body analyzer is registered under. It carries the version so that an index
/// written by another layout can never silently run with this analyzer.
pub(crate) const BODY_ANALYZER: &str = "acorn_en_v1";

/// Tokens longer than this are dropped (base64 blobs, long hashes); 64 keeps a sha256 digest
/// (an image digest in a pod spec) findable.
const MAX_TOKEN_BYTES: usize = 64;

/// The analyzer of `body`: split on anything that is not a letter or digit, drop overlong
/// tokens, lowercase, English stem. Queries go through the same analyzer, so "crashing" finds
/// "crashes", and `checkout-worker` becomes the phrase `checkout worker`. No stop words: operators
/// search for "not ready" and "no endpoints".
pub(crate) fn body_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
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
