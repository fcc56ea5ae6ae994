//! SPNEGO (Negotiate, auth type 9) on the server: an acceptor of RFC 4178 with MS-SPNG's
//! variations, negotiating Kerberos through the keytab's Kerberos context when the server has
//! one, and NTLM through the users-file NTLM context.
//!
//! The mechanism chosen is the first in the client's mechTypes that this server supports
//! (Kerberos, under either of its OIDs, only with a keytab). When it is the client's first, its
//! optimistic token is used; otherwise the first reply only selects it, and the mechListMIC is
//! then required (RFC 4178 5).
//!
//! Kerberos (DCE style, mutual authentication as RPC clients ask): bind (NegTokenInit with the
//! AP-REQ), bind_ack (accept-incomplete, supportedMech as the client named it, the AP-REP), then
//! the client's AP-REP and mechListMIC in alter_context, answered by accept-completed and the
//! server's mechListMIC (an RFC 4121 MIC token over the mechTypes) in the alter_context_resp.
//!
//! The legs over DCE/RPC: bind (NegTokenInit: mechTypes and usually an optimistic NTLM
//! NEGOTIATE), bind_ack (NegTokenResp: accept-incomplete, supportedMech NTLM, the CHALLENGE),
//! then the client's AUTHENTICATE and mechListMIC in alter_context (or rpc_auth_3), answered by
//! accept-completed and the server's mechListMIC in the alter_context_resp. When NTLM is not
//! the client's first choice, the optimistic token is dropped and the bind_ack only selects
//! NTLM; the NEGOTIATE then comes in an extra alter_context leg.

use std::ops::Range;
use std::sync::Arc;

use msrpc_proto::auth::{
    AuthError, AuthFailure, AuthStep, PeerIdentity, SecurityContext, level_protects, level_seals,
};
use msrpc_proto::wire::{AuthLevel, AuthType};

use super::der::{Reader, encode, tag};
use super::kerberos::{KerberosContext, KerberosService, kerberos_sig_len};
use super::mic::MIC_LEN;
use super::ntlm::{NtlmContext, is_anonymous_authenticate};
use super::ntlm_session::{NtlmSession, SIGNATURE_LEN};
use super::users::UserStore;

/// The NTLM mechanism, 1.3.6.1.4.1.311.2.2.10 (the contents of its OID).
const NTLM_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];
/// SPNEGO itself, 1.3.6.1.5.5.2, in the GSS-API wrapper of the first token.
pub(super) const SPNEGO_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
/// Kerberos V5, 1.2.840.113554.1.2.2 (RFC 4121).
pub(super) const KRB5_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
/// Microsoft's Kerberos OID, 1.2.840.48018.1.2.2 (MS-SPNG 3.1.5.2), which Windows and Samba
/// list first.
pub(super) const MS_KRB5_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02];

/// negState (RFC 4178 4.2.2).
pub(super) const ACCEPT_COMPLETED: u8 = 0;
const ACCEPT_INCOMPLETE: u8 = 1;
pub(super) const REJECT: u8 = 2;

/// The most legs a client may take: NegTokenInit, then up to three NegTokenResp (NEGOTIATE,
/// AUTHENTICATE when NTLM was not optimistic), with room for one more.
const MAX_SPNEGO_LEGS: u8 = 5;

/// NTLMSSP_NEGOTIATE_SEAL.
const NEGOTIATE_SEAL: u32 = 0x0000_0020;

enum State {
    /// Waiting for the NegTokenInit.
    Init,
    /// NTLM chosen; waiting for its next token.
    Ntlm,
    /// Kerberos chosen; waiting for its next token (the AP-REQ if it was not optimistic, then
    /// the client's AP-REP).
    Kerberos,
    /// The logon is complete.
    Done,
}

/// A server's SPNEGO context: SPNEGO framing around [`NtlmContext`]'s server, with the NTLM
/// session keys kept here (see `ntlm_session`) so the mechListMIC can be made as MS-SPNG says.
pub(super) struct NegotiateServer {
    ntlm: NtlmContext,
    state: State,
    level: AuthLevel,
    context_id: u32,
    legs: u8,
    /// The DER of the client's MechTypeList, as received: what both mechListMICs cover.
    mech_types: Vec<u8>,
    /// The mechanism chosen was the client's first (its mechListMIC may then be omitted).
    first_choice: bool,
    /// The OID contents of the mechanism chosen, as the client named it (supportedMech).
    chosen: &'static [u8],
    /// The server's Kerberos identity, when it has a keytab.
    service: Option<Arc<KerberosService>>,
    /// The Kerberos context, once Kerberos is chosen.
    krb: Option<KerberosContext>,
    session: Option<NtlmSession>,
    /// The password is proven by the first fragment that verifies (no MIC checked it).
    unproven: bool,
    /// The CHALLENGE message sent, for checking the NTLMv2 response.
    challenge: Vec<u8>,
    /// The logon was anonymous (no identity, no session).
    anonymous: bool,
    /// Header signing, for the Kerberos context (NTLM signs the header either way).
    header_sign: bool,
}

