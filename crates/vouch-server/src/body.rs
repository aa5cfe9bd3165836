//! Request bodies, read whole only up to a limit.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Limited};

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is larger than the limit.
    #[error("the request body is larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The connection failed while the body was read.
    #[error("reading the request body: {0}")]
    Read(String),
}

/// Reads `body` into memory, refusing more than `limit` bytes (before they are buffered).
pub async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, BodyError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge { limit }),
        Err(e) => Err(BodyError::Read(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[tokio::test]
    async fn bodies_over_the_limit_are_refused() {
        let ok = read_limited(Full::new(Bytes::from_static(b"abc")), 3).await;
        assert_eq!(ok.expect("fits").as_ref(), b"abc");
        let err = read_limited(Full::new(Bytes::from_static(b"abcd")), 3)
            .await
            .expect_err("too large");
        assert!(matches!(err, BodyError::TooLarge { limit: 3 }), "{err}");
    }
}
