//! TLS set-up shared by every client the process makes (object stores,
//! HTTP sources, Flight); it imports nothing of the crate.

/// Chooses rustls's crypto backend before any TLS or HTTP client is made
/// (deltalake and tonic link in two; with both and none chosen, clients
/// fail to build); idempotent.
pub(crate) fn choose_backend() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
