//! Answers of the live-view reads, kept per snapshot.
//!
//! Every read over the live view ([`crate::live::Live`]) is a function of
//! the caller's tenant, the request's path and query, and the snapshot. A
//! dashboard asks the same few questions over and over (the voyage list,
//! the alerts, a terminal's next hours), and at 100,000 vehicles building
//! one of those answers takes tens of milliseconds; the snapshot changes
//! every few seconds at most. So the first answer to a question under a
//! snapshot version is kept, and the same question under the same version
//! is answered with the same bytes. Only successful answers (200) are kept;
//! a new snapshot makes every kept answer stale (they are dropped as soon as
//! a request sees the new version). The cache holds at most
//! [`DEFAULT_MAX_BYTES`] of answers (`--answer-cache-mb`; 0 turns it off);
//! past that, answers are computed but not kept until the next version.
//!
//! Every kept answer carries `ETag: "v<version>-<n>"` and `Cache-Control:
//! no-cache`; a request whose `If-None-Match` names the current answer's
//! tag gets 304 with no body. `x-answer-cache: hit` or `miss` says whether
//! the answer was kept or computed.

use crate::AppState;
use axum::body::{Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The most bytes of answers kept at once by default (64 MiB).
pub const DEFAULT_MAX_BYTES: usize = 64 << 20;

/// The largest answer kept (8 MiB); larger ones are computed every time.
pub const MAX_ANSWER_BYTES: usize = 8 << 20;

struct Kept {
    body: Bytes,
    content_type: HeaderValue,
    etag: HeaderValue,
}

#[derive(Default)]
struct Inner {
    version: u64,
    bytes: usize,
    answers: HashMap<(String, String), Kept>,
}

/// The answers of one snapshot version, by (tenant and role, path and query).
pub struct AnswerCache {
    max_bytes: usize,
    inner: Mutex<Inner>,
    tags: AtomicU64,
}

impl Default for AnswerCache {
    fn default() -> Self {
        AnswerCache::with_max_bytes(DEFAULT_MAX_BYTES)
    }
}

impl AnswerCache {
    /// A cache of at most `max_bytes` of answers; 0 keeps none.
    pub fn with_max_bytes(max_bytes: usize) -> AnswerCache {
        AnswerCache {
            max_bytes,
            inner: Mutex::default(),
            tags: AtomicU64::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(
        &self,
        version: u64,
        key: &(String, String),
    ) -> Option<(Bytes, HeaderValue, HeaderValue)> {
        let mut inner = self.lock();
        if inner.version != version {
            if inner.version < version {
                // A newer snapshot: every kept answer is stale.
                inner.answers.clear();
                inner.bytes = 0;
                inner.version = version;
            }
            return None;
        }
        inner
            .answers
            .get(key)
            .map(|k| (k.body.clone(), k.content_type.clone(), k.etag.clone()))
    }

    fn put(
        &self,
        version: u64,
        key: (String, String),
        body: Bytes,
        content_type: HeaderValue,
    ) -> HeaderValue {
        let n = self.tags.fetch_add(1, Ordering::Relaxed);
        let etag = HeaderValue::from_str(&format!("\"v{version}-{n}\"")).expect("ascii");
        let mut inner = self.lock();
        if inner.version == version
            && inner.bytes + body.len() <= self.max_bytes
            && !inner.answers.contains_key(&key)
        {
            inner.bytes += body.len();
            inner.answers.insert(
                key,
                Kept {
                    body,
                    content_type,
                    etag: etag.clone(),
                },
            );
        }
        etag
    }
}

/// `x-answer-cache`: `hit` (a kept answer) or `miss` (computed now).
pub const CACHE_HEADER: &str = "x-answer-cache";

fn answer(
    body: Bytes,
    content_type: HeaderValue,
    etag: HeaderValue,
    if_none_match: Option<&HeaderValue>,
    hit: bool,
) -> Response {
    let hit = HeaderValue::from_static(if hit { "hit" } else { "miss" });
    if if_none_match.is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        r.headers_mut().insert(header::ETAG, etag);
        r.headers_mut().insert(CACHE_HEADER, hit);
        return r;
    }
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, content_type);
    r.headers_mut().insert(header::ETAG, etag);
    // A browser may keep the answer but must ask again each time (and gets
    // 304 while the plan is the same).
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r.headers_mut().insert(CACHE_HEADER, hit);
    r
}

/// Middleware for the GET routes that read only the live view: answers
/// from the cache when it can, keeps a successful answer otherwise. Sits
/// inside authentication (it needs the caller's tenant).
pub async fn live_reads(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(caller) = req.extensions().get::<crate::Caller>().cloned() else {
        return next.run(req).await;
    };
    if state.answers.max_bytes == 0 {
        return next.run(req).await;
    }
    let version = state.live.current().version;
    // The network answer names the caller's role, so the role is part of
    // the question.
    let key = (
        format!("{}/{}", caller.tenant, caller.role),
        req.uri()
            .path_and_query()
            .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string()),
    );
    let if_none_match = req.headers().get(header::IF_NONE_MATCH).cloned();
    let cache = &state.answers;
    if let Some((body, ct, etag)) = cache.get(version, &key) {
        return answer(body, ct, etag, if_none_match.as_ref(), true);
    }
    let response = next.run(req).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (parts, body) = response.into_parts();
    // Only whole answers of a known, modest size are kept.
    if HttpBody::size_hint(&body)
        .exact()
        .is_none_or(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Response::from_parts(parts, body);
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ANSWER_BYTES).await else {
        return crate::unavailable("the answer could not be read").into_response();
    };
    let ct = parts
        .headers
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("application/json"));
    let etag = cache.put(version, key, bytes.clone(), ct.clone());
    answer(bytes, ct, etag, if_none_match.as_ref(), false)
}
