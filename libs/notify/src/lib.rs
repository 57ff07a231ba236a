//! Email for services: SMTP (lettre) when `SMTP_URL` is configured, otherwise a file mailbox —
//! one RFC 5322 `.eml` file per message in a directory — that developers, tests and `make demo`
//! read. Both sit behind [`Mailer`].
use std::{path::PathBuf, sync::Arc};

use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart, SinglePart, header::ContentType},
};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("address {0:?} is not valid")]
    Address(String),
    #[error("building the message: {0}")]
    Build(String),
    #[error("sending: {0}")]
    Send(String),
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

#[async_trait::async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &Email) -> Result<(), NotifyError>;
}

fn build(from: &Mailbox, email: &Email) -> Result<Message, NotifyError> {
    let to: Mailbox = email
        .to
        .parse()
        .map_err(|_| NotifyError::Address(email.to.clone()))?;
    let builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.subject.clone());
    let msg = match &email.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            html.clone(),
        )),
        None => builder.singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(email.text.clone()),
        ),
    };
    msg.map_err(|e| NotifyError::Build(e.to_string()))
}

/// Writes each message as `<id>.eml` under a directory.
pub struct FileMailbox {
    from: Mailbox,
    dir: PathBuf,
    transport: AsyncFileTransport<Tokio1Executor>,
}

impl FileMailbox {
    pub fn new(dir: impl Into<PathBuf>, from: &str) -> Result<Self, NotifyError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| NotifyError::Send(e.to_string()))?;
        Ok(FileMailbox {
            from: from
                .parse()
                .map_err(|_| NotifyError::Address(from.into()))?,
            transport: AsyncFileTransport::new(&dir),
            dir,
        })
    }

    pub fn dir(&self) -> &PathBuf {
        &self.dir
    }
}

#[async_trait::async_trait]
impl Mailer for FileMailbox {
    async fn send(&self, email: &Email) -> Result<(), NotifyError> {
        let msg = build(&self.from, email)?;
        self.transport
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| NotifyError::Send(e.to_string()))
    }
}

/// SMTP with STARTTLS or implicit TLS as the URL says (`smtp://…?tls=required`,
/// `smtps://user:pass@host:465`).
pub struct Smtp {
    from: Mailbox,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Smtp {
    pub fn new(url: &str, from: &str) -> Result<Self, NotifyError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| NotifyError::Build(format!("SMTP_URL: {e}")))?
            .build();
        Ok(Smtp {
            from: from
                .parse()
                .map_err(|_| NotifyError::Address(from.into()))?,
            transport,
        })
    }
}

#[async_trait::async_trait]
impl Mailer for Smtp {
    async fn send(&self, email: &Email) -> Result<(), NotifyError> {
        let msg = build(&self.from, email)?;
        self.transport
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| NotifyError::Send(e.to_string()))
    }
}

/// SMTP when a URL is given, else the file mailbox.
pub fn mailer(
    smtp_url: Option<&str>,
    from: &str,
    mailbox_dir: impl Into<PathBuf>,
) -> Result<Arc<dyn Mailer>, NotifyError> {
    Ok(match smtp_url {
        Some(url) => Arc::new(Smtp::new(url, from)?),
        None => Arc::new(FileMailbox::new(mailbox_dir, from)?),
    })
}

/// A message read back from a file mailbox.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: String,
    pub subject: String,
    /// The decoded text body.
    pub text: String,
    pub modified: std::time::SystemTime,
}

/// The messages in `dir` addressed to `to`, oldest first (tests, `make demo`).
pub fn read_mailbox(dir: &std::path::Path, to: &str) -> Vec<Received> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "eml") {
            continue;
        }
        let (Ok(raw), Ok(meta)) = (std::fs::read_to_string(&path), entry.metadata()) else {
            continue;
        };
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
        let header = |name: &str| {
            head.lines()
                .find_map(|l| {
                    l.split_once(':')
                        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.trim().to_string())
                })
                .unwrap_or_default()
        };
        let rcpt = header("To");
        if !rcpt.to_ascii_lowercase().contains(&to.to_ascii_lowercase()) {
            continue;
        }
        out.push(Received {
            to: rcpt,
            subject: header("Subject"),
            text: decode_quoted_printable(body),
            modified: meta.modified().unwrap_or(std::time::UNIX_EPOCH),
        });
    }
    out.sort_by_key(|m| m.modified);
    out
}

/// Enough quoted-printable decoding to read the text bodies lettre writes.
fn decode_quoted_printable(s: &str) -> String {
    let s = s.replace("=\r\n", "").replace("=\n", "");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_file_mailbox_writes_readable_eml() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("mailbox-{}", uuid::Uuid::new_v4()));
        let m = FileMailbox::new(&dir, "Workflow <no-reply@workflow.local>")?;
        m.send(&Email {
            to: "john@acme.com".into(),
            subject: "Your code".into(),
            text: "Your verification code is ABC123 — it expires in 24 hours.".into(),
            html: None,
        })
        .await?;
        let got = read_mailbox(&dir, "john@acme.com");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].subject, "Your code");
        assert!(got[0].text.contains("ABC123"), "{}", got[0].text);
        assert!(got[0].text.contains("expires in 24 hours"));
        assert!(read_mailbox(&dir, "other@acme.com").is_empty());
        let raw = std::fs::read_dir(&dir)?
            .flatten()
            .next()
            .expect("file")
            .path();
        let raw = std::fs::read_to_string(raw)?;
        assert!(raw.contains("\r\nMessage-ID: ") || raw.contains("Date: "));
        std::fs::remove_dir_all(dir)?;
        Ok(())
    }

    #[test]
    fn bad_addresses_are_refused() {
        let dir = std::env::temp_dir();
        assert!(FileMailbox::new(&dir, "not an address").is_err());
        assert!(Smtp::new("notaurl", "a@b.c").is_err());
    }
}