impl NegotiateServer {
    pub(super) fn new(
        level: AuthLevel,
        context_id: u32,
        store: Arc<UserStore>,
        service: Option<Arc<KerberosService>>,
    ) -> Self {
        NegotiateServer {
            // The inner context never signs, and never refuses a connect-level logon itself:
            // here the mechListMIC, or the first fragment, proves the password (see `finish`).
            ntlm: NtlmContext::server(AuthLevel::PKT_INTEGRITY, context_id, store),
            state: State::Init,
            level,
            context_id,
            legs: 0,
            mech_types: Vec::new(),
            first_choice: false,
            chosen: NTLM_OID,
            service,
            krb: None,
            session: None,
            unproven: false,
            challenge: Vec::new(),
            anonymous: false,
            header_sign: true,
        }
    }

    fn on_init(&mut self, token: &[u8]) -> Result<AuthStep, AuthError> {
        let init = parse_init(token)?;
        let mut r = Reader::new(init.mech_types)?;
        let list = r.expect(tag::SEQUENCE, "mechTypes is not a SEQUENCE")?;
        let mut oids = r.inner(&list)?;
        // The first mechanism of the client's list that this server supports.
        let mut choice: Option<(usize, &'static [u8])> = None;
        let mut index = 0usize;
        while !oids.is_empty() {
            let oid = oids.expect(tag::OID, "mechTypes holds something other than an OID")?;
            if choice.is_none() {
                if oid.contents == NTLM_OID {
                    choice = Some((index, NTLM_OID));
                } else if self.service.is_some() && oid.contents == KRB5_OID {
                    choice = Some((index, KRB5_OID));
                } else if self.service.is_some() && oid.contents == MS_KRB5_OID {
                    choice = Some((index, MS_KRB5_OID));
                }
            }
            index += 1;
        }
        let Some((position, chosen)) = choice else {
            return Err(AuthError::new(
                AuthFailure::Unsupported,
                if self.service.is_some() {
                    "SPNEGO: the client offers no mechanism this server supports (Kerberos, NTLM)"
                } else {
                    "SPNEGO: the client offers no mechanism this server supports (NTLM; \
                     Kerberos needs a keytab)"
                },
            ));
        };
        self.mech_types = init.mech_types.to_vec();
        self.first_choice = position == 0;
        self.chosen = chosen;
        // The optimistic token is the client's first mechanism's: use it only if that is the
        // one chosen.
        let optimistic = if self.first_choice {
            init.mech_token
        } else {
            None
        };
        if chosen != NTLM_OID {
            return self.on_kerberos_init(optimistic);
        }
        self.state = State::Ntlm;
        let response = match optimistic {
            Some(t) => match self.ntlm.step(Some(t))? {
                AuthStep::Continue(challenge) => {
                    self.challenge.clone_from(&challenge);
                    Some(challenge)
                }
                AuthStep::Complete(_) => {
                    return Err(AuthError::new(
                        AuthFailure::BadToken,
                        "SPNEGO: the optimistic NTLM token is not a NEGOTIATE message",
                    ));
                }
            },
            None => None,
        };
        Ok(AuthStep::Continue(neg_token_resp(
            Some(ACCEPT_INCOMPLETE),
            Some(self.chosen),
            response.as_deref(),
            None,
        )))
    }

    /// Kerberos chosen: the server's Kerberos context takes the AP-REQ when it came as the
    /// optimistic token; otherwise the reply only selects Kerberos.
    fn on_kerberos_init(&mut self, optimistic: Option<&[u8]>) -> Result<AuthStep, AuthError> {
        let Some(service) = self.service.as_deref() else {
            return Err(AuthError::new(
                AuthFailure::Unsupported,
                "SPNEGO: Kerberos without a keytab",
            ));
        };
        let mut krb = KerberosContext::server(self.level, self.context_id, service)?;
        krb.header_sign = self.header_sign;
        self.krb = Some(krb);
        self.state = State::Kerberos;
        match optimistic {
            Some(t) => self.kerberos_step(t, None, true),
            None => Ok(AuthStep::Continue(neg_token_resp(
                Some(ACCEPT_INCOMPLETE),
                Some(self.chosen),
                None,
                None,
            ))),
        }
    }

    /// One Kerberos token (the AP-REQ, or the client's AP-REP), and the client's mechListMIC
    /// when it came with it. `select` puts supportedMech in the reply (the first reply).
    fn kerberos_step(
        &mut self,
        token: &[u8],
        client_mic: Option<&[u8]>,
        select: bool,
    ) -> Result<AuthStep, AuthError> {
        let supported = select.then_some(self.chosen);
        let krb = self
            .krb
            .as_mut()
            .ok_or_else(super::kerberos::not_established)?;
        match krb.step(Some(strip_gss_header(token)?))? {
            AuthStep::Continue(reply) => {
                if client_mic.is_some() {
                    return Err(AuthError::new(
                        AuthFailure::BadToken,
                        "SPNEGO: a mechListMIC before the logon is complete",
                    ));
                }
                Ok(AuthStep::Continue(neg_token_resp(
                    Some(ACCEPT_INCOMPLETE),
                    supported,
                    Some(&reply),
                    None,
                )))
            }
            AuthStep::Complete(reply) => {
                let answer = self.kerberos_finish(client_mic, supported, reply.as_deref())?;
                self.state = State::Done;
                Ok(AuthStep::Complete(Some(answer)))
            }
        }
    }

    /// Kerberos accepted the logon: check the client's mechListMIC (RFC 4121 MIC token over
    /// the mechTypes as received) and answer with ours, under the context's key and sequence.
    fn kerberos_finish(
        &mut self,
        client_mic: Option<&[u8]>,
        supported: Option<&'static [u8]>,
        reply: Option<&[u8]>,
    ) -> Result<Vec<u8>, AuthError> {
        let krb = self
            .krb
            .as_mut()
            .ok_or_else(super::kerberos::not_established)?;
        let Some(mic) = client_mic else {
            // RFC 4178 5: the MICs may be left out only when the mechanism chosen is the
            // initiator's first; otherwise a downgrade could hide behind their absence.
            if !self.first_choice {
                return Err(AuthError::new(
                    AuthFailure::LogonFailure,
                    "logon denied: SPNEGO chose a mechanism other than the client's first, \
                     and the client sent no mechListMIC",
                ));
            }
            return Ok(neg_token_resp(
                Some(ACCEPT_COMPLETED),
                supported,
                reply,
                None,
            ));
        };
        let pm = krb
            .per_message
            .as_mut()
            .ok_or_else(super::kerberos::not_established)?;
        pm.verify(&self.mech_types, mic).map_err(|e| {
            AuthError::new(
                AuthFailure::LogonFailure,
                format!(
                    "logon denied: the SPNEGO mechListMIC does not verify ({})",
                    e.detail
                ),
            )
        })?;
        let seq = u64::from(krb.pkg.next_seq_number());
        let mut ours = [0u8; MIC_LEN];
        krb.per_message
            .as_ref()
            .ok_or_else(super::kerberos::not_established)?
            .sign(seq, &self.mech_types, &mut ours)?;
        Ok(neg_token_resp(
            Some(ACCEPT_COMPLETED),
            supported,
            reply,
            Some(&ours),
        ))
    }

    fn on_resp(&mut self, token: &[u8]) -> Result<AuthStep, AuthError> {
        let resp = parse_resp(token)?;
        if resp.neg_state == Some(REJECT) {
            return Err(AuthError::new(
                AuthFailure::LogonFailure,
                "SPNEGO: the client rejected the negotiation",
            ));
        }
        let Some(inner) = resp.response_token else {
            return Err(AuthError::new(
                AuthFailure::BadToken,
                "SPNEGO: a NegTokenResp without an NTLM token",
            ));
        };
        if !self.challenge.is_empty() && is_anonymous_authenticate(inner) {
            // An anonymous logon (MS-NLMP 3.2.5.1.2: no user, empty responses) authenticates
            // nobody: the context is established, as Windows does, but has no identity and no
            // session keys, so its calls are unauthenticated calls (an interface with a minimum
            // level refuses them) and nothing can be signed or sealed with it.
            self.anonymous = true;
            self.state = State::Done;
            return Ok(AuthStep::Complete(Some(neg_token_resp(
                Some(ACCEPT_COMPLETED),
                None,
                None,
                None,
            ))));
        }
        match self.ntlm.step(Some(inner))? {
            AuthStep::Continue(challenge) => {
                self.challenge.clone_from(&challenge);
                if resp.mech_list_mic.is_some() {
                    return Err(AuthError::new(
                        AuthFailure::BadToken,
                        "SPNEGO: a mechListMIC before the logon is complete",
                    ));
                }
                Ok(AuthStep::Continue(neg_token_resp(
                    Some(ACCEPT_INCOMPLETE),
                    None,
                    Some(&challenge),
                    None,
                )))
            }
            AuthStep::Complete(_) => self.finish(resp.mech_list_mic),
        }
    }

    /// NTLM accepted the AUTHENTICATE message (it checked the NTLMv2 response): check the client's
    /// mechListMIC, and answer with ours.
    fn finish(&mut self, client_mic: Option<&[u8]>) -> Result<AuthStep, AuthError> {
        let Some((key, flags, unproven)) = self.ntlm.server_session() else {
            return Err(AuthError::new(
                AuthFailure::Package,
                "SPNEGO: NTLM finished without a session",
            ));
        };
        // The NTLM context checked the NTLMv2 response against the stored password (docs/auth.md);
        // `unproven` says it had none to check and the package checked no MIC.
        // As Windows (the suite's test_spnego_privacy_bind_{none,sign}): privacy needs an NTLM
        // session that seals; the leg is refused with RPC_S_SEC_PKG_ERROR.
        if level_seals(self.level) && flags & NEGOTIATE_SEAL == 0 {
            return Err(AuthError::new(
                AuthFailure::Package,
                "SPNEGO: the privacy level, but the NTLM session does not seal",
            ));
        }
        let mut session = NtlmSession::server(&key, flags)?;
        let answer = match client_mic {
            Some(mic) => {
                if mic.len() != SIGNATURE_LEN {
                    return Err(AuthError::new(
                        AuthFailure::LogonFailure,
                        "logon denied: the SPNEGO mechListMIC is not an NTLM signature",
                    ));
                }
                // Keys from a wrong password cannot make this MIC: it proves the password.
                session.verify_mic(&self.mech_types, mic)?;
                self.unproven = false;
                let ours = session.make_mic(&self.mech_types)?;
                neg_token_resp(Some(ACCEPT_COMPLETED), None, None, Some(&ours))
            }
            None => {
                // RFC 4178 5: the MICs may be left out only when the mechanism chosen is the
                // initiator's first; otherwise a downgrade could hide behind their absence.
                if !self.first_choice {
                    return Err(AuthError::new(
                        AuthFailure::LogonFailure,
                        "logon denied: SPNEGO chose a mechanism other than the client's first, \
                         and the client sent no mechListMIC",
                    ));
                }
                if unproven && !level_protects(self.level) {
                    return Err(AuthError::new(
                        AuthFailure::LogonFailure,
                        "logon denied: at the connect level the password needs a MIC to prove \
                         it (an NTLM MIC over NTLMSSP_NEGOTIATE_TARGET_INFO, or the SPNEGO \
                         mechListMIC); use packet, integrity or privacy",
                    ));
                }
                self.unproven = unproven;
                neg_token_resp(Some(ACCEPT_COMPLETED), None, None, None)
            }
        };
        self.session = Some(session);
        self.state = State::Done;
        Ok(AuthStep::Complete(Some(answer)))
    }

    fn on_kerberos_resp(&mut self, token: &[u8]) -> Result<AuthStep, AuthError> {
        let resp = parse_resp(token)?;
        if resp.neg_state == Some(REJECT) {
            return Err(AuthError::new(
                AuthFailure::LogonFailure,
                "SPNEGO: the client rejected the negotiation",
            ));
        }
        let Some(inner) = resp.response_token else {
            return Err(AuthError::new(
                AuthFailure::BadToken,
                "SPNEGO: a NegTokenResp without a Kerberos token",
            ));
        };
        self.kerberos_step(inner, resp.mech_list_mic, false)
    }

    fn session(&mut self) -> Result<&mut NtlmSession, AuthError> {
        self.session.as_mut().ok_or_else(|| {
            AuthError::new(
                AuthFailure::Package,
                "SPNEGO: the security context is not established",
            )
        })
    }
}

impl SecurityContext for NegotiateServer {
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
        super::sspi_glue::next_leg(&mut self.legs, MAX_SPNEGO_LEGS, "SPNEGO")?;
        let Some(token) = input else {
            return Err(AuthError::new(
                AuthFailure::BadToken,
                "no token from the client",
            ));
        };
        match self.state {
            State::Init => self.on_init(token),
            State::Ntlm => self.on_resp(token),
            State::Kerberos => self.on_kerberos_resp(token),
            State::Done => Err(AuthError::new(
                AuthFailure::BadToken,
                "SPNEGO: a token after the exchange completed",
            )),
        }
    }

