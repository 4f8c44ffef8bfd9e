//! Every call authenticates before anything reads it: a tower layer in
//! front of the Flight service resolves the caller's session (bearer
//! token, or Basic credentials on the call) and hands it to the handler in
//! the request's extensions, so no RPC, implemented or not, answers an
//! unauthenticated caller with anything but UNAUTHENTICATED. Only the
//! Handshake, which is how a client signs in, passes without.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::metadata::MetadataMap;

use super::auth::Authority;

/// The gRPC path of the one call that may come without a session.
const HANDSHAKE: &str = "/arrow.flight.protocol.FlightService/Handshake";

#[derive(Clone)]
pub(crate) struct AuthenticateFirst {
    authority: Arc<Authority>,
}

impl AuthenticateFirst {
    pub(crate) fn new(authority: Arc<Authority>) -> Self {
        AuthenticateFirst { authority }
    }
}

impl<S> tower::Layer<S> for AuthenticateFirst {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticated {
            inner,
            authority: self.authority.clone(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Authenticated<S> {
    inner: S,
    authority: Arc<Authority>,
}

type Answer<E> = Pin<Box<dyn Future<Output = Result<http::Response<tonic::body::Body>, E>> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for Authenticated<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Answer<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if request.uri().path() != HANDSHAKE {
            let metadata = MetadataMap::from_headers(request.headers().clone());
            match self.authority.session(&metadata) {
                Ok(session) => {
                    request.extensions_mut().insert(session);
                }
                Err(status) => return Box::pin(async move { Ok(status.into_http()) }),
            }
        }
        Box::pin(self.inner.call(request))
    }
}
