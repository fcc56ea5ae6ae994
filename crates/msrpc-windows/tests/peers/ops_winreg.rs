//! winreg: the operations Samba implements that MS-RRP's IDL has (26 of 30).

use msrpc::codegen::ndr::{ConformantArray, ConformantVaryingArray, Unique};
use msrpc::{Binding, ClientContext};
use msrpc_windows::dtyp::{FILETIME, RPC_UNICODE_STRING};
use msrpc_windows::winreg::winreg::*;
use msrpc_windows::winreg::{RPC_SECURITY_DESCRIPTOR, RVALENT};

use crate::call;
use crate::ops::*;

const MAXIMUM_ALLOWED: u32 = 0x0200_0000;
const KEY_READ: u32 = 0x0002_0019;
/// `ERROR_BAD_PATHNAME`: Samba's answer to BaseRegSaveKey and BaseRegRestoreKey.
const ERROR_BAD_PATHNAME: u32 = 161;

/// A name to send, its NUL counted ([MS-RRP] 2.2.4).
fn name(s: &str) -> RPC_UNICODE_STRING {
    let mut units: Vec<u16> = s.encode_utf16().collect();
    units.push(0);
    let bytes = (units.len() * 2) as u16;
    RPC_UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: Unique::new(ConformantVaryingArray::new(units)),
    }
}

/// An empty buffer of `bytes` for the server to fill.
fn room(bytes: u16) -> RPC_UNICODE_STRING {
    RPC_UNICODE_STRING {
        Length: 0,
        MaximumLength: bytes,
        Buffer: Unique::new(ConformantVaryingArray {
            max_count: u64::from(bytes / 2),
            offset: 0,
            items: Vec::new(),
        }),
    }
}

fn data_room(bytes: u32) -> Unique<ConformantVaryingArray<u8>> {
    Unique::new(ConformantVaryingArray {
        max_count: u64::from(bytes),
        offset: 0,
        items: Vec::new(),
    })
}

fn no_sd(bytes: u32) -> RPC_SECURITY_DESCRIPTOR {
    RPC_SECURITY_DESCRIPTOR {
        lpSecurityDescriptor: data_room(bytes),
        cbInSecurityDescriptor: bytes,
        cbOutSecurityDescriptor: 0,
    }
}

async fn close(t: &mut Tally, c: &Client<&Binding>, h: ClientContext<Binding>) {
    call!(
        t,
        "BaseRegCloseKey",
        c.base_reg_close_key(BaseRegCloseKeyArgs { hKey: h }),
        OK
    );
}

