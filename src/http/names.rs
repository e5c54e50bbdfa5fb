//! Names the interfaces look up on every request, kept once.

use http::header::HeaderName;

/// Request headers seen on most requests. Interfaces keep ready-made Python keys for these
/// (ASGI `bytes` names, WSGI `HTTP_*` environ keys) instead of building them per request.
pub(crate) static COMMON_REQUEST_HEADERS: [HeaderName; 22] = {
    use http::header::*;
    [
        HOST,
        USER_AGENT,
        ACCEPT,
        ACCEPT_ENCODING,
        ACCEPT_LANGUAGE,
        CONNECTION,
        CONTENT_TYPE,
        CONTENT_LENGTH,
        COOKIE,
        AUTHORIZATION,
        CACHE_CONTROL,
        ORIGIN,
        REFERER,
        TRANSFER_ENCODING,
        UPGRADE,
        IF_NONE_MATCH,
        IF_MODIFIED_SINCE,
        UPGRADE_INSECURE_REQUESTS,
        HeaderName::from_static("x-forwarded-for"),
        HeaderName::from_static("x-forwarded-proto"),
        HeaderName::from_static("x-requested-with"),
        HeaderName::from_static("x-real-ip"),
    ]
};
