//! An `.att` layer: a DSSE envelope and the in-toto statement inside it, attacker-supplied
//! bytes from a registry. Reading must refuse or accept without panicking; an accepted
//! statement rebuilt by vouch reads back about the same digest with the same predicate.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vouch_attest::statement;
use vouch_oci::reference::Digest;

fuzz_target!(|data: &[u8]| {
    // The input both as an envelope and as a bare statement.
    let _ = vouch_attest::fuzz_read(data);
    let Ok(parsed) = statement::parse(data) else {
        return;
    };
    let _ = parsed.attested_time();
    let digest = Digest::of(data);
    let rebuilt = statement::build("fuzz/repo", &digest, &parsed.predicate_type, &parsed.predicate);
    let again = statement::parse(&rebuilt).expect("a statement vouch builds parses");
    assert!(again.is_about(&digest));
    assert_eq!(again.predicate, parsed.predicate);
    assert_eq!(again.predicate_type, parsed.predicate_type);
});
