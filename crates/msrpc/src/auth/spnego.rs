//! SPNEGO (Negotiate, auth type 9) on the client: `sspi`'s Negotiate restricted to Kerberos when
//! a KDC is given, to NTLM otherwise.

use std::ops::Range;

use msrpc_proto::auth::{AuthError, AuthFailure, AuthStep, SecurityContext};
use msrpc_proto::wire::{AuthLevel, AuthType};
use sspi::ntlm::NtlmConfig;
use sspi::{
    AuthIdentityBuffers, BufferType, ClientRequestFlags, CredentialsBuffers, DataRepresentation,
    Negotiate, NegotiateConfig, SecurityBuffer, Sspi, SspiImpl,
};

use super::config::{Credentials, KerberosTarget};
use super::kerberos::{
    KdcClient, KerberosContext, kerberos_credentials, kerberos_sig_len, not_established,
};
use super::sspi_glue::{
    MAX_LEGS, client_flags, init_step, krb_error, next_leg, package_error, protect_with,
    sspi_error, step_from, verify_with,
};

/// A client's SPNEGO context negotiating Kerberos (`sspi`'s Negotiate restricted to Kerberos, DCE
/// style). Once SPNEGO has finished, the Kerberos context it chose makes and checks the
/// per-message tokens, exactly as a plain Kerberos context does (MICs at packet and integrity).
pub(super) struct NegotiateKerberos {
    pkg: Negotiate,
    creds: Option<CredentialsBuffers>,
    spn: String,
    level: AuthLevel,
    context_id: u32,
    legs: u8,
    krb: Option<KerberosContext>,
    /// Header signing, for the Kerberos context once there is one.
    header_sign: bool,
}

impl NegotiateKerberos {
    pub(super) fn new(
        level: AuthLevel,
        context_id: u32,
        creds: &Credentials,
        target: &KerberosTarget,
    ) -> Result<Self, AuthError> {
        let config = NegotiateConfig::new(
            Box::new(sspi::KerberosConfig::new_with_kdc_url(
                &target.kdc,
                "msrpc".to_owned(),
            )),
            Some("kerberos,!ntlm".to_owned()),
            "msrpc".to_owned(),
        );
        let pkg = Negotiate::new_client(config).map_err(|e| krb_error(AuthFailure::Package, &e))?;
        Ok(NegotiateKerberos {
            pkg,
            creds: Some(kerberos_credentials(creds, target)?),
            spn: target.service_principal.clone(),
            level,
            context_id,
            legs: 0,
            krb: None,
            header_sign: true,
        })
    }
}

impl SecurityContext for NegotiateKerberos {
    fn auth_type(&self) -> AuthType {
        AuthType::SPNEGO
    }

    fn auth_level(&self) -> AuthLevel {
        self.level
    }

    fn context_id(&self) -> u32 {
        self.context_id
    }

    fn step(&mut self, input: Option<&[u8]>) -> Result<AuthStep, AuthError> {
        next_leg(&mut self.legs, MAX_LEGS + 1, "SPNEGO")?;
        let kind = if self.legs == 1 {
            AuthFailure::LogonFailure
        } else {
            AuthFailure::BadToken
        };
        let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
        // sspi's Negotiate wants an input buffer on the first call too (an empty one).
        let mut input_bufs = vec![SecurityBuffer::new(
            input.map(<[u8]>::to_vec).unwrap_or_default(),
            BufferType::Token,
        )];
        let flags = client_flags(
            self.level,
            ClientRequestFlags::MUTUAL_AUTH | ClientRequestFlags::USE_DCE_STYLE,
        );
        let mut builder = self
            .pkg
            .initialize_security_context()
            .with_credentials_handle(&mut self.creds)
            .with_context_requirements(flags)
            .with_target_data_representation(DataRepresentation::Native)
            .with_target_name(&self.spn)
            .with_input(&mut input_bufs)
            .with_output(&mut output);
        let status = self
            .pkg
            .initialize_security_context_impl(&mut builder)
            .and_then(|mut g| g.resolve_with_client(&KdcClient))
            .map_err(|e| sspi_error(kind, &e, "SPNEGO/Kerberos"))?
            .status;
        let mut step = step_from(status, output, "SPNEGO/Kerberos")?;
        // sspi wants the acceptor's mechListMIC whenever DCE style is asked for; Samba's DC (as
        // RFC 4178 5 allows when the mechanism chosen is the initiator's first) answers the last
        // leg with accept-completed and no MIC. Only Kerberos is offered here, so there is no
        // weaker mechanism a missing MIC could hide a downgrade to.
        if matches!(step, AuthStep::Continue(_))
            && self.legs > 2
            && input.is_some_and(is_bare_accept_completed)
        {
            step = AuthStep::Complete(None);
        }
        if matches!(step, AuthStep::Complete(_)) {
            let sspi::NegotiatedProtocol::Kerberos(k) = self.pkg.negotiated_protocol() else {
                return Err(AuthError::new(
                    AuthFailure::Package,
                    "SPNEGO negotiated a package other than Kerberos",
                ));
            };
            let mut krb = KerberosContext {
                pkg: k.clone(),
                client: Some((None, self.spn.clone())),
                level: self.level,
                context_id: self.context_id,
                legs: MAX_LEGS,
                sig_len: kerberos_sig_len(self.level),
                peer: None,
                per_message: None,
                service_keys: Vec::new(),
                groups: Vec::new(),
                header_sign: self.header_sign,
            };
            krb.finish()?;
            self.krb = Some(krb);
        }
        Ok(step)
    }

