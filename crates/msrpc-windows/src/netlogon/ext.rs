//! The thin layer over netlogon: the calls a client makes without a secure channel.
//! [`dc_name`] finds a domain controller (DsrGetDcNameEx2, [MS-NRPC] 3.5.4.3.1) and
//! [`server_req_challenge`] is the secure channel's first leg (NetrServerReqChallenge,
//! [MS-NRPC] 3.5.4.4.1), which needs no credential of its own. Everything after it
//! (NetrServerAuthenticate3, the session key, NetrLogonGetCapabilities' authenticators) needs
//! the machine account's secret: [`SecureChannel`] establishes the secure channel
//! (NetrServerAuthenticate3, AES) and makes the authenticator-carrying NetrLogonGetCapabilities
//! over Schannel; the other calls stay with the generated stubs (`netlogon::logon::Client`),
//! with [`SecureChannel::next_authenticator`] for their authenticators.

use msrpc::{Binding, Uuid, Win32Status};

#[path = "secure_channel.rs"]
mod secure_channel;
pub use secure_channel::*;

use super::NETLOGON_CREDENTIAL;
use super::logon::{Client, DsrGetDcNameEx2Request, NetrServerReqChallengeRequest};
use crate::{Error, NtStatus, Result};

/// `DS_RETURN_DNS_NAME`: names in the answer are DNS names.
pub const DS_RETURN_DNS_NAME: u32 = 0x4000_0000;
/// `DS_RETURN_FLAT_NAME`: names in the answer are NetBIOS names.
pub const DS_RETURN_FLAT_NAME: u32 = 0x8000_0000;
/// `DS_DIRECTORY_SERVICE_REQUIRED`: an Active Directory DC.
pub const DS_DIRECTORY_SERVICE_REQUIRED: u32 = 0x0000_0010;

/// A domain controller (`DOMAIN_CONTROLLER_INFOW`, [MS-NRPC] 2.2.1.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DomainController {
    /// `DomainControllerName`, `\\` and the DC's name.
    pub name: String,
    /// `DomainControllerAddress`, `\\` and its address.
    pub address: String,
    /// `DomainControllerAddressType`: 1 `DS_INET_ADDRESS`, 2 `DS_NETBIOS_ADDRESS`.
    pub address_type: u32,
    /// `DomainGuid` (nil for a domain without one).
    pub domain_guid: Uuid,
    /// `DomainName`.
    pub domain: String,
    /// `DnsForestName`.
    pub forest: String,
    /// `Flags`: `DS_PDC_FLAG` 0x1, `DS_GC_FLAG` 0x4, `DS_LDAP_FLAG` 0x8, `DS_DS_FLAG` 0x10,
    /// `DS_KDC_FLAG` 0x20, ... ([MS-NRPC] 2.2.1.2.1).
    pub flags: u32,
    /// `DcSiteName`.
    pub dc_site: String,
    /// `ClientSiteName`.
    pub client_site: String,
}

fn text(s: Option<&msrpc::codegen::ndr::WideString>) -> String {
    s.map(|s| s.to_string_lossy()).unwrap_or_default()
}

/// A domain controller of `domain` (its NetBIOS or DNS name) that the server over `b`
/// (`\pipe\netlogon`, or netlogon's TCP port) finds, with `flags` (`DS_*`, 0 for none).
pub async fn dc_name(b: &Binding, domain: &str, flags: u32) -> Result<DomainController> {
    let r = Client(b)
        .dsr_get_dc_name_ex2(DsrGetDcNameEx2Request {
            ComputerName: Default::default(),
            AccountName: Default::default(),
            AllowableAccountControlBits: 0,
            DomainName: Some(domain.into()).into(),
            DomainGuid: Default::default(),
            SiteName: Default::default(),
            Flags: flags,
        })
        .await?;
    if r.return_value != 0 {
        return Err(Error::Win32 {
            op: "DsrGetDcNameEx2",
            status: Win32Status(r.return_value),
        });
    }
    let i = r.DomainControllerInfo.into_inner().ok_or(Error::Reply {
        op: "DsrGetDcNameEx2",
        what: "success without DomainControllerInfo".into(),
    })?;
    Ok(DomainController {
        name: text(i.DomainControllerName.as_ref()),
        address: text(i.DomainControllerAddress.as_ref()),
        address_type: i.DomainControllerAddressType,
        domain_guid: i.DomainGuid,
        domain: text(i.DomainName.as_ref()),
        forest: text(i.DnsForestName.as_ref()),
        flags: i.Flags,
        dc_site: text(i.DcSiteName.as_ref()),
        client_site: text(i.ClientSiteName.as_ref()),
    })
}

/// The server's challenge for `computer`'s secure channel, given the client's (the first leg;
/// [MS-NRPC] 3.1.4.1). The server remembers the pair for the NetrServerAuthenticate call that
/// must follow on the same binding.
pub async fn server_req_challenge(
    b: &Binding,
    computer: &str,
    client_challenge: [u8; 8],
) -> Result<[u8; 8]> {
    let r = Client(b)
        .netr_server_req_challenge(NetrServerReqChallengeRequest {
            PrimaryName: Default::default(),
            ComputerName: computer.into(),
            ClientChallenge: NETLOGON_CREDENTIAL {
                data: client_challenge,
            },
        })
        .await?;
    let s = NtStatus::from_return(r.return_value);
    if !s.is_success() {
        return Err(Error::Nt {
            op: "NetrServerReqChallenge",
            status: s,
        });
    }
    Ok(r.ServerChallenge.data)
}
