//! Opening a key on a token: the module, the one token the URI names, login, the one private
//! key and its public half; then signing through the token.

use std::path::PathBuf;
use std::sync::Mutex;

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Slot, TokenInfo};
use der::Decode;
use sha2::{Digest, Sha256};

use crate::error::{code_name, function_name};
use crate::pin::Pin;
use crate::public::{KeyAlgorithm, PublicKeyInfo};
use crate::uri::{PinSpec, Pkcs11Uri};
use crate::{Pkcs11Error, module};

/// How many private keys an error message lists when none matches.
const LISTED_KEYS: usize = 20;
/// The largest certificate read from a token, in bytes.
const MAX_CERTIFICATE_LEN: usize = 64 * 1024;

/// What the caller supplies besides the URI: the module and PIN when the URI does not give them.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Used when the URI has no `module-path`.
    pub module_path: Option<PathBuf>,
    /// Used when the URI has neither `pin-value` nor `pin-source`.
    pub pin: Option<Pin>,
}

impl OpenOptions {
    /// From the environment, as cosign reads it: `VOUCH_PKCS11_MODULE_PATH` (else
    /// `COSIGN_PKCS11_MODULE_PATH`) and `VOUCH_PKCS11_PIN` (else `COSIGN_PKCS11_PIN`). Empty
    /// values count as unset.
    pub fn from_env() -> Self {
        let var = |names: [&str; 2]| {
            names
                .into_iter()
                .filter_map(std::env::var_os)
                .find(|value| !value.is_empty())
        };
        OpenOptions {
            module_path: var(["VOUCH_PKCS11_MODULE_PATH", "COSIGN_PKCS11_MODULE_PATH"])
                .map(PathBuf::from),
            pin: var(["VOUCH_PKCS11_PIN", "COSIGN_PKCS11_PIN"])
                .map(|pin| Pin::new(pin.into_encoded_bytes())),
        }
    }
}

/// A private key on a token, ready to sign. `Send` and `Sync`: signatures are made one at a
/// time through one session.
pub struct Pkcs11Signer {
    session: Mutex<Session>,
    key: ObjectHandle,
    public: PublicKeyInfo,
    description: String,
    token: String,
}

/// The token the URI names, with a session open on it (logged in if a PIN was needed or given).
struct OpenToken {
    session: Session,
    slot: Slot,
    module: Pkcs11,
    /// For messages: `token "ci" (serial 1a2b, slot 3)`.
    description: String,
}

