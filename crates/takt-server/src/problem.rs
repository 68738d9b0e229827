//! Errors as RFC 9457 problem details (`application/problem+json`) with a
//! stable `code`, the JSON pointer of the bad field and what to do.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use takt_store::{BadItem, Code, Rejected};

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Stable problem codes (`docs/api.md` lists them with their status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    /// No bearer token, or not a live one (401).
    Unauthorized,
    /// The token's role may not make this call (403).
    Forbidden,
    /// Too many requests with this token (429, with `Retry-After`).
    RateLimited,
    /// Too many requests in flight on the server (503, with `Retry-After`).
    Overloaded,
    /// A query parameter is malformed or out of range (400).
    InvalidParameter,
    /// The body is larger than the server's limit (413).
    BodyTooLarge,
    /// The batch has more items than the server's limit (413).
    BatchTooLarge,
    /// The body is not UTF-8 or not parseable (400).
    Syntax,
    /// A required field is absent (422).
    MissingField,
    /// A field has the wrong type or form (422).
    InvalidField,
    /// A field outside the format, or an undeclared extension (422).
    UnknownField,
    /// A code outside its vocabulary (422).
    Vocabulary,
    /// An event time too far in the future (422).
    FutureEvent,
    /// An event id already stored with other content (409).
    Conflict,
    /// An item names another tenant than the request's (422).
    TenantMismatch,
    /// The path's VIN is not a valid VIN (400).
    InvalidVin,
    /// No such vehicle for this tenant (404).
    VehicleNotFound,
    /// No such voyage (404).
    VoyageNotFound,
    /// No such terminal (404).
    LocationNotFound,
    /// No such token for this tenant (404).
    TokenNotFound,
    /// No such route (404).
    NotFound,
    /// The route exists, the method does not (405).
    MethodNotAllowed,
    /// The database failed; nothing or all of the batch was stored (503).
    StorageUnavailable,
    /// The insight report is being computed; retry (503, with `Retry-After`).
    InsightPending,
}

impl ProblemCode {
    /// The code as text, e.g. `body_too_large`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemCode::Unauthorized => "unauthorized",
            ProblemCode::Forbidden => "forbidden",
            ProblemCode::RateLimited => "rate_limited",
            ProblemCode::Overloaded => "overloaded",
            ProblemCode::InvalidParameter => "invalid_parameter",
            ProblemCode::BodyTooLarge => "body_too_large",
            ProblemCode::BatchTooLarge => "batch_too_large",
            ProblemCode::Syntax => "syntax",
            ProblemCode::MissingField => "missing_field",
            ProblemCode::InvalidField => "invalid_field",
            ProblemCode::UnknownField => "unknown_field",
            ProblemCode::Vocabulary => "vocabulary",
            ProblemCode::FutureEvent => "future_event",
            ProblemCode::Conflict => "conflict",
            ProblemCode::TenantMismatch => "tenant_mismatch",
            ProblemCode::InvalidVin => "invalid_vin",
            ProblemCode::VehicleNotFound => "vehicle_not_found",
            ProblemCode::VoyageNotFound => "voyage_not_found",
            ProblemCode::LocationNotFound => "location_not_found",
            ProblemCode::TokenNotFound => "token_not_found",
            ProblemCode::NotFound => "not_found",
            ProblemCode::MethodNotAllowed => "method_not_allowed",
            ProblemCode::StorageUnavailable => "storage_unavailable",
            ProblemCode::InsightPending => "insight_pending",
        }
    }

    /// The HTTP status the code answers with.
    pub fn status(self) -> StatusCode {
        match self {
            ProblemCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ProblemCode::Forbidden => StatusCode::FORBIDDEN,
            ProblemCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ProblemCode::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ProblemCode::InvalidParameter | ProblemCode::Syntax | ProblemCode::InvalidVin => {
                StatusCode::BAD_REQUEST
            }
            ProblemCode::BodyTooLarge | ProblemCode::BatchTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemCode::MissingField
            | ProblemCode::InvalidField
            | ProblemCode::UnknownField
            | ProblemCode::Vocabulary
            | ProblemCode::FutureEvent
            | ProblemCode::TenantMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemCode::Conflict => StatusCode::CONFLICT,
            ProblemCode::VehicleNotFound
            | ProblemCode::VoyageNotFound
            | ProblemCode::LocationNotFound
            | ProblemCode::TokenNotFound
            | ProblemCode::NotFound => StatusCode::NOT_FOUND,
            ProblemCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemCode::StorageUnavailable | ProblemCode::InsightPending => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    fn title(self) -> &'static str {
        match self {
            ProblemCode::Unauthorized => "No valid token",
            ProblemCode::Forbidden => "Role not allowed",
            ProblemCode::RateLimited => "Too many requests",
            ProblemCode::Overloaded => "Server overloaded",
            ProblemCode::InvalidParameter => "Invalid parameter",
            ProblemCode::BodyTooLarge => "Body too large",
            ProblemCode::BatchTooLarge => "Batch too large",
            ProblemCode::Syntax => "Not parseable",
            ProblemCode::MissingField => "Missing field",
            ProblemCode::InvalidField => "Invalid field",
            ProblemCode::UnknownField => "Unknown field",
            ProblemCode::Vocabulary => "Outside the vocabulary",
            ProblemCode::FutureEvent => "Event time in the future",
            ProblemCode::Conflict => "Event id stored with other content",
            ProblemCode::TenantMismatch => "Another tenant's item",
            ProblemCode::InvalidVin => "Not a VIN",
            ProblemCode::VehicleNotFound => "No such vehicle",
            ProblemCode::VoyageNotFound => "No such voyage",
            ProblemCode::LocationNotFound => "No such terminal",
            ProblemCode::TokenNotFound => "No such token",
            ProblemCode::NotFound => "No such route",
            ProblemCode::MethodNotAllowed => "Method not allowed",
            ProblemCode::StorageUnavailable => "Storage unavailable",
            ProblemCode::InsightPending => "Report being computed",
        }
    }
}