    fn signature_len(&self) -> usize {
        match &self.krb {
            Some(k) if k.per_message.is_some() => k.signature_len(),
            Some(_) => kerberos_sig_len(self.level),
            None => SIGNATURE_LEN,
        }
    }

    fn protect(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
        if let Some(k) = self.krb.as_mut() {
            return k.protect(pdu, body, signature);
        }
        let seal = level_seals(self.level);
        self.session()?.protect(pdu, body, signature, seal)
    }

    fn verify(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
        if let Some(k) = self.krb.as_mut() {
            return k.verify(pdu, body, signature);
        }
        let seal = level_seals(self.level);
        let result = self.session()?.verify(pdu, body, signature, seal);
        if self.unproven {
            // As for plain NTLM: keys from a wrong password cannot verify the first fragment.
            self.unproven = false;
            if let Err(e) = &result {
                return Err(AuthError::new(
                    AuthFailure::LogonFailure,
                    format!(
                        "logon denied: the first fragment does not verify ({})",
                        e.detail
                    ),
                ));
            }
        }
        result
    }

    fn peer_identity(&self) -> Option<PeerIdentity> {
        match self.state {
            State::Done if self.krb.is_some() => self.krb.as_ref()?.peer_identity(),
            State::Done if self.anonymous => Some(PeerIdentity::anonymous()),
            State::Done => self.ntlm.peer_identity(),
            _ => None,
        }
    }

