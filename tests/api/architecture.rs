//! The layers of `src/`, written down once and held: every `crate::` and
//! `super::` path of every file is resolved to the module (file) it names,
//! and an import the table below does not allow fails, as does any cycle
//! between modules. Nothing is compiled or run: the files are read as text.
//!
//! The table: infrastructure at the bottom, then the audit trail, the
//! versioned audited write, the HTTP conventions, accounts (who may do what),
//! the areas, and the application that assembles them. A module may import
//! its own top-level module and anything on a lower layer; areas meet only
//! through the declared ports in [`PORTS`] and the outbox.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// Top-level modules by layer, lowest first. A module imports only its own
/// top-level module, lower layers, and the [`PORTS`].
const LAYERS: &[&[&str]] = &[
    &["text", "clock", "crypto", "entities", "supervise"],
    &["db", "config"],
    &["telemetry", "mail", "audit"],
    &["keyring", "versioned"],
    &["http"],
    &["accounts"],
    // the areas
    &[
        "shelter",
        "exchange",
        "integration",
        "records",
        "reporting",
        "auditing",
        "health",
    ],
    // the application: `lib.rs` (the crate root, "") and what it runs
    &["", "housekeeping"],
];

/// The modules an area offers another, with the reason: `(importer, port)`,
/// the importer a top-level module or `*` for every area.
const PORTS: &[(&str, &str, &str)] = &[
    (
        "*",
        "integration::outbox",
        "every change is announced through the outbox, in its transaction",
    ),
    (
        "shelter",
        "records::port",
        "an owner of records tells the archive index when they close or reopen",
    ),
    (
        "exchange",
        "records::port",
        "an owner of records tells the archive index when they close or reopen",
    ),
    (
        "records",
        "shelter::retention",
        "what a defender and its stays hold, whether they are open or held, and their destruction",
    ),
    (
        "records",
        "exchange::retention",
        "what a participant and its placements hold, whether they are open or held, and their destruction",
    ),
    (
        "reporting",
        "shelter::model",
        "the statistics group by the programme's own vocabulary (field of work)",
    ),
    (
        "reporting",
        "exchange::model",
        "the statistics group by the programme's own vocabulary (direction, level, status)",
    ),
];

/// Imports the table does not allow yet, each with what would remove it.
/// An entry that is no longer needed fails the test too, so the list only
/// shrinks.
const KNOWN_EXCEPTIONS: &[(&str, &str, &str)] = &[];

type Module = Vec<String>;

fn name(m: &[String]) -> String {
    if m.is_empty() {
        "crate".to_owned()
    } else {
        m.join("::")
    }
}

/// Every module file of the library crate (`main.rs` is the binary, a crate
/// of its own), by module path.
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    let mut out = BTreeMap::new();
    for path in files {
        let rel = path.strip_prefix(src).unwrap().with_extension("");
        let mut parts: Module = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts == ["main"] {
            continue;
        }
        if parts == ["lib"] {
            parts.clear();
        } else if parts.last().is_some_and(|p| p == "mod") {
            parts.pop();
        }
        out.insert(parts, path);
    }
    out
}

