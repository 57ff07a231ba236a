use docs::{Block, Document, SectionChange, WordOp, diff};

fn doc(sections: &[(&str, &str)]) -> Document {
    sections.iter().fold(Document::new("v"), |d, (id, text)| {
        d.section(docs::Section::new(*id, None).block(Block::paragraph(*text)))
    })
}

#[test]
fn sections_are_compared_by_id_and_changed_ones_word_by_word() {
    let old = doc(&[
        ("intro", "The parties agree as follows."),
        ("term", "This agreement lasts two years."),
        ("law", "Governed by Irish law."),
    ]);
    let new = doc(&[
        ("intro", "The parties agree as follows."),
        ("term", "This agreement lasts three years."),
        ("fees", "Fees are due in 30 days."),
    ]);
    let d = diff(&old, &new);
    let changes: Vec<(&str, SectionChange)> = d
        .sections
        .iter()
        .map(|s| (s.id.as_str(), s.change))
        .collect();
    assert_eq!(
        changes,
        vec![
            ("intro", SectionChange::Unchanged),
            ("term", SectionChange::Changed),
            // A removed section is listed where it stood: after its old predecessor.
            ("law", SectionChange::Removed),
            ("fees", SectionChange::Added),
        ]
    );
    let term = &d.sections[1];
    let deleted: Vec<&str> = term
        .words
        .iter()
        .filter(|w| w.op == WordOp::Delete)
        .map(|w| w.text.as_str())
        .collect();
    let inserted: Vec<&str> = term
        .words
        .iter()
        .filter(|w| w.op == WordOp::Insert)
        .map(|w| w.text.as_str())
        .collect();
    assert_eq!(deleted, vec!["two"]);
    assert_eq!(inserted, vec!["three"]);
    let rebuilt: String = term
        .words
        .iter()
        .filter(|w| w.op != WordOp::Delete)
        .map(|w| w.text.as_str())
        .collect();
    assert_eq!(rebuilt, "This agreement lasts three years.");
    assert!(!d.is_empty());
    assert!(diff(&old, &old).is_empty());
}

#[test]
fn a_diff_serialises_for_apis_and_prints_as_unified_text() {
    let old = doc(&[("a", "one\ntwo"), ("gone", "bye")]);
    let new = doc(&[("a", "one\n2"), ("new", "hi")]);
    let d = diff(&old, &new);
    let json = serde_json::to_value(&d).expect("serialisable");
    assert_eq!(json["sections"][0]["id"], "a");
    assert_eq!(json["sections"][0]["change"], "changed");
    assert_eq!(json["sections"][0]["words"][1]["op"], "delete");
    let unified = d.unified();
    let lines: Vec<&str> = unified.lines().collect();
    for line in [
        "--- a/a",
        "+++ b/a",
        " one",
        "-two",
        "+2",
        "--- a/gone",
        "+++ /dev/null",
        "-bye",
        "--- /dev/null",
        "+++ b/new",
        "+hi",
    ] {
        assert!(lines.contains(&line), "{line:?} in {unified}");
    }
    assert!(unified.contains("+++ /dev/null") && unified.contains("--- /dev/null"));
}
