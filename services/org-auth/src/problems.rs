//! The service's problem types: stable `type` URIs a client can rely on, documented in the
//! OpenAPI document (the kit's common ones — `not-found`, `validation`, `forbidden`, … — are
//! added to these). Each keeps the status and title the service has always answered with; only
//! the `type` is specific.
//!
//! Answers that must not reveal which of several cases applies share one type: a wrong
//! password, an unknown address and a locked account are all `invalid-credentials`; an invalid,
//! used and expired invitation (claim link, reset link, code) are one type each.
use kit::ProblemType;

pub const INVALID_CREDENTIALS: ProblemType = ProblemType::new(
    401,
    "invalid-credentials",
    "Unauthorized",
    "The email or password is wrong, or the account is temporarily locked: one answer for all three, so none is revealed.",
);

pub const ACCOUNT_LOCKED: ProblemType = ProblemType::new(
    401,
    "account-locked",
    "Unauthorized",
    "The account is locked for a while after repeated failed sign-ins (OAuth sign-in says so).",
);

pub const MFA_CODE_INVALID: ProblemType = ProblemType::new(
    401,
    "mfa-code-invalid",
    "Unauthorized",
    "The second sign-in step's code is wrong; it counts toward the lockout.",
);

pub const MFA_STEP_EXPIRED: ProblemType = ProblemType::new(
    401,
    "mfa-step-expired",
    "Unauthorized",
    "The second sign-in step is unknown, used, expired or out of attempts: sign in again.",
);

pub const REFRESH_INVALID: ProblemType = ProblemType::new(
    401,
    "refresh-invalid",
    "Unauthorized",
    "The refresh token is unknown, expired or revoked, or its account is no longer active: sign in again.",
);

pub const REFRESH_REUSE: ProblemType = ProblemType::new(
    401,
    "refresh-reuse",
    "Unauthorized",
    "An already rotated refresh token came back: every token of that sign-in is revoked.",
);

pub const ACCOUNT_INACTIVE: ProblemType = ProblemType::new(
    403,
    "account-inactive",
    "Forbidden",
    "The account is not active (suspended, locked, deleted or not claimed yet).",
);

pub const EMAIL_UNVERIFIED: ProblemType = ProblemType::new(
    403,
    "email-unverified",
    "Forbidden",
    "The account's email address is not verified yet.",
);

pub const VERIFICATION_CODE_INVALID: ProblemType = ProblemType::new(
    400,
    "verification-code-invalid",
    "Bad Request",
    "The email verification code is wrong, used, expired or out of attempts.",
);

pub const PASSWORD_LINK_INVALID: ProblemType = ProblemType::new(
    400,
    "password-link-invalid",
    "Bad Request",
    "The password link is unknown, used or expired.",
);

pub const EMAIL_TAKEN: ProblemType = ProblemType::new(
    409,
    "email-taken",
    "Conflict",
    "An account already exists for this email address.",
);

pub const SLUG_TAKEN: ProblemType = ProblemType::new(
    409,
    "slug-taken",
    "Conflict",
    "Another organisation with this name was created at the same moment; retry.",
);

pub const ALREADY_MEMBER: ProblemType = ProblemType::new(
    409,
    "already-member",
    "Conflict",
    "The person is already a member of the organisation.",
);

pub const INVITATION_PENDING: ProblemType = ProblemType::new(
    409,
    "invitation-pending",
    "Conflict",
    "An invitation for this email address is already pending.",
);

pub const INVITATION_INVALID: ProblemType = ProblemType::new(
    400,
    "invitation-invalid",
    "Bad Request",
    "The invitation is unknown, its secret is wrong, or it is used or expired.",
);

pub const SIGN_IN_TO_ACCEPT: ProblemType = ProblemType::new(
    409,
    "sign-in-to-accept",
    "Conflict",
    "An account exists for the invited address: sign in as it, then accept.",
);

pub const LAST_ADMIN: ProblemType = ProblemType::new(
    409,
    "last-admin",
    "Conflict",
    "The organisation's last admin can be neither demoted nor removed.",
);

pub const MFA_ALREADY_ENABLED: ProblemType = ProblemType::new(
    409,
    "mfa-already-enabled",
    "Conflict",
    "MFA is on: disable it before enrolling again.",
);

pub const MFA_CODE_REJECTED: ProblemType = ProblemType::new(
    400,
    "mfa-code-rejected",
    "Bad Request",
    "The authenticator code (and, to turn MFA off, the password) did not verify.",
);

pub const MFA_ENROLLMENT_REQUIRED: ProblemType = ProblemType::new(
    403,
    "mfa-enrollment-required",
    "Forbidden",
    "An organisation of the user requires MFA, which the user has not set up: sign in again to enrol.",
);