impl Pkcs11Signer {
    /// Open the key `uri` names: load the module, find exactly one matching token, log in,
    /// find exactly one matching private key with its public key (or certificate), and check
    /// the token can sign with it.
    pub fn open(uri: &Pkcs11Uri, options: &OpenOptions) -> Result<Self, Pkcs11Error> {
        let pin = resolve_pin(uri, options)?;
        let token = open_token(uri, options, pin.as_ref(), true)?;
        let wanted = uri.describe_key();
        let key = find_one(&token, ObjectClass::PRIVATE_KEY, &selector(uri), &wanted)?.ok_or_else(
            || Pkcs11Error::KeyNotFound {
                wanted: wanted.clone(),
                available: list_private_keys(&token.session),
            },
        )?;
        let attributes = token
            .session
            .get_attributes(
                key,
                &[
                    AttributeType::KeyType,
                    AttributeType::Sign,
                    AttributeType::AlwaysAuthenticate,
                    AttributeType::Id,
                    AttributeType::EcParams,
                ],
            )
            .map_err(|e| token_error(&token, &e, "C_GetAttributeValue"))?;
        let mut key_type = None;
        let mut private_id = Vec::new();
        let mut private_params = None;
        for attribute in attributes {
            match attribute {
                Attribute::KeyType(t) => key_type = Some(t),
                Attribute::Sign(false) => {
                    return Err(Pkcs11Error::KeyUnusable {
                        wanted,
                        reason: "its CKA_SIGN attribute is false: the token will not sign with it"
                            .into(),
                    });
                }
                Attribute::AlwaysAuthenticate(true) => {
                    return Err(Pkcs11Error::KeyUnusable {
                        wanted,
                        reason: "it needs the PIN again for every signature (CKA_ALWAYS_AUTHENTICATE), which vouch does not support; use a key without that policy".into(),
                    });
                }
                Attribute::Id(id) => private_id = id,
                Attribute::EcParams(params) => private_params = Some(params),
                _ => {}
            }
        }
        let expected = match key_type {
            Some(KeyType::EC) => KeyAlgorithm::EcdsaP256,
            Some(KeyType::EC_EDWARDS) => KeyAlgorithm::Ed25519,
            Some(other) => {
                return Err(Pkcs11Error::UnsupportedKey {
                    wanted,
                    found: format!("a {other} key"),
                });
            }
            None => {
                return Err(Pkcs11Error::MalformedAttribute {
                    wanted,
                    attribute: "CKA_KEY_TYPE",
                    reason: "the token does not give it".into(),
                });
            }
        };
        let (public, public_params) = find_public(&token, uri, &private_id, &wanted)?;
        if public.algorithm() != expected {
            return Err(Pkcs11Error::UnsupportedKey {
                wanted,
                found: format!(
                    "a {} private key whose public key is {}",
                    expected,
                    public.algorithm()
                ),
            });
        }
        if let (Some(private), Some(public)) = (private_params, public_params)
            && private != public
        {
            return Err(Pkcs11Error::MalformedAttribute {
                wanted,
                attribute: "CKA_EC_PARAMS",
                reason: "the private and public key name different curves".into(),
            });
        }
        let mechanism = match expected {
            KeyAlgorithm::EcdsaP256 => (MechanismType::ECDSA, "CKM_ECDSA"),
            KeyAlgorithm::Ed25519 => (MechanismType::EDDSA, "CKM_EDDSA"),
        };
        let offered = token
            .module
            .get_mechanism_info(token.slot, mechanism.0)
            .map(|info| info.sign());
        match offered {
            Ok(true) => {}
            Ok(false) | Err(Error::Pkcs11(RvError::MechanismInvalid, _)) => {
                return Err(Pkcs11Error::MechanismUnsupported {
                    token: token.description,
                    mechanism: mechanism.1,
                });
            }
            Err(e) => return Err(token_error(&token, &e, "C_GetMechanismInfo")),
        }
        Ok(Pkcs11Signer {
            key,
            public,
            description: wanted,
            token: token.description,
            session: Mutex::new(token.session),
        })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.public.algorithm()
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKeyInfo {
        &self.public
    }

    /// The public key as DER SubjectPublicKeyInfo.
    pub fn public_key_spki_der(&self) -> Vec<u8> {
        self.public.spki_der().to_vec()
    }

    /// The public key as PEM (`PUBLIC KEY`), the content of a `.pub` file.
    pub fn public_key_pem(&self) -> String {
        self.public.to_pem()
    }

    /// vouch's key id: lowercase hex SHA-256 of the SPKI DER.
    pub fn key_id(&self) -> String {
        self.public.key_id()
    }

    /// The key, described for messages: `key "release" (id 01) on token "ci"`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Sign `message` as cosign does: ECDSA P-256 over its SHA-256 (`CKM_ECDSA` on the digest,
    /// the token's r||s returned as DER), or pure Ed25519 (`CKM_EDDSA`). Each signature is
    /// checked against the public key before it is returned.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Pkcs11Error> {
        let session = self
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let raw = match self.public.algorithm() {
            KeyAlgorithm::EcdsaP256 => {
                let digest = Sha256::digest(message);
                session.sign(&Mechanism::Ecdsa, self.key, &digest)
            }
            KeyAlgorithm::Ed25519 => session.sign(
                &Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                self.key,
                message,
            ),
        }
        .map_err(|e| Pkcs11Error::Token {
            token: self.token.clone(),
            operation: function_name(&e, "C_Sign"),
            code: code_name(&e),
        })?;
        self.public
            .finish_signature(message, &raw)
            .ok_or_else(|| Pkcs11Error::SignatureCheck {
                wanted: self.description.clone(),
            })
    }
}

