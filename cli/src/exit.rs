//! Exit codes: the documented ones, the error that carries one out of a command, and the rules
//! that decide which code an outcome gets. Codes are decided here and nowhere else; a command
//! only says what happened (a report, a store error, a usage error).

use vouch_keys::KeyError;
use vouch_pkcs11::Pkcs11Error;
use vouch_registry::StoreError;
use vouch_registry::credentials::CredentialError;
use vouch_sign::SignError;
use vouch_verify::policy_verify::PolicyLoadError;

/// Documented exit codes (`vouch --help`, docs/guide.md). Ordered from best to worst, so
/// the outcome of a batch is the worst of its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// At least one image failed verification.
    Refused = 1,
    /// Usage, configuration, key or password error.
    Usage = 2,
    /// A registry or layout could not be reached or read.
    Unreachable = 3,
}

impl Exit {
    /// The worse of two outcomes: unreachable over usage over refused over success.
    pub fn worst(self, other: Exit) -> Exit {
        self.max(other)
    }

    /// A check that passed or not (`policy test`, `pin --check`, `verify-bundle`).
    pub fn of_check(passed: bool) -> Exit {
        if passed { Exit::Ok } else { Exit::Refused }
    }

    /// One image's verification: unreachable (its registry or layout could not be read), else
    /// refused unless it passed.
    pub fn of_report(unreachable: bool, passed: bool) -> Exit {
        if unreachable {
            Exit::Unreachable
        } else {
            Exit::of_check(passed)
        }
    }

    /// A failed sign: an image (or manifest) that is not there, or a key (token) that would
    /// not sign, is the caller's to fix; anything else the registry or layout did stops the
    /// write.
    pub fn of_signing(e: &SignError) -> Exit {
        match e {
            SignError::Store(e) => Exit::of_sign_store(e),
            SignError::Key(_) => Exit::Usage,
        }
    }

    /// A sign's registry or layout failure: an image that is not there is the caller's to
    /// fix; anything else stops the write.
    pub fn of_sign_store(e: &StoreError) -> Exit {
        match e {
            StoreError::NotFound(_) => Exit::Usage,
            _ => Exit::Unreachable,
        }
    }

    /// A keyless signing failure: the service's own classification (2 token or
    /// configuration, 3 a service unreachable, 1 a refusal or an answer that did not verify).
    pub fn of_keyless(e: &vouch_keyless::KeylessError) -> Exit {
        match e.exit_code() {
            2 => Exit::Usage,
            3 => Exit::Unreachable,
            _ => Exit::Refused,
        }
    }

    /// A TUF failure: 2 options to fix, 3 repository or cache unreachable, 1 TUF refused.
    pub fn of_tuf(e: &vouch_tuf::TufError) -> Exit {
        match e.exit_code() {
            2 => Exit::Usage,
            3 => Exit::Unreachable,
            _ => Exit::Refused,
        }
    }

    /// A keyless sign of one image: the store's rule or the signing services'.
    pub fn of_keyless_sign(e: &vouch_sign::keyless::KeylessSignError) -> Exit {
        match e {
            vouch_sign::keyless::KeylessSignError::Store(e) => Exit::of_sign_store(e),
            vouch_sign::keyless::KeylessSignError::Keyless(e) => Exit::of_keyless(e),
        }
    }

    /// A store error while resolving a tag to pin: unreachable, else a reference that names
    /// nothing usable (not found, or content that is not an image).
    pub fn of_resolving(e: &StoreError) -> Exit {
        if e.is_unreachable() {
            Exit::Unreachable
        } else {
            Exit::Usage
        }
    }
}

/// An error with the exit code it maps to. Built only from errors that say which exit they
/// are: the constructors below, or the typed errors that convert (all usage errors).
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub exit: Exit,
    /// What went wrong, with its causes.
    pub error: anyhow::Error,
}

