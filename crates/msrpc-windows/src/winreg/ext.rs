//! The thin layer over winreg: [`Key`] (a registry key handle that closes on drop), opened from a
//! path such as `HKLM\SOFTWARE\Microsoft`, its subkeys and its values ([MS-RRP] 3.1.5).

use msrpc::codegen::ndr;
use msrpc::{Binding, ClientContext, Win32Status};

use super::winreg::{
    BaseRegCloseKeyArgs, BaseRegEnumKeyArgs, BaseRegEnumValueArgs, BaseRegOpenKeyArgs, Client,
    OpenClassesRootRequest, OpenCurrentUserRequest, OpenLocalMachineRequest, OpenUsersRequest,
};
use crate::dtyp::RPC_UNICODE_STRING;
use crate::{Error, Result, string_of};

/// `KEY_READ` ([MS-RRP] 2.2.3).
pub const KEY_READ: u32 = 0x0002_0019;
/// The most subkeys or values one listing reads.
pub const MAX_ENTRIES: u32 = 1 << 20;
/// Bytes offered for a name (a registry key or value name is at most 16,383 characters).
const NAME_BYTES: u16 = 32_766;
/// The largest value data read, in bytes; a larger value is an error.
pub const MAX_VALUE_BYTES: u32 = 16 << 20;

const ERROR_NO_MORE_ITEMS: u32 = 259;
const ERROR_MORE_DATA: u32 = 234;

/// An open registry key; `BaseRegCloseKey` when dropped inside a tokio runtime, or now with
/// [`Key::close`].
#[derive(Debug)]
pub struct Key {
    binding: Binding,
    ctx: Option<ClientContext<Binding>>,
}

/// One value of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Value {
    /// The value's name (empty for the default value).
    pub name: String,
    /// `REG_SZ` 1, `REG_EXPAND_SZ` 2, `REG_BINARY` 3, `REG_DWORD` 4, `REG_MULTI_SZ` 7,
    /// `REG_QWORD` 11, ...
    pub kind: u32,
    /// The raw data.
    pub data: Vec<u8>,
}

impl Value {
    /// `REG_SZ` and the rest, as [MS-RRP] 2.2.5 names them.
    pub fn kind_name(&self) -> String {
        match self.kind {
            0 => "REG_NONE".into(),
            1 => "REG_SZ".into(),
            2 => "REG_EXPAND_SZ".into(),
            3 => "REG_BINARY".into(),
            4 => "REG_DWORD".into(),
            5 => "REG_DWORD_BIG_ENDIAN".into(),
            6 => "REG_LINK".into(),
            7 => "REG_MULTI_SZ".into(),
            11 => "REG_QWORD".into(),
            k => format!("type {k}"),
        }
    }

    /// The data as text: strings decoded, numbers in decimal, binary in hex.
    pub fn display(&self) -> String {
        let utf16 = |b: &[u8]| {
            let units: Vec<u16> = b
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        };
        match self.kind {
            1 | 2 | 6 => utf16(&self.data).trim_end_matches('\0').to_string(),
            7 => utf16(&self.data)
                .split('\0')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("\\0"),
            4 if self.data.len() >= 4 => {
                u32::from_le_bytes([self.data[0], self.data[1], self.data[2], self.data[3]])
                    .to_string()
            }
            5 if self.data.len() >= 4 => {
                u32::from_be_bytes([self.data[0], self.data[1], self.data[2], self.data[3]])
                    .to_string()
            }
            11 if self.data.len() >= 8 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.data[..8]);
                u64::from_le_bytes(b).to_string()
            }
            _ => self.data.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }
}

/// An `RRP_UNICODE_STRING` to send: MS-RRP counts the terminating NUL in `Length` (2.2.4).
fn rrp_string(s: &str) -> RPC_UNICODE_STRING {
    let mut units: Vec<u16> = s.encode_utf16().collect();
    units.truncate(usize::from(NAME_BYTES / 2) - 1);
    units.push(0);
    let bytes = (units.len() * 2) as u16;
    RPC_UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: ndr::Unique::new(ndr::ConformantVaryingArray::new(units)),
    }
}

