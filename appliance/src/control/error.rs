//! `ApiError`: the one conversion from a failure to an HTTP response with the error body
//! `{code, message, type, link}` from `acorn-proto`'s table. Internal details go to the log under
//! the request id, never into the response.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use acorn_proto::{ErrorBody, ErrorCode};
use acorn_store::StoreError;

/// A failure that becomes an API error response.
#[derive(Debug)]
pub struct ApiError {
    /// The code from the table; it decides type and status.
    pub code: ErrorCode,
    /// What happened and what to do, safe to show to the caller.
    pub message: String,
}

impl ApiError {
    /// An error with a message for the caller.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// An unexpected failure: the detail is logged, the caller gets a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        ApiError::new(
            ErrorCode::Internal,
            "an unexpected error happened; the appliance log has the details under this request's id",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store error");
        ApiError::new(
            ErrorCode::StoreUnavailable,
            "the store failed the operation; the appliance log says why",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(ErrorBody::new(self.code, self.message))).into_response()
    }
}
