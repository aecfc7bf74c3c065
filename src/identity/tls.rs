//! TLS with the platform's trust store, read once per process and only when an
//! https server is first verified: reqwest would read the whole store on every
//! client it builds (≈6 ms each on Linux), even for an `http://` loopback issuer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

/// How often this process read the platform's trust store (for tests and benches).
static STORE_READS: AtomicUsize = AtomicUsize::new(0);

pub fn trust_store_reads() -> usize {
    STORE_READS.load(Ordering::Relaxed)
}

/// The TLS configuration every client of this process shares.
pub fn client_config() -> Result<ClientConfig, String> {
    static CONFIG: OnceLock<Result<ClientConfig, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(LazyPlatformVerifier { provider }))
                .with_no_client_auth();
            // reqwest sets this itself only for configurations it builds.
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(config)
        })
        .clone()
}

/// The platform verifier, built at the first certificate to check.
#[derive(Debug)]
struct LazyPlatformVerifier {
    provider: Arc<CryptoProvider>,
}

impl LazyPlatformVerifier {
    fn platform(&self) -> Result<&rustls_platform_verifier::Verifier, rustls::Error> {
        static PLATFORM: OnceLock<Result<rustls_platform_verifier::Verifier, String>> =
            OnceLock::new();
        PLATFORM
            .get_or_init(|| {
                STORE_READS.fetch_add(1, Ordering::Relaxed);
                rustls_platform_verifier::Verifier::new(self.provider.clone()).map_err(|e| {
                    format!("the system's trusted certificates could not be loaded ({e})")
                })
            })
            .as_ref()
            .map_err(|message| rustls::Error::General(message.clone()))
    }
}

impl ServerCertVerifier for LazyPlatformVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.platform()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trust_store_is_read_once_and_only_to_verify_a_server() {
        let before = trust_store_reads();
        client_config().unwrap();
        client_config().unwrap();
        assert_eq!(
            trust_store_reads(),
            before,
            "building clients reads nothing"
        );
        let verifier = LazyPlatformVerifier {
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        };
        let name = ServerName::try_from("login.microsoftonline.com").unwrap();
        for _ in 0..3 {
            let refused = verifier.verify_server_cert(
                &CertificateDer::from(vec![0u8; 8]),
                &[],
                &name,
                &[],
                UnixTime::now(),
            );
            assert!(refused.is_err(), "garbage is not a certificate");
        }
        assert!(trust_store_reads() <= 1, "read at most once per process");
    }
}
