//! Reading what a service mailed: the `.eml` files of its file mailbox (`FLEET_MAILBOX_DIR`,
//! one directory per spawned service), and the codes and links in them.
use std::path::{Path, PathBuf};

pub use notify::Received;

/// A spawned service's file mailbox.
#[derive(Debug, Clone)]
pub struct Mailbox {
    dir: PathBuf,
}

impl Mailbox {
    pub fn new(dir: &Path) -> Mailbox {
        Mailbox {
            dir: dir.to_path_buf(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every message to `to`, oldest first.
    pub fn all(&self, to: &str) -> Vec<Received> {
        notify::read_mailbox(&self.dir, to)
    }

    /// The newest message to `to`; panics when there is none.
    pub fn newest(&self, to: &str) -> Received {
        self.all(to)
            .pop()
            .unwrap_or_else(|| panic!("no mail to {to} in {}", self.dir.display()))
    }

    /// The newest message to `to` with exactly this subject; panics when there is none.
    pub fn newest_with_subject(&self, to: &str, subject: &str) -> Received {
        let all = self.all(to);
        let subjects: Vec<String> = all.iter().map(|m| m.subject.clone()).collect();
        all.into_iter()
            .rev()
            .find(|m| m.subject == subject)
            .unwrap_or_else(|| {
                panic!(
                    "no mail to {to} titled {subject:?} in {} (subjects: {subjects:?})",
                    self.dir.display()
                )
            })
    }

    /// How many messages to `to` have a subject starting with `prefix`.
    pub fn count_with_subject_prefix(&self, to: &str, prefix: &str) -> usize {
        self.all(to)
            .iter()
            .filter(|m| m.subject.starts_with(prefix))
            .count()
    }

    /// The `len` characters after `marker` in the newest message to `to` (a mailed code).
    pub fn code(&self, to: &str, marker: &str, len: usize) -> String {
        let mail = self.newest(to);
        code_after(&mail.text, marker, len)
            .unwrap_or_else(|| panic!("no {len}-character code after {marker:?} in: {}", mail.text))
    }

    /// The value of the query parameter `param` of a link in the newest message to `to` titled
    /// `subject` (e.g. the `token` of a reset link).
    pub fn link_param(&self, to: &str, subject: &str, param: &str) -> String {
        let mail = self.newest_with_subject(to, subject);
        link_param(&mail.text, param)
            .unwrap_or_else(|| panic!("no link with {param}= in: {}", mail.text))
    }
}

/// The `len` characters after the first `marker` in `text`.
pub fn code_after(text: &str, marker: &str, len: usize) -> Option<String> {
    let at = text.find(marker)? + marker.len();
    let code: String = text[at..].chars().take(len).collect();
    (code.chars().count() == len).then_some(code)
}

/// The value of the first `param=` in `text` (a link's query parameter), up to whitespace or
/// the next `&`.
pub fn link_param(text: &str, param: &str) -> Option<String> {
    let marker = format!("{param}=");
    let rest = text.split(marker.as_str()).nth(1)?;
    let value: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '&')
        .collect();
    (!value.is_empty()).then_some(value)
}
