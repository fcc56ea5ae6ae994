//! The tools over the ready-made Windows interfaces (crate msrpc-windows): `shares` (srvsvc),
//! `users` and `groups` (samr), `lookupsid` (lsarpc). Each prints a table, or with `--json` an
//! array of objects whose `name` field is the share, user, group or account name.

use std::io::IsTerminal as _;
use std::time::Duration;

use clap::Args;
use msrpc::{Binding, BindingOptions};
use msrpc_windows::{Error, Sid};

use crate::auth::{ClientAuthArgs, SmbArgs};
use crate::output::{Failure, outln};
use crate::runtime;

/// What every tool takes.
#[derive(Args, Debug)]
pub(crate) struct ToolArgs {
    /// The server: `ncacn_np:HOST` (the interface's usual pipe), `ncacn_ip_tcp:HOST` (its port
    /// from the host's endpoint mapper), or either with an explicit endpoint.
    binding: String,
    /// Print a JSON array of objects (each with a `name` field) instead of a table.
    #[arg(long)]
    json: bool,
    /// Give up on a call after this many milliseconds.
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: u64,
    #[command(flatten)]
    auth: ClientAuthArgs,
    #[command(flatten)]
    smb: SmbArgs,
}

/// `msrpc lookupsid`'s arguments.
#[derive(Args, Debug)]
pub(crate) struct LookupsidArgs {
    #[command(flatten)]
    tool: ToolArgs,
    /// Translate the account domain's RIDs from 500 up to this one (impacket's lookupsid.py
    /// default is 4000).
    #[arg(long, default_value_t = 4000)]
    max_rid: u32,
    /// RIDs per LsarLookupSids call.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u32).range(1..=20480))]
    batch: u32,
}

impl ToolArgs {
    /// The binding, with `pipe` as the endpoint of an `ncacn_np` binding that names none.
    fn binding(&self, pipe: &str) -> Result<Binding, Failure> {
        let mut text = self.binding.trim().to_string();
        if text.to_ascii_lowercase().starts_with("ncacn_np:") && !text.contains('[') {
            text.push_str(&format!(r"[\pipe\{pipe}]"));
        }
        let mut options = BindingOptions::default();
        self.auth.apply(&mut options)?;
        self.smb.apply(&mut options);
        options.call_timeout = Some(Duration::from_millis(self.timeout_ms));
        Binding::with_options(&text, options).map_err(Failure::rpc)
    }
}

/// An error of the thin layer, by its Win32 or NT name and number.
fn failure(e: Error) -> Failure {
    match e {
        Error::Rpc(e) => Failure::rpc(e),
        other => Failure::other(other.to_string()),
    }
}

/// A progress line on stderr for long enumerations, only when stderr is a terminal.
fn progress(what: &'static str) -> impl FnMut(usize) {
    let tty = std::io::stderr().is_terminal();
    move |n| {
        if tty {
            eprint!("\r{n} {what}...");
        }
    }
}

fn end_progress() {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[K");
    }
}

pub(crate) fn shares(args: &ToolArgs) -> Result<(), Failure> {
    let rt = runtime()?;
    let b = args.binding("srvsvc")?;
    let shares = rt
        .block_on(msrpc_windows::srvsvc::shares(&b))
        .map_err(failure)?;
    if args.json {
        let v: Vec<_> = shares
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "type": s.kind,
                    "type_name": s.kind_name(),
                    "remark": s.remark,
                })
            })
            .collect();
        outln!("{}", serde_json::Value::Array(v));
    } else {
        outln!("{:<24} {:<16} REMARK", "NAME", "TYPE");
        for s in &shares {
            outln!("{:<24} {:<16} {}", s.name, s.kind_name(), s.remark);
        }
    }
    Ok(())
}

pub(crate) fn users(args: &ToolArgs) -> Result<(), Failure> {
    accounts(args, false)
}

pub(crate) fn groups(args: &ToolArgs) -> Result<(), Failure> {
    accounts(args, true)
}

