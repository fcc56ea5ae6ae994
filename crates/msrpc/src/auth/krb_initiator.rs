//! A Kerberos client context (MS-KILE, DCE style) that starts from a TGT in an MIT credential
//! cache (`KRB5CCNAME`, [`AuthInfo::with_ccache`](super::AuthInfo::with_ccache)), where `sspi`
//! 0.23's client can only start with an AS exchange from a password or long-term key.
//!
//! The legs: the TGS exchange with the KDC (the TGT and its session key from the cache), then the
//! AP-REQ in the bind (mutual authentication, a subkey, a sequence number, the RFC 4121 4.1.1
//! authenticator checksum with the DCE-style flag), the server's AP-REP in the bind_ack (checked:
//! it must decrypt under the ticket's session key and echo the authenticator's time), and the
//! client's DCE-style AP-REP (MS-KILE 3.4.5.1) in rpc_auth_3 or SPNEGO's alter_context. Then
//! per-message tokens under the acceptor's subkey: MICs at packet and integrity, sealed wraps at
//! privacy (`auth/mic.rs`), covering the header or the stub only as header signing says.
//!
//! No cipher, checksum or key derivation is written here: the messages are picky-krb's types,
//! the TGS-REQ, the AP-REQ and the third-leg AP-REP are put together by `sspi`'s public
//! generators (`sspi::kerberos::client::generators`), and every encryption and checksum is
//! picky-krb's. This module fills in the authenticator, frames the KDC exchange and checks the
//! replies.

use std::ops::Range;

use msrpc_proto::auth::{AuthError, AuthFailure, AuthStep, SecurityContext, level_seals};
use msrpc_proto::wire::{AuthLevel, AuthType};
use picky_asn1::date::GeneralizedTime;
use picky_asn1::restricted_string::IA5String;
use picky_asn1::wrapper::{
    Asn1SequenceOf, ExplicitContextTag0, ExplicitContextTag1, ExplicitContextTag2,
    ExplicitContextTag3, ExplicitContextTag4, ExplicitContextTag5, ExplicitContextTag6,
    ExplicitContextTag7, IntegerAsn1, OctetStringAsn1, Optional,
};
use picky_krb::constants::gss_api::AUTHENTICATOR_CHECKSUM_TYPE;
use picky_krb::constants::key_usages::{AP_REP_ENC, TGS_REP_ENC_SESSION_KEY, TGS_REP_ENC_SUB_KEY};
use picky_krb::crypto::CipherSuite;
use picky_krb::data_types::{
    Authenticator, AuthenticatorInner, Checksum, EncApRepPart, EncryptionKey, KerberosStringAsn1,
    KerberosTime, PrincipalName, Realm, Ticket,
};
use picky_krb::messages::{ApRep, EncTgsRepPart, KrbError, TgsRep};
use sspi::kerberos::EncryptionParams;
use sspi::kerberos::client::generators::{
    GenerateTgsReqOptions, generate_ap_rep, generate_ap_req, generate_tgs_req,
};
use sspi::kerberos::flags::ApOptions;

use super::ccache::CcacheCredential;
use super::kerberos::{kdc_exchange, not_established};
use super::mic::{self, PerMessage, WRAP_EC};
use super::sspi_glue::{MAX_LEGS, krb_error, next_leg};

/// RFC 4121 4.1.1.1 and MS-KILE 3.2.5.2 checksum flags.
const GSS_C_MUTUAL_FLAG: u32 = 0x2;
const GSS_C_CONF_FLAG: u32 = 0x10;
const GSS_C_INTEG_FLAG: u32 = 0x20;
const GSS_C_DCE_STYLE: u32 = 0x1000;

/// What the client starts from: the TGT of the cache.
#[derive(Clone)]
pub(crate) struct Tgt {
    ticket: Ticket,
    key: Vec<u8>,
    enctype: CipherSuite,
    cname: PrincipalName,
    realm: String,
    /// The KDC time offset MIT recorded, seconds.
    offset: i64,
}

impl std::fmt::Debug for Tgt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tgt")
            .field("realm", &self.realm)
            .field("enctype", &self.enctype)
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl PartialEq for Tgt {
    fn eq(&self, other: &Tgt) -> bool {
        self.ticket == other.ticket && self.key == other.key
    }
}
impl Eq for Tgt {}

