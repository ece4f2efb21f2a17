//! `ApiError`: the one conversion from a failure to an HTTP response with the error body
//! `{code, message, type, link}` from `acorn-proto`'s table. Internal details go to the log under
//! the request id, never into the response.

use axum::http::{HeaderValue, StatusCode, header};
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
    /// Seconds for a `Retry-After` header (rate limits).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a message for the caller.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds `Retry-After`.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// "No such object" — also what a caller outside the workspace gets, so ids cannot be probed.
    pub fn not_found(what: &str) -> Self {
        ApiError::new(ErrorCode::NotFound, format!("no such {what}"))
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
        match e {
            StoreError::LastOwner => ApiError::new(
                ErrorCode::LastOwner,
                "the workspace must keep at least one owner; make someone else owner first",
            ),
            StoreError::NotFound { what } => ApiError::not_found(&what),
            e @ StoreError::LimitReached { .. } => {
                ApiError::new(ErrorCode::WebhookLimitReached, e.to_string())
            }
            StoreError::InvitationUsed => ApiError::new(
                ErrorCode::InvitationUsed,
                "this invitation was already accepted or revoked",
            ),
            StoreError::InvitationExpired => ApiError::new(
                ErrorCode::InvitationExpired,
                "this invitation expired; ask for a new one",
            ),
            StoreError::AlreadyMember => ApiError::new(
                ErrorCode::AlreadyMember,
                "you are already a member of this workspace",
            ),
            e @ StoreError::ClusterNameTaken { .. } => {
                ApiError::new(ErrorCode::ClusterNameTaken, e.to_string())
            }
            e @ StoreError::RunInProgress { .. } => {
                ApiError::new(ErrorCode::RunInProgress, e.to_string())
            }
            e @ StoreError::RunFinished { .. } => {
                ApiError::new(ErrorCode::RunFinished, e.to_string())
            }
            e @ StoreError::ApprovalDecided { .. } => {
                ApiError::new(ErrorCode::ApprovalAlreadyDecided, e.to_string())
            }
            StoreError::SnapshotBudgetExceeded { message } => {
                ApiError::new(ErrorCode::SnapshotBudgetExceeded, message)
            }
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::new(
                    ErrorCode::StoreUnavailable,
                    "the store failed the operation; the appliance log says why",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = self.retry_after;
        let mut response =
            (status, axum::Json(ErrorBody::new(self.code, self.message))).into_response();
        if let Some(value) =
            retry_after.and_then(|secs| HeaderValue::from_str(&secs.to_string()).ok())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
