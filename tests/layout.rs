//! tools/link-hot-first, the linker driver `make release` uses to place the CNI plugin's hot
//! functions first: the names it keeps and what it hands the linker.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::Scratch;

const TOOL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/link-hot-first");

fn keys(symbols: &[&str]) -> Vec<String> {
    let mut child = Command::new(TOOL)
        .arg("--key")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run tools/link-hot-first --key");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{}\n", symbols.join("\n")).as_bytes())
        .expect("write symbols");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Two builds of the same function with other crate hashes, back-reference offsets, LTO
/// suffixes or instantiating crates have the same key; different functions do not.
#[test]
fn keys_drop_what_changes_between_builds() {
    let pairs = [
        // v0: crate disambiguators of other lengths, so other back-reference offsets.
        (
            "_RNvMs_NtNtCs6MurauwEFpd_14contrail_mesos7applets3cniNtB4_4Lock7acquire",
            "_RNvMs_NtNtCsab_14contrail_mesos7applets3cniNtB2_4Lock7acquire",
        ),
        // A generic instance: the crate it was made in, and LLVM's local copy suffix.
        (
            "_RINvNtCsx1_4core3ptr13drop_in_placeNtNtCsy2_4http3uri3UriECsq1_14contrail_mesos",
            "_RINvNtCsz9_4core3ptr13drop_in_placeNtNtCsw8_4http3uri3UriECsr7_10ureq_proto.1210",
        ),
        // The instantiating crate named by a back reference, or in full.
        (
            "_RNvMs3_NtCs1_5alloc7raw_vecINtB2_6RawVecNtCs3_5krate3RefE8grow_oneBa_",
            "_RNvMs3_NtCs44_5alloc7raw_vecINtB3_6RawVecNtCs55_5krate3RefE8grow_oneCs66_5krate",
        ),
        // Legacy mangling (std's own symbols) and LTO's promoted locals.
        (
            "_ZN4core3fmt5write17h0123456789abcdefE",
            "_ZN4core3fmt5write17hfedcba9876543210E.llvm.42",
        ),
    ];
    for (a, b) in pairs {
        let k = keys(&[a, b]);
        assert_eq!(k[0], k[1], "{a} vs {b}");
        assert!(
            !k[0].contains("Cs6M") && !k[0].ends_with("contrail_mesos"),
            "{k:?}"
        );
    }
    let k = keys(&[
        "_RNvNtCs1_5krate3foo",
        "_RNvNtCs1_5krate3bar",
        "_RNvCs_4core5panic",
        "memcpy",
    ]);
    assert_eq!(
        k,
        [
            "_RNvNtCs_5krate3foo",
            "_RNvNtCs_5krate3bar",
            "_RNvCs_4core5panic",
            "memcpy"
        ]
    );
}

/// Linking: the listed functions found in the objects are handed to the linker by their full
/// names, C symbols as they are; what the build lacks is reported by name.
#[test]
fn the_linker_gets_the_exact_symbols_and_a_report() {
    for tool in ["cc", "nm"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            assert!(std::env::var_os("CI").is_none(), "{tool} is needed");
            eprintln!("skipping: no {tool}");
            return;
        }
    }
    let dir = Scratch::new("layout");
    let d = &dir.0;
    // C identifiers may look like v0 symbols: an object as rustc would leave it.
    std::fs::write(
        d.join("hot.c"),
        "void _RNvNtCsab12_5krate3foo(void) {}\n\
         void _RNvNtCsab12_5krate3cold(void) {}\n\
         void _ZN5krate3bar17h0011223344556677E(void) {}\n",
    )
    .expect("write hot.c");
    let cc = Command::new("cc")
        .current_dir(d)
        .args(["-c", "hot.c", "-o", "hot.o"])
        .status()
        .expect("cc");
    assert!(cc.success());
    std::fs::write(
        d.join("list.txt"),
        "# comment\n_RNvNtCs_5krate3foo\n_ZN5krate3bar\nmemcpy\n_RNvNtCs_5krate3gone\n",
    )
    .expect("write list");
    // `true` stands in for the compiler driver: only what it is given matters here.
    let link = |out: &str, lld: bool| {
        let mut args = vec!["hot.o", "-o", out];
        if lld {
            args.push("-fuse-ld=lld");
        }
        let done = Command::new(TOOL)
            .current_dir(d)
            .env("HOT_FUNCTIONS", d.join("list.txt"))
            .env("CC", "true")
            .args(args)
            .output()
            .expect("run tools/link-hot-first");
        assert!(done.status.success(), "{done:?}");
    };
    let read = |p: &Path| std::fs::read_to_string(p).expect("read");
    // Another linker has no ordering file: the link goes on, the report says so.
    link("plain", false);
    assert!(!d.join("plain.symbol-order").exists());
    assert!(
        read(&d.join("plain.hot-functions")).contains("the linker is not lld"),
        "{}",
        read(&d.join("plain.hot-functions"))
    );
    link("prog", true);
    let order: Vec<String> = read(&d.join("prog.symbol-order"))
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        order,
        [
            "_RNvNtCsab12_5krate3foo",
            "_ZN5krate3bar17h0011223344556677E",
            "memcpy"
        ]
    );
    let report = read(&d.join("prog.hot-functions"));
    assert!(
        report.starts_with("2 of 3 hot Rust functions found in this build; not found:"),
        "{report}"
    );
    assert!(report.contains("_RNvNtCs_5krate3gone"), "{report}");
}
