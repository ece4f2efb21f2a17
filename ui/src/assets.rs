//! The console's static assets: the files of `ui/assets/` embedded with rust-embed, and the
//! LiveView glue script generated once from `dioxus-liveview`'s own (served as a file, so that
//! the Content-Security-Policy needs no inline script). Each asset is addressed with a content
//! hash (`/console/assets/NAME?v=HASH`), so it can be cached for a year and is never stale.

use std::borrow::Cow;
use std::sync::OnceLock;

use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

use crate::WS_PATH;

#[derive(RustEmbed)]
#[folder = "assets/"]
struct Files;

/// One asset, ready to serve.
#[derive(Debug, Clone)]
pub struct Asset {
    pub body: Cow<'static, [u8]>,
    pub content_type: &'static str,
    /// First 16 hex digits of the body's SHA-256 (the `v` of its URL and its ETag).
    pub hash: String,
}

/// The name of the generated LiveView glue.
pub const LIVEVIEW_JS: &str = "liveview.js";

/// What replaces the glue's `return new_url;`: the socket URL carries the page it renders.
const PAGE_PARAM: &str =
    "return new_url + \"?page=\" + encodeURIComponent(loc.pathname + loc.search);";

/// The glue runs server-sent "queries" (dioxus `eval`, which LiveView's history support sends
/// at start) with `Function(…)`: string evaluation, which the console's CSP forbids. The console
/// uses neither eval nor the history API, so the glue drops them instead.
const EVAL_QUERY: &str = "Function(\"Eval\", `\"use strict\";${event.data};`)();";
const NO_EVAL: &str = "/* eval queries are not used by the Acorn console (CSP: no unsafe-eval) */";

/// Errors of the generated glue (a dioxus-liveview upgrade that changed its shape).
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error("dioxus-liveview's interpreter glue no longer has the shape the console patches: {0}")]
    GlueShape(&'static str),
}

fn hash(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..8])
}

/// The LiveView glue as a standalone script: dioxus-liveview's `interpreter_glue` without its
/// `<script>` tags, with the socket URL extended by the page (`?page=/console/...`).
pub fn liveview_glue() -> Result<&'static str, AssetError> {
    static GLUE: OnceLock<Result<String, &'static str>> = OnceLock::new();
    GLUE.get_or_init(|| {
        let glue = dioxus_liveview::interpreter_glue(WS_PATH);
        let body = glue
            .trim()
            .strip_prefix("<script>")
            .and_then(|s| s.strip_suffix("</script>"))
            .ok_or("no <script> wrapper")?;
        if body.matches("return new_url;").count() != 1 {
            return Err("`return new_url;` is not there exactly once");
        }
        if body.matches(EVAL_QUERY).count() != 1 {
            return Err("the query handler (`Function(\"Eval\", …)`) is not there exactly once");
        }
        Ok(body
            .replacen("return new_url;", PAGE_PARAM, 1)
            .replacen(EVAL_QUERY, NO_EVAL, 1))
    })
    .as_ref()
    .map(String::as_str)
    .map_err(|e| AssetError::GlueShape(e))
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

/// The asset of that name, if there is one.
pub fn get(name: &str) -> Option<Asset> {
    if name == LIVEVIEW_JS {
        let glue = liveview_glue().ok()?;
        return Some(Asset {
            body: Cow::Borrowed(glue.as_bytes()),
            content_type: content_type(name),
            hash: hash(glue.as_bytes()),
        });
    }
    let file = Files::get(name)?;
    Some(Asset {
        hash: hex::encode(&file.metadata.sha256_hash()[..8]),
        body: file.data,
        content_type: content_type(name),
    })
}

/// The URL of an asset, with its content hash.
pub fn url(name: &str) -> String {
    static CACHE: OnceLock<std::collections::HashMap<String, String>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| {
        Files::iter()
            .map(|n| n.into_owned())
            .chain(std::iter::once(LIVEVIEW_JS.to_owned()))
            .filter_map(|n| get(&n).map(|a| (n, a.hash)))
            .collect()
    });
    match cache.get(name) {
        Some(h) => format!("/console/assets/{name}?v={h}"),
        None => format!("/console/assets/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_glue_is_patched_to_carry_the_page() {
        let glue = liveview_glue().unwrap();
        assert!(glue.contains(PAGE_PARAM));
        assert!(!glue.contains("<script"));
        assert!(glue.contains("class IPC"));
        assert!(!glue.contains("Function(\"Eval\""));
        assert!(glue.contains(NO_EVAL));
    }

    #[test]
    fn every_asset_has_a_hashed_url_and_a_type() {
        for name in ["console.css", "console.js", "favicon.svg", LIVEVIEW_JS] {
            let a = get(name).unwrap();
            assert!(!a.body.is_empty());
            assert_ne!(a.content_type, "application/octet-stream");
            assert_eq!(url(name), format!("/console/assets/{name}?v={}", a.hash));
        }
        assert!(get("../Cargo.toml").is_none());
    }
}
