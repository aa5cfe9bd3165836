//! RFC 7512 `pkcs11:` URIs naming a signing key, parsed strictly.
//!
//! The accepted form is what cosign accepts:
//! `pkcs11:token=LABEL;object=LABEL;id=%01?module-path=/abs/lib.so&pin-source=FILE`.
//! Written by hand because no maintained crate parses these URIs; the grammar is small and every
//! value is bounded. On top of RFC 7512 vouch refuses what cosign and the RFC read differently,
//! so one URI never selects two different keys in the two tools:
//!
//! - an unencoded `+` (cosign reads a space, RFC 7512 a plus: write `%2B` or `%20`);
//! - an unencoded `&` in the path (cosign splits there, the RFC does not: write `%26`);
//! - unknown attributes, repeated attributes, empty values, and `pin-value` with `pin-source`.
//!
//! `;` is accepted between query attributes as cosign does. When a URI names both `id` and
//! `object` (or `token` and `slot-id`), vouch requires both to match, where cosign uses only
//! `id` (or `slot-id`).
//!
//! A URI may carry a PIN (`pin-value`). It is kept in a [`Pin`], which never prints, and no
//! error quotes any part of it.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::pin::Pin;

/// The longest URI accepted, in bytes.
pub const MAX_URI_LEN: usize = 4096;

const SCHEME: &str = "pkcs11:";

/// What stands for a PIN wherever a URI is printed. Not valid in a URI, so a printed URI pasted
/// back fails to parse instead of trying a wrong PIN (and using up the token's retry count).
const REDACTED: &str = "<redacted>";

/// Which object of a key pair the URI names (`type=`); the pair is used either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    /// `type=private`
    Private,
    /// `type=public`
    Public,
    /// `type=cert`
    Cert,
}

impl ObjectType {
    fn as_str(self) -> &'static str {
        match self {
            ObjectType::Private => "private",
            ObjectType::Public => "public",
            ObjectType::Cert => "cert",
        }
    }
}

/// Where the URI says the PIN comes from.
#[derive(Clone)]
pub enum PinSpec {
    /// `pin-value=`: the PIN itself, in the URI (visible in process lists and shell history).
    Value(Pin),
    /// `pin-source=`: a file holding the PIN.
    Source(PathBuf),
}

/// A parsed `pkcs11:` URI naming one key pair on one token.
///
/// `Debug` and `Display` never show the PIN.
#[derive(Clone, Default)]
pub struct Pkcs11Uri {
    /// `token=`: the token label.
    pub token: Option<String>,
    /// `manufacturer=`: the token's manufacturer id.
    pub manufacturer: Option<String>,
    /// `model=`: the token's model.
    pub model: Option<String>,
    /// `serial=`: the token's serial number.
    pub serial: Option<String>,
    /// `slot-id=`: the slot number.
    pub slot_id: Option<u64>,
    /// `slot-description=`
    pub slot_description: Option<String>,
    /// `slot-manufacturer=`
    pub slot_manufacturer: Option<String>,
    /// `library-manufacturer=`
    pub library_manufacturer: Option<String>,
    /// `library-description=`
    pub library_description: Option<String>,
    /// `library-version=`: major and minor (`3` means `3.0`).
    pub library_version: Option<(u8, u8)>,
    /// `object=`: the key's label (`CKA_LABEL`).
    pub object: Option<String>,
    /// `id=`: the key's id (`CKA_ID`), bytes.
    pub id: Option<Vec<u8>>,
    /// `type=`
    pub object_type: Option<ObjectType>,
    /// `module-path=`: the PKCS#11 library, an absolute path.
    pub module_path: Option<PathBuf>,
    /// `pin-value=` or `pin-source=`.
    pub pin: Option<PinSpec>,
}

