//! The security trailer (MS-RPCE 2.2.2.11): `auth_type`, `auth_level` and [`AuthVerifier`].

use std::fmt;

use bytes::Bytes;

open_code!(
    /// `auth_type` in the security trailer (MS-RPCE 2.2.1.1.7).
    AuthType(u8), "4" {
    /// No authentication.
    NONE = 0x00;
    /// SPNEGO (Negotiate).
    SPNEGO = 0x09;
    /// NTLM.
    NTLM = 0x0A;
    /// Kerberos.
    KERBEROS = 0x10;
    /// Netlogon secure channel.
    NETLOGON = 0x44;
    /// Default.
    DEFAULT = 0xFF;
});

open_code!(
    /// `auth_level` in the security trailer (MS-RPCE 2.2.1.1.8).
    AuthLevel(u8), "4" {
    /// Default level.
    DEFAULT = 0;
    /// No protection.
    NONE = 1;
    /// Authenticate at connect only.
    CONNECT = 2;
    /// Authenticate the first fragment of each call.
    CALL = 3;
    /// Authenticate every packet.
    PACKET = 4;
    /// Sign every packet.
    PKT_INTEGRITY = 5;
    /// Sign and seal every packet.
    PKT_PRIVACY = 6;
});

/// Size of the security trailer before `auth_value`.
pub const SEC_TRAILER_LEN: usize = 8;

/// The 8-byte security trailer plus `auth_value`, and the pad bytes before it
/// (MS-RPCE 2.2.2.11).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AuthVerifier {
    /// `auth_type`.
    pub auth_type: AuthType,
    /// `auth_level`.
    pub auth_level: AuthLevel,
    /// The reserved byte (kept for byte-exact re-emission).
    pub reserved: u8,
    /// `auth_context_id`.
    pub context_id: u32,
    /// The pad bytes between the body and the trailer; their count is `auth_pad_length`.
    pub pad: Bytes,
    /// `auth_value` (token or signature); its length is `auth_length`.
    pub value: Bytes,
}

impl AuthVerifier {
    /// A verifier with no padding.
    pub fn new(auth_type: AuthType, auth_level: AuthLevel, context_id: u32, value: Bytes) -> Self {
        AuthVerifier {
            auth_type,
            auth_level,
            reserved: 0,
            context_id,
            pad: Bytes::new(),
            value,
        }
    }
}