    fn set_header_signing(&mut self, on: bool) {
        self.header_sign = on;
        if let Some(k) = self.krb.as_mut() {
            k.set_header_signing(on);
        }
    }
}

/// A Kerberos token as the Kerberos context takes it: DCE style sends the AP-REQ bare, but a
/// client may wrap it in the GSS-API header (RFC 4121 4.1: `60 len`, the Kerberos OID, TOK_ID
/// `01 00`), which is taken off here.
fn strip_gss_header(token: &[u8]) -> Result<&[u8], AuthError> {
    if token.first() != Some(&tag::APPLICATION_0) {
        return Ok(token);
    }
    let bad = |what: &str| {
        AuthError::new(
            AuthFailure::BadToken,
            format!("SPNEGO: the Kerberos token's GSS-API header: {what}"),
        )
    };
    let mut r = Reader::new(token)?;
    let app = r.expect(tag::APPLICATION_0, "not a GSS-API token")?;
    if !r.is_empty() {
        return Err(bad("trailing bytes"));
    }
    let mut gss = r.inner(&app)?;
    let oid = gss.expect(tag::OID, "no mechanism OID")?;
    if oid.contents != KRB5_OID && oid.contents != MS_KRB5_OID {
        return Err(bad("not Kerberos"));
    }
    let rest = &app.contents[oid.raw.len()..];
    match rest {
        [0x01, 0x00, ap_req @ ..] => Ok(ap_req),
        _ => Err(bad("not an AP-REQ (TOK_ID 01 00)")),
    }
}

