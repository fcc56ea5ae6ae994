//! The seam for authentication providers (NTLM, SPNEGO, Kerberos: a later issue).
//!
//! The wire layer already parses and emits the security trailer ([`AuthVerifier`]) and the
//! verification trailer ([`crate::vt`]). A provider implements [`SecurityContext`]; the
//! connection machines will call it to produce the tokens of the bind / alter_context /
//! rpc_auth_3 legs and to sign, seal and verify request and response fragments. The state
//! machines in this version do not take a provider yet: a server answers a bind that carries a
//! security trailer with bind_nak `AUTHENTICATION_TYPE_NOT_RECOGNIZED` (8), and a client never
//! sends one.
//!
//! Framing rules the machines will apply (MS-RPCE 2.2.2.11, DESIGN §4): the trailer sits in every
//! fragment; before it the stub is padded so that the trailer starts 16-byte aligned relative to
//! the start of the stub data, and `auth_pad_length` counts those bytes. Parsing accepts any pad
//! (impacket pads to 4, Samba to 16).
//!
//! [`AuthVerifier`]: crate::wire::AuthVerifier

use std::ops::Range;

use crate::error::Error;
use crate::wire::{AuthLevel, AuthType};

/// The outcome of one step of a security context exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStep {
    /// Send this token and expect another from the peer.
    Continue(Vec<u8>),
    /// The context is established; send this token if any (for example in rpc_auth_3).
    Complete(Option<Vec<u8>>),
}

/// One side's security context for one `auth_context_id` on a connection.
pub trait SecurityContext: Send {
    /// `auth_type` for the trailer.
    fn auth_type(&self) -> AuthType;
    /// `auth_level` for the trailer.
    fn auth_level(&self) -> AuthLevel;
    /// `auth_context_id` for the trailer.
    fn context_id(&self) -> u32;
    /// Feed the peer's token (`None` for a client's first leg) and get the next one.
    fn step(&mut self, input: Option<&[u8]>) -> Result<AuthStep, Error>;
    /// Size of the signature in `auth_value` of request and response fragments.
    fn signature_len(&self) -> usize;
    /// Sign (integrity) or seal and sign (privacy) one fragment in place. `pdu` is the whole
    /// fragment with the trailer written and `auth_value` zeroed; `body` is the stub and pad to
    /// seal; `signature` is where `auth_value` goes.
    fn protect(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), Error>;
    /// Verify (and unseal) one received fragment in place; same ranges as [`protect`](Self::protect).
    fn verify(
        &mut self,
        pdu: &mut [u8],
        body: Range<usize>,
        signature: Range<usize>,
    ) -> Result<(), Error>;
}