impl From<Code> for ProblemCode {
    fn from(c: Code) -> Self {
        match c {
            Code::Syntax => ProblemCode::Syntax,
            Code::MissingField => ProblemCode::MissingField,
            Code::InvalidField => ProblemCode::InvalidField,
            Code::UnknownField => ProblemCode::UnknownField,
            Code::Vocabulary => ProblemCode::Vocabulary,
            Code::FutureEvent => ProblemCode::FutureEvent,
            Code::Conflict => ProblemCode::Conflict,
            Code::TenantMismatch => ProblemCode::TenantMismatch,
        }
    }
}

/// One bad item of a rejected batch (in `errors`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BadItemDoc {
    /// 0-based index of the item in the batch or document.
    pub index: usize,
    pub event_id: Option<String>,
    /// A problem code (`invalid_field`, `conflict`, ...).
    pub code: String,
    /// JSON pointer of the bad field in the request body.
    pub pointer: String,
    pub reason: String,
}

/// One problem answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:takt:problem:CODE`.
    #[serde(rename = "type")]
    pub type_uri: String,
    #[schema(value_type = String)]
    pub title: &'static str,
    pub status: u16,
    pub code: ProblemCode,
    /// What is wrong and what to do.
    pub detail: String,
    /// JSON pointer of the bad field in the request body (`""`: the whole
    /// body, or no body field).
    pub pointer: String,
    /// Every bad item of a rejected batch, pointers absolute in the body.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<BadItemDoc>)]
    pub errors: Vec<BadItem>,
    /// Seconds to wait before retrying (the `Retry-After` header).
    #[serde(skip)]
    #[schema(ignore)]
    pub retry_after: Option<std::num::NonZeroU32>,
}

impl Problem {
    /// A problem with one cause.
    pub fn new(
        code: ProblemCode,
        pointer: impl Into<String>,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            type_uri: format!("urn:takt:problem:{}", code.as_str()),
            title: code.title(),
            status: code.status().as_u16(),
            code,
            detail: detail.into(),
            pointer: pointer.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// A rejected batch: the first bad item gives code, pointer and detail;
    /// `errors` lists them all. `locate` turns an item's pointer into one
    /// absolute in the request body.
    pub fn rejected(r: Rejected, locate: impl Fn(&BadItem) -> String) -> Problem {
        let errors: Vec<BadItem> =
            r.0.into_iter()
                .map(|mut b| {
                    b.pointer = locate(&b);
                    b
                })
                .collect();
        let Some(first) = errors.first() else {
            return Problem::new(ProblemCode::Syntax, "", "rejected without a reason");
        };
        let mut p = Problem::new(
            first.code.into(),
            first.pointer.clone(),
            format!(
                "nothing was stored: {} problem(s); the first, item {}: {}",
                errors.len(),
                first.index,
                first.reason
            ),
        );
        p.errors = errors;
        p
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.code.status();
        let body = serde_json::to_vec(&self).expect("a problem serializes");
        let mut r = (status, body).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s.get()));
        }
        r
    }
}
