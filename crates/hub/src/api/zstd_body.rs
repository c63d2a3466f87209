//! zstd request bodies, decoded ahead of the generic decompression layer with one decoder
//! per thread, and the sender's frame kept: an agent's report arrives as zstd and is stored
//! as zstd, so a one-document report is stored as sent instead of compressed a second time.
//! (The generic layer built a decoder for every request and the report log compressed every
//! body again: a tenth of the request side's CPU at 1,000 reports/s.)

use super::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::cell::RefCell;
use std::io::Read;

/// The body as the sender compressed it (zstd), when it came compressed.
#[derive(Debug, Clone)]
pub struct SentFrame(pub Bytes);

/// Decodes a `Content-Encoding: zstd` body, refusing one past `max_body` bytes decoded (413)
/// or not zstd at all (400); passes anything else on untouched.
pub async fn decode(State(max_body): State<usize>, req: Request, next: Next) -> Response {
    let zstd = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"zstd"));
    if !zstd {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    // zstd never grows data by more than a small fraction; anything larger would decode past
    // the limit anyway.
    let Ok(frame) = axum::body::to_bytes(body, max_body + max_body / 64 + 1024).await else {
        return too_large(max_body).into_response();
    };
    let raw = match inflate(&frame, max_body) {
        Ok(raw) => raw,
        Err(e) => return e.into_response(),
    };
    parts.headers.remove(header::CONTENT_ENCODING);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.extensions.insert(SentFrame(frame));
    next.run(Request::from_parts(parts, Body::from(raw))).await
}

fn too_large(max_body: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the body is over {max_body} bytes decompressed"),
    )
}

thread_local! {
    /// A decoder's context costs more to create than a report costs to decode.
    static DECODER: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// `frame` decoded, at most `max_body` bytes.
fn inflate(frame: &[u8], max_body: usize) -> Result<Vec<u8>, ApiError> {
    if let Ok(Some(size)) = zstd::zstd_safe::get_frame_content_size(frame) {
        if size > max_body as u64 {
            return Err(too_large(max_body));
        }
        let decoded = DECODER.with(|slot| {
            let mut slot = slot.borrow_mut();
            let decoder = match slot.as_mut() {
                Some(d) => d,
                None => slot.insert(zstd::bulk::Decompressor::new().ok()?),
            };
            decoder.decompress(frame, size as usize).ok()
        });
        if let Some(raw) = decoded.filter(|raw| raw.len() as u64 == size) {
            return Ok(raw);
        }
    }
    // No size in the header, several frames, or damage: the streaming decoder says which,
    // bounded all the same.
    let bad = |e: std::io::Error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not valid zstd: {e}"),
        )
    };
    let mut raw = Vec::new();
    zstd::stream::read::Decoder::new(frame)
        .map_err(bad)?
        .take(max_body as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(bad)?;
    if raw.len() > max_body {
        return Err(too_large(max_body));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_decode_within_the_limit_and_are_refused_past_it_or_when_damaged() {
        let doc = br#"{"a":[1,2,3],"b":"text"}"#.repeat(100);
        let one = zstd::bulk::compress(&doc, 3).unwrap();
        assert_eq!(inflate(&one, doc.len()).unwrap(), doc);
        // Twice on the same thread: the kept decoder starts clean.
        assert_eq!(inflate(&one, doc.len()).unwrap(), doc);
        let past = inflate(&one, doc.len() - 1).unwrap_err();
        assert_eq!(past.status, StatusCode::PAYLOAD_TOO_LARGE);
        // Two frames back to back: the header names the first one's size only.
        let mut two = one.clone();
        two.extend_from_slice(&one);
        assert_eq!(inflate(&two, 2 * doc.len()).unwrap(), doc.repeat(2));
        assert_eq!(
            inflate(&two, 2 * doc.len() - 1).unwrap_err().status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        // A stream without a size in its header (streaming encoders).
        let unsized_frame = zstd::stream::encode_all(&doc[..], 3).unwrap();
        assert_eq!(inflate(&unsized_frame, doc.len()).unwrap(), doc);
        assert_eq!(
            inflate(&unsized_frame, 10).unwrap_err().status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        let mut damaged = one.clone();
        let mid = damaged.len() / 2;
        damaged.truncate(mid);
        assert_eq!(
            inflate(&damaged, doc.len()).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            inflate(b"not zstd", 1024).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }
}
