//! The verification trailer (MS-RPCE 2.2.2.13): a signature and a list of commands at the end of
//! a request's stub data that let the server check header fields the client signed.

use bytes::Bytes;

use crate::error::Error;
use crate::wire::{Drep, PacketType, Reader, SyntaxId, Writer};

/// The 8-byte signature that starts the verification trailer.
pub const SIGNATURE: [u8; 8] = [0x8a, 0xe3, 0x13, 0x71, 0x02, 0xf4, 0x36, 0x71];

/// Command flag: this is the last command.
pub const COMMAND_END: u16 = 0x4000;
/// Command flag: the receiver must process this command or fail the call.
pub const MUST_PROCESS: u16 = 0x8000;

/// One verification trailer command.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum VtCommand {
    /// `SEC_VT_COMMAND_BITMASK_1` (1): bit 0x1 = client supports header signing.
    Bitmask1(u32),
    /// `SEC_VT_COMMAND_PCONTEXT` (2): the interface and transfer syntax of the call.
    PContext {
        /// Interface.
        interface: SyntaxId,
        /// Transfer syntax.
        transfer_syntax: SyntaxId,
    },
    /// `SEC_VT_COMMAND_HEADER2` (3): header fields of the request.
    Header2 {
        /// PTYPE.
        ptype: PacketType,
        /// The 3 reserved bytes.
        reserved: [u8; 3],
        /// drep.
        drep: Drep,
        /// call_id.
        call_id: u32,
        /// p_cont_id.
        context_id: u16,
        /// opnum.
        opnum: u16,
    },
    /// A command this crate does not know, kept raw.
    Unknown {
        /// The command code (without the END / MUST_PROCESS flags).
        command: u16,
        /// Its bytes.
        data: Bytes,
    },
}

/// A command with its MUST_PROCESS flag.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VtEntry {
    /// The command.
    pub command: VtCommand,
    /// `SEC_VT_MUST_PROCESS_COMMAND`.
    pub must_process: bool,
}

/// A parsed verification trailer.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct VerificationTrailer {
    /// The commands in order; the END flag is implied on the last one.
    pub commands: Vec<VtEntry>,
}

impl VerificationTrailer {
    /// Parse a trailer that starts with [`SIGNATURE`] and fills `buf` exactly.
    pub fn parse(buf: &[u8], little_endian: bool) -> Result<VerificationTrailer, Error> {
        let bytes = Bytes::copy_from_slice(buf);
        let mut r = Reader::new(&bytes, 0, bytes.len(), little_endian, PacketType::REQUEST);
        if r.bytes(8)? != SIGNATURE {
            return Err(Error::Malformed {
                pdu: PacketType::REQUEST,
                what: "verification trailer signature",
            });
        }
        let mut commands = Vec::new();
        loop {
            let cmd = r.u16()?;
            let len = usize::from(r.u16()?);
            let data = r.bytes_shared(len)?;
            let code = cmd & 0x3FFF;
            let mut d = Reader::new(&data, 0, len, little_endian, PacketType::REQUEST);
            let command = match (code, len) {
                (1, 4) => VtCommand::Bitmask1(d.u32()?),
                (2, 40) => VtCommand::PContext {
                    interface: d.syntax()?,
                    transfer_syntax: d.syntax()?,
                },
                (3, 16) => {
                    let ptype = PacketType(d.u8()?);
                    let rs = d.bytes(3)?;
                    let dr = d.bytes(4)?;
                    VtCommand::Header2 {
                        ptype,
                        reserved: [rs[0], rs[1], rs[2]],
                        drep: Drep([dr[0], dr[1], dr[2], dr[3]]),
                        call_id: d.u32()?,
                        context_id: d.u16()?,
                        opnum: d.u16()?,
                    }
                }
                (1..=3, _) => {
                    return Err(Error::Malformed {
                        pdu: PacketType::REQUEST,
                        what: "verification trailer command length",
                    });
                }
                _ => VtCommand::Unknown {
                    command: code,
                    data: data.clone(),
                },
            };
            commands.push(VtEntry {
                command,
                must_process: cmd & MUST_PROCESS != 0,
            });
            if cmd & COMMAND_END != 0 {
                break;
            }
        }
        r.finish()?;
        Ok(VerificationTrailer { commands })
    }

    /// Find and parse a trailer at the end of `stub`: the last 4-byte aligned occurrence of the
    /// signature. Returns its offset in `stub`.
    pub fn find(stub: &[u8], little_endian: bool) -> Option<(usize, VerificationTrailer)> {
        let mut at = stub.len().checked_sub(8)? & !3;
        loop {
            if stub.get(at..at + 8) == Some(&SIGNATURE[..])
                && let Ok(vt) = VerificationTrailer::parse(&stub[at..], little_endian)
            {
                return Some((at, vt));
            }
            if at < 4 {
                return None;
            }
            at -= 4;
        }
    }

    /// Emit the trailer (the signature, then the commands with END on the last).
    pub fn emit(&self, little_endian: bool) -> Result<Vec<u8>, Error> {
        let mut w = Writer {
            buf: SIGNATURE.to_vec(),
            le: little_endian,
        };
        for (i, e) in self.commands.iter().enumerate() {
            let mut d = Writer {
                buf: Vec::new(),
                le: little_endian,
            };
            let code = match &e.command {
                VtCommand::Bitmask1(b) => {
                    d.u32(*b);
                    1
                }
                VtCommand::PContext {
                    interface,
                    transfer_syntax,
                } => {
                    d.syntax(interface);
                    d.syntax(transfer_syntax);
                    2
                }
                VtCommand::Header2 {
                    ptype,
                    reserved,
                    drep,
                    call_id,
                    context_id,
                    opnum,
                } => {
                    d.buf.push(ptype.0);
                    d.buf.extend_from_slice(reserved);
                    d.buf.extend_from_slice(&drep.0);
                    d.u32(*call_id);
                    d.u16(*context_id);
                    d.u16(*opnum);
                    3
                }
                VtCommand::Unknown { command, data } => {
                    d.buf.extend_from_slice(data);
                    *command & 0x3FFF
                }
            };
            let mut cmd = code;
            if e.must_process {
                cmd |= MUST_PROCESS;
            }
            if i + 1 == self.commands.len() {
                cmd |= COMMAND_END;
            }
            w.u16(cmd);
            w.u16(u16::try_from(d.buf.len()).map_err(|_| Error::TooLarge("vt command"))?);
            w.buf.extend_from_slice(&d.buf);
        }
        Ok(w.buf)
    }
}