impl Tgt {
    /// The TGT `cred` of a credential cache, with the KDC time offset the cache recorded.
    pub(crate) fn from_credential(
        cred: &CcacheCredential,
        offset: Option<(i32, i32)>,
    ) -> Result<Tgt, AuthError> {
        let bad = |why: String| AuthError::new(AuthFailure::LogonFailure, why);
        let enctype = match cred.enctype {
            17 => CipherSuite::Aes128CtsHmacSha196,
            18 => CipherSuite::Aes256CtsHmacSha196,
            n => {
                return Err(bad(format!(
                    "the TGT's session key has enctype {n}: only AES128 (17) and AES256 (18) \
                     are supported"
                )));
            }
        };
        let ticket: Ticket = picky_asn1_der::from_bytes(&cred.ticket).map_err(|e| {
            bad(format!(
                "the TGT in the credential cache is not a ticket: {e}"
            ))
        })?;
        let names = cred
            .client
            .components
            .iter()
            .map(|c| kstring(c))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Tgt {
            ticket,
            key: cred.key().to_vec(),
            enctype,
            cname: PrincipalName {
                // The cache's name type (1, NT-PRINCIPAL, from kinit).
                name_type: ExplicitContextTag0::from(IntegerAsn1::from_bytes_be_unsigned(
                    cred.client.name_type.to_be_bytes().to_vec(),
                )),
                name_string: ExplicitContextTag1::from(Asn1SequenceOf::from(names)),
            },
            realm: cred.client.realm.clone(),
            offset: offset.map_or(0, |(s, _)| i64::from(s)),
        })
    }

    /// The client's realm.
    #[cfg(test)]
    pub(crate) fn realm(&self) -> &str {
        &self.realm
    }
}

fn kstring(s: &str) -> Result<KerberosStringAsn1, AuthError> {
    IA5String::from_string(s.to_owned())
        .map(KerberosStringAsn1::from)
        .map_err(|_| AuthError::new(AuthFailure::LogonFailure, format!("{s:?} is not ASCII")))
}

/// Where the context is in its legs.
enum State {
    Start,
    /// The AP-REQ went out: the service ticket's session key and enctype, and the
    /// authenticator's time to find again in the AP-REP.
    SentApReq {
        key: Vec<u8>,
        enctype: CipherSuite,
        ctime: KerberosTime,
        cusec: u32,
    },
    Done,
}

/// The client context.
pub(crate) struct TgtKerberos {
    tgt: Tgt,
    kdc: String,
    spn: String,
    level: AuthLevel,
    context_id: u32,
    auth_type: AuthType,
    legs: u8,
    state: State,
    /// Our next sequence number (the authenticator's first).
    send_seq: u64,
    per_message: Option<PerMessage>,
    header_sign: bool,
}

impl TgtKerberos {
    pub(crate) fn new(
        level: AuthLevel,
        context_id: u32,
        tgt: Tgt,
        kdc: &str,
        spn: &str,
    ) -> TgtKerberos {
        TgtKerberos {
            tgt,
            kdc: kdc.to_owned(),
            spn: spn.to_owned(),
            level,
            context_id,
            auth_type: AuthType::KERBEROS,
            legs: 0,
            state: State::Start,
            send_seq: 0,
            per_message: None,
            header_sign: true,
        }
    }

    /// The same context inside SPNEGO (the caller frames the tokens).
    pub(crate) fn for_spnego(mut self) -> TgtKerberos {
        self.auth_type = AuthType::SPNEGO;
        self
    }

    fn now(&self) -> time::OffsetDateTime {
        let now = time::OffsetDateTime::now_utc();
        now.checked_add(time::Duration::seconds(self.tgt.offset))
            .unwrap_or(now)
    }

