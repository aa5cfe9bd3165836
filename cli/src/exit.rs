//! Exit codes: the documented ones, and the error that carries one out of a command.

/// Documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// An error with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub exit: Exit,
    /// What went wrong, with its causes.
    pub error: anyhow::Error,
}

impl Failure {
    pub fn usage(error: anyhow::Error) -> Failure {
        Failure {
            exit: Exit::Usage,
            error,
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure::usage(e.into())
    }
}
