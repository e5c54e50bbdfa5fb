//! Thin adapters from the engine's request to each application interface.

pub(crate) mod rsgi;