    /// The TGS exchange for the service ticket: its ticket, session key and enctype.
    fn service_ticket(&self) -> Result<(Ticket, Vec<u8>, CipherSuite), AuthError> {
        let refused = |why: String| AuthError::new(AuthFailure::LogonFailure, why);
        let mut authenticator = self.authenticator(None, None, None, self.now())?;
        let enc = EncryptionParams {
            encryption_type: Some(self.tgt.enctype.clone()),
            ..EncryptionParams::default_for_client()
        };
        let key = sspi::Secret::from(self.tgt.key.clone());
        let req = generate_tgs_req(GenerateTgsReqOptions {
            realm: &self.tgt.realm,
            service_principal: &self.spn,
            session_key: &key,
            ticket: self.tgt.ticket.clone(),
            authenticator: &mut authenticator,
            additional_tickets: None,
            enc_params: &enc,
            context_requirements: sspi::ClientRequestFlags::empty(),
        })
        .map_err(|e| krb_error(AuthFailure::Package, &e))?;
        let nonce = req.0.req_body.0.nonce.0.as_unsigned_bytes_be().to_vec();
        let der =
            picky_asn1_der::to_vec(&req).map_err(|e| refused(format!("Kerberos: TGS-REQ: {e}")))?;
        let mut framed = (der.len() as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(&der);
        let (host, port) = kdc_address(&self.kdc)?;
        let reply =
            kdc_exchange(&host, port, &framed).map_err(|e| refused(format!("Kerberos: {e}")))?;
        let reply = reply.get(4..).unwrap_or_default();
        if reply.first() == Some(&0x7e) {
            let e: KrbError = picky_asn1_der::from_bytes(reply)
                .map_err(|e| refused(format!("Kerberos: unreadable KRB-ERROR: {e}")))?;
            return Err(krb_error(AuthFailure::LogonFailure, &sspi::Error::from(e)));
        }
        let rep: TgsRep = picky_asn1_der::from_bytes(reply)
            .map_err(|e| refused(format!("Kerberos: the KDC's reply is not a TGS-REP: {e}")))?;
        let cipher = self.tgt.enctype.cipher();
        let sealed = &rep.0.enc_part.0.cipher.0.0;
        let plain = cipher
            .decrypt(&self.tgt.key, TGS_REP_ENC_SESSION_KEY, sealed)
            .or_else(|_| cipher.decrypt(&self.tgt.key, TGS_REP_ENC_SUB_KEY, sealed))
            .map_err(|_| {
                refused("Kerberos: the TGS-REP does not decrypt with the TGT's session key".into())
            })?;
        let part: EncTgsRepPart = picky_asn1_der::from_bytes(&plain)
            .map_err(|e| refused(format!("Kerberos: the TGS-REP's encrypted part: {e}")))?;
        if part.0.nonce.0.as_unsigned_bytes_be() != nonce.as_slice() {
            return Err(refused(
                "Kerberos: the TGS-REP answers another request (nonce)".into(),
            ));
        }
        let enctype = enctype_of(&part.0.key.0.key_type.0)?;
        Ok((
            rep.0.ticket.0.clone(),
            part.0.key.0.key_value.0.0.clone(),
            enctype,
        ))
    }

    fn authenticator(
        &self,
        cksum: Option<Checksum>,
        subkey: Option<EncryptionKey>,
        seq: Option<u32>,
        now: time::OffsetDateTime,
    ) -> Result<Authenticator, AuthError> {
        Ok(Authenticator::from(AuthenticatorInner {
            authenticator_vno: ExplicitContextTag0::from(IntegerAsn1::from(vec![5])),
            crealm: ExplicitContextTag1::from(realm_of(&self.tgt.realm)?),
            cname: ExplicitContextTag2::from(self.tgt.cname.clone()),
            cksum: Optional::from(cksum.map(ExplicitContextTag3::from)),
            cusec: ExplicitContextTag4::from(unsigned(now.microsecond())),
            ctime: ExplicitContextTag5::from(KerberosTime::from(GeneralizedTime::from(now))),
            subkey: Optional::from(subkey.map(ExplicitContextTag6::from)),
            seq_number: Optional::from(seq.map(|s| ExplicitContextTag7::from(unsigned(s)))),
            authorization_data: Optional::from(None),
        }))
    }

    /// Leg 1: the service ticket, then the AP-REQ (raw DER: DCE style has no GSS framing).
    fn first_leg(&mut self) -> Result<AuthStep, AuthError> {
        let (ticket, key, enctype) = self.service_ticket()?;
        let mut random = [0u8; 36];
        getrandom::fill(&mut random).map_err(|e| {
            AuthError::new(
                AuthFailure::Package,
                format!("Kerberos: no randomness: {e}"),
            )
        })?;
        let key_len = if enctype == CipherSuite::Aes256CtsHmacSha196 {
            32
        } else {
            16
        };
        // AES's random-to-key is the identity (RFC 3962).
        let subkey = EncryptionKey {
            key_type: ExplicitContextTag0::from(IntegerAsn1::from(vec![u8::from(&enctype)])),
            key_value: ExplicitContextTag1::from(OctetStringAsn1::from(random[..key_len].to_vec())),
        };
        let seq =
            u32::from_be_bytes([random[32], random[33], random[34], random[35]]) & 0x3fff_ffff;
        let mut flags = GSS_C_MUTUAL_FLAG | GSS_C_DCE_STYLE;
        if msrpc_proto::auth::level_protects(self.level) {
            flags |= GSS_C_INTEG_FLAG;
        }
        if level_seals(self.level) {
            flags |= GSS_C_CONF_FLAG;
        }
        // RFC 4121 4.1.1: Lgth (16, little-endian), the channel bindings (none: zeros), Flags.
        let mut value = vec![0u8; 24];
        value[..4].copy_from_slice(&16u32.to_le_bytes());
        value[20..].copy_from_slice(&flags.to_le_bytes());
        let cksum = Checksum {
            cksumtype: ExplicitContextTag0::from(IntegerAsn1::from(
                AUTHENTICATOR_CHECKSUM_TYPE.to_vec(),
            )),
            checksum: ExplicitContextTag1::from(OctetStringAsn1::from(value)),
        };
        let now = self.now();
        let authenticator = self.authenticator(Some(cksum), Some(subkey), Some(seq), now)?;
        let enc = EncryptionParams {
            encryption_type: Some(enctype.clone()),
            ..EncryptionParams::default_for_client()
        };
        let ap_req = generate_ap_req(
            ticket,
            &sspi::Secret::from(key.clone()),
            &authenticator,
            &enc,
            ApOptions::MUTUAL_REQUIRED,
        )
        .map_err(|e| krb_error(AuthFailure::Package, &e))?;
        let token = picky_asn1_der::to_vec(&ap_req)
            .map_err(|e| AuthError::new(AuthFailure::Package, format!("Kerberos: AP-REQ: {e}")))?;
        self.send_seq = u64::from(seq);
        self.state = State::SentApReq {
            key,
            enctype,
            ctime: authenticator.0.ctime.0.clone(),
            cusec: now.microsecond(),
        };
        Ok(AuthStep::Continue(token))
    }

    /// Leg 2: the server's AP-REP, then our DCE-style AP-REP.
    fn second_leg(&mut self, token: &[u8]) -> Result<AuthStep, AuthError> {
        let bad = |why: &str| AuthError::new(AuthFailure::BadToken, format!("Kerberos: {why}"));
        let State::SentApReq {
            key,
            enctype,
            ctime,
            cusec,
        } = &self.state
        else {
            return Err(bad("an AP-REP out of order"));
        };
        if token.first() == Some(&0x7e) {
            let e: KrbError =
                picky_asn1_der::from_bytes(token).map_err(|_| bad("unreadable KRB-ERROR"))?;
            return Err(krb_error(AuthFailure::LogonFailure, &sspi::Error::from(e)));
        }
        let rep: ApRep = picky_asn1_der::from_bytes(token).map_err(|_| bad("not an AP-REP"))?;
        let plain = enctype
            .cipher()
            .decrypt(key, AP_REP_ENC, &rep.0.enc_part.0.cipher.0.0)
            .map_err(|_| {
                AuthError::new(
                    AuthFailure::LogonFailure,
                    "Kerberos: the server's AP-REP does not decrypt: it is not the service",
                )
            })?;
        let part: EncApRepPart =
            picky_asn1_der::from_bytes(&plain).map_err(|_| bad("unreadable AP-REP part"))?;
        // Mutual authentication (RFC 4120 3.2.5): the server echoes our time.
        if part.0.ctime.0 != *ctime || number(&part.0.cusec.0) != Some(u64::from(*cusec)) {
            return Err(AuthError::new(
                AuthFailure::LogonFailure,
                "Kerberos: the server's AP-REP does not echo the authenticator's time",
            ));
        }
        let subkey = part
            .0
            .subkey
            .0
            .as_ref()
            .map(|k| k.0.key_value.0.0.clone())
            .ok_or_else(|| bad("the AP-REP has no acceptor subkey (DCE style needs one)"))?;
        let server_seq = part
            .0
            .seq_number
            .0
            .as_ref()
            .map(|s| s.0.as_unsigned_bytes_be().to_vec())
            .ok_or_else(|| bad("the AP-REP has no sequence number"))?;
        let enc = EncryptionParams {
            encryption_type: Some(enctype.clone()),
            ..EncryptionParams::default_for_client()
        };
        // MS-KILE 3.4.5.1: the DCE-style third leg echoes the server's sequence number.
        let third = generate_ap_rep(&sspi::Secret::from(key.clone()), server_seq, &enc)
            .map_err(|e| krb_error(AuthFailure::Package, &e))?;
        let third = picky_asn1_der::to_vec(&third)
            .map_err(|e| AuthError::new(AuthFailure::Package, format!("Kerberos: AP-REP: {e}")))?;
        self.per_message = Some(PerMessage::new(subkey, true)?);
        self.state = State::Done;
        Ok(AuthStep::Complete(Some(third)))
    }
}

impl SecurityContext for TgtKerberos {
    fn auth_type(&self) -> AuthType {
        self.auth_type
    }

