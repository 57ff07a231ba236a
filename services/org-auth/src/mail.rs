//! The messages org-auth sends, and its sender.
use std::sync::Arc;

use kit::Uow;
use notify::Email;

/// Sends the service's mail. A failed send is logged, not fatal: codes and links can be
/// requested again.
#[derive(Clone)]
pub(crate) struct Mail(Arc<dyn notify::Mailer>);

impl Mail {
    pub fn new(mailer: Arc<dyn notify::Mailer>) -> Self {
        Mail(mailer)
    }

    /// Sends now; whether it went out (some answers say so).
    pub async fn send(&self, email: Email) -> bool {
        notify::send_logged(&*self.0, &email).await
    }

    /// Sends once `uow` has committed (never for a change that rolled back).
    pub fn after_commit(&self, uow: &mut Uow, email: Email) {
        let mail = self.clone();
        uow.after_commit(async move {
            mail.send(email).await;
        });
    }
}

pub fn verification_code(to: &str, name: &str, code: &str) -> Email {
    Email {
        to: to.into(),
        subject: format!("Your verification code: {code}"),
        text: format!(
            "Hello {name},\n\nYour verification code is {code}\n\nEnter it to verify your email address. \
             It expires in 24 hours. If you did not sign up, ignore this message.\n"
        ),
        html: None,
    }
}

pub fn already_registered(to: &str, app_url: &str) -> Email {
    Email {
        to: to.into(),
        subject: "Someone tried to sign up with your email".into(),
        text: format!(
            "An account already exists for this address. Sign in at {app_url}/login, or reset \
             your password at {app_url}/forgot-password if you lost it. If this was not you, \
             nothing has changed.\n"
        ),
        html: None,
    }
}

pub fn invitation(to: &str, org: &str, link: &str, custom: Option<&str>, expires: &str) -> Email {
    let note = custom
        .map(|m| format!("\nMessage from your team: {m}\n"))
        .unwrap_or_default();
    Email {
        to: to.into(),
        subject: format!("You are invited to join {org}"),
        text: format!(
            "You have been invited to join {org} on the Workflow platform.\n{note}\n\
             Accept the invitation: {link}\n\nThe invitation expires on {expires}.\n"
        ),
        html: None,
    }
}

pub fn welcome(to: &str, name: &str, org: &str, app_url: &str) -> Email {
    Email {
        to: to.into(),
        subject: format!("Welcome to {org}"),
        text: format!(
            "Hello {name},\n\nYou are now a member of {org}. Your dashboard, with the PRD Builder, \
             is at {app_url}.\n"
        ),
        html: None,
    }
}

pub fn password_reset(to: &str, link: &str, initial: bool) -> Email {
    let (subject, lead) = if initial {
        (
            "Set your password",
            "An account was created for you on the Workflow platform.",
        )
    } else {
        (
            "Reset your password",
            "A password reset was requested for your account.",
        )
    };
    Email {
        to: to.into(),
        subject: subject.into(),
        text: format!(
            "{lead}\n\nChoose your password here: {link}\n\nThe link works once and expires in \
             one hour. If you did not ask for it, ignore this message.\n"
        ),
        html: None,
    }
}

pub fn password_changed(to: &str) -> Email {
    Email {
        to: to.into(),
        subject: "Your password was changed".into(),
        text: "Your password was just changed and every session was signed out. If this was not \
               you, reset your password at once and contact support.\n"
            .into(),
        html: None,
    }
}

pub fn claim(
    to: &str,
    name: &str,
    company: &str,
    link: &str,
    expires: &str,
    note: Option<&str>,
) -> Email {
    let note = note.map(|m| format!("\n{m}\n")).unwrap_or_default();
    Email {
        to: to.into(),
        subject: format!("Your {company} account is ready to claim"),
        text: format!(
            "Hello {name},\n\nWe set up an account for {company} on the Workflow platform, with the \
             research and demos prepared for you.\n{note}\nClaim it and choose your password: {link}\n\n\
             The link works once and expires on {expires}.\n"
        ),
        html: None,
    }
}

pub fn claim_reminder(to: &str, company: &str, app_url: &str, expires: &str) -> Email {
    Email {
        to: to.into(),
        subject: format!("Reminder: your {company} account expires soon"),
        text: format!(
            "Your account for {company} has not been claimed yet and expires on {expires}. Use the \
             claim link we sent you, or ask your contact at {app_url} for a new one.\n"
        ),
        html: None,
    }
}

pub fn claimed(to: &str, company: &str, dashboard: &str) -> Email {
    Email {
        to: to.into(),
        subject: format!("You now own the {company} account"),
        text: format!(
            "Your account is claimed: you are the admin of {company} and everything prepared for you \
             is yours. Dashboard: {dashboard}\n"
        ),
        html: None,
    }
}

/// To a platform admin: assisted accounts that expired unclaimed, for follow-up (one line each:
/// company, client address, the agent who created it).
pub fn accounts_expired(to: &str, expired: &[(String, String, String)], app_url: &str) -> Email {
    let lines: Vec<String> = expired
        .iter()
        .map(|(company, client, agent)| format!("- {company} ({client}), created by agent {agent}"))
        .collect();
    let n = expired.len();
    Email {
        to: to.into(),
        subject: format!("{n} assisted account(s) expired unclaimed"),
        text: format!(
            "These assisted accounts reached the end of their claim period unclaimed and are now \
             locked:\n\n{}\n\nFollow up with the clients, or review them at {app_url}/admin/assisted-accounts.\n",
            lines.join("\n")
        ),
        html: None,
    }
}