/// Users, or groups (the account domain's groups and aliases, and Builtin's aliases), over samr.
fn accounts(args: &ToolArgs, groups: bool) -> Result<(), Failure> {
    use msrpc_windows::samr::SamServer;
    let rt = runtime()?;
    let b = args.binding("samr")?;
    let rows = rt
        .block_on(async {
            let server = SamServer::connect(&b).await?;
            let (domain, d) = server.account_domain().await?;
            let mut rows: Vec<(String, &'static str, String, u32, Sid)> = Vec::new();
            if groups {
                for g in d.groups(&mut progress("groups")).await? {
                    rows.push((
                        domain.clone(),
                        "group",
                        g.name,
                        g.rid,
                        d.sid().with_rid(g.rid),
                    ));
                }
                for a in d.aliases(&mut progress("aliases")).await? {
                    rows.push((
                        domain.clone(),
                        "alias",
                        a.name,
                        a.rid,
                        d.sid().with_rid(a.rid),
                    ));
                }
                let builtin_sid = server.lookup_domain("Builtin").await?;
                let builtin = server.open_domain(&builtin_sid).await?;
                for a in builtin.aliases(&mut progress("aliases")).await? {
                    rows.push((
                        "Builtin".into(),
                        "alias",
                        a.name,
                        a.rid,
                        builtin_sid.with_rid(a.rid),
                    ));
                }
                builtin.close().await?;
            } else {
                for u in d.users(&mut progress("users")).await? {
                    rows.push((
                        domain.clone(),
                        "user",
                        u.name,
                        u.rid,
                        d.sid().with_rid(u.rid),
                    ));
                }
            }
            end_progress();
            d.close().await?;
            server.close().await?;
            Ok::<_, Error>(rows)
        })
        .map_err(|e| {
            end_progress();
            failure(e)
        })?;
    if args.json {
        let v: Vec<_> = rows
            .iter()
            .map(|(domain, kind, name, rid, sid)| {
                let mut o = serde_json::json!({
                    "name": name,
                    "rid": rid,
                    "sid": sid.to_string(),
                    "domain": domain,
                });
                if groups {
                    o["kind"] = serde_json::json!(kind);
                }
                o
            })
            .collect();
        outln!("{}", serde_json::Value::Array(v));
    } else {
        if groups {
            outln!(
                "{:<28} {:<6} {:<8} {:<10} SID",
                "NAME",
                "KIND",
                "RID",
                "DOMAIN"
            );
        } else {
            outln!("{:<28} {:<8} {:<10} SID", "NAME", "RID", "DOMAIN");
        }
        for (domain, kind, name, rid, sid) in &rows {
            if groups {
                outln!("{name:<28} {kind:<6} {rid:<8} {domain:<10} {sid}");
            } else {
                outln!("{name:<28} {rid:<8} {domain:<10} {sid}");
            }
        }
    }
    Ok(())
}

/// Translates the account domain's RIDs 500..=max_rid to names, as impacket's lookupsid.py
/// does, and lists those that map.
pub(crate) fn lookupsid(args: &LookupsidArgs) -> Result<(), Failure> {
    use msrpc_windows::lsat::{POLICY_READ_AND_LOOKUP, Policy};
    let rt = runtime()?;
    let t = &args.tool;
    let b = t.binding("lsarpc")?;
    if args.max_rid < 500 {
        return Err(Failure::usage("--max-rid must be at least 500"));
    }
    let (domain, sid, found) = rt
        .block_on(async {
            let p = Policy::open(&b, POLICY_READ_AND_LOOKUP).await?;
            let (domain, sid) = p.account_domain().await?;
            let mut found = Vec::new();
            let mut next = 500u32;
            let mut tick = progress("RIDs");
            while next <= args.max_rid {
                let last = next.saturating_add(args.batch - 1).min(args.max_rid);
                let sids: Vec<Sid> = (next..=last).map(|r| sid.with_rid(r)).collect();
                found.extend(
                    p.lookup_sids(&sids)
                        .await?
                        .into_iter()
                        // Samba names an unmapped SID by its text with SidTypeUnknown (8).
                        .filter(|x| !x.name.is_empty() && x.kind != 8),
                );
                tick((last - 499) as usize);
                next = match last.checked_add(1) {
                    Some(n) => n,
                    None => break,
                };
            }
            end_progress();
            p.close().await?;
            Ok::<_, Error>((domain, sid, found))
        })
        .map_err(|e| {
            end_progress();
            failure(e)
        })?;
    if t.json {
        let v: Vec<_> = found
            .iter()
            .map(|x| {
                serde_json::json!({
                    "name": x.name,
                    "domain": x.domain,
                    "rid": x.sid.rid(),
                    "sid": x.sid.to_string(),
                    "type": x.kind_name(),
                })
            })
            .collect();
        outln!("{}", serde_json::Value::Array(v));
    } else {
        outln!("Domain SID of {domain} is {sid}");
        for x in &found {
            outln!(
                "{}: {}\\{} ({})",
                x.sid.rid().unwrap_or_default(),
                x.domain,
                x.name,
                x.kind_name()
            );
        }
    }
    Ok(())
}

/// `msrpc reg`'s subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum RegCommand {
    /// List a key's subkeys and values (winreg BaseRegEnumKey, BaseRegEnumValue).
    Query(RegQueryArgs),
}

