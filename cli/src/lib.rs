//! vouch: sign container image digests in cosign's tag-based format and verify them.
//!
//! The pieces, by trust boundary: [`reference`] parses image references; [`payload`] and
//! [`oci`] are the formats (parse only); [`keys`] loads, makes and uses keys; [`store`]
//! talks to registries and OCI layouts and checks every digest; [`sign`] and [`verify`]
//! put them together; [`deploy`] and [`pin`] read and pin the images of deployment files;
//! [`commands`] is the thin command layer over [`args`].
#![forbid(unsafe_code)]

pub mod args;
pub mod batch;
pub mod commands;
pub mod deploy;
pub mod pin;
pub mod verify_bundle;
