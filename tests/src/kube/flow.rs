//! Multi-call flows of the API server: one request through the mutating webhook, other
//! mutations, re-invocation of an `IfNeeded` webhook, then the validating webhook
//! (k8s.io/apiserver/.../webhook/mutating/dispatcher.go and reinvocationcontext.go).

use serde_json::Value;

use super::client::{Outcome, WebhookClient};
use super::review::Review;
use super::verdict::CallError;

/// A mutating webhook called, the object changed by others, and the webhook called again.
#[derive(Debug)]
pub struct Reinvocation {
    /// The first call.
    pub first: Outcome,
    /// The object after the first call and the other mutations.
    pub between: Value,
    /// The second call, made only when the other mutations changed the object.
    pub second: Option<Outcome>,
    /// The object the API server goes on with.
    pub object: Value,
}

/// Sends `review` to the mutating webhook `client`, lets `later` mutate the patched object
/// (another webhook or an in-tree admission plugin), and, as the API server does for
/// `reinvocationPolicy: IfNeeded`, calls the webhook again with a new UID and the changed
/// object when `later` changed it. Errors if either call fails or refuses.
pub fn mutate_with_reinvocation(
    client: &WebhookClient,
    review: &Review,
    later: impl FnOnce(&mut Value),
) -> Result<Reinvocation, CallError> {
    let first = client.send(review);
    let after_first = match &first.result {
        Ok(v) if v.allowed => v
            .patched_object
            .clone()
            .unwrap_or_else(|| review.object().clone()),
        Ok(_) => {
            return Ok(Reinvocation {
                between: review.object().clone(),
                object: review.object().clone(),
                first,
                second: None,
            });
        }
        Err(e) => return Err(e.clone()),
    };
    let mut between = after_first.clone();
    later(&mut between);
    if between == after_first {
        return Ok(Reinvocation {
            first,
            object: between.clone(),
            between,
            second: None,
        });
    }
    let again = review.resend_with_object(between.clone());
    let second = client.send(&again);
    let object = match &second.result {
        Ok(v) => v.patched_object.clone().unwrap_or_else(|| between.clone()),
        Err(e) => return Err(e.clone()),
    };
    Ok(Reinvocation {
        first,
        between,
        second: Some(second),
        object,
    })
}

/// The whole admission of one request: the mutating webhook, then the validating webhook on
/// the mutated object (with the fields the API server sets before validation). Returns both
/// outcomes; the validating call is skipped when mutation failed or refused.
pub fn admit(
    mutating: &WebhookClient,
    validating: &WebhookClient,
    review: &Review,
) -> (Outcome, Option<Outcome>) {
    let m = mutating.send(review);
    let next = match &m.result {
        Ok(v) if v.allowed => Some(
            v.patched_object
                .clone()
                .unwrap_or_else(|| review.object().clone()),
        ),
        _ => None,
    };
    let v = next.map(|object| validating.send(&review.for_validation(&object)));
    (m, v)
}
