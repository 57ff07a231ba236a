//! Text templates (minijinja) for user-written and built-in templates alike: strict about
//! undefined variables, escaping by the output's language, bounded work (fuel) and bounded sizes.
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};
use serde::{Deserialize, Serialize};

use crate::{
    error::{TemplateError, TemplateErrorKind},
    escape,
};

/// The language a template writes, which decides how `{{ value }}` is escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Escape {
    Html,
    Markdown,
    Typst,
    /// Plain text (an email subject, say): nothing is escaped.
    Text,
}

impl Escape {
    fn auto(self) -> AutoEscape {
        match self {
            Escape::Html => AutoEscape::Html,
            Escape::Markdown => AutoEscape::Custom("markdown".into()),
            Escape::Typst => AutoEscape::Custom("typst".into()),
            Escape::Text => AutoEscape::None,
        }
    }
}

/// Caps for one render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateLimits {
    pub max_template_bytes: usize,
    pub max_output_bytes: usize,
    /// minijinja fuel: roughly one unit per instruction executed.
    pub fuel: u64,
}

impl Default for TemplateLimits {
    fn default() -> Self {
        TemplateLimits {
            max_template_bytes: 256 << 10,
            max_output_bytes: 4 << 20,
            fuel: 2_000_000,
        }
    }
}

/// Renders templates with one set of limits. Cheap to build; holds no templates, so user-written
/// ones never outlive their render.
#[derive(Debug, Clone, Copy, Default)]
pub struct Renderer {
    pub limits: TemplateLimits,
}

impl Renderer {
    pub fn new(limits: TemplateLimits) -> Self {
        Renderer { limits }
    }

    /// Renders `source` (named `name` in errors) with the values of `ctx`.
    pub fn render<C: Serialize>(
        &self,
        name: &str,
        source: &str,
        escape: Escape,
        ctx: &C,
    ) -> Result<String, TemplateError> {
        let err = |line, kind| TemplateError {
            template: name.to_string(),
            line,
            kind,
        };
        if source.len() > self.limits.max_template_bytes {
            return Err(err(
                None,
                TemplateErrorKind::TemplateTooLarge {
                    size: source.len(),
                    limit: self.limits.max_template_bytes,
                },
            ));
        }
        let env = self.environment(escape);
        let tmpl = env
            .template_from_named_str(name, source)
            .map_err(|e| self.error(name, source, &e, false))?;
        let mut out = Capped::new(self.limits.max_output_bytes);
        match tmpl.render_captured_to(Value::from(minijinja::value::Serde(ctx)), &mut out) {
            Ok(_) => String::from_utf8(out.buf).map_err(|_| {
                err(
                    None,
                    TemplateErrorKind::Render {
                        detail: "output is not UTF-8".into(),
                    },
                )
            }),
            Err(e) => Err(self.error(name, source, &e, out.overflowed)),
        }
    }

    fn environment(&self, escape: Escape) -> Environment<'static> {
        let mut env = Environment::new();
        // Strict: a missing variable is an error, never an empty string in a contract.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(self.limits.fuel));
        env.set_recursion_limit(64);
        // Render-time debug info (copies of state) is not needed: errors carry line and span.
        env.set_debug(false);
        let auto = escape.auto();
        env.set_auto_escape_callback(move |_| auto.clone());
        env.set_formatter(escape::formatter);
        env
    }

    fn error(
        &self,
        name: &str,
        source: &str,
        e: &minijinja::Error,
        overflowed: bool,
    ) -> TemplateError {
        let kind = match e.kind() {
            _ if overflowed => TemplateErrorKind::OutputTooLarge {
                limit: self.limits.max_output_bytes,
            },
            ErrorKind::UndefinedError => TemplateErrorKind::UndefinedVariable {
                name: e
                    .range()
                    .and_then(|r| source.get(r))
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| e.detail().unwrap_or("?").to_string()),
            },
            ErrorKind::OutOfFuel => TemplateErrorKind::OutOfFuel {
                fuel: self.limits.fuel,
            },
            ErrorKind::SyntaxError => TemplateErrorKind::Syntax {
                detail: e.detail().unwrap_or("invalid syntax").to_string(),
            },
            _ => TemplateErrorKind::Render {
                detail: e
                    .detail()
                    .map(str::to_string)
                    .unwrap_or_else(|| e.kind().to_string()),
            },
        };
        TemplateError {
            template: name.to_string(),
            line: e.line(),
            kind,
        }
    }
}

/// A writer that refuses to grow past its cap, which stops the render there.
struct Capped {
    buf: Vec<u8>,
    cap: usize,
    overflowed: bool,
}

impl Capped {
    fn new(cap: usize) -> Self {
        Capped {
            buf: Vec::new(),
            cap,
            overflowed: false,
        }
    }
}

impl std::io::Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.cap {
            self.overflowed = true;
            return Err(std::io::Error::other("output cap reached"));
        }
        self.buf.write(data)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
