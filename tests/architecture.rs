//! The layers of `src/`, checked from the source: every `use` declaration and every inline
//! `crate::`/`super::`/`self::` path is an import of the module it names.
//!
//! - `domain` imports nothing else of the crate;
//! - `clients` import only `domain` and `http`;
//! - `http`, `netlink` and `sys` import only `domain`, themselves and each other's transport;
//! - an applet (`applets/<name>`) never imports another applet (the dispatcher, `applets/mod.rs`,
//!   names them all);
//! - no import circles between files (in the emulators' crate, `tests/sim`, too).
//!
//! A failure names the file, the line and the import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One import: the file it is in, its line, and the module path it names (`a::b::c`, from the
/// crate root).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Import {
    file: String,
    line: usize,
    path: Vec<String>,
}

/// What a source tree is made of: its module files and their imports.
struct Tree {
    /// Module path (`applets::manager::add`) → file (`applets/manager/add.rs`).
    modules: BTreeMap<Vec<String>, String>,
    imports: Vec<Import>,
}

impl Tree {
    fn read(src: &Path) -> Tree {
        let mut files = Vec::new();
        walk(src, &mut files);
        let mut modules = BTreeMap::new();
        let mut sources = Vec::new();
        for f in files {
            let rel = f
                .strip_prefix(src)
                .expect("under src")
                .to_string_lossy()
                .into_owned();
            if rel == "main.rs" || rel.starts_with("bin/") {
                continue; // other crates: they use the library's public paths
            }
            let text = std::fs::read_to_string(&f).expect("read source");
            modules.insert(module_of(&rel), rel.clone());
            sources.push((rel, text));
        }
        let mut imports = Vec::new();
        for (rel, text) in &sources {
            imports.extend(imports_of(rel, &module_of(rel), text));
        }
        Tree { modules, imports }
    }

    /// The module file an import lands in: the longest prefix of its path that is a module.
    fn target(&self, path: &[String]) -> Option<(Vec<String>, &str)> {
        (1..=path.len()).rev().find_map(|n| {
            self.modules
                .get(&path[..n])
                .map(|f| (path[..n].to_vec(), f.as_str()))
        })
    }

    /// Every broken rule, as lines naming file, line and import.
    fn violations(&self) -> Vec<String> {
        let mut out = Vec::new();
        for i in &self.imports {
            let Some((to, _)) = self.target(&i.path) else {
                continue;
            };
            let from = module_of(&i.file);
            if let Some(why) = forbidden(&from, &to) {
                out.push(format!(
                    "{}:{}: imports crate::{} ({why})",
                    i.file,
                    i.line,
                    i.path.join("::")
                ));
            }
        }
        out.extend(self.circles());
        out
    }

    /// Import circles between files (strongly connected components of more than one file).
    fn circles(&self) -> Vec<String> {
        let mut edges: BTreeMap<&str, BTreeMap<&str, &Import>> = BTreeMap::new();
        for i in &self.imports {
            if let Some((_, to)) = self.target(&i.path)
                && to != i.file
            {
                edges
                    .entry(i.file.as_str())
                    .or_default()
                    .entry(to)
                    .or_insert(i);
            }
        }
        let nodes: Vec<&str> = self.modules.values().map(String::as_str).collect();
        let mut out = Vec::new();
        for scc in strongly_connected(&nodes, &edges) {
            if scc.len() < 2 {
                continue;
            }
            let members: BTreeSet<&str> = scc.iter().copied().collect();
            let mut lines = Vec::new();
            for from in &scc {
                for (to, i) in edges.get(from).into_iter().flatten() {
                    if members.contains(to) {
                        lines.push(format!(
                            "  {}:{}: crate::{} -> {to}",
                            i.file,
                            i.line,
                            i.path.join("::")
                        ));
                    }
                }
            }
            out.push(format!(
                "import circle between {}:\n{}",
                scc.join(", "),
                lines.join("\n")
            ));
        }
        out
    }
}

