//! Webhooks: an HTTP POST of the notification as JSON, with a timeout.
//! Built on the hyper stack a2 already brings (see Cargo.toml).

use std::sync::Arc;

use http::header::{CONTENT_TYPE, USER_AGENT};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::message::webhook_body;
use super::sink::{Sink, Target};
use super::{BoxFuture, Outcome};
use crate::config::notify::WebhookSettings;
use crate::model::{DeviceInfo, Notification, Trigger};

/// How much of an error response's body is kept for the log.
const ERROR_BODY_CHARS: usize = 200;

/// One HTTP client for every webhook, kept for the daemon's life so its
/// connections are reused. HTTPS with the webpki roots (no OpenSSL), or
/// plain HTTP.
#[derive(Clone)]
pub struct WebhookClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Default for WebhookClient {
    fn default() -> WebhookClient {
        WebhookClient::new()
    }
}

impl WebhookClient {
    pub fn new() -> WebhookClient {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .build();
        WebhookClient {
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// POSTs `body` to the webhook; the whole exchange, answer included,
    /// must finish within its timeout.
    pub async fn post(&self, hook: &WebhookSettings, body: &Value) -> Outcome {
        let mut request = http::Request::post(hook.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, concat!("m/", env!("CARGO_PKG_VERSION")));
        for (name, value) in &hook.headers {
            request = request.header(name, value);
        }
        let request = match request.body(Full::new(Bytes::from(body.to_string()))) {
            Ok(request) => request,
            Err(e) => {
                return Outcome::Drop {
                    reason: format!("cannot build the request: {e}"),
                }
            }
        };
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status();
            // Read (a bounded part of) the answer, so the connection can be reused.
            let answer = Limited::new(response.into_body(), 64 * 1024)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok::<_, hyper_util::client::legacy::Error>((status, answer))
        };
        match tokio::time::timeout(hook.timeout, exchange).await {
            Err(_) => Outcome::Retry {
                reason: format!("no answer within {:?}", hook.timeout),
            },
            Ok(Err(e)) => Outcome::Retry {
                reason: format!("cannot reach {}: {}", host_of(hook), error_chain(&e)),
            },
            Ok(Ok((status, answer))) => {
                let outcome = classify_http(status.as_u16());
                match outcome {
                    Outcome::Delivered => outcome,
                    _ => {
                        let text = String::from_utf8_lossy(&answer);
                        let text = super::message::one_line(&text, ERROR_BODY_CHARS);
                        let reason = if text.is_empty() {
                            format!("answered {status}")
                        } else {
                            format!("answered {status}: {text}")
                        };
                        outcome.with_reason(reason)
                    }
                }
            }
        }
    }
}

/// What an HTTP status means for a webhook: 2xx delivered; 408, 429 and
/// 5xx retried; anything else (a 4xx, a redirect) dropped.
pub fn classify_http(status: u16) -> Outcome {
    let reason = format!("answered {status}");
    match status {
        200..=299 => Outcome::Delivered,
        408 | 429 | 500..=599 => Outcome::Retry { reason },
        _ => Outcome::Drop { reason },
    }
}

/// The host, never the whole URL: webhook URLs often hold a secret.
fn host_of(hook: &WebhookSettings) -> String {
    hook.url.host().unwrap_or("?").to_string()
}

/// hyper's errors say little at the top ("client error (Connect)"); the
/// causes say what happened.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A `[[notify.webhook]]`: the notification's JSON POSTed to its URL
/// (without text anyone wrote when `redact` is on).
pub struct WebhookSink {
    pub hook: WebhookSettings,
    pub http: WebhookClient,
    pub redact: bool,
}

impl Sink for WebhookSink {
    fn name(&self) -> &str {
        &self.hook.name
    }

    fn wants(&self, trigger: Trigger) -> bool {
        self.hook.events.contains(&trigger)
    }

    fn targets(&self, _: &[DeviceInfo]) -> Vec<Target> {
        vec![Target {
            key: format!("webhook:{}", self.hook.name),
            label: format!("webhook {}", self.hook.name),
            device: None,
        }]
    }

    fn send(&self, n: Arc<Notification>, _: &Target) -> BoxFuture<'static, Outcome> {
        let (http, hook) = (self.http.clone(), self.hook.clone());
        let body = webhook_body(&n, self.redact);
        Box::pin(async move { http.post(&hook, &body).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_statuses_are_classified() {
        for (status, kind) in [
            (200, "delivered"),
            (201, "delivered"),
            (204, "delivered"),
            (301, "drop"),
            (400, "drop"),
            (401, "drop"),
            (404, "drop"),
            (408, "retry"),
            (429, "retry"),
            (500, "retry"),
            (502, "retry"),
            (503, "retry"),
        ] {
            assert_eq!(classify_http(status).kind(), kind, "{status}");
        }
    }
}
