//! The shipped defaults: every file is embedded, parses and conforms to its schema.
#[test]
fn every_shipped_default_and_schema_is_embedded_and_valid() {
    config::seed::parsed().expect("the shipped defaults are valid");
}
