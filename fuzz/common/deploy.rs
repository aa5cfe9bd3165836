//! The round trip every deploy-file fuzz target checks: extraction never panics, spans stay
//! inside the input on character boundaries, and pinning every reference reads back pinned.

use vouch_deploy::rewrite::{apply, pin_edit};
use vouch_deploy::{Options, Site, extract};

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Extracts, checks every span, pins every finding and extracts again: the pinned file reads
/// back with the same findings, each now ending in the digest.
pub fn check(name: &str, data: &[u8], options: &Options) {
    let Ok(found) = extract(Some(name), data, options) else {
        return;
    };
    let mut edits = Vec::new();
    for f in &found.findings {
        if let Site::Text { span } | Site::Quoted { span } = f.site {
            assert!(
                span.start <= span.end && span.end <= data.len(),
                "span out of bounds"
            );
            let text = std::str::from_utf8(data).expect("extracted text is UTF-8");
            assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
        }
        let written = f.written.as_deref().unwrap_or(&f.image);
        match pin_edit(data, &f.site, written, DIGEST) {
            Ok(Some(e)) => edits.push(e),
            Ok(None) => {}
            Err(_) => return,
        }
    }
    let Ok(pinned) = apply(data, &edits) else {
        return;
    };
    let again = extract(Some(name), &pinned, options).unwrap_or_else(|e| {
        panic!(
            "pinned file no longer reads: {e}\n{}",
            String::from_utf8_lossy(&pinned)
        )
    });
    assert_eq!(
        again.findings.len(),
        found.findings.len(),
        "pinning changed the findings"
    );
    for f in &again.findings {
        assert!(f.image.ends_with(DIGEST), "{} not pinned", f.image);
    }
}
