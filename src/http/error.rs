//! The API's one error type: a status, a stable code, a message a caller can act on, and the
//! offending field. Internal details are logged, never sent.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tracing::error;

use crate::engine::{EngineError, Refusal};
use crate::store::StoreError;
use crate::workflow::FieldError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub fields: Vec<FieldError>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None, fields: Vec::new() }
    }

    pub fn field(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send an API key as `Authorization: Bearer <key>`; create one with `accord keys create --scope pipeline`",
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on the server; it was logged with this request's id",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": { "code": self.code, "message": self.message, "field": self.field } });
        if !self.fields.is_empty() {
            body["error"]["fields"] = json!(self.fields);
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        let status = match &err {
            EngineError::UnknownInstance(_) => StatusCode::NOT_FOUND,
            EngineError::UnknownWorkflow { .. }
            | EngineError::InvalidInput(_)
            | EngineError::Refused(Refusal::UnknownEvent { .. })
            | EngineError::Refused(Refusal::GuardRefused { .. })
            | EngineError::DirectoryRefused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            EngineError::Refused(Refusal::EventNotAllowed { .. })
            | EngineError::Refused(Refusal::InstanceFinished { .. })
            | EngineError::KeyReused { .. }
            | EngineError::TimerSettled
            | EngineError::LinkUsed => StatusCode::CONFLICT,
            EngineError::Refused(Refusal::OriginNotAllowed { .. }) => StatusCode::FORBIDDEN,
            EngineError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            EngineError::Definition(_) | EngineError::Refused(Refusal::Definition(_)) => {
                error!(error = %err, "definition problem");
                return ApiError::internal();
            }
            EngineError::Store(store) => return store_error(store),
        };
        let field = match &err {
            EngineError::UnknownWorkflow { .. } => Some("workflow".to_owned()),
            EngineError::Refused(Refusal::UnknownEvent { .. } | Refusal::EventNotAllowed { .. }) => {
                Some("event".to_owned())
            }
            EngineError::KeyReused { .. } => Some("idempotency_key".to_owned()),
            EngineError::InvalidInput(fields) => fields.first().map(|f| format!("input.{}", f.field)),
            _ => None,
        };
        let fields = match &err {
            EngineError::InvalidInput(fields) => fields.clone(),
            _ => Vec::new(),
        };
        Self { status, code: err.code(), message: err.to_string(), field, fields }
    }
}

impl From<crate::directory::commands::CommandError> for ApiError {
    fn from(err: crate::directory::commands::CommandError) -> Self {
        use crate::directory::commands::CommandError;
        let (status, code, field) = match &err {
            CommandError::NotFound { code, field, .. } => (StatusCode::NOT_FOUND, *code, *field),
            CommandError::Invalid { code, field, .. } => (StatusCode::UNPROCESSABLE_ENTITY, *code, *field),
            CommandError::Refused { code, field, .. } => (StatusCode::CONFLICT, *code, *field),
            CommandError::Store(store) => return store_error(store),
        };
        let error = ApiError::new(status, code, err.to_string());
        if field.is_empty() {
            error
        } else {
            error.field(field)
        }
    }
}

impl ApiError {
    pub fn from_store(err: &StoreError) -> Self {
        store_error(err)
    }
}

fn store_error(err: &StoreError) -> ApiError {
    error!(error = %err, "storage error");
    if err.is_transient() {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the database is unavailable; try again shortly")
    } else {
        ApiError::internal()
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        store_error(&err)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = match &rejection {
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            // A body over `limits.max_body_bytes` that did not declare its length up front.
            JsonRejection::BytesRejection(bytes) if bytes.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return super::harden::body_too_large(None);
            }
            JsonRejection::BytesRejection(_) => match timed_out(&rejection) {
                Some(timed_out) => return super::harden::body_timed_out(timed_out),
                None => StatusCode::BAD_REQUEST,
            },
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(
            status,
            "bad_request",
            format!("the request body is not the expected JSON: {}", rejection.body_text()),
        )
    }
}

/// The body's deadline, if that is why reading it failed.
fn timed_out(rejection: &JsonRejection) -> Option<&super::harden::BodyTimedOut> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(error) = cause {
        if let Some(timed_out) = error.downcast_ref() {
            return Some(timed_out);
        }
        cause = error.source();
    }
    None
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", format!("bad query string: {}", rejection.body_text()))
    }
}
