//! Mail to staff members: their invitations (issue 32.1). The creator of an
//! account never sees a credential of it; the invitation code goes to the
//! new staff member's own address.
//!
//! Delivery, in order of preference: SMTP (`CASEDESK_SMTP_URL`, such as
//! `smtps://user:password@relay.city.example:465` or `smtp://relay:25?tls=required`;
//! lettre), or a directory (`CASEDESK_MAIL_DIR`: one `.eml` file per message
//! in a directory of mode 0700, for development and for a city's own mail
//! pick-up), or none: then the server's operator hands invitations out
//! (`casedesk staff invite --email ...`). The message holds the code and
//! when it expires, nothing else about the account.

use chrono::{DateTime, Utc};
use lettre::{
    message::header::ContentType, AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message,
    Tokio1Executor,
};

use crate::config::Config;

/// How an invitation left the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Handed to the mail relay, or written to the mail directory.
    Sent,
    /// The relay or the directory refused it (logged without the code);
    /// ask for a new invitation.
    Failed,
    /// No mail delivery is configured: the server's operator hands out
    /// invitations with `casedesk staff invite`.
    NotConfigured,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Sent => "sent",
            Delivery::Failed => "failed",
            Delivery::NotConfigured => "not_configured",
        }
    }
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Dir(AsyncFileTransport<Tokio1Executor>),
    None,
}

/// The service's way of sending mail.
pub struct Mailer {
    transport: Transport,
    from: String,
}

impl Mailer {
    /// From the configuration; the mail directory is made (mode 0700) if
    /// missing. An SMTP URL that does not parse is an error at start.
    pub fn from_config(config: &Config) -> Result<Self, String> {
        let transport = if let Some(url) = &config.smtp_url {
            Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|_| {
                        "CASEDESK_SMTP_URL: not an SMTP URL lettre reads (smtp://, smtps://)"
                            .to_owned()
                    })?
                    .build(),
            )
        } else if let Some(dir) = &config.mail_dir {
            create_private_dir(dir).map_err(|e| {
                format!(
                    "CASEDESK_MAIL_DIR: cannot make {}: {}",
                    dir.display(),
                    e.kind()
                )
            })?;
            Transport::Dir(AsyncFileTransport::<Tokio1Executor>::new(dir))
        } else {
            Transport::None
        };
        Ok(Self {
            transport,
            from: config.mail_from.clone(),
        })
    }

    /// Sends `code` to `to`. Never fails the caller: the outcome says what
    /// happened (a failure is logged without the code or the address).
    pub async fn send_invitation(
        &self,
        to: &str,
        code: &str,
        expires_at: DateTime<Utc>,
        public_url: &url::Url,
    ) -> Delivery {
        if matches!(self.transport, Transport::None) {
            return Delivery::NotConfigured;
        }
        let body = format!(
            "You have been given an account on Casedesk ({public}).\n\n\
             Your enrolment code:\n\n    {code}\n\n\
             It is valid once, until {expires} (UTC). Choose your password with it:\n\
             POST {public}api/v1/enrolments with {{\"code\": \"...\", \"newPassword\": \"...\"}}\n\
             (or on {public}docs), then sign in. Nobody else has seen this code; do not\n\
             forward it. If you did not expect this message, tell your administrator.\n",
            public = public_url.as_str(),
            expires = expires_at.format("%Y-%m-%d %H:%M"),
        );
        let message = match (self.from.parse(), to.parse()) {
            (Ok(from), Ok(to)) => Message::builder()
                .from(from)
                .to(to)
                .subject("Your Casedesk enrolment code")
                .header(ContentType::TEXT_PLAIN)
                .body(body),
            _ => {
                tracing::error!("an invitation's sender or recipient is not a mail address");
                return Delivery::Failed;
            }
        };
        let Ok(message) = message else {
            tracing::error!("an invitation could not be composed");
            return Delivery::Failed;
        };
        // a relay's answer may quote the recipient's address: only the kind
        // of failure is logged, never its text
        let failure = match &self.transport {
            Transport::Smtp(t) => t.send(message).await.err().map(|e| {
                if e.is_permanent() {
                    "refused by the relay (permanent)"
                } else if e.is_transient() {
                    "refused by the relay (transient)"
                } else if e.is_timeout() {
                    "the relay timed out"
                } else {
                    "the relay could not be reached"
                }
            }),
            Transport::Dir(t) => t
                .send(message)
                .await
                .err()
                .map(|_| "the mail directory could not be written"),
            Transport::None => return Delivery::NotConfigured,
        };
        match failure {
            None => Delivery::Sent,
            Some(kind) => {
                tracing::error!(failure = kind, "an invitation could not be delivered");
                Delivery::Failed
            }
        }
    }
}

/// Makes the directory if missing, and (also when it existed) readable by
/// its owner only: the messages hold invitation codes.
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_mail_directory_is_made_private_even_when_it_existed() {
        use std::os::unix::fs::PermissionsExt;
        let dir =
            std::env::temp_dir().join(format!("casedesk-mail-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::remove_dir(&dir).unwrap();
    }
}
