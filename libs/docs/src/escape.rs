//! Escaping for the languages documents are written in: Markdown and typst markup (HTML is
//! minijinja's own). Each function makes its input render literally.
use minijinja::{AutoEscape, Error, Output, State, Value, escape_formatter};

/// Characters Markdown may read as syntax somewhere in a line.
const MARKDOWN_SPECIAL: &str = "\\`*_{}[]()<>#+-.!|~&";
/// Characters typst markup reads as syntax.
const TYPST_SPECIAL: &str = "\\#$*_`<>@=-+/~[]\"'";

/// Markdown text that renders as exactly `s` (backslash escapes, which CommonMark defines for
/// every ASCII punctuation character; `&` so entities stay literal).
pub fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push(' '),
            c if MARKDOWN_SPECIAL.contains(c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// typst markup that renders as exactly `s`.
pub fn typst(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if TYPST_SPECIAL.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The formatter the template environment uses: minijinja's for HTML and none, ours for the
/// custom `markdown` and `typst` modes. Values marked safe (`|safe`) pass through.
pub(crate) fn formatter(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    let escape: fn(&str) -> String = match state.auto_escape() {
        AutoEscape::Custom(name) if name == "markdown" => markdown,
        AutoEscape::Custom(name) if name == "typst" => typst,
        _ => return escape_formatter(out, state, value),
    };
    if value.is_safe() {
        return write_plain(out, value);
    }
    if value.is_undefined() || value.is_none() {
        return write_plain(out, value);
    }
    let text = match value.as_str() {
        Some(s) => escape(s),
        None => escape(&value.to_string()),
    };
    out.write_str(&text).map_err(Error::from)
}

fn write_plain(out: &mut Output, value: &Value) -> Result<(), Error> {
    write!(out, "{value}").map_err(Error::from)
}
