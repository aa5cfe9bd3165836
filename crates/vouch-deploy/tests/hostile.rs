//! Hostile input: every bound holds with a clear error, and nothing panics.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use vouch_deploy::{ExtractError, Limits, Options, extract};

fn deployment(i: usize) -> String {
    format!(
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d{i}}}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: registry.example.com/app/d{i}:1.0\n"
    )
}

/// Extraction within `seconds`, whatever the outcome.
fn timed(
    bytes: &[u8],
    options: &Options,
    seconds: u64,
) -> Result<vouch_deploy::Extraction, ExtractError> {
    let start = Instant::now();
    let r = extract(Some("input.yaml"), bytes, options);
    assert!(
        start.elapsed() < Duration::from_secs(seconds),
        "took {:?}",
        start.elapsed()
    );
    r
}

#[test]
fn a_50_mb_stream_is_read() {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < 50_000_000 {
        s.push_str(&deployment(i));
        // A ConfigMap of padding between workloads, as rendered charts have.
        let _ = write!(
            s,
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\ndata:\n"
        );
        for k in 0..50 {
            let _ = writeln!(s, "  k{k}: \"{}\"", "v".repeat(60));
        }
        i += 1;
    }
    let x = timed(s.as_bytes(), &Options::default(), 60).expect("extracts");
    assert_eq!(x.findings.len(), i);
    assert_eq!(
        x.findings[i - 1].image,
        format!("registry.example.com/app/d{}:1.0", i - 1)
    );
}

#[test]
fn a_50_mb_single_document_hits_the_node_bound() {
    let mut s = String::from(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: huge}\nspec:\n  containers: [{name: a, image: app:1}]\n  data:\n",
    );
    let mut k = 0;
    while s.len() < 50_000_000 {
        let _ = writeln!(s, "    k{k}: v");
        k += 1;
    }
    let e = timed(s.as_bytes(), &Options::default(), 60).expect_err("refused");
    assert!(
        e.to_string().contains("more than 2000000 YAML nodes"),
        "{e}"
    );
}

#[test]
fn a_file_over_the_size_bound_is_refused_unread() {
    let options = Options {
        limits: Limits {
            max_file_bytes: 1024,
            ..Limits::default()
        },
        ..Options::default()
    };
    let e = extract(None, &vec![b'a'; 2048], &options).expect_err("refused");
    assert_eq!(
        e,
        ExtractError::TooLarge {
            size: 2048,
            limit: 1024
        }
    );
}

#[test]
fn deep_nesting_is_refused() {
    let flow = format!(
        "apiVersion: v1\nkind: Pod\nspec: {{image: x}}\nx: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let e = timed(flow.as_bytes(), &Options::default(), 10).expect_err("refused");
    assert!(e.to_string().contains("nesting deeper than"), "{e}");
    let mut block = String::from("apiVersion: v1\nkind: Pod\nimage: x\nspec:\n");
    for depth in 1..400 {
        let _ = writeln!(block, "{}a{depth}:", "  ".repeat(depth));
    }
    let e = timed(block.as_bytes(), &Options::default(), 10).expect_err("refused");
    assert!(
        e.to_string().contains("nesting deeper than 128 levels"),
        "{e}"
    );
}

#[test]
fn billion_laughs_is_bounded() {
    let mut s = String::from(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: lol}\nx0: &a0 [image, image, image, image, image, image, image, image, image, image]\n",
    );
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        let _ = writeln!(s, "x{i}: &a{i} [{refs}]");
    }
    s.push_str("spec: *a9\n");
    let e = timed(s.as_bytes(), &Options::default(), 10).expect_err("refused");
    assert!(e.to_string().contains("billion laughs"), "{e}");
    // The same shape in a document that is not a Kubernetes object is never walked.
    let plain = s.replacen("apiVersion: v1\nkind: Pod\n", "", 1);
    let e = timed(plain.as_bytes(), &Options::default(), 10).expect_err("not recognised");
    assert!(matches!(e, ExtractError::NotRecognized(_)), "{e}");
    // A recursive merge key is refused too.
    let recursive = "apiVersion: v1\nkind: Pod\nspec: &s\n  image: x\n  <<: *s\n";
    assert!(extract(None, recursive.as_bytes(), &Options::default()).is_err());
}