/// Why a `pkcs11:` URI was refused. No message quotes a PIN, or any part of one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// The text does not start with `pkcs11:`.
    #[error("not a PKCS#11 URI: it must start with \"pkcs11:\"")]
    NotPkcs11,
    /// Longer than [`MAX_URI_LEN`].
    #[error("PKCS#11 URI is {len} bytes long; at most {max} are accepted")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A `#fragment`.
    #[error(
        "PKCS#11 URI has a '#' fragment, which RFC 7512 does not allow (write %23 for a '#' in a value)"
    )]
    Fragment,
    /// `;;`, a trailing `;`, `&&` or a trailing `&`.
    #[error(
        "PKCS#11 URI has an empty attribute in its {component} (a doubled or trailing separator)"
    )]
    EmptyAttribute {
        /// `path` or `query`.
        component: &'static str,
    },
    /// An attribute without `=`.
    #[error("PKCS#11 URI attribute {name} has no \"=value\"")]
    MissingEquals {
        /// The attribute's name, quoted, or a description when it may hold a secret.
        name: String,
    },
    /// An attribute this parser does not know.
    #[error("unknown PKCS#11 URI {component} attribute {name}; known: {known}")]
    UnknownAttribute {
        /// `path` or `query`.
        component: &'static str,
        /// The attribute's name, quoted, or a description when it may hold a secret.
        name: String,
        /// The attributes accepted there.
        known: &'static str,
    },
    /// An attribute given twice.
    #[error("PKCS#11 URI attribute \"{name}\" is given more than once")]
    Duplicate {
        /// The attribute.
        name: &'static str,
    },
    /// A character that must be percent-encoded (or is ambiguous between cosign and RFC 7512).
    #[error("PKCS#11 URI attribute \"{name}\" has {found}; {hint}")]
    InvalidCharacter {
        /// The attribute.
        name: &'static str,
        /// The character, described (never for a PIN).
        found: String,
        /// What to write instead.
        hint: &'static str,
    },
    /// A `%` not followed by two hex digits.
    #[error("PKCS#11 URI attribute \"{name}\" has a '%' not followed by two hex digits")]
    BadPercentEncoding {
        /// The attribute.
        name: &'static str,
    },
    /// A text attribute whose decoded bytes are not UTF-8.
    #[error("PKCS#11 URI attribute \"{name}\" is not UTF-8 once percent-decoded")]
    NotUtf8 {
        /// The attribute.
        name: &'static str,
    },
    /// `name=` with nothing after it.
    #[error("PKCS#11 URI attribute \"{name}\" is empty")]
    EmptyValue {
        /// The attribute.
        name: &'static str,
    },
    /// `pin-value` is not well formed; its content is not shown.
    #[error(
        "PKCS#11 URI attribute \"pin-value\" is not well formed ({reason}; its content is not shown)"
    )]
    BadPinValue {
        /// What is wrong, without quoting the PIN.
        reason: &'static str,
    },
    /// `slot-id` is not a decimal number.
    #[error("PKCS#11 URI slot-id \"{value}\" is not a decimal number")]
    InvalidSlotId {
        /// The value.
        value: String,
    },
    /// `library-version` is not `M` or `M.N`.
    #[error("PKCS#11 URI library-version \"{value}\" is not MAJOR or MAJOR.MINOR (each 0-255)")]
    InvalidLibraryVersion {
        /// The value.
        value: String,
    },
    /// `type` is not one naming part of a key pair.
    #[error(
        "PKCS#11 URI type \"{value}\" does not name part of a key pair; use type=private, type=public or type=cert"
    )]
    InvalidType {
        /// The value.
        value: String,
    },
    /// Both `pin-value` and `pin-source`.
    #[error("PKCS#11 URI gives both pin-value and pin-source; give one (pin-source is safer)")]
    BothPinValueAndSource,
    /// `module-name`, which cosign does not support either.
    #[error(
        "PKCS#11 URI module-name is not supported; give module-path=/absolute/path/to/module.so"
    )]
    ModuleNameUnsupported,
    /// A relative `module-path`.
    #[error("PKCS#11 URI module-path \"{}\" is not an absolute path", .path.display())]
    ModulePathNotAbsolute {
        /// The path.
        path: PathBuf,
    },
    /// Neither `object` nor `id`.
    #[error(
        "PKCS#11 URI names no key: add object=LABEL or id=%HH... (the key's CKA_LABEL or CKA_ID)"
    )]
    NoKeySelector,
    /// Neither `token` nor `slot-id`.
    #[error("PKCS#11 URI names no token: add token=LABEL or slot-id=N")]
    NoTokenSelector,
}

const PATH_ATTRIBUTES: &str = "token, manufacturer, model, serial, slot-id, slot-description, \
    slot-manufacturer, library-manufacturer, library-description, library-version, object, id, type";
const QUERY_ATTRIBUTES: &str = "module-path, pin-source, pin-value";

/// Characters RFC 7512 allows unencoded in a path value, less `&` and `+` (see the module
/// comment). `;` separates attributes and `=` is allowed after the first.
fn path_char_ok(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:[]@!$'()*,=".contains(&b)
}