impl std::fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("key", &self.description)
            .field("algorithm", &self.public.algorithm())
            .field("key_id", &self.public.key_id())
            .finish()
    }
}

/// The public half of the key `uri` names, without its private key: for `key id` and
/// `verify`. Logs in only when a PIN is given (some tokens show public objects only then).
pub fn load_public_key(
    uri: &Pkcs11Uri,
    options: &OpenOptions,
) -> Result<PublicKeyInfo, Pkcs11Error> {
    let pin = resolve_pin(uri, options)?;
    let token = open_token(uri, options, pin.as_ref(), false)?;
    let wanted = uri.describe_key();
    find_public(&token, uri, &[], &wanted).map(|(public, _)| public)
}

/// The PIN: the URI's `pin-value` or `pin-source`, else the caller's.
fn resolve_pin(uri: &Pkcs11Uri, options: &OpenOptions) -> Result<Option<Pin>, Pkcs11Error> {
    match &uri.pin {
        Some(PinSpec::Value(pin)) => Ok(Some(pin.clone())),
        Some(PinSpec::Source(source)) => Pin::from_source(source).map(Some),
        None => Ok(options.pin.clone()),
    }
}

fn open_token(
    uri: &Pkcs11Uri,
    options: &OpenOptions,
    pin: Option<&Pin>,
    login_required: bool,
) -> Result<OpenToken, Pkcs11Error> {
    let path = uri
        .module_path
        .clone()
        .or_else(|| options.module_path.clone())
        .ok_or(Pkcs11Error::ModuleNotGiven)?;
    let module = module::load(&path)?;
    check_library(&module, uri, &path)?;
    let wanted = uri.describe_token();
    let slots = module
        .get_slots_with_initialized_token()
        .map_err(|e| Pkcs11Error::ModuleLoad {
            path: path.clone(),
            reason: format!("C_GetSlotList: {}", code_name(&e)),
        })?;
    let mut available = Vec::new();
    let mut matching = Vec::new();
    for slot in slots {
        let Ok(info) = module.get_token_info(slot) else {
            continue;
        };
        let description = describe(&info, slot);
        if token_matches(&module, uri, slot, &info) {
            matching.push((slot, info, description.clone()));
        }
        available.push(description);
    }
    let (slot, info, description) = match matching.len() {
        0 => return Err(Pkcs11Error::TokenNotFound { wanted, available }),
        1 => matching.remove(0),
        _ => {
            return Err(Pkcs11Error::AmbiguousToken {
                wanted,
                matching: matching.into_iter().map(|(_, _, d)| d).collect(),
            });
        }
    };
    let session = module
        .open_ro_session(slot)
        .map_err(|e| Pkcs11Error::Token {
            token: description.clone(),
            operation: "C_OpenSession".into(),
            code: code_name(&e),
        })?;
    let token = OpenToken {
        session,
        slot,
        module,
        description,
    };
    login(&token, &info, pin, login_required)?;
    Ok(token)
}

fn check_library(
    module: &Pkcs11,
    uri: &Pkcs11Uri,
    path: &std::path::Path,
) -> Result<(), Pkcs11Error> {
    if uri.library_manufacturer.is_none()
        && uri.library_description.is_none()
        && uri.library_version.is_none()
    {
        return Ok(());
    }
    let info = module
        .get_library_info()
        .map_err(|e| Pkcs11Error::ModuleLoad {
            path: path.to_path_buf(),
            reason: format!("C_GetInfo: {}", code_name(&e)),
        })?;
    let version = info.library_version();
    let ok = uri
        .library_manufacturer
        .as_deref()
        .is_none_or(|m| m == info.manufacturer_id())
        && uri
            .library_description
            .as_deref()
            .is_none_or(|d| d == info.library_description())
        && uri
            .library_version
            .is_none_or(|v| v == (version.major(), version.minor()));
    if ok {
        Ok(())
    } else {
        Err(Pkcs11Error::LibraryMismatch {
            path: path.to_path_buf(),
            found: format!(
                "{:?} by {:?}, version {}.{}",
                info.library_description(),
                info.manufacturer_id(),
                version.major(),
                version.minor()
            ),
        })
    }
}