/// An empty buffer of `bytes` for the server to fill.
fn out_string(bytes: u16) -> RPC_UNICODE_STRING {
    RPC_UNICODE_STRING {
        Length: 0,
        MaximumLength: bytes,
        Buffer: ndr::Unique::new(ndr::ConformantVaryingArray {
            max_count: u64::from(bytes / 2),
            offset: 0,
            items: Vec::new(),
        }),
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

fn name_of(u: &RPC_UNICODE_STRING) -> String {
    string_of(u).trim_end_matches('\0').to_string()
}

impl Key {
    /// Opens `path` (`HKLM\SOFTWARE\...`, `HKEY_LOCAL_MACHINE\...`, `HKU`, `HKCU`, `HKCR`) with
    /// `KEY_READ`, over a binding to `\pipe\winreg` or winreg's port.
    pub async fn open(b: &Binding, path: &str) -> Result<Key> {
        let path = path.trim_matches('\\');
        let (hive, rest) = path.split_once('\\').unwrap_or((path, ""));
        let c = Client(b);
        let (op, out) = match hive.to_ascii_uppercase().as_str() {
            "HKLM" | "HKEY_LOCAL_MACHINE" => (
                "OpenLocalMachine",
                c.open_local_machine(OpenLocalMachineRequest {
                    ServerName: ndr::Unique::default(),
                    samDesired: KEY_READ,
                })
                .await
                .map(|o| (o.phKey, o.return_value))?,
            ),
            "HKU" | "HKEY_USERS" => (
                "OpenUsers",
                c.open_users(OpenUsersRequest {
                    ServerName: ndr::Unique::default(),
                    samDesired: KEY_READ,
                })
                .await
                .map(|o| (o.phKey, o.return_value))?,
            ),
            "HKCU" | "HKEY_CURRENT_USER" => (
                "OpenCurrentUser",
                c.open_current_user(OpenCurrentUserRequest {
                    ServerName: ndr::Unique::default(),
                    samDesired: KEY_READ,
                })
                .await
                .map(|o| (o.phKey, o.return_value))?,
            ),
            "HKCR" | "HKEY_CLASSES_ROOT" => (
                "OpenClassesRoot",
                c.open_classes_root(OpenClassesRootRequest {
                    ServerName: ndr::Unique::default(),
                    samDesired: KEY_READ,
                })
                .await
                .map(|o| (o.phKey, o.return_value))?,
            ),
            _ => {
                return Err(Error::Win32 {
                    op: "open a registry hive (HKLM, HKU, HKCU, HKCR)",
                    status: Win32Status(2), // ERROR_FILE_NOT_FOUND
                });
            }
        };
        win32(op, out.1)?;
        let root = Key {
            binding: b.clone(),
            ctx: Some(out.0),
        };
        if rest.is_empty() {
            return Ok(root);
        }
        let o = c
            .base_reg_open_key(BaseRegOpenKeyArgs {
                hKey: root.handle(),
                lpSubKey: rrp_string(rest),
                dwOptions: 0,
                samDesired: KEY_READ,
            })
            .await?;
        win32("BaseRegOpenKey", o.return_value)?;
        root.close().await?;
        Ok(Key {
            binding: b.clone(),
            ctx: Some(o.phkResult),
        })
    }

    fn handle(&self) -> ClientContext<Binding> {
        self.ctx.clone().expect("a Key holds its handle until closed")
    }

    /// The names of the subkeys (`BaseRegEnumKey` from index 0 to `ERROR_NO_MORE_ITEMS`).
    pub async fn subkeys(&self) -> Result<Vec<String>> {
        let c = Client(&self.binding);
        let mut out = Vec::new();
        for i in 0..MAX_ENTRIES {
            let r = c
                .base_reg_enum_key(BaseRegEnumKeyArgs {
                    hKey: self.handle(),
                    dwIndex: i,
                    lpNameIn: out_string(NAME_BYTES),
                    lpClassIn: ndr::Unique::new(out_string(NAME_BYTES)),
                    lpftLastWriteTime: ndr::Unique::new(crate::dtyp::FILETIME {
                        dwLowDateTime: 0,
                        dwHighDateTime: 0,
                    }),
                })
                .await?;
            if r.return_value == ERROR_NO_MORE_ITEMS {
                return Ok(out);
            }
            win32("BaseRegEnumKey", r.return_value)?;
            out.push(name_of(&r.lpNameOut));
        }
        Ok(out)
    }

    /// The values (`BaseRegEnumValue` from index 0 to `ERROR_NO_MORE_ITEMS`; a value larger
    /// than the buffer offered is asked again with the size the server says).
    pub async fn values(&self) -> Result<Vec<Value>> {
        let c = Client(&self.binding);
        let mut out = Vec::new();
        for i in 0..MAX_ENTRIES {
            let mut size = 4096u32;
            loop {
                let r = c
                    .base_reg_enum_value(BaseRegEnumValueArgs {
                        hKey: self.handle(),
                        dwIndex: i,
                        lpValueNameIn: out_string(NAME_BYTES),
                        lpType: ndr::Unique::new(0),
                        lpData: ndr::Unique::new(ndr::ConformantVaryingArray {
                            max_count: u64::from(size),
                            offset: 0,
                            items: Vec::new(),
                        }),
                        lpcbData: ndr::Unique::new(size),
                        lpcbLen: ndr::Unique::new(0),
                    })
                    .await?;
                if r.return_value == ERROR_NO_MORE_ITEMS {
                    return Ok(out);
                }
                let needed = r.lpcbData.as_ref().copied().unwrap_or(0);
                if r.return_value == ERROR_MORE_DATA && needed > size && needed <= MAX_VALUE_BYTES
                {
                    size = needed;
                    continue;
                }
                win32("BaseRegEnumValue", r.return_value)?;
                let mut data = r.lpData.as_ref().map(|d| d.items.clone()).unwrap_or_default();
                data.truncate(usize::try_from(needed).unwrap_or(usize::MAX));
                out.push(Value {
                    name: name_of(&r.lpValueNameOut),
                    kind: r.lpType.as_ref().copied().unwrap_or(0),
                    data,
                });
                break;
            }
        }
        Ok(out)
    }

    /// Closes the key now.
    pub async fn close(mut self) -> Result<()> {
        match self.ctx.take() {
            Some(ctx) => close(&self.binding, ctx).await,
            None => Ok(()),
        }
    }
}

async fn close(b: &Binding, ctx: ClientContext<Binding>) -> Result<()> {
    if ctx.is_closed() || ctx.is_null() {
        return Ok(());
    }
    let o = Client(b)
        .base_reg_close_key(BaseRegCloseKeyArgs { hKey: ctx })
        .await?;
    win32("BaseRegCloseKey", o.return_value)
}

impl Drop for Key {
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx.take()
            && !ctx.is_closed()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let b = self.binding.clone();
            rt.spawn(async move {
                let _ = close(&b, ctx).await;
            });
        }
    }
}
