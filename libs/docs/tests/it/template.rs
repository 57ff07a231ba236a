use crate::Refused as _;
use std::time::{Duration, Instant};

use docs::{Escape, Renderer, TemplateErrorKind, TemplateLimits};
use serde_json::json;

#[test]
fn a_missing_variable_is_a_typed_error_naming_template_line_and_variable() {
    let src = "Dear {{ customer.first_name }},\nyour total is {{ order.total }}.";
    let err = Renderer::default()
        .render(
            "invoice.md",
            src,
            Escape::Markdown,
            &json!({"customer": {"first_name": "Ana"}}),
        )
        .refused();
    assert_eq!(err.template, "invoice.md");
    assert_eq!(err.line, Some(2));
    assert_eq!(
        err.kind,
        TemplateErrorKind::UndefinedVariable {
            name: "order.total".into()
        }
    );
    assert!(err.to_string().contains("invoice.md"), "{err}");
    let json = serde_json::to_value(&err).expect("serialisable");
    assert_eq!(json["kind"], "undefined_variable");
}

#[test]
fn a_template_that_loops_without_end_stops_on_its_fuel() {
    let src = "{% for a in range(10000) %}{% for b in range(10000) %}{% for c in range(10000) %}{% endfor %}{% endfor %}{% endfor %}";
    let started = Instant::now();
    let err = Renderer::default()
        .render("loop.txt", src, Escape::Text, &json!({}))
        .refused();
    assert!(
        matches!(err.kind, TemplateErrorKind::OutOfFuel { fuel: 2_000_000 }),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10), "bounded");

    // No macros (nor includes) in user-written templates, so no recursion either.
    let recursive = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}";
    let err = Renderer::default()
        .render("recursive.txt", recursive, Escape::Text, &json!({}))
        .refused();
    assert!(
        matches!(err.kind, TemplateErrorKind::Syntax { .. }),
        "{err:?}"
    );
}

#[test]
fn oversized_templates_and_outputs_are_refused() {
    let limits = TemplateLimits {
        max_template_bytes: 1_000,
        max_output_bytes: 10_000,
        ..TemplateLimits::default()
    };
    let r = Renderer::new(limits);
    let err = r
        .render("big.html", &"x".repeat(1_001), Escape::Html, &json!({}))
        .refused();
    assert_eq!(
        err.kind,
        TemplateErrorKind::TemplateTooLarge {
            size: 1_001,
            limit: 1_000
        }
    );
    let err = r
        .render(
            "bomb.html",
            "{% for i in range(5000) %}{{ s }}{% endfor %}",
            Escape::Html,
            &json!({"s": "0123456789"}),
        )
        .refused();
    assert_eq!(
        err.kind,
        TemplateErrorKind::OutputTooLarge { limit: 10_000 }
    );
    let ok = r
        .render(
            "fits.html",
            "{% for i in range(900) %}{{ s }}{% endfor %}",
            Escape::Html,
            &json!({"s": "0123456789"}),
        )
        .expect("9 000 bytes fit");
    assert_eq!(ok.len(), 9_000);
}

#[test]
fn values_are_escaped_for_the_language_of_the_template() {
    let ctx = json!({"v": "<script>alert('x')</script> *b* #set [l](u) $m$"});
    let r = Renderer::default();
    let html = r
        .render("t.html", "<p>{{ v }}</p>", Escape::Html, &ctx)
        .expect("html");
    assert_eq!(
        html,
        "<p>&lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2f;script&gt; *b* #set [l](u) $m$</p>"
    );
    let md = r
        .render("t.md", "{{ v }}", Escape::Markdown, &ctx)
        .expect("md");
    assert_eq!(
        md,
        r"\<script\>alert\(&#39;x&#39;\)\</script\> \*b\* \#set \[l\]\(u\) $m$"
            .replace("&#39;", "'")
    );
    let typ = r
        .render("t.typ", "{{ v }}", Escape::Typst, &ctx)
        .expect("typst");
    assert_eq!(
        typ,
        r"\<script\>alert(\'x\')\<\/script\> \*b\* \#set \[l\](u) \$m\$"
    );
    let trusted = r
        .render(
            "t.md",
            "{{ v | safe }}",
            Escape::Markdown,
            &json!({"v": "**bold**"}),
        )
        .expect("safe");
    assert_eq!(trusted, "**bold**");
    let text = r
        .render("t.txt", "{{ v }}", Escape::Text, &ctx)
        .expect("text");
    assert_eq!(text, "<script>alert('x')</script> *b* #set [l](u) $m$");
}

#[test]
fn a_syntax_error_names_the_line() {
    let err = Renderer::default()
        .render(
            "broken.md",
            "line one\n{% if %}",
            Escape::Markdown,
            &json!({}),
        )
        .refused();
    assert_eq!(err.line, Some(2));
    assert!(
        matches!(err.kind, TemplateErrorKind::Syntax { .. }),
        "{err:?}"
    );
}
