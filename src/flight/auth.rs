//! Who is calling: Flight's handshake (HTTP Basic credentials → a bearer
//! token) and the client sessions the tokens stand for.
//!
//! A token is one client connection's session: its `PondSession` keeps an
//! open `BEGIN` block and `SET pond.as_of` between calls, as a psql
//! connection does. Without a users file (loopback only) calls need no
//! token; each call without one runs in a session of its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use tonic::metadata::MetadataMap;
use tonic::Status;

use super::users::{Role, Users};
use crate::SessionOptions;
use crate::{Pond, PondSession};

/// Sessions and prepared statements idle this long are forgotten (an open
/// block is rolled back), unless `pondsql serve --idle-timeout` says otherwise.
pub(crate) const IDLE: Duration = Duration::from_secs(8 * 3600);

/// Standard base64 with or without padding: the ADBC Go driver omits it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One client's session on the server.
pub(crate) struct ClientSession {
    pub(crate) user: String,
    pub(crate) session: PondSession,
    /// Statements of one session run one at a time.
    pub(crate) turn: tokio::sync::Mutex<()>,
    last_used: Mutex<Instant>,
}

/// Checks credentials and keeps the sessions of handshaken clients.
pub(crate) struct Authority {
    pond: Arc<Pond>,
    users: Option<Users>,
    options: SessionOptions,
    sessions: Mutex<HashMap<String, Arc<ClientSession>>>,
    /// How long a session (its token) lives unused.
    idle: Duration,
}

impl Authority {
    /// `options` are every session's; a `read` user's are read-only besides.
    pub(crate) fn new(
        pond: Arc<Pond>,
        users: Option<Users>,
        options: SessionOptions,
        idle: Duration,
    ) -> Self {
        Authority {
            pond,
            users,
            options,
            sessions: Mutex::new(HashMap::new()),
            idle,
        }
    }

    /// Forgets the sessions unused for the idle timeout (an open block of
    /// theirs is dropped uncommitted, as at a disconnect).
    pub(crate) fn drop_idle(&self) {
        self.sessions().retain(|_, s| {
            s.last_used
                .lock()
                .map(|t| t.elapsed() < self.idle)
                .unwrap_or(false)
        });
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<ClientSession>>> {
        // Nothing under this lock panics.
        self.sessions.lock().expect("sessions lock poisoned")
    }

    fn new_session(&self, user: &str, role: Role) -> Arc<ClientSession> {
        let options = SessionOptions {
            read_only: self.options.read_only || role == Role::Read,
            ..self.options.clone()
        };
        Arc::new(ClientSession {
            user: user.to_string(),
            session: PondSession::new(self.pond.clone(), options),
            turn: tokio::sync::Mutex::new(()),
            last_used: Mutex::new(Instant::now()),
        })
    }

    /// The handshake: checks Basic credentials and returns a new token.
    pub(crate) fn handshake(&self, metadata: &MetadataMap) -> Result<String, Status> {
        let (user, role) = match (self.basic_credentials(metadata)?, &self.users) {
            (Some((user, password)), Some(users)) => match users.verify(&user, &password) {
                Some(role) => (user, role),
                None => return Err(wrong_credentials()),
            },
            (None, Some(_)) => return Err(no_credentials()),
            (_, None) => ("local".to_string(), Role::Write),
        };
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let session = self.new_session(&user, role);
        self.drop_idle();
        self.sessions().insert(token.clone(), session);
        Ok(token)
    }

    /// The session of a call: its bearer token's, or (without a users file,
    /// or with Basic credentials on the call itself) a session for this call only.
    pub(crate) fn session(&self, metadata: &MetadataMap) -> Result<Arc<ClientSession>, Status> {
        let header = metadata
            .get("authorization")
            .map(|v| {
                v.to_str()
                    .map_err(|_| Status::unauthenticated("the authorization header is not text"))
            })
            .transpose()?;
        if let Some(token) = header.and_then(|h| strip_scheme(h, "Bearer")) {
            let session = self.sessions().get(token.trim()).cloned();
            return match session {
                Some(session) => {
                    if let Ok(mut used) = session.last_used.lock() {
                        *used = Instant::now();
                    }
                    Ok(session)
                }
                None => Err(Status::unauthenticated(
                    "the session token is unknown or expired: connect (handshake) again",
                )),
            };
        }
        match (self.basic_credentials(metadata)?, &self.users) {
            (Some((user, password)), Some(users)) => match users.verify(&user, &password) {
                Some(role) => Ok(self.new_session(&user, role)),
                None => Err(wrong_credentials()),
            },
            (None, Some(_)) => Err(no_credentials()),
            (_, None) => Ok(self.new_session("local", Role::Write)),
        }
    }

    /// Forgets a session (its open block, if any, is rolled back).
    pub(crate) fn close_all(&self) {
        self.sessions().clear();
    }

    fn basic_credentials(
        &self,
        metadata: &MetadataMap,
    ) -> Result<Option<(String, String)>, Status> {
        let Some(value) = metadata.get("authorization") else {
            return Ok(None);
        };
        let header = value
            .to_str()
            .map_err(|_| Status::unauthenticated("the authorization header is not text"))?;
        let Some(encoded) = strip_scheme(header, "Basic") else {
            return Ok(None);
        };
        let decoded = BASE64
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                Status::unauthenticated("the Basic credentials are not base64 of user:password")
            })?;
        let (user, password) = decoded.split_once(':').ok_or_else(|| {
            Status::unauthenticated("the Basic credentials are not user:password")
        })?;
        Ok(Some((user.to_string(), password.to_string())))
    }
}

fn strip_scheme<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, rest) = header.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then_some(rest)
}

fn wrong_credentials() -> Status {
    Status::unauthenticated("wrong user name or password")
}

fn no_credentials() -> Status {
    Status::unauthenticated(
        "no credentials: connect with a user name and password (this server has a users file)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_decode_with_and_without_padding() {
        for encoded in ["YWxpY2U6cHc=", "YWxpY2U6cHc"] {
            assert_eq!(BASE64.decode(encoded).unwrap(), b"alice:pw");
        }
        assert_eq!(strip_scheme("basic abc", "Basic"), Some("abc"));
        assert_eq!(strip_scheme("Bearer abc", "Basic"), None);
    }
}
