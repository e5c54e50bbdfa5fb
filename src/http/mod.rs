//! The one HTTP engine: connection serving with hyper, request/response bodies, and the
//! interface-independent request handler that every interface plugs into.

pub(crate) mod activity;
pub(crate) mod admission;
pub(crate) mod answer;
pub(crate) mod body;
pub(crate) mod body_failure;
pub(crate) mod conn;
pub(crate) mod default_headers;
pub(crate) mod disconnect;
pub(crate) mod drain;
pub(crate) mod error_head;
pub(crate) mod file_body;
pub(crate) mod flood;
pub(crate) mod forwarded;
pub(crate) mod guarded;
pub(crate) mod handler;
pub(crate) mod io;
pub(crate) mod max_requests;
pub(crate) mod names;
pub(crate) mod response;
pub(crate) mod sendfile;
pub(crate) mod signal;
pub(crate) mod stall;
pub(crate) mod static_files;
pub(crate) mod stream_task;
pub(crate) mod upgrade;
