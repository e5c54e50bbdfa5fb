//! Thin adapters from the engine's request to each application interface.

pub(crate) mod asgi;
pub(crate) mod rsgi;
pub(crate) mod wsgi;