    fn auth_level(&self) -> AuthLevel {
        self.level
    }

    fn context_id(&self) -> u32 {
        self.context_id
    }

    fn step(&mut self, input: Option<&[u8]>) -> Result<AuthStep, AuthError> {
        next_leg(&mut self.legs, MAX_LEGS, "Kerberos")?;
        match (&self.state, input) {
            (State::Start, _) => self.first_leg(),
            (State::SentApReq { .. }, Some(token)) => self.second_leg(token),
            _ => Err(AuthError::new(
                AuthFailure::BadToken,
                "Kerberos: a leg out of order",
            )),
        }
    }

    fn signature_len(&self) -> usize {
        if level_seals(self.level) {
            mic::wrap_len(WRAP_EC)
        } else {
            mic::MIC_LEN
        }
    }

    fn protect(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
        let pm = self.per_message.as_ref().ok_or_else(not_established)?;
        if body.start > body.end || body.end > signature.start || signature.end > pdu.len() {
            return Err(AuthError::new(AuthFailure::Package, "bad fragment layout"));
        }
        let seq = self.send_seq;
        let (signed, rest) = pdu.split_at_mut(signature.start);
        let out = &mut rest[..signature.end - signature.start];
        if level_seals(self.level) {
            let (head, rest) = signed.split_at_mut(body.start);
            let (stub, trailer) = rest.split_at_mut(body.end - body.start);
            if self.header_sign {
                pm.seal(seq, head, stub, trailer, out)?;
            } else {
                pm.seal(seq, &[], stub, &[], out)?;
            }
        } else if self.header_sign {
            pm.sign(seq, signed, out)?;
        } else {
            pm.sign(seq, &signed[body], out)?;
        }
        self.send_seq = seq.wrapping_add(1) & 0xffff_ffff;
        Ok(())
    }

