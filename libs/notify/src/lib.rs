//! Email for services: SMTP (lettre) when `SMTP_URL` is configured, otherwise a file mailbox —
//! one RFC 5322 `.eml` file per message in a directory — that developers, tests and `make demo`
//! read. Both sit behind [`Mailer`].
//!
//! A message's subject and text carry codes and links, and its address is personal: neither an
//! error of this crate nor its log says more of a message than its `Message-ID` and the domain
//! it was addressed to.
use std::{path::PathBuf, sync::Arc};

use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart, SinglePart, header::ContentType},
};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A sender address (configuration) that does not parse.
    #[error("address {0:?} is not valid")]
    Address(String),
    /// A recipient address that does not parse: only its domain is told.
    #[error("the recipient address at {to_domain:?} is not valid")]
    Recipient { to_domain: String },
    #[error("building the message: {0}")]
    Build(String),
    #[error("sending message {message_id} to {to_domain}: {reason}")]
    Send {
        message_id: String,
        to_domain: String,
        reason: String,
    },
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

impl Email {
    /// The domain the message is addressed to (what logs may say of the recipient).
    pub fn to_domain(&self) -> &str {
        self.to
            .rsplit_once('@')
            .map_or("", |(_, d)| d.trim_end_matches('>').trim())
    }
}

#[async_trait::async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &Email) -> Result<(), NotifyError>;
}

/// Sends `email`; whether it went out. A failure is logged with the message id and the
/// recipient's domain only.
pub async fn send_logged(mailer: &dyn Mailer, email: &Email) -> bool {
    match mailer.send(email).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, to_domain = email.to_domain(), "sending email failed");
            false
        }
    }
}

fn build(from: &Mailbox, email: &Email) -> Result<Message, NotifyError> {
    let to: Mailbox = email.to.parse().map_err(|_| NotifyError::Recipient {
        to_domain: email.to_domain().to_string(),
    })?;
    let builder = Message::builder()
        .from(from.clone())
        .to(to)
        // A fresh id, so that a failed send can be named in the log by it.
        .message_id(None)
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

/// The error of a failed send of `msg`, naming it by its `Message-ID`.
fn sending_failed(msg: &Message, email: &Email) -> impl FnOnce(String) -> NotifyError + use<> {
    let message_id = msg
        .headers()
        .get_raw("Message-ID")
        .unwrap_or("(none)")
        .to_string();
    let to_domain = email.to_domain().to_string();
    move |reason| NotifyError::Send {
        message_id,
        to_domain,
        reason,
    }
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
        std::fs::create_dir_all(&dir)
            .map_err(|e| NotifyError::Build(format!("mailbox {}: {e}", dir.display())))?;
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
        let failed = sending_failed(&msg, email);
        self.transport
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| failed(e.to_string()))
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
        let failed = sending_failed(&msg, email);
        self.transport
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| failed(e.to_string()))
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

    /// A log written into a buffer, for reading back what was logged.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log buffer").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_failed_smtp_send_logs_the_message_id_and_domain_never_the_subject_or_address() {
        let log = Captured::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        // Nothing listens on port 1: the connection is refused at once.
        let smtp =
            Smtp::new("smtp://127.0.0.1:1", "Workflow <no-reply@workflow.local>").expect("smtp");
        let email = Email {
            to: "john.doe@acme.com".into(),
            subject: "Your verification code: ZX81QP".into(),
            text: "Your verification code is ZX81QP".into(),
            html: None,
        };
        assert!(!send_logged(&smtp, &email).await);
        let bad = Email {
            to: "john.doe@@acme.com".into(),
            ..email.clone()
        };
        assert!(!send_logged(&smtp, &bad).await);
        let logged = String::from_utf8(log.0.lock().expect("log buffer").clone()).expect("utf-8");
        assert!(logged.contains("sending email failed"), "{logged}");
        assert!(
            logged.contains("acme.com") && logged.contains("sending message <"),
            "{logged}"
        );
        for secret in ["ZX81QP", "john.doe", "verification code"] {
            assert!(!logged.contains(secret), "{secret} in {logged}");
        }
    }

    #[test]
    fn the_recipient_domain_is_what_follows_the_last_at() {
        let mut e = Email {
            to: "Pat <pat@example.org>".into(),
            subject: String::new(),
            text: String::new(),
            html: None,
        };
        assert_eq!(e.to_domain(), "example.org");
        e.to = "no address".into();
        assert_eq!(e.to_domain(), "");
    }

    #[test]
    fn bad_addresses_are_refused() {
        let dir = std::env::temp_dir();
        assert!(FileMailbox::new(&dir, "not an address").is_err());
        assert!(Smtp::new("notaurl", "a@b.c").is_err());
    }
}