#[test]
fn documents_that_cannot_hold_images_are_not_parsed() {
    // Neither "image", "services" nor a backslash (an escaped key): skipped after a scan,
    // however it nests.
    let s = format!(
        "apiVersion: v1\nkind: ConfigMap\ndata: {}\n",
        "[".repeat(100_000)
    );
    let x = timed(s.as_bytes(), &Options::default(), 10).expect("skipped");
    assert!(x.findings.is_empty());
    // An escaped key is parsed, and found.
    let escaped =
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - {name: a, \"\\x69mage\": app:1}\n";
    let x = extract(None, escaped.as_bytes(), &Options::default()).expect("extracts");
    assert_eq!(x.findings[0].image, "app:1");
}

#[test]
fn ten_thousand_args_are_refused() {
    let mut s = String::new();
    for i in 0..10_000 {
        let _ = writeln!(s, "ARG A{i}=x");
    }
    s.push_str("FROM alpine:3\n");
    let e = timed(s.as_bytes(), &Options::default(), 10).expect_err("refused");
    assert_eq!(
        e.to_string(),
        "1001:5: more than 1000 ARG names in one Dockerfile"
    );
}

#[test]
fn interpolation_cannot_grow_without_bound() {
    let mut dotenv = format!("A={}\n", "x".repeat(1000));
    for (prev, name) in ["A", "B", "C", "D", "E", "F", "G", "H"]
        .windows(2)
        .map(|w| (w[0], w[1]))
    {
        let _ = writeln!(dotenv, "{name}=${prev}${prev}${prev}${prev}");
    }
    let options = Options {
        dotenv: Some(dotenv),
        ..Options::default()
    };
    let compose = "services:\n  app:\n    image: registry.example.com/app:${H}\n";
    let e = extract(Some("compose.yaml"), compose.as_bytes(), &options).expect_err("refused");
    assert!(e.to_string().contains("longer than 65536 bytes"), "{e}");
    let mut args = format!("ARG A={}\n", "x".repeat(1000));
    for (prev, name) in ["A", "B", "C", "D", "E", "F", "G", "H"]
        .windows(2)
        .map(|w| (w[0], w[1]))
    {
        let _ = writeln!(args, "ARG {name}=${prev}${prev}${prev}${prev}");
    }
    args.push_str("FROM app:$H\n");
    let e = extract(Some("Dockerfile"), args.as_bytes(), &Options::default()).expect_err("refused");
    assert!(e.to_string().contains("longer than 65536 bytes"), "{e}");
}

#[test]
fn binary_and_non_utf8_files_are_not_recognised() {
    for bytes in [&b"\x7fELF\x02\x01\x01\x00\x00"[..], &b"image: \xff\xfe"[..]] {
        let e = extract(Some("app.yaml"), bytes, &Options::default()).expect_err("refused");
        assert!(matches!(e, ExtractError::NotRecognized(_)), "{e}");
    }
    let e = extract(Some("Dockerfile"), b"\x00\x01FROM", &Options::default()).expect_err("refused");
    assert!(e.to_string().contains("binary"), "{e}");
}

#[test]
fn garbage_never_panics() {
    // Cheap deterministic noise over the grammar's sharp edges.
    let pieces = [
        "apiVersion: v1\n",
        "kind: Pod\n",
        "spec:\n",
        "  containers:\n",
        "  - image: ",
        "\"",
        "'",
        "{",
        "}",
        "[",
        "]",
        "&a ",
        "*a",
        "<<: ",
        "---\n",
        "...\n",
        "%YAML 1.2\n",
        "\t",
        "\r\n",
        "FROM ",
        "ARG X=",
        "${X",
        "}",
        "$",
        "\\\n",
        "COPY --from=",
        "RUN --mount=from=",
        "<<EOF\n",
        "services:\n",
        "  web:\n",
        "    image: ",
        "é",
        "#",
        ":",
        "-",
        "?",
        "|\n",
        ">-\n",
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..3000 {
        let mut s = String::new();
        for _ in 0..(state % 40) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            s.push_str(pieces[(state % pieces.len() as u64) as usize]);
        }
        for name in ["x.yaml", "Dockerfile"] {
            if let Ok(x) = extract(Some(name), s.as_bytes(), &Options::default()) {
                for f in &x.findings {
                    if let vouch_deploy::Site::Text { span } | vouch_deploy::Site::Quoted { span } =
                        f.site
                    {
                        assert!(
                            span.start <= span.end
                                && span.end <= s.len()
                                && s.is_char_boundary(span.start)
                                && s.is_char_boundary(span.end),
                            "{s:?}"
                        );
                    }
                }
            }
        }
    }
}