    fn verify(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
        let pm = self.per_message.as_mut().ok_or_else(not_established)?;
        let layout = || AuthError::new(AuthFailure::Tampered, "bad fragment layout");
        if body.start > body.end || body.end > signature.start || signature.end > pdu.len() {
            return Err(layout());
        }
        let token = pdu[signature.clone()].to_vec();
        let signed = &mut pdu[..signature.start];
        if level_seals(self.level) {
            let (head, rest) = signed.split_at_mut(body.start);
            let (stub, trailer) = rest.split_at_mut(body.end - body.start);
            if self.header_sign {
                pm.unseal(head, stub, trailer, &token)
            } else {
                pm.unseal(&[], stub, &[], &token)
            }
        } else if self.header_sign {
            pm.verify(signed, &token)
        } else {
            pm.verify(&signed[body], &token)
        }
    }

    fn set_header_signing(&mut self, on: bool) {
        self.header_sign = on;
    }
}

/// SPNEGO (auth type 9) offering Kerberos only, over a [`TgtKerberos`], as Windows clients in a
/// domain do (RFC 4178, MS-SPNG): the bind carries a NegTokenInit (mechTypes MS-KRB5 and KRB5,
/// the AP-REQ as the optimistic token, bare as DCE style sends it), the bind_ack a NegTokenResp
/// with the AP-REP, the alter_context our NegTokenResp with the third-leg AP-REP and our
/// mechListMIC (an RFC 4121 MIC over the mechTypes' DER, the first sequence number), and the
/// alter_context_resp the server's accept-completed, whose mechListMIC is checked when present
/// (Samba's DC sends none, which RFC 4178 5 allows since Kerberos is our first mechanism; no
/// weaker mechanism is offered that a missing MIC could hide a downgrade to).
pub(crate) struct NegotiateTgt {
    krb: TgtKerberos,
    mech_types: Vec<u8>,
    legs: u8,
}

impl NegotiateTgt {
    pub(crate) fn new(krb: TgtKerberos) -> NegotiateTgt {
        use super::der::{encode, tag};
        use super::spnego_server::{KRB5_OID, MS_KRB5_OID};
        let mut oids = encode(tag::OID, MS_KRB5_OID);
        oids.extend(encode(tag::OID, KRB5_OID));
        NegotiateTgt {
            krb: krb.for_spnego(),
            mech_types: encode(tag::SEQUENCE, &oids),
            legs: 0,
        }
    }
}

impl SecurityContext for NegotiateTgt {
    fn auth_type(&self) -> AuthType {
        AuthType::SPNEGO
    }

