//! One TLS crypto provider for the process (ring: it builds without cmake), installed before the
//! first client or SMTP connection is made.

pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only when a provider is already installed, which is what we want. ring is
        // deprecated for lacking post-quantum key exchange; aws-lc-rs would need cmake to build.
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
