//! Differential gate for the library swaps: the hand-written parsers (copied here as they were)
//! and their replacements run over every test vector and fuzz seed, and over byte-flipped
//! mutants of the certificates and timestamps found there. Verdicts must agree except for the
//! differences listed in `EXPECTED`, each a case where the old code was wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod old_asn1;
mod old_calendar;
mod old_fulcio;
mod old_pem;
mod old_policy_time;
mod old_reference;
mod old_rfc3161;
mod old_sct;
mod old_time;
mod old_x509;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::trust_root::TimeRange;
use super::x509::{EKU_CODE_SIGNING, EKU_TIME_STAMPING};
use super::{TrustedRoot, UnixTime, fulcio, rfc3161, sct, x509};

/// A TSA or CA as the old code saw it (its own certificate type).
pub(crate) struct OldAuthority {
    pub(crate) uri: String,
    pub(crate) chain: Vec<old_x509::Certificate>,
    pub(crate) valid_for: TimeRange,
}

pub(crate) fn to_new(t: old_time::UnixTime) -> UnixTime {
    UnixTime::from_parts(t.secs(), t.subsec_nanos())
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    for d in ["tests/vectors", "fuzz/corpus", "fuzz/fixtures"] {
        walk(&repo().join(d), &mut out);
    }
    out
}

fn short(p: &Path) -> String {
    p.strip_prefix(repo()).unwrap_or(p).display().to_string()
}

/// What one file yields: DER blobs (certificate or timestamp candidates), time strings, and
/// (for bundles) the signature bytes a timestamp is over.
#[derive(Default)]
struct Harvest {
    ders: BTreeSet<Vec<u8>>,
    times: BTreeSet<String>,
    signatures: BTreeSet<Vec<u8>>,
    timestamps: BTreeSet<Vec<u8>>,
    pem_texts: BTreeSet<String>,
}

fn pem_blocks(text: &str, out: &mut BTreeSet<Vec<u8>>) {
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start..];
        let Some(body_start) = after.find("-----\n").or_else(|| after.find("-----\r\n")) else {
            break;
        };
        let body = &after[body_start + 5..];
        let Some(end) = body.find("-----END ") else {
            break;
        };
        let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
        if let Ok(der) = STANDARD.decode(b64) {
            out.insert(der);
        }
        rest = &body[end..];
        rest = rest.get(9..).unwrap_or("");
    }
}

fn time_strings(text: &str, out: &mut BTreeSet<String>) {
    let b = text.as_bytes();
    for i in 0..b.len().saturating_sub(11) {
        let looks = b[i..i + 4].iter().all(u8::is_ascii_digit)
            && b[i + 4] == b'-'
            && b[i + 7] == b'-'
            && matches!(b[i + 10], b'T' | b't' | b' ')
            && (i == 0 || !b[i - 1].is_ascii_digit());
        if looks {
            let end = text[i..]
                .find(['"', '\'', ',', '\n', ']', '}', '\\'])
                .map_or(text.len(), |e| i + e);
            out.insert(text[i..end.min(i + 48)].to_string());
        }
    }
}

fn harvest(bytes: &[u8], depth: u32, h: &mut Harvest) {
    if depth > 3 || bytes.is_empty() {
        return;
    }
    if bytes[0] == 0x30 && bytes.len() > 32 {
        h.ders.insert(bytes.to_vec());
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    pem_blocks(text, &mut h.ders);
    if depth > 0 && text.contains("-----BEGIN ") {
        h.pem_texts.insert(text.to_string());
    }
    time_strings(text, &mut h.times);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) {
        walk_json(&v, depth, h);
    }
}

fn walk_json(v: &serde_json::Value, depth: u32, h: &mut Harvest) {
    match v {
        serde_json::Value::String(s) => {
            if let Ok(raw) = STANDARD.decode(s) {
                harvest(&raw, depth + 1, h);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| walk_json(x, depth, h)),
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                let decoded = x.as_str().and_then(|s| STANDARD.decode(s).ok());
                match (k.as_str(), decoded) {
                    ("signedTimestamp", Some(raw)) => {
                        h.timestamps.insert(raw);
                    }
                    ("signature" | "sig", Some(raw)) => {
                        h.signatures.insert(raw);
                    }
                    _ => {}
                }
                walk_json(x, depth, h);
            }
        }
        _ => {}
    }
}

