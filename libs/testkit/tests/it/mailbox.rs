//! Reading a service's file mailbox: the newest message, codes and link parameters.
use testkit::{Mailbox, mailbox};

fn write(dir: &std::path::Path, name: &str, to: &str, subject: &str, body: &str) {
    std::fs::write(
        dir.join(name),
        format!("To: {to}\r\nSubject: {subject}\r\nContent-Type: text/plain\r\n\r\n{body}"),
    )
    .expect("writing a message");
    // The mailbox orders by modification time. Bodies are quoted-printable, as lettre writes them.
    std::thread::sleep(std::time::Duration::from_millis(20));
}

#[test]
fn codes_and_link_parameters_are_found_in_text() {
    let text = "Your verification code is AB12CD.\nReset: https://x.test/r?token=t0k-1&x=2 now";
    assert_eq!(
        mailbox::code_after(text, "verification code is ", 6).as_deref(),
        Some("AB12CD")
    );
    assert_eq!(mailbox::code_after(text, "missing", 6), None);
    assert_eq!(mailbox::code_after("code is AB", "code is ", 6), None);
    assert_eq!(mailbox::link_param(text, "token").as_deref(), Some("t0k-1"));
    assert_eq!(mailbox::link_param(text, "state"), None);
}

#[test]
fn the_newest_message_to_an_address_is_read() {
    let dir = std::env::temp_dir().join(testkit::unique("mailbox"));
    std::fs::create_dir_all(&dir).expect("mailbox dir");
    let to = testkit::unique_email("kim");
    write(
        &dir,
        "1.eml",
        &to,
        "Verify",
        "Your verification code is OLD111.",
    );
    write(
        &dir,
        "2.eml",
        "someone@else.test",
        "Verify",
        "Your verification code is XXX999.",
    );
    write(
        &dir,
        "3.eml",
        &to,
        "Reset your password",
        "https://x.test/r?token=3Dabc123 ok",
    );
    write(
        &dir,
        "4.eml",
        &to,
        "Verify",
        "Your verification code is NEW222.",
    );
    let m = Mailbox::new(&dir);
    assert_eq!(m.all(&to).len(), 3);
    assert_eq!(m.newest(&to).subject, "Verify");
    assert_eq!(m.code(&to, "verification code is ", 6), "NEW222");
    assert_eq!(m.link_param(&to, "Reset your password", "token"), "abc123");
    assert_eq!(m.count_with_subject_prefix(&to, "Ver"), 2);
    let missing = std::panic::catch_unwind(|| m.newest_with_subject(&to, "Welcome"));
    assert!(missing.is_err(), "no such subject panics");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unique_identities_differ() {
    let (a, b) = (testkit::unique_email("x"), testkit::unique_email("x"));
    assert_ne!(a, b);
    assert!(a.starts_with("x.") && a.ends_with("@acme.com"), "{a}");
    assert_ne!(
        testkit::unique_org_name("Acme"),
        testkit::unique_org_name("Acme")
    );
    assert!(testkit::client_ip().starts_with("198.51.100."));
}
