//! SIDs to names over TCP with Schannel, as a domain member does: establish the machine
//! account's netlogon secure channel, then call lsarpc's LsarLookupSids3 protected with its
//! session key (a DC serves it over TCP only that way).
//!
//! ```sh
//! # against the AD DC of scripts/peers/addc.sh, inside its namespace:
//! MSRPC_MACHINE_PASSWORD="$(cat /tmp/addc/machine.password)" scripts/peers/addc.sh exec /tmp/addc \
//!   cargo run -p msrpc-windows --features all --example schannel_lookup -- \
//!   ncacn_ip_tcp:127.0.0.1 MSRPCAD MSRPCWS S-1-5-21-...-1102
//! ```
//!
//! The machine password comes from `MSRPC_MACHINE_PASSWORD`, never from the command line.

use msrpc::{AuthnLevel, Binding};
use msrpc_windows::netlogon::{MachineSecret, NETLOGON_SECURE_CHANNEL_TYPE, SecureChannel};
use msrpc_windows::{Sid, lsat};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dc, domain, computer, sids @ ..] = &args[..] else {
        return Err("usage: schannel_lookup BINDING DOMAIN COMPUTER SID...".into());
    };
    let password = std::env::var("MSRPC_MACHINE_PASSWORD")
        .map_err(|_| "set MSRPC_MACHINE_PASSWORD to the machine account's password")?;
    let sids = sids
        .iter()
        .map(|s| s.parse::<Sid>())
        .collect::<Result<Vec<_>, _>>()?;

    // NetrServerReqChallenge and NetrServerAuthenticate3, unauthenticated.
    let channel = SecureChannel::establish(
        &Binding::from_string(dc)?,
        computer,
        domain,
        &MachineSecret::Password(password),
        NETLOGON_SECURE_CHANNEL_TYPE::WorkstationSecureChannel,
    )
    .await?;
    println!("secure channel: flags {:#010x}", channel.negotiated_flags());

    // lsarpc at privacy with Schannel (auth type 68).
    let b = channel.binding(dc, AuthnLevel::PktPrivacy)?;
    for t in lsat::lookup_sids3(&b, &sids).await? {
        println!("{} {}\\{} ({})", t.sid, t.domain, t.name, t.kind_name());
    }
    Ok(())
}