/// Why importing module `to` from module `from` breaks a layer rule, if it does.
fn forbidden(from: &[String], to: &[String]) -> Option<String> {
    let layer = |m: &[String]| m.first().cloned().unwrap_or_default();
    let (lf, lt) = (layer(from), layer(to));
    if lf == lt && lf != "applets" {
        return None;
    }
    match lf.as_str() {
        "domain" => Some("the domain imports nothing else of the crate".into()),
        "clients" if !matches!(lt.as_str(), "domain" | "http") => {
            Some("clients import only domain and http".into())
        }
        "http" | "netlink" | "sys" if !matches!(lt.as_str(), "domain" | "sys") => {
            Some(format!("{lf} is transport: it imports only domain and sys"))
        }
        "applets" => {
            // applets/<name>/..: another applet is off limits; applets/mod.rs dispatches.
            let applet = |m: &[String]| m.get(1).cloned();
            if from.len() < 2 || lt != "applets" {
                return None;
            }
            match (applet(from), applet(to)) {
                (Some(a), Some(b)) if a != b => Some(format!(
                    "applet {a} imports applet {b}: applets never import each other"
                )),
                _ => None,
            }
        }
        _ => None,
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `applets/manager/add.rs` → `[applets, manager, add]`; `domain/vip/mod.rs` → `[domain, vip]`;
/// `lib.rs` → `[]`.
fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The source with comments, strings and character literals blanked out (newlines kept).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, c: u8| out.push(if c == b'\n' { b'\n' } else { b' ' });
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
        } else if c == b'r' && matches!(b.get(i + 1), Some(b'"' | b'#')) && !ident_byte(out.last())
        {
            // r"..", r#".."#
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            out.extend(std::iter::repeat_n(b' ', j + 1 - i));
            i = j + 1;
            while i < b.len() && !b[i..].starts_with(&close) {
                blank(&mut out, b[i]);
                i += 1;
            }
            out.extend(std::iter::repeat_n(b' ', close.len().min(b.len() - i)));
            i += close.len();
        } else if c == b'"' {
            out.push(b' ');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    blank(&mut out, b[i]);
                    i += 1;
                }
                if i < b.len() {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
            out.push(b' ');
            i += 1;
        } else if c == b'\'' {
            // A character literal ('a', '\n', '\u{..}'), not a lifetime ('a).
            let end = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..]
                    .iter()
                    .position(|&x| x == b'\'')
                    .map(|p| i + 2 + p)
            } else if b.get(i + 2) == Some(&b'\'') {
                Some(i + 2)
            } else {
                // multi-byte UTF-8 character
                let s = std::str::from_utf8(&b[i + 1..]).ok().or_else(|| {
                    (1..5).find_map(|n| std::str::from_utf8(b.get(i + 1..i + 1 + n)?).ok())
                });
                s.and_then(|s| s.chars().next())
                    .filter(|ch| ch.len_utf8() > 1 && b.get(i + 1 + ch.len_utf8()) == Some(&b'\''))
                    .map(|ch| i + 1 + ch.len_utf8())
            };
            match end {
                Some(e) => {
                    out.extend(std::iter::repeat_n(b' ', e + 1 - i));
                    i = e + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn ident_byte(b: Option<&u8>) -> bool {
    b.is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Tokens of code: identifiers, `::`, and single punctuation, each with its line.
fn tokens(code: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut line = 1;
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((chars[start..i].iter().collect(), line));
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push(("::".into(), line));
            i += 2;
        } else {
            out.push((c.to_string(), line));
            i += 1;
        }
    }
    out
}

/// The imports of one file: `use` trees expanded, and inline `crate::`/`super::`/`self::`
/// paths, resolved to paths from the crate root. Inline `mod x { .. }` blocks shift `super`.
fn imports_of(rel: &str, module: &[String], text: &str) -> Vec<Import> {
    let toks = tokens(&code_only(text));
    let mut out = Vec::new();
    // The module path at each brace depth where an inline `mod` opened.
    let mut scopes: Vec<(usize, Vec<String>)> = vec![(0, module.to_vec())];
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let (t, line) = (&toks[i].0, toks[i].1);
        let here = scopes.last().map(|s| s.1.clone()).unwrap_or_default();
        match t.as_str() {
            "{" => {
                depth += 1;
                i += 1;
            }
            "}" => {
                if scopes.len() > 1 && scopes.last().is_some_and(|s| s.0 == depth) {
                    scopes.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
            }
            "mod" if toks.get(i + 2).is_some_and(|n| n.0 == "{") => {
                let mut inner = here.clone();
                inner.push(toks[i + 1].0.clone());
                depth += 1;
                scopes.push((depth, inner));
                i += 3;
            }
            "use" => {
                let end = (i..toks.len())
                    .find(|&j| toks[j].0 == ";")
                    .unwrap_or(toks.len());
                let mut paths = Vec::new();
                use_tree(&toks[i + 1..end], Vec::new(), &mut paths);
                for p in paths {
                    if let Some(abs) = absolute(&here, &p) {
                        out.push(Import {
                            file: rel.to_string(),
                            line,
                            path: abs,
                        });
                    }
                }
                i = end + 1;
            }
            "crate" | "super" | "self"
                if toks.get(i + 1).is_some_and(|n| n.0 == "::")
                    && (i == 0 || toks[i - 1].0 != "::") =>
            {
                let mut p = vec![t.clone()];
                let mut j = i + 1;
                while toks.get(j).is_some_and(|n| n.0 == "::")
                    && toks.get(j + 1).is_some_and(|n| is_ident(&n.0))
                {
                    p.push(toks[j + 1].0.clone());
                    j += 2;
                }
                if let Some(abs) = absolute(&here, &p) {
                    out.push(Import {
                        file: rel.to_string(),
                        line,
                        path: abs,
                    });
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    out
}

fn is_ident(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Expands a use tree (`a::{b, c::{d, e}}`) into its paths.
fn use_tree(toks: &[(String, usize)], prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix.clone();
    let mut i = 0;
    while i < toks.len() {
        match toks[i].0.as_str() {
            "::" => i += 1,
            "{" => {
                // split the group at top-level commas
                let mut level = 0;
                let mut start = i + 1;
                for j in i..toks.len() {
                    match toks[j].0.as_str() {
                        "{" => level += 1,
                        "}" => {
                            level -= 1;
                            if level == 0 {
                                use_tree(&toks[start..j], path.clone(), out);
                                return;
                            }
                        }
                        "," if level == 1 => {
                            use_tree(&toks[start..j], path.clone(), out);
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
                return;
            }
            "as" | "*" => break,
            t if is_ident(t) => {
                path.push(t.to_string());
                i += 1;
            }
            _ => i += 1,
        }
    }
    if path.len() > prefix.len() || !path.is_empty() {
        out.push(path);
    }
}

/// A path as seen from module `here`, from the crate root; `None` for other crates and std.
fn absolute(here: &[String], p: &[String]) -> Option<Vec<String>> {
    let mut base: Vec<String>;
    let mut rest = p;
    match p.first().map(String::as_str) {
        Some("crate") => {
            base = Vec::new();
            rest = &p[1..];
        }
        Some("self") => {
            base = here.to_vec();
            rest = &p[1..];
        }
        Some("super") => {
            base = here.to_vec();
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    base.extend(rest.iter().filter(|s| *s != "self").cloned());
    Some(base)
}

/// Tarjan's strongly connected components.
fn strongly_connected<'a>(
    nodes: &[&'a str],
    edges: &BTreeMap<&'a str, BTreeMap<&'a str, &Import>>,
) -> Vec<Vec<&'a str>> {
    struct State<'a> {
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(
        v: &'a str,
        edges: &BTreeMap<&'a str, BTreeMap<&'a str, &Import>>,
        s: &mut State<'a>,
    ) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on.insert(v);
        for &w in edges
            .get(v)
            .map(|m| m.keys().copied().collect::<Vec<_>>())
            .unwrap_or_default()
            .iter()
        {
            if !s.index.contains_key(w) {
                visit(w, edges, s);
                let lw = s.low[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(lw));
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                scc.push(w);
                if w == v {
                    break;
                }
            }
            scc.sort();
            s.out.push(scc);
        }
    }
    let mut s = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for &n in nodes {
        if !s.index.contains_key(n) {
            visit(n, edges, &mut s);
        }
    }
    s.out
}

#[test]
fn the_layers_hold() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let tree = Tree::read(&src);
    assert!(
        tree.modules.len() > 20 && tree.imports.len() > 100,
        "read too little of {}: {} modules, {} imports",
        src.display(),
        tree.modules.len(),
        tree.imports.len()
    );
    let broken = tree.violations();
    assert!(
        broken.is_empty(),
        "layer rules broken:\n{}",
        broken.join("\n")
    );
}

/// The emulators' crate has no layers of its own, but no import circles either.
#[test]
fn the_emulators_have_no_import_circles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sim/src");
    let tree = Tree::read(&src);
    assert!(
        tree.modules.len() > 10,
        "read too little of {}",
        src.display()
    );
    let circles = tree.circles();
    assert!(circles.is_empty(), "{}", circles.join("\n"));
}

/// A scratch source tree with the given files.
fn planted(files: &[(&str, &str)]) -> Tree {
    let dir = std::env::temp_dir().join(format!(
        "cm-architecture-{}-{}",
        std::process::id(),
        files.len() + files.iter().map(|f| f.1.len()).sum::<usize>()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write");
    }
    let tree = Tree::read(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    tree
}

const BASE: &[(&str, &str)] = &[
    (
        "lib.rs",
        "pub mod domain; pub mod clients; pub mod http; pub mod applets;",
    ),
    ("domain/mod.rs", "pub mod ids;\npub mod labels;"),
    ("domain/ids.rs", "pub fn id() {}"),
    (
        "domain/labels.rs",
        "use super::ids;\n// use crate::clients::x; (a comment)\nconst S: &str = \"crate::http::client\";",
    ),
    ("http/mod.rs", "pub mod client;"),
    ("http/client.rs", "use crate::domain::ids::id;"),
    ("clients/mod.rs", "pub mod marathon;"),
    (
        "clients/marathon.rs",
        "use crate::{domain::labels, http::client};",
    ),
    (
        "applets/mod.rs",
        "pub mod cni;\npub mod manager;\nuse crate::applets::{cni::run, manager::serve};",
    ),
    (
        "applets/cni/mod.rs",
        "pub fn run() { crate::domain::ids::id(); }",
    ),
    ("applets/manager/mod.rs", "pub mod add;\npub fn serve() {}"),
    (
        "applets/manager/add.rs",
        "use super::serve;\n#[cfg(test)]\nmod tests {\n    use super::*;\n}",
    ),
];

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut files: Vec<_> = BASE
        .iter()
        .filter(|(n, _)| !extra.iter().any(|(m, _)| m == n))
        .copied()
        .collect();
    files.extend_from_slice(extra);
    files
}

#[test]
fn a_clean_tree_passes_and_comments_and_strings_are_not_imports() {
    let tree = planted(BASE);
    assert_eq!(tree.violations(), Vec::<String>::new());
    let labels: Vec<_> = tree
        .imports
        .iter()
        .filter(|i| i.file == "domain/labels.rs")
        .collect();
    assert_eq!(labels.len(), 1, "{labels:?}");
    assert_eq!(labels[0].path, ["domain", "ids"]);
}

#[test]
fn a_planted_forbidden_import_is_named_with_file_and_line() {
    let domain = planted(&with(&[(
        "domain/ids.rs",
        "pub fn id() {}\nfn f() { let _ = crate::clients::marathon::get(); }",
    )]));
    // (It also closes a circle through the client, which imports the domain.)
    assert_eq!(
        domain.violations().first().map(String::as_str),
        Some(
            "domain/ids.rs:2: imports crate::clients::marathon::get (the domain imports nothing else of the crate)"
        )
    );
    let client = planted(&with(&[(
        "clients/marathon.rs",
        "use crate::{domain::labels, applets::cni::run};",
    )]));
    assert_eq!(
        client.violations(),
        [
            "clients/marathon.rs:1: imports crate::applets::cni::run (clients import only domain and http)"
        ]
    );
    let applet = planted(&with(&[(
        "applets/cni/mod.rs",
        "pub fn run() {}\nuse crate::applets::manager::add as other;",
    )]));
    assert_eq!(
        applet.violations(),
        [
            "applets/cni/mod.rs:2: imports crate::applets::manager::add (applet cni imports applet manager: applets never import each other)"
        ]
    );
}

#[test]
fn a_planted_circle_is_named() {
    let tree = planted(&with(&[(
        "applets/manager/mod.rs",
        "pub mod add;\npub fn serve() {}\nuse self::add::thing;",
    )]));
    let v = tree.violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].starts_with("import circle between applets/manager/add.rs, applets/manager/mod.rs:"),
        "{}",
        v[0]
    );
    assert!(
        v[0].contains("applets/manager/mod.rs:3: crate::applets::manager::add::thing"),
        "{}",
        v[0]
    );
}