    fn signature_len(&self) -> usize {
        self.krb
            .as_ref()
            .map_or(kerberos_sig_len(self.level), |k| k.sig_len)
    }

    fn protect(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
        match self.krb.as_mut() {
            Some(k) => k.protect(pdu, body, signature),
            None => Err(not_established()),
        }
    }

    fn verify(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
        match self.krb.as_mut() {
            Some(k) => k.verify(pdu, body, signature),
            None => Err(not_established()),
        }
    }

    fn set_header_signing(&mut self, on: bool) {
        self.header_sign = on;
        if let Some(k) = self.krb.as_mut() {
            k.set_header_signing(on);
        }
    }
}

/// Whether `token` is a SPNEGO NegTokenResp (RFC 4178 4.2.2) with negState accept-completed and
/// neither a responseToken nor a mechListMIC. DER reading only, bounded by the token.
fn is_bare_accept_completed(token: &[u8]) -> bool {
    /// One DER element at the start of `b`: (tag, contents, rest).
    fn element(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, b) = b.split_first()?;
        let (&first, b) = b.split_first()?;
        let (len, b) = if first < 0x80 {
            (usize::from(first), b)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || b.len() < n {
                return None;
            }
            let len = b[..n]
                .iter()
                .fold(0usize, |acc, x| (acc << 8) | usize::from(*x));
            (len, &b[n..])
        };
        (b.len() >= len).then(|| (tag, &b[..len], &b[len..]))
    }
    let Some((0xa1, resp, [])) = element(token) else {
        return false;
    };
    let Some((0x30, mut fields, [])) = element(resp) else {
        return false;
    };
    let mut completed = false;
    while !fields.is_empty() {
        let Some((tag, value, rest)) = element(fields) else {
            return false;
        };
        match tag {
            // negState [0] ENUMERATED: 0 is accept-completed.
            0xa0 => completed = value == [0x0a, 0x01, 0x00],
            // supportedMech [1] may repeat the mechanism; responseToken [2] and mechListMIC [3]
            // must be absent.
            0xa1 => {}
            _ => return false,
        }
        fields = rest;
    }
    completed
}

/// A client's SPNEGO (Negotiate, auth type 9) context: `sspi`'s Negotiate restricted to NTLM,
/// since no KDC is configured (see docs/auth.md). Its extra leg travels in alter_context.
pub(super) struct NegotiateClient {
    pkg: Negotiate,
    creds: Option<CredentialsBuffers>,
    level: AuthLevel,
    context_id: u32,
    legs: u8,
}

impl NegotiateClient {
    pub(super) fn new(
        level: AuthLevel,
        context_id: u32,
        creds: &Credentials,
    ) -> Result<Self, AuthError> {
        let config = NegotiateConfig::new(
            Box::new(NtlmConfig::default()),
            Some("ntlm".to_owned()),
            "msrpc".to_owned(),
        );
        let pkg =
            Negotiate::new_client(config).map_err(|e| package_error(AuthFailure::Package, &e))?;
        Ok(NegotiateClient {
            pkg,
            creds: Some(CredentialsBuffers::AuthIdentity(
                AuthIdentityBuffers::from_utf8(&creds.user, &creds.domain, &creds.password),
            )),
            level,
            context_id,
            legs: 0,
        })
    }
}

impl SecurityContext for NegotiateClient {
    fn auth_type(&self) -> AuthType {
        AuthType::SPNEGO
    }

    fn auth_level(&self) -> AuthLevel {
        self.level
    }

    fn context_id(&self) -> u32 {
        self.context_id
    }

    fn step(&mut self, input: Option<&[u8]>) -> Result<AuthStep, AuthError> {
        next_leg(&mut self.legs, MAX_LEGS + 1, "SPNEGO")?;
        init_step(&mut self.pkg, &mut self.creds, self.level, input, "SPNEGO")
    }

    fn signature_len(&self) -> usize {
        16
    }

    fn protect(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
        protect_with(&mut self.pkg, self.level, pdu, &body, &signature)
    }

    fn verify(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
        verify_with(&mut self.pkg, self.level, pdu, &body, &signature, Some(16))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_a_bare_spnego_accept_completed_is_taken_without_a_mic() {
        // What Samba's DC sends last: negState accept-completed, nothing else.
        assert!(is_bare_accept_completed(&[
            0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x0a, 0x01, 0x00
        ]));
        // accept-incomplete, a mechListMIC, trailing bytes, truncation: no.
        assert!(!is_bare_accept_completed(&[
            0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x0a, 0x01, 0x01
        ]));
        assert!(!is_bare_accept_completed(&[
            0xa1, 0x0b, 0x30, 0x09, 0xa0, 0x03, 0x0a, 0x01, 0x00, 0xa3, 0x02, 0x04, 0x00
        ]));
        assert!(!is_bare_accept_completed(&[
            0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x0a, 0x01, 0x00, 0
        ]));
        assert!(!is_bare_accept_completed(&[
            0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x0a
        ]));
        assert!(!is_bare_accept_completed(&[
            0xa1, 0x84, 0xff, 0xff, 0xff, 0xff
        ]));
        assert!(!is_bare_accept_completed(&[]));
    }
}
