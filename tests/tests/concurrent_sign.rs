//! Many `vouch sign` processes adding signatures to one image at once must all end up
//! stored: Distribution has no conditional PUT, so vouch re-reads and re-merges.

use vouch_e2e::{Registry, TestImage, keygen, sign_concurrently, verify};

const SIGNERS: usize = 16;
const REPEATS: usize = 20;

#[test]
fn sixteen_concurrent_signers_twenty_times_lose_nothing() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let keys: Vec<_> = (0..SIGNERS)
        .map(|i| {
            keygen(
                dir.path(),
                &format!("k{i}"),
                if i % 2 == 0 { "ecdsa-p256" } else { "ed25519" },
            )
        })
        .collect();
    let mut counts = Vec::new();
    let started = std::time::Instant::now();
    for round in 0..REPEATS {
        let img = TestImage::new(&format!("concurrent round {round}"));
        img.push(&reg, "race", &format!("r{round}"));
        let reference = format!("{}@{}", reg.image("race"), img.digest());
        let private: Vec<&std::path::Path> = keys.iter().map(|(k, _)| k.as_path()).collect();
        sign_concurrently(&reference, &private, &[], &format!("round {round}"));
        let count = reg.signature_count("race", img.digest());
        counts.push(count);
        assert_eq!(count, SIGNERS, "round {round}: signatures lost");
        // And every one of them verifies under its own key.
        let publics: Vec<&std::path::Path> = keys.iter().map(|(_, p)| p.as_path()).collect();
        let report = verify(&reference, &publics, &["--output", "json"]).json();
        let verified = report["images"][0]["signatures"]
            .as_array()
            .expect("signatures")
            .iter()
            .filter(|s| s["verdict"] == "verified")
            .count();
        assert_eq!(verified, SIGNERS, "round {round}");
    }
    println!(
        "{REPEATS} rounds x {SIGNERS} concurrent signers: signature counts {counts:?} ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
}