fn token_matches(module: &Pkcs11, uri: &Pkcs11Uri, slot: Slot, info: &TokenInfo) -> bool {
    let text = |wanted: &Option<String>, found: &str| wanted.as_deref().is_none_or(|w| w == found);
    if !(text(&uri.token, info.label())
        && text(&uri.manufacturer, info.manufacturer_id())
        && text(&uri.model, info.model())
        && text(&uri.serial, info.serial_number())
        && uri.slot_id.is_none_or(|id| id == slot.id()))
    {
        return false;
    }
    if uri.slot_description.is_none() && uri.slot_manufacturer.is_none() {
        return true;
    }
    module.get_slot_info(slot).is_ok_and(|slot_info| {
        text(&uri.slot_description, slot_info.slot_description())
            && text(&uri.slot_manufacturer, slot_info.manufacturer_id())
    })
}

fn describe(info: &TokenInfo, slot: Slot) -> String {
    format!(
        "token {:?} (serial {}, slot {})",
        info.label(),
        info.serial_number(),
        slot.id()
    )
}

fn login(
    token: &OpenToken,
    info: &TokenInfo,
    pin: Option<&Pin>,
    required: bool,
) -> Result<(), Pkcs11Error> {
    let result = match pin {
        Some(pin) => {
            let secret = secrecy::SecretBox::new(Box::new(pin.expose().to_vec()));
            token.session.login_with_raw(UserType::User, &secret)
        }
        None if !required || !info.login_required() => return Ok(()),
        None if info.protected_authentication_path() => token.session.login(UserType::User, None),
        None => {
            return Err(Pkcs11Error::PinRequired {
                token: token.description.clone(),
            });
        }
    };
    match result {
        Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(Error::Pkcs11(
            RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange,
            _,
        )) => Err(Pkcs11Error::WrongPin {
            token: token.description.clone(),
        }),
        Err(Error::Pkcs11(RvError::PinLocked, _)) => Err(Pkcs11Error::PinLocked {
            token: token.description.clone(),
        }),
        Err(e) => Err(token_error(token, &e, "C_Login")),
    }
}

fn token_error(token: &OpenToken, error: &Error, operation: &str) -> Pkcs11Error {
    Pkcs11Error::Token {
        token: token.description.clone(),
        operation: function_name(error, operation),
        code: code_name(error),
    }
}

/// The URI's `id` and `object` as a search template.
fn selector(uri: &Pkcs11Uri) -> Vec<Attribute> {
    let mut template = Vec::new();
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    template
}

/// The one object of `class` matching `selector`; two or more is an error, never a guess.
fn find_one(
    token: &OpenToken,
    class: ObjectClass,
    selector: &[Attribute],
    wanted: &str,
) -> Result<Option<ObjectHandle>, Pkcs11Error> {
    let mut template = vec![Attribute::Class(class)];
    template.extend_from_slice(selector);
    let found: Vec<ObjectHandle> = token
        .session
        .iter_objects(&template)
        .and_then(|objects| objects.take(2).collect())
        .map_err(|e| token_error(token, &e, "C_FindObjects"))?;
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(Pkcs11Error::AmbiguousKey {
            wanted: wanted.to_string(),
        }),
    }
}

/// Labels and ids of the token's private keys, for an error message.
fn list_private_keys(session: &Session) -> Vec<String> {
    let Ok(objects) = session.iter_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)]) else {
        return Vec::new();
    };
    let handles: Vec<ObjectHandle> = objects.take(LISTED_KEYS).filter_map(Result::ok).collect();
    handles
        .into_iter()
        .map(|handle| {
            let attributes = session
                .get_attributes(handle, &[AttributeType::Label, AttributeType::Id])
                .unwrap_or_default();
            let mut label = String::new();
            let mut id = String::new();
            for attribute in attributes {
                match attribute {
                    Attribute::Label(l) => label = String::from_utf8_lossy(&l).into_owned(),
                    Attribute::Id(i) => id = hex::encode(i),
                    _ => {}
                }
            }
            format!("{label:?} (id {id})")
        })
        .collect()
}

