//! The local model's argument filling: values taken from the text by the tool's schema, and
//! nothing taken that the text does not state.
use ai::chat::extract_arguments;
use serde_json::{Value, json};

fn schema() -> Value {
    json!({"type": "object", "properties": {
        "order_id": {"type": "string", "description": "The order number, like ORD-1234"},
        "email": {"type": "string", "format": "email"},
        "delivery_date": {"type": "string", "format": "date"},
        "quantity": {"type": "integer", "minimum": 1, "maximum": 100},
        "priority": {"type": "string", "enum": ["low", "normal", "high"]},
        "gift_wrap": {"type": "boolean"},
        "company": {"type": "string"},
        "address": {"type": "object"}
    }, "required": ["order_id", "email"]})
}

#[test]
fn every_kind_of_value_is_taken_from_where_the_text_states_it() {
    let got = extract_arguments(
        &schema(),
        "Change order ORD-1234 to quantity 3, deliver on 2025-03-14, high priority, \
         gift wrap please; contact ana@acme.com at company Acme Corp",
    );
    assert!(got.missing.is_empty(), "{:?}", got.missing);
    assert_eq!(
        Value::Object(got.arguments),
        json!({"order_id": "ORD-1234", "email": "ana@acme.com", "delivery_date": "2025-03-14",
            "quantity": 3, "priority": "high", "gift_wrap": true, "company": "Acme Corp"})
    );
}

#[test]
fn numbers_inside_ids_and_dates_are_not_taken_for_quantities() {
    let got = extract_arguments(&schema(), "ORD-77 for bob@x.io on 2025-01-02");
    assert_eq!(got.arguments.get("quantity"), None);
    assert_eq!(got.arguments["order_id"], json!("ORD-77"));
}

#[test]
fn a_negated_boolean_is_false_and_an_out_of_range_number_is_not_taken() {
    let got = extract_arguments(&schema(), "ORD-9 ana@acme.com no gift wrap, quantity 500");
    assert_eq!(got.arguments["gift_wrap"], json!(false));
    assert_eq!(
        got.arguments.get("quantity"),
        None,
        "500 is above the maximum"
    );
}

#[test]
fn required_values_the_text_lacks_are_reported_missing_and_nothing_is_invented() {
    let got = extract_arguments(&schema(), "Where is my order?");
    let missing: Vec<&str> = got.missing.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(missing, ["order_id", "email"]);
    assert_eq!(got.missing[0].1, "The order number, like ORD-1234");
    assert!(got.arguments.is_empty(), "{:?}", got.arguments);
}

#[test]
fn a_lone_number_fills_the_lone_numeric_property_and_free_text_takes_the_message() {
    let s = json!({"type": "object", "properties": {
        "seats": {"type": "integer"}, "query": {"type": "string"}}});
    let got = extract_arguments(&s, "  price for 25 of them  ");
    assert_eq!(got.arguments["seats"], json!(25));
    assert_eq!(got.arguments["query"], json!("price for 25 of them"));
}

#[test]
fn hostile_schemas_and_text_are_handled_without_panicking() {
    for schema in [
        json!(null),
        json!([]),
        json!({"properties": 5}),
        json!({"properties": {"x": 1}}),
        json!({"properties": {"n": {"type": "integer", "minimum": "a"}}, "required": [1, "n"]}),
    ] {
        let _ = extract_arguments(
            &schema,
            "quantity 1e308 ORD-1 \"unclosed ““”” @@ 9999-99-99",
        );
    }
    let long = "ORD-1 ".repeat(10_000);
    let got = extract_arguments(&schema(), &long);
    assert_eq!(got.arguments["order_id"], json!("ORD-1"));
}
