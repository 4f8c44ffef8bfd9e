//! The HTTP client every API source uses: bounded retries with backoff
//! (429 honouring `Retry-After`, 5xx, timeouts, dropped connections), an
//! OAuth2 client-credentials token fetched once and renewed before it
//! expires or when a request is refused with 401, and one-line errors that
//! name what was asked for and the HTTP status.

use std::time::{Duration, Instant};

use bytes::Bytes;
use datafusion::common::exec_datafusion_err;
use datafusion::error::Result;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Client, RequestBuilder, StatusCode, Url};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::credentials::Credentials;

/// Attempts per request (the first and four retries).
const ATTEMPTS: u32 = 5;
/// The first retry waits this long; each next one twice as long.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest `Retry-After` waited for; a server asking for more fails the request.
const LONGEST_WAIT: Duration = Duration::from_secs(120);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// An OAuth2 client-credentials grant (RFC 6749 §4.4): the client
/// authenticates with HTTP Basic auth, as the RFC requires servers to accept.
pub(crate) struct OAuth2 {
    pub(crate) token_url: Url,
    pub(crate) scope: String,
    pub(crate) credentials: Credentials,
}

struct Token {
    bearer: String,
    /// When to fetch a new one unasked (a little before it expires).
    renew_at: Option<Instant>,
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// A response with a 2xx status.
pub(crate) struct Response {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// A client for one API source; `source` names it in errors ("HydroVu").
pub(crate) struct ApiClient {
    http: Client,
    source: &'static str,
    auth: Option<OAuth2>,
    token: Mutex<Option<Token>>,
}

impl ApiClient {
    pub(crate) fn new(source: &'static str, auth: Option<OAuth2>) -> Result<Self> {
        crate::tls::choose_backend();
        let http = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("pondsql/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| exec_datafusion_err!("{source}: cannot make an HTTP client: {e}"))?;
        Ok(ApiClient {
            http,
            source,
            auth,
            token: Mutex::new(None),
        })
    }

    /// GETs `url` with `headers`; `what` says what it is for in errors
    /// ("location 6582334"). Retries what may pass on a second try.
    pub(crate) async fn get(
        &self,
        url: &Url,
        headers: &[(&str, &str)],
        what: &str,
    ) -> Result<Response> {
        let source = self.source;
        let failed = |detail: String| {
            exec_datafusion_err!("{source} {what}: {detail} (GET {})", without_query(url))
        };
        let mut renewed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self.http.get(url.clone());
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if self.auth.is_some() {
                request = request.bearer_auth(self.bearer(what).await?);
            }
            let wait = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    let headers = response.headers().clone();
                    match response.bytes().await {
                        Ok(body) => return Ok(Response { headers, body }),
                        Err(e) if attempt < ATTEMPTS => {
                            tracing::debug!("{source} {what}: body cut short: {e}");
                            backoff(attempt)
                        }
                        Err(e) => return Err(failed(format!("reading the response: {e}"))),
                    }
                }
                // A token the server no longer takes: a new one, once.
                Ok(response)
                    if response.status() == StatusCode::UNAUTHORIZED
                        && self.auth.is_some()
                        && !renewed =>
                {
                    renewed = true;
                    *self.token.lock().await = None;
                    attempt -= 1;
                    Duration::ZERO
                }
                Ok(response) if retryable(response.status()) && attempt < ATTEMPTS => {
                    match retry_after(response.headers()) {
                        Some(wait) if wait > LONGEST_WAIT => {
                            return Err(failed(format!(
                                "HTTP {} and asked to wait {} s: try again later",
                                response.status(),
                                wait.as_secs()
                            )))
                        }
                        Some(wait) => wait,
                        None => backoff(attempt),
                    }
                }
                Ok(response) => {
                    let status = response.status();
                    let body = response.text().await.unwrap_or_default();
                    let tries = if attempt > 1 {
                        format!(" after {attempt} attempts")
                    } else {
                        String::new()
                    };
                    return Err(failed(format!("HTTP {status}{tries}{}", snippet(&body))));
                }
                Err(e)
                    if (e.is_timeout() || e.is_connect() || e.is_request())
                        && attempt < ATTEMPTS =>
                {
                    tracing::debug!("{source} {what}: {e}");
                    backoff(attempt)
                }
                Err(e) => {
                    return Err(failed(format!(
                        "{} after {attempt} attempts",
                        connection_error(&e)
                    )))
                }
            };
            tracing::debug!("{source} {what}: attempt {attempt} failed; again in {wait:?}");
            tokio::time::sleep(wait).await;
        }
    }