/// The source without comments and without its test module.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod ") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| match l.find(" // ") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths of a path tree starting at `s` (`a::{b, c::{d, e}}`), each as
/// its segments.
fn paths(s: &str) -> Vec<Vec<String>> {
    fn ident(s: &[u8], mut i: usize) -> (usize, Option<String>) {
        while i < s.len() && s[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'_') {
            i += 1;
        }
        let word = (i > start).then(|| String::from_utf8_lossy(&s[start..i]).into_owned());
        (i, word)
    }
    fn skip_ws(s: &[u8], mut i: usize) -> usize {
        while i < s.len() && s[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    }
    fn tree(s: &[u8], mut i: usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
        let mut segs = prefix;
        loop {
            i = skip_ws(s, i);
            if s.get(i) == Some(&b'{') {
                i += 1;
                loop {
                    i = skip_ws(s, i);
                    if s.get(i) == Some(&b'}') {
                        return i + 1;
                    }
                    i = tree(s, i, segs.clone(), out);
                    i = skip_ws(s, i);
                    match s.get(i) {
                        Some(b',') => i += 1,
                        Some(b'}') => return i + 1,
                        _ => return i,
                    }
                }
            }
            let (next, word) = ident(s, i);
            let Some(word) = word else {
                out.push(segs);
                return next;
            };
            segs.push(word);
            i = next;
            if s[i..].starts_with(b"::") {
                i += 2;
            } else {
                out.push(segs);
                return i;
            }
        }
    }
    let mut out = Vec::new();
    tree(s.as_bytes(), 0, Vec::new(), &mut out);
    out
}

/// The module each `crate::`/`super::` path of `module`'s code names.
fn imports(module: &Module, code: &str, known: &BTreeMap<Module, PathBuf>) -> BTreeSet<Module> {
    let resolve = |segments: Vec<String>| -> Option<Module> {
        (1..=segments.len())
            .rev()
            .map(|n| segments[..n].to_vec())
            .find(|m| known.contains_key(m))
            .or_else(|| segments.is_empty().then(Vec::new))
    };
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let boundary =
        |i: usize| i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
    for (i, _) in code.match_indices("crate::") {
        if !boundary(i) {
            continue;
        }
        for p in paths(&code[i + "crate::".len()..]) {
            if let Some(m) = resolve(p) {
                out.insert(m);
            }
        }
    }
    let mut i = 0;
    while let Some(found) = code[i..].find("super::") {
        let start = i + found;
        i = start + "super::".len();
        if !boundary(start) || code[..start].ends_with("super::") {
            continue;
        }
        let mut ups = 1;
        while code[i..].starts_with("super::") {
            ups += 1;
            i += "super::".len();
        }
        let Some(base) = module.len().checked_sub(ups) else {
            continue;
        };
        for p in paths(&code[i..]) {
            let mut full = module[..base].to_vec();
            full.extend(p);
            if let Some(m) = resolve(full) {
                out.insert(m);
            }
        }
    }
    out.remove(module);
    out
}

fn layer(top: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&top))
}

const AREAS: usize = 6;