impl Failure {
    /// An error with its exit code.
    pub fn new(exit: Exit, error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            exit,
            error: error.into(),
        }
    }

    /// The error and its causes on one line, each cause once: a cause whose text an outer
    /// message already holds (a typed error that names its source in its own message) is
    /// left out, so nothing reads twice.
    pub fn message(&self) -> String {
        let mut message = String::new();
        for cause in self.error.chain() {
            let text = cause.to_string();
            if text.is_empty() || message.contains(&text) {
                continue;
            }
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&text);
        }
        message
    }

    /// A usage error (exit 2): flags, the files they name (keys, policies, lists, deployment
    /// files) and what those hold, passwords, or vouch's own output failing.
    pub fn usage(error: impl Into<anyhow::Error>) -> Failure {
        Failure::new(Exit::Usage, error)
    }
}

/// A key, key file or password: exit 2.
impl From<KeyError> for Failure {
    fn from(e: KeyError) -> Failure {
        Failure::usage(e)
    }
}

/// A PKCS#11 module, token, PIN or key that cannot be used: exit 2.
impl From<Pkcs11Error> for Failure {
    fn from(e: Pkcs11Error) -> Failure {
        Failure::usage(e)
    }
}

/// A policy that cannot be read or has errors: exit 2.
impl From<PolicyLoadError> for Failure {
    fn from(e: PolicyLoadError) -> Failure {
        Failure::usage(e)
    }
}

/// docker's config.json that cannot be read or written: exit 2.
impl From<CredentialError> for Failure {
    fn from(e: CredentialError) -> Failure {
        Failure::usage(e)
    }
}

/// Extends results with the exit code their error maps to.
pub trait OrExit<T> {
    /// A usage error (exit 2) if it failed.
    fn or_usage(self) -> Result<T, Failure>;
}

impl<T, E: Into<anyhow::Error>> OrExit<T> for Result<T, E> {
    fn or_usage(self) -> Result<T, Failure> {
        self.map_err(Failure::usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_outcome_wins() {
        assert_eq!(Exit::Ok.worst(Exit::Refused), Exit::Refused);
        assert_eq!(Exit::Unreachable.worst(Exit::Usage), Exit::Unreachable);
        assert_eq!(Exit::Refused.worst(Exit::Usage), Exit::Usage);
        assert_eq!(Exit::of_report(true, false), Exit::Unreachable);
        assert_eq!(Exit::of_report(false, false), Exit::Refused);
        assert_eq!(Exit::of_report(false, true), Exit::Ok);
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let in_file = KeyError::InFile {
            path: "release.key".into(),
            source: Box::new(KeyError::WrongPassword),
        };
        let failure = Failure::usage(in_file);
        assert_eq!(
            failure.message(),
            "release.key: wrong password or corrupted key"
        );
        let context = Failure::usage(
            anyhow::Error::new(KeyError::PrivateKeyGiven).context("cannot load release.key"),
        );
        assert_eq!(
            context.message(),
            "cannot load release.key: this is a private key; pass the .pub file"
        );
    }

    #[test]
    fn store_errors_by_what_was_being_done() {
        let missing = StoreError::NotFound("app:v1".into());
        let down = StoreError::Registry {
            registry: "r".into(),
            request: "GET /v2/".into(),
            reason: "connection refused".into(),
        };
        let bad = StoreError::TooLarge {
            what: "manifest".into(),
            limit: 1,
        };
        assert_eq!(Exit::of_resolving(&missing), Exit::Usage);
        assert_eq!(Exit::of_resolving(&down), Exit::Unreachable);
        assert_eq!(Exit::of_resolving(&bad), Exit::Usage);
        assert_eq!(Exit::of_signing(&missing.into()), Exit::Usage);
        assert_eq!(Exit::of_signing(&down.into()), Exit::Unreachable);
        assert_eq!(Exit::of_signing(&bad.into()), Exit::Unreachable);
        let token = vouch_keys::SignerError("token \"ci\": C_Sign failed".into());
        assert_eq!(Exit::of_signing(&token.into()), Exit::Usage);
    }
}
