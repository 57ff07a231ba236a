//! Notices after a committed change: mail to an agent (its profile's address) and to a client
//! (its login's address, asked of org-auth). A notice that cannot be sent is logged — never its
//! text or address — and answered as not sent.
use kit::contracts::workflow::org_auth::v1::GetUserRequest;
use notify::Email;
use uuid::Uuid;

use crate::{people::Person, state::AppState};

/// Mails `to`; whether it was sent.
async fn send(s: &AppState, to: String, subject: String, text: String) -> bool {
    let email = Email {
        to,
        subject,
        text,
        html: None,
    };
    notify::send_logged(s.mail.as_ref(), &email).await
}

/// Mails an agent.
pub async fn to_agent(s: &AppState, agent: &Person, subject: String, text: String) -> bool {
    send(s, agent.email.clone(), subject, text).await
}

/// Mails a client at its login's address; not sent when org-auth does not know the client.
pub async fn to_client(s: &AppState, client: Uuid, subject: String, text: String) -> bool {
    let req = GetUserRequest {
        user_id: client.to_string(),
    };
    match s.org_auth.clone().get_user(req).await {
        Ok(u) if !u.get_ref().email.is_empty() => {
            send(s, u.into_inner().email, subject, text).await
        }
        Ok(_) => false,
        Err(e) => {
            tracing::info!(code = ?e.code(), client = %client, "client not reachable for a notice");
            false
        }
    }
}

/// A handoff accepted: the client learns who serves it now, the previous agent who took over.
/// Answers (client notified, previous agent notified).
pub async fn handoff_accepted(
    s: &AppState,
    client: Uuid,
    previous: &Person,
    receiver: &Person,
) -> (bool, bool) {
    let to_client = to_client(
        s,
        client,
        "Your new contact".into(),
        format!(
            "{} is now your contact and will be in touch shortly.",
            receiver.full_name
        ),
    );
    let to_previous = to_agent(
        s,
        previous,
        "Handoff accepted".into(),
        format!(
            "{} accepted the handoff of client {client}.",
            receiver.full_name
        ),
    );
    tokio::join!(to_client, to_previous)
}