    fn auth_level(&self) -> AuthLevel {
        self.krb.level
    }

    fn context_id(&self) -> u32 {
        self.krb.context_id
    }

    fn step(&mut self, input: Option<&[u8]>) -> Result<AuthStep, AuthError> {
        use super::der::{encode, tag};
        use super::spnego_server::{
            ACCEPT_COMPLETED, REJECT, SPNEGO_OID, neg_token_resp, parse_resp,
        };
        self.legs = self.legs.saturating_add(1);
        let bad =
            |why: &str| AuthError::new(AuthFailure::BadToken, format!("SPNEGO/Kerberos: {why}"));
        match (self.legs, input) {
            (1, _) => {
                let AuthStep::Continue(ap_req) = self.krb.step(None)? else {
                    return Err(bad("no AP-REQ"));
                };
                let mut fields = encode(tag::context(0), &self.mech_types);
                fields.extend(encode(tag::context(2), &encode(tag::OCTET_STRING, &ap_req)));
                let mut gss = encode(tag::OID, SPNEGO_OID);
                gss.extend(encode(tag::context(0), &encode(tag::SEQUENCE, &fields)));
                Ok(AuthStep::Continue(encode(tag::APPLICATION_0, &gss)))
            }
            (2, Some(token)) => {
                let resp = parse_resp(token)?;
                if resp.neg_state == Some(REJECT) {
                    return Err(AuthError::new(
                        AuthFailure::LogonFailure,
                        "SPNEGO/Kerberos: the server rejected the logon",
                    ));
                }
                let ap_rep = resp
                    .response_token
                    .ok_or_else(|| bad("no AP-REP in the answer"))?;
                let AuthStep::Complete(Some(third)) = self.krb.step(Some(ap_rep))? else {
                    return Err(bad("no third leg"));
                };
                let pm = self.krb.per_message.as_ref().ok_or_else(not_established)?;
                let mut mic = [0u8; mic::MIC_LEN];
                pm.sign(self.krb.send_seq, &self.mech_types, &mut mic)?;
                self.krb.send_seq = self.krb.send_seq.wrapping_add(1) & 0xffff_ffff;
                Ok(AuthStep::Continue(neg_token_resp(
                    None,
                    None,
                    Some(&third),
                    Some(&mic),
                )))
            }
            (3, Some(token)) => {
                let resp = parse_resp(token)?;
                if resp.neg_state != Some(ACCEPT_COMPLETED) {
                    return Err(AuthError::new(
                        AuthFailure::LogonFailure,
                        "SPNEGO/Kerberos: the server did not complete the logon",
                    ));
                }
                if let Some(m) = resp.mech_list_mic {
                    let pm = self.krb.per_message.as_mut().ok_or_else(not_established)?;
                    pm.verify(&self.mech_types, m).map_err(|e| {
                        AuthError::new(
                            AuthFailure::LogonFailure,
                            format!("SPNEGO mechListMIC: {}", e.detail),
                        )
                    })?;
                }
                Ok(AuthStep::Complete(None))
            }
            _ => Err(bad("a leg out of order")),
        }
    }

    fn signature_len(&self) -> usize {
        self.krb.signature_len()
    }

    fn protect(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
        self.krb.protect(pdu, body, signature)
    }

    fn verify(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), AuthError> {
        self.krb.verify(pdu, body, signature)
    }

    fn set_header_signing(&mut self, on: bool) {
        self.krb.set_header_signing(on);
    }
}

/// `tcp://HOST:PORT` (port 88 when left out; `[v6]` in brackets) as host and port.
fn kdc_address(kdc: &str) -> Result<(String, u16), AuthError> {
    let bad = || {
        AuthError::new(
            AuthFailure::Unsupported,
            format!("KDC {kdc:?}: use tcp://HOST[:PORT]"),
        )
    };
    let rest = match kdc.split_once("://") {
        Some(("tcp", rest)) => rest,
        Some(_) => return Err(bad()),
        None => kdc,
    };
    let rest = rest.trim_end_matches('/');
    if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => 88,
            None => return Err(bad()),
        };
        return Ok((host.to_owned(), port));
    }
    match rest.rsplit_once(':') {
        Some((host, port)) => Ok((host.to_owned(), port.parse().map_err(|_| bad())?)),
        None if !rest.is_empty() => Ok((rest.to_owned(), 88)),
        None => Err(bad()),
    }
}

