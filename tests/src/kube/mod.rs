//! The Kubernetes API server's side of the admission webhook protocol, for testing a webhook
//! against an exact peer when no API server can run here: [`review`] builds
//! `admission.k8s.io/v1` `AdmissionReview` requests around [`objects`] shaped as the API
//! server stores them; [`client`] sends them as kube-apiserver does (HTTPS checked against
//! the caBundle and the Service's DNS name, `?timeout=10s`, its headers, connection reuse,
//! the timeout enforced); [`verdict`] reads the answer with every check kube-apiserver
//! makes and applies the JSON Patch; [`flow`] chains calls (re-invocation, mutate then
//! validate). Facts are from k8s.io/apiserver (webhook/request, webhook/mutating,
//! util/webhook, endpoints/filters/warning.go) and client-go's REST client.

pub mod client;
pub mod flow;
mod gojson;
pub mod objects;
pub mod review;
pub mod verdict;

#[cfg(test)]
mod stub;

pub use client::{Alpn, Exchange, Outcome, Protocol, WebhookClient, WebhookConfig};
pub use flow::{Reinvocation, admit, mutate_with_reinvocation};
pub use gojson::{encode as go_json_encode, marshal as go_json_marshal};
pub use objects::{Kind, PodImages};
pub use review::{Operation, Review, ReviewBuilder, UserInfo};
pub use verdict::{CallError, Refusal, Verdict, WebhookIdentity};
