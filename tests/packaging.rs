//! The .deb holds what an operator needs (checked with dpkg-deb), the systemd unit passes
//! systemd-analyze, and the rpm spec parses and ships the same files.

mod common;

use std::path::Path;
use std::process::Command;

use common::{BIN, Scratch};

/// What the .deb ships (paths as `dpkg-deb -c` prints them).
const SHIPPED: &[&str] = &[
    "./usr/bin/contrail-mesos",
    "./usr/bin/contrail-mesos-cni -> contrail-mesos",
    "./usr/bin/contrail-mesos-manager -> contrail-mesos",
    "./usr/bin/contrail-mesos-fip -> contrail-mesos",
    "./usr/bin/contrail-mesos-sg -> contrail-mesos",
    "./usr/bin/contrail-mesos-status -> contrail-mesos",
    "./usr/lib/cni/contrail-cni-plugin -> ../../bin/contrail-mesos",
    "./lib/systemd/system/contrail-mesos-manager.service",
    "./etc/contrail/contrail-mesos.conf",
    "./usr/share/doc/contrail-mesos/examples/contrail-cni-plugin.conf",
    "./usr/share/man/man8/contrail-mesos-cni.8.gz",
    "./usr/share/man/man8/contrail-mesos-manager.8.gz",
    "./usr/share/man/man1/contrail-mesos.1.gz",
    "./usr/share/man/man1/contrail-mesos-fip.1.gz",
    "./usr/share/man/man1/contrail-mesos-sg.1.gz",
    "./usr/share/man/man1/contrail-mesos-status.1.gz",
    "./var/lib/contrail/ports/vm/",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    contrail_mesos_sim::require(found, tool, "is not installed (run .ci/deps)")
}

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[test]
fn deb_contents_and_metadata() {
    if !have("dpkg-deb") {
        return;
    }
    let out = Scratch::new("deb");
    let built = Command::new(root().join("packaging/deb/build.sh"))
        .args([BIN, version(), &out.0.display().to_string()])
        .env("DEB_COMPRESS", "gzip")
        .output()
        .expect("run build.sh");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let deb = String::from_utf8_lossy(&built.stdout).trim().to_string();
    assert!(deb.ends_with(".deb") && Path::new(&deb).exists(), "{deb}");
    let list = Command::new("dpkg-deb")
        .args(["-c", &deb])
        .output()
        .expect("dpkg-deb -c");
    let list = String::from_utf8_lossy(&list.stdout);
    for path in SHIPPED {
        assert!(
            list.lines().any(|l| l.ends_with(path)),
            "{path} missing from the package:\n{list}"
        );
    }
    assert!(
        list.lines()
            .any(|l| l.starts_with("-rwxr-xr-x root/root")
                && l.ends_with("./usr/bin/contrail-mesos"))
    );
    let info = Command::new("dpkg-deb")
        .args(["-f", &deb, "Package", "Version", "Depends"])
        .output()
        .expect("dpkg-deb -f");
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.contains("Package: contrail-mesos")
            && info.contains(&format!("Version: {}", version())),
        "{info}"
    );
    let conffiles = Command::new("dpkg-deb")
        .args(["--ctrl-tarfile", &deb])
        .output()
        .expect("control tar");
    let tar = Scratch::new("ctrl");
    std::fs::write(tar.0.join("c.tar"), &conffiles.stdout).expect("write");
    let x = Command::new("tar")
        .args(["-xf", "c.tar", "./conffiles"])
        .current_dir(&tar.0)
        .status()
        .expect("tar");
    assert!(x.success());
    assert_eq!(
        std::fs::read_to_string(tar.0.join("conffiles"))
            .expect("conffiles")
            .trim(),
        "/etc/contrail/contrail-mesos.conf"
    );
    // The packaged binary runs.
    let unpacked = Scratch::new("unpacked");
    assert!(
        Command::new("dpkg-deb")
            .args(["-x", &deb, &unpacked.0.display().to_string()])
            .status()
            .expect("dpkg-deb -x")
            .success()
    );
    let v = Command::new(unpacked.0.join("usr/bin/contrail-mesos-manager"))
        .arg("--version")
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&v.stdout);
    assert!(v.status.success() && text.contains(version()), "{text}");
}

#[test]
fn systemd_unit_is_valid() {
    if !have("systemd-analyze") {
        return;
    }
    let dir = Scratch::new("unit");
    let unit = std::fs::read_to_string(root().join("packaging/contrail-mesos-manager.service"))
        .expect("unit");
    assert!(
        unit.contains("Restart=on-failure")
            && unit.contains(
                "ExecStart=/usr/bin/contrail-mesos manager -c /etc/contrail/contrail-mesos.conf"
            )
    );
    let path = dir.0.join("contrail-mesos-manager.service");
    std::fs::write(&path, unit.replace("/usr/bin/contrail-mesos", BIN)).expect("write");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("verify");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !err.contains(path.to_str().unwrap_or("?")),
        "systemd-analyze: {err}"
    );
}

#[test]
fn rpm_spec_parses_and_ships_the_same_files() {
    if !have("rpmspec") {
        return;
    }
    let out = Command::new("rpmspec")
        .args(["-P"])
        .arg(root().join("packaging/rpm/contrail-mesos.spec"))
        .output()
        .expect("rpmspec");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spec = String::from_utf8_lossy(&out.stdout);
    assert!(
        spec.contains(&format!("Version:        {}", version())),
        "spec version matches Cargo.toml"
    );
    // The %files entries, without their attributes.
    let files: Vec<&str> = spec
        .lines()
        .skip_while(|l| !l.starts_with("%files"))
        .skip(1)
        .take_while(|l| !l.starts_with("%changelog"))
        .filter_map(|l| l.split_whitespace().last())
        .filter(|p| p.starts_with('/'))
        .collect();
    let name = |p: &str| {
        let path = p.split(" -> ").next().unwrap_or(p).trim_end_matches('/');
        path.rsplit('/').next().unwrap_or(path).to_string()
    };
    // Every file the .deb ships (man pages by their glob) is in the rpm, and nothing else.
    let deb: Vec<String> = SHIPPED.iter().map(|p| name(p)).collect();
    for want in deb
        .iter()
        .filter(|n| !n.contains(".1") && !n.contains(".8"))
    {
        assert!(
            files.iter().any(|f| name(f) == *want),
            "the rpm lacks {want}: {files:?}"
        );
    }
    for section in ["man1", "man8"] {
        assert!(
            files
                .iter()
                .any(|f| f.contains(&format!("/{section}/contrail-mesos"))),
            "the rpm lacks {section} pages"
        );
    }
    for f in &files {
        let n = name(f);
        let known =
            deb.contains(&n) || n.starts_with("contrail-mesos*") || n == "README.md" || n == "vm";
        assert!(known, "the rpm ships {f}, which the .deb does not");
    }
}
