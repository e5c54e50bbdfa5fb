//! Listening sockets handed over by the supervisor, and the accept loop around them.

mod accept;
mod listener;

pub(crate) use accept::accept_loop;
pub(crate) use listener::{dup, ConnInfo, Listener, Stream};
