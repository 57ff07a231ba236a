//! The local model's words. Every fact in them is copied from its inputs — a tool's result, a
//! context passage, a tool's own name and description; the rest is fixed phrasing without
//! numbers or names.
use serde_json::Value;

use super::scan;
use crate::chat::types::{Message, Passage, ToolDef};

/// Most fields quoted from one tool result, and the longest value quoted.
const MAX_FIELDS: usize = 20;
const MAX_VALUE: usize = 300;
const MAX_TEXT: usize = 1000;

/// A tool's result, quoted field by field (those the question names first).
pub fn from_result(tool: &str, content: &str, question: &str) -> String {
    let content = content.trim();
    let parsed: Option<Value> = serde_json::from_str(content).ok();
    let mut fields = Vec::new();
    match &parsed {
        Some(v @ (Value::Object(_) | Value::Array(_))) => flatten("", v, &mut fields),
        _ if content.is_empty() => return format!("{tool} returned nothing."),
        _ => return format!("{tool} returned: \"{}\".", clip(content, MAX_TEXT)),
    }
    if fields.is_empty() {
        return format!("{tool} returned nothing.");
    }
    let asked: Vec<String> = scan::scan(question)
        .words
        .iter()
        .map(|w| scan::stem(w))
        .collect();
    let named = |key: &str| {
        scan::ident_words(key)
            .iter()
            .any(|w| asked.iter().any(|a| scan::same_word(a, &scan::stem(w))))
    };
    // The fields the question names first, then the rest, each group by key (a JSON object's
    // order is not something to rely on).
    fields.sort_by_cached_key(|(k, _)| (!named(k), k.clone()));
    let total = fields.len();
    let quoted: Vec<String> = fields
        .into_iter()
        .take(MAX_FIELDS)
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    let more = if total > MAX_FIELDS { "; and more" } else { "" };
    format!("{tool} returned {}{more}.", quoted.join("; "))
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&key(k), v, out);
            }
        }
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            let list: Vec<String> = items.iter().map(scalar).collect();
            out.push((prefix_or(prefix), clip(&list.join(", "), MAX_VALUE)));
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate().take(MAX_FIELDS) {
                flatten(&key(&(i + 1).to_string()), item, out);
            }
        }
        other => out.push((prefix_or(prefix), clip(&scalar(other), MAX_VALUE))),
    }
}

fn prefix_or(prefix: &str) -> String {
    if prefix.is_empty() {
        "result".into()
    } else {
        prefix.to_string()
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "none".into(),
        other => other.to_string(),
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut c: String = s.chars().take(max).collect();
    c.push('…');
    c
}

/// Sentences of the context that bear on the question, each with its source.
pub fn from_context(chosen: &[(&Passage, &str)]) -> String {
    let quoted: Vec<String> = chosen
        .iter()
        .map(|(p, sentence)| format!("\"{}\" [{}]", clip(sentence, MAX_VALUE), p.source))
        .collect();
    format!("From what I was given: {}.", quoted.join(" "))
}

/// The required arguments a tool call still lacks, asked for.
pub fn ask(tool: &ToolDef, missing: &[(String, String)]) -> String {
    let wanted: Vec<String> = missing
        .iter()
        .map(|(name, desc)| {
            let label = scan::ident_words(name).join(" ");
            if desc.is_empty() {
                label
            } else {
                format!("{label} ({desc})")
            }
        })
        .collect();
    format!(
        "To {} I need: {}. Please tell me.",
        lower_first(tool.description.trim_end_matches('.')),
        wanted.join("; ")
    )
}

/// Nothing offered covers the request: say so, and what can be done.
pub fn cannot_help(tools: &[ToolDef]) -> String {
    if tools.is_empty() {
        return "I can't help with that: nothing I was given covers it.".into();
    }
    let can: Vec<String> = tools
        .iter()
        .map(|t| {
            format!(
                "{} ({})",
                lower_first(t.description.trim_end_matches('.')),
                t.name
            )
        })
        .collect();
    format!("I can't help with that. What I can do: {}.", can.join("; "))
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        // Keep acronyms and names (`CRM`, `Acme`) as written; lower a plain first word only.
        Some(f) if f.is_uppercase() && c.clone().next().is_some_and(char::is_lowercase) => {
            f.to_lowercase().chain(c).collect()
        }
        Some(f) => std::iter::once(f).chain(c).collect(),
        None => String::new(),
    }
}

/// The name of the tool whose call `id` answered, from the assistant's calls before it.
pub fn tool_of<'a>(messages: &'a [Message], id: &str) -> Option<&'a str> {
    messages
        .iter()
        .flat_map(|m| &m.tool_calls)
        .find(|c| c.id == id)
        .map(|c| c.name.as_str())
}