fn realm_of(realm: &str) -> Result<Realm, AuthError> {
    kstring(realm)
}

fn unsigned(v: u32) -> IntegerAsn1 {
    IntegerAsn1::from_bytes_be_unsigned(v.to_be_bytes().to_vec())
}

/// A non-negative DER INTEGER's value (at most 8 bytes).
fn number(i: &IntegerAsn1) -> Option<u64> {
    let b = i.as_unsigned_bytes_be();
    (b.len() <= 8).then(|| b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)))
}

fn enctype_of(i: &IntegerAsn1) -> Result<CipherSuite, AuthError> {
    match number(i) {
        Some(17) => Ok(CipherSuite::Aes128CtsHmacSha196),
        Some(18) => Ok(CipherSuite::Aes256CtsHmacSha196),
        n => Err(AuthError::new(
            AuthFailure::LogonFailure,
            format!("Kerberos: a service ticket with enctype {n:?}: only AES is supported"),
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A context that has sent its AP-REQ (as after the TGS exchange), without a KDC.
    fn after_ap_req() -> TgtKerberos {
        let cc =
            super::super::ccache::Ccache::parse(include_bytes!("../../tests/data/alice.ccache"))
                .unwrap();
        let tgt = Tgt::from_credential(cc.tgt(None, 0).unwrap(), cc.time_offset).unwrap();
        let mut ctx = TgtKerberos::new(
            AuthLevel::PKT_INTEGRITY,
            0,
            tgt,
            "tcp://127.0.0.1:9",
            "host/x",
        );
        let now = time::OffsetDateTime::now_utc();
        ctx.state = State::SentApReq {
            key: vec![7; 32],
            enctype: CipherSuite::Aes256CtsHmacSha196,
            ctime: KerberosTime::from(GeneralizedTime::from(now)),
            cusec: now.microsecond(),
        };
        ctx.legs = 1;
        ctx
    }

    fn ap_rep(key: &[u8], part: &EncApRepPart) -> Vec<u8> {
        use picky_krb::data_types::EncryptedData;
        use picky_krb::messages::ApRepInner;
        let plain = picky_asn1_der::to_vec(part).unwrap();
        let cipher = CipherSuite::Aes256CtsHmacSha196
            .cipher()
            .encrypt(key, AP_REP_ENC, &plain)
            .unwrap();
        let rep = ApRep::from(ApRepInner {
            pvno: ExplicitContextTag0::from(IntegerAsn1::from(vec![5])),
            msg_type: ExplicitContextTag1::from(IntegerAsn1::from(vec![15])),
            enc_part: ExplicitContextTag2::from(EncryptedData {
                etype: ExplicitContextTag0::from(IntegerAsn1::from(vec![18])),
                kvno: Optional::from(None),
                cipher: ExplicitContextTag2::from(OctetStringAsn1::from(cipher)),
            }),
        });
        picky_asn1_der::to_vec(&rep).unwrap()
    }

    #[test]
    fn an_ap_rep_must_decrypt_echo_our_time_and_carry_a_subkey() {
        use picky_krb::data_types::EncApRepPartInner;
        let part = |ctx: &TgtKerberos, cusec_delta: u32, subkey: bool| {
            let State::SentApReq { ctime, cusec, .. } = &ctx.state else {
                unreachable!()
            };
            EncApRepPart::from(EncApRepPartInner {
                ctime: ExplicitContextTag0::from(ctime.clone()),
                cusec: ExplicitContextTag1::from(unsigned(cusec + cusec_delta)),
                subkey: Optional::from(subkey.then(|| {
                    ExplicitContextTag2::from(EncryptionKey {
                        key_type: ExplicitContextTag0::from(IntegerAsn1::from(vec![18])),
                        key_value: ExplicitContextTag1::from(OctetStringAsn1::from(vec![9; 32])),
                    })
                })),
                seq_number: Optional::from(Some(ExplicitContextTag3::from(unsigned(77)))),
            })
        };
        // Not the service: another key.
        let mut ctx = after_ap_req();
        let e = ctx
            .step(Some(&ap_rep(&[8; 32], &part(&ctx, 0, true))))
            .unwrap_err();
        assert_eq!(e.kind, AuthFailure::LogonFailure, "{}", e.detail);
        assert!(e.detail.contains("does not decrypt"), "{}", e.detail);
        // Not our authenticator's time: a replayed AP-REP.
        let mut ctx = after_ap_req();
        let e = ctx
            .step(Some(&ap_rep(&[7; 32], &part(&ctx, 1, true))))
            .unwrap_err();
        assert!(e.detail.contains("echo"), "{}", e.detail);
        // No subkey.
        let mut ctx = after_ap_req();
        let e = ctx
            .step(Some(&ap_rep(&[7; 32], &part(&ctx, 0, false))))
            .unwrap_err();
        assert!(e.detail.contains("subkey"), "{}", e.detail);
        // Garbage, truncated.
        let mut ctx = after_ap_req();
        let good = ap_rep(&[7; 32], &part(&ctx, 0, true));
        assert!(ctx.step(Some(&good[..good.len() / 2])).is_err());
        // The real thing (after the bad token, which left the context waiting): the third leg,
        // and tokens under the acceptor's subkey.
        let AuthStep::Complete(Some(third)) = ctx.step(Some(&good)).unwrap() else {
            panic!("no third leg");
        };
        assert_eq!(third.first(), Some(&0x6f), "an AP-REP");
        let mut pdu = vec![0u8; 32 + mic::MIC_LEN];
        ctx.protect(&mut pdu, 16..24, 32..32 + mic::MIC_LEN)
            .unwrap();
        let mut server = PerMessage::new(vec![9; 32], false).unwrap();
        server.verify(&pdu[..32], &pdu[32..]).unwrap();
        assert!(ctx.step(Some(&good)).is_err(), "a fourth leg");
    }

    #[test]
    fn spnego_refusals_and_bad_tokens_are_errors() {
        use super::super::spnego_server::{REJECT, neg_token_resp};
        let mut neg = NegotiateTgt::new(after_ap_req());
        neg.legs = 1;
        let e = neg
            .step(Some(&neg_token_resp(Some(REJECT), None, None, None)))
            .unwrap_err();
        assert_eq!(e.kind, AuthFailure::LogonFailure, "{}", e.detail);
        let mut neg = NegotiateTgt::new(after_ap_req());
        neg.legs = 1;
        assert!(neg.step(Some(&[0xa1, 0x05, 0x30])).is_err());
        let mut neg = NegotiateTgt::new(after_ap_req());
        neg.legs = 1;
        let e = neg
            .step(Some(&neg_token_resp(Some(1), None, None, None)))
            .unwrap_err();
        assert!(e.detail.contains("no AP-REP"), "{}", e.detail);
    }

    #[test]
    fn kdc_urls_parse_or_give_clear_errors() {
        assert_eq!(
            kdc_address("tcp://127.0.0.1:88").unwrap(),
            ("127.0.0.1".into(), 88)
        );
        assert_eq!(
            kdc_address("tcp://kdc.example").unwrap(),
            ("kdc.example".into(), 88)
        );
        assert_eq!(
            kdc_address("tcp://[::1]:8888/").unwrap(),
            ("::1".into(), 8888)
        );
        assert_eq!(kdc_address("kdc:99").unwrap(), ("kdc".into(), 99));
        assert!(kdc_address("udp://kdc:88").is_err());
        assert!(kdc_address("tcp://kdc:notaport").is_err());
        assert!(kdc_address("tcp://").is_err());
    }

    #[test]
    fn the_tgt_of_a_kinit_cache_is_a_ticket_and_an_unreachable_kdc_is_a_clear_error() {
        let cc =
            super::super::ccache::Ccache::parse(include_bytes!("../../tests/data/alice.ccache"))
                .unwrap();
        let tgt = Tgt::from_credential(cc.tgt(None, 0).unwrap(), cc.time_offset).unwrap();
        assert_eq!(tgt.realm(), "AD.MSRPC.TEST");
        assert!(!format!("{tgt:?}").contains(&format!("{:?}", cc.tgt(None, 0).unwrap().key())));
        // Port 9 (discard) on loopback: nothing listens.
        let mut ctx = TgtKerberos::new(
            AuthLevel::PKT_PRIVACY,
            0,
            tgt,
            "tcp://127.0.0.1:9",
            "host/srv1.ad.msrpc.test",
        );
        let e = ctx.step(None).unwrap_err();
        assert_eq!(e.kind, AuthFailure::LogonFailure);
        assert!(e.detail.contains("KDC 127.0.0.1:9"), "{}", e.detail);
        assert!(ctx.protect(&mut [0; 64], 16..32, 40..64).is_err());
    }
}