/// Characters RFC 7512 allows unencoded in a query value, less `+`.
fn query_char_ok(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:[]@!$'()*,=/?|".contains(&b)
}

impl Pkcs11Uri {
    /// Whether `text` is meant as a PKCS#11 URI (its scheme is `pkcs11:`, in any case), so a
    /// caller can tell a URI from a key file before parsing it.
    pub fn is_pkcs11_uri(text: &str) -> bool {
        text.get(..SCHEME.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(SCHEME))
    }

    /// Parse a URI naming one key pair: it must name a token (`token` or `slot-id`) and a key
    /// (`object` or `id`). The module path and PIN may instead come from [`crate::OpenOptions`].
    pub fn parse(text: &str) -> Result<Self, UriError> {
        if text.len() > MAX_URI_LEN {
            return Err(UriError::TooLong {
                len: text.len(),
                max: MAX_URI_LEN,
            });
        }
        if !Self::is_pkcs11_uri(text) {
            return Err(UriError::NotPkcs11);
        }
        let rest = &text[SCHEME.len()..];
        if rest.contains('#') {
            return Err(UriError::Fragment);
        }
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        let mut uri = Pkcs11Uri::default();
        if !path.is_empty() {
            for attribute in path.split(';') {
                uri.path_attribute(attribute)?;
            }
        }
        if let Some(query) = query {
            if query.is_empty() {
                return Err(UriError::EmptyAttribute { component: "query" });
            }
            for attribute in query.split(['&', ';']) {
                uri.query_attribute(attribute)?;
            }
        }
        if uri.object.is_none() && uri.id.is_none() {
            return Err(UriError::NoKeySelector);
        }
        if uri.token.is_none() && uri.slot_id.is_none() {
            return Err(UriError::NoTokenSelector);
        }
        Ok(uri)
    }