/// One disagreement: what, on which input (file and detail), old verdict, new verdict.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Difference {
    check: &'static str,
    source: String,
    detail: String,
    old: String,
    new: String,
}

fn verdict<T, E: std::fmt::Display>(r: &Result<T, E>) -> String {
    match r {
        Ok(_) => "accept".into(),
        Err(e) => format!("refuse ({e})"),
    }
}

struct Root {
    source: String,
    new: TrustedRoot,
    old_cas: Vec<OldAuthority>,
    old_tsas: Vec<OldAuthority>,
}

fn old_authorities(list: &[super::trust_root::Authority]) -> Vec<OldAuthority> {
    list.iter()
        .map(|a| OldAuthority {
            uri: a.uri.clone(),
            chain: a
                .chain
                .iter()
                .map(|c| old_x509::Certificate::from_der(&c.der).expect("old parses the root"))
                .collect(),
            valid_for: a.valid_for,
        })
        .collect()
}

#[test]
fn old_and_new_agree_on_every_vector_and_seed() {
    let mut diffs = Vec::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut certs: BTreeMap<Vec<u8>, String> = BTreeMap::new();
    let mut times: BTreeMap<String, String> = BTreeMap::new();
    let mut tokens: BTreeMap<Vec<u8>, (String, BTreeSet<Vec<u8>>)> = BTreeMap::new();
    let mut roots: Vec<Root> = Vec::new();
    let mut pem_texts: BTreeMap<String, String> = BTreeMap::new();
    let mut root_texts = BTreeSet::new();
    let message_1482 = std::fs::read(
        repo().join("tests/vectors/sigstore-python/test/assets/tsa/issue1482-message"),
    )
    .expect("message");

    for path in files() {
        let bytes = std::fs::read(&path).expect("read");
        let name = short(&path);
        let mut h = Harvest::default();
        harvest(&bytes, 0, &mut h);
        for text in h
            .pem_texts
            .iter()
            .chain(std::str::from_utf8(&bytes).ok().map(str::to_string).iter())
        {
            if text.contains("-----BEGIN ") {
                pem_texts
                    .entry(text.clone())
                    .or_insert_with(|| name.clone());
            }
        }
        for d in h.ders {
            certs.entry(d).or_insert_with(|| name.clone());
        }
        for t in h.times {
            times.entry(t).or_insert_with(|| name.clone());
        }
        let mut signatures = h.signatures;
        signatures.insert(message_1482.clone());
        signatures.insert(Vec::new());
        for t in h.timestamps {
            tokens
                .entry(t)
                .or_insert_with(|| (name.clone(), BTreeSet::new()))
                .1
                .extend(signatures.iter().cloned());
        }
        if name.contains("/tsa/") && !name.ends_with(".json") && !name.contains("message") {
            tokens
                .entry(bytes.clone())
                .or_insert_with(|| (name.clone(), BTreeSet::new()))
                .1
                .extend(signatures.iter().cloned());
        }
        if (name.contains("trusted_root") || name.contains("trusted-root"))
            && root_texts.insert(bytes.clone())
            && let Ok(new) = TrustedRoot::from_json(&bytes)
        {
            roots.push(Root {
                source: name.clone(),
                old_cas: old_authorities(&new.cas),
                old_tsas: old_authorities(&new.tsas),
                new,
            });
        }
    }

    // A v1 certificate that carries extensions (made from a vector by dropping the version).
    let bogus = std::fs::read_to_string(
        repo().join("tests/vectors/sigstore-python/test/assets/x509/bogus-leaf.pem"),
    )
    .expect("bogus leaf");
    let bogus = x509::pem_certificates(&bogus).expect("pem").remove(0);
    certs.insert(
        x509::tests::as_v1(&bogus),
        "crafted: bogus-leaf.pem as v1".into(),
    );

    // Times: the old bundle reader and the old policy reader against the one new reader.
    let crafted = [
        "2024-01-01T00:00:00+99:99",
        "2024-01-01T00:00:00+24:00",
        "2024-01-01T00:00:00-23:59",
        "2016-12-31T23:59:60Z",
        "2024-01-01T00:00:00.1234567891Z",
        "2024-02-30T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999999Z",
        "2024-01-01t00:00:00z",
    ];
    for c in crafted {
        times
            .entry(c.to_string())
            .or_insert_with(|| "crafted".into());
    }
    for (t, source) in &times {
        *counts.entry("rfc3339").or_default() += 1;
        let new = vouch_policy::parse_rfc3339(t);
        let new_bundle = UnixTime::parse_rfc3339(t);
        let old_bundle = old_time::UnixTime::parse_rfc3339(t);
        let old_policy = old_policy_time::Timestamp::parse_rfc3339(t);
        let new_policy = vouch_policy::Timestamp::parse_rfc3339(t);
        if old_bundle.is_some() != new_bundle.is_some()
            || old_bundle.map(to_new) != new_bundle.filter(|_| old_bundle.is_some())
        {
            diffs.push(Difference {
                check: "rfc3339 (bundle)",
                source: source.clone(),
                detail: t.clone(),
                old: format!("{:?}", old_bundle.map(|x| x.to_string())),
                new: format!(
                    "{:?}",
                    new.as_ref().map(|_| new_bundle.map(|x| x.to_string()))
                ),
            });
        }
        if old_policy.as_ref().ok().map(|x| x.unix()) != new_policy.as_ref().ok().map(|x| x.unix())
        {
            diffs.push(Difference {
                check: "rfc3339 (policy)",
                source: source.clone(),
                detail: t.clone(),
                old: verdict(&old_policy),
                new: verdict(&new_policy),
            });
        }
        if let (Ok(o), Ok(n)) = (&old_policy, &new_policy)
            && o.to_string() != n.to_string()
        {
            diffs.push(Difference {
                check: "rfc3339 display (policy)",
                source: source.clone(),
                detail: t.clone(),
                old: o.to_string(),
                new: n.to_string(),
            });
        }
    }

    // Certificates: parsing, the fields the verifier reads, identities.
    let mut parsed = Vec::new();
    for (der, source) in &certs {
        *counts.entry("der blobs (certificate parse)").or_default() += 1;
        let old = old_x509::Certificate::from_der(der);
        let new = x509::Certificate::from_der(der);
        if old.is_ok() != new.is_ok() {
            diffs.push(Difference {
                check: "certificate parse",
                source: source.clone(),
                detail: format!("{} bytes", der.len()),
                old: verdict(&old),
                new: verdict(&new),
            });
        }
        if let (Ok(o), Ok(n)) = (old, new) {
            *counts.entry("certificates").or_default() += 1;
            let same = o.tbs == n.tbs
                && o.issuer == n.issuer
                && o.subject == n.subject
                && o.spki == n.spki
                && to_new(o.not_before) == n.not_before
                && to_new(o.not_after) == n.not_after;
            if !same {
                diffs.push(Difference {
                    check: "certificate fields",
                    source: source.clone(),
                    detail: format!("{} bytes", der.len()),
                    old: "fields".into(),
                    new: "differ".into(),
                });
            }
            let (os, ns) = (old_fulcio::san_identities(&o), fulcio::san_identities(&n));
            if os.as_ref().ok() != ns.as_ref().ok() {
                diffs.push(Difference {
                    check: "SAN identities",
                    source: source.clone(),
                    detail: format!("{os:?}"),
                    old: verdict(&os),
                    new: format!("{ns:?}"),
                });
            }
            let (oi, ni) = (old_fulcio::oidc_issuer(&o), fulcio::oidc_issuer(&n));
            if oi.as_ref().ok() != ni.as_ref().ok() {
                diffs.push(Difference {
                    check: "OIDC issuer",
                    source: source.clone(),
                    detail: format!("{oi:?}"),
                    old: verdict(&oi),
                    new: format!("{ni:?}"),
                });
            }
            parsed.push((source.clone(), o, n));
        }
    }

    // Mutants: every byte of every certificate, flipped (low bit and high bit).
    for (source, o, _) in &parsed {
        for i in 0..o.der.len() {
            for mask in [0x01u8, 0x80] {
                let mut m = o.der.clone();
                m[i] ^= mask;
                *counts.entry("certificate mutants").or_default() += 1;
                let old = old_x509::Certificate::from_der(&m);
                let new = x509::Certificate::from_der(&m);
                if old.is_ok() != new.is_ok() {
                    diffs.push(Difference {
                        check: "certificate mutant parse",
                        source: source.clone(),
                        detail: format!("byte {i} ^ {mask:#04x}"),
                        old: verdict(&old),
                        new: verdict(&new),
                    });
                }
            }
        }
    }

    // Paths: every certificate against every trusted chain of every root, at three times.
    for (source, o, n) in &parsed {
        for root in &roots {
            let sets = [
                (&root.old_cas, &root.new.cas, &EKU_CODE_SIGNING),
                (&root.old_tsas, &root.new.tsas, &EKU_TIME_STAMPING),
            ];
            for (olds, news, eku) in sets {
                for (oa, na) in olds.iter().zip(news.iter()) {
                    let mid = n.not_before.secs() / 2 + n.not_after.secs() / 2;
                    for at in [n.not_before.secs(), mid, n.not_after.secs() + 1] {
                        *counts.entry("path validations").or_default() += 1;
                        let old = old_x509::verify_path(
                            o,
                            &oa.chain,
                            old_time::UnixTime::from_secs(at),
                            eku,
                        );
                        let new = x509::verify_path(n, &na.chain, UnixTime::from_secs(at), eku);
                        let (ov, nv) = (
                            old.as_ref().map(|c| c.der.clone()),
                            new.as_ref().map(|c| c.der.clone()),
                        );
                        if ov.is_ok() != nv.is_ok() || ov.as_ref().ok() != nv.as_ref().ok() {
                            diffs.push(Difference {
                                check: "certificate path",
                                source: source.clone(),
                                detail: format!("{} {} at {at}", root.source, na.uri),
                                old: verdict(&old),
                                new: verdict(&new),
                            });
                        }
                        // SCTs, with the issuer both agree on.
                        if let (Ok(oi), Ok(ni)) = (&old, &new)
                            && *eku == EKU_CODE_SIGNING
                            && at == mid
                        {
                            *counts.entry("SCT checks").or_default() += 1;
                            let os = old_sct::verify_embedded_scts(o, oi, &root.new.ctlogs);
                            let ns = sct::verify_embedded_scts(n, ni, &root.new.ctlogs);
                            if os.is_ok() != ns.is_ok() {
                                diffs.push(Difference {
                                    check: "SCT",
                                    source: source.clone(),
                                    detail: root.source.clone(),
                                    old: verdict(&os),
                                    new: verdict(&ns),
                                });
                            }
                        }
                    }
                }
            }
        }
    }

    let mut mutated = BTreeSet::new();
    // Timestamps: every token over every signature of its file, against every root's TSAs,
    // and byte-flipped mutants of each token over the signature it verifies with.
    for (token, (source, signatures)) in &tokens {
        for root in &roots {
            for signature in signatures {
                *counts.entry("timestamp verifications").or_default() += 1;
                let old = old_rfc3161::verify(token, signature, &root.old_tsas);
                let new = rfc3161::verify(token, signature, &root.new.tsas);
                let same_time = match (&old, &new) {
                    (Ok(o), Ok(n)) => to_new(o.time) == n.time && o.authority == n.authority,
                    _ => true,
                };
                if old.is_ok() != new.is_ok() || !same_time {
                    diffs.push(Difference {
                        check: "timestamp",
                        source: source.clone(),
                        detail: root.source.clone(),
                        old: verdict(&old),
                        new: verdict(&new),
                    });
                }
                if old.is_ok() && mutated.insert(token.clone()) {
                    for i in 0..token.len() {
                        let mut m = token.clone();
                        m[i] ^= 0x01;
                        *counts.entry("timestamp mutants").or_default() += 1;
                        let old = old_rfc3161::verify(&m, signature, &root.old_tsas);
                        let new = rfc3161::verify(&m, signature, &root.new.tsas);
                        if old.is_ok() != new.is_ok() {
                            diffs.push(Difference {
                                check: "timestamp mutant",
                                source: source.clone(),
                                detail: format!("{} byte {i}", root.source),
                                old: verdict(&old),
                                new: verdict(&new),
                            });
                        }
                    }
                }
            }
        }
    }

    // PEM: the first block (keys) and every certificate block, on each text and on mutants
    // of it (each byte with its low bit flipped).
    for (text, source) in &pem_texts {
        let mut inputs = vec![(text.clone(), "as is".to_string())];
        for i in 0..text.len() {
            let mut m = text.clone().into_bytes();
            m[i] ^= 0x01;
            if let Ok(m) = String::from_utf8(m) {
                inputs.push((m, format!("byte {i} ^ 0x01")));
            }
        }
        for (input, detail) in inputs {
            *counts.entry("PEM decodes").or_default() += 1;
            let old = old_pem::decode_first(&input).map(|b| (b.label, b.der.to_vec()));
            let new = crate::keys::pem::decode_first(&input).map(|b| (b.label, b.der.to_vec()));
            let old_certs = old_x509::pem_certificates(&input);
            let new_certs = x509::pem_certificates(&input);
            if old.as_ref().ok() != new.as_ref().ok()
                || old_certs.as_ref().ok() != new_certs.as_ref().ok()
            {
                // RFC 7468 allows CR, LF, space and tab between base64 lines; the old readers
                // also skipped other whitespace (vertical tab, form feed).
                let odd_whitespace = input
                    .chars()
                    .any(|c| c.is_whitespace() && !matches!(c, ' ' | '\t' | '\r' | '\n'));
                let newly_accepted =
                    (old.is_err() && new.is_ok()) || (old_certs.is_err() && new_certs.is_ok());
                diffs.push(Difference {
                    check: match (detail == "as is", odd_whitespace && !newly_accepted) {
                        (true, _) => "PEM",
                        (false, true) => "PEM mutant (non-RFC 7468 whitespace)",
                        (false, false) => "PEM mutant",
                    },
                    source: source.clone(),
                    detail,
                    old: format!("{} / {}", verdict(&old), verdict(&old_certs)),
                    new: format!("{} / {}", verdict(&new), verdict(&new_certs)),
                });
            }
        }
    }

    // References: the reference seeds, every docker-reference in the vectors, the distribution
    // grammar's table and the host spellings the old check let through; and mutants of each
    // with grammar characters put in at every position.
    let mut refs: BTreeMap<String, String> = BTreeMap::new();
    for path in files() {
        let name = short(&path);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if name.starts_with("fuzz/corpus/reference/") {
            refs.entry(text.trim_end_matches('\n').to_string())
                .or_insert(name.clone());
        }
        for part in text.split("\"docker-reference\":").skip(1) {
            if let Some(r) = part
                .trim_start()
                .strip_prefix('"')
                .and_then(|p| p.split('"').next())
            {
                refs.entry(r.to_string()).or_insert(name.clone());
            }
        }
    }
    for crafted in [
        "a..b/repo",
        "-x.io/repo",
        "x-.io/repo",
        "a.b[c]/repo",
        "[1:2/repo",
        "[]:5000/repo",
        "[::1]:5000/repo",
        "[fe80::1%eth0]:5000/repo",
        "xn--n3h.com/myimage:xn--n3h.com",
        "test:5000/Uppercase/lowercase:tag",
        "192.168.1.1:5000/repo:5050",
    ] {
        refs.entry(crafted.to_string())
            .or_insert_with(|| "crafted".into());
    }
    let long = format!("example.com/{}a", "a/".repeat(126));
    refs.entry(long)
        .or_insert_with(|| "crafted: name over 255".into());
    let seeds: Vec<(String, String)> = refs.into_iter().collect();
    for (seed, source) in &seeds {
        let mut inputs = vec![(seed.clone(), "as is".to_string())];
        for i in 0..=seed.len() {
            if !seed.is_char_boundary(i) {
                continue;
            }
            for c in ['.', '-', '[', ']', ':', '/', '@', 'A', '_'] {
                let mut m = seed.clone();
                m.insert(i, c);
                inputs.push((m, format!("insert {c:?} at {i}")));
            }
        }
        for (input, detail) in inputs {
            *counts.entry("references").or_default() += 1;
            let old = old_reference::parse(&input).map(|r| r.to_string());
            let new = crate::reference::parse(&input).map(|r| r.to_string());
            if old.as_ref().ok() != new.as_ref().ok() {
                diffs.push(Difference {
                    check: "reference",
                    source: source.clone(),
                    detail: format!("{detail}: {input}"),
                    old: verdict(&old),
                    new: verdict(&new),
                });
            }
        }
    }

    diffs.sort();
    diffs.dedup();
    let mut report = String::new();
    for (k, v) in &counts {
        report.push_str(&format!("{k}: {v}\n"));
    }
    report.push_str(&format!("{} differences\n", diffs.len()));
    for d in &diffs {
        report.push_str(&format!(
            "[{}] {} | {} | old: {} | new: {}\n",
            d.check, d.source, d.detail, d.old, d.new
        ));
    }
    std::fs::write(std::env::temp_dir().join("vouch-differential.txt"), &report).ok();
    eprintln!("{}", report.lines().take(12).collect::<Vec<_>>().join("\n"));
    let unexpected: Vec<_> = diffs.iter().filter(|d| !old_was_wrong(d)).collect();
    assert!(
        unexpected.is_empty(),
        "unexpected differences: {unexpected:#?}"
    );
}