/// `msrpc reg query`'s arguments.
#[derive(Args, Debug)]
pub(crate) struct RegQueryArgs {
    #[command(flatten)]
    tool: ToolArgs,
    /// The key: HKLM\PATH, HKU\PATH, HKCU\PATH or HKCR\PATH (or the long hive names).
    key: String,
}

pub(crate) fn services(args: &ToolArgs) -> Result<(), Failure> {
    let rt = runtime()?;
    let b = args.binding("svcctl")?;
    let list = rt
        .block_on(msrpc_windows::svcctl::services(&b))
        .map_err(failure)?;
    if args.json {
        let v: Vec<_> = list
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "display_name": s.display_name,
                    "type": s.service_type,
                    "state": s.state_name(),
                })
            })
            .collect();
        outln!("{}", serde_json::Value::Array(v));
    } else {
        outln!("{:<32} {:<16} DISPLAY NAME", "NAME", "STATE");
        for s in &list {
            outln!("{:<32} {:<16} {}", s.name, s.state_name(), s.display_name);
        }
    }
    Ok(())
}

pub(crate) fn reg(cmd: &RegCommand) -> Result<(), Failure> {
    let RegCommand::Query(args) = cmd;
    let rt = runtime()?;
    let t = &args.tool;
    let b = t.binding("winreg")?;
    let (subkeys, values) = rt
        .block_on(async {
            let k = msrpc_windows::winreg::Key::open(&b, &args.key).await?;
            let subkeys = k.subkeys().await?;
            let values = k.values().await?;
            k.close().await?;
            Ok::<_, Error>((subkeys, values))
        })
        .map_err(failure)?;
    if t.json {
        let mut v: Vec<_> = subkeys
            .iter()
            .map(|k| serde_json::json!({"name": k, "kind": "key"}))
            .collect();
        v.extend(values.iter().map(|x| {
            serde_json::json!({
                "name": x.name,
                "kind": "value",
                "type": x.kind_name(),
                "data": x.display(),
            })
        }));
        outln!("{}", serde_json::Value::Array(v));
    } else {
        let key = args.key.trim_matches('\\');
        for k in &subkeys {
            outln!("{key}\\{k}");
        }
        for x in &values {
            let name = if x.name.is_empty() {
                "(Default)"
            } else {
                &x.name
            };
            outln!("    {name}    {}    {}", x.kind_name(), x.display());
        }
    }
    Ok(())
}

/// `msrpc eventlog`'s arguments.
#[derive(Args, Debug)]
pub(crate) struct EventlogArgs {
    #[command(flatten)]
    tool: ToolArgs,
    /// The log: Application, System, Security, or another the server keeps.
    log: String,
    /// How many of the newest records to print.
    #[arg(long, default_value_t = 20)]
    count: usize,
}

pub(crate) fn eventlog(args: &EventlogArgs) -> Result<(), Failure> {
    let rt = runtime()?;
    let t = &args.tool;
    let b = t.binding("eventlog")?;
    let records = rt
        .block_on(msrpc_windows::eventlog::newest_records(
            &b, &args.log, args.count,
        ))
        .map_err(failure)?;
    if t.json {
        let v: Vec<_> = records
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.source,
                    "record": r.number,
                    "time_generated": r.time_generated,
                    "event_id": r.event_id,
                    "event_type": r.event_type,
                    "computer": r.computer,
                    "strings": r.strings,
                })
            })
            .collect();
        outln!("{}", serde_json::Value::Array(v));
    } else {
        outln!(
            "{:<8} {:<12} {:<10} {:<5} {:<20} STRINGS",
            "RECORD",
            "TIME",
            "EVENT ID",
            "TYPE",
            "SOURCE"
        );
        for r in &records {
            outln!(
                "{:<8} {:<12} {:<10} {:<5} {:<20} {}",
                r.number,
                r.time_generated,
                r.event_id,
                r.event_type,
                r.source,
                r.strings.join(" | ")
            );
        }
    }
    Ok(())
}
