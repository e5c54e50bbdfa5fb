//! Waiting for the app's answer to a request whose body may still be refused while the app
//! reads it (see `body_failure`): the refusal and the answer race, and this decides which wins.

use tokio::sync::oneshot::{self, error::RecvError, error::TryRecvError};

use super::body_failure::BodyFailure;
use super::response::ResponsePlan;

/// How the wait for the app ended. (Returned once per request and matched at once: boxing the
/// large variant would only add an allocation to every request.)
#[allow(clippy::large_enum_variant)]
pub(crate) enum Outcome {
    /// The app answered (`Err`: it dropped its responder without answering). `watch` is still
    /// waiting on a body being read: the response must be cut if the body is refused later.
    Answer {
        answer: Result<ResponsePlan, RecvError>,
        watch: Option<oneshot::Receiver<BodyFailure>>,
    },
    /// The body was refused before the app answered: the engine answers for it.
    Refused(BodyFailure),
}

/// Waits for the app's answer on `rx`, or for the refusal of the body it reads (`refused`, when
/// the body was still streaming as the app was called).
pub(crate) async fn wait_answer(
    rx: oneshot::Receiver<ResponsePlan>,
    refused: Option<oneshot::Receiver<BodyFailure>>,
) -> Outcome {
    let Some(mut refused) = refused else {
        return Outcome::Answer {
            answer: rx.await,
            watch: None,
        };
    };
    tokio::pin!(rx);
    let answer = tokio::select! {
        biased;
        Ok(failure) = &mut refused => return Outcome::Refused(failure),
        answer = &mut rx => answer,
    };
    // An app that gave up (or answered) because its read failed did so after the body was
    // refused: the engine's answer (400, 413, 408) wins over the app's 500.
    match refused.try_recv() {
        Ok(failure) => Outcome::Refused(failure),
        Err(TryRecvError::Empty) => Outcome::Answer {
            answer,
            watch: Some(refused),
        },
        Err(TryRecvError::Closed) => Outcome::Answer { answer, watch: None },
    }
}
