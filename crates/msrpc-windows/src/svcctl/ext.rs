//! The thin layer over svcctl: [`services`] lists the services of the Service Control Manager
//! (ROpenSCManagerW and REnumServicesStatusW, [MS-SCMR] 3.1.4.15 and 3.1.4.11).

use msrpc::codegen::ndr;
use msrpc::{Binding, ClientContext, Win32Status};

use super::svcctl::{
    Client, RCloseServiceHandleArgs, REnumServicesStatusWArgs, ROpenSCManagerWRequest,
};
use crate::{Error, Result};

/// `SC_MANAGER_CONNECT | SC_MANAGER_ENUMERATE_SERVICE` ([MS-SCMR] 2.2.1).
pub const SC_MANAGER_ENUMERATE: u32 = 0x0001 | 0x0004;
/// `SERVICE_WIN32` (own and shared processes).
pub const SERVICE_WIN32: u32 = 0x30;
/// `SERVICE_STATE_ALL`.
pub const SERVICE_STATE_ALL: u32 = 3;
/// The largest buffer REnumServicesStatusW takes ([MS-SCMR]: `[range(0, 1024 * 256)]`).
pub const MAX_BUFFER: u32 = 256 * 1024;
/// The most REnumServicesStatusW calls one listing makes.
pub const MAX_PAGES: usize = 4096;
const ERROR_MORE_DATA: u32 = 234;
/// `ENUM_SERVICE_STATUSW` in the buffer: two 32-bit string offsets and `SERVICE_STATUS`.
const ENTRY_BYTES: usize = 36;

/// One service (`ENUM_SERVICE_STATUSW`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Service {
    /// The service name.
    pub name: String,
    /// The display name.
    pub display_name: String,
    /// `dwServiceType`.
    pub service_type: u32,
    /// `dwCurrentState`: 1 stopped, 2 start pending, 3 stop pending, 4 running, 5 continue
    /// pending, 6 pause pending, 7 paused.
    pub state: u32,
}

impl Service {
    /// `dwCurrentState` in words.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            1 => "STOPPED",
            2 => "START_PENDING",
            3 => "STOP_PENDING",
            4 => "RUNNING",
            5 => "CONTINUE_PENDING",
            6 => "PAUSE_PENDING",
            7 => "PAUSED",
            _ => "?",
        }
    }
}

fn win32(op: &'static str, v: u32) -> Result<()> {
    if v == 0 {
        Ok(())
    } else {
        Err(Error::Win32 {
            op,
            status: Win32Status(v),
        })
    }
}

/// Every Win32 service, in any state, over a binding to `\pipe\svcctl`.
pub async fn services(b: &Binding) -> Result<Vec<Service>> {
    let c = Client(b);
    let o = c
        .r_open_sc_manager_w(ROpenSCManagerWRequest {
            lpMachineName: ndr::Unique::default(),
            lpDatabaseName: ndr::Unique::new(ndr::WideString::from("ServicesActive")),
            dwDesiredAccess: SC_MANAGER_ENUMERATE,
        })
        .await?;
    win32("ROpenSCManagerW", o.return_value)?;
    let scm = o.lpScHandle;
    let result = enumerate(&c, &scm).await;
    let closed = c
        .r_close_service_handle(RCloseServiceHandleArgs { hSCObject: scm })
        .await;
    let out = result?;
    win32("RCloseServiceHandle", closed?.return_value)?;
    Ok(out)
}

async fn enumerate(c: &Client<&Binding>, scm: &ClientContext<Binding>) -> Result<Vec<Service>> {
    let mut out = Vec::new();
    let mut resume = 0u32;
    let mut size = 16 * 1024u32;
    for _ in 0..MAX_PAGES {
        let r = c
            .r_enum_services_status_w(REnumServicesStatusWArgs {
                hSCManager: scm.clone(),
                dwServiceType: SERVICE_WIN32,
                dwServiceState: SERVICE_STATE_ALL,
                cbBufSize: size,
                lpResumeIndex: ndr::Unique::new(resume),
            })
            .await?;
        if r.return_value != 0 && r.return_value != ERROR_MORE_DATA {
            win32("REnumServicesStatusW", r.return_value)?;
        }
        let got = parse(&r.lpBuffer.0, r.lpServicesReturned)?;
        let before = out.len();
        out.extend(got);
        if r.return_value == 0 {
            return Ok(out);
        }
        if out.len() == before {
            // Nothing fitted: ask again with the size the server needs.
            if r.pcbBytesNeeded <= size || r.pcbBytesNeeded > MAX_BUFFER {
                return Err(Error::Reply {
                    op: "REnumServicesStatusW",
                    what: format!("needs {} bytes (limit {MAX_BUFFER})", r.pcbBytesNeeded),
                });
            }
            size = r.pcbBytesNeeded;
        }
        resume = r.lpResumeIndex.as_ref().copied().unwrap_or(resume);
    }
    Err(Error::Reply {
        op: "REnumServicesStatusW",
        what: format!("more than {MAX_PAGES} pages"),
    })
}

/// The `count` `ENUM_SERVICE_STATUSW` entries at the start of `buf`, whose names are offsets
/// into `buf` ([MS-SCMR] 2.2.11).
fn parse(buf: &[u8], count: u32) -> Result<Vec<Service>> {
    let bad = |what: String| Error::Reply {
        op: "REnumServicesStatusW",
        what,
    };
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    if count.checked_mul(ENTRY_BYTES).is_none_or(|n| n > buf.len()) {
        return Err(bad(format!("{count} entries do not fit {} bytes", buf.len())));
    }
    let u32_at = |o: usize| u32::from_le_bytes([buf[o], buf[o + 1], buf[o + 2], buf[o + 3]]);
    let string_at = |off: u32| -> Result<String> {
        let start = usize::try_from(off).unwrap_or(usize::MAX);
        let tail = buf
            .get(start..)
            .ok_or_else(|| bad(format!("string offset {off} outside the buffer")))?;
        let units: Vec<u16> = tail
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|u| *u != 0)
            .collect();
        Ok(String::from_utf16_lossy(&units))
    };
    (0..count)
        .map(|i| {
            let e = i * ENTRY_BYTES;
            Ok(Service {
                name: string_at(u32_at(e))?,
                display_name: string_at(u32_at(e + 4))?,
                service_type: u32_at(e + 8),
                state: u32_at(e + 12),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16z(s: &str) -> Vec<u8> {
        s.encode_utf16().chain([0]).flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn parses_entries_and_refuses_bad_offsets() {
        let mut buf = vec![0u8; ENTRY_BYTES];
        let name = utf16z("svc");
        let disp = utf16z("The service");
        let n_off = ENTRY_BYTES as u32;
        let d_off = n_off + name.len() as u32;
        buf[0..4].copy_from_slice(&n_off.to_le_bytes());
        buf[4..8].copy_from_slice(&d_off.to_le_bytes());
        buf[8..12].copy_from_slice(&0x10u32.to_le_bytes());
        buf[12..16].copy_from_slice(&4u32.to_le_bytes());
        buf.extend(&name);
        buf.extend(&disp);
        let s = parse(&buf, 1).expect("parses");
        assert_eq!(s[0].name, "svc");
        assert_eq!(s[0].display_name, "The service");
        assert_eq!(s[0].state_name(), "RUNNING");
        assert!(parse(&buf, 2).is_err(), "count beyond the buffer");
        buf[0..4].copy_from_slice(&9999u32.to_le_bytes());
        assert!(parse(&buf, 1).is_err(), "offset outside");
    }
}