    fn path_attribute(&mut self, attribute: &str) -> Result<(), UriError> {
        if attribute.is_empty() {
            return Err(UriError::EmptyAttribute { component: "path" });
        }
        let Some((name, raw)) = attribute.split_once('=') else {
            return Err(UriError::MissingEquals {
                name: shown_name(attribute, "path"),
            });
        };
        let name: &'static str = match name {
            "token" => "token",
            "manufacturer" => "manufacturer",
            "model" => "model",
            "serial" => "serial",
            "slot-id" => "slot-id",
            "slot-description" => "slot-description",
            "slot-manufacturer" => "slot-manufacturer",
            "library-manufacturer" => "library-manufacturer",
            "library-description" => "library-description",
            "library-version" => "library-version",
            "object" => "object",
            "id" => "id",
            "type" => "type",
            other => {
                return Err(UriError::UnknownAttribute {
                    component: "path",
                    name: shown_name(other, "path"),
                    known: PATH_ATTRIBUTES,
                });
            }
        };
        let bytes = decode(name, raw, path_char_ok, PATH_HINTS)?;
        match name {
            "id" => set(&mut self.id, name, bytes),
            "token" => set(&mut self.token, name, utf8(name, bytes)?),
            "manufacturer" => set(&mut self.manufacturer, name, utf8(name, bytes)?),
            "model" => set(&mut self.model, name, utf8(name, bytes)?),
            "serial" => set(&mut self.serial, name, utf8(name, bytes)?),
            "slot-description" => set(&mut self.slot_description, name, utf8(name, bytes)?),
            "slot-manufacturer" => set(&mut self.slot_manufacturer, name, utf8(name, bytes)?),
            "library-manufacturer" => set(&mut self.library_manufacturer, name, utf8(name, bytes)?),
            "library-description" => set(&mut self.library_description, name, utf8(name, bytes)?),
            "object" => set(&mut self.object, name, utf8(name, bytes)?),
            "slot-id" => {
                let value = utf8(name, bytes)?;
                let slot = parse_decimal(&value).ok_or(UriError::InvalidSlotId {
                    value: value.clone(),
                })?;
                set(&mut self.slot_id, name, slot)
            }
            "library-version" => {
                let value = utf8(name, bytes)?;
                let version = parse_version(&value).ok_or(UriError::InvalidLibraryVersion {
                    value: value.clone(),
                })?;
                set(&mut self.library_version, name, version)
            }
            "type" => {
                let value = utf8(name, bytes)?;
                let kind = match value.as_str() {
                    "private" => ObjectType::Private,
                    "public" => ObjectType::Public,
                    "cert" => ObjectType::Cert,
                    _ => return Err(UriError::InvalidType { value }),
                };
                set(&mut self.object_type, name, kind)
            }
            _ => unreachable!("every known path attribute is handled above"),
        }
    }

    fn query_attribute(&mut self, attribute: &str) -> Result<(), UriError> {
        if attribute.is_empty() {
            return Err(UriError::EmptyAttribute { component: "query" });
        }
        let Some((name, raw)) = attribute.split_once('=') else {
            return Err(UriError::MissingEquals {
                name: shown_name(attribute, "query"),
            });
        };
        match name {
            "module-path" => {
                let bytes = decode("module-path", raw, query_char_ok, QUERY_HINTS)?;
                let path = PathBuf::from(utf8("module-path", bytes)?);
                if !path.is_absolute() {
                    return Err(UriError::ModulePathNotAbsolute { path });
                }
                set(&mut self.module_path, "module-path", path)
            }
            "pin-source" => {
                let bytes = decode("pin-source", raw, query_char_ok, QUERY_HINTS)?;
                let source = utf8("pin-source", bytes)?;
                if matches!(self.pin, Some(PinSpec::Value(_))) {
                    return Err(UriError::BothPinValueAndSource);
                }
                if matches!(self.pin, Some(PinSpec::Source(_))) {
                    return Err(UriError::Duplicate { name: "pin-source" });
                }
                self.pin = Some(PinSpec::Source(PathBuf::from(source)));
                Ok(())
            }
            "pin-value" => {
                let pin = decode_pin(raw)?;
                if matches!(self.pin, Some(PinSpec::Source(_))) {
                    return Err(UriError::BothPinValueAndSource);
                }
                if matches!(self.pin, Some(PinSpec::Value(_))) {
                    return Err(UriError::Duplicate { name: "pin-value" });
                }
                self.pin = Some(PinSpec::Value(pin));
                Ok(())
            }
            "module-name" => Err(UriError::ModuleNameUnsupported),
            other => Err(UriError::UnknownAttribute {
                component: "query",
                name: shown_name(other, "query"),
                known: QUERY_ATTRIBUTES,
            }),
        }
    }

    /// Whether the URI carries its PIN in clear (`pin-value`), so a caller can warn about it.
    pub fn has_pin_value(&self) -> bool {
        matches!(self.pin, Some(PinSpec::Value(_)))
    }

    /// The module path, if the URI gives one.
    pub fn module_path(&self) -> Option<&Path> {
        self.module_path.as_deref()
    }

    /// A short description of the key for messages: `key "release" (id 01) on token "ci"`.
    pub fn describe_key(&self) -> String {
        let mut out = String::from("key");
        if let Some(object) = &self.object {
            out.push_str(&format!(" {object:?}"));
        }
        if let Some(id) = &self.id {
            out.push_str(&format!(" (id {})", hex::encode(id)));
        }
        out.push_str(" on ");
        out.push_str(&self.describe_token());
        out
    }

    /// A short description of the token for messages: `token "ci"` or `slot 3`.
    pub fn describe_token(&self) -> String {
        match (&self.token, self.slot_id) {
            (Some(token), Some(slot)) => format!("token {token:?} in slot {slot}"),
            (Some(token), None) => format!("token {token:?}"),
            (None, Some(slot)) => format!("the token in slot {slot}"),
            (None, None) => "the token".to_string(),
        }
    }
}

fn set<T>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), UriError> {
    if slot.is_some() {
        return Err(UriError::Duplicate { name });
    }
    *slot = Some(value);
    Ok(())
}

/// An unknown attribute's name for an error message. A query name starting with "pin" may be a
/// mistyped `pin-value=` with the PIN run into it, so it is described, not quoted.
fn shown_name(name: &str, component: &str) -> String {
    let plausible = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if component == "query" && name.starts_with("pin") {
        "starting with \"pin\" (not shown, as it may hold a PIN; did you mean pin-value= or pin-source=?)".to_string()
    } else if plausible {
        format!("\"{name}\"")
    } else {
        "(a name that is not a plain lowercase word, not shown)".to_string()
    }
}

