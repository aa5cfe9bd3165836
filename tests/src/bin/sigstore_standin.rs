//! Runs the local Sigstore stand-in until stdin closes, printing shell exports for its URLs,
//! an identity token and cosign's environment: for trying clients against it by hand.
//!
//! `cargo run -p vouch-e2e --bin sigstore_standin > /tmp/standin.env` then
//! `. /tmp/standin.env` in another shell.

use vouch_e2e::sigstore::Sigstore;

fn main() {
    let sigstore = Sigstore::start();
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    println!("export STANDIN_FULCIO={}", quote(sigstore.fulcio_url()));
    println!("export STANDIN_REKOR={}", quote(sigstore.rekor_url()));
    println!("export STANDIN_TSA={}", quote(&sigstore.tsa_url()));
    println!("export STANDIN_ISSUER={}", quote(sigstore.oidc_issuer()));
    println!(
        "export STANDIN_TRUSTED_ROOT={}",
        quote(&sigstore.trusted_root_path().display().to_string())
    );
    println!(
        "export STANDIN_SIGNING_CONFIG={}",
        quote(&sigstore.signing_config_path().display().to_string())
    );
    println!(
        "export STANDIN_EMAIL_TOKEN={}",
        quote(&sigstore.email_token("alice@example.com"))
    );
    let workflow = "https://github.com/example/repo/.github/workflows/release.yml@refs/heads/main";
    println!(
        "export STANDIN_URI_TOKEN={}",
        quote(&sigstore.token(workflow))
    );
    for (k, v) in sigstore.cosign_env() {
        println!("export {k}={}", quote(&v));
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let mut sink = String::new();
    while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {
        sink.clear();
    }
}
