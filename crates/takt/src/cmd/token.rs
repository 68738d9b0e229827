//! `takt token create|list|revoke`: API tokens per tenant and role, stored
//! as SHA-256 hashes in the database (`takt_store::auth`). `create` prints
//! the token once, alone on the last line of standard output.

use anyhow::{Context, Result, anyhow, bail};
use std::process::ExitCode;
use takt_store::TenantId;
use takt_store::auth::{AuthStore, Role};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Make a token; it is printed once, alone on the last line of standard output.
    Create(CreateArgs),
    /// List tokens (never their secrets).
    List(ListArgs),
    /// Revoke a token by its id (`tk_...`); the server stops taking it within 5 s.
    Revoke(RevokeArgs),
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// Database: a SQLite file path, sqlite://PATH, or postgres://USER@HOST:PORT/DB.
    #[arg(long)]
    pub db: String,
    #[arg(long)]
    pub tenant: String,
    /// viewer (reads), planner (also captures events and asks for re-plans) or admin (also manages tokens).
    #[arg(long)]
    pub role: String,
    /// What the token is for.
    #[arg(long, default_value = "")]
    pub label: String,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[arg(long)]
    pub db: String,
    /// Only this tenant's tokens.
    #[arg(long)]
    pub tenant: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct RevokeArgs {
    #[arg(long)]
    pub db: String,
    /// The token's id, e.g. tk_3f9a0c1d2e4b.
    pub id: String,
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

pub fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Create(a) => {
            let tenant = TenantId::parse(&a.tenant)?;
            let role = Role::parse(&a.role).ok_or_else(|| {
                anyhow!("`{}` is not a role: use viewer, planner or admin", a.role)
            })?;
            let auth = AuthStore::open(&a.db).with_context(|| format!("opening {}", a.db))?;
            let (info, secret) =
                takt_server::auth::issue(&auth, &tenant, role, &a.label, now_ms())?;
            println!(
                "token {} for tenant {} with role {} (shown once; only its hash is stored):",
                info.id, info.tenant, info.role
            );
            println!("{secret}");
        }
        Command::List(a) => {
            let tenant = a.tenant.as_deref().map(TenantId::parse).transpose()?;
            let auth = AuthStore::open(&a.db).with_context(|| format!("opening {}", a.db))?;
            let tokens = auth.list(tenant.as_ref())?;
            println!(
                "{:<16} {:<16} {:<8} {:<25} {:<25} label",
                "id", "tenant", "role", "created", "revoked"
            );
            let when = |ms: i64| {
                jiff::Timestamp::from_millisecond(ms)
                    .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
                    .unwrap_or_default()
            };
            for t in tokens {
                println!(
                    "{:<16} {:<16} {:<8} {:<25} {:<25} {}",
                    t.id,
                    t.tenant,
                    t.role,
                    when(t.created_at_ms),
                    t.revoked_at_ms.map(when).unwrap_or_else(|| "-".into()),
                    t.label
                );
            }
        }
        Command::Revoke(a) => {
            let auth = AuthStore::open(&a.db).with_context(|| format!("opening {}", a.db))?;
            if !auth.revoke(&a.id, None, now_ms())? {
                bail!("no live token with id `{}`", a.id);
            }
            println!("revoked {}", a.id);
        }
    }
    Ok(ExitCode::SUCCESS)
}
