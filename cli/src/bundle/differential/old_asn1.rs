#![allow(dead_code, clippy::all)]
//! A strict, minimal DER reader (and length encoder) for X.509, CMS and RFC 3161.
//!
//! Hand-rolled so that every structure keeps its exact encoded bytes: signatures are checked
//! over the bytes as received, never over a re-encoding.

use spki::ObjectIdentifier;

/// Universal tags used here.
pub(crate) const BOOLEAN: u8 = 0x01;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const OID: u8 = 0x06;
pub(crate) const UTF8_STRING: u8 = 0x0c;
pub(crate) const UTC_TIME: u8 = 0x17;
pub(crate) const GENERALIZED_TIME: u8 = 0x18;
pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;

/// Context-specific constructed tag `[n]`.
pub(crate) const fn ctx(n: u8) -> u8 {
    0xa0 | n
}

/// Context-specific primitive tag `[n]` (IMPLICIT over a primitive type).
pub(crate) const fn ctx_prim(n: u8) -> u8 {
    0x80 | n
}

/// Malformed DER; the message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DerError(pub(crate) String);

impl std::fmt::Display for DerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(msg: impl Into<String>) -> DerError {
    DerError(msg.into())
}

/// One element: its tag, its contents and its whole encoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub(crate) tag: u8,
    pub(crate) value: &'a [u8],
    pub(crate) raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// A reader over the contents (for constructed types).
    pub(crate) fn reader(&self) -> Reader<'a> {
        Reader::new(self.value)
    }

    /// True if this is an OBJECT IDENTIFIER equal to `oid`.
    pub(crate) fn is_oid(&self, oid: &ObjectIdentifier) -> bool {
        self.tag == OID && self.value == oid.as_bytes()
    }

    /// The OID, for messages.
    pub(crate) fn oid(&self) -> Result<ObjectIdentifier, DerError> {
        if self.tag != OID {
            return Err(err("expected an OBJECT IDENTIFIER"));
        }
        ObjectIdentifier::from_bytes(self.value).map_err(|e| err(format!("bad OID: {e}")))
    }

    /// BIT STRING contents with no unused bits.
    pub(crate) fn bit_string_bytes(&self) -> Result<&'a [u8], DerError> {
        match self.value.split_first() {
            Some((0, rest)) if self.tag == BIT_STRING => Ok(rest),
            _ => Err(err("expected a BIT STRING with no unused bits")),
        }
    }

    /// A small non-negative INTEGER.
    pub(crate) fn small_uint(&self) -> Result<u64, DerError> {
        let v = self.value;
        if self.tag != INTEGER || v.is_empty() || v.len() > 9 || v[0] & 0x80 != 0 {
            return Err(err("expected a small non-negative INTEGER"));
        }
        if v.len() > 1 && v[0] == 0 && v[1] & 0x80 == 0 {
            return Err(err("non-minimal INTEGER"));
        }
        let mut n: u64 = 0;
        for &b in v {
            n = n
                .checked_mul(256)
                .and_then(|n| n.checked_add(u64::from(b)))
                .ok_or_else(|| err("INTEGER too large"))?;
        }
        Ok(n)
    }

    /// BOOLEAN (DER: 0x00 or 0xff).
    pub(crate) fn boolean(&self) -> Result<bool, DerError> {
        match (self.tag, self.value) {
            (BOOLEAN, [0x00]) => Ok(false),
            (BOOLEAN, [0xff]) => Ok(true),
            _ => Err(err("expected a DER BOOLEAN")),
        }
    }
}

/// Reads consecutive elements from a byte slice.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { rest: data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element, whatever its tag.
    pub(crate) fn any(&mut self) -> Result<Tlv<'a>, DerError> {
        let data = self.rest;
        let (&tag, after_tag) = data
            .split_first()
            .ok_or_else(|| err("unexpected end of data"))?;
        if tag & 0x1f == 0x1f {
            return Err(err("high tag numbers are not supported"));
        }
        let (&first, mut after_len) = after_tag
            .split_first()
            .ok_or_else(|| err("missing length"))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 {
                return Err(err("indefinite length is not DER"));
            }
            if n > 4 || after_len.len() < n {
                return Err(err("bad length"));
            }
            let mut len = 0usize;
            for &b in &after_len[..n] {
                len = (len << 8) | usize::from(b);
            }
            if after_len[0] == 0 || len < 0x80 {
                return Err(err("non-minimal length"));
            }
            after_len = &after_len[n..];
            len
        };
        if after_len.len() < len {
            return Err(err("element runs past the end of the data"));
        }
        let header = data.len() - after_len.len();
        let raw = &data[..header + len];
        self.rest = &data[header + len..];
        Ok(Tlv {
            tag,
            value: &after_len[..len],
            raw,
        })
    }

    /// The next element, which must have `tag`.
    pub(crate) fn expect(&mut self, tag: u8) -> Result<Tlv<'a>, DerError> {
        match self.peek_tag() {
            Some(t) if t == tag => self.any(),
            Some(t) => Err(err(format!("expected tag 0x{tag:02x}, found 0x{t:02x}"))),
            None => Err(err(format!("expected tag 0x{tag:02x}, found the end"))),
        }
    }

    /// The next element if it has `tag`.
    pub(crate) fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, DerError> {
        if self.peek_tag() == Some(tag) {
            self.any().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails if anything is left.
    pub(crate) fn finish(&self) -> Result<(), DerError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(err("trailing data"))
        }
    }
}

/// `data` must be exactly one element with `tag`.
pub(crate) fn single(data: &[u8], tag: u8) -> Result<Tlv<'_>, DerError> {
    let mut r = Reader::new(data);
    let tlv = r.expect(tag)?;
    r.finish()?;
    Ok(tlv)
}

/// DER encoding of `tag` + length + `content`.
pub(crate) fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}
