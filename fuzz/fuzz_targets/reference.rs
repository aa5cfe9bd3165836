//! Image references: any string parses or is refused, and what parses prints back to a
//! string that parses to the same reference (reports and `.sig` tags are built from it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vouch_oci::reference::{self, ImageRef};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = reference::parse(text) else {
        return;
    };
    let shown = parsed.to_string();
    let again = reference::parse(&shown)
        .unwrap_or_else(|e| panic!("{text:?} parsed but its display {shown:?} does not: {e}"));
    assert_eq!(parsed, again, "{text:?} -> {shown:?} changed on re-parsing");

    // What the signing path derives from a reference must not panic either.
    let _ = parsed.default_identity();
    let _ = parsed.repository_display();
    if let ImageRef::Registry(r) = &parsed {
        let _ = r.api_host();
        // Policies and payloads name the repository; it must be a parsable reference too.
        let repo = r.repository_name();
        let reparsed = reference::parse(&repo)
            .unwrap_or_else(|e| panic!("repository name {repo:?} of {text:?} does not parse: {e}"));
        assert_eq!(reparsed.repository_display(), repo);
    }
    if let Some(digest) = parsed.digest() {
        let pinned = parsed.pinned_display(digest);
        let pinned_ref = reference::parse(&pinned)
            .unwrap_or_else(|e| panic!("pinned form {pinned:?} of {text:?} does not parse: {e}"));
        assert_eq!(pinned_ref.digest(), Some(digest));
        assert_eq!(digest.signature_tag().len(), "sha256-.sig".len() + 64);
    }
});