pub(crate) async fn run(b: &Binding, peer: Peer) -> Tally {
    let mut t = Tally::new("winreg", peer);
    let c = Client(b);

    // The predefined keys; Samba serves HKCR, HKCU, HKLM, HKPD, HKU, HKCC, HKPT and HKPN.
    // Its registry has no HKEY_CURRENT_CONFIG and no PerfNlsText key: ERROR_FILE_NOT_FOUND.
    macro_rules! root {
        ($op:literal, $m:ident, $req:ident, $want:expr) => {{
            let o = call!(
                t,
                $op,
                c.$m($req {
                    ServerName: Unique::default(),
                    samDesired: MAXIMUM_ALLOWED,
                }),
                $want
            );
            if let Some(o) = o
                && o.return_value == 0
            {
                close(&mut t, &c, o.phKey).await;
            }
        }};
    }
    root!(
        "OpenClassesRoot",
        open_classes_root,
        OpenClassesRootRequest,
        OK
    );
    root!(
        "OpenCurrentUser",
        open_current_user,
        OpenCurrentUserRequest,
        OK
    );
    root!(
        "OpenPerformanceData",
        open_performance_data,
        OpenPerformanceDataRequest,
        OK
    );
    root!("OpenUsers", open_users, OpenUsersRequest, OK);
    root!(
        "OpenCurrentConfig",
        open_current_config,
        OpenCurrentConfigRequest,
        Status(ERROR_FILE_NOT_FOUND)
    );
    root!(
        "OpenPerformanceText",
        open_performance_text,
        OpenPerformanceTextRequest,
        OK
    );
    root!(
        "OpenPerformanceNlsText",
        open_performance_nls_text,
        OpenPerformanceNlsTextRequest,
        Status(ERROR_FILE_NOT_FOUND)
    );

    let Some(hklm) = call!(
        t,
        "OpenLocalMachine",
        c.open_local_machine(OpenLocalMachineRequest {
            ServerName: Unique::default(),
            samDesired: MAXIMUM_ALLOWED,
        }),
        OK
    ) else {
        return t;
    };
    let hklm = hklm.phKey;
    let Some(cv) = call!(
        t,
        "BaseRegOpenKey",
        c.base_reg_open_key(BaseRegOpenKeyArgs {
            hKey: hklm.clone(),
            lpSubKey: name(r"SOFTWARE\Microsoft\Windows NT\CurrentVersion"),
            dwOptions: 0,
            samDesired: KEY_READ,
        }),
        OK
    ) else {
        return t;
    };
    let cv = cv.phkResult;
    call!(
        t,
        "BaseRegOpenKey",
        c.base_reg_open_key(BaseRegOpenKeyArgs {
            hKey: hklm.clone(),
            lpSubKey: name(r"NoSuchKey\AtAll"),
            dwOptions: 0,
            samDesired: KEY_READ,
        }),
        Status(ERROR_FILE_NOT_FOUND)
    );
    if let Some(o) = call!(
        t,
        "BaseRegQueryInfoKey",
        c.base_reg_query_info_key(BaseRegQueryInfoKeyArgs {
            hKey: cv.clone(),
            // No class buffer (Samba's NDR faults an empty non-null one).
            lpClassIn: RPC_UNICODE_STRING {
                Length: 0,
                MaximumLength: 0,
                Buffer: Unique::default(),
            },
        }),
        OK
    ) {
        t.expect(
            "BaseRegQueryInfoKey",
            o.lpcSubKeys >= 1 && o.lpcValues >= 1,
            format!("{} subkeys, {} values", o.lpcSubKeys, o.lpcValues),
        );
    }
    if let Some(o) = call!(
        t,
        "BaseRegEnumKey",
        c.base_reg_enum_key(BaseRegEnumKeyArgs {
            hKey: cv.clone(),
            dwIndex: 0,
            lpNameIn: room(512),
            lpClassIn: Unique::new(room(512)),
            lpftLastWriteTime: Unique::new(FILETIME {
                dwLowDateTime: 0,
                dwHighDateTime: 0,
            }),
        }),
        OK
    ) {
        let n = msrpc_windows::string_of(&o.lpNameOut);
        t.expect("BaseRegEnumKey", !n.is_empty(), "subkey 0 has a name");
    }
    call!(
        t,
        "BaseRegEnumKey",
        c.base_reg_enum_key(BaseRegEnumKeyArgs {
            hKey: cv.clone(),
            dwIndex: 100_000,
            lpNameIn: room(512),
            lpClassIn: Unique::new(room(512)),
            lpftLastWriteTime: Unique::default(),
        }),
        Status(ERROR_NO_MORE_ITEMS)
    );
    call!(
        t,
        "BaseRegEnumValue",
        c.base_reg_enum_value(BaseRegEnumValueArgs {
            hKey: cv.clone(),
            dwIndex: 0,
            lpValueNameIn: room(512),
            lpType: Unique::new(0),
            lpData: data_room(4096),
            lpcbData: Unique::new(4096),
            lpcbLen: Unique::new(0),
        }),
        OK
    );
    if let Some(o) = call!(
        t,
        "BaseRegQueryValue",
        c.base_reg_query_value(BaseRegQueryValueArgs {
            hKey: cv.clone(),
            lpValueName: name("SystemRoot"),
            lpType: Unique::new(0),
            lpData: data_room(1024),
            lpcbData: Unique::new(1024),
            lpcbLen: Unique::new(0),
        }),
        OK
    ) {
        t.expect(
            "BaseRegQueryValue",
            o.lpType.as_ref().copied() == Some(1),
            format!("SystemRoot is REG_SZ: {:?}", o.lpType.as_ref()),
        );
    }
    call!(
        t,
        "BaseRegQueryValue",
        c.base_reg_query_value(BaseRegQueryValueArgs {
            hKey: cv.clone(),
            lpValueName: name("NoSuchValue"),
            lpType: Unique::new(0),
            lpData: data_room(1024),
            lpcbData: Unique::new(1024),
            lpcbLen: Unique::new(0),
        }),
        Status(ERROR_FILE_NOT_FOUND)
    );
    if let Some(o) = call!(
        t,
        "BaseRegGetVersion",
        c.base_reg_get_version(BaseRegGetVersionArgs { hKey: cv.clone() }),
        OK
    ) {
        t.expect(
            "BaseRegGetVersion",
            o.lpdwVersion >= 5,
            format!("version {}", o.lpdwVersion),
        );
    }
    // OWNER | GROUP | DACL.
    let sd = call!(
        t,
        "BaseRegGetKeySecurity",
        c.base_reg_get_key_security(BaseRegGetKeySecurityArgs {
            hKey: cv.clone(),
            SecurityInformation: 7,
            pRpcSecurityDescriptorIn: no_sd(4096),
        }),
        OK
    )
    .map(|o| o.pRpcSecurityDescriptorOut);
    if let Some(sd) = &sd {
        t.expect(
            "BaseRegGetKeySecurity",
            sd.cbOutSecurityDescriptor >= 20,
            format!("{} octets", sd.cbOutSecurityDescriptor),
        );
    }
    let sd_bytes = sd
        .and_then(|s| s.lpSecurityDescriptor.as_ref().map(|d| d.items.clone()))
        .unwrap_or_default();
    let sd_len = sd_bytes.len() as u32;
    call!(
        t,
        "BaseRegSetKeySecurity",
        c.base_reg_set_key_security(BaseRegSetKeySecurityArgs {
            hKey: cv.clone(),
            SecurityInformation: 4,
            pRpcSecurityDescriptor: RPC_SECURITY_DESCRIPTOR {
                lpSecurityDescriptor: Unique::new(ConformantVaryingArray::new(sd_bytes)),
                cbInSecurityDescriptor: sd_len,
                cbOutSecurityDescriptor: sd_len,
            },
        }),
        Status(ERROR_ACCESS_DENIED)
    );
    let vals = || {
        ConformantVaryingArray::new(vec![RVALENT {
            ve_valuename: Unique::new(msrpc_windows::unicode_string("SystemRoot")),
            ve_valuelen: 0,
            ve_valueptr: Unique::new(0),
            ve_type: 0,
        }])
    };
    // Samba answers both with `lpvalueBuf` sent with a conformance of 0 while `ldwTotsize`
    // says 1024; MS-RRP sizes the buffer by `*ldwTotsize`, so msrpc's decoder refuses the reply
    // (RPC_X_BAD_STUB_DATA on the client side). Recorded as found, not worked around.
    call!(
        t,
        "BaseRegQueryMultipleValues",
        c.base_reg_query_multiple_values(BaseRegQueryMultipleValuesArgs {
            hKey: cv.clone(),
            val_listIn: vals(),
            num_vals: 1,
            lpvalueBuf: data_room(1024),
            ldwTotsize: 1024,
        }),
        Fault(RPC_X_BAD_STUB_DATA)
    );
    call!(
        t,
        "BaseRegQueryMultipleValues2",
        c.base_reg_query_multiple_values2(BaseRegQueryMultipleValues2Args {
            hKey: cv.clone(),
            val_listIn: vals(),
            num_vals: 1,
            lpvalueBuf: data_room(1024),
            ldwTotsize: 1024,
        }),
        Fault(RPC_X_BAD_STUB_DATA)
    );
    call!(
        t,
        "BaseRegFlushKey",
        c.base_reg_flush_key(BaseRegFlushKeyArgs { hKey: cv.clone() }),
        OK
    );
    call!(
        t,
        "BaseRegSaveKey",
        c.base_reg_save_key(BaseRegSaveKeyArgs {
            hKey: cv.clone(),
            lpFile: name(r"C:\msrpc-save"),
            pSecurityAttributes: Unique::default(),
        }),
        Status(ERROR_BAD_PATHNAME)
    );
    call!(
        t,
        "BaseRegRestoreKey",
        c.base_reg_restore_key(BaseRegRestoreKeyArgs {
            hKey: cv.clone(),
            lpFile: name(r"C:\msrpc-save"),
            Flags: 0,
        }),
        Status(ERROR_BAD_PATHNAME)
    );
    // Writes under a key opened for reading: refused.
    call!(
        t,
        "BaseRegCreateKey",
        c.base_reg_create_key(BaseRegCreateKeyArgs {
            hKey: cv.clone(),
            lpSubKey: name("msrpc-test"),
            lpClass: name(""),
            dwOptions: 0,
            samDesired: KEY_READ,
            lpSecurityAttributes: Unique::default(),
            lpdwDisposition: Unique::new(0),
        }),
        Status(ERROR_ACCESS_DENIED)
    );
    call!(
        t,
        "BaseRegSetValue",
        c.base_reg_set_value(BaseRegSetValueArgs {
            hKey: cv.clone(),
            lpValueName: name("msrpc-test"),
            dwType: 4,
            lpData: ConformantArray(vec![1, 0, 0, 0]),
            cbData: 4,
        }),
        Status(ERROR_ACCESS_DENIED)
    );
    call!(
        t,
        "BaseRegDeleteValue",
        c.base_reg_delete_value(BaseRegDeleteValueArgs {
            hKey: cv.clone(),
            lpValueName: name("SystemRoot"),
        }),
        Status(ERROR_ACCESS_DENIED)
    );
    call!(
        t,
        "BaseRegDeleteKey",
        c.base_reg_delete_key(BaseRegDeleteKeyArgs {
            hKey: cv.clone(),
            lpSubKey: name("Winlogon"),
        }),
        Status(ERROR_ACCESS_DENIED)
    );
    close(&mut t, &c, cv).await;
    close(&mut t, &c, hklm).await;
    t
}