    /// The bearer token, fetched when there is none or it is about to expire.
    async fn bearer(&self, what: &str) -> Result<String> {
        let mut token = self.token.lock().await;
        let fresh = token
            .as_ref()
            .is_some_and(|t| t.renew_at.is_none_or(|at| Instant::now() < at));
        if !fresh {
            *token = Some(self.fetch_token(what).await?);
        }
        // Just set when it was not fresh.
        Ok(token.as_ref().map(|t| t.bearer.clone()).unwrap_or_default())
    }

    async fn fetch_token(&self, what: &str) -> Result<Token> {
        let source = self.source;
        let Some(auth) = &self.auth else {
            return Err(exec_datafusion_err!("{source}: no credentials"));
        };
        let request = || -> RequestBuilder {
            self.http
                .post(auth.token_url.clone())
                .basic_auth(
                    &auth.credentials.client_id,
                    Some(&auth.credentials.client_secret),
                )
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("scope", auth.scope.as_str()),
                ])
        };
        let failed = |detail: String| {
            exec_datafusion_err!(
                "{source} {what}: signing in failed: {detail} (POST {})",
                without_query(&auth.token_url)
            )
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let wait = match request().send().await {
                Ok(response) if response.status().is_success() => {
                    let body = response
                        .bytes()
                        .await
                        .map_err(|e| failed(format!("reading the token: {e}")))?;
                    let reply: TokenReply = serde_json::from_slice(&body)
                        .map_err(|e| failed(format!("the reply is not an OAuth2 token: {e}")))?;
                    // Renew a little early: a request must not carry a token
                    // that expires on the way.
                    let renew_at = reply.expires_in.map(|s| {
                        let lifetime = Duration::from_secs(s);
                        Instant::now() + lifetime - (lifetime / 10).min(Duration::from_secs(60))
                    });
                    return Ok(Token {
                        bearer: reply.access_token,
                        renew_at,
                    });
                }
                Ok(response) if retryable(response.status()) && attempt < ATTEMPTS => {
                    retry_after(response.headers())
                        .unwrap_or_else(|| backoff(attempt))
                        .min(LONGEST_WAIT)
                }
                Ok(response) if response.status().is_client_error() => {
                    return Err(failed(format!(
                        "HTTP {}: check the client id and secret ({})",
                        response.status(),
                        auth.credentials.origin
                    )))
                }
                Ok(response) => return Err(failed(format!("HTTP {}", response.status()))),
                Err(e) if (e.is_timeout() || e.is_connect()) && attempt < ATTEMPTS => {
                    backoff(attempt)
                }
                Err(e) => return Err(failed(connection_error(&e))),
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// Statuses that may pass on a later try.
fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}

fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF * 2u32.pow(attempt.saturating_sub(1).min(6))
}

/// `Retry-After` in seconds (the form APIs send; an HTTP date is taken as
/// "no advice", and the usual backoff applies).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?;
    text.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The endpoint without its query (kept short in one-line errors).
fn without_query(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.to_string()
}

/// The start of an error body, on one line.
fn snippet(body: &str) -> String {
    let line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return String::new();
    }
    let short: String = line.chars().take(200).collect();
    format!(": {short}")
}

/// What went wrong reaching the server, with reqwest's cause chain on one line.
fn connection_error(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_is_honoured_and_dates_are_not() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn backoff_doubles_and_is_bounded() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(40), Duration::from_millis(250 * 64));
    }

    #[test]
    fn error_bodies_are_one_short_line() {
        assert_eq!(snippet(""), "");
        assert_eq!(snippet("a\n  b"), ": a b");
        assert_eq!(snippet(&"x".repeat(500)).len(), 202);
    }
}
