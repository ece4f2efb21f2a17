//! Extractors whose rejections are API errors from the table (axum's own rejections are plain
//! text with their own wording).

use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use acorn_proto::ErrorCode;

use crate::control::error::ApiError;

/// JSON body with table errors: 400 `invalid_body` (naming the field), 413, 415.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(ErrorCode::PayloadTooLarge, "the request body is too large")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as JSON with `Content-Type: application/json`",
        ),
        _ => ApiError::new(ErrorCode::InvalidBody, rejection.body_text()),
    }
}

/// Form body with table errors.
pub struct ApiForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiForm<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(ApiForm(v)),
            Err(rejection) => Err(form_rejection(rejection)),
        }
    }
}

fn form_rejection(rejection: FormRejection) -> ApiError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(ErrorCode::PayloadTooLarge, "the request body is too large")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the form as application/x-www-form-urlencoded",
        ),
        _ => ApiError::new(ErrorCode::InvalidBody, rejection.body_text()),
    }
}

/// Query string with table errors (400 `invalid_parameter`, naming the parameter).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(rejection) => Err(ApiError::new(
                ErrorCode::InvalidParameter,
                rejection.body_text(),
            )),
        }
    }
}

/// `?cursor=&limit=` of list endpoints.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page (1–500, default 100).
    pub limit: Option<usize>,
}

/// Pages `items` (sorted by `key`) after the cursor; the cursor is the last key, base64url-encoded.
pub fn paginate<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> &str,
    query: &PageQuery,
) -> Result<acorn_proto::identity::Page<T>, ApiError> {
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            "`limit` must be between 1 and 500",
        ));
    }
    let after = match &query.cursor {
        Some(c) => Some(
            engine
                .decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidParameter,
                        "`cursor` is not a cursor from a previous page",
                    )
                })?,
        ),
        None => None,
    };
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|i| after.as_deref().is_none_or(|a| key(i) > a))
        .collect();
    let next_cursor = (rest.len() > limit).then(|| engine.encode(key(&rest[limit - 1])));
    rest.truncate(limit);
    Ok(acorn_proto::identity::Page {
        items: rest,
        next_cursor,
    })
}
