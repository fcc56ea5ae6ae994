//! The thin layer over eventlog: [`newest_records`] reads a log's newest records (ElfrOpenELW,
//! ElfrNumberOfRecords, ElfrOldestRecord, ElfrReadELW backwards from the newest record,
//! ElfrCloseEL; [MS-EVEN] 3.1.4).
//!
//! The reads seek (`EVENTLOG_SEEK_READ`) to the newest record number, oldest + count - 1, rather
//! than read sequentially from where the handle starts: Samba starts a new handle's sequential
//! position at the *oldest* record whatever the direction, so a sequential backwards read there
//! returns only the oldest record.

use msrpc::Binding;
use msrpc::codegen::ndr;

use super::eventlog::{
    Client, ElfrCloseELArgs, ElfrNumberOfRecordsArgs, ElfrOldestRecordArgs, ElfrOpenELWRequest,
    ElfrReadELWArgs,
};
use crate::{Error, NtStatus, Result, unicode_string};

/// `EVENTLOG_SEEK_READ | EVENTLOG_BACKWARDS_READ`: from `RecordOffset` towards the oldest.
const SEEK_BACKWARDS: u32 = 0x0002 | 0x0008;
/// The most ElfrReadELW calls one [`newest_records`] makes (each brings at least one record, so
/// this bounds a server that keeps answering).
pub const MAX_READS: usize = 4096;
/// `STATUS_END_OF_FILE`: no more records.
const STATUS_END_OF_FILE: u32 = 0xC000_0011;
/// `STATUS_BUFFER_TOO_SMALL`.
const STATUS_BUFFER_TOO_SMALL: u32 = 0xC000_0023;
/// Bytes asked per ElfrReadELW ([MS-EVEN] `MAX_BATCH_BUFF` is 0x7FFFF).
pub const READ_BYTES: u32 = 0x1_0000;
/// The largest single record accepted ([MS-EVEN] `MAX_SINGLE_EVENT`).
pub const MAX_RECORD_BYTES: u32 = 0x3_FFFF;
/// `EVENTLOGRECORD`'s fixed part.
const HEADER: usize = 56;

/// One record (`EVENTLOGRECORD`, [MS-EVEN] 2.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Record {
    /// `RecordNumber`.
    pub number: u32,
    /// `TimeGenerated`, seconds since 1970-01-01 UTC.
    pub time_generated: u32,
    /// `EventID`.
    pub event_id: u32,
    /// `EventType`: 1 error, 2 warning, 4 information, 8 audit success, 16 audit failure.
    pub event_type: u16,
    /// `SourceName`.
    pub source: String,
    /// `Computername`.
    pub computer: String,
    /// The insertion strings.
    pub strings: Vec<String>,
}

fn nt(op: &'static str, v: i32) -> Result<()> {
    let s = NtStatus::from_return(v);
    if s.is_success() {
        Ok(())
    } else {
        Err(Error::Nt { op, status: s })
    }
}

/// Up to `max` of log `log`'s newest records, newest first, over a binding to `\pipe\eventlog`.
pub async fn newest_records(b: &Binding, log: &str, max: usize) -> Result<Vec<Record>> {
    let c = Client(b);
    let o = c
        .elfr_open_elw(ElfrOpenELWRequest {
            UNCServerName: ndr::Unique::default(),
            ModuleName: unicode_string(log),
            RegModuleName: unicode_string(""),
            MajorVersion: 1,
            MinorVersion: 1,
        })
        .await?;
    nt("ElfrOpenELW", o.return_value)?;
    let h = o.LogHandle;
    let mut out = Vec::new();
    let mut size = READ_BYTES;
    let result = async {
        let n = c
            .elfr_number_of_records(ElfrNumberOfRecordsArgs {
                LogHandle: h.clone(),
            })
            .await?;
        nt("ElfrNumberOfRecords", n.return_value)?;
        if n.NumberOfRecords == 0 {
            return Ok(());
        }
        let o = c
            .elfr_oldest_record(ElfrOldestRecordArgs {
                LogHandle: h.clone(),
            })
            .await?;
        nt("ElfrOldestRecord", o.return_value)?;
        let oldest = o.OldestRecordNumber;
        // Record numbers may wrap ([MS-EVEN] 3.1.1.2): the newest is oldest + count - 1.
        let mut next = oldest.wrapping_add(n.NumberOfRecords - 1);
        let mut reads = 0;
        while out.len() < max && reads < MAX_READS {
            reads += 1;
            let r = c
                .elfr_read_elw(ElfrReadELWArgs {
                    LogHandle: h.clone(),
                    ReadFlags: SEEK_BACKWARDS,
                    RecordOffset: next,
                    NumberOfBytesToRead: size,
                })
                .await?;
            match r.return_value as u32 {
                STATUS_END_OF_FILE => break,
                STATUS_BUFFER_TOO_SMALL
                    if r.MinNumberOfBytesNeeded > size
                        && r.MinNumberOfBytesNeeded <= MAX_RECORD_BYTES =>
                {
                    size = r.MinNumberOfBytesNeeded;
                    continue;
                }
                _ => nt("ElfrReadELW", r.return_value)?,
            }
            let n = usize::try_from(r.NumberOfBytesRead).unwrap_or(usize::MAX);
            let buf = r.Buffer.0.get(..n).ok_or_else(|| Error::Reply {
                op: "ElfrReadELW",
                what: format!("{n} bytes read but {} sent", r.Buffer.0.len()),
            })?;
            let got = parse(buf)?;
            let Some(last) = got.last().map(|r| r.number) else {
                break;
            };
            out.extend(got);
            if last == oldest {
                break;
            }
            next = last.wrapping_sub(1);
        }
        Ok::<_, Error>(())
    }
    .await;
    let closed = c.elfr_close_el(ElfrCloseELArgs { LogHandle: h }).await;
    result?;
    nt("ElfrCloseEL", closed?.return_value)?;
    out.truncate(max);
    Ok(out)
}

