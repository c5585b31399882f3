//! The floors of docs/architecture.md hold: each top-level module of src/ imports (names as
//! `crate::<module>`) only modules on lower floors, and no two modules import each other,
//! directly or around a cycle. Test code (`tests.rs`, `*_tests.rs`, a trailing
//! `#[cfg(test)] mod`) may reach higher: a runtime test builds its graph with `check`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

type Imports = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules `lib.rs` declares.
fn modules(src: &Path) -> BTreeSet<String> {
    let lib = fs::read_to_string(src.join("lib.rs")).unwrap();
    lib.lines().filter_map(|l| l.strip_prefix("pub mod ")).map(|l| l.trim_end_matches(';').to_string()).collect()
}

/// The file's lines before a trailing `#[cfg(test)]` module, comments left out.
fn code_lines(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let tests_at = (0..lines.len()).find(|&i| {
        lines[i].trim() == "#[cfg(test)]"
            && lines[i + 1..]
                .iter()
                .map(|l| l.trim())
                .find(|l| !l.starts_with("#["))
                .is_some_and(|l| l.starts_with("mod "))
    });
    lines[..tests_at.unwrap_or(lines.len())].iter().copied().filter(|l| !l.trim_start().starts_with("//")).collect()
}

/// Every `crate::<name>`, `crate::{a, b::c}` included.
fn crate_names(line: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (at, _) in line.match_indices("crate::") {
        if at > 0 && line[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = &line[at + "crate::".len()..];
        let ident = |s: &str| s.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
        match rest.strip_prefix('{') {
            Some(group) => {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                names.extend(group.split(',').map(ident));
            }
            None => names.push(ident(rest)),
        }
    }
    names
}

fn imports() -> Imports {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut imports = Imports::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let name = file.file_stem().unwrap().to_string_lossy();
        if name == "tests" || name.ends_with("_tests") {
            continue;
        }
        let top = relative.components().next().unwrap().as_os_str().to_string_lossy();
        let top = top.trim_end_matches(".rs").to_string();
        if !modules.contains(&top) {
            continue;
        }
        let text = fs::read_to_string(&file).unwrap();
        let used = imports.entry(top.clone()).or_default();
        for line in code_lines(&text) {
            used.extend(crate_names(line).into_iter().filter(|n| modules.contains(n) && *n != top));
        }
    }
    imports
}

/// A cycle through `from`, if any, as the path of modules.
fn cycle_from(imports: &Imports, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![(from.to_string(), vec![from.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((module, path)) = stack.pop() {
        for next in imports.get(&module).into_iter().flatten() {
            if next == from {
                return Some([path.clone(), vec![from.to_string()]].concat());
            }
            if seen.insert(next.clone()) {
                stack.push((next.clone(), [path.clone(), vec![next.clone()]].concat()));
            }
        }
    }
    None
}

#[test]
fn no_module_imports_around_a_cycle() {
    let imports = imports();
    let cycles: Vec<String> = imports.keys().filter_map(|m| cycle_from(&imports, m)).map(|c| c.join(" → ")).collect();
    assert!(cycles.is_empty(), "import cycles between top-level modules:\n{}", cycles.join("\n"));
}

/// The floors table of docs/architecture.md: floor number → modules.
fn floors() -> BTreeMap<String, u32> {
    let doc = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md")).unwrap();
    let table = doc.split("## Floors").nth(1).expect("docs/architecture.md has a `## Floors` section");
    let mut floors = BTreeMap::new();
    for row in table.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let Ok(floor) = cells[1].parse::<u32>() else { continue };
        for module in cells[2].split(',') {
            floors.insert(module.trim().trim_matches('`').to_string(), floor);
        }
    }
    floors
}

#[test]
fn every_module_imports_only_lower_floors() {
    let floors = floors();
    let mut wrong = Vec::new();
    for (module, used) in imports() {
        let Some(floor) = floors.get(&module) else {
            wrong.push(format!("`{module}` is on no floor of docs/architecture.md"));
            continue;
        };
        for other in used {
            match floors.get(&other) {
                Some(theirs) if theirs < floor => {}
                Some(theirs) => wrong.push(format!("{module} (floor {floor}) imports {other} (floor {theirs})")),
                None => wrong.push(format!("`{other}` is on no floor of docs/architecture.md")),
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the floors of docs/architecture.md:\n{}", wrong.join("\n"));
}
