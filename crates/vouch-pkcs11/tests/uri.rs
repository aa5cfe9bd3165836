//! `pkcs11:` URIs: what is accepted, what is refused and with which error, and that no error,
//! `Debug` or `Display` ever shows the PIN.

use vouch_pkcs11::{PinSpec, Pkcs11Uri, UriError};

/// Planted in every URI below that carries a PIN; must never appear in any output.
const PIN: &str = "Zq7pin";

#[test]
fn malformed_uris_give_the_right_error_and_never_the_pin() {
    use UriError::*;
    let m = "module-path=/m.so";
    let long = format!("pkcs11:token=t;object={}", "a".repeat(5000));
    #[allow(clippy::type_complexity)]
    let table: Vec<(String, fn(&UriError) -> bool)> = vec![
        ("token=t;object=k".into(), |e| matches!(e, NotPkcs11)),
        ("pkcs11".into(), |e| matches!(e, NotPkcs11)),
        (long, |e| matches!(e, TooLong { .. })),
        ("pkcs11:token=t;object=k#frag".into(), |e| {
            matches!(e, Fragment)
        }),
        ("pkcs11:token=t;;object=k".into(), |e| {
            matches!(e, EmptyAttribute { component: "path" })
        }),
        ("pkcs11:token=t;object=k;".into(), |e| {
            matches!(e, EmptyAttribute { component: "path" })
        }),
        (format!("pkcs11:token=t;object=k?{m}&"), |e| {
            matches!(e, EmptyAttribute { component: "query" })
        }),
        ("pkcs11:token=t;object=k?".into(), |e| {
            matches!(e, EmptyAttribute { component: "query" })
        }),
        ("pkcs11:token;object=k".into(), |e| {
            matches!(e, MissingEquals { .. })
        }),
        ("pkcs11:token=t;label=k".into(), |e| {
            matches!(
                e,
                UnknownAttribute {
                    component: "path",
                    ..
                }
            )
        }),
        ("pkcs11:token=t;object=k;x-vendor=1".into(), |e| {
            matches!(e, UnknownAttribute { .. })
        }),
        (format!("pkcs11:token=t;object=k?{m}&pin={PIN}"), |e| {
            matches!(
                e,
                UnknownAttribute {
                    component: "query",
                    ..
                }
            )
        }),
        (format!("pkcs11:token=t;object=k?{m}&pin-value{PIN}"), |e| {
            matches!(e, MissingEquals { .. })
        }),
        ("pkcs11:token=t;token=u;object=k".into(), |e| {
            matches!(e, Duplicate { name: "token" })
        }),
        ("pkcs11:token=t;object=k;id=%01;id=%02".into(), |e| {
            matches!(e, Duplicate { name: "id" })
        }),
        (format!("pkcs11:token=t;object=k?{m}&{m}"), |e| {
            matches!(
                e,
                Duplicate {
                    name: "module-path"
                }
            )
        }),
        (
            format!("pkcs11:token=t;object=k?pin-value={PIN}&pin-value={PIN}"),
            |e| matches!(e, Duplicate { name: "pin-value" }),
        ),
        ("pkcs11:token=my token;object=k".into(), |e| {
            matches!(e, InvalidCharacter { name: "token", .. })
        }),
        ("pkcs11:token=a+b;object=k".into(), |e| {
            matches!(e, InvalidCharacter { name: "token", .. })
        }),
        ("pkcs11:token=a&b;object=k".into(), |e| {
            matches!(e, InvalidCharacter { name: "token", .. })
        }),
        (
            "pkcs11:token=t;object=k?module-path=/opt/c++/m.so".into(),
            |e| {
                matches!(
                    e,
                    InvalidCharacter {
                        name: "module-path",
                        ..
                    }
                )
            },
        ),
        ("pkcs11:token=t;object=k%2".into(), |e| {
            matches!(e, BadPercentEncoding { name: "object" })
        }),
        ("pkcs11:token=t;object=k%zz".into(), |e| {
            matches!(e, BadPercentEncoding { name: "object" })
        }),
        ("pkcs11:token=%ff;object=k".into(), |e| {
            matches!(e, NotUtf8 { name: "token" })
        }),
        ("pkcs11:token=;object=k".into(), |e| {
            matches!(e, EmptyValue { name: "token" })
        }),
        ("pkcs11:token=t;object=k?pin-value=".into(), |e| {
            matches!(e, BadPinValue { .. })
        }),
        (format!("pkcs11:token=t;object=k?pin-value={PIN}%4"), |e| {
            matches!(e, BadPinValue { .. })
        }),
        (format!("pkcs11:token=t;object=k?pin-value={PIN}+1"), |e| {
            matches!(e, BadPinValue { .. })
        }),
        (format!("pkcs11:token=t;object=k?pin-value={PIN} 1"), |e| {
            matches!(e, BadPinValue { .. })
        }),
        ("pkcs11:slot-id=x1;object=k".into(), |e| {
            matches!(e, InvalidSlotId { .. })
        }),
        ("pkcs11:slot-id=-1;object=k".into(), |e| {
            matches!(e, InvalidSlotId { .. })
        }),
        (
            "pkcs11:slot-id=99999999999999999999999;object=k".into(),
            |e| matches!(e, InvalidSlotId { .. }),
        ),
        ("pkcs11:token=t;object=k;library-version=1.x".into(), |e| {
            matches!(e, InvalidLibraryVersion { .. })
        }),
        ("pkcs11:token=t;object=k;library-version=256".into(), |e| {
            matches!(e, InvalidLibraryVersion { .. })
        }),
        ("pkcs11:token=t;object=k;type=secret-key".into(), |e| {
            matches!(e, InvalidType { .. })
        }),
        (
            format!("pkcs11:token=t;object=k?pin-value={PIN}&pin-source=/p"),
            |e| matches!(e, BothPinValueAndSource),
        ),
        (
            format!("pkcs11:token=t;object=k?pin-source=/p&pin-value={PIN}"),
            |e| matches!(e, BothPinValueAndSource),
        ),
        ("pkcs11:token=t;object=k?module-name=softhsm2".into(), |e| {
            matches!(e, ModuleNameUnsupported)
        }),
        ("pkcs11:token=t;object=k?module-path=lib/m.so".into(), |e| {
            matches!(e, ModulePathNotAbsolute { .. })
        }),
        (format!("pkcs11:token=t?{m}&pin-value={PIN}"), |e| {
            matches!(e, NoKeySelector)
        }),
        (format!("pkcs11:object=k?{m}&pin-value={PIN}"), |e| {
            matches!(e, NoTokenSelector)
        }),
        ("pkcs11:".into(), |e| matches!(e, NoKeySelector)),
    ];
    for (text, expected) in &table {
        let err = Pkcs11Uri::parse(text).expect_err(text);
        assert!(expected(&err), "{text}: got {err:?}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(PIN), "{text}: PIN in {shown}");
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn accepted_uris_never_show_their_pin() {
    let text = format!(
        "pkcs11:token=ci;object=release;id=%01?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value={PIN}%21"
    );
    let uri = Pkcs11Uri::parse(&text).expect("parses");
    let shown = format!("{uri} {uri:?} {:?}", uri.pin);
    assert!(!shown.contains(PIN), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
    assert!(matches!(uri.pin, Some(PinSpec::Value(_))));
}

#[test]
fn names_and_values_decode_as_cosign_reads_them() {
    let uri = Pkcs11Uri::parse(
        "pkcs11:token=Ci%20Token;manufacturer=SoftHSM%20project;model=SoftHSM%20v2;serial=abc;slot-description=s;slot-manufacturer=sm;library-manufacturer=lm;library-description=ld;library-version=2;object=a=b;id=%00%ff%41;type=public?module-path=/m.so;pin-source=file:/run/pin",
    )
    .expect("parses");
    assert_eq!(uri.token.as_deref(), Some("Ci Token"));
    assert_eq!(uri.manufacturer.as_deref(), Some("SoftHSM project"));
    assert_eq!(uri.model.as_deref(), Some("SoftHSM v2"));
    assert_eq!(uri.serial.as_deref(), Some("abc"));
    assert_eq!(uri.library_version, Some((2, 0)));
    assert_eq!(uri.object.as_deref(), Some("a=b"));
    assert_eq!(uri.id.as_deref(), Some(&[0x00, 0xff, 0x41][..]));
    assert!(matches!(&uri.pin, Some(PinSpec::Source(p)) if p.as_os_str() == "file:/run/pin"));
}

#[test]
fn errors_for_unknown_names_do_not_echo_odd_text() {
    let err = Pkcs11Uri::parse("pkcs11:token=t;object=k;Some Thing=1").expect_err("refused");
    assert!(!err.to_string().contains("Some Thing"), "{err}");
    let err = Pkcs11Uri::parse("pkcs11:token=t;object=k;label=1").expect_err("refused");
    assert!(err.to_string().contains("\"label\""), "{err}");
    assert!(
        err.to_string().contains("object"),
        "lists the known names: {err}"
    );
}
