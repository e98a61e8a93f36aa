//! The committed man pages are what the clap definitions generate. `make man` (or
//! UPDATE_MAN=1) rewrites them.

use std::path::Path;

#[test]
fn committed_man_pages_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let update = std::env::var_os("UPDATE_MAN").is_some();
    let pages = contrail_mesos::applets::man::pages();
    assert_eq!(pages.len(), 6, "one page for the binary and one per applet");
    let mut stale = Vec::new();
    for (name, text) in pages {
        let path = dir.join(&name);
        assert!(
            text.contains(".SH NAME") && text.contains(".SH SYNOPSIS"),
            "{name} lacks sections"
        );
        if update {
            std::fs::create_dir_all(&dir).expect("create man/");
            std::fs::write(&path, &text).expect("write man page");
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "stale man pages {stale:?}: run `make man` and commit man/"
    );
}

#[test]
fn cni_and_manager_pages_document_keys_labels_and_codes() {
    let pages = contrail_mesos::applets::man::pages();
    let get = |n: &str| {
        pages
            .iter()
            .find(|(f, _)| f == n)
            .map(|(_, t)| t.clone())
            .unwrap_or_default()
    };
    let cni = get("contrail-mesos-cni.8");
    for needle in [
        "contrail.poll\\-timeout",
        "floating\\-ips",
        "security\\-groups",
        "CNI_CONTAINERID",
        "101",
    ] {
        assert!(cni.contains(needle), "cni page lacks {needle}");
    }
    let mgr = get("contrail-mesos-manager.8");
    for needle in [
        "vnc_endpoint_ip",
        "reconcile_grace",
        "token_file",
        "/add_cni_info",
        "auth_token_url",
    ] {
        assert!(mgr.contains(needle), "manager page lacks {needle}");
    }
}
