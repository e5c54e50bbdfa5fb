//! The engine of one worker process: tokio runtimes accepting on the inherited socket, and the
//! Python-facing `Engine` object that starts and stops them.

mod engine;
mod metrics_snapshot;
mod runtime;
pub(crate) mod sched;

pub(crate) use engine::{check_engine_settings, Engine};