/// The records in `buf`, each `Length` bytes, strings at offsets inside the record.
fn parse(buf: &[u8]) -> Result<Vec<Record>> {
    let bad = |what: String| Error::Reply {
        op: "ElfrReadELW",
        what,
    };
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < buf.len() {
        let rec_len = buf
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| bad(format!("truncated record at {at}")))?;
        if rec_len < HEADER {
            return Err(bad(format!("record length {rec_len} below {HEADER}")));
        }
        let rec = buf
            .get(at..at.saturating_add(rec_len))
            .ok_or_else(|| bad(format!("record of {rec_len} bytes at {at} overruns the buffer")))?;
        if &rec[4..8] != b"LfLe" {
            return Err(bad("record without the LfLe signature".into()));
        }
        let u32_at = |o: usize| u32::from_le_bytes([rec[o], rec[o + 1], rec[o + 2], rec[o + 3]]);
        let u16_at = |o: usize| u16::from_le_bytes([rec[o], rec[o + 1]]);
        // NUL-terminated UTF-16 from `o`, bounded by the record; returns the text and its end.
        let wstr = |o: usize| -> (String, usize) {
            let mut units = Vec::new();
            let mut i = o;
            while i + 1 < rec.len() {
                let u = u16::from_le_bytes([rec[i], rec[i + 1]]);
                i += 2;
                if u == 0 {
                    break;
                }
                units.push(u);
            }
            (String::from_utf16_lossy(&units), i)
        };
        let (source, end) = wstr(HEADER);
        let (computer, _) = wstr(end);
        let mut strings = Vec::new();
        let mut o = u32_at(36) as usize;
        for _ in 0..u16_at(26) {
            if o >= rec.len() {
                break;
            }
            let (s, next) = wstr(o);
            strings.push(s);
            o = next;
        }
        out.push(Record {
            number: u32_at(8),
            time_generated: u32_at(12),
            event_id: u32_at(20),
            event_type: u16_at(24),
            source,
            computer,
            strings,
        });
        at += rec_len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16z(s: &str) -> Vec<u8> {
        s.encode_utf16().chain([0]).flat_map(u16::to_le_bytes).collect()
    }

    fn record(number: u32, source: &str, strings: &[&str]) -> Vec<u8> {
        let mut tail = utf16z(source);
        tail.extend(utf16z("HOST"));
        let str_off = (HEADER + tail.len()) as u32;
        for s in strings {
            tail.extend(utf16z(s));
        }
        let len = (HEADER + tail.len() + 4) as u32;
        let mut r = Vec::new();
        r.extend(len.to_le_bytes());
        r.extend(b"LfLe");
        r.extend(number.to_le_bytes());
        r.extend(1_700_000_000u32.to_le_bytes());
        r.extend(1_700_000_000u32.to_le_bytes());
        r.extend(42u32.to_le_bytes());
        r.extend(4u16.to_le_bytes());
        r.extend((strings.len() as u16).to_le_bytes());
        r.extend([0u8; 8]);
        r.extend(str_off.to_le_bytes());
        r.extend([0u8; 16]);
        r.extend(tail);
        r.extend(len.to_le_bytes());
        r
    }

    #[test]
    fn parses_records_and_refuses_overruns() {
        let mut buf = record(7, "Src", &["a", "bc"]);
        buf.extend(record(6, "Other", &[]));
        let r = parse(&buf).expect("parses");
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].number, r[0].event_id, r[0].source.as_str(), r[0].computer.as_str()),
            (7, 42, "Src", "HOST")
        );
        assert_eq!(r[0].strings, vec!["a", "bc"]);
        assert_eq!(r[1].source, "Other");
        let cut = &buf[..buf.len() - 3];
        assert!(parse(cut).is_err());
        let mut bad = buf.clone();
        bad[0..4].copy_from_slice(&8u32.to_le_bytes());
        assert!(parse(&bad).is_err());
    }
}
