//! What keyless signing reads from the network (`vouch-keyless`): the first byte picks the
//! parser (identity token, Fulcio answer, Rekor answer, TSA answer, signing config, Rekor v2
//! answer), the rest is its input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((kind, rest)) = data.split_first() {
        let _ = vouch_keyless::fuzz_answer(kind % 6, rest);
    }
});