/// Why `from` may not import `to`, if it may not.
fn refusal(from: &Module, to: &Module) -> Option<String> {
    let top = |m: &Module| m.first().cloned().unwrap_or_default();
    let (a, b) = (top(from), top(to));
    if a == b {
        return None;
    }
    let to_name = name(to);
    let port = PORTS.iter().any(|(importer, port, _)| {
        (to_name == *port || to_name.starts_with(&format!("{port}::")))
            && (*importer == a || (*importer == "*" && layer(&a) == Some(AREAS)))
    });
    if port {
        return None;
    }
    match (layer(&a), layer(&b)) {
        (None, _) => Some(format!("`{a}` is on no layer of the table")),
        (_, None) => Some(format!("`{b}` is on no layer of the table")),
        (Some(x), Some(y)) if y < x => None,
        (Some(x), Some(y)) if x == y && x == AREAS => Some(format!(
            "areas meet only through declared ports: `{to_name}` is not one `{a}` may use"
        )),
        (Some(x), Some(y)) if x == y => Some(format!("`{a}` and `{b}` are on one layer")),
        _ => Some(format!("`{b}` is on a higher layer than `{a}`")),
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let known = modules(&src());
    known
        .iter()
        .map(|(m, path)| {
            let text = std::fs::read_to_string(path).unwrap();
            (m.clone(), imports(m, &code(&text), &known))
        })
        .collect()
}

#[test]
fn every_import_follows_the_layers() {
    let graph = graph();
    let mut wrong = Vec::new();
    let mut used_exceptions = BTreeSet::new();
    for (from, tos) in &graph {
        for to in tos {
            let Some(why) = refusal(from, to) else {
                continue;
            };
            let exception = KNOWN_EXCEPTIONS.iter().position(|(f, t, _)| {
                from.first().is_some_and(|top| top == f) && name(to).starts_with(t)
            });
            match exception {
                Some(i) => {
                    used_exceptions.insert(i);
                }
                None => wrong.push(format!("{} -> {}: {why}", name(from), name(to))),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
    for (i, (f, t, _)) in KNOWN_EXCEPTIONS.iter().enumerate() {
        assert!(
            used_exceptions.contains(&i),
            "the exception {f} -> {t} is no longer needed: remove it from the table"
        );
    }
}

/// A store (an area's `store` module and what is under it) and `db` answer
/// in the database's and the area's terms (`DbErr`, `WriteError`, an
/// area's refusal enum); only the handlers' side turns them into problems.
#[test]
fn stores_speak_no_http() {
    let graph = graph();
    let mut wrong = Vec::new();
    for (from, tos) in &graph {
        let is_store = from.first().is_some_and(|t| t == "db")
            || from.iter().skip(1).any(|part| part == "store");
        if !is_store {
            continue;
        }
        for to in tos
            .iter()
            .filter(|t| t.first().is_some_and(|t| t == "http"))
        {
            wrong.push(format!("{} -> {}", name(from), name(to)));
        }
    }
    assert!(
        graph.keys().any(|m| m.iter().skip(1).any(|p| p == "store")),
        "the reader found no store module"
    );
    assert!(
        wrong.is_empty(),
        "stores that import http:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_two_modules_import_each_other_even_through_others() {
    let graph = graph();
    // Tarjan's strongly connected components
    struct Walk<'g> {
        graph: &'g BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'g Module, usize>,
        low: BTreeMap<&'g Module, usize>,
        stack: Vec<&'g Module>,
        cycles: Vec<Vec<String>>,
    }
    impl<'g> Walk<'g> {
        fn visit(&mut self, v: &'g Module) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            for w in self.graph.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.stack.contains(&w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    component.push(name(w));
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.cycles.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        graph: &graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        cycles: Vec::new(),
    };
    for m in graph.keys() {
        if !walk.index.contains_key(m) {
            walk.visit(m);
        }
    }
    assert!(
        walk.cycles.is_empty(),
        "modules that import each other: {:?}",
        walk.cycles
    );
}

/// The reader itself: a grouped import, a nested one, `super::` from a
/// file and from a folder's `mod.rs`, a path in code, comments ignored.
#[test]
fn the_reader_finds_what_a_file_imports() {
    let known: BTreeMap<Module, PathBuf> = ["", "a", "a::b", "a::c", "d", "d::e", "f"]
        .iter()
        .map(|m| {
            let m: Module = if m.is_empty() {
                Vec::new()
            } else {
                m.split("::").map(str::to_owned).collect()
            };
            (m, PathBuf::new())
        })
        .collect();
    let module = |s: &str| -> Module { s.split("::").map(str::to_owned).collect() };
    let names = |set: BTreeSet<Module>| set.iter().map(|m| name(m)).collect::<Vec<_>>();
    let text = "use crate::{a::{b::X, c}, d::e::{self, Y}};\n// use crate::f::Z;\nfn g() { crate::f::h(); super::c::k(); }";
    assert_eq!(
        names(imports(&module("a::b"), &code(text), &known)),
        ["a::c", "d::e", "f"]
    );
    assert_eq!(
        names(imports(&module("d"), &code("use super::a::b;"), &known)),
        ["a::b"]
    );
    assert_eq!(
        names(imports(
            &module("d::e"),
            &code("use super::super::f;"),
            &known
        )),
        ["f"]
    );
    assert_eq!(
        refusal(&module("a"), &module("d")),
        Some("`a` is on no layer of the table".to_owned())
    );
    assert_eq!(refusal(&module("http"), &module("db")), None);
    assert!(refusal(&module("db"), &module("http::problem")).is_some());
    assert!(refusal(&module("shelter::api"), &module("exchange::model")).is_some());
    assert_eq!(
        refusal(&module("shelter::store"), &module("integration::outbox")),
        None
    );
    assert_eq!(
        refusal(&module("records::execution"), &module("shelter::retention")),
        None
    );
}