/// The key's public half: a public key object with the URI's id/label, else one with the
/// private key's id, else a certificate found the same ways. Returns the curve parameters of a
/// public key object too, to compare with the private key's.
fn find_public(
    token: &OpenToken,
    uri: &Pkcs11Uri,
    private_id: &[u8],
    wanted: &str,
) -> Result<(PublicKeyInfo, Option<Vec<u8>>), Pkcs11Error> {
    let mut selectors = vec![selector(uri)];
    if uri.id.is_none() && !private_id.is_empty() {
        selectors.push(vec![Attribute::Id(private_id.to_vec())]);
    }
    for selector in &selectors {
        if let Some(handle) = find_one(token, ObjectClass::PUBLIC_KEY, selector, wanted)? {
            return public_from_key_object(token, handle, wanted);
        }
    }
    for selector in &selectors {
        if let Some(handle) = find_one(token, ObjectClass::CERTIFICATE, selector, wanted)? {
            return public_from_certificate(token, handle, wanted).map(|public| (public, None));
        }
    }
    Err(Pkcs11Error::PublicKeyNotFound {
        wanted: wanted.to_string(),
    })
}

fn public_from_key_object(
    token: &OpenToken,
    handle: ObjectHandle,
    wanted: &str,
) -> Result<(PublicKeyInfo, Option<Vec<u8>>), Pkcs11Error> {
    let attributes = token
        .session
        .get_attributes(
            handle,
            &[
                AttributeType::KeyType,
                AttributeType::EcParams,
                AttributeType::EcPoint,
            ],
        )
        .map_err(|e| token_error(token, &e, "C_GetAttributeValue"))?;
    let (mut key_type, mut params, mut point) = (None, None, None);
    for attribute in attributes {
        match attribute {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    match key_type {
        Some(KeyType::EC | KeyType::EC_EDWARDS) => {}
        Some(other) => {
            return Err(Pkcs11Error::UnsupportedKey {
                wanted: wanted.to_string(),
                found: format!("a {other} key"),
            });
        }
        None => {}
    }
    let malformed = |attribute: &'static str, reason: String| Pkcs11Error::MalformedAttribute {
        wanted: wanted.to_string(),
        attribute,
        reason,
    };
    let params = params.ok_or_else(|| malformed("CKA_EC_PARAMS", "missing".into()))?;
    let point = point.ok_or_else(|| malformed("CKA_EC_POINT", "missing".into()))?;
    let public = PublicKeyInfo::from_ec_attributes(&params, &point).map_err(|reason| {
        if reason.starts_with("curve") {
            Pkcs11Error::UnsupportedKey {
                wanted: wanted.to_string(),
                found: format!("an EC key on {reason}"),
            }
        } else {
            malformed("public key", reason)
        }
    })?;
    Ok((public, Some(params)))
}

fn public_from_certificate(
    token: &OpenToken,
    handle: ObjectHandle,
    wanted: &str,
) -> Result<PublicKeyInfo, Pkcs11Error> {
    let malformed = |reason: String| Pkcs11Error::MalformedAttribute {
        wanted: wanted.to_string(),
        attribute: "certificate CKA_VALUE",
        reason,
    };
    let value = token
        .session
        .get_attributes(handle, &[AttributeType::Value])
        .map_err(|e| token_error(token, &e, "C_GetAttributeValue"))?
        .into_iter()
        .find_map(|attribute| match attribute {
            Attribute::Value(v) => Some(v),
            _ => None,
        })
        .ok_or_else(|| malformed("missing".into()))?;
    if value.len() > MAX_CERTIFICATE_LEN {
        return Err(malformed(format!(
            "{} bytes; at most {MAX_CERTIFICATE_LEN} are read",
            value.len()
        )));
    }
    let certificate =
        x509_cert::Certificate::from_der(&value).map_err(|e| malformed(e.to_string()))?;
    let spki = der::Encode::to_der(certificate.tbs_certificate().subject_public_key_info())
        .map_err(|e| malformed(e.to_string()))?;
    PublicKeyInfo::from_spki_der(&spki).map_err(|found| Pkcs11Error::UnsupportedKey {
        wanted: wanted.to_string(),
        found,
    })
}