type Hints = (&'static str, &'static str, &'static str);

const PATH_HINTS: Hints = (
    "write %2B for a plus sign or %20 for a space (cosign and RFC 7512 read an unencoded '+' differently)",
    "write %26 (cosign would split the attribute there)",
    "percent-encode it (for example a space as %20)",
);
const QUERY_HINTS: Hints = (
    "write %2B for a plus sign or %20 for a space (cosign and RFC 7512 read an unencoded '+' differently)",
    "write %26",
    "percent-encode it (for example a space as %20)",
);

/// Percent-decode `raw`, refusing characters the RFC does not allow unencoded.
fn decode(
    name: &'static str,
    raw: &str,
    allowed: fn(u8) -> bool,
    hints: Hints,
) -> Result<Vec<u8>, UriError> {
    if raw.is_empty() {
        return Err(UriError::EmptyValue { name });
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let byte = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .filter(|hex| hex.bytes().all(|c| c.is_ascii_hexdigit()))
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or(UriError::BadPercentEncoding { name })?;
            out.push(byte);
            i += 3;
            continue;
        }
        if !allowed(b) {
            let hint = match b {
                b'+' => hints.0,
                b'&' => hints.1,
                _ => hints.2,
            };
            let found = if b.is_ascii_graphic() {
                format!("'{}'", b as char)
            } else if b == b' ' {
                "a space".to_string()
            } else if b.is_ascii() {
                format!("control character 0x{b:02x}")
            } else {
                "a non-ASCII character".to_string()
            };
            return Err(UriError::InvalidCharacter { name, found, hint });
        }
        out.push(b);
        i += 1;
    }
    Ok(out)
}

/// Decode `pin-value` with the same rules, but errors that do not quote it.
fn decode_pin(raw: &str) -> Result<Pin, UriError> {
    match decode("pin-value", raw, query_char_ok, QUERY_HINTS) {
        Ok(bytes) => Ok(Pin::new(bytes)),
        Err(UriError::EmptyValue { .. }) => Err(UriError::BadPinValue {
            reason: "it is empty",
        }),
        Err(UriError::BadPercentEncoding { .. }) => Err(UriError::BadPinValue {
            reason: "a '%' is not followed by two hex digits",
        }),
        Err(UriError::InvalidCharacter { hint, .. }) if hint == QUERY_HINTS.0 => {
            Err(UriError::BadPinValue {
                reason: "it has an unencoded '+': write %2B for a plus sign",
            })
        }
        Err(_) => Err(UriError::BadPinValue {
            reason: "it has a character that must be percent-encoded",
        }),
    }
}

fn utf8(name: &'static str, bytes: Vec<u8>) -> Result<String, UriError> {
    String::from_utf8(bytes).map_err(|_| UriError::NotUtf8 { name })
}

fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_version(text: &str) -> Option<(u8, u8)> {
    let small = |t: &str| {
        (!t.is_empty() && t.len() <= 3 && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse::<u8>().ok())
            .flatten()
    };
    match text.split_once('.') {
        Some((major, minor)) => Some((small(major)?, small(minor)?)),
        None => Some((small(text)?, 0)),
    }
}

/// Percent-encode for printing: every byte outside the characters allowed in both components.
fn encode(out: &mut String, bytes: &[u8], allowed: fn(u8) -> bool) {
    for &b in bytes {
        if allowed(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

impl fmt::Display for Pkcs11Uri {
    /// The URI in canonical form, with any PIN value replaced by `<redacted>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::from(SCHEME);
        let mut path: Vec<String> = Vec::new();
        let mut text = |name: &str, value: Option<&str>| {
            if let Some(value) = value {
                let mut attribute = format!("{name}=");
                encode(&mut attribute, value.as_bytes(), path_char_ok);
                path.push(attribute);
            }
        };
        text("token", self.token.as_deref());
        text("manufacturer", self.manufacturer.as_deref());
        text("model", self.model.as_deref());
        text("serial", self.serial.as_deref());
        text("slot-description", self.slot_description.as_deref());
        text("slot-manufacturer", self.slot_manufacturer.as_deref());
        text("library-manufacturer", self.library_manufacturer.as_deref());
        text("library-description", self.library_description.as_deref());
        text("object", self.object.as_deref());
        if let Some(slot) = self.slot_id {
            path.push(format!("slot-id={slot}"));
        }
        if let Some((major, minor)) = self.library_version {
            path.push(format!("library-version={major}.{minor}"));
        }
        if let Some(id) = &self.id {
            let mut attribute = String::from("id=");
            encode(&mut attribute, id, |_| false);
            path.push(attribute);
        }
        if let Some(kind) = self.object_type {
            path.push(format!("type={}", kind.as_str()));
        }
        out.push_str(&path.join(";"));
        let mut query: Vec<String> = Vec::new();
        if let Some(module) = &self.module_path {
            let mut attribute = String::from("module-path=");
            encode(
                &mut attribute,
                module.as_os_str().as_encoded_bytes(),
                query_char_ok,
            );
            query.push(attribute);
        }
        match &self.pin {
            Some(PinSpec::Source(source)) => {
                let mut attribute = String::from("pin-source=");
                encode(
                    &mut attribute,
                    source.as_os_str().as_encoded_bytes(),
                    query_char_ok,
                );
                query.push(attribute);
            }
            Some(PinSpec::Value(_)) => query.push(format!("pin-value={REDACTED}")),
            None => {}
        }
        if !query.is_empty() {
            out.push('?');
            out.push_str(&query.join("&"));
        }
        f.write_str(&out)
    }
}

impl fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pkcs11Uri")
            .field(&format_args!("{self}"))
            .finish()
    }
}

