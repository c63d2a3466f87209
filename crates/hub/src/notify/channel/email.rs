//! Email over SMTP (lettre with rustls): STARTTLS (required, not opportunistic), implicit
//! TLS, or — for a relay on the same machine only — none. Alerts are plain text; the digest
//! is multipart/alternative with a text and an HTML part.

use super::SendError;
use crate::notify::config::{ChannelConfig, SmtpTls};
use crate::notify::message::{Message, MessageKind};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds the credentials: show only the addresses.
        f.debug_struct("Email")
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

impl Email {
    pub fn new(c: &ChannelConfig, timeout: Duration) -> Result<Email, String> {
        let host = c.smtp_host.clone().unwrap_or_default();
        let mode = c.tls.unwrap_or_default();
        let port = c.smtp_port.unwrap_or(match mode {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        });
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
            .port(port)
            .timeout(Some(timeout));
        if mode != SmtpTls::None {
            let mut params = TlsParameters::builder(host.clone());
            if let Some(path) = &c.ca_file {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("reading ca_file {}: {e}", path.display()))?;
                let cert = Certificate::from_pem(&pem).map_err(|e| {
                    format!("ca_file {}: not a PEM certificate: {e}", path.display())
                })?;
                params = params.add_root_certificate(cert);
            }
            let params = params
                .build_rustls()
                .map_err(|e| format!("TLS settings: {e}"))?;
            builder = builder.tls(match mode {
                SmtpTls::Tls => Tls::Wrapper(params),
                _ => Tls::Required(params),
            });
        }
        if let (Some(user), Some(password)) = (&c.smtp_username, &c.smtp_password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        let mailbox = |s: &str, key: &str| -> Result<Mailbox, String> {
            s.parse()
                .map_err(|e| format!("`{key}`: `{s}` is not an email address: {e}"))
        };
        Ok(Email {
            transport: builder.build(),
            from: mailbox(c.from.as_deref().unwrap_or_default(), "from")?,
            to: c
                .to
                .iter()
                .map(|t| mailbox(t, "to"))
                .collect::<Result<_, _>>()?,
        })
    }

    pub async fn send(&self, m: &Message) -> Result<(), SendError> {
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .subject(m.title.clone())
            .user_agent(concat!("hostwatch/", env!("CARGO_PKG_VERSION")).to_string());
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let mut text = m.text.clone();
        if let Some(url) = &m.url {
            text.push_str(&format!("\n\n{url}"));
        }
        let email = match (&m.kind, &m.html) {
            (MessageKind::Digest, Some(html)) => {
                builder.multipart(MultiPart::alternative_plain_html(text, html.clone()))
            }
            _ => builder.header(ContentType::TEXT_PLAIN).body(text),
        }
        .map_err(|e| SendError::permanent(format!("building the email: {e}")))?;
        match self.transport.send(email).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::permanent(format!("SMTP: {e}"))),
            Err(e) => Err(SendError::transient(format!("SMTP: {e}"), None)),
        }
    }
}