/// The fields of a NegTokenInit the acceptor uses.
struct Init<'a> {
    /// The whole MechTypeList (SEQUENCE OF OID), as received.
    mech_types: &'a [u8],
    mech_token: Option<&'a [u8]>,
}

/// Reads the first token: the GSS-API InitialContextToken (RFC 2743 3.1) with the SPNEGO OID
/// around NegotiationToken's negTokenInit [0] (RFC 4178 4.2.1; MS-SPNG's NegTokenInit2 has the
/// same fields here).
fn parse_init(token: &[u8]) -> Result<Init<'_>, AuthError> {
    let bad = |what: &str| {
        AuthError::new(
            AuthFailure::BadToken,
            format!("SPNEGO NegTokenInit: {what}"),
        )
    };
    let mut r = Reader::new(token)?;
    let app = r.expect(tag::APPLICATION_0, "not a GSS-API initial token")?;
    if !r.is_empty() {
        return Err(bad("trailing bytes"));
    }
    let mut gss = r.inner(&app)?;
    let oid = gss.expect(tag::OID, "no mechanism OID")?;
    if oid.contents != SPNEGO_OID {
        return Err(bad("not SPNEGO"));
    }
    let choice = gss.expect(tag::context(0), "not a negTokenInit")?;
    if !gss.is_empty() {
        return Err(bad("trailing bytes"));
    }
    let seq = gss.explicit(&choice)?;
    if seq.tag != tag::SEQUENCE {
        return Err(bad("not a SEQUENCE"));
    }
    let mut fields = gss.inner(&choice)?.inner(&seq)?;
    let mut mech_types = None;
    let mut mech_token = None;
    let mut last = None;
    while !fields.is_empty() {
        let f = fields.next()?;
        let n = f.tag ^ 0xa0;
        if f.tag & 0xe0 != 0xa0 || last.is_some_and(|l| n <= l) {
            return Err(bad("fields out of order"));
        }
        last = Some(n);
        match n {
            0 => mech_types = Some(fields.explicit(&f)?.raw),
            2 => {
                let v = fields.explicit(&f)?;
                if v.tag != tag::OCTET_STRING {
                    return Err(bad("mechToken is not an OCTET STRING"));
                }
                mech_token = Some(v.contents);
            }
            // reqFlags [1] is ignored (MS-SPNG 3.1.5.3), as are negHints [3] and mechListMIC
            // (RFC 4178's [3], NegTokenInit2's [4]): the MIC belongs to the last leg.
            _ => {
                fields.explicit(&f)?;
            }
        }
    }
    let Some(mech_types) = mech_types else {
        return Err(bad("no mechTypes"));
    };
    Ok(Init {
        mech_types,
        mech_token,
    })
}

/// The fields of a NegTokenResp (RFC 4178 4.2.2).
pub(super) struct Resp<'a> {
    pub(super) neg_state: Option<u8>,
    pub(super) response_token: Option<&'a [u8]>,
    pub(super) mech_list_mic: Option<&'a [u8]>,
}

pub(super) fn parse_resp(token: &[u8]) -> Result<Resp<'_>, AuthError> {
    let bad = |what: &str| {
        AuthError::new(
            AuthFailure::BadToken,
            format!("SPNEGO NegTokenResp: {what}"),
        )
    };
    let mut r = Reader::new(token)?;
    let choice = r.expect(tag::context(1), "not a negTokenResp")?;
    if !r.is_empty() {
        return Err(bad("trailing bytes"));
    }
    let seq = r.explicit(&choice)?;
    if seq.tag != tag::SEQUENCE {
        return Err(bad("not a SEQUENCE"));
    }
    let mut fields = r.inner(&choice)?.inner(&seq)?;
    let mut resp = Resp {
        neg_state: None,
        response_token: None,
        mech_list_mic: None,
    };
    let mut last = None;
    while !fields.is_empty() {
        let f = fields.next()?;
        let n = f.tag ^ 0xa0;
        if f.tag & 0xe0 != 0xa0 || last.is_some_and(|l| n <= l) {
            return Err(bad("fields out of order"));
        }
        last = Some(n);
        let v = fields.explicit(&f)?;
        match n {
            0 => {
                if v.tag != tag::ENUMERATED || v.contents.len() != 1 || v.contents[0] > 3 {
                    return Err(bad("bad negState"));
                }
                resp.neg_state = Some(v.contents[0]);
            }
            // supportedMech [1]: the client has nothing to choose; ignored.
            1 => {}
            2 | 3 => {
                if v.tag != tag::OCTET_STRING {
                    return Err(bad("a token is not an OCTET STRING"));
                }
                if n == 2 {
                    resp.response_token = Some(v.contents);
                } else {
                    resp.mech_list_mic = Some(v.contents);
                }
            }
            _ => return Err(bad("unknown field")),
        }
    }
    Ok(resp)
}