impl fmt::Debug for PinSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinSpec::Value(_) => f.write_str("PinSpec::Value(<redacted>)"),
            PinSpec::Source(path) => f.debug_tuple("PinSpec::Source").field(path).finish(),
        }
    }
}

impl std::str::FromStr for Pkcs11Uri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cosigns_form() {
        let uri = Pkcs11Uri::parse(
            "pkcs11:token=My%20Token;slot-id=7;object=release%2Bkey;id=%01%ab?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/run/pin",
        )
        .expect("parses");
        assert_eq!(uri.token.as_deref(), Some("My Token"));
        assert_eq!(uri.slot_id, Some(7));
        assert_eq!(uri.object.as_deref(), Some("release+key"));
        assert_eq!(uri.id.as_deref(), Some(&[0x01, 0xab][..]));
        assert_eq!(
            uri.module_path(),
            Some(Path::new("/usr/lib/softhsm/libsofthsm2.so"))
        );
        assert!(matches!(&uri.pin, Some(PinSpec::Source(p)) if p == Path::new("/run/pin")));
    }

    #[test]
    fn semicolons_separate_query_attributes_as_in_cosign() {
        let uri = Pkcs11Uri::parse("pkcs11:token=t;object=k?module-path=/m.so;pin-value=1234")
            .expect("parses");
        assert!(uri.has_pin_value());
        assert_eq!(uri.module_path(), Some(Path::new("/m.so")));
    }

    #[test]
    fn display_is_canonical_and_redacts_the_pin() {
        let uri = Pkcs11Uri::parse(
            "PKCS11:object=a%20b;token=t;id=%0A?pin-value=s3cr%65t&module-path=/m.so",
        )
        .expect("parses");
        let shown = uri.to_string();
        assert_eq!(
            shown,
            "pkcs11:token=t;object=a%20b;id=%0A?module-path=/m.so&pin-value=<redacted>"
        );
        assert!(!format!("{uri:?}").contains("s3cr"));
        // A printed URI pasted back is refused, never tried as a wrong PIN.
        assert!(Pkcs11Uri::parse(&shown).is_err());
    }

    #[test]
    fn display_round_trips_without_a_pin() {
        let text = "pkcs11:token=a%2Bb;model=m;object=o;slot-id=3;library-version=2.40;id=%00%FF;type=private?module-path=/m.so&pin-source=/p";
        let uri = Pkcs11Uri::parse(text).expect("parses");
        let again = Pkcs11Uri::parse(&uri.to_string()).expect("reparses");
        assert_eq!(again.to_string(), uri.to_string());
        assert_eq!(again.library_version, Some((2, 40)));
        assert_eq!(again.token.as_deref(), Some("a+b"));
    }

    #[test]
    fn is_pkcs11_uri_checks_the_scheme_only() {
        assert!(Pkcs11Uri::is_pkcs11_uri("pkcs11:"));
        assert!(Pkcs11Uri::is_pkcs11_uri("Pkcs11:token=x"));
        assert!(!Pkcs11Uri::is_pkcs11_uri("release.key"));
        assert!(!Pkcs11Uri::is_pkcs11_uri("pkcs11"));
        assert!(!Pkcs11Uri::is_pkcs11_uri("é"));
    }
}