pub const CLAIM_INVALID: ProblemType = ProblemType::new(
    400,
    "claim-invalid",
    "Bad Request",
    "The claim link is unknown, replaced by a newer one, used or expired.",
);

pub const ASSISTED_ACCOUNT_CLOSED: ProblemType = ProblemType::new(
    409,
    "assisted-account-closed",
    "Conflict",
    "The assisted account is already claimed, has expired or was rejected.",
);

pub const APPROVAL_PENDING: ProblemType = ProblemType::new(
    403,
    "approval-pending",
    "Forbidden",
    "The assisted account waits for a platform admin's approval: until then its claim link is \
     not sent, it cannot be claimed and its temporary access is refused.",
);

pub const APPROVAL_DECIDED: ProblemType = ProblemType::new(
    409,
    "approval-decided",
    "Conflict",
    "The assisted account's approval is already decided (approved or rejected).",
);

pub const OAUTH_REFUSED: ProblemType = ProblemType::new(
    400,
    "oauth-refused",
    "Bad Request",
    "The sign-in provider reports that the user declined or the request failed.",
);

pub const OAUTH_STATE_INVALID: ProblemType = ProblemType::new(
    400,
    "oauth-state-invalid",
    "Bad Request",
    "The OAuth sign-in is unknown, expired or already used: start again.",
);

pub const OAUTH_EMAIL_UNVERIFIED: ProblemType = ProblemType::new(
    409,
    "oauth-email-unverified",
    "Conflict",
    "The provider has not verified the email address, so it is not linked to an account.",
);

pub const UPSTREAM: ProblemType = ProblemType::new(
    502,
    "upstream",
    "Bad Gateway",
    "The sign-in provider did not complete the token exchange or the profile lookup.",
);

pub const LOGIN_DELAYED: ProblemType = ProblemType::new(
    429,
    "login-delayed",
    "Too Many Requests",
    "Repeated failed sign-ins to this address from several sources: a new attempt must wait \
     `Retry-After` seconds (the wait grows with each failure; a source that signed in to the \
     account before is not held up).",
);

pub const BUSY: ProblemType = ProblemType::new(
    503,
    "busy",
    "Service Unavailable",
    "Too many password checks at once: retry after `Retry-After` seconds.",
);

pub const CURRENT_PASSWORD_INVALID: ProblemType = ProblemType::new(
    400,
    "current-password-invalid",
    "Bad Request",
    "The current password given to change it is wrong; it counts toward the sign-in lockout.",
);

pub const PASSWORD_CHANGED_MEANWHILE: ProblemType = ProblemType::new(
    409,
    "password-changed-meanwhile",
    "Conflict",
    "The password was changed by another request while this one was checked: sign in again.",
);

pub const USER_STATE: ProblemType = ProblemType::new(
    409,
    "user-state",
    "Conflict",
    "The account is not in a state the change applies to (deactivating an account that is not \
     active, reactivating one that is not deactivated, deactivating one's own login).",
);

pub const ALL: &[ProblemType] = &[
    INVALID_CREDENTIALS,
    ACCOUNT_LOCKED,
    MFA_CODE_INVALID,
    MFA_STEP_EXPIRED,
    REFRESH_INVALID,
    REFRESH_REUSE,
    ACCOUNT_INACTIVE,
    EMAIL_UNVERIFIED,
    VERIFICATION_CODE_INVALID,
    PASSWORD_LINK_INVALID,
    EMAIL_TAKEN,
    SLUG_TAKEN,
    ALREADY_MEMBER,
    INVITATION_PENDING,
    INVITATION_INVALID,
    SIGN_IN_TO_ACCEPT,
    LAST_ADMIN,
    MFA_ALREADY_ENABLED,
    MFA_CODE_REJECTED,
    MFA_ENROLLMENT_REQUIRED,
    CLAIM_INVALID,
    ASSISTED_ACCOUNT_CLOSED,
    APPROVAL_PENDING,
    APPROVAL_DECIDED,
    OAUTH_REFUSED,
    OAUTH_STATE_INVALID,
    OAUTH_EMAIL_UNVERIFIED,
    UPSTREAM,
    LOGIN_DELAYED,
    BUSY,
    CURRENT_PASSWORD_INVALID,
    PASSWORD_CHANGED_MEANWHILE,
    USER_STATE,
];

#[cfg(test)]
mod tests {
    #[test]
    fn slugs_are_unique_and_statuses_are_errors() {
        let mut slugs: Vec<&str> = super::ALL.iter().map(|p| p.slug).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), super::ALL.len());
        assert!(super::ALL.iter().all(|p| (400..600).contains(&p.status)));
    }
}