/// Where the old code was wrong:
/// - mutants the old readers took although the bytes they skipped were not valid DER (names,
///   key info, OIDs and strings inside certificates; digest-algorithm sets, algorithm
///   parameters, unknown certificate choices and trailing TSTInfo content in timestamps):
///   the new ones refuse them as malformed, and never accept what the old refused;
/// - PEM text with a vertical tab or form feed among the base64 lines, which the old readers
///   skipped as whitespace and RFC 7468 does not allow;
/// - registry hosts outside the distribution grammar (`a..b`, `-x.io`, brackets anywhere, an
///   empty label), which the old host check took; names over the grammar's 255 characters;
///   and the bracketed IPv6 host `[1:2]`, which the grammar allows and the old check refused;
/// - a version 1 certificate with extensions, which the old parser took;
/// - RFC 3339 offsets outside ±23:59, which the bundle reader took;
/// - a fraction of more than nine digits, which RFC 3339 allows and the bundle reader refused.
fn old_was_wrong(d: &Difference) -> bool {
    match d.check {
        "certificate mutant parse" | "timestamp mutant" => {
            d.old == "accept" && d.new.starts_with("refuse (malformed")
        }
        "certificate parse" => d.source == "crafted: bogus-leaf.pem as v1",
        "PEM mutant (non-RFC 7468 whitespace)" => true,
        "reference" => {
            (d.old.starts_with("accept")
                && (d.new.starts_with("refuse (invalid registry host")
                    || (d.new.starts_with("refuse (invalid repository")
                        && d.source == "crafted: name over 255")))
                || (d.new.starts_with("accept") && d.detail.ends_with(": [1:2]/repo"))
        }
        "rfc3339 (bundle)" => [
            "2024-01-01T00:00:00+99:99",
            "2024-01-01T00:00:00+24:00",
            "2024-01-01T00:00:00.1234567891Z",
        ]
        .contains(&d.detail.as_str()),
        _ => false,
    }
}
