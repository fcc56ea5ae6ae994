//! The client commands' authentication options (`--user`, `--auth-level`) and the server's
//! (`--users`, `--min-auth-level`). Passwords never come from the command line: from the
//! `MSRPC_PASSWORD` environment variable, else from a prompt on the terminal.

use clap::Args;
use msrpc::{AuthInfo, AuthnLevel, AuthnService, BindingOptions, Credentials};

use crate::output::Failure;

/// The environment variable a client's password is read from.
pub(crate) const PASSWORD_ENV: &str = "MSRPC_PASSWORD";

/// Authentication for a client command.
#[derive(Args, Debug, Clone)]
pub(crate) struct ClientAuthArgs {
    /// Authenticate with NTLM as this user: DOMAIN\USER, USER@DOMAIN or USER. The password comes
    /// from $MSRPC_PASSWORD, else from a prompt; never from the command line.
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// The authentication level with --user: connect, packet, integrity (signing) or privacy
    /// (signing and sealing); none authenticates only the SMB session of an ncacn_np binding.
    #[arg(
        long,
        value_name = "LEVEL",
        default_value = "privacy",
        requires = "user"
    )]
    auth_level: AuthnLevel,
    /// The security package with --user: ntlm (auth type 10), negotiate (SPNEGO, auth type 9,
    /// negotiating NTLM, or Kerberos when --kdc is given) or kerberos (auth type 16, at every level; needs --kdc and
    /// --server-principal, and --user USER@REALM).
    #[arg(
        long,
        value_name = "SERVICE",
        default_value = "ntlm",
        requires = "user"
    )]
    auth_service: AuthnService,
    /// Kerberos: the KDC, tcp://HOST:PORT.
    #[arg(long, value_name = "URL")]
    kdc: Option<String>,
    /// Kerberos: the server's service principal, SERVICE/HOST.
    #[arg(long, value_name = "SPN")]
    server_principal: Option<String>,
    /// Kerberos: log on with USER's key from this keytab instead of a password.
    #[arg(long, value_name = "FILE")]
    keytab: Option<std::path::PathBuf>,
    /// Kerberos: start from the TGT in this MIT credential cache (`kinit -c FILE:PATH`; a
    /// FILE: prefix is taken) instead of a password: no password is asked for. Without it, and
    /// with neither $MSRPC_PASSWORD nor --keytab, the cache $KRB5CCNAME names is used when set.
    #[arg(long, value_name = "FILE", conflicts_with = "keytab")]
    ccache: Option<std::path::PathBuf>,
}

/// The SMB layer of `ncacn_np` bindings, for every client command that takes a binding.
#[derive(Args, Debug, Clone)]
pub(crate) struct SmbArgs {
    /// The SMB server's TCP port for ncacn_np bindings (named pipes). The SMB session
    /// authenticates as --user (with --auth-level none for SMB authentication only): with
    /// Kerberos (a ticket for cifs/HOST) when --auth-service is kerberos, or negotiate with --kdc;
    /// with NTLM otherwise.
    #[arg(long, value_name = "PORT", default_value_t = 445)]
    smb_port: u16,
}

impl SmbArgs {
    /// Sets `options.smb` from the arguments.
    pub(crate) fn apply(&self, options: &mut BindingOptions) {
        options.smb.port = self.smb_port;
    }
}

impl ClientAuthArgs {
    /// Sets `options.auth` from the arguments (nothing without --user).
    pub(crate) fn apply(&self, options: &mut BindingOptions) -> Result<(), Failure> {
        let Some(user) = &self.user else {
            return Ok(());
        };
        let password = match std::env::var(PASSWORD_ENV) {
            Ok(p) => p,
            // A keytab or ccache logon needs no password.
            Err(_) if self.keytab.is_some() || self.ccache.is_some() => String::new(),
            // Kerberos with $KRB5CCNAME: the library reads that cache.
            Err(_)
                if self.auth_service != AuthnService::Ntlm
                    && self.kdc.is_some()
                    && std::env::var_os("KRB5CCNAME").is_some() =>
            {
                String::new()
            }
            Err(_) => {
                rpassword::prompt_password(format!("password for {user}: ")).map_err(|e| {
                    Failure::usage(format!(
                        "no password: set {PASSWORD_ENV} or run on a terminal to be asked ({e})"
                    ))
                })?
            }
        };
        let creds = Credentials::parse(user, password);
        options.auth = Some(match self.auth_service {
            AuthnService::Negotiate if self.kdc.is_none() => {
                AuthInfo::negotiate(self.auth_level, creds)
            }
            AuthnService::Negotiate | AuthnService::Kerberos => {
                let (Some(kdc), Some(spn)) = (&self.kdc, &self.server_principal) else {
                    return Err(Failure::usage(
                        "--auth-service kerberos needs --kdc tcp://HOST:PORT and \
                         --server-principal SERVICE/HOST",
                    ));
                };
                let info = if self.auth_service == AuthnService::Negotiate {
                    AuthInfo::negotiate_kerberos(self.auth_level, creds, kdc, spn)
                } else {
                    AuthInfo::kerberos(self.auth_level, creds, kdc, spn)
                };
                if let Some(path) = &self.ccache {
                    return {
                        options.auth = Some(
                            info.with_ccache(path)
                                .map_err(|e| Failure::usage(e.detail))?,
                        );
                        Ok(())
                    };
                }
                match &self.keytab {
                    None => info,
                    Some(path) => {
                        let keytab =
                            msrpc::Keytab::from_file(path).map_err(|e| Failure::usage(e.detail))?;
                        info.with_keytab(&keytab)
                            .map_err(|e| Failure::usage(e.detail))?
                    }
                }
            }
            _ => AuthInfo::ntlm(self.auth_level, creds),
        });
        Ok(())
    }
}
