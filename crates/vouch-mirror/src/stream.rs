//! A blob passed from the upstream to the client as it arrives, never whole in memory, its
//! digest and size checked on the way. The upstream's small chunks are gathered into frames
//! of up to [`FRAME`] bytes (fewer, larger writes), and the last byte is held back until the
//! digest is known to match: a client never receives the whole of a blob whose bytes are
//! wrong (the connection is cut instead). A stall longer than the idle limit cuts it too.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::Frame;
use http_body_util::{BodyExt as _, StreamBody};
use sha2::Digest as _;
use vouch_oci::reference::Digest;
use vouch_registry::BlobStream;
use vouch_server::Body;
use vouch_server::serve::BoxError;

/// Why a stream was cut.
#[derive(Debug)]
pub struct Cut(pub String);

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Cut {}

/// Bytes gathered before they are passed on.
pub const FRAME: usize = 256 * 1024;

/// Told how a stream ended: bytes passed, or why it was cut.
type OnEnd = Box<dyn Fn(Result<u64, &str>) + Send + Sync>;

struct State {
    upstream: BlobStream,
    hasher: sha2::Sha256,
    read: u64,
    held: BytesMut,
    done: bool,
    expected: Digest,
    size: u64,
    idle: Duration,
    on_end: OnEnd,
}

/// Streams `upstream`, which must hash to `expected` and be exactly `size` bytes; `on_end`
/// is told how it ended (bytes passed, or why it was cut).
pub fn checked(
    upstream: BlobStream,
    expected: Digest,
    size: u64,
    idle: Duration,
    on_end: impl Fn(Result<u64, &str>) + Send + Sync + 'static,
) -> Body {
    let state = State {
        upstream,
        hasher: sha2::Sha256::new(),
        read: 0,
        held: BytesMut::new(),
        done: false,
        expected,
        size,
        idle,
        on_end: Box::new(on_end),
    };
    let stream = futures_util::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        loop {
            let next = tokio::time::timeout(s.idle, s.upstream.chunk()).await;
            let chunk = match next {
                Err(_) => {
                    let why = format!("no byte from the upstream in {:?}", s.idle);
                    return cut(s, why);
                }
                Ok(Err(e)) => return cut(s, e.to_string()),
                Ok(Ok(chunk)) => chunk,
            };
            let Some(chunk) = chunk else {
                // End of the upstream body: release the held chunk only if all is well.
                let got = hex::encode(s.hasher.clone().finalize());
                if s.read != s.size {
                    let why = format!(
                        "the upstream sent {} bytes, the manifest says {}",
                        s.read, s.size
                    );
                    return cut(s, why);
                }
                if got != s.expected.hex() {
                    let why = format!(
                        "the upstream's bytes hash to sha256:{got}, not {}",
                        s.expected
                    );
                    return cut(s, why);
                }
                s.done = true;
                (s.on_end)(Ok(s.read));
                let rest = s.held.split().freeze();
                return (!rest.is_empty()).then(|| (Ok(Frame::data(rest)), s));
            };
            if chunk.is_empty() {
                continue;
            }
            s.read += chunk.len() as u64;
            if s.read > s.size {
                let why = format!(
                    "the upstream sent more than the {} bytes the manifest says",
                    s.size
                );
                return cut(s, why);
            }
            s.hasher.update(&chunk);
            s.held.extend_from_slice(&chunk);
            if s.held.len() > FRAME {
                // Everything but the last byte, which waits for the digest.
                let ready = s.held.split_to(s.held.len() - 1).freeze();
                return Some((Ok(Frame::data(ready)), s));
            }
        }
    });
    StreamBody::new(stream).boxed()
}

fn cut(mut s: State, why: String) -> Option<(Result<Frame<Bytes>, BoxError>, State)> {
    s.done = true;
    s.held.clear();
    (s.on_end)(Err(&why));
    Some((Err(Box::new(Cut(why)) as BoxError), s))
}