/// A NegTokenResp: `[1] SEQUENCE { negState [0], supportedMech [1], responseToken [2],
/// mechListMIC [3] }`, each field present when given (supportedMech as OID contents).
pub(super) fn neg_token_resp(
    state: Option<u8>,
    supported_mech: Option<&[u8]>,
    response: Option<&[u8]>,
    mic: Option<&[u8]>,
) -> Vec<u8> {
    let mut fields = Vec::new();
    if let Some(s) = state {
        fields.extend(encode(tag::context(0), &encode(tag::ENUMERATED, &[s])));
    }
    if let Some(oid) = supported_mech {
        fields.extend(encode(tag::context(1), &encode(tag::OID, oid)));
    }
    if let Some(t) = response {
        fields.extend(encode(tag::context(2), &encode(tag::OCTET_STRING, t)));
    }
    if let Some(m) = mic {
        fields.extend(encode(tag::context(3), &encode(tag::OCTET_STRING, m)));
    }
    encode(tag::context(1), &encode(tag::SEQUENCE, &fields))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn oid(contents: &[u8]) -> Vec<u8> {
        encode(tag::OID, contents)
    }

    fn init_token(mechs: &[&[u8]], token: Option<&[u8]>) -> Vec<u8> {
        let list: Vec<u8> = mechs.iter().flat_map(|m| oid(m)).collect();
        let mut fields = encode(tag::context(0), &encode(tag::SEQUENCE, &list));
        if let Some(t) = token {
            fields.extend(encode(tag::context(2), &encode(tag::OCTET_STRING, t)));
        }
        let neg = encode(tag::context(0), &encode(tag::SEQUENCE, &fields));
        let mut gss = oid(SPNEGO_OID);
        gss.extend(neg);
        encode(tag::APPLICATION_0, &gss)
    }

    const KRB5: &[u8] = KRB5_OID;

    #[test]
    fn negtokeninit_fields_are_read_with_the_raw_mechtypes() {
        let t = init_token(&[KRB5, NTLM_OID], Some(b"NTLMSSP\0"));
        let init = parse_init(&t).unwrap();
        assert_eq!(init.mech_token, Some(&b"NTLMSSP\0"[..]));
        let mut expected = oid(KRB5);
        expected.extend(oid(NTLM_OID));
        assert_eq!(init.mech_types, &encode(tag::SEQUENCE, &expected)[..]);
    }

    #[test]
    fn garbage_and_truncated_tokens_are_bad_tokens() {
        let good = init_token(&[NTLM_OID], Some(b"NTLMSSP\0\x01\0\0\0"));
        for cut in 0..good.len() {
            let e = parse_init(&good[..cut]).err().unwrap();
            assert_eq!(e.kind, AuthFailure::BadToken, "cut at {cut}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(parse_init(&trailing).is_err());
        // Not SPNEGO's OID, a negTokenResp where the init belongs, fields out of order.
        let mut other = good.clone();
        other[4] ^= 1;
        assert!(parse_init(&other).is_err());
        assert!(parse_init(&neg_token_resp(Some(0), None, None, None)).is_err());
        let fields = [
            encode(tag::context(2), &encode(tag::OCTET_STRING, b"x")),
            encode(tag::context(0), &encode(tag::SEQUENCE, &oid(NTLM_OID))),
        ]
        .concat();
        let mut gss = oid(SPNEGO_OID);
        gss.extend(encode(tag::context(0), &encode(tag::SEQUENCE, &fields)));
        assert!(parse_init(&encode(tag::APPLICATION_0, &gss)).is_err());
        // NegTokenResp: bad negState, unknown field, a token that is not an OCTET STRING.
        for bad in [
            encode(
                tag::context(1),
                &encode(
                    tag::SEQUENCE,
                    &encode(tag::context(0), &encode(tag::ENUMERATED, &[9])),
                ),
            ),
            encode(
                tag::context(1),
                &encode(
                    tag::SEQUENCE,
                    &encode(tag::context(5), &encode(tag::OCTET_STRING, b"")),
                ),
            ),
            encode(
                tag::context(1),
                &encode(
                    tag::SEQUENCE,
                    &encode(tag::context(2), &encode(tag::OID, b"")),
                ),
            ),
            vec![0xa1, 0x84, 0xff, 0xff, 0xff, 0xff],
            Vec::new(),
        ] {
            assert!(parse_resp(&bad).is_err(), "{bad:02x?}");
        }
        for cut in 0..20 {
            let t = neg_token_resp(Some(1), None, Some(b"0123456789"), None);
            if cut < t.len() {
                assert!(parse_resp(&t[..cut]).is_err());
            }
        }
    }

    #[test]
    fn a_client_offering_no_ntlm_is_refused_and_a_garbage_token_too() {
        let store = Arc::new(UserStore::new());
        let mut s = NegotiateServer::new(AuthLevel::PKT_INTEGRITY, 1, store.clone(), None);
        let e = s.step(Some(&init_token(&[KRB5], Some(b"x")))).unwrap_err();
        assert_eq!(e.kind, AuthFailure::Unsupported);
        let mut s = NegotiateServer::new(AuthLevel::PKT_INTEGRITY, 1, store, None);
        let e = s.step(Some(&[0x60, 0x03, 0x01, 0x02])).unwrap_err();
        assert_eq!(e.kind, AuthFailure::BadToken);
    }

    fn resp_token(response: Option<&[u8]>, mic: Option<&[u8]>) -> Vec<u8> {
        neg_token_resp(None, None, response, mic)
    }

    /// A whole exchange with sspi's NTLM client inside hand-made SPNEGO tokens, the client's
    /// mechListMIC made with its own session keys: `tamper_mic` flips a bit of it.
    fn exchange(
        level: AuthLevel,
        password: &str,
        send_mic: bool,
        tamper_mic: bool,
    ) -> Result<(NtlmSession, NegotiateServer), AuthError> {
        use super::super::config::Credentials;
        let mut store = UserStore::new();
        store.insert("alice", "s3cret!");
        let mut server = NegotiateServer::new(level, 3, Arc::new(store), None);
        let mut client = NtlmContext::client(level, 3, &Credentials::new("alice", "WS", password));
        let AuthStep::Continue(negotiate) = client.step(None)? else {
            panic!("no NEGOTIATE")
        };
        let init = init_token(&[NTLM_OID, KRB5], Some(&negotiate));
        let mech_types = parse_init(&init)?.mech_types.to_vec();
        let AuthStep::Continue(first) = server.step(Some(&init))? else {
            panic!("finished early")
        };
        let r = parse_resp(&first)?;
        assert_eq!(r.neg_state, Some(ACCEPT_INCOMPLETE));
        let AuthStep::Complete(Some(authenticate)) = client.step(r.response_token)? else {
            panic!("no AUTHENTICATE")
        };
        let key = client.client_session_key().unwrap();
        let flags = u32::from_le_bytes(authenticate[60..64].try_into().unwrap());
        let mut session = NtlmSession::client(&key, flags);
        let mic = send_mic.then(|| {
            let mut m = session.make_mic(&mech_types).unwrap();
            if tamper_mic {
                m[5] ^= 1;
            }
            m
        });
        let AuthStep::Complete(Some(last)) = server.step(Some(&resp_token(
            Some(&authenticate),
            mic.as_ref().map(|m| &m[..]),
        )))?
        else {
            panic!("not complete")
        };
        let r = parse_resp(&last)?;
        assert_eq!(r.neg_state, Some(ACCEPT_COMPLETED));
        match (send_mic, r.mech_list_mic) {
            (true, Some(m)) => session.verify_mic(&mech_types, m)?,
            (false, None) => {}
            (sent, got) => panic!("client MIC {sent}, server MIC {got:?}"),
        }
        Ok((session, server))
    }

    #[test]
    fn mechlistmics_verify_both_ways_then_fragments_do() {
        for level in [
            AuthLevel::CONNECT,
            AuthLevel::PKT_INTEGRITY,
            AuthLevel::PKT_PRIVACY,
        ] {
            for send_mic in [true, false] {
                let (mut client, mut server) = exchange(level, "s3cret!", send_mic, false).unwrap();
                assert_eq!(
                    server.peer_identity().unwrap(),
                    PeerIdentity::new("alice", "WS")
                );
                let seal = level_seals(level);
                let mut frag =
                    b"header..stub-stub-stub..trailer\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec();
                let plain = frag.clone();
                client.protect(&mut frag, 8..24, 31..47, seal).unwrap();
                server.verify(&mut frag, 8..24, 31..47).unwrap();
                assert_eq!(frag[..31], plain[..31]);
                // The server's answer verifies on the client's side.
                let mut answer = plain.clone();
                server.protect(&mut answer, 8..24, 31..47).unwrap();
                client.verify(&mut answer, 8..24, 31..47, seal).unwrap();
            }
        }
    }

    #[test]
    fn a_wrong_mechlistmic_or_password_fails_the_logon() {
        let e = exchange(AuthLevel::PKT_INTEGRITY, "s3cret!", true, true)
            .err()
            .unwrap();
        assert_eq!(e.kind, AuthFailure::LogonFailure, "{e}");
        for level in [AuthLevel::CONNECT, AuthLevel::PKT_PRIVACY] {
            for send_mic in [true, false] {
                let e = exchange(level, "wrong", send_mic, false).err().unwrap();
                assert_eq!(e.kind, AuthFailure::LogonFailure, "{e}");
            }
        }
    }

    #[test]
    fn an_anonymous_logon_establishes_a_context_with_the_anonymous_identity_and_no_keys() {
        use super::super::config::Credentials;
        let mut anonymous = b"NTLMSSP\0\x03\0\0\0".to_vec();
        anonymous.resize(64, 0);
        assert!(is_anonymous_authenticate(&anonymous));
        let store = Arc::new(UserStore::new());
        let mut s = NegotiateServer::new(AuthLevel::CONNECT, 1, store, None);
        // Before the CHALLENGE it is no logon at all.
        let mut early =
            NegotiateServer::new(AuthLevel::CONNECT, 1, Arc::new(UserStore::new()), None);
        assert!(
            early
                .step(Some(&init_token(&[NTLM_OID], Some(&anonymous))))
                .is_err()
        );
        let mut client = NtlmContext::client(AuthLevel::CONNECT, 1, &Credentials::new("", "", ""));
        let AuthStep::Continue(negotiate) = client.step(None).unwrap() else {
            panic!()
        };
        let AuthStep::Continue(_) = s
            .step(Some(&init_token(&[NTLM_OID], Some(&negotiate))))
            .unwrap()
        else {
            panic!()
        };
        let AuthStep::Complete(Some(last)) =
            s.step(Some(&resp_token(Some(&anonymous), None))).unwrap()
        else {
            panic!()
        };
        assert_eq!(parse_resp(&last).unwrap().neg_state, Some(ACCEPT_COMPLETED));
        assert_eq!(s.peer_identity(), Some(PeerIdentity::anonymous()));
        let mut frag = vec![0u8; 40];
        assert!(s.protect(&mut frag, 8..16, 24..40).is_err());
        // A user name, or any response, makes it a logon to check.
        let mut named = anonymous.clone();
        named[36] = 2;
        assert!(!is_anonymous_authenticate(&named));
        let mut nt = anonymous;
        nt[20] = 24;
        assert!(!is_anonymous_authenticate(&nt));
    }

    #[test]
    fn ntlm_not_first_is_selected_without_using_the_optimistic_token() {
        let store = Arc::new(UserStore::new());
        let mut s = NegotiateServer::new(AuthLevel::PKT_INTEGRITY, 1, store, None);
        let AuthStep::Continue(t) = s
            .step(Some(&init_token(
                &[KRB5, NTLM_OID],
                Some(b"a Kerberos AP-REQ"),
            )))
            .unwrap()
        else {
            panic!()
        };
        // accept-incomplete, supportedMech NTLM, no responseToken.
        let expected = neg_token_resp(Some(ACCEPT_INCOMPLETE), Some(NTLM_OID), None, None);
        assert_eq!(t, expected);
        assert!(!s.first_choice);
    }

    fn service() -> Option<Arc<KerberosService>> {
        Some(Arc::new(
            KerberosService::from_password(
                "host/srv1.example.test",
                "EXAMPLE.TEST",
                "Srv1-pw",
                "tcp://127.0.0.1:9",
            )
            .unwrap(),
        ))
    }

    #[test]
    fn with_a_keytab_kerberos_is_chosen_under_the_oid_the_client_named() {
        let store = Arc::new(UserStore::new());
        // Kerberos (MS's OID) not first: selected with no token, and the MIC will be required.
        let other: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x1e];
        let mut s = NegotiateServer::new(AuthLevel::PKT_INTEGRITY, 1, store.clone(), service());
        let AuthStep::Continue(t) = s
            .step(Some(&init_token(
                &[other, MS_KRB5_OID, NTLM_OID],
                Some(b"NEGOEX"),
            )))
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            t,
            neg_token_resp(Some(ACCEPT_INCOMPLETE), Some(MS_KRB5_OID), None, None)
        );
        assert!(!s.first_choice);
        assert!(matches!(s.state, State::Kerberos));
        // Kerberos first, with a token that is no AP-REQ: refused, never a panic.
        for (mech, token) in [
            (KRB5_OID, &b"not an AP-REQ"[..]),
            (MS_KRB5_OID, &[0x6e, 0x03, 0x30, 0x01, 0x00][..]),
            (KRB5_OID, &[0x60, 0x05, 0x06, 0x03, 0x2a, 0x03, 0x04][..]),
        ] {
            let mut s = NegotiateServer::new(AuthLevel::PKT_INTEGRITY, 1, store.clone(), service());
            let e = s
                .step(Some(&init_token(&[mech, NTLM_OID], Some(token))))
                .unwrap_err();
            assert!(
                matches!(e.kind, AuthFailure::BadToken | AuthFailure::LogonFailure),
                "{e}"
            );
            assert_eq!(s.peer_identity(), None);
        }
        // No keytab: Kerberos first falls back to NTLM (the optimistic AP-REQ dropped).
        let mut s = NegotiateServer::new(AuthLevel::PKT_INTEGRITY, 1, store.clone(), None);
        let AuthStep::Continue(t) = s
            .step(Some(&init_token(
                &[MS_KRB5_OID, KRB5_OID, NTLM_OID],
                Some(b"AP-REQ"),
            )))
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            t,
            neg_token_resp(Some(ACCEPT_INCOMPLETE), Some(NTLM_OID), None, None)
        );
        // Kerberos only and no keytab: nothing to choose.
        let mut s = NegotiateServer::new(AuthLevel::PKT_INTEGRITY, 1, store, None);
        let e = s
            .step(Some(&init_token(&[KRB5_OID], Some(b"AP-REQ"))))
            .unwrap_err();
        assert_eq!(e.kind, AuthFailure::Unsupported);
    }

    #[test]
    fn a_gss_api_header_around_the_ap_req_is_taken_off() {
        let ap_req = [0x6e, 0x02, 0x30, 0x00];
        let mut inner = oid(KRB5_OID);
        inner.extend([0x01, 0x00]);
        inner.extend(ap_req);
        let wrapped = encode(tag::APPLICATION_0, &inner);
        assert_eq!(strip_gss_header(&wrapped).unwrap(), &ap_req);
        assert_eq!(strip_gss_header(&ap_req).unwrap(), &ap_req);
        // Another mechanism's OID, another TOK_ID, truncation: bad tokens.
        let mut other = oid(NTLM_OID);
        other.extend([0x01, 0x00]);
        assert!(strip_gss_header(&encode(tag::APPLICATION_0, &other)).is_err());
        let mut ap_rep = oid(MS_KRB5_OID);
        ap_rep.extend([0x02, 0x00]);
        assert!(strip_gss_header(&encode(tag::APPLICATION_0, &ap_rep)).is_err());
        for cut in 1..wrapped.len() {
            let _ = strip_gss_header(&wrapped[..cut]);
        }
        assert!(strip_gss_header(&wrapped[..5]).is_err());
    }
}
