//! Base64 as protobuf JSON writes `bytes`: standard or URL-safe alphabet, padded or not.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// Text that is base64 in none of the alphabets and paddings protobuf JSON may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid base64")]
pub(crate) struct InvalidBase64;

/// Decode, or say why not.
pub(crate) fn decode(s: &str) -> Result<Vec<u8>, InvalidBase64> {
    // Line breaks are skipped, as Go's and Python's decoders do (`base64` wraps at 76).
    let owned;
    let s = if s.contains(['\n', '\r']) {
        owned = s.replace(['\n', '\r'], "");
        owned.as_str()
    } else {
        s
    };
    STANDARD
        .decode(s)
        .or_else(|_| STANDARD_NO_PAD.decode(s))
        .or_else(|_| URL_SAFE.decode(s))
        .or_else(|_| URL_SAFE_NO_PAD.decode(s))
        .map_err(|_| InvalidBase64)
}

/// serde helper: a base64 string field.
pub(crate) mod serde_bytes {
    use serde::{Deserialize, Deserializer};

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        super::decode(&s).map_err(serde::de::Error::custom)
    }
}

/// serde helper: an int64 written as a string (protobuf JSON) or a number.
pub(crate) mod int64 {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        S(String),
        N(i64),
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        match Repr::deserialize(d)? {
            Repr::N(n) => Ok(n),
            Repr::S(s) => s
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("{s:?} is not an integer"))),
        }
    }

    pub(crate) mod opt {
        use serde::{Deserialize, Deserializer};

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<i64>, D::Error> {
            #[derive(Deserialize)]
            struct W(#[serde(deserialize_with = "super::deserialize")] i64);
            Option::<W>::deserialize(d).map(|o| o.map(|w| w.0))
        }
    }
}
