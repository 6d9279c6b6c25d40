//! The parser and the variable resolver never panic, whatever the input: arbitrary text, YAML-shaped text,
//! and the corpus files with random edits. `PROPTEST_CASES` sets how many cases run (CI keeps the default).

use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn corpus_texts() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .unwrap();
    let mut texts = vec![];
    for kind in ["valid", "invalid"] {
        for entry in std::fs::read_dir(root.join("fixtures/syaml").join(kind)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                texts.push(std::fs::read_to_string(path).unwrap());
            }
        }
    }
    texts
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/syaml/valid")
}

fn parse(text: &str) {
    let env = |name: &str| (name == "SET").then(|| "value".to_string());
    let _ = fcemu_spec::parse_project(text, Path::new("s.yaml"), &corpus_dir(), &env);
}

/// An edit of a corpus file: cut, duplicate, or replace a slice with a fragment that s.yaml files use.
#[derive(Debug, Clone)]
enum Edit {
    Cut(usize, usize),
    Duplicate(usize, usize),
    Insert(usize, &'static str),
}

const FRAGMENTS: &[&str] = &[
    "${",
    "}",
    "${vars.a}",
    "${env('X')}",
    "${env(",
    "${this.props.",
    "${json('{')}",
    "${file('/')}",
    "\n  - ",
    ": ",
    "\n",
    "  ",
    "{",
    "[",
    "]",
    "'",
    "\"",
    "&a ",
    "*a",
    "!!binary ",
    "~",
    "9999999999999999999999",
    "-1",
    "1e400",
    "\t",
    "é",
    "\u{0}",
    "<<: *a\n",
    "---\n",
    "...\n",
];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(at, len)| Edit::Cut(at, len)),
        (any::<usize>(), 0usize..80).prop_map(|(at, len)| Edit::Duplicate(at, len)),
        (any::<usize>(), proptest::sample::select(FRAGMENTS))
            .prop_map(|(at, s)| Edit::Insert(at, s)),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let n = chars.len().max(1);
    match *edit {
        Edit::Cut(at, len) => {
            let at = at % n;
            let end = (at + len).min(chars.len());
            chars.drain(at.min(end)..end);
        }
        Edit::Duplicate(at, len) => {
            let at = at % n;
            let end = (at + len).min(chars.len());
            let piece: Vec<char> = chars[at.min(end)..end].to_vec();
            chars.splice(at..at, piece);
        }
        Edit::Insert(at, fragment) => {
            let at = at % n;
            chars.splice(at.min(chars.len())..at.min(chars.len()), fragment.chars());
        }
    }
    chars.into_iter().collect()
}

proptest! {
    // proptest's default: 256 cases a property, or PROPTEST_CASES.
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn edited_corpus_files_never_panic(index in any::<usize>(), edits in proptest::collection::vec(edit(), 1..6)) {
        let texts = corpus_texts();
        let mut text = texts[index % texts.len()].clone();
        for e in &edits {
            text = apply(&text, e);
        }
        parse(&text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        parse(&text);
    }

    #[test]
    fn yaml_shaped_text_never_panics(
        lines in proptest::collection::vec("( {0,6})(edition|name|resources|props|functionName|runtime|vars|[a-z]{1,8})(: )(3\\.0\\.0|1\\.0\\.0|custom-container|\\$\\{[a-z.()', ]{0,20}\\}|[a-z0-9{}\\[\\],]{0,12})", 0..30)
    ) {
        parse(&lines.join("\n"));
    }

    #[test]
    fn variable_expressions_never_panic(expr in "\\$\\{[a-zA-Z0-9_.(),' \"\\-/{}$]{0,40}\\}?") {
        let document: serde_yaml::Value = serde_yaml::from_str("vars: {a: x, b: '${vars.a}'}").unwrap();
        let env = |_: &str| None;
        let scope = fcemu_spec::vars::Scope { dir: Path::new("/p"), document: &document, this_props: None, env: &env };
        let _ = fcemu_spec::vars::resolve_string(&expr, &scope, 0);
    }
}

#[test]
fn a_valid_file_resolves_the_same_every_time() {
    let text = std::fs::read_to_string(corpus_dir().join("fc3-variables.yaml")).unwrap();
    let env = |_: &str| None;
    let once = fcemu_spec::parse_project(&text, Path::new("s.yaml"), &corpus_dir(), &env).unwrap();
    let twice = fcemu_spec::parse_project(&text, Path::new("s.yaml"), &corpus_dir(), &env).unwrap();
    assert_eq!(
        serde_json::to_string(&once).unwrap(),
        serde_json::to_string(&twice).unwrap()
    );
}
