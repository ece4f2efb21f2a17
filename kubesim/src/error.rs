//! Errors: the Kubernetes `Status` body every failed request gets, and the library's own errors.
//!
//! [`ApiError`] is what a handler returns; it renders as the exact JSON `Status` a real API
//! server sends (`kind: Status`, `status: Failure`, `reason`, `message`, `code`, `details`), so
//! that kube-rs and kubectl classify it the same way (`is_not_found`, `Error from server
//! (Conflict): ...`). [`SimError`] covers start-up failures (scenario loading, binding).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::resources::ResourceType;

/// A failed API request, rendered as a Kubernetes `Status`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// Seconds for the `Retry-After` header (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "BadRequest", message)
    }

    /// The 404 for a path the server does not serve at all.
    pub fn path_not_found() -> Self {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    pub fn not_found(ty: &ResourceType, name: &str) -> Self {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", ty.qualified_plural()),
        )
        .with_details(details(ty, name))
    }

    pub fn already_exists(ty: &ResourceType, name: &str) -> Self {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", ty.qualified_plural()),
        )
        .with_details(details(ty, name))
    }

    pub fn conflict(ty: &ResourceType, name: &str) -> Self {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                ty.qualified_plural()
            ),
        )
        .with_details(details(ty, name))
    }

    pub fn precondition_failed(ty: &ResourceType, name: &str, message: String) -> Self {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {message}",
                ty.qualified_plural()
            ),
        )
        .with_details(details(ty, name))
    }

    pub fn invalid(ty: &ResourceType, name: &str, message: impl Into<String>) -> Self {
        ApiError::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {}", ty.kind, message.into()),
        )
        .with_details(details(ty, name))
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        ApiError::new(405, "MethodNotAllowed", message)
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type:?})"
            ),
        )
    }

    pub fn expired(message: impl Into<String>) -> Self {
        ApiError::new(410, "Expired", message)
    }

    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut e = ApiError::new(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
        )
        .with_details(json!({"retryAfterSeconds": retry_after}));
        e.retry_after = Some(retry_after);
        e
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
        .with_details(json!({"causes": [{"message": "injected fault"}]}))
    }

    pub fn service_unavailable(retry_after: Option<u64>) -> Self {
        let mut e = ApiError::new(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        );
        e.retry_after = retry_after;
        e
    }

    /// The `Status` object (also used inside watch `ERROR` events).
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let (Some(details), Some(map)) = (&self.details, status.as_object_mut()) {
            map.insert("details".into(), details.clone());
        }
        status
    }
}

fn details(ty: &ResourceType, name: &str) -> Value {
    let mut d = json!({"name": name, "kind": ty.plural});
    if !ty.group.is_empty() {
        d["group"] = json!(ty.group);
    }
    d
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = self.status().to_string();
        let mut response =
            (code, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// Start-up errors of the simulator library.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("unknown scenario {0:?} (see `acorn-kubesim list`)")]
    UnknownScenario(String),
    #[error("scenario {scenario}: {file}: {message}")]
    Scenario {
        scenario: String,
        file: String,
        message: String,
    },
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("listening on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("invalid option: {0}")]
    Config(String),
}
