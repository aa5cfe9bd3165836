//! The simple-signing payload: attacker-supplied bytes from a registry. Parsing must refuse or
//! accept without panicking, and an accepted payload rebuilt by vouch must read back the same.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use vouch_oci::payload;

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = payload::parse(data) else {
        return;
    };
    // vouch signs only string annotations; other JSON values are read but never written.
    let strings: Option<BTreeMap<String, String>> = parsed
        .optional
        .iter()
        .map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect();
    let Some(annotations) = strings else {
        return;
    };
    let rebuilt = payload::build(&parsed.docker_reference, &parsed.digest, &annotations);
    let again = payload::parse(&rebuilt).expect("a payload vouch builds parses");
    assert_eq!(again, parsed);
    for key in annotations.keys() {
        assert_eq!(again.annotation(key), parsed.annotation(key));
    }
});
