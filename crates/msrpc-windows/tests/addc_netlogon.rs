//! netlogon's thin layer against the Samba AD DC of `scripts/peers/addc.sh` (realm
//! AD.MSRPC.TEST, domain MSRPCAD), over ncacn_ip_tcp through the DC's endpoint mapper. Runs
//! inside the DC's network namespace, as `./scripts/test` does for every test named `addc_*`:
//!
//! ```sh
//! scripts/peers/addc.sh start /tmp/addc
//! scripts/peers/addc.sh exec /tmp/addc cargo test -p msrpc-windows --features all --test addc_netlogon -- --include-ignored
//! ```

#![allow(clippy::unwrap_used)]
#![cfg(feature = "netlogon")]

use msrpc::{Binding, Win32Status};
use msrpc_windows::Error;
use msrpc_windows::netlogon::{
    DS_DIRECTORY_SERVICE_REQUIRED, DS_RETURN_DNS_NAME, DS_RETURN_FLAT_NAME, dc_name,
    server_req_challenge,
};

fn var(k: &str) -> String {
    std::env::var(k)
        .unwrap_or_else(|_| panic!("{k} unset: run inside `scripts/peers/addc.sh exec`"))
}

/// `DS_DS_FLAG`: the DC runs the directory service.
const DS_DS_FLAG: u32 = 0x10;
/// `ERROR_NO_SUCH_DOMAIN`.
const ERROR_NO_SUCH_DOMAIN: u32 = 1355;

#[test]
#[ignore = "needs PEER: the Samba AD DC (scripts/peers/addc.sh), in its namespace"]
fn addc_netlogon_dc_name_and_challenge() {
    let realm = var("MSRPC_ADDC_REALM");
    let domain = var("MSRPC_ADDC_DOMAIN");
    let host = var("MSRPC_ADDC_DC_HOST");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // No endpoint: the DC's endpoint mapper (127.0.0.1:135 in its namespace) gives netlogon's.
        let b = Binding::from_string("ncacn_ip_tcp:127.0.0.1").unwrap();

        let dc = dc_name(
            &b,
            &realm,
            DS_RETURN_DNS_NAME | DS_DIRECTORY_SERVICE_REQUIRED,
        )
        .await
        .unwrap();
        assert!(dc.domain.eq_ignore_ascii_case(&realm), "{dc:?}");
        assert!(dc.forest.eq_ignore_ascii_case(&realm), "{dc:?}");
        assert!(
            dc.name.eq_ignore_ascii_case(&format!(r"\\{host}")),
            "{dc:?}"
        );
        assert!(dc.address.starts_with(r"\\"), "{dc:?}");
        assert_ne!(dc.flags & DS_DS_FLAG, 0, "{dc:?}");
        assert!(!dc.domain_guid.is_nil(), "{dc:?}");

        eprintln!("{dc:?}");
        let flat = dc_name(&b, &domain, DS_RETURN_FLAT_NAME).await.unwrap();
        assert!(flat.domain.eq_ignore_ascii_case(&domain), "{flat:?}");
        assert_eq!(flat.domain_guid, dc.domain_guid);

        let err = dc_name(&b, "no-such-domain.invalid", 0)
            .await
            .expect_err("no such domain");
        assert!(
            matches!(
                err,
                Error::Win32 {
                    status: Win32Status(ERROR_NO_SUCH_DOMAIN),
                    ..
                }
            ),
            "{err:?}"
        );

        let one = server_req_challenge(&b, "CLIENT1", [1, 2, 3, 4, 5, 6, 7, 8])
            .await
            .unwrap();
        let two = server_req_challenge(&b, "CLIENT1", [1, 2, 3, 4, 5, 6, 7, 8])
            .await
            .unwrap();
        // The server's challenge is random: 2^-64 for these to be equal.
        assert_ne!(one, two);
        assert_ne!(one, [0; 8]);
    });
}
